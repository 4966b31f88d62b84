"""What the patron reads for each reason code: what happened and what to do next.

The server's own text never replaces these; it goes to the log and to
technician mode. Every message offers a next step (UX: never a dead end).
"""

from __future__ import annotations

from kiosk.circulation import Reason
from kiosk.i18n import N_, Localizer

_REASON_TEXT: dict[Reason, str] = {
    Reason.OK: N_("Done."),
    Reason.UNKNOWN_PATRON: N_(
        "We do not recognise this card. Please try again or ask at the desk."
    ),
    Reason.WRONG_PIN: N_("The PIN is not correct. Please try again."),
    Reason.PIN_REQUIRED: N_("Please enter your PIN."),
    Reason.CARD_BLOCKED: N_(
        "Your card is blocked. Please ask at the desk; returning books still works here."
    ),
    Reason.CARD_EXPIRED: N_(
        "Your membership has expired. Please renew it at the desk; "
        "returning books still works here."
    ),
    Reason.FEES_OVER_LIMIT: N_(
        "You have unpaid fees over the limit. Please settle them at the desk to borrow again."
    ),
    Reason.UNKNOWN_ITEM: N_(
        "This item is not in our catalogue. Please leave it on the trolley for the staff."
    ),
    Reason.LOAN_LIMIT: N_(
        "You have reached your loan limit. Return a book first or ask at the desk."
    ),
    Reason.RESERVED_FOR_OTHER: N_(
        "This book is reserved for another reader. Please leave it on the trolley."
    ),
    Reason.REFERENCE_ONLY: N_("This item is for use in the library only. Please leave it here."),
    Reason.ALREADY_ON_LOAN_TO_YOU: N_(
        "You already have this book on loan. You can renew it in your account."
    ),
    Reason.ON_LOAN_TO_OTHER: N_(
        "This book is still on loan to someone else. Please take it to the desk."
    ),
    Reason.NOT_ON_LOAN: N_("This item was not on loan. Please put it on the return trolley."),
    Reason.RENEWAL_LIMIT: N_("This loan cannot be renewed any more. Please return it."),
    Reason.OFFLINE_LIMIT: N_(
        "While the library system is away, only a few items can be borrowed. "
        "Please leave this one or ask at the desk."
    ),
    Reason.OFFLINE_NOT_ALLOWED: N_(
        "Borrowing with this card is not possible while the library system is away. "
        "Returning books still works here."
    ),
    Reason.INCOMPLETE_SET: N_("This item has several parts. Please place all parts on the pad."),
    Reason.NOT_LIBRARY_TAG: N_("This is not a library item. Please take it off the pad."),
    Reason.DAMAGED_TAG: N_("We cannot read this item's label. Please take it to the desk."),
    Reason.DUPLICATE_TAG: N_(
        "Two labels on the pad belong to the same item. Please take it to the desk."
    ),
    Reason.TAG_NOT_READ: N_("We could not read this book. Please move it slightly on the pad."),
    Reason.BACKEND_UNAVAILABLE: N_(
        "The library system is not answering right now. "
        "Please try again in a moment or ask at the desk."
    ),
    Reason.INVALID_CARD_NUMBER: N_("This card number is not valid. Please check it and try again."),
    Reason.OTHER: N_("This did not work. Please ask at the desk."),
}

_DESTINATION_TEXT: dict[str, str] = {
    "shelf": N_("Put it on the return trolley."),
    "holds_shelf": N_("Someone is waiting for it: please put it on the reservations shelf."),
    "other_branch": N_("It belongs to another branch: please put it in the transit box."),
    "staff": N_("Please hand it to the staff."),
    "unsorted": N_("Put it on the return trolley; the staff will sort it."),
}

# Short status words for list rows.
STATUS_TEXT: dict[str, str] = {
    "reading": N_("Reading…"),
    "waiting_parts": N_("Waiting for all parts"),
    "lent": N_("Borrowed"),
    "refused": N_("Not borrowed"),
    "returned": N_("Returned"),
    "not_returned": N_("Not returned"),
    "security_failed": N_("Place it on the pad again"),
    "not_read": N_("Move it slightly"),
    "renewed": N_("Renewed"),
}

# Devices the patron may need to hear about, and what still works without them.
_DEVICE_TEXT: dict[str, str] = {
    "rfid": N_(
        "The book reader is not working right now. Please ask at the desk; "
        "your account still works here."
    ),
    "card_reader": N_(
        "The card reader is not working right now. Please type your card number instead."
    ),
    "printer": N_("The receipt printer is not working right now. Choose e-mail or no receipt."),
}


def reason_text(loc: Localizer, reason: Reason) -> str:
    return loc._(_REASON_TEXT.get(reason, _REASON_TEXT[Reason.OTHER]))


def destination_text(loc: Localizer, destination: str) -> str:
    return loc._(_DESTINATION_TEXT.get(destination, _DESTINATION_TEXT["staff"]))


def status_text(loc: Localizer, status: str) -> str:
    return loc._(STATUS_TEXT[status])


def device_text(loc: Localizer, device: str) -> str:
    return loc._(_DEVICE_TEXT[device])
