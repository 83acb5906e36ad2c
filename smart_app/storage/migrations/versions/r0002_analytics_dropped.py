"""Card-issued rows dropped by a full writer queue, counted so the report can say its issued counts are a floor.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "cds_analytics_dropped",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_dropped", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cds_analytics_dropped")
