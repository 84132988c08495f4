"""One alarm per occurrence: unique (station, kind, connector, raised_at).

With several backend nodes each running the alarm rules, a node that hears of a fault late could
raise it again after another node raised and cleared it; ``raised_at`` is now the time of the
raising event, the same on every node, and this index makes the late raise a no-op.

Revision ID: 0006_alarm_occurrence
Revises: 0002_operator
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0006_alarm_occurrence"
down_revision = "0002_operator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "uq_alarms_occurrence", "alarms", ["station_id", "kind", "connector_id", "raised_at"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_alarms_occurrence", table_name="alarms")
