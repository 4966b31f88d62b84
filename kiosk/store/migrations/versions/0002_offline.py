"""Offline mode: the card cache, and the "conflict" state for staff to settle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The card cache holds keyed hashes of cards, never the numbers: whether a card
is blocked (from the library system's list) and its category when last seen
online, so the kiosk can decide who may borrow while the system is away.

A "conflict" is an offline action the library system recorded but would have
refused (a reserved item, a blocked card), or could not record at all. It is
final but never purged: staff settle it from the reconciliation report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD_STATES = "state IN ('pending', 'sending', 'confirmed', 'refused', 'failed')"
_NEW_STATES = "state IN ('pending', 'sending', 'confirmed', 'refused', 'failed', 'conflict')"


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint in place: batch mode copies the table.
    with op.batch_alter_table("outbox", recreate="always") as batch:
        batch.drop_constraint("ck_outbox_state", type_="check")
        batch.create_check_constraint("ck_outbox_state", sa.text(_NEW_STATES))
    op.create_table(
        "card_cache",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("card_cache")
    with op.batch_alter_table("outbox", recreate="always") as batch:
        batch.drop_constraint("ck_outbox_state", type_="check")
        batch.create_check_constraint("ck_outbox_state", sa.text(_OLD_STATES))
