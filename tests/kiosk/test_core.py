"""The whole patron journey, headless, on real parts: the SQLite store, the
embedded demo library and the simulated card reader and RFID pad."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from drivers.base import CardRead
from drivers.sim import SimCardReader, SimTagReader
from kiosk.backends.demo_data import (
    ANA,
    MAJA,
    SAMPLE_ITEMS,
    SAMPLE_PATRONS,
    SampleItem,
)
from kiosk.circulation import Reason
from kiosk.config import KioskConfig
from kiosk.demo import DemoTag, demo_tags
from kiosk.runtime import Runtime
from kiosk.session import LineStatus, State
from tests.kiosk.conftest import FakeClock

AFI_IN_LIBRARY, AFI_ON_LOAN = 0x07, 0xC2


def pad(rt: Runtime) -> SimTagReader:
    assert isinstance(rt.tag_reader, SimTagReader)
    return rt.tag_reader


def cards(rt: Runtime) -> SimCardReader:
    assert isinstance(rt.card_reader, SimCardReader)
    return rt.card_reader


def pin_of(card: str) -> str:
    return next(p.pin for p in SAMPLE_PATRONS if p.card == card)


def tags_of(item: SampleItem) -> list[DemoTag]:
    return [t for t in demo_tags() if t.item_id == item.item_id]


def plain_items() -> list[SampleItem]:
    return [
        i
        for i in SAMPLE_ITEMS
        if i.parts == 1
        and not (i.reference_only or i.hold_for or i.on_loan_to)
        and i.owner_branch == "MB"
    ]


def settle(rt: Runtime) -> None:
    """Poll as often as the pad needs to trust what it sees (rfid.min_reads)."""
    for _ in range(rt.config.rfid.min_reads):
        rt.core.poll_devices()


def place(rt: Runtime, *items: SampleItem) -> None:
    for item in items:
        for tag in tags_of(item):
            pad(rt).place(tag.uid, tag.data)
    settle(rt)


def log_in(rt: Runtime, card: str = ANA) -> None:
    cards(rt).tap(card)
    settle(rt)
    assert rt.core.view.state is State.IDENTIFY
    assert rt.core.view.keypad.stage == "pin" and rt.core.view.keypad.card_known
    for digit in pin_of(card):
        rt.core.keypad_digit(digit)
    rt.core.keypad_ok()


def line(rt: Runtime, key: str):
    return next(line for line in rt.core.view.lines if line.key == key)


def open_loans(rt: Runtime) -> list[tuple[str, str]]:
    db = sqlite3.connect(rt.config.demo_database_path())
    try:
        return db.execute(
            "SELECT item_id, card FROM loans WHERE returned_at IS NULL ORDER BY item_id"
        ).fetchall()
    finally:
        db.close()


def test_borrow_two_books_end_to_end(rt: Runtime) -> None:
    log_in(rt)
    assert rt.core.view.state is State.CHECKOUT
    assert rt.core.view.patron_name.startswith("Ana")
    a, b = plain_items()[:2]
    place(rt, a, b)
    today = dt.datetime.now(dt.UTC).date()
    for item in (a, b):
        got = line(rt, item.item_id)
        assert (got.status, got.title, got.due) == (
            LineStatus.LENT,
            item.title,
            today + dt.timedelta(days=21),
        )
        assert pad(rt).afi_of(item.tag_uids[0]) == AFI_ON_LOAN
    entries = [e for e in rt.store.entries() if e.kind == "checkout"]
    assert sorted(e.payload["item_id"] for e in entries) == sorted([a.item_id, b.item_id])
    assert {e.state for e in entries} == {"confirmed"}
    assert (a.item_id, ANA) in open_loans(rt) and (b.item_id, ANA) in open_loans(rt)
    assert rt.store.counters()["checkouts"] == 2
    rt.core.finish()
    assert rt.core.view.state is State.SUMMARY
    rt.core.logout()
    view = rt.core.view
    assert (view.state, view.patron_name, view.lines) == (State.IDLE, "", ())


def test_keypad_card_number_and_pin_with_a_wrong_pin_first(rt: Runtime) -> None:
    rt.core.begin_borrow()
    for digit in ANA:
        rt.core.keypad_digit(digit)
    assert rt.core.view.keypad.typed_card == ANA
    rt.core.keypad_ok()
    assert rt.core.view.keypad.stage == "pin"
    for digit in "0000":
        rt.core.keypad_digit(digit)
    assert rt.core.view.keypad.typed_card == ""  # the PIN is never published
    rt.core.keypad_ok()
    assert rt.core.view.state is State.IDENTIFY
    assert rt.core.view.notice is not None and rt.core.view.notice.reason is Reason.WRONG_PIN
    assert rt.core.view.keypad.digits == 0
    for digit in pin_of(ANA):
        rt.core.keypad_digit(digit)
    rt.core.keypad_ok()
    assert rt.core.view.state is State.CHECKOUT


def test_short_pin_is_cleared_with_a_prompt(rt: Runtime) -> None:
    cards(rt).tap(ANA)
    settle(rt)
    rt.core.keypad_digit("1")
    rt.core.keypad_ok()
    view = rt.core.view
    assert view.state is State.IDENTIFY and view.keypad.digits == 0
    assert view.notice is not None and view.notice.reason is Reason.PIN_REQUIRED


@pytest.mark.parametrize(
    ("card", "reason"), [("9999999999", Reason.UNKNOWN_PATRON), (MAJA, Reason.CARD_BLOCKED)]
)
def test_refused_cards_get_a_reason_and_stay_on_identify(
    rt: Runtime, card: str, reason: Reason
) -> None:
    cards(rt).tap(card)
    settle(rt)
    # Told at once, before any PIN is asked for; the keypad is back to the card number.
    view = rt.core.view
    assert view.state is State.IDENTIFY
    assert view.notice is not None and view.notice.reason is reason
    assert (view.keypad.stage, view.keypad.card_known) == ("card", False)
    assert view.patron_name == ""
    # Typing the same number gives the same answer.
    for digit in card:
        rt.core.keypad_digit(digit)
    rt.core.keypad_ok()
    assert rt.core.view.notice is not None and rt.core.view.notice.reason is reason
    assert rt.core.view.keypad.stage == "card"


def test_two_part_set_waits_for_both_parts_and_lends_once(rt: Runtime) -> None:
    log_in(rt)
    item = next(i for i in SAMPLE_ITEMS if i.parts == 2)
    first, second = tags_of(item)
    pad(rt).place(first.uid, first.data)
    settle(rt)
    waiting = line(rt, item.item_id)
    assert (waiting.status, waiting.parts_seen, waiting.parts_total) == (
        LineStatus.WAITING_PARTS,
        1,
        2,
    )
    assert not [e for e in rt.store.entries() if e.kind == "checkout"]
    assert pad(rt).afi_of(first.uid) == AFI_IN_LIBRARY
    pad(rt).place(second.uid, second.data)
    settle(rt)
    assert line(rt, item.item_id).status is LineStatus.LENT
    assert [pad(rt).afi_of(t.uid) for t in (first, second)] == [AFI_ON_LOAN, AFI_ON_LOAN]
    assert len([e for e in rt.store.entries() if e.kind == "checkout"]) == 1


def test_refusals_keep_security_armed(rt: Runtime) -> None:
    log_in(rt)
    reserved = next(i for i in SAMPLE_ITEMS if i.hold_for and not i.on_loan_to)
    reference = next(i for i in SAMPLE_ITEMS if i.reference_only)
    already = next(i for i in SAMPLE_ITEMS if i.on_loan_to == ANA and not i.hold_for)
    place(rt, reserved, reference, already)
    expected = {
        reserved.item_id: Reason.RESERVED_FOR_OTHER,
        reference.item_id: Reason.REFERENCE_ONLY,
        already.item_id: Reason.ALREADY_ON_LOAN_TO_YOU,
    }
    for item_id, reason in expected.items():
        got = line(rt, item_id)
        assert (got.status, got.reason) == (LineStatus.REFUSED, reason)
    for item in (reserved, reference):
        assert pad(rt).afi_of(item.tag_uids[0]) == AFI_IN_LIBRARY
    refused = [e for e in rt.store.entries() if e.kind == "checkout"]
    assert {e.state for e in refused} == {"refused"}


def test_tags_that_are_not_library_items(rt: Runtime) -> None:
    log_in(rt)
    odd = [t for t in demo_tags() if not t.item_id]
    for tag in odd:
        pad(rt).place(tag.uid, tag.data)
    settle(rt)
    reasons = {line.key: line.reason for line in rt.core.view.lines}
    by_label = {t.label: reasons[f"uid:{t.uid.hex()}"] for t in odd}
    assert by_label["damaged tag (bad CRC)"] is Reason.DAMAGED_TAG
    assert by_label["blank tag"] is Reason.NOT_LIBRARY_TAG
    assert by_label["not a library tag (ski pass)"] is Reason.NOT_LIBRARY_TAG
    assert all(line.status is LineStatus.REFUSED for line in rt.core.view.lines)
    assert not rt.store.entries()


def test_same_item_twice_is_lent_once(rt: Runtime) -> None:
    log_in(rt)
    item = plain_items()[0]
    place(rt, item)
    pad(rt).lift(item.tag_uids[0])
    settle(rt)
    place(rt, item)  # placed again in the same session
    settle(rt)
    assert len([e for e in rt.store.entries() if e.kind == "checkout"]) == 1
    # A second tag claiming the same item and part: a copied label.
    tag = tags_of(item)[0]
    pad(rt).place(bytes.fromhex("E0040100DEADBEEF"), tag.data)
    settle(rt)
    assert rt.core.view.notice is not None
    assert rt.core.view.notice.reason is Reason.DUPLICATE_TAG
    assert len([e for e in rt.store.entries() if e.kind == "checkout"]) == 1
    assert open_loans(rt).count((item.item_id, ANA)) == 1


def test_security_write_is_retried(rt: Runtime) -> None:
    log_in(rt)
    item = plain_items()[0]
    pad(rt).fail_next_writes(2)
    place(rt, item)
    assert line(rt, item.item_id).status is LineStatus.LENT
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_ON_LOAN


def test_failed_security_write_is_shown_and_recorded(rt: Runtime) -> None:
    log_in(rt)
    item = plain_items()[0]
    pad(rt).fail_next_writes(3)
    place(rt, item)
    assert line(rt, item.item_id).status is LineStatus.SECURITY_FAILED
    records = [e for e in rt.store.entries() if e.kind == "security"]
    assert len(records) == 1 and records[0].state == "failed"
    assert records[0].payload["item_id"] == item.item_id
    assert (item.item_id, ANA) in open_loans(rt)  # the loan stands; staff see the record


def test_return_without_a_card_rearms_security(rt: Runtime) -> None:
    log_in(rt)
    item = plain_items()[0]
    place(rt, item)
    rt.core.logout()
    pad(rt).clear()
    rt.core.begin_return()
    place(rt, item)
    got = line(rt, item.item_id)
    assert (got.status, got.destination) == (LineStatus.RETURNED, "shelf")
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_IN_LIBRARY
    assert (item.item_id, ANA) not in open_loans(rt)


def test_return_routes_reserved_and_foreign_items(rt: Runtime) -> None:
    rt.core.begin_return()
    reserved_on_loan = next(i for i in SAMPLE_ITEMS if i.hold_for and i.on_loan_to)
    other_branch = next(i for i in SAMPLE_ITEMS if i.owner_branch != "MB")
    place(rt, reserved_on_loan, other_branch)
    assert line(rt, reserved_on_loan.item_id).destination == "holds_shelf"
    assert line(rt, other_branch.item_id).destination == "other_branch"


def test_timeout_warns_then_wipes(rt: Runtime, clock: FakeClock) -> None:
    log_in(rt)
    place(rt, plain_items()[0])
    timeout = rt.config.session.timeout_s
    warning = rt.config.session.warning_s
    clock.now += timeout - warning + 1
    rt.core.tick()
    assert rt.core.view.warning_s == warning - 1
    rt.core.extend()
    assert rt.core.view.warning_s is None
    clock.now += timeout + 1
    rt.core.tick()
    view = rt.core.view
    assert (view.state, view.patron_name, view.lines) == (State.IDLE, "", ())
    assert rt.store.counters()["sessions_timed_out"] == 1
    # The next patron starts clean: the books still on the pad are theirs to borrow.
    log_in(rt, next(p.card for p in SAMPLE_PATRONS if p.name.startswith("Petra")))
    settle(rt)
    assert line(rt, plain_items()[0].item_id).reason is Reason.ON_LOAN_TO_OTHER


def test_language_is_per_session(rt: Runtime) -> None:
    rt.core.begin_borrow()
    rt.core.set_language("en")
    assert rt.core.view.language == "en"
    with pytest.raises(ValueError):
        rt.core.set_language("xx")
    rt.core.logout()
    assert rt.core.view.language == "sl"


def test_recover_replays_unfinished_actions_once(demo_config: KioskConfig) -> None:
    item = plain_items()[0]
    rt = Runtime.open(demo_config)
    when = dt.datetime.now(dt.UTC).isoformat()
    # Crash after writing, before sending: the action is in the outbox only.
    pending = rt.store.add_action(
        "checkout", {"patron_id": ANA, "item_id": item.item_id, "when": when, "uids": []}
    )
    # Crash after the library applied it, before the kiosk recorded the answer.
    applied = rt.store.add_action(
        "checkout",
        {"patron_id": ANA, "item_id": plain_items()[1].item_id, "when": when, "uids": []},
    )
    rt.store.mark_sending(applied.client_id)
    rt.backend.checkout(
        ANA,
        plain_items()[1].item_id,
        client_id=applied.client_id,
        when=dt.datetime.fromisoformat(when),
    )
    rt.close()

    rt = Runtime.open(demo_config)  # recovery runs at start
    try:
        assert rt.store.unfinished() == []
        for entry in (pending, applied):
            done = rt.store.get(entry.client_id)
            assert done is not None and done.state == "confirmed"
            assert done.result is not None and done.result["replayed"] is True
        loans = open_loans(rt)
        assert loans.count((item.item_id, ANA)) == 1
        assert loans.count((plain_items()[1].item_id, ANA)) == 1
        assert rt.core.recover() == 0
    finally:
        rt.close()


def test_backend_down_is_told_plainly_and_not_replayed(demo_config: KioskConfig) -> None:
    """Without offline lending, a loan the library system cannot take is refused plainly
    and left for staff (tests/kiosk/test_offline.py covers lending offline)."""
    offline = demo_config.offline.model_copy(update={"lending": False})
    rt = Runtime.open(demo_config.model_copy(update={"offline": offline}))
    try:
        _backend_down_mid_session(rt)
    finally:
        rt.close()


def _backend_down_mid_session(rt: Runtime) -> None:
    log_in(rt)
    database = Path(rt.config.demo_database_path())
    rt.backend.close()  # the library system goes away mid-session
    database.unlink()
    database.mkdir()  # …and cannot come back at that path
    item = plain_items()[0]
    place(rt, item)
    got = line(rt, item.item_id)
    assert (got.status, got.reason) == (LineStatus.REFUSED, Reason.BACKEND_UNAVAILABLE)
    entry = next(e for e in rt.store.entries() if e.kind == "checkout")
    assert entry.state == "failed" and entry.error
    assert pad(rt).afi_of(item.tag_uids[0]) == AFI_IN_LIBRARY


def test_typing_the_card_number_can_be_switched_off(demo_config: KioskConfig) -> None:
    identify = demo_config.identify.model_copy(update={"methods": ("card",)})
    rt = Runtime.open(demo_config.model_copy(update={"identify": identify}))
    try:
        rt.core.begin_borrow()
        rt.core.keypad_digit("1")
        assert rt.core.view.keypad.digits == 0
        log_in(rt)  # a card tap and the PIN on the keypad still work
        assert rt.core.view.state is State.CHECKOUT
    finally:
        rt.close()


def test_answered_actions_are_purged_after_the_retention_time(demo_config: KioskConfig) -> None:
    rt = Runtime.open(demo_config)
    log_in(rt)
    place(rt, *plain_items()[:2])
    entries = [e for e in rt.store.entries() if e.kind == "checkout"]
    store_path = rt.config.store_path()
    rt.close()
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).replace(tzinfo=None)
    db = sqlite3.connect(store_path)
    with db:
        db.execute(
            "UPDATE outbox SET updated_at = ? WHERE client_id = ?",
            (old.isoformat(sep=" "), entries[0].client_id),
        )
    db.close()
    rt = Runtime.open(demo_config)  # retention_days = 30 in the demo configuration
    try:
        assert rt.store.get(entries[0].client_id) is None
        assert rt.store.get(entries[1].client_id) is not None
    finally:
        rt.close()


def test_replay_waits_while_circulation_is_offline(tmp_path: Path) -> None:
    """Answered "circulation offline" is not an answer to the action: it stays for later."""
    from kiosk.backends.demo import DemoLibrary
    from kiosk.backends.demo_data import LIBRARY_ISIL
    from kiosk.backends.sip2 import Sip2Backend
    from kiosk.core import KioskCore
    from kiosk.sip2.client import Sip2Client, Sip2Settings
    from kiosk.sip2.server import Sip2Server
    from kiosk.store import Store

    library = DemoLibrary(tmp_path / "ils.sqlite")
    server = Sip2Server(library)
    server.start()
    server.circulation_online = False
    host, port = server.address
    client = Sip2Client(Sip2Settings(host=host, port=port, username="kiosk", password="kiosk"))
    store = Store.open(tmp_path / "kiosk.sqlite")
    try:
        core = KioskCore(
            backend=Sip2Backend(client, institution_id=LIBRARY_ISIL),
            store=store,
            tag_reader=SimTagReader(),
            card_reader=SimCardReader(),
        )
        item = plain_items()[0].item_id
        when = dt.datetime.now(dt.UTC).isoformat()
        entry = store.add_action(
            "checkout", {"patron_id": ANA, "item_id": item, "when": when, "uids": []}
        )
        assert core.recover() == 0
        assert [e.client_id for e in store.unfinished()] == [entry.client_id]
        server.circulation_online = True
        client.refresh_status()
        assert core.recover() == 1
        done = store.get(entry.client_id)
        assert done is not None and done.state == "confirmed"
        assert library.item_status(item).state.value == "on_loan"
    finally:
        client.close()
        server.stop()
        store.close()
        library.close()


def test_the_patron_is_told_which_part_is_missing(rt: Runtime) -> None:
    log_in(rt)
    item = next(i for i in SAMPLE_ITEMS if i.parts == 2)
    second = tags_of(item)[1]
    pad(rt).place(second.uid, second.data)
    settle(rt)
    waiting = line(rt, item.item_id)
    assert (waiting.status, waiting.missing_parts) == (LineStatus.WAITING_PARTS, (1,))


def test_a_book_whose_memory_fails_asks_to_be_moved_then_is_lent(rt: Runtime) -> None:
    log_in(rt)
    item = plain_items()[0]
    tag = tags_of(item)[0]
    pad(rt).place(tag.uid, tag.data)
    pad(rt).make_unreadable(tag.uid)  # answers the inventory, but its memory read fails
    for _ in range(rt.config.rfid.min_reads + rt.config.rfid.read_retries):
        rt.core.poll_devices()
    stuck = line(rt, f"uid:{tag.uid.hex()}")
    assert (stuck.status, stuck.reason) == (LineStatus.NOT_READ, Reason.TAG_NOT_READ)
    pad(rt).make_unreadable(tag.uid, False)  # moved slightly: now it reads
    settle(rt)
    assert line(rt, item.item_id).status is LineStatus.LENT
    assert not [ln for ln in rt.core.view.lines if ln.key.startswith("uid:")]


def test_an_unplugged_reader_is_reported_and_the_rest_keeps_working(rt: Runtime) -> None:
    log_in(rt)
    pad(rt).set_unplugged(True)
    settle(rt)
    assert rt.core.view.device_trouble == ("rfid",)
    rt.core.finish()  # the patron can still finish, see the summary and log out
    rt.core.logout()
    assert rt.core.view.device_trouble == ("rfid",)  # still broken for the next patron
    pad(rt).set_unplugged(False)
    log_in(rt)
    place(rt, plain_items()[0])
    assert rt.core.view.device_trouble == ()
    assert line(rt, plain_items()[0].item_id).status is LineStatus.LENT


# --- card numbers normalised by [identify.card] before the library system sees them ----------


def open_with_card_rules(demo_config: KioskConfig, **rules: object) -> Runtime:
    from kiosk.config import CardIdSection

    identify = demo_config.identify.model_copy(update={"card": CardIdSection.model_validate(rules)})
    return Runtime.open(demo_config.model_copy(update={"identify": identify}))


def identify_calls(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Card numbers the (real) demo library is asked about, in order."""
    seen: list[str] = []
    real = rt.core.backend.identify

    def identify(card: str, pin: str | None = None):
        seen.append(card)
        return real(card, pin)

    monkeypatch.setattr(rt.core.backend, "identify", identify)
    return seen


