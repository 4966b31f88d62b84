"""Store-and-forward: the kiosk lends and takes back while the library system is
unreachable, and replays everything in order, once, when it answers again.

Real parts throughout: the demo library behind the SIP2 server on loopback, the
kiosk's SIP2 client reaching it through a TCP relay the tests cut, restore and
slow down (tests.helpers.Link), the SQLite store, and the emulated RFID pad.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.printer import FilePrinter
from drivers.sim import SimCardReader, SimTagReader
from kiosk.backends.demo import DemoLibrary
from kiosk.backends.demo_data import ANA, HOME_BRANCH, LIBRARY_ISIL, MARKO, SAMPLE_ITEMS
from kiosk.backends.sip2 import Sip2Backend
from kiosk.circulation import Reason
from kiosk.core import CoreSettings, KioskCore
from kiosk.offline import OfflineRules
from kiosk.session import LineStatus, State
from kiosk.sip2.client import Sip2Client, Sip2Settings
from kiosk.sip2.server import Sip2Server
from kiosk.store import Store
from tests.helpers import Link
from tests.kiosk.test_core import pin_of, plain_items, tags_of

AFI_IN_LIBRARY, AFI_ON_LOAN = 0x07, 0xC2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Kiosk:
    core: KioskCore
    library: DemoLibrary
    link: Link
    pad: SimTagReader
    cards: SimCardReader
    store: Store
    clock: Clock
    db: Path
    seeded: frozenset[str] = frozenset()  # items the sample data lends from the start

    def all_loans(self) -> list[tuple[str, str, str]]:
        con = sqlite3.connect(self.db)
        try:
            return con.execute(
                "SELECT item_id, card, due FROM loans WHERE returned_at IS NULL ORDER BY item_id"
            ).fetchall()
        finally:
            con.close()

    def loans(self) -> list[tuple[str, str, str]]:
        """Open loans the test made (the sample data's own loans left out)."""
        return [loan for loan in self.all_loans() if loan[0] not in self.seeded]

    def sync_now(self) -> int:
        self.clock.now += 3600  # past any check interval
        return self.core.sync()


def make_kiosk(tmp_path: Path, **offline: object) -> Iterator[Kiosk]:
    db = tmp_path / "ils.sqlite"
    library = DemoLibrary(db)
    server = Sip2Server(library, users={"kiosk": "kiosk"})
    server.start()
    link = Link(server.address)
    host, port = link.address
    client = Sip2Client(
        Sip2Settings(
            host=host,
            port=port,
            username="kiosk",
            password="kiosk",
            location_code=HOME_BRANCH,
            institution_id=LIBRARY_ISIL,
            timeout_s=1.0,
            connect_timeout_s=0.5,
            backoff_initial_s=0.01,
            backoff_max_s=0.02,
        )
    )
    backend = Sip2Backend(client, institution_id=LIBRARY_ISIL, location_code=HOME_BRANCH)
    store = Store.open(tmp_path / "kiosk.sqlite")
    pad, cards, clock = SimTagReader(), SimCardReader(), Clock()
    rules = OfflineRules(lending=True, categories=("adult", "child")) if not offline else None
    settings = CoreSettings(offline=rules or OfflineRules(**offline))  # type: ignore[arg-type]
    core = KioskCore(
        backend=backend,
        store=store,
        tag_reader=pad,
        card_reader=cards,
        printer=FilePrinter(tmp_path / "receipts"),
        settings=settings,
        clock=clock,
    )
    try:
        k = Kiosk(core, library, link, pad, cards, store, clock, db)
        k.seeded = frozenset(item for item, _card, _due in k.all_loans())
        yield k
    finally:
        backend.close()
        link.close()
        server.stop()
        store.close()
        library.close()
        pad.close()
        cards.close()


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    yield from make_kiosk(tmp_path)


def settle(k: Kiosk) -> None:
    for _ in range(2):
        k.core.poll_devices()


def log_in(k: Kiosk, card: str = ANA) -> None:
    k.core.card_presented(card)
    for digit in pin_of(card):
        k.core.keypad_digit(digit)
    k.core.keypad_ok()


def place(k: Kiosk, *items) -> None:
    for item in items:
        for tag in tags_of(item):
            k.pad.place(tag.uid, tag.data)
    settle(k)


def restore(k: Kiosk) -> None:
    """The link is back; wait out the client's reconnect backoff (at most 0.02 s here)."""
    k.link.restore()
    time.sleep(0.05)


def lift_all(k: Kiosk) -> None:
    k.pad.clear()
    settle(k)


def line(k: Kiosk, key: str):
    return next(line for line in k.core.view.lines if line.key == key)


def offline_due() -> str:
    return (dt.datetime.now().astimezone().date() + dt.timedelta(days=21)).isoformat()


# --- lending offline ------------------------------------------------------------------------


def test_a_loan_during_an_outage_is_kept_and_replayed_once(kiosk: Kiosk) -> None:
    log_in(kiosk)
    assert kiosk.core.view.state is State.CHECKOUT and not kiosk.core.view.offline
    a, b = plain_items()[:2]
    kiosk.link.cut()  # the network dies with the patron at the kiosk
    place(kiosk, a, b)

    view = kiosk.core.view
    assert view.offline
    for item in (a, b):
        got = line(kiosk, item.item_id)
        assert (got.status, got.offline, str(got.due)) == (LineStatus.LENT, True, offline_due())
        assert kiosk.pad.afi_of(item.tag_uids[0]) == AFI_ON_LOAN
    assert kiosk.loans() == []  # the library system knows nothing yet
    pending = kiosk.store.unfinished()
    assert [e.payload["item_id"] for e in pending] == [a.item_id, b.item_id]
    assert all(e.payload["offline"] and e.payload["due"] == offline_due() for e in pending)

    assert kiosk.sync_now() == 0  # still down: nothing sent, nothing lost
    assert len(kiosk.store.unfinished()) == 2

    restore(kiosk)
    assert kiosk.sync_now() == 2
    assert not kiosk.core.view.offline
    assert kiosk.loans() == sorted(
        [(a.item_id, ANA, offline_due()), (b.item_id, ANA, offline_due())]
    )
    assert {e.state for e in kiosk.store.entries() if e.kind == "checkout"} == {"confirmed"}
    assert kiosk.sync_now() == 0  # nothing twice
    assert len(kiosk.loans()) == 2
    counters = kiosk.store.counters()
    assert counters["checkouts_offline"] == 2 and counters["replayed"] == 2


def test_a_card_seen_online_borrows_offline_without_the_library_system(kiosk: Kiosk) -> None:
    log_in(kiosk)  # online: the kiosk learns the card is a valid adult card
    kiosk.core.logout()
    kiosk.link.cut()
    kiosk.sync_now()  # the periodic check notices the outage before the next patron
    assert kiosk.core.view.offline

    log_in(kiosk)
    view = kiosk.core.view
    assert (view.state, view.identified, view.patron_name) == (State.CHECKOUT, True, "")
    item = plain_items()[0]
    place(kiosk, item)
    assert line(kiosk, item.item_id).status is LineStatus.LENT


def test_unknown_and_blocked_cards_cannot_borrow_offline(kiosk: Kiosk) -> None:
    blocked = next(p for p in kiosk.library.blocked_cards())
    # SIP2 cannot list blocked cards: the kiosk learns them when they are refused online.
    kiosk.core.card_presented(blocked)
    assert kiosk.core.view.notice.reason is Reason.CARD_BLOCKED
    kiosk.core.logout()
    kiosk.link.cut()
    kiosk.sync_now()

    log_in(kiosk, MARKO)  # never seen online: category unknown, not allowed offline
    assert kiosk.core.view.state is State.IDENTIFY
    assert kiosk.core.view.notice.reason is Reason.OFFLINE_NOT_ALLOWED
    kiosk.core.logout()

    kiosk.core.card_presented(blocked)
    for digit in "1234":
        kiosk.core.keypad_digit(digit)
    kiosk.core.keypad_ok()
    assert kiosk.core.view.notice.reason is Reason.CARD_BLOCKED
    assert kiosk.store.counters()["refused:identify:card_blocked"] == 2  # online, offline


def test_offline_limits_refuse_plainly_and_keep_the_book_armed(tmp_path: Path) -> None:
    for k in make_kiosk(tmp_path, lending=True, categories=("adult",), items_per_patron=1):
        log_in(k)
        k.link.cut()
        first, second = plain_items()[:2]
        place(k, first, second)
        assert line(k, first.item_id).status is LineStatus.LENT
        refused = line(k, second.item_id)
        assert (refused.status, refused.reason) == (LineStatus.REFUSED, Reason.OFFLINE_LIMIT)
        assert k.pad.afi_of(second.tag_uids[0]) == AFI_IN_LIBRARY
        assert [e.payload["item_id"] for e in k.store.unfinished()] == [first.item_id]


def test_without_offline_lending_the_patron_is_told_and_nothing_is_lent(tmp_path: Path) -> None:
    for k in make_kiosk(tmp_path, lending=False):
        log_in(k)
        k.link.cut()
        item = plain_items()[0]
        place(k, item)
        got = line(k, item.item_id)
        assert got.status is LineStatus.REFUSED
        assert got.reason in (Reason.BACKEND_UNAVAILABLE, Reason.OFFLINE_NOT_ALLOWED)
        assert k.pad.afi_of(item.tag_uids[0]) == AFI_IN_LIBRARY
        restore(k)
        k.sync_now()
        assert k.loans() == []  # the failed attempt is for staff, never replayed


# --- returns offline ------------------------------------------------------------------------


def test_returns_always_work_offline_and_are_replayed_with_their_time(kiosk: Kiosk) -> None:
    item = plain_items()[0]
    log_in(kiosk)
    place(kiosk, item)
    kiosk.core.logout()
    lift_all(kiosk)
    assert kiosk.loans()[0][0] == item.item_id

    kiosk.link.cut()
    kiosk.core.begin_return()
    place(kiosk, item)
    got = line(kiosk, item.item_id)
    assert (got.status, got.destination, got.offline) == (LineStatus.RETURNED, "unsorted", True)
    assert kiosk.pad.afi_of(item.tag_uids[0]) == AFI_IN_LIBRARY
    entry = kiosk.store.unfinished()[0]
    assert entry.kind == "checkin" and entry.payload["offline"]

    restore(kiosk)
    assert kiosk.sync_now() == 1
    assert kiosk.loans() == []
    assert kiosk.store.get(entry.client_id).state == "confirmed"


def test_a_loan_and_its_return_offline_replay_in_order(kiosk: Kiosk) -> None:
    item = plain_items()[0]
    log_in(kiosk)
    kiosk.link.cut()
    place(kiosk, item)
    kiosk.core.logout()
    lift_all(kiosk)
    kiosk.core.begin_return()
    place(kiosk, item)
    assert [e.kind for e in kiosk.store.unfinished()] == ["checkout", "checkin"]
    restore(kiosk)
    assert kiosk.sync_now() == 2
    assert kiosk.loans() == []  # lent, then returned: in that order
    states = [e.state for e in reversed(kiosk.store.entries())]
    assert states == ["confirmed", "confirmed"]


# --- conflicts ---------------------------------------------------------------------------------


def test_an_offline_loan_of_a_reserved_item_is_a_conflict_for_staff(kiosk: Kiosk) -> None:
    reserved = next(i for i in SAMPLE_ITEMS if i.hold_for and i.hold_for != ANA and i.parts == 1)
    log_in(kiosk)
    kiosk.link.cut()
    place(kiosk, reserved)
    assert line(kiosk, reserved.item_id).status is LineStatus.LENT  # the kiosk could not know
    restore(kiosk)
    assert kiosk.sync_now() == 1
    entry = next(e for e in kiosk.store.entries() if e.kind == "checkout")
    assert entry.state == "conflict"
    assert "reserved_for_other" in entry.result["conflicts"]
    assert (reserved.item_id, ANA) in [(i, c) for i, c, _ in kiosk.loans()]  # recorded anyway
    assert kiosk.store.counters()["replay_conflicts"] == 1


# --- crashes and flaky links -------------------------------------------------------------------


def test_offline_actions_survive_a_restart(tmp_path: Path) -> None:
    item = plain_items()[0]
    for k in make_kiosk(tmp_path):
        log_in(k)
        k.link.cut()
        place(k, item)
        assert len(k.store.unfinished()) == 1
    # Power cut and restart: the store is reopened, the link is up again.
    for k in make_kiosk(tmp_path):
        assert len(k.store.unfinished()) == 1
        assert k.core.recover() == 1
        assert [(i, c) for i, c, _ in k.loans()] == [(item.item_id, ANA)]


def test_a_flapping_link_neither_loses_nor_doubles_a_loan(kiosk: Kiosk) -> None:
    items = plain_items()[:4]
    log_in(kiosk)
    for n, item in enumerate(items):
        kiosk.link.cut() if n % 2 else restore(kiosk)
        place(kiosk, item)
        if n % 2 == 0:
            kiosk.sync_now()  # the link came back between two books
    restore(kiosk)
    while kiosk.sync_now():
        pass
    assert all(line(kiosk, i.item_id).status is LineStatus.LENT for i in items)
    assert sorted(i for i, _c, _d in kiosk.loans()) == sorted(i.item_id for i in items)
    assert kiosk.store.unfinished() == []
    assert all(e.state == "confirmed" for e in kiosk.store.entries() if e.kind == "checkout")


def test_a_slow_link_that_loses_the_answer_is_not_lent_twice(kiosk: Kiosk) -> None:
    item = plain_items()[0]
    log_in(kiosk)
    kiosk.link.delay_s = 1.5  # longer than the client's 1 s timeout: answers arrive too late
    place(kiosk, item)
    got = line(kiosk, item.item_id)
    assert got.status is LineStatus.LENT  # offline, or confirmed by a look-up; never lost
    kiosk.link.delay_s = 0
    time.sleep(1.6)  # late bytes still in the relay arrive (or die) first; then the backoff
    while kiosk.sync_now():
        pass
    assert [(i, c) for i, c, _ in kiosk.loans()] == [(item.item_id, ANA)]
    assert kiosk.store.unfinished() == []


def test_the_blocked_card_list_is_refreshed_while_online(tmp_path: Path) -> None:
    """A library system that can list blocked cards (the demo library) keeps the offline
    cache current, without a patron having to be refused first."""
    from kiosk.privacy import redact

    library = DemoLibrary(tmp_path / "ils.sqlite")
    store = Store.open(tmp_path / "kiosk.sqlite")
    pad, cards = SimTagReader(), SimCardReader()
    try:
        core = KioskCore(
            backend=library,
            store=store,
            tag_reader=pad,
            card_reader=cards,
            settings=CoreSettings(offline=OfflineRules(lending=True)),
        )
        blocked = library.blocked_cards()
        assert blocked
        assert store.card_status(redact(blocked[0])) is None
        core.sync()
        assert store.card_status(redact(blocked[0])) == (True, "")
        assert store.card_status(redact(ANA)) is None  # only blocked cards are listed
    finally:
        library.close()
        store.close()
        pad.close()
        cards.close()
