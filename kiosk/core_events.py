"""The event catalogue's part of the kiosk core: browse, one event, and register,
cancel or check in with one card tap. A mixin of KioskCore, sharing its session,
lock and clock; the central API client (kiosk.central_client) does the talking and
keeps the catalogue usable offline.

Child mode has no typing anywhere: filters and the attendee picker are taps, the
caregiver's card is the only identification (no PIN: a registration lends nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import is_dataclass, replace
from typing import TYPE_CHECKING, Any

from kiosk.cardid import CardIdError, normalise
from kiosk.circulation import Reason
from kiosk.events import ADULT_AGE, SENIOR_AGE, EventsService, Filters, age_problem, select
from kiosk.privacy import redact
from kiosk.session import EventDraft, EventOutcome, State

if TYPE_CHECKING:
    import datetime as dt

    from kiosk.session import Session

log = logging.getLogger(__name__)

MAX_AGE_ON_PICKER = 17  # children's ages on the picker; older ones count as adults


class EventsFlow:
    """Mixin: needs self.session, self._lock, self._clock, self._wallclock, self.store,
    self.settings.card_rules, self.events_service (None without a central API)."""

    session: Session
    events_service: EventsService | None
    _clock: Callable[[], float]
    _wallclock: Callable[[], dt.datetime]
    _event_card: str

    # --- browsing -------------------------------------------------------------------------
    def begin_events(self) -> None:
        """The start screen's "Events" tile: the catalogue, this week, for everyone."""
        with self._lock:  # type: ignore[attr-defined]
            if self.session.state is not State.IDLE:
                return
            self.store.increment("events_opened")  # type: ignore[attr-defined]
            filters = Filters()
            self.session.go(
                State.EVENTS,
                self._clock(),
                events_available=self.events_service is not None,
                event_filters=filters,
                catalogue=self._catalogue(filters),
            )

    def set_event_filters(
        self, *, age_group: str | None = None, category: str | None = None, when: str | None = None
    ) -> None:
        """A filter tile was tapped; tapping the chosen one again clears it."""
        with self._lock:  # type: ignore[attr-defined]
            if self.session.state is not State.EVENTS:
                return
            current = self.session.view.event_filters
            changes: dict[str, str] = {}
            if age_group is not None:
                changes["age_group"] = "" if age_group == current.age_group else age_group
            if category is not None:
                changes["category"] = "" if category == current.category else category
            if when is not None:
                changes["when"] = when
            filters = replace(current, **changes)
            self.session.update(
                self._clock(), event_filters=filters, catalogue=self._catalogue(filters)
            )

    def open_event(self, event_id: str) -> None:
        with self._lock:  # type: ignore[attr-defined]
            if self.session.state not in (State.EVENTS, State.EVENT_RESULT):
                return
            event = self._fresh_event(event_id)
            if event is None:
                return
            self.session.go(State.EVENT, self._clock(), event=event, event_outcome=None)

    def back_to_events(self) -> None:
        with self._lock:  # type: ignore[attr-defined]
            if self.session.state not in (State.EVENT, State.EVENT_RESULT):
                return
            self._event_card = ""
            filters = self.session.view.event_filters
            self.session.go(
                State.EVENTS,
                self._clock(),
                event=None,
                event_draft=None,
                event_outcome=None,
                catalogue=self._catalogue(filters),
            )

    # --- registering, cancelling, checking in ---------------------------------------------
    def begin_registration(self) -> None:
        self._begin_draft("register")

    def begin_cancellation(self) -> None:
        self._begin_draft("cancel")

    def begin_check_in(self) -> None:
        self._begin_draft("check_in")

    def cancel_draft(self) -> None:
        """'Back' while registering: to the event, the card forgotten."""
        with self._lock:  # type: ignore[attr-defined]
            if self.session.state is State.EVENT_REGISTER:
                self._event_card = ""
                self.session.go(State.EVENT, self._clock(), event_draft=None)

    def add_attendee(self, age: int) -> None:
        """A tap on the picker: a child of `age` years, an adult (ADULT_AGE) or a senior
        (SENIOR_AGE)."""
        with self._lock:  # type: ignore[attr-defined]
            draft = self.session.view.event_draft
            if draft is None or draft.stage != "attendees":
                return
            if not 0 <= age <= MAX_AGE_ON_PICKER and age not in (ADULT_AGE, SENIOR_AGE):
                raise ValueError(
                    f"the picker offers ages 0-{MAX_AGE_ON_PICKER}, adults and seniors"
                )
            event = self.session.view.event
            if len(draft.ages) >= event.max_party_size:
                self._show_draft(replace(draft, problem="party_too_large"))
                return
            self._show_draft(replace(draft, ages=(*draft.ages, age), problem=""))

    def remove_attendee(self, index: int) -> None:
        with self._lock:  # type: ignore[attr-defined]
            draft = self.session.view.event_draft
            if draft is None or draft.stage != "attendees" or not 0 <= index < len(draft.ages):
                return
            ages = draft.ages[:index] + draft.ages[index + 1 :]
            self._show_draft(replace(draft, ages=ages, problem=""))

    def confirm_registration(self, accept_waitlist: bool = True) -> None:
        with self._lock:  # type: ignore[attr-defined]
            draft = self.session.view.event_draft
            if draft is None or draft.stage != "attendees" or not self._event_card:
                return
            event = self.session.view.event
            problem = age_problem(event, draft.ages)
            if problem is not None:
                self._show_draft(replace(draft, problem=problem))
                return
            assert self.events_service is not None
            self.session.update(self._clock(), event_draft=replace(draft, stage="sending"))
            self.session.update(busy=True)
            try:
                answer = self.events_service.register(
                    event.id,
                    self._event_card,
                    list(draft.ages),
                    accept_waitlist=accept_waitlist,
                    language=self.session.view.language,
                )
            finally:
                self.session.update(busy=False)
            outcome = EventOutcome(
                "register",
                _status_of(answer),
                reason=str(getattr(answer, "reason", "") or ""),
                waitlist_position=getattr(answer, "waitlist_position", None),
                party_size=len(draft.ages),
            )
            self._finish_draft(outcome, seats_left=getattr(answer, "seats_left", None))

    # --- the card ---------------------------------------------------------------------------
    def _event_card_presented(self, raw: str, source: str) -> bool:
        """A card tapped in the event states; True when it was taken here."""
        state = self.session.state
        if state not in (State.EVENTS, State.EVENT, State.EVENT_REGISTER, State.EVENT_RESULT):
            return False
        draft = self.session.view.event_draft
        if state is not State.EVENT_REGISTER or draft is None or draft.stage != "card":
            self.session.touch(self._clock())  # browsing: a card changes nothing
            return True
        try:
            card = normalise(raw, source, self.settings.card_rules)  # type: ignore[attr-defined]
        except CardIdError as exc:
            log.info("event card %s refused by the card rules: %s", redact(raw), exc)
            self.session.notify(Reason.INVALID_CARD_NUMBER, self._clock())
            return True
        self._event_card = card
        if draft.purpose == "register":
            event = self.session.view.event
            ages = (ADULT_AGE,) if event.adult_required else ()
            self._show_draft(replace(draft, stage="attendees", ages=ages))
            return True
        self._card_only_action(draft.purpose)
        return True

    def _card_only_action(self, purpose: str) -> None:
        assert self.events_service is not None
        event = self.session.view.event
        call = self.events_service.cancel if purpose == "cancel" else self.events_service.check_in
        self.session.update(busy=True)
        try:
            answer = call(event.id, self._event_card)
        finally:
            self.session.update(busy=False)
        self._finish_draft(
            EventOutcome(
                purpose,
                _status_of(answer),
                reason=str(getattr(answer, "reason", "") or ""),
                party_size=int(getattr(answer, "party_size", 0) or 0),
            )
        )

    # --- internals ------------------------------------------------------------------------
    def _begin_draft(self, purpose: str) -> None:
        with self._lock:  # type: ignore[attr-defined]
            if self.session.state is not State.EVENT or self.events_service is None:
                return
            self._event_card = ""
            self.session.go(
                State.EVENT_REGISTER, self._clock(), event_draft=EventDraft(purpose=purpose)
            )

    def _show_draft(self, draft: EventDraft) -> None:
        self.session.update(self._clock(), event_draft=draft)

    def _finish_draft(self, outcome: EventOutcome, seats_left: int | None = None) -> None:
        log.info(
            "event %s %s by %s: %s %s",
            self.session.view.event.id,
            outcome.purpose,
            redact(self._event_card),
            outcome.status,
            outcome.reason,
        )
        self.store.increment(f"events_{outcome.purpose}_{outcome.status}")  # type: ignore[attr-defined]
        self._event_card = ""  # not kept beyond the action
        event = self._fresh_event(self.session.view.event.id) or self.session.view.event
        if seats_left is not None and is_dataclass(event):
            # The server's answer is fresher than the cache until the next sync.
            event = replace(event, seats_left=seats_left, seats_left_as_of=self._wallclock())
        self.session.go(
            State.EVENT_RESULT,
            self._clock(),
            event=event,
            event_draft=None,
            event_outcome=outcome,
        )

    def _catalogue(self, filters: Filters) -> tuple[Any, ...]:
        if self.events_service is None:
            return ()
        return tuple(select(self.events_service.events(), filters, self._wallclock()))

    def _fresh_event(self, event_id: str) -> Any | None:
        if self.events_service is None:
            return None
        return self.events_service.event(event_id)


def _status_of(answer: Any) -> str:
    """The outcome's status word, whatever result type the client returns."""
    status = getattr(answer, "status", None) or "failed"
    return str(getattr(status, "value", status))
