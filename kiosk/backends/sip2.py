"""The circulation interface over SIP2: the kiosk talking to a real library system.

SIP2 carries no idempotency key, so this backend gets the same effect by
looking before it leaps: a checkout or checkin whose answer was lost, or that
is being replayed after a crash, is first checked against the server's own
view of the item (and the patron's loans) and sent again only if it did not
happen; when the server cannot be asked either, the caller gets a
`BackendUnavailable` saying the item's state is unknown. Refusals become reason
codes from the server's screen message, or, when its words say nothing we know,
from follow-up questions about the item and the patron. Nothing is sent that
the ACS status (fetched before the first write) says the ILS does not allow.

Loans and returns the kiosk made offline are sent with "no block" (a checkout
with the due date the patron was given, a checkin with the real return date).
Servers do not say what a no-block checkout overrode, so this side looks first
(the item's status and holds, the patron's flags) and reports that as the
loan's conflicts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from kiosk.circulation import (
    BackendStatus,
    BackendUnavailable,
    CheckinResult,
    CheckoutResult,
    HoldReady,
    Item,
    ItemState,
    ItemStatus,
    Loan,
    Patron,
    PatronResult,
    PatronSummary,
    Reason,
    RenewAllResult,
)
from kiosk.privacy import redact
from kiosk.sip2 import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    Message,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    Sip2Error,
    parse_sip_date,
)
from kiosk.sip2.client import AnswerLost, Sip2Client, Sip2Unavailable
from kiosk.sip2.reasons import reason_from_flags, reason_from_text

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
T = TypeVar("T")

# SIP2 circulation status (18) → where the item is.
_STATES: dict[int, ItemState] = {
    # "Other" for an item the server knows (it has a title): Evergreen and Koha send 01 for
    # reference-only, damaged or withdrawn copies, and the demo server for not-for-loan ones.
    # An unknown barcode (01 without a title) never gets here: see _unknown_item().
    1: ItemState.NOT_FOR_LOAN,
    3: ItemState.AVAILABLE,
    9: ItemState.AVAILABLE,  # waiting to be re-shelved
    4: ItemState.ON_LOAN,
    5: ItemState.ON_LOAN,
    7: ItemState.ON_LOAN,  # recalled
    8: ItemState.ON_HOLD_SHELF,
    10: ItemState.IN_TRANSIT,
    2: ItemState.NOT_FOR_LOAN,  # on order
    6: ItemState.NOT_FOR_LOAN,  # in process
    11: ItemState.NOT_FOR_LOAN,  # claimed returned
    12: ItemState.NOT_FOR_LOAN,  # lost
    13: ItemState.NOT_FOR_LOAN,  # missing
}
# What an offline (no-block) loan may have overridden, in the order results list them.
_CONFLICT_ORDER: tuple[Reason, ...] = (
    Reason.ON_LOAN_TO_OTHER,
    Reason.RESERVED_FOR_OTHER,
    Reason.REFERENCE_ONLY,
    Reason.CARD_BLOCKED,
    Reason.CARD_EXPIRED,
    Reason.FEES_OVER_LIMIT,
    Reason.LOAN_LIMIT,
)
_CARD_CONFLICTS = frozenset(
    {Reason.CARD_BLOCKED, Reason.CARD_EXPIRED, Reason.FEES_OVER_LIMIT, Reason.LOAN_LIMIT}
)
# Checkin alert types (CV, an extension most servers send) → where the item goes.
_ALERT_DESTINATIONS = {"01": "holds_shelf", "02": "holds_shelf", "04": "other_branch"}
PAGE_SIZE = 50
# Refused renewals for which the patron has no loan of the item (so no due date to show).
_NOT_THEIR_LOAN = frozenset(
    {
        Reason.UNKNOWN_ITEM,
        Reason.UNKNOWN_PATRON,
        Reason.NOT_ON_LOAN,
        Reason.ON_LOAN_TO_OTHER,
        Reason.BACKEND_UNAVAILABLE,
        Reason.OTHER,
    }
)


class Sip2Backend:
    """Implements `kiosk.circulation.CirculationBackend` over one `Sip2Client`."""

    def __init__(
        self,
        client: Sip2Client,
        *,
        institution_id: str = "",
        location_code: str = "",
        terminal_password: str = "",
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.institution_id = institution_id
        self.location_code = location_code
        self.terminal_password = terminal_password
        self._on_close = on_close

    # --- talking -------------------------------------------------------------------
    def _ask(self, message: Message, answer: type[M]) -> M:
        """One request; a link problem becomes BackendUnavailable with a plain reason."""
        try:
            self.client.maybe_refresh_status()
            reply = self.client.request(message)
        except (Sip2Unavailable, Sip2Error) as exc:
            raise BackendUnavailable(f"library system (SIP2): {exc}") from exc
        if not isinstance(reply, answer):
            raise BackendUnavailable(
                f"library system (SIP2) answered {reply.code} to a {message.code} request"
            )
        return reply

    def _allowed(self, operation: str) -> str | None:
        """Why the ACS status forbids `operation` ("checkout", "checkin", "renew"), or None.

        The status is fetched first when the kiosk has none yet (or it is due), so the
        very first checkout of a fresh kiosk also respects an ILS that says "offline".
        """
        try:
            self.client.maybe_refresh_status()
        except (Sip2Unavailable, Sip2Error) as exc:
            raise BackendUnavailable(f"library system (SIP2): {exc}") from exc
        acs = self.client.acs_status
        if acs is None:
            return None
        if not acs.online_status:
            return "the library system says it is offline (ACS status)"
        allowed = acs.checkin_ok if operation == "checkin" else acs.checkout_ok
        if not allowed:
            what = {"checkin": "returns", "renew": "renewals"}.get(operation, "checkouts")
            return f"the library system does not allow {what} now (ACS status)"
        return None

    @staticmethod
    def _now() -> dt.datetime:
        return dt.datetime.now()  # SIP2 dates are the library's local time

    # --- patrons -------------------------------------------------------------------
    def _patron_info(
        self, card: str, pin: str | None = None, category: str | None = None, start: int = 0
    ) -> PatronInformationResponse:
        request = PatronInformationRequest(
            transaction_date=self._now(),
            summary=PatronInformationRequest.summary_for(category),
            institution_id=self.institution_id,
            patron_identifier=card,
            terminal_password=self.terminal_password or None,
            patron_password=pin,
            start_item=str(start + 1) if category else None,
            end_item=str(start + PAGE_SIZE) if category else None,
        )
        return self._ask(request, PatronInformationResponse)

    def identify(self, card: str, pin: str | None = None) -> PatronResult:
        info = self._patron_info(card, pin)
        text = " ".join(info.screen_message)
        if info.valid_patron is False or (info.valid_patron is None and not info.personal_name):
            return PatronResult(Reason.UNKNOWN_PATRON, server_text=text)
        if pin is not None and info.valid_patron_password is False:
            return PatronResult(Reason.WRONG_PIN, server_text=text)
        if pin is not None and info.valid_patron_password is None:
            # No CQ: the server did not say the PIN is right. Letting the patron in anyway
            # would make the PIN worthless; the technician finds the reason in the log.
            log.warning("the SIP2 server did not confirm the PIN (no CQ field); refusing")
            return PatronResult(
                Reason.OTHER, server_text="the library system did not confirm the PIN (no CQ)"
            )
        patron = Patron(
            patron_id=info.patron_identifier or card,
            name=info.personal_name,
            loans_count=info.charged_items_count or 0,
            loan_limit=_int(info.charged_items_limit),
            fees_cents=_cents(info.fee_amount),
            currency=info.currency_type or "EUR",
        )
        flags = info.status_flags
        named = reason_from_text(info.screen_message)
        if named is Reason.CARD_EXPIRED:
            return PatronResult(Reason.CARD_EXPIRED, patron, text)
        fees_only = bool({"excessive_outstanding_fines", "excessive_outstanding_fees"} & flags)
        if "card_reported_lost" in flags or ("charge_privileges_denied" in flags and not fees_only):
            return PatronResult(named or Reason.CARD_BLOCKED, patron, text)
        # Fees over the limit do not stop identification: returns and the account still work.
        return PatronResult(Reason.OK, patron, text)

    def summary(self, patron_id: str) -> PatronSummary | None:
        first = self._patron_info(patron_id)
        if first.valid_patron is False or not first.personal_name:
            return None
        charged = self._item_list(patron_id, "charged_items", lambda r: r.charged_items)
        overdue = set(self._item_list(patron_id, "overdue_items", lambda r: r.overdue_items))
        ready = self._item_list(patron_id, "hold_items", lambda r: r.hold_items)
        loans, holds = [], []
        for item_id in charged:
            status = self.item_status(item_id)
            due = status.due if status and status.due else None
            item = status.item if status else Item(item_id, "")
            if due is not None:
                loans.append(Loan(item, due, overdue=item_id in overdue))
        for item_id in ready:
            reply = self._item_info(item_id)
            holds.append(
                HoldReady(
                    Item(item_id, reply.title_identifier),
                    pickup_location=reply.current_location or reply.permanent_location or "",
                    until=_date(reply.hold_pickup_date),
                )
            )
        return PatronSummary(
            patron=Patron(
                patron_id=first.patron_identifier or patron_id,
                name=first.personal_name,
                loans_count=first.charged_items_count or len(charged),
                loan_limit=_int(first.charged_items_limit),
                fees_cents=_cents(first.fee_amount),
                currency=first.currency_type or "EUR",
            ),
            loans=tuple(sorted(loans, key=lambda loan: loan.due)),
            holds_ready=tuple(holds),
            fees_cents=_cents(first.fee_amount),
            currency=first.currency_type or "EUR",
            server_text=" ".join(first.screen_message),
        )

    def _item_list(
        self,
        patron_id: str,
        category: str,
        pick: Callable[[PatronInformationResponse], tuple[str, ...]],
    ) -> list[str]:
        """Every item of one summary category, page by page (BP/BQ)."""
        items: list[str] = []
        while True:
            page = pick(self._patron_info(patron_id, category=category, start=len(items)))
            new = [i for i in page if i not in items]
            items += new
            if len(page) < PAGE_SIZE or not new:
                return items

    def _charged_to(self, patron_id: str, item_id: str) -> bool:
        return item_id in self._item_list(patron_id, "charged_items", lambda r: r.charged_items)

    # --- items ---------------------------------------------------------------------
    def _item_info(self, item_id: str) -> ItemInformationResponse:
        request = ItemInformationRequest(
            transaction_date=self._now(),
            institution_id=self.institution_id,
            item_identifier=item_id,
            terminal_password=self.terminal_password or None,
        )
        return self._ask(request, ItemInformationResponse)

    def item_info(self, item_id: str) -> Item | None:
        status = self.item_status(item_id)
        return status.item if status else None

    def item_status(self, item_id: str) -> ItemStatus | None:
        reply = self._item_info(item_id)
        if _unknown_item(reply):
            return None
        return ItemStatus(
            item=Item(item_id, reply.title_identifier),
            state=_STATES.get(reply.circulation_status, ItemState.OTHER),
            due=_date(reply.due_date),
            holds_queue=_int(reply.hold_queue_length),
            location=reply.permanent_location or reply.current_location or "",
            server_text=" ".join(reply.screen_message),
        )

    # --- circulation ---------------------------------------------------------------
    def checkout(
        self,
        patron_id: str,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
        offline_due: dt.date | None = None,
    ) -> CheckoutResult:
        if offline_due is not None:
            return self._offline_checkout(patron_id, item_id, client_id, when, resumed, offline_due)
        refused = self._allowed("checkout")
        what = f"the checkout of item {item_id}"
        if resumed:
            # Looked up even when the ILS refuses checkouts now: one that happened before
            # the stop is a loan, and must not be recorded as refused.
            done = self._looked_up(what, lambda: self._lent_already(patron_id, item_id))
            if done is not None:
                return done
        if refused is not None:
            return CheckoutResult(Reason.BACKEND_UNAVAILABLE, server_text=refused)
        request = CheckoutRequest(
            sc_renewal_policy=False,  # an item already lent to this patron is refused, not renewed
            transaction_date=_local(when),
            institution_id=self.institution_id,
            patron_identifier=patron_id,
            item_identifier=item_id,
            terminal_password=self.terminal_password,
        )
        reply = self._send_checkout(request, client_id, what)
        if isinstance(reply, CheckoutResult):
            return reply
        return self._checkout_result(reply, patron_id, item_id)

    def _send_checkout(
        self, request: CheckoutRequest, client_id: str, what: str
    ) -> CheckoutResponse | CheckoutResult:
        """The server's answer, or the loan found by looking after the answer was lost."""
        patron_id, item_id = request.patron_identifier, request.item_identifier
        try:
            reply = self.client.request(request)
        except AnswerLost:
            log.warning("checkout %s: answer lost; asking the server what happened", client_id)
            done = self._looked_up(what, lambda: self._lent_already(patron_id, item_id))
            if done is not None:
                return done
            reply = self._resend(request)
        except (Sip2Unavailable, Sip2Error) as exc:
            raise BackendUnavailable(f"library system (SIP2): {exc}") from exc
        if not isinstance(reply, CheckoutResponse):
            raise BackendUnavailable(f"library system (SIP2) answered {reply.code} to a checkout")
        return reply

    def _offline_checkout(
        self,
        patron_id: str,
        item_id: str,
        client_id: str,
        when: dt.datetime,
        resumed: bool,
        due: dt.date,
    ) -> CheckoutResult:
        """Record a loan made at the kiosk offline: checkout with no block and the due date
        the patron was given. Refused only when the server cannot record it at all."""
        refused = self._allowed("checkout")
        if refused is not None and not resumed:
            return CheckoutResult(Reason.BACKEND_UNAVAILABLE, server_text=refused)
        what = f"the offline checkout of item {item_id}"

        def look(step: Callable[[], T]) -> T:
            # After a stop mid-send a failed look-up leaves the loan's state unknown.
            return self._looked_up(what, step) if resumed else step()

        status = look(lambda: self.item_status(item_id))
        on_loan = status is not None and status.state is ItemState.ON_LOAN
        if on_loan and look(lambda: self._charged_to(patron_id, item_id)):
            # The library already has this loan (sent before a stop, or lent online).
            assert status is not None
            conflicts = self._offline_conflicts(patron_id, item_id, status, lent=True)
            text = "already on loan to this patron (item status)"
            return CheckoutResult(Reason.OK, status.item, status.due, text, conflicts)
        if refused is not None:  # the ILS takes no checkouts now: keep it for later
            return CheckoutResult(Reason.BACKEND_UNAVAILABLE, server_text=refused)
        conflicts = self._offline_conflicts(patron_id, item_id, status, lent=False)
        request = CheckoutRequest(
            sc_renewal_policy=False,
            no_block=True,
            transaction_date=_local(when),  # when it happened at the kiosk
            nb_due_date=dt.datetime.combine(due, dt.time(23, 59, 59)),
            institution_id=self.institution_id,
            patron_identifier=patron_id,
            item_identifier=item_id,
            terminal_password=self.terminal_password,
        )
        reply = self._send_checkout(request, client_id, what)
        if isinstance(reply, CheckoutResult):
            return dataclasses.replace(reply, conflicts=conflicts)
        if not reply.ok:
            return self._checkout_result(reply, patron_id, item_id)
        # A server that names what it overrode adds to what the look-ups found.
        said = {r for r in _named_each(reply.screen_message) if r in _CONFLICT_ORDER}
        item = Item(item_id, reply.title_identifier) if reply.title_identifier else None
        if item is None and status is not None:
            item = status.item
        return CheckoutResult(
            Reason.OK,
            item,
            _date(reply.due_date) or due,
            " ".join(reply.screen_message),
            _in_order(set(conflicts) | said),
        )

    def _offline_conflicts(
        self, patron_id: str, item_id: str, status: ItemStatus | None, *, lent: bool
    ) -> tuple[Reason, ...]:
        """What an online checkout would have been refused for, from the item and the
        patron as the server shows them; `lent`: the loan is already recorded."""
        found: set[Reason] = set()
        if status is not None:
            if status.state is ItemState.ON_LOAN and not lent:
                found.add(Reason.ON_LOAN_TO_OTHER)
            elif status.state is ItemState.NOT_FOR_LOAN:
                found.add(Reason.REFERENCE_ONLY)
            waiting = status.state is ItemState.ON_HOLD_SHELF or status.holds_queue > 0
            if waiting and not self._holds_for(patron_id, item_id):
                found.add(Reason.RESERVED_FOR_OTHER)
        flags = self._patron_flags(patron_id)
        if flags.valid_patron is not False:
            found |= _card_conflicts(flags)
        if lent:  # the patron's count includes this very loan
            found.discard(Reason.LOAN_LIMIT)
        return _in_order(found)

    def _holds_for(self, patron_id: str, item_id: str) -> bool:
        """Whether the patron has a hold on the item (ready on the shelf, or waiting)."""
        if item_id in self._item_list(patron_id, "hold_items", lambda r: r.hold_items):
            return True
        waiting = self._item_list(
            patron_id, "unavailable_holds", lambda r: r.unavailable_hold_items
        )
        return item_id in waiting

    def _lent_already(self, patron_id: str, item_id: str) -> CheckoutResult | None:
        """A success if the server shows the item lent to this patron (a lost answer)."""
        status = self.item_status(item_id)
        if status is None or status.state is not ItemState.ON_LOAN:
            return None
        if not self._charged_to(patron_id, item_id):
            return None
        log.info(
            "item %s is already on loan to %s: the checkout had happened",
            item_id,
            redact(patron_id),
        )
        return CheckoutResult(Reason.OK, status.item, status.due, "confirmed by item status")

    def _looked_up(self, what: str, look: Callable[[], T]) -> T:
        """Run a look-up that decides whether a write had happened. When the server cannot
        say, neither can the kiosk: a plain BackendUnavailable naming the unknown state."""
        try:
            return look()
        except BackendUnavailable as exc:
            cause = str(exc).removeprefix("library system (SIP2): ")
            raise BackendUnavailable(
                f"library system (SIP2): {what} may or may not have been done and the item"
                f" could not be looked up ({cause}); the item's state is unknown"
            ) from exc

    def _resend(self, request: Message) -> Message:
        """Send a write again after making sure it had not happened; never a third time."""
        try:
            return self.client.request(request)
        except Sip2Unavailable as exc:
            raise BackendUnavailable(
                f"library system (SIP2): no answer twice ({exc}); the item's state is unknown"
            ) from exc

    def _checkout_result(
        self, reply: CheckoutResponse | RenewResponse, patron_id: str, item_id: str
    ) -> CheckoutResult:
        # No title (refusals often leave AJ empty): no item, so the kiosk keeps the title
        # it looked up instead of showing a blank one.
        item = Item(item_id, reply.title_identifier) if reply.title_identifier else None
        text = " ".join(reply.screen_message)
        due = _date(reply.due_date)
        if reply.ok:
            return CheckoutResult(Reason.OK, item, due, text)
        # Asked at most once per answer, by whichever step below needs it first.
        status = functools.cache(lambda: self.item_status(item_id))
        if isinstance(reply, RenewResponse):
            reason = self._renewal_refusal(reply.screen_message, patron_id, item_id, status)
            their_loan = reason not in _NOT_THEIR_LOAN
        else:
            reason = self._refusal(reply.screen_message, patron_id, item_id, status)
            their_loan = reason is Reason.ALREADY_ON_LOAN_TO_YOU
        if due is None and their_loan:
            # Refusals often carry no due date (AH empty), yet the patron's loan has one.
            known = status()
            due = known.due if known and known.state is ItemState.ON_LOAN else None
        return CheckoutResult(reason, item, due, text)

    def _refusal(
        self,
        screen: tuple[str, ...],
        patron_id: str,
        item_id: str,
        item_status: Callable[[], ItemStatus | None],
    ) -> Reason:
        """Why the server said no: its words first, then what the item and patron show."""
        named = reason_from_text(screen)
        if named is not None and named is not Reason.CARD_BLOCKED:
            return named
        status = item_status()
        if status is None:
            return Reason.UNKNOWN_ITEM
        if status.state is ItemState.ON_LOAN:
            mine = self._charged_to(patron_id, item_id)
            return Reason.ALREADY_ON_LOAN_TO_YOU if mine else Reason.ON_LOAN_TO_OTHER
        if status.state is ItemState.ON_HOLD_SHELF or status.holds_queue:
            return Reason.RESERVED_FOR_OTHER
        if status.state is ItemState.NOT_FOR_LOAN:
            return Reason.REFERENCE_ONLY
        flags = self._patron_flags(patron_id)
        if flags.valid_patron is False:
            return Reason.UNKNOWN_PATRON
        return reason_from_flags(flags.status_flags) or named or Reason.OTHER

    def _renewal_refusal(
        self,
        screen: tuple[str, ...],
        patron_id: str,
        item_id: str,
        item_status: Callable[[], ItemStatus | None],
    ) -> Reason:
        """Why a renewal was refused: its words, else the loan, the queue and the patron."""
        named = reason_from_text(screen)
        if named is not None and named is not Reason.CARD_BLOCKED:
            return named
        status = item_status()
        if status is None:
            return Reason.UNKNOWN_ITEM
        if status.state is not ItemState.ON_LOAN:
            return Reason.NOT_ON_LOAN
        if not self._charged_to(patron_id, item_id):
            return Reason.ON_LOAN_TO_OTHER
        if status.holds_queue:
            return Reason.RESERVED_FOR_OTHER
        flags = self._patron_flags(patron_id)
        if flags.valid_patron is False:
            return Reason.UNKNOWN_PATRON
        if "too_many_renewals" in flags.status_flags:
            return Reason.RENEWAL_LIMIT
        return reason_from_flags(flags.status_flags) or named or Reason.OTHER

    def _patron_flags(self, patron_id: str) -> PatronStatusResponse:
        return self._ask(
            PatronStatusRequest(
                transaction_date=self._now(),
                institution_id=self.institution_id,
                patron_identifier=patron_id,
                terminal_password=self.terminal_password,
                patron_password="",
            ),
            PatronStatusResponse,
        )

    def checkin(
        self,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
        offline: bool = False,
    ) -> CheckinResult:
        refused = self._allowed("checkin")
        what = f"the return of item {item_id}"
        if resumed:  # looked up first, as for a checkout
            done = self._looked_up(what, lambda: self._returned_already(item_id))
            if done is not None:
                return done
        if refused is not None:
            return CheckinResult(Reason.BACKEND_UNAVAILABLE, server_text=refused)
        request = CheckinRequest(
            no_block=offline,  # a return taken offline is recorded, whatever the account
            transaction_date=self._now(),
            return_date=_local(when),
            current_location=self.location_code,
            institution_id=self.institution_id,
            item_identifier=item_id,
            terminal_password=self.terminal_password,
        )
        try:
            reply = self.client.request(request)
        except AnswerLost:
            log.warning("checkin %s: answer lost; asking the server what happened", client_id)
            done = self._looked_up(what, lambda: self._returned_already(item_id))
            if done is not None:
                return done
            reply = self._resend(request)
        except (Sip2Unavailable, Sip2Error) as exc:
            raise BackendUnavailable(f"library system (SIP2): {exc}") from exc
        if not isinstance(reply, CheckinResponse):
            raise BackendUnavailable(f"library system (SIP2) answered {reply.code} to a checkin")
        return self._checkin_result(reply, item_id)

    def _returned_already(self, item_id: str) -> CheckinResult | None:
        status = self.item_status(item_id)
        if status is None or status.state is ItemState.ON_LOAN:
            return None
        destination = {
            ItemState.ON_HOLD_SHELF: "holds_shelf",
            ItemState.IN_TRANSIT: "other_branch",
        }.get(status.state, "shelf")
        return CheckinResult(Reason.OK, status.item, destination, "confirmed by item status")

    def _checkin_result(self, reply: CheckinResponse, item_id: str) -> CheckinResult:
        item = Item(item_id, reply.title_identifier) if reply.title_identifier else None
        text = " ".join(reply.screen_message)
        named = reason_from_text(reply.screen_message)
        routed = _ALERT_DESTINATIONS.get(dict(reply.unknown).get("CV", ""))
        # "Not checked out" is still a library item back home: shelve it (or route it).
        if named is Reason.NOT_ON_LOAN:
            return CheckinResult(Reason.NOT_ON_LOAN, item, routed or "shelf", text)
        if not reply.ok:
            # "Circulation is offline": not done, so the kiosk keeps it and sends it later.
            kept = (Reason.UNKNOWN_ITEM, Reason.BACKEND_UNAVAILABLE)
            reason = named if named in kept else Reason.OTHER
            return CheckinResult(reason, item, "staff", text)
        destination = routed or ("staff" if reply.alert else "shelf")
        return CheckinResult(Reason.OK, item, destination, text)

    def renew(
        self,
        patron_id: str,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
    ) -> CheckoutResult:
        refused = self._allowed("renew")
        if refused is not None:
            return CheckoutResult(Reason.BACKEND_UNAVAILABLE, server_text=refused)
        request = RenewRequest(
            third_party_allowed=False,
            transaction_date=_local(when),
            institution_id=self.institution_id,
            patron_identifier=patron_id,
            item_identifier=item_id,
            terminal_password=self.terminal_password or None,
        )
        try:
            reply = self._ask(request, RenewResponse)
        except BackendUnavailable as exc:
            # A renewal done twice only moves the due date once more; still, never guess.
            log.warning("renew %s: %s", client_id, exc)
            raise
        return self._checkout_result(reply, patron_id, item_id)

    def renew_all(self, patron_id: str, *, client_id: str, when: dt.datetime) -> RenewAllResult:
        request = RenewAllRequest(
            transaction_date=_local(when),
            institution_id=self.institution_id,
            patron_identifier=patron_id,
            terminal_password=self.terminal_password or None,
        )
        reply = self._ask(request, RenewAllResponse)
        text = " ".join(reply.screen_message)
        if not reply.ok and not reply.renewed_items and not reply.unrenewed_items:
            named = reason_from_text(reply.screen_message) or Reason.OTHER
            return RenewAllResult(named, server_text=text)
        results = []
        for item_id in reply.renewed_items:
            status = self.item_status(item_id)
            item = status.item if status else Item(item_id, "")
            results.append(CheckoutResult(Reason.OK, item, status.due if status else None))
        for item_id in reply.unrenewed_items:
            status = self.item_status(item_id)
            item = status.item if status else Item(item_id, "")
            reason = (
                Reason.RESERVED_FOR_OTHER
                if status and status.holds_queue
                else (Reason.RENEWAL_LIMIT)
            )
            results.append(CheckoutResult(reason, item, status.due if status else None))
        return RenewAllResult(Reason.OK, tuple(results), text)

    def blocked_cards(self) -> tuple[str, ...] | None:
        """SIP2 has no message listing blocked cards."""
        return None

    # --- health --------------------------------------------------------------------
    def status(self) -> BackendStatus:
        try:
            acs = self.client.refresh_status()
        except Sip2Unavailable as exc:
            return BackendStatus(online=False, detail=f"SIP2: {exc}")
        detail = (
            f"SIP2 {acs.library_name or acs.institution_id}: "
            f"{'online' if acs.online_status else 'OFFLINE'}, "
            f"checkout {'allowed' if acs.checkout_ok else 'NOT allowed'}, "
            f"checkin {'allowed' if acs.checkin_ok else 'NOT allowed'}"
        )
        return BackendStatus(
            online=acs.online_status and acs.checkout_ok and acs.checkin_ok,
            detail=detail,
            latency_ms=self.client.last_round_trip_ms,
            extra={name: "yes" if ok else "no" for name, ok in acs.supported.items()},
        )

    def close(self) -> None:
        self.client.close()
        if self._on_close is not None:
            self._on_close()


