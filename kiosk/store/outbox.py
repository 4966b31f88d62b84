"""Outbox entries: the circulation actions written before they are sent."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# pending   = written, not yet known to be applied by the backend
# sending   = handed to the backend at least once; the answer may have been lost
# confirmed = the backend applied it
# refused   = the backend answered no (a reason, not an outage)
# failed    = gave up; needs staff
# conflict  = an offline action the backend recorded but would have refused, or refused
#             although it happened at the kiosk; needs staff (the reconciliation report)
OUTBOX_STATES = ("pending", "sending", "confirmed", "refused", "failed", "conflict")
UNFINISHED_STATES = ("pending", "sending")
FINAL_STATES = ("confirmed", "refused", "failed", "conflict")
# States staff must see: they stay in the outbox until dealt with (`kiosk outbox retry`
# sends them again; a settled conflict is marked confirmed).
STAFF_STATES = ("failed", "conflict")
# Rows in these states may be deleted after the retention period; "failed" and
# "conflict" rows stay until staff have dealt with them.
PURGEABLE_STATES = ("confirmed", "refused")


@dataclass(frozen=True)
class OutboxEntry:
    """One circulation action in the outbox, as stored."""

    seq: int
    client_id: str
    kind: str
    payload: dict
    state: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    result: dict | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


def normalise_client_id(client_id: str) -> str:
    """The canonical text of a client UUID, so lookups do not depend on spelling."""
    try:
        return str(uuid.UUID(str(client_id)))
    except ValueError:
        raise ValueError(f"client_id must be a UUID, got {client_id!r}") from None


def dump_json(value: Any, what: str) -> str:
    """JSON text for storing; refuses values that would not read back the same."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
