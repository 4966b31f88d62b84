"""The loan receipt: which lines to print, then ESC/POS bytes for the printer driver.

Pure: no device here. The texts default to Slovenian; the caller passes translated
`ReceiptTexts` for other languages. The card number is masked to its last four digits.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.printer import LINE_WIDTH, PrintLine, escpos_document
from kiosk.i18n import N_, Localizer

MASK = "••••"  # the printer transliterates it to "****" outside Unicode


@dataclass(frozen=True, slots=True)
class ReceiptLoan:
    title: str
    due: dt.date | None = None  # None on a return receipt


@dataclass(frozen=True, slots=True)
class ReceiptTexts:
    heading: str = "Potrdilo o izposoji"
    card: str = "Izkaznica: {card}"
    due: str = "Vrnite do {date}"
    count: str = "Izposojenih gradiv: {n}"
    thanks: str = "Hvala za obisk!"


def receipt_texts(loc: Localizer, *, returning: bool = False) -> ReceiptTexts:
    """The receipt's words in the patron's language (a loan or a return receipt)."""
    if returning:
        heading = loc._(N_("Return receipt"))
        count = loc._(N_("Items returned: {n}"), n="{n}")
    else:
        heading = loc._(N_("Loan receipt"))
        count = loc._(N_("Items borrowed: {n}"), n="{n}")
    return ReceiptTexts(
        heading=heading,
        card=loc._(N_("Card: {card}"), card="{card}"),
        due=loc._(N_("Return by {date}"), date="{date}"),
        count=count,
        thanks=loc._(N_("Thank you for your visit!")),
    )


def mask_card(card: str) -> str:
    """ "••••3456": enough for the patron to recognise the card, useless to a finder."""
    card = card.strip()
    return MASK + card[-4:] if len(card) > 4 else MASK


def receipt_lines(
    *,
    library: str,
    when: dt.datetime,
    card: str,
    loans: Sequence[ReceiptLoan],
    texts: ReceiptTexts = ReceiptTexts(),
    lang: str = "sl",
    width: int = LINE_WIDTH,
) -> list[PrintLine]:
    """The receipt for `loans`, wrapped to `width` characters."""
    local = Localizer(lang)
    stamp = f"{local.date(when)} {local.time(when)}"
    lines = [PrintLine(part, bold=True, center=True) for part in _wrap(library, width)]
    lines += [
        PrintLine(texts.heading, center=True),
        PrintLine(stamp, center=True),
        PrintLine(""),
    ]
    if card:  # a return needs no card, so its receipt names none
        lines.append(PrintLine(texts.card.format(card=mask_card(card))))
    lines.append(PrintLine("-" * width))
    for loan in loans:
        lines += [PrintLine(part, bold=True) for part in _wrap(loan.title, width)]
        if loan.due is not None:
            lines.append(PrintLine("  " + texts.due.format(date=local.date(loan.due))))
    lines += [
        PrintLine("-" * width),
        PrintLine(texts.count.format(n=len(loans))),
        PrintLine(""),
        PrintLine(texts.thanks, center=True),
    ]
    return lines


def receipt_bytes(lines: Sequence[PrintLine]) -> bytes:
    """The ESC/POS document for the printer driver (code page 852 for Slovenian letters)."""
    return escpos_document(lines)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width) or [""]
