"""What the central API client hands the core and the screens: plain frozen dataclasses
with stable status strings (the contract's words where it has them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

# RegistrationOutcome.status
CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
REJECTED = "rejected"  # the server said no; `reason` is the contract's RejectReason
PENDING_SYNC = "pending_sync"  # offline, within this kiosk's seat grant: sent later
UNAVAILABLE_OFFLINE = "unavailable_offline"  # offline and no seats this kiosk may promise
FAILED = "failed"  # the server refused the request itself (reason: its error code)
REGISTRATION_OUTCOMES = (CONFIRMED, WAITLISTED, REJECTED, PENDING_SYNC, UNAVAILABLE_OFFLINE, FAILED)

# CancelOutcome.status
CANCELLED = "cancelled"
NOT_FOUND = "not_found"  # this card has nothing to cancel at this event
CANCEL_OUTCOMES = (CANCELLED, PENDING_SYNC, NOT_FOUND, REJECTED, UNAVAILABLE_OFFLINE, FAILED)

# CheckInOutcome.status
CHECKED_IN = "checked_in"  # newly_checked_in == 0 when the family was already in
CHECK_IN_OUTCOMES = (CHECKED_IN, NOT_FOUND, REJECTED, UNAVAILABLE_OFFLINE, FAILED)
# CheckInOutcome.reason when rejected: the contract's error codes.
CHECK_IN_REASONS = ("not_confirmed", "check_in_not_open", "wrong_kiosk")

# CentralStatus.state
ONLINE, DEGRADED, OFFLINE = "online", "degraded", "offline"


def frozen_texts(value: dict[str, str]) -> MappingProxyType[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One event from the local cache, as the catalogue shows it. Texts are keyed by
    language (`sl` and `en` always present); times are aware, in the library's zone."""

    id: str
    revision: int
    status: str  # "scheduled" or "cancelled"
    title: MappingProxyType[str, str]
    description: MappingProxyType[str, str]
    speech: MappingProxyType[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    time_zone: str
    location_kind: str  # "branch" or "bibliobus_stop"
    branch: str
    location_name: MappingProxyType[str, str]
    room: str | None
    stop: str | None
    address: str | None
    audience: tuple[str, ...]
    min_age: int | None
    max_age: int | None
    adult_required: bool
    categories: tuple[str, ...]
    picture_url: str | None  # absolute
    picture_path: Path | None  # the cached file; None until fetched
    picture_alt: MappingProxyType[str, str]
    registration_required: bool
    registration_opens_at: dt.datetime | None
    registration_closes_at: dt.datetime | None  # None: when the event starts
    capacity: int
    seats_left: int
    seats_left_as_of: dt.datetime
    waitlist_enabled: bool
    waitlist_length: int
    offline_seats: int  # this kiosk's grant, less what it promised and the server has not seen
    max_party_size: int

    def text(self, what: str, language: str) -> str:
        """`title`, `description`, `speech`, `location_name` or `picture_alt` in
        `language`, else Slovenian, else English."""
        texts = getattr(self, what)
        return texts.get(language) or texts.get("sl") or texts.get("en") or ""

    def registration_open(self, now: dt.datetime) -> bool:
        """Registration is needed and its window is open at `now` (the server decides)."""
        if not self.registration_required or self.status != "scheduled":
            return False
        if self.registration_opens_at is not None and now < self.registration_opens_at:
            return False
        return now < (self.registration_closes_at or self.starts_at)

    @property
    def full(self) -> bool:
        return self.seats_left <= 0


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    status: str  # one of REGISTRATION_OUTCOMES
    event_id: str
    party_size: int
    client_id: str | None = None  # the registration's id (and idempotency key)
    waitlist_position: int | None = None
    reason: str | None = None  # RejectReason when rejected; the error code when failed
    message: str = ""  # plain English, for logs and technicians
    seats_left: int | None = None


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    client_id: str
    event_id: str
    status: str  # the contract's RegistrationStatus, pending_sync while not yet answered
    party_size: int
    ages: tuple[int, ...]
    created_at: dt.datetime
    waitlist_position: int | None = None
    reason: str | None = None
    made_here: bool = False  # registered at this kiosk (known locally)

    @property
    def pending(self) -> bool:
        return self.status == PENDING_SYNC

    @property
    def active(self) -> bool:
        """Holds a seat or a waitlist place (or will, once sent)."""
        return self.status in (PENDING_SYNC, CONFIRMED, WAITLISTED)


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    status: str  # one of CANCEL_OUTCOMES
    event_id: str
    cancelled: tuple[str, ...] = ()  # client ids of the registrations cancelled (or queued)
    reason: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class CheckInOutcome:
    status: str  # one of CHECK_IN_OUTCOMES
    event_id: str
    newly_checked_in: int = 0  # registrations marked attended now (0: already in)
    party_size: int = 0  # people of this card's attended registrations
    reason: str | None = None  # CHECK_IN_REASONS when rejected; the error code when failed
    message: str = ""


@dataclass(frozen=True, slots=True)
class CentralStatus:
    state: str  # ONLINE, DEGRADED or OFFLINE
    detail: str
    latency_ms: float | None = None
    last_ok_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one `sync()` call did (for logs and tests)."""

    events_changed: int = 0
    pictures_fetched: int = 0
    sent: int = 0  # outbox entries settled
    heartbeat: bool = False
    statistics: bool = False
    config_applied: int | None = None
    errors: tuple[str, ...] = ()