def _unknown_item(reply: ItemInformationResponse) -> bool:
    # Servers answer an unknown barcode with status 01 ("other") and no title, or say so.
    if reason_from_text(reply.screen_message) is Reason.UNKNOWN_ITEM:
        return True
    return reply.circulation_status in (0, 1) and not reply.title_identifier


def _named_each(lines: Iterable[str]) -> set[Reason]:
    """The reasons screen message lines name, each line read on its own."""
    return {r for r in (reason_from_text([line]) for line in lines) if r is not None}


def _card_conflicts(reply: PatronStatusResponse) -> set[Reason]:
    """Why the patron may not borrow now, from the status flags and the screen message."""
    flags = reply.status_flags
    found = _named_each(reply.screen_message) & _CARD_CONFLICTS
    if {"card_reported_lost", "too_many_items_overdue"} & flags:
        found.add(Reason.CARD_BLOCKED)
    if {"excessive_outstanding_fines", "excessive_outstanding_fees"} & flags:
        found.add(Reason.FEES_OVER_LIMIT)
    if "too_many_items_charged" in flags:
        found.add(Reason.LOAN_LIMIT)
    if "charge_privileges_denied" in flags and not found:
        found.add(Reason.CARD_BLOCKED)  # denied, and nothing says why
    return found


def _in_order(conflicts: set[Reason]) -> tuple[Reason, ...]:
    return tuple(c for c in _CONFLICT_ORDER if c in conflicts)


def _local(when: dt.datetime) -> dt.datetime:
    """SIP2 dates are the library's local time (ZZZZ blank)."""
    if when.tzinfo is None:
        return when
    return when.astimezone().replace(tzinfo=None)


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    parsed = parse_sip_date(text)
    return parsed.date() if parsed else None


def _int(text: str | None) -> int:
    try:
        return int((text or "").strip() or 0)
    except ValueError:
        return 0


def _cents(amount: str | None) -> int:
    """SIP2 money is free text ("12.50", "12,50", "-3.00"); fees are what is owed."""
    if not amount:
        return 0
    try:
        value = Decimal(amount.strip().replace(",", "."))
    except InvalidOperation:
        return 0
    return int(abs(value) * 100)
