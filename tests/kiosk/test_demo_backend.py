"""The embedded demo library, on a real SQLite file in tmp_path."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.backends.demo import (
    ADULT_LOAN_LIMIT,
    CHILD_LOAN_LIMIT,
    FINE_PER_DAY_CENTS,
    DemoLibrary,
    add_working_days,
    format_eur,
)
from kiosk.backends.demo_data import (
    HOME_BRANCH,
    LIBRARY_ISIL,
    SAMPLE_ITEMS,
    SAMPLE_PATRONS,
    item_for_tag,
)
from kiosk.circulation import BackendUnavailable, CirculationBackend, Reason

NOW = dt.datetime(2025, 3, 10, 10, 0)  # a Monday

# Sample records found by what they are for, not by hard-coded numbers.
ADULT = next(
    p
    for p in SAMPLE_PATRONS
    if p.card == next(i.on_loan_to for i in SAMPLE_ITEMS if i.on_loan_to and not i.hold_for)
)
HOLDER = next(p for p in SAMPLE_PATRONS if any(i.hold_for == p.card for i in SAMPLE_ITEMS))
CHILD = next(p for p in SAMPLE_PATRONS if p.is_child)
BLOCKED = next(p for p in SAMPLE_PATRONS if p.blocked)
EXPIRED = next(p for p in SAMPLE_PATRONS if p.expired)
IN_DEBT = next(p for p in SAMPLE_PATRONS if p.fees_cents >= 1000)
SMALL_DEBT = next(p for p in SAMPLE_PATRONS if 0 < p.fees_cents < 1000)

REFERENCE = next(i for i in SAMPLE_ITEMS if i.reference_only)
TWO_PART_SET = next(i for i in SAMPLE_ITEMS if i.parts == 2)
RESERVED_ON_SHELF = next(i for i in SAMPLE_ITEMS if i.hold_for and not i.on_loan_to)
ON_LOAN_RENEWABLE = next(i for i in SAMPLE_ITEMS if i.on_loan_to and not i.hold_for)
ON_LOAN_RESERVED = next(i for i in SAMPLE_ITEMS if i.on_loan_to and i.hold_for)
OTHER_BRANCH = next(i for i in SAMPLE_ITEMS if i.owner_branch != HOME_BRANCH)
FREE = [
    i
    for i in SAMPLE_ITEMS
    if not (i.reference_only or i.hold_for or i.on_loan_to) and i.owner_branch == HOME_BRANCH
]
FREE_BOOK = FREE[0]


def cid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "demo" / "library.db"


@pytest.fixture
def lib(db_path: Path):
    library = DemoLibrary(db_path, clock=lambda: NOW)
    yield library
    library.close()


def open_loan_count(db_path: Path, item_id: str) -> int:
    with sqlite3.connect(db_path) as conn:
        query = "SELECT count(*) FROM loans WHERE item_id = ? AND returned_at IS NULL"
        return conn.execute(query, (item_id,)).fetchone()[0]


# --- sample data ----------------------------------------------------------------------


def test_sample_data_is_complete_and_consistent() -> None:
    assert len(SAMPLE_PATRONS) >= 6 and len(SAMPLE_ITEMS) >= 12
    cards = {p.card for p in SAMPLE_PATRONS}
    assert len(cards) == len(SAMPLE_PATRONS)
    for p in SAMPLE_PATRONS:
        assert p.card.isdigit() and len(p.card) == 10, p
        assert p.pin.isdigit() and len(p.pin) == 4, p
        assert p.note, p
    assert CHILD.birth_year >= 2012
    ids = [i.item_id for i in SAMPLE_ITEMS]
    assert len(set(ids)) == len(ids) and all(i.isdigit() for i in ids)
    for item in SAMPLE_ITEMS:
        assert item.hold_for in cards | {None} and item.on_loan_to in cards | {None}
    assert LIBRARY_ISIL.startswith("SI-") and LIBRARY_ISIL[3:].isdigit()
    assert len(LIBRARY_ISIL[3:]) == 5 and LIBRARY_ISIL != "SI-50001"  # that one is NUK's


def test_tag_uids_are_nxp_like_unique_and_one_per_part() -> None:
    all_uids = [uid for item in SAMPLE_ITEMS for uid in item.tag_uids]
    assert len(set(all_uids)) == len(all_uids)
    for item in SAMPLE_ITEMS:
        assert len(item.tag_uids) == item.parts
        for part, uid in enumerate(item.tag_uids, start=1):
            assert len(uid) == 8 and uid[:3] == b"\xe0\x04\x01"
            assert item_for_tag(uid) == (item, part)
    assert len(TWO_PART_SET.tag_uids) == 2
    assert item_for_tag(b"\xe0\x04\x01\x00\x00\x00\x00\x00") is None


# --- interface and identification -----------------------------------------------------


def test_implements_the_circulation_interface(lib: DemoLibrary) -> None:
    assert isinstance(lib, CirculationBackend)


def test_identify_with_and_without_pin(lib: DemoLibrary) -> None:
    with_pin = lib.identify(ADULT.card, ADULT.pin)
    assert with_pin.ok and with_pin.patron is not None
    assert with_pin.patron.name == ADULT.name
    assert with_pin.patron.loan_limit == ADULT_LOAN_LIMIT
    assert with_pin.patron.loans_count == 2  # seeded loans
    assert lib.identify(f" {ADULT.card}\n").ok  # scanner whitespace
    assert lib.identify(ADULT.card, "0000").reason is Reason.WRONG_PIN
    assert lib.identify("0199999999", "1234").reason is Reason.UNKNOWN_PATRON
    assert lib.identify("").reason is Reason.UNKNOWN_PATRON


def test_identify_child_blocked_expired_and_fees(lib: DemoLibrary) -> None:
    child = lib.identify(CHILD.card, CHILD.pin)
    assert child.ok and child.patron and child.patron.is_child
    assert child.patron.loan_limit == CHILD_LOAN_LIMIT == 8
    blocked = lib.identify(BLOCKED.card, BLOCKED.pin)
    assert blocked.reason is Reason.CARD_BLOCKED
    assert blocked.patron and blocked.patron.name == BLOCKED.name  # so the UI may greet
    assert lib.identify(BLOCKED.card, "0000").reason is Reason.WRONG_PIN
    assert lib.identify(EXPIRED.card).reason is Reason.CARD_EXPIRED
    in_debt = lib.identify(IN_DEBT.card, IN_DEBT.pin)
    assert in_debt.ok and in_debt.patron and in_debt.patron.fees_cents == IN_DEBT.fees_cents


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(card=st.text(max_size=40), pin=st.none() | st.text(max_size=8))
def test_identify_never_raises_on_odd_input(lib: DemoLibrary, card: str, pin: str | None) -> None:
    result = lib.identify(card, pin)
    known = {p.card for p in SAMPLE_PATRONS}
    assert (result.reason is Reason.UNKNOWN_PATRON) == (card.strip() not in known)


# --- checkout -------------------------------------------------------------------------


def test_checkout_lends_for_21_days(lib: DemoLibrary, db_path: Path) -> None:
    result = lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=cid(), when=NOW)
    assert result.ok
    assert result.due == dt.date(2025, 3, 31)
    assert result.item and result.item.title == FREE_BOOK.title
    assert (result.item, result.due) in lib.loans(ADULT.card)
    assert open_loan_count(db_path, FREE_BOOK.item_id) == 1


def test_loan_days_is_configurable(tmp_path: Path) -> None:
    lib = DemoLibrary(tmp_path / "short.db", loan_days=14, clock=lambda: NOW)
    try:
        result = lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=cid(), when=NOW)
        assert result.due == NOW.date() + dt.timedelta(days=14)
    finally:
        lib.close()


REFUSALS = [
    ("unknown item", ADULT.card, "34009999999", Reason.UNKNOWN_ITEM),
    ("reference only", ADULT.card, REFERENCE.item_id, Reason.REFERENCE_ONLY),
    ("unknown patron", "0199999999", FREE_BOOK.item_id, Reason.UNKNOWN_PATRON),
    ("blocked card", BLOCKED.card, FREE_BOOK.item_id, Reason.CARD_BLOCKED),
    ("expired card", EXPIRED.card, FREE_BOOK.item_id, Reason.CARD_EXPIRED),
    ("fees", IN_DEBT.card, FREE_BOOK.item_id, Reason.FEES_OVER_LIMIT),
    ("mine already", ADULT.card, ON_LOAN_RENEWABLE.item_id, Reason.ALREADY_ON_LOAN_TO_YOU),
    ("someone else's", HOLDER.card, ON_LOAN_RENEWABLE.item_id, Reason.ON_LOAN_TO_OTHER),
    ("reserved", ADULT.card, RESERVED_ON_SHELF.item_id, Reason.RESERVED_FOR_OTHER),
    # Reference-only wins over a blocked card: the order of checks is part of the contract.
    ("order: item first", BLOCKED.card, REFERENCE.item_id, Reason.REFERENCE_ONLY),
]


@pytest.mark.parametrize(
    ("card", "item_id", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_checkout_refusals(
    lib: DemoLibrary, db_path: Path, card: str, item_id: str, reason: Reason
) -> None:
    before = open_loan_count(db_path, item_id)
    result = lib.checkout(card, item_id, client_id=cid(), when=NOW)
    assert result.reason is reason
    assert not result.ok and result.server_text
    assert open_loan_count(db_path, item_id) == before  # a refusal changes nothing


def test_already_on_loan_to_you_tells_the_due_date(lib: DemoLibrary) -> None:
    result = lib.checkout(ADULT.card, ON_LOAN_RENEWABLE.item_id, client_id=cid(), when=NOW)
    assert result.reason is Reason.ALREADY_ON_LOAN_TO_YOU
    assert result.due is not None and result.due > NOW.date()


def test_fees_under_the_limit_do_not_stop_checkout(lib: DemoLibrary) -> None:
    assert lib.checkout(SMALL_DEBT.card, FREE_BOOK.item_id, client_id=cid(), when=NOW).ok


def test_own_hold_is_fulfilled_by_the_loan(lib: DemoLibrary) -> None:
    loan = lib.checkout(HOLDER.card, RESERVED_ON_SHELF.item_id, client_id=cid(), when=NOW)
    assert loan.ok
    back = lib.checkin(RESERVED_ON_SHELF.item_id, client_id=cid(), when=NOW)
    assert back.ok and back.destination == "shelf"  # the hold is gone
    assert lib.checkout(ADULT.card, RESERVED_ON_SHELF.item_id, client_id=cid(), when=NOW).ok


def test_two_part_set_is_one_loan(lib: DemoLibrary) -> None:
    before = lib.identify(CHILD.card).patron
    result = lib.checkout(CHILD.card, TWO_PART_SET.item_id, client_id=cid(), when=NOW)
    after = lib.identify(CHILD.card).patron
    assert result.ok and result.item and result.item.parts == 2
    assert before and after and after.loans_count == before.loans_count + 1


def test_child_loan_limit(lib: DemoLibrary, db_path: Path) -> None:
    assert len(FREE) > CHILD_LOAN_LIMIT
    for item in FREE[:CHILD_LOAN_LIMIT]:
        assert lib.checkout(CHILD.card, item.item_id, client_id=cid(), when=NOW).ok
    extra = FREE[CHILD_LOAN_LIMIT]
    refused = lib.checkout(CHILD.card, extra.item_id, client_id=cid(), when=NOW)
    assert refused.reason is Reason.LOAN_LIMIT
    assert open_loan_count(db_path, extra.item_id) == 0
    # An adult may still take it: the limit is the child's, not the item's.
    assert lib.checkout(ADULT.card, extra.item_id, client_id=cid(), when=NOW).ok


# --- idempotency and durability -------------------------------------------------------


def test_same_client_id_is_one_loan_with_the_same_answer(lib: DemoLibrary, db_path: Path) -> None:
    key = cid()
    first = lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW)
    again = lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW)
    assert first.ok and again == first  # not ALREADY_ON_LOAN_TO_YOU: it is the same loan
    assert open_loan_count(db_path, FREE_BOOK.item_id) == 1


def test_same_client_id_after_reopening(db_path: Path) -> None:
    key, back_key = cid(), cid()
    lib = DemoLibrary(db_path, clock=lambda: NOW)
    first = lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW)
    returned = lib.checkin(ON_LOAN_RESERVED.item_id, client_id=back_key, when=NOW)
    fees = lib.identify(ADULT.card).patron.fees_cents  # type: ignore[union-attr]
    lib.close()

    reopened = DemoLibrary(db_path, clock=lambda: NOW + dt.timedelta(days=1))
    try:
        assert reopened.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW) == first
        assert reopened.checkin(ON_LOAN_RESERVED.item_id, client_id=back_key, when=NOW) == returned
        assert reopened.identify(ADULT.card).patron.fees_cents == fees  # type: ignore[union-attr]
        assert open_loan_count(db_path, FREE_BOOK.item_id) == 1
        assert len(reopened.loans(ADULT.card)) == 2  # seed not loaded twice, Alamut returned
    finally:
        reopened.close()


def test_a_recorded_refusal_is_replayed_too(lib: DemoLibrary) -> None:
    key = cid()
    refused = lib.checkout(ADULT.card, RESERVED_ON_SHELF.item_id, client_id=key, when=NOW)
    assert refused.reason is Reason.RESERVED_FOR_OTHER
    lib.checkout(HOLDER.card, RESERVED_ON_SHELF.item_id, client_id=cid(), when=NOW)
    lib.checkin(RESERVED_ON_SHELF.item_id, client_id=cid(), when=NOW)  # now free
    assert lib.checkout(ADULT.card, RESERVED_ON_SHELF.item_id, client_id=key, when=NOW) == refused


def test_reused_client_id_for_another_request_is_refused(lib: DemoLibrary, db_path: Path) -> None:
    key = cid()
    assert lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW).ok
    other = lib.checkout(ADULT.card, FREE[1].item_id, client_id=key, when=NOW)
    assert other.reason is Reason.OTHER and key in other.server_text
    assert open_loan_count(db_path, FREE[1].item_id) == 0
    misuse = lib.checkin(FREE_BOOK.item_id, client_id=key, when=NOW)
    assert misuse.reason is Reason.OTHER and misuse.destination == "staff"
    assert open_loan_count(db_path, FREE_BOOK.item_id) == 1
    with pytest.raises(ValueError, match="client_id"):
        lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=" ", when=NOW)


def test_a_failure_mid_transaction_leaves_neither_loan_nor_record(
    lib: DemoLibrary, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kiosk.backends.demo as demo

    def broken(_result: object) -> str:
        raise RuntimeError("disk gone between the loan and its record")

    monkeypatch.setattr(demo, "_result_to_json", broken)
    key = cid()
    with pytest.raises(RuntimeError):
        lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW)
    monkeypatch.undo()
    assert open_loan_count(db_path, FREE_BOOK.item_id) == 0
    assert lib.checkout(ADULT.card, FREE_BOOK.item_id, client_id=key, when=NOW).ok


KILL_CHILD = textwrap.dedent("""
    import datetime as dt, sys
    from kiosk.backends.demo import DemoLibrary
    now = dt.datetime(2025, 3, 10, 10, 0)
    lib = DemoLibrary(sys.argv[1], clock=lambda: now)
    print("ready", flush=True)
    n = 0
    while True:  # lend and return one book until killed
        lib.checkout(sys.argv[2], sys.argv[3], client_id=f"k-{n}", when=now)
        n += 1
        lib.checkin(sys.argv[3], client_id=f"k-{n}", when=now)
        n += 1
