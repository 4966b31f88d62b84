"""Table definitions used by the queries (SQLAlchemy Core).

The migrations in ``migrations/versions`` create these tables with their own,
frozen copy of the definitions; a test checks that both agree.

Constraints that guard the invariants even if a code path forgot a lock:
- ``events.seats_taken`` never exceeds ``capacity`` (no overbooking);
- one waitlist sequence number per event (no two people share a place);
- one active registration per card and event.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

REGISTRATION_STATES = (
    "pending_sync",
    "confirmed",
    "waitlisted",
    "cancelled",
    "rejected",
    "attended",
    "no_show",
)
# States that hold a seat or a waitlist place: a card may have only one per event.
ACTIVE_STATES = ("confirmed", "waitlisted", "attended")
ACTIVE_STATES_SQL = "status IN ('confirmed', 'waitlisted', 'attended')"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC (naive on SQLite, timestamptz on PostgreSQL), reads back aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

sync_state = Table(
    "sync_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", JSON, nullable=False),
    Column("description", JSON, nullable=False),
    Column("speech", JSON, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("location", JSON, nullable=False),
    Column("branch", String(40), nullable=False),
    Column("audience", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("min_age", Integer, nullable=True),
    Column("max_age", Integer, nullable=True),
    Column("adult_required", Boolean, nullable=False),
    Column("picture", JSON, nullable=True),
    Column("registration_required", Boolean, nullable=False),
    Column("opens_at", UTCDateTime, nullable=True),
    Column("closes_at", UTCDateTime, nullable=True),
    Column("capacity", Integer, nullable=False),
    Column("seats_taken", Integer, nullable=False),
    Column("waitlist_enabled", Boolean, nullable=False),
    Column("waitlisted_count", Integer, nullable=False),
    Column("waitlist_last", Integer, nullable=False),
    Column("max_party_size", Integer, nullable=False),
    Column("offline_seats_per_device", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('scheduled', 'cancelled')", name="ck_events_status"),
    CheckConstraint(
        "seats_taken >= 0 AND seats_taken <= capacity", name="ck_events_no_overbooking"
    ),
    CheckConstraint("waitlisted_count >= 0", name="ck_events_waitlisted_count"),
)
Index("ix_events_revision", events.c.revision)
Index("ix_events_ends_at", events.c.ends_at)

devices = Table(
    "devices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("branch", String(40), nullable=False),
    Column("description", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("config_version", Integer, nullable=False),
    Column("config", JSON, nullable=False),
    Column("config_updated_at", UTCDateTime, nullable=False),
    Column("desired_software_version", String(40), nullable=True),
    Column("last_heartbeat_at", UTCDateTime, nullable=True),
    Column("last_heartbeat", JSON, nullable=True),
)
Index("ix_devices_branch", devices.c.branch)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(8), nullable=False),
    Column("device_id", String(64), ForeignKey("devices.id"), nullable=True),
    Column("label", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("role IN ('admin', 'device')", name="ck_tokens_role"),
    CheckConstraint("(role = 'device') = (device_id IS NOT NULL)", name="ck_tokens_device"),
)

registrations = Table(
    "registrations",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("event_id", String(64), ForeignKey("events.id"), nullable=False),
    Column("device_id", String(64), nullable=True),
    Column("card_token", String(64), nullable=False),
    Column("attendees", JSON, nullable=False),
    Column("party_size", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("waitlist_seq", Integer, nullable=True),
    Column("reason", String(40), nullable=True),
    Column("via_grant", Boolean, nullable=False),
    Column("language", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in REGISTRATION_STATES) + ")",
        name="ck_registrations_status",
    ),
    CheckConstraint("party_size >= 1", name="ck_registrations_party_size"),
    UniqueConstraint("event_id", "waitlist_seq", name="uq_registrations_waitlist_seq"),
)
Index("ix_registrations_event_status", registrations.c.event_id, registrations.c.status)
Index("ix_registrations_card_token", registrations.c.card_token)
Index(
    "uq_registrations_active_card",
    registrations.c.event_id,
    registrations.c.card_token,
    unique=True,
    sqlite_where=text(ACTIVE_STATES_SQL),
    postgresql_where=text(ACTIVE_STATES_SQL),
)

grants = Table(
    "grants",
    metadata,
    Column("event_id", String(64), ForeignKey("events.id"), primary_key=True),
    Column("device_id", String(64), ForeignKey("devices.id"), primary_key=True),
    Column("seats", Integer, nullable=False),
    Column("used", Integer, nullable=False),
    CheckConstraint("used >= 0 AND used <= seats", name="ck_grants_used"),
)

commands = Table(
    "commands",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), ForeignKey("devices.id"), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("args", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("acked_at", UTCDateTime, nullable=True),
)
Index("ix_commands_device_acked", commands.c.device_id, commands.c.acked_at)

receipts = Table(
    "receipts",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("device_id", String(64), nullable=False),
    Column("card_token", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("items", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

daily_counters = Table(
    "daily_counters",
    metadata,
    Column("device_id", String(64), ForeignKey("devices.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("counters", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("principal", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(12), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("body", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("state IN ('in_progress', 'done')", name="ck_idempotency_state"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)
