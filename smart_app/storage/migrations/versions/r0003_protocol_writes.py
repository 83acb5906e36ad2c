"""The SMART app's protocol writes: one row per protocol-builder form (its one-time nonce), the audit of who wrote
which drafts for which patient, and of overrides of "not recommended" with their written reason.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "smart_protocol_write",
        sa.Column("form_nonce", sa.String(64), primary_key=True),
        sa.Column("receipt", sa.String(64), nullable=False),
        sa.Column("session_key", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(256), nullable=False),
        sa.Column("protocol_id", sa.String(128), nullable=False),
        sa.Column("protocol_status", sa.String(32), nullable=False),
        sa.Column("status_reasons", sa.JSON, nullable=False),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("requester", sa.String(256), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("written", sa.JSON, nullable=False),
        sa.Column("not_written", sa.JSON, nullable=False),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("receipt", name="uq_protocol_write_receipt"),
    )
    op.create_index("ix_smart_protocol_write_session_key", "smart_protocol_write", ["session_key"])
    op.create_index("ix_protocol_write_patient", "smart_protocol_write", ["patient", "protocol_id"])


def downgrade() -> None:
    op.drop_index("ix_protocol_write_patient", table_name="smart_protocol_write")
    op.drop_index("ix_smart_protocol_write_session_key", table_name="smart_protocol_write")
    op.drop_table("smart_protocol_write")
