"""The circulation interface every backend implements (demo ILS now, SIP2 later).

Results carry a machine-readable `Reason` that the UI translates into the
patron's language, plus the server's own text for staff and logs. Backends
never raise for a refusal; they raise `BackendUnavailable` only when they
cannot answer at all (network down, database gone).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class Reason(enum.StrEnum):
    """Why something succeeded or was refused. Stable codes; screens translate them."""

    OK = "ok"
    # Patron identification
    UNKNOWN_PATRON = "unknown_patron"
    WRONG_PIN = "wrong_pin"
    PIN_REQUIRED = "pin_required"
    CARD_BLOCKED = "card_blocked"
    CARD_EXPIRED = "card_expired"
    FEES_OVER_LIMIT = "fees_over_limit"
    INVALID_CARD_NUMBER = "invalid_card_number"  # refused by the card rules, never sent
    # Items
    UNKNOWN_ITEM = "unknown_item"
    LOAN_LIMIT = "loan_limit"
    RESERVED_FOR_OTHER = "reserved_for_other"
    REFERENCE_ONLY = "reference_only"
    ALREADY_ON_LOAN_TO_YOU = "already_on_loan_to_you"
    ON_LOAN_TO_OTHER = "on_loan_to_other"
    NOT_ON_LOAN = "not_on_loan"
    RENEWAL_LIMIT = "renewal_limit"
    # Offline mode (decided by the kiosk while the library system is unreachable)
    OFFLINE_LIMIT = "offline_limit"  # the offline loan limits are reached
    OFFLINE_NOT_ALLOWED = "offline_not_allowed"  # this card cannot borrow while offline
    # Tags on the pad (decided by the core, before any backend call)
    INCOMPLETE_SET = "incomplete_set"
    NOT_LIBRARY_TAG = "not_library_tag"
    DAMAGED_TAG = "damaged_tag"
    DUPLICATE_TAG = "duplicate_tag"
    TAG_NOT_READ = "tag_not_read"  # answers the reader, but its memory could not be read
    # The link
    BACKEND_UNAVAILABLE = "backend_unavailable"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Patron:
    """A patron as the backend knows them. `patron_id` is the ILS identifier (card number)."""

    patron_id: str
    name: str
    is_child: bool = False
    loans_count: int = 0
    loan_limit: int = 0
    fees_cents: int = 0
    currency: str = "EUR"


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    title: str
    author: str = ""
    parts: int = 1


class ItemState(enum.StrEnum):
    """Where an item is, as far as circulation cares (SIP2's circulation status, simplified)."""

    AVAILABLE = "available"
    ON_LOAN = "on_loan"
    ON_HOLD_SHELF = "on_hold_shelf"
    IN_TRANSIT = "in_transit"
    NOT_FOR_LOAN = "not_for_loan"  # reference only, in process, lost, missing…
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ItemStatus:
    item: Item
    state: ItemState
    due: dt.date | None = None
    holds_queue: int = 0  # patrons waiting for it
    location: str = ""
    server_text: str = ""


@dataclass(frozen=True, slots=True)
class Loan:
    item: Item
    due: dt.date
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class HoldReady:
    """An item waiting for the patron on the holds shelf."""

    item: Item
    pickup_location: str = ""
    until: dt.date | None = None


@dataclass(frozen=True, slots=True)
class PatronSummary:
    """The account screen's data: loans, holds ready to collect, fees."""

    patron: Patron
    loans: tuple[Loan, ...] = ()
    holds_ready: tuple[HoldReady, ...] = ()
    fees_cents: int = 0
    currency: str = "EUR"
    server_text: str = ""


@dataclass(frozen=True, slots=True)
class PatronResult:
    reason: Reason
    patron: Patron | None = None
    server_text: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    reason: Reason
    item: Item | None = None
    due: dt.date | None = None
    server_text: str = ""
    # A loan made offline and recorded afterwards (no-block): what the library system would
    # have refused it for (reserved for another patron, blocked card…), for staff to settle.
    conflicts: tuple[Reason, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


@dataclass(frozen=True, slots=True)
class CheckinResult:
    reason: Reason
    item: Item | None = None
    # Where the item goes next: "shelf", "holds_shelf", "other_branch", "staff".
    destination: str = "shelf"
    server_text: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


@dataclass(frozen=True, slots=True)
class RenewAllResult:
    """Per-item answers of a renew-all; `reason` is OK when the request itself was answered."""

    reason: Reason
    results: tuple[CheckoutResult, ...] = ()
    server_text: str = ""

    @property
    def renewed(self) -> tuple[CheckoutResult, ...]:
        return tuple(r for r in self.results if r.ok)

    @property
    def refused(self) -> tuple[CheckoutResult, ...]:
        return tuple(r for r in self.results if not r.ok)


@dataclass(frozen=True, slots=True)
class BackendStatus:
    online: bool
    detail: str = ""
    latency_ms: float | None = None
    extra: dict[str, str] = field(default_factory=dict)


class BackendUnavailable(Exception):
    """The backend cannot answer at all (network, server, database). Not a refusal."""


@runtime_checkable
class CirculationBackend(Protocol):
    """What the core needs from a library system.

    `client_id` is the outbox row's UUID: a backend must treat a repeated
    `client_id` as the same transaction and return the first answer again,
    so replay after a crash never lends or returns twice. A backend whose
    protocol carries no such key (SIP2) gets the same effect another way:
    `resumed=True` says the action may already have reached the library
    system (it was being sent when the kiosk stopped), so look before sending.

    Offline actions are replayed with what happened at the kiosk: a checkout
    with `offline_due` (the due date the patron was given) and a checkin with
    `offline=True` must be recorded, not refused (SIP2 "no block"); a checkout
    lists in `conflicts` what it would have been refused for.
    """

    def identify(self, card: str, pin: str | None = None) -> PatronResult: ...

    def summary(self, patron_id: str) -> PatronSummary | None:
        """Loans, holds ready and fees; None for an unknown patron."""
        ...

    def item_info(self, item_id: str) -> Item | None: ...

    def item_status(self, item_id: str) -> ItemStatus | None: ...

    def checkout(
        self,
        patron_id: str,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
        offline_due: dt.date | None = None,
    ) -> CheckoutResult: ...

    def checkin(
        self,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
        offline: bool = False,
    ) -> CheckinResult: ...

    def renew(
        self,
        patron_id: str,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
    ) -> CheckoutResult: ...

    def renew_all(self, patron_id: str, *, client_id: str, when: dt.datetime) -> RenewAllResult: ...

    def blocked_cards(self) -> tuple[str, ...] | None:
        """Cards that must not borrow (blocked, reported lost), for the offline cache;
        None when the library system cannot list them (SIP2 has no such message)."""
        ...

    def status(self) -> BackendStatus: ...

    def close(self) -> None: ...
