"""Initial schema: stations, connectors, status history, transactions, meter values, id tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Timestamps are UTC: timestamptz on PostgreSQL, naive UTC on SQLite (see models.UtcDateTime).
UTC_TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", sa.String(48), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("vendor", sa.String(50), nullable=True),
        sa.Column("model", sa.String(50), nullable=True),
        sa.Column("serial_number", sa.String(50), nullable=True),
        sa.Column("firmware_version", sa.String(50), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("last_seen", UTC_TIME, nullable=True),
        sa.Column("boot_status", sa.String(16), nullable=True),
        sa.Column("last_boot_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stations"),
    )
    op.create_table(
        "connectors",
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(40), nullable=False),
        sa.Column("info", sa.String(50), nullable=True),
        sa.Column("vendor_id", sa.String(255), nullable=True),
        sa.Column("vendor_error_code", sa.String(50), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name="fk_connectors_station_id_stations", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("station_id", "connector_id", name="pk_connectors"),
    )
    op.create_table(
        "status_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(40), nullable=False),
        sa.Column("info", sa.String(50), nullable=True),
        sa.Column("vendor_error_code", sa.String(50), nullable=True),
        sa.Column("timestamp", UTC_TIME, nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name="fk_status_history_station_id_stations", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_status_history"),
    )
    op.create_index(
        "ix_status_history_station_id_connector_id_id", "status_history", ["station_id", "connector_id", "id"]
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(20), nullable=False),
        sa.Column("meter_start_wh", sa.BigInteger(), nullable=False),
        sa.Column("meter_stop_wh", sa.BigInteger(), nullable=True),
        sa.Column("start_time", UTC_TIME, nullable=False),
        sa.Column("stop_time", UTC_TIME, nullable=True),
        sa.Column("stop_reason", sa.String(32), nullable=True),
        sa.Column("stop_id_tag", sa.String(20), nullable=True),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.UniqueConstraint(
            "station_id",
            "connector_id",
            "id_tag",
            "start_time",
            "meter_start_wh",
            name="uq_transactions_start",
        ),
    )
    op.create_index("ix_transactions_station_id_stop_time", "transactions", ["station_id", "stop_time"])
    op.create_table(
        "meter_values",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", UTC_TIME, nullable=False),
        sa.Column("measurand", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(8), nullable=True),
        sa.Column("location", sa.String(8), nullable=False),
        sa.Column("context", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("sample_key", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name="fk_meter_values_transaction_id_transactions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_meter_values"),
        sa.UniqueConstraint("sample_key", name="uq_meter_values_sample_key"),
    )
    op.create_index("ix_meter_values_station_id_id", "meter_values", ["station_id", "id"])
    op.create_index(
        "ix_meter_values_transaction_id_timestamp", "meter_values", ["transaction_id", "timestamp"]
    )
    op.create_table(
        "id_tokens",
        sa.Column("id_tag", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expiry_date", UTC_TIME, nullable=True),
        sa.Column("parent_id_tag", sa.String(20), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id_tag", name="pk_id_tokens"),
    )


def downgrade() -> None:
    op.drop_table("id_tokens")
    op.drop_index("ix_meter_values_transaction_id_timestamp", table_name="meter_values")
    op.drop_index("ix_meter_values_station_id_id", table_name="meter_values")
    op.drop_table("meter_values")
    op.drop_index("ix_transactions_station_id_stop_time", table_name="transactions")
    op.drop_table("transactions")
    op.drop_index("ix_status_history_station_id_connector_id_id", table_name="status_history")
    op.drop_table("status_history")
    op.drop_table("connectors")
    op.drop_table("stations")
