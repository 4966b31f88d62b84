"""The central API client's cache: events, their pictures, registrations made here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Events are kept as the central API sent them (raw JSON) with the columns the
catalogue queries, so it works offline. Pictures are files in the cache folder;
the table keeps their ETags. Registrations made at this kiosk are kept for
offline display and for counting the seats the server let this kiosk promise
offline. The sync cursor lives in the settings table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "central_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_central_events_starts_at", "central_events", ["starts_at"])
    op.create_table(
        "central_pictures",
        sa.Column("url", sa.String(500), primary_key=True),
        sa.Column("file", sa.String(100), nullable=False),
        sa.Column("etag", sa.String(200), nullable=True),
        sa.Column("fetched_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "central_registrations",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("card_token", sa.String(64), nullable=False),
        sa.Column("party_size", sa.Integer, nullable=False),
        sa.Column("ages", sa.Text, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("via_offline_grant", sa.Boolean, nullable=False),
        sa.Column("waitlist_position", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("answered_revision", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_central_registrations_card", "central_registrations", ["card_token"])
    op.create_index("ix_central_registrations_event", "central_registrations", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_central_registrations_event", table_name="central_registrations")
    op.drop_index("ix_central_registrations_card", table_name="central_registrations")
    op.drop_table("central_registrations")
    op.drop_table("central_pictures")
    op.drop_index("ix_central_events_starts_at", table_name="central_events")
    op.drop_table("central_events")
