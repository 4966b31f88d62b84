"""The demo SIP2 server's fixed texts and codes, and its well-formed refusals.

`AF_TEXTS` is the table the SIP2 backend relies on to map screen messages back to
reasons; `refusal()` builds, for any request, the response that says no (ok=0,
invalid patron, ...) with a given screen message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from kiosk.circulation import ItemState, Reason
from kiosk.sip2.fields import format_sip_date, patron_status_string
from kiosk.sip2.messages import (
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndPatronSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
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
)

# Screen message (AF) for each refusal, in the English real servers use (Koha's wording
# where Koha has one). The SIP2 backend maps these texts (and other servers') back to
# reasons, so change them only together with its table.
AF_TEXTS: dict[Reason, str] = {
    Reason.UNKNOWN_PATRON: "Invalid patron",
    Reason.WRONG_PIN: "Invalid password",
    Reason.CARD_BLOCKED: "Patron's card is blocked",
    Reason.CARD_EXPIRED: "Patron's card has expired",
    Reason.FEES_OVER_LIMIT: "Patron has fines over the limit",
    Reason.UNKNOWN_ITEM: "Item not found",
    Reason.LOAN_LIMIT: "Patron has reached the maximum number of checkouts",
    # Used for checkouts (the item waits for someone else) and renewals (someone waits).
    Reason.RESERVED_FOR_OTHER: "Item is on hold for another patron",
    Reason.REFERENCE_ONLY: "Item is not for loan",
    Reason.ALREADY_ON_LOAN_TO_YOU: "Item already checked out to you",
    Reason.ON_LOAN_TO_OTHER: "Item checked out to another patron",
    Reason.NOT_ON_LOAN: "Item not checked out",
    Reason.RENEWAL_LIMIT: "Renewal limit reached",
    Reason.BACKEND_UNAVAILABLE: "Circulation is offline",
    Reason.OTHER: "Request could not be completed, please ask the staff",
}
LOGIN_REQUIRED_TEXT = "Please log in first"
OFFLINE_TEXT = AF_TEXTS[Reason.BACKEND_UNAVAILABLE]
RENEWED_BY_CHECKOUT_TEXT = "Item already checked out to you: renewing item"
# First AF line of a no-block checkout that was recorded; one line per overridden rule
# (its AF_TEXTS entry) follows. Names no reason, so it maps to none.
NO_BLOCK_TEXT = "Loan recorded as made (no block)"
# A no-block checkout without an nb due date gets this loan period (the demo's).
DEFAULT_LOAN_DAYS = 21

# What this server implements; BX in the ACS status says exactly this.
SUPPORTED_MESSAGES = (
    "patron_status",
    "checkout",
    "checkin",
    "status",
    "resend",
    "login",
    "patron_information",
    "end_patron_session",
    "item_information",
    "renew",
    "renew_all",
)
# Answered with a well-formed refusal; listed N in BX.
NOT_SUPPORTED = {
    BlockPatron: "Blocking a patron",
    FeePaidRequest: "Fee payment",
    HoldRequest: "Placing holds",
    PatronEnableRequest: "Enabling a patron",
    ItemStatusUpdateRequest: "Item status update",
}

# Checkin routing: sort bin (CL) and 3M alert type (CV) per CheckinResult.destination.
SORT_BINS = {"shelf": "1", "holds_shelf": "2", "other_branch": "3", "staff": "4"}
ALERT_TYPES = {"holds_shelf": "01", "other_branch": "04", "staff": "99"}
# SIP2 circulation status (item information response) per item state.
CIRCULATION_STATUS = {
    ItemState.AVAILABLE: 3,
    ItemState.ON_LOAN: 4,
    ItemState.ON_HOLD_SHELF: 8,
    ItemState.IN_TRANSIT: 10,
    ItemState.NOT_FOR_LOAN: 1,
    ItemState.OTHER: 1,
}
MEDIA_BOOK = "001"
SECURITY_OTHER = "00"  # RFID (AFI/EAS): "other" in SIP2's list of security markers
FEE_TYPE_OTHER = "01"
RETRIES_ALLOWED = 3
# A request identical to the previous one on the same connection within this time is a
# retransmission (a client repeating itself after a resend request), not a new one.
REPEAT_WINDOW_S = 10.0

DENIED = ("charge_privileges_denied", "renewal_privileges_denied")
ALL_DENIED = (*DENIED, "recall_privileges_denied", "hold_privileges_denied")
INVALID_PATRON_STATUS = patron_status_string(ALL_DENIED)


def timestamp() -> dt.datetime:
    """Now, local time, to the second: the transaction date of answers."""
    return dt.datetime.now().replace(microsecond=0)


def due_text(due: dt.date | None) -> str:
    """A due date as SIP2 sends it: the end of that day, local time."""
    if due is None:
        return ""
    return format_sip_date(dt.datetime.combine(due, dt.time(23, 59, 59)))


def money(cents: int) -> str:
    """An amount as SIP2 fee fields carry it: "12.50"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def local_time(value: dt.datetime) -> dt.datetime:
    """Local wall-clock time without tzinfo, as the library records times."""
    return value.astimezone().replace(tzinfo=None) if value.tzinfo else value


