"""Turn a session view into the words a screen shows, in the patron's language.

Pure Python, so the same words are checked headless and, later, spoken.
Screens bind to these strings and add nothing of their own but layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.circulation import Reason
from kiosk.i18n import Localizer
from kiosk.messages import destination_text, device_text, reason_text, status_text
from kiosk.session import Line, LineStatus, SessionView, State

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
    )


def _ordered(view: SessionView) -> list[Line]:
    """Newest first, so what the patron just placed is in view; on the summary,
    the items that need attention come first."""
    lines = list(reversed(view.lines))
    if view.state is State.SUMMARY:
        problems = set(view.problems)
        lines.sort(key=lambda line: line not in problems)
    return lines


def present_line(line: Line, state: State, loc: Localizer) -> Row:
    title = line.title or (
        loc._("Unknown item") if not line.key.startswith("uid:") else loc._("Unreadable item")
    )
    status = status_text(loc, line.status)
    if line.status is LineStatus.LENT and line.due:
        detail = loc._("Due back by {date}", date=loc.date(line.due))
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
    else:
        detail = reason_text(loc, line.reason)
    return Row(line.key, title, status, detail, TONE[line.status])


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
    if view.patron_name:
        n = len(view.lent)
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
    if problems and view.patron_name:
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
