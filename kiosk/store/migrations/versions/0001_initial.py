"""Initial schema: outbox, device settings, counters.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Table definitions are literal on purpose (not imported from
kiosk.store.schema): a revision must keep doing the same thing after the
schema moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'confirmed', 'refused', 'failed')",
            name="ck_outbox_state",
        ),
        sa.UniqueConstraint("client_id", name="uq_outbox_client_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_state_seq", "outbox", ["state", "seq"])
    op.create_table(
        "settings",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_table("settings")
    op.drop_index("ix_outbox_state_seq", table_name="outbox")
    op.drop_table("outbox")
