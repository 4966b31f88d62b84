"""The patron session as a plain state machine, observed by the screens.

idle → identify → checkout → summary → idle, or idle → return → summary → idle;
a patron who is identified can open their account (loans, renewals, holds,
fees) and go back to borrowing.
Every state but idle has an inactivity timer: a warning first (the patron can
extend), then logout, which wipes everything the session held. Time comes in
through `tick(now)` with a monotonic clock, so tests control it exactly.

The session holds no I/O: `kiosk.core.KioskCore` does the talking to the
library system, the store and the devices, and moves the session along.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kiosk.circulation import Reason
from kiosk.events import Filters


class State(enum.StrEnum):
    IDLE = "idle"
    IDENTIFY = "identify"
    CHECKOUT = "checkout"
    RETURN = "return"
    ACCOUNT = "account"
    SUMMARY = "summary"
    # The event catalogue (child mode): browse, one event, register / cancel / check in.
    EVENTS = "events"
    EVENT = "event"
    EVENT_REGISTER = "event_register"
    EVENT_RESULT = "event_result"


# Which moves are allowed; anything else is a programming error, not a patron error.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.IDENTIFY, State.RETURN, State.CHECKOUT, State.EVENTS}),
    State.IDENTIFY: frozenset({State.IDLE, State.CHECKOUT, State.ACCOUNT}),
    State.CHECKOUT: frozenset({State.SUMMARY, State.IDLE, State.ACCOUNT}),
    State.ACCOUNT: frozenset({State.CHECKOUT, State.SUMMARY, State.IDLE}),
    State.RETURN: frozenset({State.SUMMARY, State.IDLE}),
    State.SUMMARY: frozenset({State.IDLE}),
    State.EVENTS: frozenset({State.EVENT, State.IDLE}),
    State.EVENT: frozenset({State.EVENTS, State.EVENT_REGISTER, State.IDLE}),
    State.EVENT_REGISTER: frozenset({State.EVENT, State.EVENT_RESULT, State.IDLE}),
    State.EVENT_RESULT: frozenset({State.EVENT, State.EVENTS, State.IDLE}),
}


class LineStatus(enum.StrEnum):
    READING = "reading"
    WAITING_PARTS = "waiting_parts"
    LENT = "lent"
    REFUSED = "refused"
    RETURNED = "returned"
    NOT_RETURNED = "not_returned"
    SECURITY_FAILED = "security_failed"
    NOT_READ = "not_read"
    RENEWED = "renewed"  # already on loan to this patron, renewed from the pad


@dataclass(frozen=True, slots=True)
class Line:
    """One item (or one unreadable tag) handled in this session."""

    key: str  # item id, or "uid:<hex>" for a tag that is not a readable library tag
    title: str = ""
    status: LineStatus = LineStatus.READING
    reason: Reason = Reason.OK
    due: dt.date | None = None
    parts_seen: int = 1
    parts_total: int = 1
    missing_parts: tuple[int, ...] = ()  # part numbers not yet on the pad
    destination: str = ""
    server_text: str = ""
    offline: bool = False  # done while the library system was unreachable; sent later

    @property
    def renewable(self) -> bool:
        """Already lent to this patron: the screen offers to renew it."""
        return self.status is LineStatus.REFUSED and self.reason is Reason.ALREADY_ON_LOAN_TO_YOU


@dataclass(frozen=True, slots=True)
class AccountLoan:
    item_id: str
    title: str
    due: dt.date
    overdue: bool = False
    renewal: Reason | None = None  # None: not tried in this session; OK: renewed


@dataclass(frozen=True, slots=True)
class AccountHold:
    title: str
    pickup_location: str = ""
    until: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """The patron's account as the library system last told it, with this session's
    renewals. `available` is False when the system could not be asked."""

    loans: tuple[AccountLoan, ...] = ()
    holds: tuple[AccountHold, ...] = ()
    fees_cents: int = 0
    currency: str = "EUR"
    available: bool = True


@dataclass(frozen=True, slots=True)
class Receipt:
    """The receipt choice on the summary screen."""

    offer: tuple[str, ...] = ()  # "print", "email", "none", as the library configured
    default: str = "none"
    chosen: str = ""  # "" until the patron (or the default) chose
    status: str = ""  # "", "printed", "queued" (e-mail), "failed" (printer), "none"


@dataclass(frozen=True, slots=True)
class EventDraft:
    """A registration, cancellation or check-in being made at the kiosk. The card itself
    stays in the core; the view only knows that one was read."""

    purpose: str = "register"  # "register", "cancel", "check_in"
    stage: str = "card"  # "card" (tap your card), "attendees" (who comes), "sending"
    ages: tuple[int, ...] = ()  # who comes: an adult is ADULT_AGE (kiosk.events)
    problem: str = ""  # a contract reason code found before sending (age_out_of_range…)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What the central API (or the kiosk, offline) answered."""

    purpose: str  # "register", "cancel", "check_in"
    status: str  # confirmed, waitlisted, pending_sync, rejected, unavailable_offline,
    #              cancelled, checked_in, not_found, failed
    reason: str = ""  # the contract's reason code when rejected
    waitlist_position: int | None = None
    party_size: int = 0


