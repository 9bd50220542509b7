"""alert rules, targets, fires (history + claims) and the delivery log

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "alert_targets",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_targets_org_id", "alert_targets", ["org_id"])
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("group_by", sa.String(80), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("cooldown_minutes", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("target_ids", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_rules_org_id", "alert_rules", ["org_id"])
    op.create_table(
        "alert_fires",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        sa.Column(
            "rule_id",
            sa.String(32),
            sa.ForeignKey("alert_rules.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("group_key", sa.String(256), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_usd", sa.String(64), nullable=False),
        sa.Column("threshold_usd", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("rule_id", "group_key", "period", "seq", name="uq_alert_fires_claim"),
    )
    op.create_index("ix_alert_fires_org_id", "alert_fires", ["org_id"])
    op.create_index("ix_alert_fires_fired_at", "alert_fires", ["fired_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _org(),
        sa.Column(
            "fire_id",
            sa.String(32),
            sa.ForeignKey("alert_fires.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("rule_id", sa.String(32), nullable=True),
        sa.Column("target_id", sa.String(32), nullable=False),
        sa.Column("test", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_deliveries_org_id", "alert_deliveries", ["org_id"])
    op.create_index("ix_alert_deliveries_fire_id", "alert_deliveries", ["fire_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_fire_id", table_name="alert_deliveries")
    op.drop_index("ix_alert_deliveries_org_id", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_fires_fired_at", table_name="alert_fires")
    op.drop_index("ix_alert_fires_org_id", table_name="alert_fires")
    op.drop_table("alert_fires")
    op.drop_index("ix_alert_rules_org_id", table_name="alert_rules")
    op.drop_table("alert_rules")
    op.drop_index("ix_alert_targets_org_id", table_name="alert_targets")
    op.drop_table("alert_targets")
