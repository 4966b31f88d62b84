"""What the demo SIP2 server answers: requests turned into `CirculationBackend` calls.

No sockets here (they are in `server.py`): `Responder.answer()` takes one decoded
request and the connection's `SessionState` and returns the response message.
The answers follow what Koha's SIP server does where the spec leaves room, so a
client tested against the demo meets the same shapes as in a real library:

- refusals carry ok=0 and a Koha-like English screen message (`AF_TEXTS`); the
  library's own detail, when it has one, follows as a second AF line;
- an unknown patron gets patron status "YYYY" + blanks, an empty name and BL N;
- a checkout of an item already on loan to the same patron is a renewal
  (renewal ok = Y) when the SC's renewal policy allows it;
- a checkin of an item that was not on loan is ok=0 with alert Y and
  "Item not checked out" (Koha without `checked_in_ok`; see `checked_in_ok`);
- "no block" (store-and-forward): a checkout is recorded with the SC's nb due
  date whatever the patron's account or the item's holds say, and answered with
  `NO_BLOCK_TEXT` then one AF line per rule it overrode (the `AF_TEXTS` of each
  conflict); a checkin is recorded at its return date. Real servers say less:
  the kiosk's backend does not rely on those lines.

SIP2 has no idempotency key: like a real server, this one treats every
circulation request as new, except the very same bytes again on the same
connection moments later. A client that lost an answer must look before it
sends again (the kiosk's SIP2 backend does).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiosk.backends.demo import FEES_LIMIT_CENTS
from kiosk.circulation import (
    BackendUnavailable,
    CheckoutResult,
    CirculationBackend,
    Patron,
    Reason,
)
from kiosk.privacy import redact
from kiosk.sip2.fields import patron_status_string, supported_messages_string
from kiosk.sip2.messages import (
    ACSStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndPatronSessionResponse,
    FeePaidRequest,
    HoldRequest,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    SCStatus,
)
from kiosk.sip2.server_refusals import (
    AF_TEXTS,
    ALERT_TYPES,
    ALL_DENIED,
    CIRCULATION_STATUS,
    DEFAULT_LOAN_DAYS,
    DENIED,
    FEE_TYPE_OTHER,
    INVALID_PATRON_STATUS,
    LOGIN_REQUIRED_TEXT,
    MEDIA_BOOK,
    NO_BLOCK_TEXT,
    NOT_SUPPORTED,
    OFFLINE_TEXT,
    RENEWED_BY_CHECKOUT_TEXT,
    REPEAT_WINDOW_S,
    RETRIES_ALLOWED,
    SECURITY_OTHER,
    SORT_BINS,
    SUPPORTED_MESSAGES,
    due_text,
    local_time,
    money,
    page,
    refusal,
    screen_lines,
    timestamp,
)

log = logging.getLogger("kiosk.sip2.server")


@dataclass
class SessionState:
    """What one connection remembers between requests."""

    user: str | None = None  # the login user once logged in
    location: str | None = None  # CP of the login
    # The last circulation request with the key and time it was given, to recognise
    # a retransmission of a request that carries no date.
    last_request: Message | None = None
    last_key: tuple[str, dt.datetime] | None = None
    last_at: float = field(default=0.0)


@dataclass(frozen=True)
class _PatronView:
    status: str
    name: str
    valid: bool
    password_ok: bool | None
    screen: tuple[str, ...]
    patron: Patron | None


class Responder:
    """Answers decoded SIP2 requests from a `CirculationBackend`."""

    def __init__(
        self,
        library: CirculationBackend,
        *,
        users: Mapping[str, str],
        institution_id: str,
        library_name: str,
        timeout_period_s: float,
        fee_limit_cents: int = FEES_LIMIT_CENTS,
    ) -> None:
        self.library = library
        self.users = dict(users)
        self.institution_id = institution_id
        self.library_name = library_name
        self.timeout_period = max(0, min(999, round(timeout_period_s * 10)))
        self.fee_limit_cents = fee_limit_cents
        # Switches a test or an operator may flip at run time.
        self.circulation_online = True
        self.checked_in_ok = False  # Koha's account option: a checkin of an item not on loan is ok
        self._handlers: dict[type, Callable[[SessionState, Any, dt.datetime], Message]] = {
            LoginRequest: self._login,
            SCStatus: self._sc_status,
            PatronStatusRequest: self._patron_status,
            PatronInformationRequest: self._patron_information,
            CheckoutRequest: self._checkout,
            CheckinRequest: self._checkin,
            RenewRequest: self._renew,
            RenewAllRequest: self._renew_all,
            ItemInformationRequest: self._item_information,
            EndPatronSessionRequest: self._end_session,
            BlockPatron: self._block_patron,
            PatronEnableRequest: self._patron_enable,
            FeePaidRequest: self._not_supported,
            HoldRequest: self._not_supported,
            ItemStatusUpdateRequest: self._not_supported,
        }

    def answer(
        self, state: SessionState, request: Message, received: dt.datetime
    ) -> Message | None:
        """The response to `request`, or None when it is not a request an SC may send."""
        handler = self._handlers.get(type(request))
        if handler is None:
            return None
        if state.user is None and not isinstance(request, LoginRequest | SCStatus):
            return self.refusal(request, (LOGIN_REQUIRED_TEXT,))
        try:
            return handler(state, request, received)
        except BackendUnavailable as exc:
            log.warning("library unavailable for %s: %s", request.name, exc)
            return self.refusal(request, (OFFLINE_TEXT,))

    # ------------------------------------------------------------------ refusals

    def refusal(self, request: Message, screen: tuple[str, ...]) -> Message:
        """The response to `request` that says no, with `screen` in AF."""
        return refusal(request, screen, self.institution_id)

    def _not_supported(self, _state: SessionState, request: Message, _r: dt.datetime) -> Message:
        return self.refusal(request, (f"{NOT_SUPPORTED[type(request)]} is not supported here",))

    # ------------------------------------------------------------------ login and status

    def _login(self, state: SessionState, request: LoginRequest, _r: dt.datetime) -> Message:
        user = request.login_user_id
        expected = self.users.get(user)
        # Only clear-text ids and passwords ("0"; a blank is read the same) are defined.
        plain = request.uid_algorithm in "0 " and request.pwd_algorithm in "0 "
        ok = (
            plain
            and expected is not None
            and hmac.compare_digest(expected.encode(), request.login_password.encode())
        )
        state.user = user if ok else None  # a failed login also ends an earlier one
        state.location = request.location_code or None
        log.info("login of SIP2 user %r %s", user, "accepted" if ok else "refused")
        return LoginResponse(ok=bool(ok))

    def _sc_status(self, state: SessionState, request: SCStatus, _r: dt.datetime) -> Message:
        if request.status_code == 2:
            log.info("SC says it is shutting down")
        online = self.circulation_online
        location = state.location or getattr(self.library, "home_branch", None)
        return ACSStatus(
            online_status=online,
            checkin_ok=online,
            checkout_ok=online,
            acs_renewal_policy=True,
            status_update_ok=False,
            offline_ok=True,  # no-block checkouts and checkins are recorded
            timeout_period=self.timeout_period if online else 0,  # 000 = not online
            retries_allowed=RETRIES_ALLOWED,
            date_time_sync=timestamp(),
            protocol_version="2.00",
            institution_id=self.institution_id,
            library_name=self.library_name,
            supported_messages=supported_messages_string(SUPPORTED_MESSAGES),
            terminal_location=location,
            screen_message=() if online else (OFFLINE_TEXT,),
        )

    # ------------------------------------------------------------------ patrons

    def _patron_view(self, card: str, pin: str | None) -> _PatronView:
        """Who the card belongs to, with SIP2's flags; details withheld for a wrong PIN."""
        result = self.library.identify(card, pin)
        patron = result.patron
        if result.reason is Reason.WRONG_PIN:
            # The card exists (BL Y) but nothing about the patron leaves the server.
            return _PatronView(
                INVALID_PATRON_STATUS, "", True, False, screen_lines(result.reason), None
            )
        if patron is None:
            return _PatronView(
                INVALID_PATRON_STATUS, "", False, None, screen_lines(result.reason), None
            )
        flags: set[str] = set()
        screen: list[str] = []
        if result.reason is Reason.CARD_BLOCKED:
            flags.update(("card_reported_lost", *ALL_DENIED))
        elif result.reason is Reason.CARD_EXPIRED:
            flags.update(ALL_DENIED)
        if result.reason is not Reason.OK:
            screen.append(AF_TEXTS.get(result.reason, AF_TEXTS[Reason.OTHER]))
        if patron.fees_cents >= self.fee_limit_cents:
            flags.update(("excessive_outstanding_fines", *DENIED))
            screen.append(AF_TEXTS[Reason.FEES_OVER_LIMIT])
        if patron.loan_limit and patron.loans_count >= patron.loan_limit:
            flags.add("too_many_items_charged")
        return _PatronView(
            status=patron_status_string(flags),
            name=patron.name,
            valid=True,
            password_ok=None if pin is None else True,
            screen=tuple(screen),
            patron=patron,
        )

    @staticmethod
    def _pin(value: str | None) -> str | None:
        # An empty AD is what many SCs send when they did not ask for a PIN.
        return value if value else None

    def _fees(self, patron: Patron | None) -> tuple[str | None, str | None]:
        """(BH, BV): currency and amount, only when the patron owes something."""
        if patron is None or patron.fees_cents <= 0:
            return None, None
        return patron.currency, money(patron.fees_cents)

    def _patron_status(
        self, _state: SessionState, request: PatronStatusRequest, _r: dt.datetime
    ) -> Message:
        view = self._patron_view(request.patron_identifier, self._pin(request.patron_password))
        currency, amount = self._fees(view.patron)
        return PatronStatusResponse(
            patron_status=view.status,
            language=request.language,
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            personal_name=view.name,
            valid_patron=view.valid,
            valid_patron_password=view.password_ok,
            currency_type=currency,
            fee_amount=amount,
            screen_message=view.screen,
        )

    def _patron_information(
        self, _state: SessionState, request: PatronInformationRequest, _r: dt.datetime
    ) -> Message:
        view = self._patron_view(request.patron_identifier, self._pin(request.patron_password))
        return self._patron_information_response(request, view)

    def _patron_information_response(
        self, request: PatronInformationRequest, view: _PatronView
    ) -> Message:
        lists: dict[str, list[str]] = {}
        patron = view.patron
        if patron is not None:
            summary = self.library.summary(patron.patron_id)
            if summary is not None:
                lists["hold_items"] = [h.item.item_id for h in summary.holds_ready]
                lists["overdue_items"] = [ln.item.item_id for ln in summary.loans if ln.overdue]
                lists["charged_items"] = [ln.item.item_id for ln in summary.loans]
            # Holds not on the shelf yet: only libraries that can list them (the demo).
            waiting = getattr(self.library, "holds_waiting", None)
            if callable(waiting):
                lists["unavailable_holds"] = list(waiting(patron.patron_id))
        category = request.summary_category
        shown = page(lists.get(category or "", []), request.start_item, request.end_item)

        def listed(name: str) -> tuple[str, ...]:
            return shown if name == category else ()

        currency, amount = self._fees(patron)
        return PatronInformationResponse(
            patron_status=view.status,
            language=request.language,
            transaction_date=timestamp(),
            hold_items_count=len(lists.get("hold_items", ())),
            overdue_items_count=len(lists.get("overdue_items", ())),
            charged_items_count=len(lists.get("charged_items", ())),
            fine_items_count=0,
            recall_items_count=0,
            unavailable_holds_count=len(lists.get("unavailable_holds", ())),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            personal_name=view.name,
            charged_items_limit=str(patron.loan_limit) if patron and patron.loan_limit else None,
            valid_patron=view.valid,
            valid_patron_password=view.password_ok,
            currency_type=currency,
            fee_amount=amount,
            fee_limit=money(self.fee_limit_cents) if patron else None,
            hold_items=listed("hold_items"),
            overdue_items=listed("overdue_items"),
            charged_items=listed("charged_items"),
            unavailable_hold_items=listed("unavailable_holds"),
            screen_message=view.screen,
        )

    def _end_session(
        self, _state: SessionState, request: EndPatronSessionRequest, _r: dt.datetime
    ) -> Message:
        return EndPatronSessionResponse(
            end_session=True,
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
        )

    def _block_patron(self, _state: SessionState, request: BlockPatron, _r: dt.datetime) -> Message:
        # The spec answers a block with a patron status; the card is left as it is.
        view = self._patron_view(request.patron_identifier, None)
        return PatronStatusResponse(
            patron_status=view.status,
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            personal_name=view.name,
            valid_patron=view.valid,
            screen_message=(f"{NOT_SUPPORTED[BlockPatron]} is not supported here",),
        )

    def _patron_enable(
        self, _state: SessionState, request: PatronEnableRequest, _r: dt.datetime
    ) -> Message:
        view = self._patron_view(request.patron_identifier, self._pin(request.patron_password))
        return PatronEnableResponse(
            patron_status=view.status,
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            personal_name=view.name,
            valid_patron=view.valid,
            valid_patron_password=view.password_ok,
            screen_message=(f"{NOT_SUPPORTED[PatronEnableRequest]} is not supported here",),
        )

    # ------------------------------------------------------------------ circulation

    def _key(
        self,
        state: SessionState,
        request: Message,
        kind: str,
        patron: str,
        item: str,
        dates: tuple[dt.datetime | None, ...],
        received: dt.datetime,
    ) -> tuple[str, dt.datetime]:
        """(client_id, when) for a circulation request.

        SIP2 carries no idempotency key, and a real server cannot tell a
        retransmission from a new request; neither does this one, except for
        the same bytes again on the same connection moments later (a client
        that repeated itself after a resend request). Everything else is a new
        transaction, so a client that lost an answer must look before it
        sends again, as it must with Koha, Evergreen or COBISS.
        """
        monotonic = time.monotonic()
        if (
            state.last_request == request
            and state.last_key is not None
            and monotonic - state.last_at < REPEAT_WINDOW_S
        ):
            return state.last_key
        when = local_time(next((d for d in dates if d is not None), received))
        client_id = f"sip2:{kind}:{uuid.uuid4().hex}"
        state.last_request, state.last_key, state.last_at = request, (client_id, when), monotonic
        return client_id, when

    def _wrong_pin(self, card: str, pin: str | None) -> bool:
        return pin is not None and self.library.identify(card, pin).reason is Reason.WRONG_PIN

    def _checkout(
        self, state: SessionState, request: CheckoutRequest, received: dt.datetime
    ) -> Message:
        if not self.circulation_online:
            return self.refusal(request, (OFFLINE_TEXT,))
        card, item_id = request.patron_identifier.strip(), request.item_identifier.strip()
        if self._wrong_pin(card, self._pin(request.patron_password)):
            return self.refusal(request, screen_lines(Reason.WRONG_PIN))
        client_id, when = self._key(
            state, request, "checkout", card, item_id, (request.transaction_date,), received
        )
        if request.no_block:
            return self._no_block_checkout(request, card, item_id, client_id, when)
        result = self.library.checkout(card, item_id, client_id=client_id, when=when)
        renewed = False
        if result.reason is Reason.ALREADY_ON_LOAN_TO_YOU and request.sc_renewal_policy:
            # As Koha does: the same patron checking out again renews the loan.
            result = self.library.renew(card, item_id, client_id=client_id + ":renew", when=when)
            renewed = result.ok
        self._log("checkout", card, item_id, result.reason)
        title = result.item.title if result.item else ""
        return CheckoutResponse(
            ok=result.ok,
            renewal_ok=renewed,
            magnetic_media=False,
            desensitize=result.ok,
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier,
            title_identifier=title,
            due_date=due_text(result.due) if result.ok else "",
            media_type=MEDIA_BOOK if result.item else None,
            screen_message=screen_lines(
                result.reason,
                result.server_text,
                ok_text=RENEWED_BY_CHECKOUT_TEXT if renewed else "",
            ),
        )

    def _no_block_checkout(
        self, request: CheckoutRequest, card: str, item_id: str, client_id: str, when: dt.datetime
    ) -> Message:
        """A loan the SC made while it could not reach us: recorded, not judged."""
        if request.nb_due_date is not None:
            due = local_time(request.nb_due_date).date()
        else:  # the SC gave no due date: the library's usual loan period from then
            loan_days = getattr(self.library, "loan_days", DEFAULT_LOAN_DAYS)
            due = when.date() + dt.timedelta(days=loan_days)
        result = self.library.checkout(
            card, item_id, client_id=client_id, when=when, offline_due=due
        )
        self._log("no-block checkout", card, item_id, result.reason)
        if result.ok:
            overridden = tuple(AF_TEXTS[c] for c in result.conflicts if c in AF_TEXTS)
            screen = (NO_BLOCK_TEXT, *overridden, *screen_lines(Reason.OK, result.server_text))
        else:
            screen = screen_lines(result.reason, result.server_text)
        return CheckoutResponse(
            ok=result.ok,
            renewal_ok=False,
            magnetic_media=False,
            desensitize=False,  # the item left long ago: nothing to desensitise
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier,
            title_identifier=result.item.title if result.item else "",
            due_date=due_text(result.due) if result.ok else "",
            media_type=MEDIA_BOOK if result.item else None,
            screen_message=screen,
        )

    def _renew(self, state: SessionState, request: RenewRequest, received: dt.datetime) -> Message:
        if not self.circulation_online:
            return self.refusal(request, (OFFLINE_TEXT,))
        card = request.patron_identifier.strip()
        item_id = (request.item_identifier or "").strip()
        if self._wrong_pin(card, self._pin(request.patron_password)):
            return self.refusal(request, screen_lines(Reason.WRONG_PIN))
        if not item_id:  # renewing by title (AJ only) is not something this library does
            return self.refusal(request, screen_lines(Reason.UNKNOWN_ITEM))
        client_id, when = self._key(
            state, request, "renew", card, item_id, (request.transaction_date,), received
        )
        result = self.library.renew(card, item_id, client_id=client_id, when=when)
        self._log("renew", card, item_id, result.reason)
        return self._renew_response(request, result)

    def _renew_response(self, request: RenewRequest, result: CheckoutResult) -> Message:
        return RenewResponse(
            ok=result.ok,
            renewal_ok=result.ok,
            magnetic_media=False,
            desensitize=False,  # the item stays with the patron: nothing to change
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier or "",
            title_identifier=result.item.title if result.item else "",
            # On refusal the loan's current due date, when there is one: still useful.
            due_date=due_text(result.due),
            media_type=MEDIA_BOOK if result.item else None,
            screen_message=screen_lines(result.reason, result.server_text),
        )

    def _renew_all(
        self, state: SessionState, request: RenewAllRequest, received: dt.datetime
    ) -> Message:
        if not self.circulation_online:
            return self.refusal(request, (OFFLINE_TEXT,))
        card = request.patron_identifier.strip()
        if self._wrong_pin(card, self._pin(request.patron_password)):
            return self.refusal(request, screen_lines(Reason.WRONG_PIN))
        client_id, when = self._key(
            state, request, "renew_all", card, "", (request.transaction_date,), received
        )
        result = self.library.renew_all(card, client_id=client_id, when=when)
        if result.reason is not Reason.OK:
            return self.refusal(request, screen_lines(result.reason, result.server_text))
        renewed = tuple(r.item.item_id for r in result.renewed if r.item)
        refused = tuple(r.item.item_id for r in result.refused if r.item)
        log.info(
            "renew all for %s: %d renewed, %d not renewed", redact(card), len(renewed), len(refused)
        )
        return RenewAllResponse(
            ok=True,
            renewed_count=len(renewed),
            unrenewed_count=len(refused),
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            renewed_items=renewed,
            unrenewed_items=refused,
            screen_message=screen_lines(Reason.OK, result.server_text),
        )

    def _checkin(
        self, state: SessionState, request: CheckinRequest, received: dt.datetime
    ) -> Message:
        if not self.circulation_online:
            return self.refusal(request, (OFFLINE_TEXT,))
        item_id = request.item_identifier.strip()
        # The return date first: a checkin replayed after an outage happened then.
        dates = (request.return_date, request.transaction_date)
        client_id, when = self._key(state, request, "checkin", "", item_id, dates, received)
        # No block: a return taken while the SC could not reach us, recorded at its date.
        result = self.library.checkin(
            item_id, client_id=client_id, when=when, offline=request.no_block
        )
        self._log("checkin", None, item_id, result.reason)
        ok = result.ok or (result.reason is Reason.NOT_ON_LOAN and self.checked_in_ok)
        alert_type = ALERT_TYPES.get(result.destination)
        status = self.library.item_status(item_id) if result.item is not None else None
        return CheckinResponse(
            ok=ok,
            resensitize=result.item is not None,
            magnetic_media=False,
            # Koha: alert when refused or when the item must go somewhere special.
            alert=alert_type is not None or not ok,
            transaction_date=timestamp(),
            institution_id=self.institution_id,
            item_identifier=request.item_identifier,
            permanent_location=status.location if status else "",
            title_identifier=result.item.title if result.item else None,
            sort_bin=SORT_BINS.get(result.destination) if result.item else None,
            media_type=MEDIA_BOOK if result.item else None,
            screen_message=screen_lines(Reason.OK if ok else result.reason, result.server_text),
            # CV (alert type) is a 3M extension the codec keeps among unknown fields.
            unknown=(("CV", alert_type),) if alert_type else (),
        )

    def _item_information(
        self, _state: SessionState, request: ItemInformationRequest, _r: dt.datetime
    ) -> Message:
        status = self.library.item_status(request.item_identifier.strip())
        if status is None:
            return self.refusal(request, screen_lines(Reason.UNKNOWN_ITEM))
        return ItemInformationResponse(
            circulation_status=CIRCULATION_STATUS.get(status.state, 1),
            security_marker=SECURITY_OTHER,
            fee_type=FEE_TYPE_OTHER,
            transaction_date=timestamp(),
            hold_queue_length=str(status.holds_queue),
            due_date=due_text(status.due) if status.due else None,
            item_identifier=request.item_identifier,
            title_identifier=status.item.title,
            owner=self.institution_id,
            media_type=MEDIA_BOOK,
            permanent_location=status.location,
            current_location=status.location,
            screen_message=(status.server_text,) if status.server_text else (),
        )

    @staticmethod
    def _log(kind: str, card: str | None, item_id: str, reason: Reason) -> None:
        who = redact(card) if card else "-"
        log.debug("%s %s item %s: %s", kind, who, item_id, reason.value)
