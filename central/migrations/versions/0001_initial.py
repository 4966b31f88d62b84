"""Initial schema: events, registrations, devices, tokens, grants, commands, receipts,
daily counters, idempotency keys, the sync counter.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Table definitions are literal on purpose (not imported from central.tables):
a revision must keep doing the same thing after the schema moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = "status IN ('confirmed', 'waitlisted', 'attended')"
STATES = "'pending_sync', 'confirmed', 'waitlisted', 'cancelled', 'rejected', 'attended', 'no_show'"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO sync_state (name, value) VALUES ('events', 0)")
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.JSON, nullable=False),
        sa.Column("description", sa.JSON, nullable=False),
        sa.Column("speech", sa.JSON, nullable=False),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("location", sa.JSON, nullable=False),
        sa.Column("branch", sa.String(40), nullable=False),
        sa.Column("audience", sa.JSON, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("min_age", sa.Integer, nullable=True),
        sa.Column("max_age", sa.Integer, nullable=True),
        sa.Column("adult_required", sa.Boolean, nullable=False),
        sa.Column("picture", sa.JSON, nullable=True),
        sa.Column("registration_required", sa.Boolean, nullable=False),
        _ts("opens_at", nullable=True),
        _ts("closes_at", nullable=True),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("seats_taken", sa.Integer, nullable=False),
        sa.Column("waitlist_enabled", sa.Boolean, nullable=False),
        sa.Column("waitlisted_count", sa.Integer, nullable=False),
        sa.Column("waitlist_last", sa.Integer, nullable=False),
        sa.Column("max_party_size", sa.Integer, nullable=False),
        sa.Column("offline_seats_per_device", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name="ck_events_status"),
        sa.CheckConstraint(
            "seats_taken >= 0 AND seats_taken <= capacity", name="ck_events_no_overbooking"
        ),
        sa.CheckConstraint("waitlisted_count >= 0", name="ck_events_waitlisted_count"),
    )
    op.create_index("ix_events_revision", "events", ["revision"])
    op.create_index("ix_events_ends_at", "events", ["ends_at"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("branch", sa.String(40), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        _ts("created_at"),
        sa.Column("config_version", sa.Integer, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        _ts("config_updated_at"),
        sa.Column("desired_software_version", sa.String(40), nullable=True),
        _ts("last_heartbeat_at", nullable=True),
        sa.Column("last_heartbeat", sa.JSON, nullable=True),
    )
    op.create_index("ix_devices_branch", "devices", ["branch"])
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), nullable=True),
        sa.Column("label", sa.String(100), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("role IN ('admin', 'device')", name="ck_tokens_role"),
        sa.CheckConstraint("(role = 'device') = (device_id IS NOT NULL)", name="ck_tokens_device"),
    )
    op.create_table(
        "registrations",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(64), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("card_token", sa.String(64), nullable=False),
        sa.Column("attendees", sa.JSON, nullable=False),
        sa.Column("party_size", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("waitlist_seq", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("via_grant", sa.Boolean, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        _ts("created_at"),
        _ts("received_at"),
        _ts("updated_at"),
        sa.CheckConstraint(f"status IN ({STATES})", name="ck_registrations_status"),
        sa.CheckConstraint("party_size >= 1", name="ck_registrations_party_size"),
        sa.UniqueConstraint("event_id", "waitlist_seq", name="uq_registrations_waitlist_seq"),
    )
    op.create_index("ix_registrations_event_status", "registrations", ["event_id", "status"])
    op.create_index("ix_registrations_card_token", "registrations", ["card_token"])
    op.create_index(
        "uq_registrations_active_card",
        "registrations",
        ["event_id", "card_token"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_table(
        "grants",
        sa.Column("event_id", sa.String(64), sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.CheckConstraint("used >= 0 AND used <= seats", name="ck_grants_used"),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("acked_at", nullable=True),
    )
    op.create_index("ix_commands_device_acked", "commands", ["device_id", "acked_at"])
    op.create_table(
        "receipts",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("card_token", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("received_at"),
    )
    op.create_table(
        "daily_counters",
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("counters", sa.JSON, nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "idempotency",
        sa.Column("principal", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("state IN ('in_progress', 'done')", name="ck_idempotency_state"),
    )


def downgrade() -> None:
    for table in (
        "idempotency",
        "daily_counters",
        "receipts",
        "commands",
        "grants",
        "registrations",
        "tokens",
        "devices",
        "events",
        "sync_state",
    ):
        op.drop_table(table)
