"""Table definitions used by the queries.

The migrations in ``migrations/versions`` create these tables with their own,
frozen copy of the definitions; a test checks that both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from kiosk.store.outbox import OUTBOX_STATES


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as naive text (SQLite has no time zones), reads back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    # AUTOINCREMENT: sequence numbers are never reused after a purge, so the
    # replay order stays the order the actions happened in.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(36), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    CheckConstraint(
        "state IN (" + ", ".join(f"'{s}'" for s in OUTBOX_STATES) + ")",
        name="ck_outbox_state",
    ),
    UniqueConstraint("client_id", name="uq_outbox_client_id"),
    Index("ix_outbox_state_seq", "state", "seq"),
    sqlite_autoincrement=True,
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("value", Integer, nullable=False),
)

# Keyed hashes of cards (kiosk.privacy.redact), never the numbers: for offline decisions.
card_cache = Table(
    "card_cache",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("blocked", Boolean, nullable=False),
    Column("category", String(40), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- the central API client's cache (kiosk.central_client) ---------------------------------

# Events as the central API last sent them: the raw JSON, plus the columns queries need.
central_events = Table(
    "central_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_central_events_starts_at", "starts_at"),
)

# Event pictures kept as files in the cache folder (named by a hash of the URL).
central_pictures = Table(
    "central_pictures",
    metadata,
    Column("url", String(500), primary_key=True),
    Column("file", String(100), nullable=False),
    Column("etag", String(200), nullable=True),
    Column("fetched_at", UTCDateTime, nullable=False),
)

# Registrations made at this kiosk: shown offline, and counted against the seats the
# server granted this kiosk. Card tokens are keyed hashes, never card numbers.
central_registrations = Table(
    "central_registrations",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("card_token", String(64), nullable=False),
    Column("party_size", Integer, nullable=False),
    Column("ages", Text, nullable=False),
    Column("status", String(24), nullable=False),
    Column("offline", Boolean, nullable=False),
    Column("via_offline_grant", Boolean, nullable=False),
    Column("waitlist_position", Integer, nullable=True),
    Column("reason", String(40), nullable=True),
    # The cached event's revision when the server confirmed an offline one: until a newer
    # revision arrives, the cached offline_seats does not count it yet.
    Column("answered_revision", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_central_registrations_card", "card_token"),
    Index("ix_central_registrations_event", "event_id"),
)
