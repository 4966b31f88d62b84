"""Turn a session view into the words a screen shows, in the patron's language.

Pure Python, so the same words are checked headless and, later, spoken.
Screens bind to these strings and add nothing of their own but layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.circulation import Reason
from kiosk.i18n import N_, Localizer
from kiosk.messages import destination_text, device_text, reason_text, status_text
from kiosk.session import Account, AccountLoan, Line, LineStatus, Receipt, SessionView, State

# How a row looks: the screens map these to colours and icons.
TONE = {
    LineStatus.READING: "busy",
    LineStatus.WAITING_PARTS: "attention",
    LineStatus.LENT: "good",
    LineStatus.RETURNED: "good",
    LineStatus.REFUSED: "bad",
    LineStatus.NOT_RETURNED: "bad",
    LineStatus.SECURITY_FAILED: "attention",
    LineStatus.NOT_READ: "attention",
    LineStatus.RENEWED: "good",
}

RECEIPT_LABEL = {
    "print": N_("Print a receipt"),
    "email": N_("Send it by e-mail"),
    "none": N_("No receipt"),
}


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    title: str
    status: str
    detail: str
    tone: str


@dataclass(frozen=True, slots=True)
class Texts:
    greeting: str
    instruction: str
    rows: tuple[Row, ...]
    notice: str
    summary_headline: str
    summary_detail: str
    keypad_label: str
    keypad_display: str
    warning: str
    device_notice: str
    offline_notice: str
    receipt_prompt: str
    receipt_choices: tuple[tuple[str, str], ...]  # (kind, label), in the library's order
    receipt_status: str


def present(view: SessionView, loc: Localizer) -> Texts:
    return Texts(
        greeting=_greeting(view, loc),
        instruction=_instruction(view, loc),
        rows=tuple(present_line(line, view.state, loc) for line in _ordered(view)),
        notice=reason_text(loc, view.notice.reason) if view.notice else "",
        summary_headline=_summary_headline(view, loc),
        summary_detail=_summary_detail(view, loc),
        keypad_label=_keypad_label(view, loc),
        keypad_display=_keypad_display(view),
        warning=_warning(view, loc),
        device_notice=" ".join(device_text(loc, d) for d in view.device_trouble),
        offline_notice=_offline_notice(view, loc),
        receipt_prompt=_receipt_prompt(view.receipt, loc),
        receipt_choices=_receipt_choices(view.receipt, loc),
        receipt_status=_receipt_status(view.receipt, loc),
    )


@dataclass(frozen=True, slots=True)
class AccountRow:
    item_id: str
    title: str
    due: str
    detail: str
    tone: str
    can_renew: bool


@dataclass(frozen=True, slots=True)
class AccountTexts:
    heading: str
    loans_heading: str
    loans: tuple[AccountRow, ...]
    holds_heading: str
    holds: tuple[str, ...]
    fees: str
    unavailable: str
    can_renew_all: bool


def present_account(account: Account | None, loc: Localizer) -> AccountTexts:
    """The account screen's words: loans soonest due first, holds to collect, fees."""
    account = account or Account(available=False)
    loans = tuple(_account_row(loan, loc) for loan in account.loans)
    holds = tuple(
        " — ".join(
            part
            for part in (
                hold.title,
                hold.pickup_location,
                loc._("waiting until {date}", date=loc.date(hold.until)) if hold.until else "",
            )
            if part
        )
        for hold in account.holds
    )
    n = len(account.loans)
    return AccountTexts(
        heading=loc._("My account"),
        loans_heading=loc.ngettext("{n} item on loan", "{n} items on loan", n)
        if n
        else loc._("You have nothing on loan."),
        loans=loans,
        holds_heading=loc.ngettext(
            "{n} reservation is waiting for you", "{n} reservations are waiting for you", len(holds)
        )
        if holds
        else "",
        holds=holds,
        fees=loc._("Unpaid fees: {amount}", amount=loc.money(account.fees_cents, account.currency))
        if account.fees_cents
        else "",
        unavailable=""
        if account.available
        else loc._(
            "Your account cannot be shown while the library system is away. "
            "Borrowing and returning still work."
        ),
        can_renew_all=any(row.can_renew for row in loans),
    )


