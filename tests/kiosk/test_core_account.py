"""The account (loans, renewals, holds, fees), receipts, verified security and the
walk-away logout, headless on real parts: the demo library over SIP2 on loopback, the
SQLite store, the emulated RFID pad and a file printer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kiosk.backends.demo_data import ANA, MARKO, PETRA, SAMPLE_ITEMS
from kiosk.circulation import Reason
from kiosk.runtime import Runtime
from kiosk.session import LineStatus, State
from tests.kiosk.conftest import FakeClock
from tests.kiosk.test_core import (
    AFI_IN_LIBRARY,
    AFI_ON_LOAN,
    line,
    log_in,
    pad,
    place,
    plain_items,
    settle,
    tags_of,
)

RENEWABLE = "34001000035"  # Na klancu: on loan to Ana, renewable
RESERVED = "34001000059"  # Alamut: on loan to Ana, overdue, reserved by Marko


def receipts(rt: Runtime) -> list[Path]:
    folder = rt.config.data_path() / "receipts"
    return sorted(folder.glob("*.txt")) if folder.exists() else []


# --- account ---------------------------------------------------------------------------------


def test_the_account_shows_loans_holds_and_fees(rt: Runtime) -> None:
    rt.core.begin_account()
    log_in(rt, ANA)
    view = rt.core.view
    assert view.state is State.ACCOUNT and view.account is not None and view.account.available
    loans = {loan.item_id: loan for loan in view.account.loans}
    assert set(loans) == {RENEWABLE, RESERVED}
    assert loans[RESERVED].overdue and not loans[RENEWABLE].overdue
    dues = [loan.due for loan in view.account.loans]
    assert dues == sorted(dues)  # soonest due first
    rt.core.back_to_borrowing()
    assert rt.core.view.state is State.CHECKOUT
    rt.core.show_account()
    assert rt.core.view.state is State.ACCOUNT


def test_holds_ready_and_fees_are_shown(rt: Runtime) -> None:
    rt.core.begin_return()  # Ana brings back Alamut, which Marko reserved
    place(rt, next(i for i in SAMPLE_ITEMS if i.item_id == RESERVED))
    assert line(rt, RESERVED).destination == "holds_shelf"
    rt.core.logout()
    pad(rt).clear()
    settle(rt)
    rt.core.begin_account()
    log_in(rt, MARKO)
    account = rt.core.view.account
    assert account is not None and [h.title for h in account.holds] == ["Alamut"]
    # SIP2's patron information lists held items but not until when they wait.
    assert account.holds[0].pickup_location == "Knjižnica Rotovž"  # kiosk.location_names
    rt.core.logout()
    rt.core.begin_account()
    log_in(rt, PETRA)
    assert rt.core.view.account.fees_cents == 240


def test_renew_one_and_all_with_an_answer_per_item(rt: Runtime) -> None:
    rt.core.begin_account()
    log_in(rt, ANA)
    before = {loan.item_id: loan.due for loan in rt.core.view.account.loans}
    rt.core.renew_all()
    loans = {loan.item_id: loan for loan in rt.core.view.account.loans}
    assert loans[RENEWABLE].renewal is Reason.OK
    assert loans[RENEWABLE].due > before[RENEWABLE]
    assert loans[RESERVED].renewal is Reason.RESERVED_FOR_OTHER
    assert loans[RESERVED].due == before[RESERVED] and loans[RESERVED].overdue
    renewals = [e for e in rt.store.entries() if e.kind == "renew"]
    assert sorted(e.state for e in renewals) == ["confirmed", "refused"]
    counters = rt.store.counters()
    assert counters["renewals"] == 1 and counters["refused:renew:reserved_for_other"] == 1
    # Renewing again today changes nothing and is answered plainly.
    rt.core.renew(RENEWABLE)
    again = next(x for x in rt.core.view.account.loans if x.item_id == RENEWABLE)
    assert again.due == loans[RENEWABLE].due


def test_an_item_already_on_loan_to_the_patron_is_offered_for_renewal(rt: Runtime) -> None:
    log_in(rt, ANA)
    item = next(i for i in SAMPLE_ITEMS if i.item_id == RENEWABLE)
    place(rt, item)
    got = line(rt, RENEWABLE)
    assert got.renewable and got.reason is Reason.ALREADY_ON_LOAN_TO_YOU
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_ON_LOAN  # still lent: still disarmed
    rt.core.renew(RENEWABLE)
    got = line(rt, RENEWABLE)
    assert got.status is LineStatus.RENEWED and got.due is not None
    rt.core.finish()
    assert rt.core.view.renewed and "renewed" not in [x.status for x in rt.core.view.problems]


def test_offline_the_account_says_it_cannot_be_shown(rt: Runtime) -> None:
    log_in(rt, ANA)  # seen online once: the kiosk knows the card is good
    rt.core.logout()
    rt.core.begin_account()
    rt.core.session.update(offline=True)  # as sync() sets it when the system is away
    log_in(rt, ANA)
    view = rt.core.view
    assert view.state is State.ACCOUNT and view.account is not None
    assert not view.account.available and view.account.loans == ()


# --- receipts ---------------------------------------------------------------------------------


def test_the_patron_chooses_a_printed_receipt(rt: Runtime) -> None:
    log_in(rt, ANA)
    a, b = plain_items()[:2]
    place(rt, a, b)
    rt.core.finish()
    receipt = rt.core.view.receipt
    assert receipt.offer == ("print", "email", "none") and receipt.chosen == ""
    rt.core.choose_receipt("print")
    assert rt.core.view.receipt.status == "printed"
    [printed] = receipts(rt)
    text = printed.read_text(encoding="utf-8")
    assert a.title in text and b.title in text
    assert ANA not in text and "3456" in text  # masked card: last four digits only
    due = (dt.datetime.now().date() + dt.timedelta(days=21)).strftime("%-d. %-m. %Y")
    assert due.replace(" ", "") in text.replace(" ", "")
    rt.core.choose_receipt("email")  # one receipt per session
    assert rt.core.view.receipt.chosen == "print"
    assert rt.store.counters()["receipts_printed"] == 1


def test_an_e_mail_receipt_is_queued_for_the_central_api(rt: Runtime) -> None:
    log_in(rt, ANA)
    item = plain_items()[0]
    place(rt, item)
    rt.core.finish()
    rt.core.choose_receipt("email")
    assert rt.core.view.receipt.status == "queued"
    [entry] = [e for e in rt.store.unfinished() if e.kind == "receipt_email"]
    assert entry.payload["items"][0]["title"] == item.title
    assert entry.payload["language"] == "sl"
    assert receipts(rt) == []


def test_done_without_a_choice_gives_the_default_and_a_timeout_prints_nothing(
    rt: Runtime, clock: FakeClock
) -> None:
    log_in(rt, ANA)
    place(rt, plain_items()[0])
    rt.core.finish()
    clock.now += 1000  # the patron walked away from the summary
    rt.core.tick()
    assert rt.core.view.state is State.IDLE
    assert receipts(rt) == []  # nobody there to take it: nothing printed
    log_in(rt, ANA)
    place(rt, plain_items()[1])
    rt.core.finish()
    rt.core.logout()  # "Done" without choosing: the library's default (print)
    assert len(receipts(rt)) == 1


def test_a_return_receipt_names_no_card_and_offers_no_e_mail(rt: Runtime) -> None:
    item = plain_items()[0]
    log_in(rt, ANA)
    place(rt, item)
    rt.core.logout()
    pad(rt).clear()
    settle(rt)
    rt.core.begin_return()
    place(rt, item)
    rt.core.finish()
    assert rt.core.view.receipt.offer == ("print", "none")
    rt.core.choose_receipt("print")
    text = receipts(rt)[-1].read_text(encoding="utf-8")
    assert item.title in text and "••••" not in text and "****" not in text


def test_nothing_happened_nothing_to_receipt(rt: Runtime) -> None:
    log_in(rt, ANA)
    rt.core.finish()
    assert rt.core.view.receipt.offer == ()


# --- security, verified ----------------------------------------------------------------------


def test_a_lost_security_write_is_caught_by_reading_back_and_retried(rt: Runtime) -> None:
    log_in(rt, ANA)
    pad(rt).lose_next_writes(1)  # answers OK, changes nothing
    item = plain_items()[0]
    place(rt, item)
    assert line(rt, item.item_id).status is LineStatus.LENT
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_ON_LOAN


def test_a_book_that_stays_armed_is_named_and_fixed_by_placing_it_again(rt: Runtime) -> None:
    log_in(rt, ANA)
    pad(rt).lose_next_writes(3)  # every attempt on this book is lost
    item = plain_items()[0]
    place(rt, item)
    assert line(rt, item.item_id).status is LineStatus.SECURITY_FAILED
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_IN_LIBRARY
    failed = [e for e in rt.store.entries() if e.kind == "security"]
    assert failed and failed[0].state == "failed"  # recorded for staff
    pad(rt).clear()
    settle(rt)
    place(rt, item)  # the patron lifts it and places it again
    assert line(rt, item.item_id).status is LineStatus.LENT
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_ON_LOAN
    loans = [e for e in rt.store.entries() if e.kind == "checkout"]
    assert len(loans) == 1  # secured again, not lent again
    assert rt.store.counters()["security_fixed"] == 1


# --- leaving -----------------------------------------------------------------------------------


def test_books_taken_off_the_pad_shorten_the_timeout_with_a_warning(
    rt: Runtime, clock: FakeClock
) -> None:
    log_in(rt, ANA)
    place(rt, plain_items()[0])
    pad(rt).clear()
    settle(rt)  # the patron took the book and may be walking away
    walkaway = rt.config.session.walkaway_s
    clock.now += walkaway - 20  # the warning's 20 s start
    rt.core.tick()
    assert rt.core.view.warning_s == 20
    rt.core.extend()  # still here
    assert rt.core.view.warning_s is None
    clock.now += walkaway
    rt.core.tick()
    view = rt.core.view
    assert view.state is State.IDLE and view.lines == () and view.patron_name == ""


def test_a_card_taken_away_mid_session_changes_nothing(rt: Runtime) -> None:
    """Cards are read once; taking one off the reader neither logs out nor loses items,
    and another card tapped mid-session does not switch patrons."""
    log_in(rt, ANA)
    place(rt, plain_items()[0])
    rt.core.card_presented(MARKO)  # someone else's card on the reader
    view = rt.core.view
    assert view.state is State.CHECKOUT and view.patron_name.startswith("Ana")
    place(rt, plain_items()[1])
    assert len(rt.core.view.lent) == 2


def test_a_reader_failing_mid_stack_loses_nothing_and_doubles_nothing(rt: Runtime) -> None:
    log_in(rt, ANA)
    first, second, third = plain_items()[:3]
    place(rt, first)
    assert line(rt, first.item_id).status is LineStatus.LENT
    for item in (second, third):
        for uid in item.tag_uids:
            pad(rt).place(uid, next(t.data for t in tags_of(item) if t.uid == uid))
    rt.core.poll_devices()  # seen once: not trusted yet (min_reads = 2)
    pad(rt).set_unplugged(True)  # the USB cable is pulled with two books on the pad
    rt.core.poll_devices()
    view = rt.core.view
    assert "rfid" in view.device_trouble and view.state is State.CHECKOUT
    assert [x.key for x in view.lent] == [first.item_id]
    pad(rt).set_unplugged(False)
    settle(rt)
    settle(rt)
    view = rt.core.view
    assert "rfid" not in view.device_trouble
    assert sorted(x.key for x in view.lent) == sorted(i.item_id for i in (first, second, third))
    loans = [e for e in rt.store.entries() if e.kind == "checkout"]
    assert len(loans) == 3 and {e.state for e in loans} == {"confirmed"}


def test_renewals_in_the_account_alone_get_a_receipt(rt: Runtime) -> None:
    rt.core.begin_account()
    log_in(rt, ANA)
    rt.core.renew(RENEWABLE)
    rt.core.finish()
    view = rt.core.view
    assert [x.key for x in view.renewed] == [RENEWABLE]
    assert "print" in view.receipt.offer
    rt.core.choose_receipt("print")
    text = receipts(rt)[-1].read_text(encoding="utf-8")
    assert "Na klancu" in text


def test_a_failed_print_leaves_the_other_choices(rt: Runtime) -> None:
    from kiosk.i18n import Localizer
    from kiosk.presenter import present

    log_in(rt, ANA)
    place(rt, plain_items()[0])
    rt.core.finish()
    folder = rt.config.data_path() / "receipts"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")  # the printer cannot print
    rt.core.choose_receipt("print")
    assert rt.core.view.receipt.status == "failed"
    assert "printer" in rt.core.view.device_trouble
    texts = present(rt.core.view, Localizer("en"))
    assert [kind for kind, _label in texts.receipt_choices] == ["email", "none"]
    rt.core.choose_receipt("email")
    assert rt.core.view.receipt.status == "queued"
