"""Which backend node holds a station's connection.

With several nodes on one database, a node that starts marked every station disconnected, and a
socket closing on one node after its station had moved to another marked it disconnected too.

Revision ID: 0007_station_node
Revises: 0005_station_location
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_station_node"
down_revision = "0005_station_location"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("connected_node", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("connected_node")
