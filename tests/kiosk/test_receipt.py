"""The loan receipt, printed on the emulated network printer and read back as text."""

from __future__ import annotations

import datetime as dt

from drivers.emulators.printer import PrinterEmulator
from drivers.registry import open_printer
from kiosk.receipt import ReceiptLoan, ReceiptTexts, mask_card, receipt_bytes, receipt_lines

LOANS = [
    ReceiptLoan(
        "Čuk na palici in druge zgodbe o žabah ter šolskih počitnicah", dt.date(2026, 12, 18)
    ),
    ReceiptLoan("Šumi", dt.date(2027, 1, 5)),
]


def test_the_receipt_on_paper() -> None:
    emulator = PrinterEmulator()
    try:
        printer = open_printer(emulator.url)
        lines = receipt_lines(
            library="Mariborska knjižnica",
            when=dt.datetime(2026, 11, 27, 14, 5),
            card="0100123456",
            loans=LOANS,
        )
        printer.print_bytes(receipt_bytes(lines))
        assert emulator.wait_for_cuts(1)
        text = emulator.text()
    finally:
        emulator.close()
    assert "Mariborska knjižnica" in text
    assert "27. 11. 2026 14:05" in text
    assert "Izkaznica: ****3456" in text  # masked, bullets transliterated by the printer
    assert "0100123456" not in text
    assert "Čuk na palici in druge zgodbe o žabah ter" in text  # wrapped at 42
    assert "Vrnite do 18. 12. 2026" in text
    assert "Vrnite do 5. 1. 2027" in text
    assert "Izposojenih gradiv: 2" in text
    assert "Hvala za obisk!" in text
    assert all(len(line) <= 42 for line in text.splitlines())


def test_other_languages_get_their_texts_and_dates() -> None:
    texts = ReceiptTexts(
        heading="Loan receipt",
        card="Card: {card}",
        due="Return by {date}",
        count="Items: {n}",
        thanks="Thank you!",
    )
    lines = receipt_lines(
        library="L",
        when=dt.datetime(2026, 1, 2, 9, 0),
        card="12",
        loans=LOANS[1:],
        texts=texts,
        lang="en",
    )
    shown = [line.text for line in lines]
    assert "  Return by Jan 5, 2027" in shown
    assert "Card: ••••" in shown


def test_masking() -> None:
    assert mask_card(" 0100123456 ") == "••••3456"
    assert mask_card("1234") == "••••"
