"""Operator side: users, API tokens, login sessions, alarms.

Revision ID: 0002_operator
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_operator"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "operator_users",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_login_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("username", name="pk_operator_users"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_used_at", UTC_TIME, nullable=True),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_used_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_operator_sessions"),
    )
    op.create_index("ix_operator_sessions_username", "operator_sessions", ["username"])
    op.create_table(
        "alarms",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", UTC_TIME, nullable=False),
        sa.Column("cleared_at", UTC_TIME, nullable=True),
        sa.Column("clear_reason", sa.String(200), nullable=True),
        sa.Column("acked_at", UTC_TIME, nullable=True),
        sa.Column("acked_by", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
    )
    # One open alarm per condition: a second raise (another node, a replayed event) is a no-op.
    op.create_index(
        "uq_alarms_open",
        "alarms",
        ["station_id", "kind", "connector_id"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.create_index("ix_alarms_station_id_raised_at", "alarms", ["station_id", "raised_at"])
    op.create_index("ix_alarms_cleared_at", "alarms", ["cleared_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_cleared_at", table_name="alarms")
    op.drop_index("ix_alarms_station_id_raised_at", table_name="alarms")
    op.drop_index("uq_alarms_open", table_name="alarms")
    op.drop_table("alarms")
    op.drop_index("ix_operator_sessions_username", table_name="operator_sessions")
    op.drop_table("operator_sessions")
    op.drop_table("api_tokens")
    op.drop_table("operator_users")
