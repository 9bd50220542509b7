"""per-org price overrides

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_overrides",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("note", sa.String(512), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_price_overrides_org_id", "price_overrides", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_price_overrides_org_id", table_name="price_overrides")
    op.drop_table("price_overrides")