class NfcReader:
    """Stands in for an NFC reader (none is emulated yet): delivers UIDs with source "nfc"."""

    def __init__(self) -> None:
        self.waiting: list[CardRead] = []

    def poll(self) -> CardRead | None:
        return self.waiting.pop(0) if self.waiting else None

    def describe(self) -> str:
        return "test NFC reader"

    def close(self) -> None:
        pass


@pytest.mark.parametrize("printed", ["MB0100123456", "mb 0100-123456"])
def test_a_prefixed_card_is_normalised_before_the_library_sees_it(
    demo_config: KioskConfig, monkeypatch: pytest.MonkeyPatch, printed: str
) -> None:
    rt = open_with_card_rules(demo_config, prefix="MB", require_prefix=True, remove=" -")
    try:
        sent = identify_calls(rt, monkeypatch)
        cards(rt).tap(printed)
        settle(rt)
        assert sent == [ANA]
        assert (rt.core.view.keypad.stage, rt.core.view.keypad.card_known) == ("pin", True)
        for digit in pin_of(ANA):
            rt.core.keypad_digit(digit)
        rt.core.keypad_ok()
        assert rt.core.view.state is State.CHECKOUT
        assert rt.core.view.patron_name.startswith("Ana")
        assert sent == [ANA, ANA]
    finally:
        rt.close()