def _account_row(loan: AccountLoan, loc: Localizer) -> AccountRow:
    due = loc._("Due back by {date}", date=loc.date(loan.due))
    if loan.renewal is Reason.OK:
        detail, tone = loc._("Renewed."), "good"
    elif loan.renewal is not None:
        detail, tone = renewal_refusal_text(loc, loan.renewal), "bad"
    elif loan.overdue:
        detail, tone = loc._("Overdue: please return it or renew it."), "attention"
    else:
        detail, tone = "", "neutral"
    return AccountRow(loan.item_id, loan.title, due, detail, tone, loan.renewal is None)


def _offline_notice(view: SessionView, loc: Localizer) -> str:
    if not view.offline:
        return ""
    return loc._(
        "The library system is not answering. Returning works as usual; "
        "borrowing is limited and your account cannot be shown."
    )


def _receipt_choices(receipt: Receipt, loc: Localizer) -> tuple[tuple[str, str], ...]:
    """Before a choice, all offered; after a failed print, the others; else none."""
    if receipt.status == "failed":
        return tuple((k, loc._(RECEIPT_LABEL[k])) for k in receipt.offer if k != "print")
    if receipt.chosen:
        return ()
    return tuple((kind, loc._(RECEIPT_LABEL[kind])) for kind in receipt.offer)


def _receipt_prompt(receipt: Receipt, loc: Localizer) -> str:
    if not receipt.offer or (receipt.chosen and receipt.status != "failed"):
        return ""
    return loc._("Would you like a receipt?")


def _receipt_status(receipt: Receipt, loc: Localizer) -> str:
    return {
        "printed": loc._("Your receipt is printed. Please take it."),
        "queued": loc._("We will send the receipt to your e-mail address."),
        "failed": loc._("The receipt could not be printed. Your loans are saved."),
        "none": "",
        "": "",
    }[receipt.status]


def _ordered(view: SessionView) -> list[Line]:
    """Newest first, so what the patron just placed is in view; on the summary,
    the items that need attention come first."""
    lines = list(reversed(view.lines))
    if view.state is State.SUMMARY:
        problems = set(view.problems)
        lines.sort(key=lambda line: line not in problems)
    return lines


def present_line(line: Line, state: State, loc: Localizer) -> Row:
    title = line.title or _untitled(line, loc)
    status = status_text(loc, line.status)
    if line.status in (LineStatus.LENT, LineStatus.RENEWED) and line.due:
        detail = loc._("Due back by {date}", date=loc.date(line.due))
        if line.offline:
            detail += " " + loc._("(saved on this kiosk, sent to the library later)")
    elif line.status is LineStatus.WAITING_PARTS:
        status = loc.ngettext(
            "{seen} of {n} part", "{seen} of {n} parts", line.parts_total, seen=line.parts_seen
        )
        missing = len(line.missing_parts)
        detail = (
            loc.ngettext(
                "Part {parts} is missing: please place it on the pad too.",
                "Parts {parts} are missing: please place them on the pad too.",
                missing,
                parts=", ".join(loc.number(p) for p in line.missing_parts),
            )
            if missing
            else reason_text(loc, Reason.INCOMPLETE_SET)
        )
    elif line.status is LineStatus.RETURNED:
        detail = destination_text(loc, line.destination or "shelf")
    elif line.status is LineStatus.SECURITY_FAILED:
        detail = loc._("Please lift this item and place it on the pad again.")
    elif line.status in (LineStatus.READING, LineStatus.NOT_READ):
        detail = reason_text(loc, line.reason) if line.status is LineStatus.NOT_READ else ""
    elif line.renewable and state is State.CHECKOUT:
        detail = loc._("You already have it on loan. Touch “Renew” to keep it longer.")
        return Row(line.key, title, status, detail, "attention")
    else:
        detail = reason_text(loc, line.reason)
    return Row(line.key, title, status, detail, TONE[line.status])


