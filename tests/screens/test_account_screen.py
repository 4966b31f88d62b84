"""The account, renewals, the receipt choice and the offline notice, through the real UI.

One app run (Kivy runs one app per process) drives a patron like a finger would:
"My account" on the start screen, the card typed on the keypad, renew one loan,
renew all, back to borrowing, a book already on loan renewed from the pad, the
summary's receipt printed (to the demo's file printer), then the library system
goes away. The script records what the screens showed; the tests below judge it
against the presenter's words and the real receipt file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiosk.backends.demo_data import ANA, SAMPLE_ITEMS, SAMPLE_PATRONS
from kiosk.circulation import Reason
from kiosk.demo import demo_tags
from kiosk.i18n import Localizer
from kiosk.presenter import present, present_account
from kiosk.runtime import Runtime
from tests.helpers import demo_config_in

SL = Localizer("sl")
PIN = next(p.pin for p in SAMPLE_PATRONS if p.card == ANA)
RENEWABLE = next(i for i in SAMPLE_ITEMS if i.on_loan_to == ANA and not i.hold_for)
RESERVED = next(i for i in SAMPLE_ITEMS if i.on_loan_to == ANA and i.hold_for)
BOOK = next(
    i for i in SAMPLE_ITEMS if i.parts == 1 and not (i.reference_only or i.hold_for or i.on_loan_to)
)
TOUCH_MIN = 44


@dataclass
class Run:
    failure: str | None
    receipts: Path
    buttons: list[tuple[str, str, float, float]] = field(default_factory=list)
    seen: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    data = tmp_path_factory.mktemp("account") / "data"
    config = demo_config_in(data)
    from screens.launch import _prepare

    _prepare(config, width=1280, height=800)
    from kivy.uix.behaviors import ButtonBehavior

    from screens.app import KioskApp
    from screens.harness import run_script
    from screens.tour import OffsetClock, UnreachableLibrary
    from screens.widgets import AccountLoanRow

    clock = OffsetClock()
    runtime = Runtime.open(config, clock=clock)
    receipts = Path(config.printer_url().removeprefix("file:"))
    record = Run(failure=None, receipts=receipts)
    seen = record.seen

    def measure(h, screen: str) -> None:
        """Every button a patron can touch on this screen, with its size."""
        for widget in h.find_all_widgets(ButtonBehavior):
            record.buttons.append((screen, getattr(widget, "tid", ""), *widget.size))

    def loan_rows(h) -> dict[str, AccountLoanRow]:
        return {row.item_id: row for row in h.find_all_widgets(AccountLoanRow)}

    def place(item) -> None:
        for tag in demo_tags():
            if tag.item_id == item.item_id:
                runtime.tag_reader.place(tag.uid, tag.data)

    def type_digits(h, digits: str):
        for digit in digits:
            h.tap(f"key-{digit}")
            yield

    def script(h):
        yield
        # The start screen offers "My account" beside borrowing and returning.
        assert h.text("account") == SL._("My account")
        measure(h, "attract")
        h.tap("account")
        yield
        assert h.app.view.state == "identify"
        yield from type_digits(h, ANA)
        h.tap("key-ok")
        yield
        yield from type_digits(h, PIN)
        h.tap("key-ok")
        yield
        # --- the account: loans soonest due first, the overdue one says so ---------------
        view = h.app.view
        assert view.state == "account"
        words = present_account(view.account, SL)
        assert h.text("account-heading") == words.heading == SL._("My account")
        assert h.text("account-loans-heading") == words.loans_heading
        assert words.loans_heading == SL.ngettext("{n} item on loan", "{n} items on loan", 2)
        rows = loan_rows(h)
        assert set(rows) == {RENEWABLE.item_id, RESERVED.item_id}
        for expected in words.loans:
            row = rows[expected.item_id]
            assert (row.title, row.due, row.detail) == (
                expected.title,
                expected.due,
                expected.detail,
            )
            assert h.find(f"account-renew-{expected.item_id}").text == SL._("Renew")
        assert rows[RESERVED.item_id].detail == SL._("Overdue: please return it or renew it.")
        assert rows[RESERVED.item_id].detail in h.screen_text()
        assert h.text("renew-all") == SL._("Renew all")
        assert not h.find_all("account-unavailable")  # nothing to excuse while online
        measure(h, "account")
        old_due = {loan.item_id: loan.due for loan in view.account.loans}
        # --- renew one ------------------------------------------------------------------
        h.tap(f"account-renew-{RENEWABLE.item_id}")
        yield
        loans = {loan.item_id: loan for loan in h.app.view.account.loans}
        assert loans[RENEWABLE.item_id].renewal is Reason.OK
        assert loans[RENEWABLE.item_id].due > old_due[RENEWABLE.item_id]
        row = loan_rows(h)[RENEWABLE.item_id]
        assert row.detail == SL._("Renewed.")
        assert row.due == SL._("Due back by {date}", date=SL.date(loans[RENEWABLE.item_id].due))
        assert row.due in h.screen_text()
        assert not h.find_all(f"account-renew-{RENEWABLE.item_id}")  # tried: no second button
        assert h.find_all(f"account-renew-{RESERVED.item_id}")
        # --- renew all: the reserved one is refused, in renewal words -------------------
        h.tap("renew-all")
        yield
        loans = {loan.item_id: loan for loan in h.app.view.account.loans}
        assert loans[RESERVED.item_id].renewal is Reason.RESERVED_FOR_OTHER
        refusal = SL._("Another reader has reserved it, so it cannot be renewed. Please return it.")
        assert loan_rows(h)[RESERVED.item_id].detail == refusal
        assert refusal in h.screen_text()
        # The core's checkout-worded notice ("leave it on the trolley") stays off this screen.
        trolley = SL._("This book is reserved for another reader. Please leave it on the trolley.")
        assert trolley not in h.screen_text()
        assert not h.find_all("renew-all") and not h.find_all("account-renew-" + RESERVED.item_id)
        seen["account_renewed_text"] = h.screen_text()
        # --- back to borrowing; a book she already has is renewed from the pad -----------
        h.tap("back-to-borrowing")
        yield
        assert h.app.view.state == "checkout"
        assert h.text("my-account") == SL._("My account")
        place(BOOK)
        place(RENEWABLE)
        yield 0.8
        keys = {r["key"]: r for r in h.app.rows}
        assert keys[RENEWABLE.item_id]["can_renew"] and not keys[BOOK.item_id]["can_renew"]
        assert not h.find_all(f"renew-{BOOK.item_id}")
        renew = h.find(f"renew-{RENEWABLE.item_id}")
        assert renew.text == SL._("Renew")
        measure(h, "checkout")
        h.tap(f"renew-{RENEWABLE.item_id}")
        yield
        line = next(x for x in h.app.view.lines if x.key == RENEWABLE.item_id)
        assert line.status == "renewed"
        renewed_row = next(r for r in h.app.rows if r["key"] == RENEWABLE.item_id)
        assert renewed_row["status"] == SL._("Renewed")
        assert renewed_row["detail"] == SL._("Due back by {date}", date=SL.date(line.due))
        assert not h.find_all(f"renew-{RENEWABLE.item_id}")
        assert renewed_row["detail"] in h.screen_text()
        # --- the summary: the receipt choice -----------------------------------------------
        h.tap("finish")
        yield
        texts = present(h.app.view, SL)
        assert h.app.view.state == "summary"
        assert h.text("receipt-prompt") == texts.receipt_prompt == SL._("Would you like a receipt?")
        assert [kind for kind, _ in texts.receipt_choices] == ["print", "email", "none"]
        for kind, label in texts.receipt_choices:
            assert h.text(f"receipt-{kind}") == label
        assert not h.find_all("receipt-status")
        measure(h, "summary")
        h.tap("receipt-print")
        yield
        assert h.app.view.receipt.chosen == "print"
        assert h.text("receipt-status") == SL._("Your receipt is printed. Please take it.")
        assert not h.find_all("receipt-print") and not h.find_all("receipt-prompt")
        assert h.find_all("done")  # the way out stays
        h.tap("done")
        runtime.tag_reader.clear()
        yield
        assert h.app.view.state == "idle"
        # --- returning needs no card, so no account button there ---------------------------
        h.tap("return")
        yield
        assert h.app.view.state == "return" and not h.find_all("my-account")
        h.tap("logout")
        yield
        # --- the library system goes away: one banner says so on every screen ----------------
        runtime.core.backend = UnreachableLibrary()
        clock.offset += config.offline.check_interval_s + 1
        yield 1.0
        assert h.app.view.offline
        offline = SL._(
            "The library system is not answering. Returning works as usual; "
            "borrowing is limited and your account cannot be shown."
        )
        banners = [w for w in h.find_all("fault")]
        assert [(b.text, b.tone) for b in banners] == [(offline, "attention")]
        h.tap("account")
        yield
        assert [(b.text, b.tone) for b in h.find_all("notice")] == [(offline, "attention")]
        yield from type_digits(h, ANA)
        h.tap("key-ok")
        yield
        yield from type_digits(h, PIN)
        h.tap("key-ok")
        yield
        assert h.app.view.state == "account"
        assert h.text("account-unavailable") == present_account(None, SL).unavailable
        assert [b.text for b in h.find_all("notice")] == [offline]
        assert not loan_rows(h) and not h.find_all("renew-all")
        measure(h, "account-offline")
        h.tap("back-to-borrowing")
        yield
        assert [b.text for b in h.find_all("notice")] == [offline]
        seen["done"] = True

    try:
        harness = run_script(KioskApp(config, lambda: runtime, dev_tray=False), script)
    finally:
        runtime.close()
    record.failure = harness.failure
    return record


def test_account_renewals_receipt_and_offline_through_the_ui(run: Run) -> None:
    assert run.failure is None, run.failure
    assert run.seen.get("done")


def test_the_printed_receipt_lists_the_loans_and_hides_the_card(run: Run) -> None:
    assert run.failure is None, run.failure
    printed = sorted(run.receipts.glob("*.txt"))
    assert len(printed) == 1, printed  # one receipt: the one the patron chose
    text = printed[0].read_text(encoding="utf-8")
    assert BOOK.title in text and RENEWABLE.title in text
    assert SL._("Loan receipt") in text
    assert ANA not in text and ANA[-4:] in text  # masked to its last four digits


def test_every_button_on_the_new_screens_is_a_big_touch_target(run: Run) -> None:
    assert run.failure is None, run.failure
    screens = {screen for screen, *_ in run.buttons}
    assert screens == {"attract", "account", "checkout", "summary", "account-offline"}
    tids = {tid for _, tid, *_ in run.buttons}
    for wanted in (
        "account",
        "renew-all",
        f"account-renew-{RESERVED.item_id}",
        "back-to-borrowing",
        "account-finish",
        "my-account",
        f"renew-{RENEWABLE.item_id}",
        "receipt-print",
        "receipt-email",
        "receipt-none",
        "done",
    ):
        assert wanted in tids
    small = [b for b in run.buttons if b[2] < TOUCH_MIN or b[3] < TOUCH_MIN]
    assert small == []
