"""The kiosk's local store (SQLite in WAL mode, schema under Alembic migrations).

Holds the circulation outbox (every action is written here before it is sent),
device settings and counters. See :class:`Store`.
"""

from kiosk.store.errors import StoreError
from kiosk.store.outbox import OUTBOX_STATES, OutboxEntry
from kiosk.store.store import Store

__all__ = ["OUTBOX_STATES", "OutboxEntry", "Store", "StoreError"]
