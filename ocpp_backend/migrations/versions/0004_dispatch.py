"""Fleet dispatcher: groups, EV needs, orders, measured group intervals.

Revision ID: 0004_dispatch
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_dispatch"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dispatch_groups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_groups"),
    )
    op.create_table(
        "dispatch_group_stations",
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("charge_kw", sa.Float(), nullable=False),
        sa.Column("discharge_kw", sa.Float(), nullable=False),
        sa.Column("capacity_kwh", sa.Float(), nullable=False),
        sa.Column("arrival_soc_pct", sa.Float(), nullable=False),
        sa.Column("dwell_h", sa.Float(), nullable=False),
        sa.Column("required_soc_pct", sa.Float(), nullable=False),
        sa.Column("reserve_soc_pct", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name="fk_dispatch_group_stations_station_id_stations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["dispatch_groups.id"], name="fk_dispatch_group_stations_group_id_dispatch_groups",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", name="pk_dispatch_group_stations"),
    )
    op.create_table(
        "dispatch_ev_needs",
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("capacity_kwh", sa.Float(), nullable=True),
        sa.Column("departure", UTC_TIME, nullable=True),
        sa.Column("required_soc_pct", sa.Float(), nullable=True),
        sa.Column("reserve_soc_pct", sa.Float(), nullable=True),
        sa.Column("soc_pct", sa.Float(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name="fk_dispatch_ev_needs_station_id_stations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", name="pk_dispatch_ev_needs"),
    )
    op.create_table(
        "dispatch_orders",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("committed", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_dispatch_orders"),
    )
    op.create_table(
        "dispatch_intervals",
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("start", UTC_TIME, nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("target_kw", sa.Float(), nullable=True),
        sa.Column("baseline_kwh", sa.Float(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "start", name="pk_dispatch_intervals"),
    )


def downgrade() -> None:
    for table in ("dispatch_intervals", "dispatch_orders", "dispatch_ev_needs"):
        op.drop_table(table)
    op.drop_table("dispatch_group_stations")
    op.drop_table("dispatch_groups")