def test_a_typed_number_needs_no_prefix_even_when_scans_do(
    demo_config: KioskConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = open_with_card_rules(demo_config, prefix="MB", require_prefix=True)
    try:
        sent = identify_calls(rt, monkeypatch)
        cards(rt).tap(ANA)  # a scanned barcode without the prefix is not this library's card
        settle(rt)
        notice = rt.core.view.notice
        assert notice is not None and notice.reason is Reason.INVALID_CARD_NUMBER
        assert sent == []
        for digit in ANA:  # the keypad has no letters: the digits alone are enough
            rt.core.keypad_digit(digit)
        rt.core.keypad_ok()
        assert rt.core.view.keypad.stage == "pin" and sent == [ANA]
    finally:
        rt.close()


def test_a_mistyped_number_is_refused_plainly_and_never_sent(
    demo_config: KioskConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kiosk.cardid import luhn_digit

    caplog.set_level("DEBUG")
    rt = open_with_card_rules(demo_config, check_digit="luhn")
    try:
        sent = identify_calls(rt, monkeypatch)
        assert ANA[-1] != str(luhn_digit(ANA[:-1]))  # the demo number fails the Luhn check
        rt.core.begin_borrow()
        for digit in ANA:
            rt.core.keypad_digit(digit)
        rt.core.keypad_ok()
        view = rt.core.view
        assert view.state is State.IDENTIFY
        assert view.notice is not None and view.notice.reason is Reason.INVALID_CARD_NUMBER
        assert (view.keypad.stage, view.keypad.digits, view.keypad.typed_card) == ("card", 0, "")
        assert sent == []
        assert rt.store.counters().get("card_number_invalid") == 1
        assert ANA not in caplog.text and "refused by the card rules" in caplog.text
        # A number whose check digit matches goes through to the library (unknown there).
        valid = ANA[:-1] + str(luhn_digit(ANA[:-1]))
        for digit in valid:
            rt.core.keypad_digit(digit)
        assert rt.core.view.notice is None  # typing again clears the notice
        rt.core.keypad_ok()
        assert sent == [valid]
        notice = rt.core.view.notice
        assert notice is not None and notice.reason is Reason.UNKNOWN_PATRON
    finally:
        rt.close()


def test_a_reversed_nfc_uid_identifies_the_patron(
    demo_config: KioskConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The register holds Ana's chip number MSB first as 10 decimal digits; the reader
    # delivers the UID LSB first in hex.
    as_read = int(ANA).to_bytes(4, "big")[::-1].hex().upper()
    rt = open_with_card_rules(demo_config, uid_order="reversed", uid_format="decimal", pad_to=10)
    reader = NfcReader()
    rt.core.card_reader = reader
    try:
        sent = identify_calls(rt, monkeypatch)
        reader.waiting.append(CardRead(as_read, source="nfc"))
        rt.core.poll_devices()
        assert sent == [ANA]
        assert (rt.core.view.keypad.stage, rt.core.view.keypad.card_known) == ("pin", True)
        # The same text from a barcode scanner is a card number, not a chip UID.
        rt.core.logout()
        cards_from_sim = SimCardReader()
        rt.core.card_reader = cards_from_sim
        cards_from_sim.tap(as_read)
        rt.core.poll_devices()
        assert sent == [ANA, as_read]
        # A chip number of the wrong size is refused before the library is asked.
        rt.core.logout()
        rt.core.card_presented("0102", source="nfc")
        notice = rt.core.view.notice
        assert notice is not None and notice.reason is Reason.INVALID_CARD_NUMBER
        assert sent == [ANA, as_read]
    finally:
        rt.close()