@dataclass(frozen=True, slots=True)
class Notice:
    """A transient message for the patron (unknown card, wrong PIN…)."""

    reason: Reason
    serial: int  # changes every time, so the same notice twice is shown twice


@dataclass(frozen=True, slots=True)
class Keypad:
    stage: str = "card"  # "card" (typing the card number) or "pin"
    digits: int = 0  # how many digits are entered
    typed_card: str = ""  # the card number as typed, so the patron can check it; never the PIN
    card_known: bool = False  # a card was tapped and only the PIN is missing


@dataclass(frozen=True, slots=True)
class SessionView:
    """Everything a screen may show. Immutable; a new one is published on every change."""

    state: State = State.IDLE
    language: str = "sl"
    identified: bool = False  # a patron is known (offline sessions have no name)
    patron_name: str = ""
    patron_is_child: bool = False
    lines: tuple[Line, ...] = ()
    notice: Notice | None = None
    keypad: Keypad = field(default_factory=Keypad)
    warning_s: int | None = None  # seconds left before logout, while the warning shows
    busy: bool = False
    session_no: int = 0
    device_trouble: tuple[str, ...] = ()  # "rfid", "card_reader": not answering right now
    offline: bool = False  # the library system is unreachable: store-and-forward mode
    account: Account | None = None
    receipt: Receipt = field(default_factory=Receipt)
    # The event catalogue: events are the central client's cached EventInfo objects.
    events_available: bool = False  # a central API is configured
    event_filters: Filters = field(default_factory=Filters)
    catalogue: tuple[Any, ...] = ()  # the grid, filtered, soonest first
    event: Any = None  # the event shown in detail
    event_draft: EventDraft | None = None
    event_outcome: EventOutcome | None = None

    @property
    def lent(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.LENT)

    @property
    def returned(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.RETURNED)

    @property
    def problems(self) -> tuple[Line, ...]:
        return tuple(
            line
            for line in self.lines
            if line.status
            in (LineStatus.REFUSED, LineStatus.NOT_RETURNED, LineStatus.SECURITY_FAILED)
        )

    @property
    def renewed(self) -> tuple[Line, ...]:
        """Loans renewed in this session, from the pad or the account, each once."""
        lines = tuple(line for line in self.lines if line.status is LineStatus.RENEWED)
        keys = {line.key for line in lines}
        loans = self.account.loans if self.account is not None else ()
        return lines + tuple(
            Line(key=loan.item_id, title=loan.title, status=LineStatus.RENEWED, due=loan.due)
            for loan in loans
            if loan.renewal is Reason.OK and loan.item_id not in keys
        )


