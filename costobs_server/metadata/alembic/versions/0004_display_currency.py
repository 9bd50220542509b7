"""org display currency and dated exchange rates

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _org(primary_key: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "org_id",
        sa.String(64),
        sa.ForeignKey("orgs.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "org_currency",
        _org(True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "exchange_rates",
        _org(True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_rates")
    op.drop_table("org_currency")