""")


def test_kill_9_leaves_loans_and_records_in_step(db_path: Path) -> None:
    DemoLibrary(db_path, clock=lambda: NOW).close()  # create and seed first
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_CHILD, str(db_path), ADULT.card, FREE_BOOK.item_id],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout and proc.stdout.readline().strip() == "ready"
        time.sleep(0.4)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(db_path) as conn:
        recorded = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
        loans, returned = conn.execute(
            "SELECT count(*), count(returned_at) FROM loans WHERE item_id = ?",
            (FREE_BOOK.item_id,),
        ).fetchone()
    assert recorded > 2  # the child really worked before it died
    assert loans == (recorded + 1) // 2 and returned == recorded // 2


# --- checkin --------------------------------------------------------------------------


def test_checkin_with_a_hold_waiting_goes_to_the_holds_shelf(lib: DemoLibrary) -> None:
    result = lib.checkin(ON_LOAN_RESERVED.item_id, client_id=cid(), when=NOW)
    assert result.ok and result.destination == "holds_shelf"
    assert ON_LOAN_RESERVED.item_id not in {i.item_id for i, _ in lib.loans(ADULT.card)}
    # Kept for the holder only, 3 working days: Monday -> Thursday.
    assert "2025-03-13" in result.server_text
    refused = lib.checkout(ADULT.card, ON_LOAN_RESERVED.item_id, client_id=cid(), when=NOW)
    assert refused.reason is Reason.RESERVED_FOR_OTHER
    assert lib.checkout(HOLDER.card, ON_LOAN_RESERVED.item_id, client_id=cid(), when=NOW).ok


def test_uncollected_hold_lapses(lib: DemoLibrary) -> None:
    lib.checkin(ON_LOAN_RESERVED.item_id, client_id=cid(), when=NOW)
    later = NOW + dt.timedelta(days=4)  # Friday: kept until Thursday
    assert lib.checkout(ADULT.card, ON_LOAN_RESERVED.item_id, client_id=cid(), when=later).ok


def test_overdue_return_charges_adults_once(lib: DemoLibrary) -> None:
    loans = dict((i.item_id, due) for i, due in lib.loans(ADULT.card))
    days_late = (NOW.date() - loans[ON_LOAN_RESERVED.item_id]).days
    assert days_late > 0  # the seed makes this loan overdue
    key = cid()
    result = lib.checkin(ON_LOAN_RESERVED.item_id, client_id=key, when=NOW)
    assert format_eur(days_late * FINE_PER_DAY_CENTS) in result.server_text
    lib.checkin(ON_LOAN_RESERVED.item_id, client_id=key, when=NOW)  # replay: no second fine
    patron = lib.identify(ADULT.card).patron
    assert patron and patron.fees_cents == days_late * FINE_PER_DAY_CENTS


def test_children_pay_no_fines(lib: DemoLibrary) -> None:
    lent = lib.checkout(CHILD.card, FREE_BOOK.item_id, client_id=cid(), when=NOW)
    late = dt.datetime.combine(lent.due, NOW.time()) + dt.timedelta(days=5)  # type: ignore[arg-type]
    assert lib.checkin(FREE_BOOK.item_id, client_id=cid(), when=late).ok
    assert lib.identify(CHILD.card).patron.fees_cents == 0  # type: ignore[union-attr]


def test_checkin_destinations(lib: DemoLibrary) -> None:
    lib.checkout(ADULT.card, OTHER_BRANCH.item_id, client_id=cid(), when=NOW)
    assert lib.checkin(OTHER_BRANCH.item_id, client_id=cid(), when=NOW).destination == (
        "other_branch"
    )
    on_time = lib.checkin(ON_LOAN_RENEWABLE.item_id, client_id=cid(), when=NOW)
    assert on_time.ok and on_time.destination == "shelf" and "fine" not in on_time.server_text
    not_lent = lib.checkin(FREE_BOOK.item_id, client_id=cid(), when=NOW)
    assert not_lent.reason is Reason.NOT_ON_LOAN and not_lent.destination == "shelf"
    assert not_lent.item and not_lent.item.item_id == FREE_BOOK.item_id
    unknown = lib.checkin("34009999999", client_id=cid(), when=NOW)
    assert unknown.reason is Reason.UNKNOWN_ITEM and unknown.destination == "staff"


# --- renewal --------------------------------------------------------------------------


def test_renewal_runs_at_most_63_days_from_the_loan(lib: DemoLibrary) -> None:
    item = ON_LOAN_RENEWABLE.item_id
    seeded_due = dict((i.item_id, d) for i, d in lib.loans(ADULT.card))[item]
    loaned_on = seeded_due - dt.timedelta(days=21)
    renewed = lib.renew(ADULT.card, item, client_id=cid(), when=NOW)
    assert renewed.ok and renewed.due == NOW.date() + dt.timedelta(days=21)
    last_chance = dt.datetime.combine(loaned_on + dt.timedelta(days=42), NOW.time())
    at_limit = lib.renew(ADULT.card, item, client_id=cid(), when=last_chance)
    assert at_limit.ok and at_limit.due == loaned_on + dt.timedelta(days=63)
    too_late = last_chance + dt.timedelta(days=1)
    refused = lib.renew(ADULT.card, item, client_id=cid(), when=too_late)
    assert refused.reason is Reason.RENEWAL_LIMIT and refused.due == at_limit.due
    assert dict((i.item_id, d) for i, d in lib.loans(ADULT.card))[item] == at_limit.due


def test_renewal_refusals(lib: DemoLibrary) -> None:
    def renew(card: str, item_id: str) -> Reason:
        return lib.renew(card, item_id, client_id=cid(), when=NOW).reason

    assert renew(ADULT.card, ON_LOAN_RESERVED.item_id) is Reason.RESERVED_FOR_OTHER
    assert renew(ADULT.card, FREE_BOOK.item_id) is Reason.NOT_ON_LOAN
    assert renew(HOLDER.card, ON_LOAN_RENEWABLE.item_id) is Reason.ON_LOAN_TO_OTHER
    assert renew(ADULT.card, "34009999999") is Reason.UNKNOWN_ITEM
    assert renew("0199999999", ON_LOAN_RENEWABLE.item_id) is Reason.UNKNOWN_PATRON


def test_renew_is_idempotent(lib: DemoLibrary) -> None:
    key = cid()
    first = lib.renew(ADULT.card, ON_LOAN_RENEWABLE.item_id, client_id=key, when=NOW)
    later = NOW + dt.timedelta(days=5)
    assert lib.renew(ADULT.card, ON_LOAN_RENEWABLE.item_id, client_id=key, when=NOW) == first
    # Same key, other time: another request, refused without touching the loan.
    assert (
        lib.renew(ADULT.card, ON_LOAN_RENEWABLE.item_id, client_id=key, when=later).reason
        is Reason.OTHER
    )


# --- sharing one file -----------------------------------------------------------------


def test_two_instances_see_each_other(db_path: Path) -> None:
    a = DemoLibrary(db_path, clock=lambda: NOW)
    b = DemoLibrary(db_path, clock=lambda: NOW)
    try:
        assert a.checkout(ADULT.card, FREE_BOOK.item_id, client_id=cid(), when=NOW).ok
        seen = b.checkout(HOLDER.card, FREE_BOOK.item_id, client_id=cid(), when=NOW)
        assert seen.reason is Reason.ON_LOAN_TO_OTHER
        assert b.checkin(FREE_BOOK.item_id, client_id=cid(), when=NOW).ok
        assert FREE_BOOK.item_id not in {i.item_id for i, _ in a.loans(ADULT.card)}
        with sqlite3.connect(db_path) as conn:  # seeded once although opened twice
            assert conn.execute("SELECT count(*) FROM patrons").fetchone()[0] == len(SAMPLE_PATRONS)
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        a.close()
        b.close()


def test_concurrent_checkouts_of_one_item_lend_it_once(db_path: Path) -> None:
    libs = [DemoLibrary(db_path, clock=lambda: NOW) for _ in range(2)]
    cards = [ADULT.card, HOLDER.card, CHILD.card, SMALL_DEBT.card]
    reasons: list[Reason] = []
    start = threading.Barrier(len(cards))

    def borrow(n: int) -> None:
        start.wait()
        result = libs[n % 2].checkout(cards[n], FREE_BOOK.item_id, client_id=cid(), when=NOW)
        reasons.append(result.reason)

    threads = [threading.Thread(target=borrow, args=(n,)) for n in range(len(cards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    for library in libs:
        library.close()
    assert sorted(reasons) == sorted([Reason.OK] + [Reason.ON_LOAN_TO_OTHER] * 3)
    assert open_loan_count(db_path, FREE_BOOK.item_id) == 1


# --- failure and health ---------------------------------------------------------------


def test_corrupt_file_is_unavailable_with_a_plain_message(tmp_path: Path) -> None:
    bad = tmp_path / "library.db"
    bad.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(BackendUnavailable, match=r"library\.db") as caught:
        DemoLibrary(bad)
    assert "Traceback" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_unusable_path_is_unavailable(tmp_path: Path, where: str) -> None:
    if where == "folder":
        path = tmp_path / "is_a_dir"
        path.mkdir()
    else:
        (tmp_path / "plain_file").write_text("x")
        path = tmp_path / "plain_file" / "library.db"
    with pytest.raises(BackendUnavailable, match="demo library"):
        DemoLibrary(path)


def test_status_and_close(lib: DemoLibrary) -> None:
    status = lib.status()
    assert status.online and status.detail == "embedded demo library"
    assert status.latency_ms is not None and status.latency_ms >= 0
    lib.close()
    assert not lib.status().online
    with pytest.raises(BackendUnavailable, match="closed"):
        lib.identify(ADULT.card)
    lib.close()  # closing twice is harmless


def test_slovenian_titles_survive_the_round_trip(db_path: Path) -> None:
    DemoLibrary(db_path, clock=lambda: NOW).close()
    lib = DemoLibrary(db_path, clock=lambda: NOW)
    try:
        for sample in SAMPLE_ITEMS:
            item = lib.item_info(sample.item_id)
            assert item and (item.title, item.author) == (sample.title, sample.author)
        assert any(c in "".join(i.title + i.author for i in SAMPLE_ITEMS) for c in "čšžČŠŽ")
        assert lib.item_info("Čefurji") is None
        child = lib.identify(CHILD.card).patron
        assert child and child.name == CHILD.name
    finally:
        lib.close()


def test_helpers() -> None:
    assert format_eur(1250) == "12,50\xa0€" and format_eur(123450) == "1.234,50\xa0€"
    assert add_working_days(dt.date(2025, 3, 14), 3) == dt.date(2025, 3, 19)  # Fri -> Wed


# --- account, item status and renew-all (the SIP2 server serves these) ------------------


def test_summary_lists_loans_with_overdue_marks_holds_and_fees(tmp_path: Path) -> None:
    from kiosk.backends.demo_data import ANA, MARKO

    lib = DemoLibrary(tmp_path / "ils.sqlite")
    try:
        ana = lib.summary(ANA)
        assert ana is not None and ana.patron.patron_id == ANA
        assert len(ana.loans) == 2 and any(loan.overdue for loan in ana.loans)
        assert lib.summary("0000000000") is None
        # Ana returns the book Marko reserved: it is ready for him on the holds shelf.
        overdue = next(loan for loan in ana.loans if loan.overdue)
        lib.checkin(overdue.item.item_id, client_id="c-1", when=dt.datetime.now())
        marko = lib.summary(MARKO)
        assert marko is not None
        assert [h.item.item_id for h in marko.holds_ready] == [overdue.item.item_id]
        assert marko.holds_ready[0].until is not None
    finally:
        lib.close()


def test_item_status_states(tmp_path: Path) -> None:
    from kiosk.backends.demo_data import SAMPLE_ITEMS
    from kiosk.circulation import ItemState

    lib = DemoLibrary(tmp_path / "ils.sqlite")
    try:
        reference = next(i for i in SAMPLE_ITEMS if i.reference_only)
        on_loan = next(i for i in SAMPLE_ITEMS if i.on_loan_to and i.hold_for)
        free = next(i for i in SAMPLE_ITEMS if not (i.reference_only or i.on_loan_to or i.hold_for))
        assert lib.item_status(reference.item_id).state is ItemState.NOT_FOR_LOAN
        status = lib.item_status(on_loan.item_id)
        assert status.state is ItemState.ON_LOAN and status.due and status.holds_queue == 1
        assert lib.item_status(free.item_id).state is ItemState.AVAILABLE
        assert lib.item_status("nope") is None
    finally:
        lib.close()


def test_renew_all_answers_per_item_and_is_idempotent(tmp_path: Path) -> None:
    from kiosk.backends.demo_data import ANA

    lib = DemoLibrary(tmp_path / "ils.sqlite")
    try:
        when = dt.datetime.now()
        first = lib.renew_all(ANA, client_id="r-1", when=when)
        assert first.reason is Reason.OK
        assert len(first.results) == 2
        assert len(first.renewed) == 1 and len(first.refused) == 1  # one is reserved by Marko
        assert first.refused[0].reason is Reason.RESERVED_FOR_OTHER
        again = lib.renew_all(ANA, client_id="r-1", when=when)
        assert again.results == first.results
        assert lib.renew_all("0000000000", client_id="r-2", when=when).reason is (
            Reason.UNKNOWN_PATRON
        )
    finally:
        lib.close()


# --- offline replays (store-and-forward, no block) ---------------------------------------

OFFLINE_AT = NOW - dt.timedelta(hours=20)  # the loan happened at the kiosk yesterday
OFFLINE_DUE = OFFLINE_AT.date() + dt.timedelta(days=21)


def offline_checkout(lib: DemoLibrary, card: str, item_id: str, **kwargs):
    kwargs.setdefault("client_id", cid())
    kwargs.setdefault("when", OFFLINE_AT)
    kwargs.setdefault("offline_due", OFFLINE_DUE)
    return lib.checkout(card, item_id, **kwargs)


def loan_rows(db_path: Path, item_id: str) -> list[tuple[str, str, str, dt.datetime | None]]:
    """(card, loaned_on, due, returned_at) of every loan of the item, oldest first."""
    with sqlite3.connect(db_path) as conn:
        query = "SELECT card, loaned_on, due, returned_at FROM loans WHERE item_id = ? ORDER BY id"
        rows = conn.execute(query, (item_id,)).fetchall()
    return [
        (card, on, due, dt.datetime.fromisoformat(back) if back else None)
        for card, on, due, back in rows
    ]


def fees(lib: DemoLibrary, card: str) -> int:
    patron = lib.identify(card).patron
    assert patron is not None
    return patron.fees_cents


def test_offline_loan_is_recorded_with_the_kiosks_due_date_and_day(
    lib: DemoLibrary, db_path: Path
) -> None:
    result = offline_checkout(lib, ADULT.card, FREE_BOOK.item_id)
    assert (result.reason, result.due, result.conflicts) == (Reason.OK, OFFLINE_DUE, ())
    assert result.item is not None and result.item.title == FREE_BOOK.title
    assert loan_rows(db_path, FREE_BOOK.item_id) == [
        (ADULT.card, OFFLINE_AT.date().isoformat(), OFFLINE_DUE.isoformat(), None)
    ]


def test_offline_loan_of_a_reserved_item_keeps_the_hold_and_names_the_conflict(
    lib: DemoLibrary,
) -> None:
    result = offline_checkout(lib, ADULT.card, RESERVED_ON_SHELF.item_id)
    assert result.ok and result.conflicts == (Reason.RESERVED_FOR_OTHER,)
    assert "offline loan recorded" in result.server_text  # for staff and logs
    status = lib.item_status(RESERVED_ON_SHELF.item_id)
    assert status is not None and status.holds_queue == 1  # the holder still waits
    back = lib.checkin(RESERVED_ON_SHELF.item_id, client_id=cid(), when=NOW)
    assert back.ok and back.destination == "holds_shelf"  # ... and gets it when it is back


def test_offline_loan_of_an_item_on_the_holds_shelf_puts_the_hold_back_in_waiting(
    lib: DemoLibrary,
) -> None:
    lib.checkin(ON_LOAN_RESERVED.item_id, client_id=cid(), when=OFFLINE_AT)  # ready for holder
    summary = lib.summary(HOLDER.card)
    assert summary is not None and len(summary.holds_ready) == 1
    result = offline_checkout(lib, SMALL_DEBT.card, ON_LOAN_RESERVED.item_id)
    assert result.ok and result.conflicts == (Reason.RESERVED_FOR_OTHER,)
    summary = lib.summary(HOLDER.card)
    assert summary is not None and summary.holds_ready == ()  # no longer on the shelf
    assert lib.holds_waiting(HOLDER.card).count(ON_LOAN_RESERVED.item_id) == 1


def test_offline_loan_fulfils_the_patrons_own_hold(lib: DemoLibrary) -> None:
    result = offline_checkout(lib, HOLDER.card, RESERVED_ON_SHELF.item_id)
    assert result.ok and result.conflicts == ()
    status = lib.item_status(RESERVED_ON_SHELF.item_id)
    assert status is not None and status.holds_queue == 0
    assert RESERVED_ON_SHELF.item_id not in lib.holds_waiting(HOLDER.card)


@pytest.mark.parametrize(
    ("patron", "conflict"),
    [
        (BLOCKED, Reason.CARD_BLOCKED),
        (EXPIRED, Reason.CARD_EXPIRED),
        (IN_DEBT, Reason.FEES_OVER_LIMIT),
    ],
    ids=["blocked", "expired", "fees"],
)
def test_offline_loan_on_a_card_that_may_not_borrow_is_recorded(
    lib: DemoLibrary, db_path: Path, patron, conflict: Reason
) -> None:
    result = offline_checkout(lib, patron.card, FREE_BOOK.item_id)
    assert result.ok and result.conflicts == (conflict,)
    assert [row[0] for row in loan_rows(db_path, FREE_BOOK.item_id)] == [patron.card]


def test_offline_conflicts_are_all_listed_in_a_fixed_order(lib: DemoLibrary) -> None:
    result = offline_checkout(lib, BLOCKED.card, ON_LOAN_RESERVED.item_id)
    assert result.ok
    assert result.conflicts == (
        Reason.ON_LOAN_TO_OTHER,
        Reason.RESERVED_FOR_OTHER,
        Reason.CARD_BLOCKED,
    )


def test_offline_loan_over_the_loan_limit_is_recorded(lib: DemoLibrary, db_path: Path) -> None:
    for item in FREE[:CHILD_LOAN_LIMIT]:
        assert lib.checkout(CHILD.card, item.item_id, client_id=cid(), when=OFFLINE_AT).ok
    extra = FREE[CHILD_LOAN_LIMIT].item_id
    result = offline_checkout(lib, CHILD.card, extra)
    assert result.ok and result.conflicts == (Reason.LOAN_LIMIT,)
    assert open_loan_count(db_path, extra) == 1


def test_offline_loan_of_a_reference_item_is_recorded_as_out(lib: DemoLibrary) -> None:
    from kiosk.circulation import ItemState

    # It left the building: a loan, whatever the rules say; staff get the conflict.
    result = offline_checkout(lib, ADULT.card, REFERENCE.item_id)
    assert result.ok and result.conflicts == (Reason.REFERENCE_ONLY,)
    status = lib.item_status(REFERENCE.item_id)
    assert status is not None and status.state is ItemState.ON_LOAN


@pytest.mark.parametrize(
    ("card", "item_id", "reason"),
    [
        (ADULT.card, "34009999999", Reason.UNKNOWN_ITEM),
        ("0199999999", FREE_BOOK.item_id, Reason.UNKNOWN_PATRON),
    ],
    ids=["unknown item", "unknown patron"],
)
def test_an_offline_loan_that_cannot_be_recorded_is_refused(
    lib: DemoLibrary, db_path: Path, card: str, item_id: str, reason: Reason
) -> None:
    result = offline_checkout(lib, card, item_id)
    assert result.reason is reason and result.conflicts == ()
    assert open_loan_count(db_path, item_id) == 0


def test_offline_loan_of_an_item_still_lent_to_someone_else_moves_the_loan(
    lib: DemoLibrary, db_path: Path
) -> None:
    item = ON_LOAN_RENEWABLE.item_id  # the adult's, not overdue
    result = offline_checkout(lib, SMALL_DEBT.card, item)
    assert result.ok and result.conflicts == (Reason.ON_LOAN_TO_OTHER,)
    rows = loan_rows(db_path, item)
    assert [(card, returned) for card, _on, _due, returned in rows] == [
        (ADULT.card, OFFLINE_AT),  # ended when it was lent again
        (SMALL_DEBT.card, None),
    ]
    assert item not in {i.item_id for i, _due in lib.loans(ADULT.card)}
    assert fees(lib, ADULT.card) == 0  # not overdue then: no fine


def test_offline_loan_already_on_loan_to_the_patron_records_nothing_new(
    lib: DemoLibrary, db_path: Path
) -> None:
    item = ON_LOAN_RENEWABLE.item_id
    due = dict((i.item_id, d) for i, d in lib.loans(ADULT.card))[item]
    result = offline_checkout(lib, ADULT.card, item)
    assert (result.reason, result.due, result.conflicts) == (Reason.OK, due, ())
    assert len(loan_rows(db_path, item)) == 1


def test_replayed_offline_loan_is_one_loan_with_the_same_answer(
    lib: DemoLibrary, db_path: Path
) -> None:
    key = cid()
    first = offline_checkout(lib, BLOCKED.card, RESERVED_ON_SHELF.item_id, client_id=key)
    assert first.conflicts == (Reason.RESERVED_FOR_OTHER, Reason.CARD_BLOCKED)
    again = offline_checkout(lib, BLOCKED.card, RESERVED_ON_SHELF.item_id, client_id=key)
    assert again == first
    assert len(loan_rows(db_path, RESERVED_ON_SHELF.item_id)) == 1
    # The same key for the same loan with another due date is another request: not done.
    other_due = OFFLINE_DUE + dt.timedelta(days=7)
    misuse = offline_checkout(
        lib, BLOCKED.card, RESERVED_ON_SHELF.item_id, client_id=key, offline_due=other_due
    )
    assert misuse.reason is Reason.OTHER and key in misuse.server_text
    # ... and so is an online checkout under an offline loan's key.
    online = lib.checkout(BLOCKED.card, RESERVED_ON_SHELF.item_id, client_id=key, when=OFFLINE_AT)
    assert online.reason is Reason.OTHER


def test_offline_answers_survive_reopening_and_online_keys_keep_their_fingerprint(
    db_path: Path,
) -> None:
    lib = DemoLibrary(db_path, clock=lambda: NOW)
    key, online_key = cid(), cid()
    first = offline_checkout(lib, IN_DEBT.card, FREE_BOOK.item_id, client_id=key)
    lib.checkout(ADULT.card, FREE[1].item_id, client_id=online_key, when=NOW)
    lib.close()
    with sqlite3.connect(db_path) as conn:
        (fingerprint,) = conn.execute(
            "SELECT fingerprint FROM transactions WHERE client_id = ?", (online_key,)
        ).fetchone()
    # The format recorded before offline replays existed: old answers still match.
    assert fingerprint == f'["checkout", "{ADULT.card}", "{FREE[1].item_id}", "{NOW.isoformat()}"]'
    reopened = DemoLibrary(db_path, clock=lambda: NOW)
    try:
        again = offline_checkout(reopened, IN_DEBT.card, FREE_BOOK.item_id, client_id=key)
        assert again == first and again.conflicts == (Reason.FEES_OVER_LIMIT,)
    finally:
        reopened.close()


def test_a_file_from_before_offline_replays_gets_the_new_column(db_path: Path) -> None:
    lib = DemoLibrary(db_path, clock=lambda: NOW)
    lib.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE loans DROP COLUMN loaned_at")
    reopened = DemoLibrary(db_path, clock=lambda: NOW)
    try:
        assert len(reopened.loans(ADULT.card)) == 2
        assert offline_checkout(reopened, SMALL_DEBT.card, ON_LOAN_RENEWABLE.item_id).ok
    finally:
        reopened.close()


def test_offline_return_at_a_past_time_charges_the_fine_as_of_then(lib: DemoLibrary) -> None:
    item = ON_LOAN_RESERVED.item_id
    due = dict((i.item_id, d) for i, d in lib.loans(ADULT.card))[item]
    returned_at = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(16, 0))
    assert returned_at < NOW - dt.timedelta(days=1)  # the library's today is later
    result = lib.checkin(item, client_id=cid(), when=returned_at, offline=True)
    assert result.ok and result.destination == "holds_shelf"
    assert fees(lib, ADULT.card) == FINE_PER_DAY_CENTS  # one day late, not as of today


def test_replayed_offline_return_is_one_return(lib: DemoLibrary) -> None:
    key = cid()
    item = ON_LOAN_RESERVED.item_id
    first = lib.checkin(item, client_id=key, when=OFFLINE_AT, offline=True)
    assert lib.checkin(item, client_id=key, when=OFFLINE_AT, offline=True) == first
    assert fees(lib, ADULT.card) > 0
    misuse = lib.checkin(item, client_id=key, when=OFFLINE_AT)  # not the offline request
    assert misuse.reason is Reason.OTHER


def test_a_return_replayed_after_the_next_loan_corrects_the_ended_loan(
    lib: DemoLibrary, db_path: Path
) -> None:
    """Two kiosks offline: A's return (kiosk 1) reaches the library after B's loan
    (kiosk 2). B's loan stays; A's loan ends when A really returned it."""
    item = ON_LOAN_RESERVED.item_id  # the adult's, overdue, reserved by the holder
    due = dict((i.item_id, d) for i, d in lib.loans(ADULT.card))[item]
    returned = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(10, 0))
    lent = dt.datetime.combine(due + dt.timedelta(days=3), dt.time(11, 0))
    loan = offline_checkout(lib, SMALL_DEBT.card, item, when=lent)
    assert loan.conflicts == (Reason.ON_LOAN_TO_OTHER, Reason.RESERVED_FOR_OTHER)
    assert fees(lib, ADULT.card) == 3 * FINE_PER_DAY_CENTS  # as if returned when lent again
    back = lib.checkin(item, client_id=cid(), when=returned, offline=True)
    assert back.ok and "return recorded" in back.server_text
    assert fees(lib, ADULT.card) == FINE_PER_DAY_CENTS  # one day late after all
    rows = loan_rows(db_path, item)
    assert [(card, returned_at) for card, _on, _due, returned_at in rows] == [
        (ADULT.card, returned),
        (SMALL_DEBT.card, None),  # B still has it
    ]


def test_a_loan_replayed_after_the_next_loan_is_recorded_as_ended(
    lib: DemoLibrary, db_path: Path
) -> None:
    """B borrows and returns at kiosk 2 offline; C borrows the item at kiosk 1 in between
    the replays. C's loan is never ended by B's late replays."""
    item = FREE_BOOK.item_id
    b_lent, b_back = NOW - dt.timedelta(hours=6), NOW - dt.timedelta(hours=5)
    c_lent = NOW - dt.timedelta(hours=4)
    assert lib.checkout(ADULT.card, item, client_id=cid(), when=c_lent).ok
    b_loan = offline_checkout(lib, SMALL_DEBT.card, item, when=b_lent)
    assert b_loan.ok and "ended" in b_loan.server_text
    stray = lib.checkin(item, client_id=cid(), when=b_back, offline=True)
    assert stray.ok
    rows = loan_rows(db_path, item)
    assert [(card, returned_at) for card, _on, _due, returned_at in rows] == [
        (ADULT.card, None),
        (SMALL_DEBT.card, b_back),
    ]
    # A return from before any loan of the item began ends nothing.
    older = lib.checkin(item, client_id=cid(), when=b_lent - dt.timedelta(days=1), offline=True)
    assert older.reason is Reason.NOT_ON_LOAN
    assert open_loan_count(db_path, item) == 1


def test_blocked_cards_lists_blocked_and_expired_cards(lib: DemoLibrary) -> None:
    assert lib.blocked_cards() == tuple(sorted((BLOCKED.card, EXPIRED.card)))
    assert IN_DEBT.card not in lib.blocked_cards()  # fees are paid and change: not listed