@dataclass(frozen=True, slots=True)
class Timing:
    timeout_s: float = 90
    warning_s: float = 20
    summary_timeout_s: float = 45
    walkaway_s: float = 40  # once the pad is empty again after use: the patron may have left

    def __post_init__(self) -> None:
        if self.warning_s < 20:
            raise ValueError("the warning before logout must last at least 20 s")
        if self.warning_s >= min(self.timeout_s, self.summary_timeout_s, self.walkaway_s):
            raise ValueError("the warning must be shorter than the timeouts")


Observer = Callable[[SessionView], None]


class InvalidTransition(RuntimeError):
    pass


class Session:
    """The state and its timers. Not thread-safe on its own: KioskCore serialises calls."""

    def __init__(self, timing: Timing, default_language: str, now: float) -> None:
        self.timing = timing
        self.default_language = default_language
        self._view = SessionView(language=default_language)
        self._last_activity = now
        self._notice_serial = 0
        self._observers: list[Observer] = []
        self.pad_left_empty = False  # items were handled and the pad is empty again

    # --- observation -------------------------------------------------------
    @property
    def view(self) -> SessionView:
        return self._view

    @property
    def state(self) -> State:
        return self._view.state

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        self._observers.append(observer)
        observer(self._view)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def _publish(self, **changes: object) -> None:
        self._view = replace(self._view, **changes)
        for observer in list(self._observers):
            observer(self._view)

    # --- transitions ---------------------------------------------------------
    def go(self, state: State, now: float, **changes: object) -> None:
        if state not in TRANSITIONS[self._view.state]:
            raise InvalidTransition(f"{self._view.state} → {state}")
        self._last_activity = now
        self._publish(state=state, warning_s=None, notice=None, **changes)

    def update(self, now: float | None = None, **changes: object) -> None:
        """Change what is shown; with `now`, it also counts as patron activity."""
        if now is not None:
            self._last_activity = now
            changes.setdefault("warning_s", None)
        self._publish(**changes)

    def notify(self, reason: Reason, now: float) -> None:
        self._notice_serial += 1
        self.update(now, notice=Notice(reason, self._notice_serial))

    def set_line(self, line: Line, now: float) -> None:
        lines = list(self._view.lines)
        for i, existing in enumerate(lines):
            if existing.key == line.key:
                lines[i] = line
                break
        else:
            lines.append(line)
        self.update(now, lines=tuple(lines))

    def remove_line(self, key: str, now: float) -> None:
        lines = tuple(line for line in self._view.lines if line.key != key)
        if len(lines) != len(self._view.lines):
            self.update(now, lines=lines)

    def logout(self) -> None:
        """Back to idle with nothing of this patron left: a brand-new view."""
        self._view = SessionView(
            language=self.default_language,
            session_no=self._view.session_no + 1,
            device_trouble=self._view.device_trouble,  # the device is still broken
            offline=self._view.offline,  # and the library system still away
        )
        self.pad_left_empty = False
        for observer in list(self._observers):
            observer(self._view)

    # --- time ----------------------------------------------------------------
    def touch(self, now: float) -> None:
        """Patron activity: restart the inactivity timer and drop a showing warning."""
        self._last_activity = now
        if self._view.warning_s is not None:
            self._publish(warning_s=None)

    def timeout_s(self) -> float:
        if self._view.state is State.SUMMARY:
            return self.timing.summary_timeout_s
        if self.pad_left_empty and self._view.state in (State.CHECKOUT, State.RETURN):
            return min(self.timing.walkaway_s, self.timing.timeout_s)
        return self.timing.timeout_s

    def tick(self, now: float) -> bool:
        """Advance the timers. Returns True when the session timed out (and was wiped)."""
        if self._view.state is State.IDLE or self._view.busy:
            return False
        remaining = self.timeout_s() - (now - self._last_activity)
        if remaining <= 0:
            self.logout()
            return True
        if remaining <= self.timing.warning_s:
            seconds = math.ceil(remaining)
            if seconds != self._view.warning_s:
                self._publish(warning_s=seconds)
        elif self._view.warning_s is not None:
            self._publish(warning_s=None)
        return False
