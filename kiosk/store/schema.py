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