def page(items: Sequence[str], start: str | None, end: str | None) -> tuple[str, ...]:
    """Items start..end (1-based, inclusive, as BP/BQ say); blank or bad values mean the ends."""

    def number(text: str | None, default: int) -> int:
        text = (text or "").strip()
        return int(text) if text.isdigit() else default

    first = max(number(start, 1), 1)
    last = number(end, len(items))
    return tuple(items[first - 1 : last])


def screen_lines(reason: Reason, detail: str = "", *, ok_text: str = "") -> tuple[str, ...]:
    """AF lines: the table text for a refusal, then the library's own detail if any."""
    lines = [ok_text] if reason is Reason.OK else [AF_TEXTS.get(reason, AF_TEXTS[Reason.OTHER])]
    if detail and detail not in lines:
        lines.append(detail)
    return tuple(line for line in lines if line)


def refusal(request: Message, screen: tuple[str, ...], institution_id: str) -> Message:
    """The response to `request` that says no (ok=0, invalid patron...) with `screen` in AF."""
    stamp, inst = timestamp(), institution_id
    match request:
        case CheckoutRequest():
            return CheckoutResponse(
                ok=False,
                renewal_ok=False,
                magnetic_media=False,
                desensitize=False,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                item_identifier=request.item_identifier,
                title_identifier="",
                due_date="",
                screen_message=screen,
            )
        case CheckinRequest():
            return CheckinResponse(
                ok=False,
                resensitize=False,
                magnetic_media=False,
                alert=False,
                transaction_date=stamp,
                institution_id=inst,
                item_identifier=request.item_identifier,
                permanent_location="",
                screen_message=screen,
            )
        case RenewRequest():
            return RenewResponse(
                ok=False,
                renewal_ok=False,
                magnetic_media=False,
                desensitize=False,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                item_identifier=request.item_identifier or "",
                title_identifier="",
                due_date="",
                screen_message=screen,
            )
        case RenewAllRequest():
            return RenewAllResponse(
                ok=False,
                renewed_count=0,
                unrenewed_count=0,
                transaction_date=stamp,
                institution_id=inst,
                screen_message=screen,
            )
        case PatronStatusRequest() | BlockPatron():
            language = getattr(request, "language", "000")
            return PatronStatusResponse(
                patron_status=INVALID_PATRON_STATUS,
                language=language,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                personal_name="",
                valid_patron=False,
                screen_message=screen,
            )
        case PatronInformationRequest():
            return PatronInformationResponse(
                patron_status=INVALID_PATRON_STATUS,
                language=request.language,
                transaction_date=stamp,
                hold_items_count=0,
                overdue_items_count=0,
                charged_items_count=0,
                fine_items_count=0,
                recall_items_count=0,
                unavailable_holds_count=0,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                personal_name="",
                valid_patron=False,
                screen_message=screen,
            )
        case PatronEnableRequest():
            return PatronEnableResponse(
                patron_status=INVALID_PATRON_STATUS,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                personal_name="",
                valid_patron=False,
                screen_message=screen,
            )
        case ItemInformationRequest():
            return ItemInformationResponse(
                circulation_status=CIRCULATION_STATUS[ItemState.OTHER],
                security_marker=SECURITY_OTHER,
                fee_type=FEE_TYPE_OTHER,
                transaction_date=stamp,
                item_identifier=request.item_identifier,
                title_identifier="",
                screen_message=screen,
            )
        case ItemStatusUpdateRequest():
            return ItemStatusUpdateResponse(
                item_properties_ok=False,
                transaction_date=stamp,
                item_identifier=request.item_identifier,
                screen_message=screen,
            )
        case EndPatronSessionRequest():
            return EndPatronSessionResponse(
                end_session=False,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                screen_message=screen,
            )
        case FeePaidRequest():
            return FeePaidResponse(
                payment_accepted=False,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                transaction_id=request.transaction_id,
                screen_message=screen,
            )
        case HoldRequest():
            return HoldResponse(
                ok=False,
                available=False,
                transaction_date=stamp,
                institution_id=inst,
                patron_identifier=request.patron_identifier,
                item_identifier=request.item_identifier,
                title_identifier=request.title_identifier,
                screen_message=screen,
            )
    raise TypeError(f"no refusal for {request.name}")