def _untitled(line: Line, loc: Localizer) -> str:
    if line.key.startswith("uid:"):
        return loc._("Unreadable item")
    if line.offline:  # the title cannot be looked up offline: the label's number stands in
        return loc._("Item {number}", number=line.key)
    return loc._("Unknown item")


def _greeting(view: SessionView, loc: Localizer) -> str:
    if view.patron_name:
        first = view.patron_name.split()[0]
        return loc._("Hello, {name}!", name=first)
    if view.state is State.RETURN:
        return loc._("Returning items")
    return loc._("Welcome to the library")


def _instruction(view: SessionView, loc: Localizer) -> str:
    if view.state is State.CHECKOUT:
        return loc._("Place the books on the pad. You can put several at once.")
    if view.state is State.RETURN:
        return loc._("Place the books you are returning on the pad.")
    if view.state is State.IDENTIFY:
        return loc._("Tap your library card on the reader, or type your card number.")
    return loc._("Tap your library card to borrow, or choose below.")


def _summary_headline(view: SessionView, loc: Localizer) -> str:
    if view.identified:
        n = len(view.lent)
        renewed = len(view.renewed)
        if n == 0 and renewed:
            return loc.ngettext("You renewed {n} item.", "You renewed {n} items.", renewed)
        if n == 0:
            return loc._("Nothing was borrowed this time.")
        return loc.ngettext("You borrowed {n} item.", "You borrowed {n} items.", n)
    n = len(view.returned)
    if n == 0:
        return loc._("Nothing was returned this time.")
    return loc.ngettext("You returned {n} item.", "You returned {n} items.", n)


def _summary_detail(view: SessionView, loc: Localizer) -> str:
    parts: list[str] = []
    dues = sorted({line.due for line in view.lent if line.due})
    if dues:
        parts.append(loc._("Please return by {date}.", date=loc.date(dues[0])))
    problems = len(view.problems)
    if problems and view.identified:
        parts.append(
            loc.ngettext(
                "{n} item was not borrowed; the list says why.",
                "{n} items were not borrowed; the list says why.",
                problems,
            )
        )
    elif problems:
        parts.append(
            loc.ngettext(
                "{n} item was not returned; the list says why.",
                "{n} items were not returned; the list says why.",
                problems,
            )
        )
    parts.append(loc._("Thank you for visiting!"))
    return " ".join(parts)


def _keypad_label(view: SessionView, loc: Localizer) -> str:
    if view.keypad.stage == "pin":
        if view.keypad.card_known:
            return loc._("Card read. Please enter your PIN.")
        return loc._("Enter your PIN")
    return loc._("Enter your card number")


def _keypad_display(view: SessionView) -> str:
    # The PIN is never published by the core: the screen shows one dot per digit.
    if view.keypad.stage == "pin":
        return "●" * view.keypad.digits
    return view.keypad.typed_card


def _warning(view: SessionView, loc: Localizer) -> str:
    if view.warning_s is None:
        return ""
    return loc.ngettext(
        "You will be logged out in {n} second.",
        "You will be logged out in {n} seconds.",
        view.warning_s,
    )


# --- helpers for the screens ---------------------------------------------------------------


def renewal_refusal_text(loc: Localizer, reason: Reason) -> str:
    """Why a loan was not renewed. A checkout's words ("leave it on the trolley") would
    be wrong here: the patron has the book at home."""
    if reason is Reason.RESERVED_FOR_OTHER:
        return loc._("Another reader has reserved it, so it cannot be renewed. Please return it.")
    return reason_text(loc, reason)


def renewable_keys(view: SessionView) -> frozenset[str]:
    """Pad lines that get a "Renew" button: already lent to this patron, while borrowing."""
    if view.state is not State.CHECKOUT:
        return frozenset()
    return frozenset(line.key for line in view.lines if line.renewable)


def receipt_tone(receipt: Receipt) -> str:
    """How the receipt's outcome looks: a printer failure must not look like success."""
    return {"printed": "good", "queued": "good", "failed": "bad"}.get(receipt.status, "neutral")


def join_notices(*parts: str) -> str:
    """One banner per screen: the patron's notice, the offline notice, device trouble."""
    return "\n".join(part for part in parts if part)
