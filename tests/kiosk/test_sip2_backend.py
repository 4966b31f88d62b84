"""The SIP2 backend end to end, over real loopback sockets, no mocks.

A. Against the real demo server (`Sip2Server(DemoLibrary)`): every domain result the
   kiosk relies on must be what the demo library gives directly for the same
   situation (a second copy of the library, changed the same way).
B. Against scripted servers that answer like real ones (CR LF, no checksums,
   damaged answers, CP850, UTF-8, Koha's extension fields and refusal texts).
C. The dangerous cases: lost answers, resumed actions, slow and silent servers,
   an ILS that says "offline", idle hang-ups. Each ends in a correct result or a
   clear `BackendUnavailable`, never a hang or a double loan: every call runs under
   `bounded()`, and the scripted server counts the checkouts it received.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from drivers.sim import SimCardReader, SimTagReader
from kiosk.backends import DEMO_SIP2_PASSWORD, DEMO_SIP2_USER
from kiosk.backends.demo import DemoLibrary
from kiosk.backends.demo_data import (
    ANA,
    HOME_BRANCH,
    JOZE,
    LIBRARY_ISIL,
    LUKA,
    MAJA,
    MARKO,
    NINA,
    PETRA,
    SAMPLE_ITEMS,
    SAMPLE_PATRONS,
    SampleItem,
)
from kiosk.backends.sip2 import Sip2Backend
from kiosk.circulation import (
    BackendUnavailable,
    CheckinResult,
    CheckoutResult,
    CirculationBackend,
    ItemState,
    ItemStatus,
    PatronResult,
    PatronSummary,
    Reason,
)
from kiosk.demo import demo_tags
from kiosk.runtime import Runtime
from kiosk.session import LineStatus, State
from kiosk.sip2 import patron_status_string
from kiosk.sip2.client import Sip2Client, Sip2Settings
from kiosk.sip2.server import Sip2Server
from tests.helpers import demo_config_in
from tests.kiosk.sip2_scripted import (
    DATE,
    Answer,
    CloseAfterReading,
    CloseMidAnswer,
    ScriptedServer,
    Silence,
    Step,
    acs_status_body,
    frame,
    handshake,
    running,
    status_ok,
)

T = TypeVar("T")
TIMEOUT_S = 0.5  # scripted servers: failing cases must end quickly

PIN = {p.card: p.pin for p in SAMPLE_PATRONS}
UNKNOWN_CARD = "9999999999"
UNKNOWN_ITEM = "99999999999"


def sample(title: str) -> SampleItem:
    return next(i for i in SAMPLE_ITEMS if i.title == title)


KRPAN = sample("Martin Krpan")  # on the shelf, free
NA_KLANCU = sample("Na klancu")  # on loan to Ana, renewable
CVETJE = sample("Cvetje v jeseni")  # on the shelf, reserved by Marko
ALAMUT = sample("Alamut")  # on loan to Ana (overdue), reserved by Marko
CEFURJI = sample("Čefurji raus!")  # owned by another branch
ENCIKLOPEDIJA = sample("Enciklopedija Slovenije, 1. zvezek")  # reference only
FREE = [
    i
    for i in SAMPLE_ITEMS
    if i.parts == 1
    and not (i.reference_only or i.hold_for or i.on_loan_to)
    and i.owner_branch == HOME_BRANCH
]


def bounded(call: Callable[[], T], limit_s: float = 5.0) -> T:
    """Run `call` in a thread; fail the test if it has not returned within limit_s."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread as is
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        pytest.fail(f"the backend call hung for more than {limit_s} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def key() -> str:
    return str(uuid.uuid4())


# =========================================================================== A. demo server


@dataclass
class Pair:
    """The same library twice: one behind the SIP2 server, one asked directly."""

    sip2: Sip2Backend
    direct: DemoLibrary
    served: DemoLibrary
    server: Sip2Server

    def both(self, call: Callable[[CirculationBackend], T]) -> tuple[T, T]:
        """(over SIP2, direct) for the same call, so both copies change alike."""
        return bounded(lambda: call(self.sip2)), call(self.direct)

    def checkout(self, card: str, item_id: str, when: dt.datetime | None = None) -> Any:
        when = when or now()
        return self.both(lambda b: b.checkout(card, item_id, client_id=key(), when=when))

    def checkin(self, item_id: str, when: dt.datetime | None = None) -> Any:
        when = when or now()
        return self.both(lambda b: b.checkin(item_id, client_id=key(), when=when))

    def renew(self, card: str, item_id: str, when: dt.datetime | None = None) -> Any:
        when = when or now()
        return self.both(lambda b: b.renew(card, item_id, client_id=key(), when=when))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    served = DemoLibrary(tmp_path / "served.db")
    direct = DemoLibrary(tmp_path / "direct.db")
    server = Sip2Server(served, users={DEMO_SIP2_USER: DEMO_SIP2_PASSWORD})
    server.start()
    host, port = server.address
    client = Sip2Client(
        Sip2Settings(
            host=host,
            port=port,
            username=DEMO_SIP2_USER,
            password=DEMO_SIP2_PASSWORD,
            location_code=HOME_BRANCH,
            institution_id=LIBRARY_ISIL,
            timeout_s=5.0,
        )
    )
    backend = Sip2Backend(
        client,
        institution_id=LIBRARY_ISIL,
        location_code=HOME_BRANCH,
        on_close=server.stop,
    )
    try:
        yield Pair(backend, direct, served, server)
    finally:
        backend.close()
        served.close()
        direct.close()


def patron_view(result: PatronResult) -> tuple[Any, ...]:
    """What the kiosk uses of an identification (SIP2 has no "child" flag: not compared)."""
    p = result.patron
    person = (p.patron_id, p.name, p.loans_count, p.loan_limit, p.fees_cents) if p else None
    return result.reason, person


def checkout_view(result: CheckoutResult) -> tuple[Any, ...]:
    title = result.item.title if result.item and result.ok else None
    return result.reason, result.due, title


def checkin_view(result: CheckinResult) -> tuple[Any, ...]:
    return result.reason, result.destination


def status_view(status: ItemStatus | None) -> tuple[Any, ...] | None:
    if status is None:
        return None
    s = status
    return s.item.item_id, s.item.title, s.state, s.due, s.holds_queue, s.location


def summary_view(summary: PatronSummary | None) -> tuple[Any, ...] | None:
    if summary is None:
        return None
    loans = tuple((ln.item.item_id, ln.item.title, ln.due, ln.overdue) for ln in summary.loans)
    holds = tuple((h.item.item_id, h.item.title, h.pickup_location) for h in summary.holds_ready)
    p = summary.patron
    return (p.patron_id, p.name, p.loans_count, p.loan_limit), loans, holds, summary.fees_cents


@pytest.mark.parametrize(
    ("card", "pin", "reason"),
    [
        (ANA, PIN[ANA], Reason.OK),
        (ANA, None, Reason.OK),  # a card-only kiosk
        (LUKA, PIN[LUKA], Reason.OK),  # a child: loan limit 8
        (PETRA, PIN[PETRA], Reason.OK),  # fees under the limit
        (JOZE, PIN[JOZE], Reason.OK),  # fees over the limit still identify
        (UNKNOWN_CARD, "1234", Reason.UNKNOWN_PATRON),
        (ANA, "0000", Reason.WRONG_PIN),
        (MAJA, PIN[MAJA], Reason.CARD_BLOCKED),
        (NINA, PIN[NINA], Reason.CARD_EXPIRED),
    ],
)
def test_identify_matches_the_library(pair: Pair, card: str, pin: str | None, reason: Reason):
    over_sip2, direct = pair.both(lambda b: b.identify(card, pin))
    assert over_sip2.reason is reason
    assert patron_view(over_sip2) == patron_view(direct)


def test_identify_carries_name_limits_and_fees(pair: Pair) -> None:
    joze = bounded(lambda: pair.sip2.identify(JOZE, PIN[JOZE]))
    assert joze.patron is not None
    assert (joze.patron.name, joze.patron.fees_cents, joze.patron.loan_limit) == (
        "Jože Potočnik",
        1250,
        15,
    )
    luka = bounded(lambda: pair.sip2.identify(LUKA, PIN[LUKA]))
    assert luka.patron is not None and luka.patron.loan_limit == 8
    wrong = bounded(lambda: pair.sip2.identify(ANA, "0000"))
    assert wrong.patron is None  # nothing about the patron for a wrong PIN


def test_summary_with_loans_overdue_and_fees(pair: Pair) -> None:
    for card in (ANA, JOZE, PETRA, UNKNOWN_CARD):
        over_sip2, direct = pair.both(lambda b, card=card: b.summary(card))
        assert summary_view(over_sip2) == summary_view(direct), card
    ana = bounded(lambda: pair.sip2.summary(ANA))
    assert ana is not None
    marks = {ln.item.item_id: ln.overdue for ln in ana.loans}
    assert marks == {NA_KLANCU.item_id: False, ALAMUT.item_id: True}
    joze = bounded(lambda: pair.sip2.summary(JOZE))
    assert joze is not None and joze.fees_cents == 1250 and joze.currency == "EUR"


def test_summary_shows_a_hold_ready_after_someone_returns_the_reserved_item(pair: Pair) -> None:
    before = bounded(lambda: pair.sip2.summary(MARKO))
    assert before is not None and before.holds_ready == ()
    pair.checkin(ALAMUT.item_id)
    over_sip2, direct = pair.both(lambda b: b.summary(MARKO))
    assert summary_view(over_sip2) == summary_view(direct)
    assert over_sip2 is not None
    assert [h.item.item_id for h in over_sip2.holds_ready] == [ALAMUT.item_id]


def test_item_status_in_every_state(pair: Pair) -> None:
    pair.checkin(ALAMUT.item_id)  # now waiting on the holds shelf for Marko
    expected = {
        KRPAN.item_id: ItemState.AVAILABLE,
        CVETJE.item_id: ItemState.AVAILABLE,  # reserved, still on the open shelf
        NA_KLANCU.item_id: ItemState.ON_LOAN,
        ALAMUT.item_id: ItemState.ON_HOLD_SHELF,
        ENCIKLOPEDIJA.item_id: ItemState.NOT_FOR_LOAN,
        CEFURJI.item_id: ItemState.AVAILABLE,
    }
    for item_id, state in expected.items():
        over_sip2, direct = pair.both(lambda b, i=item_id: b.item_status(i))
        assert over_sip2 is not None and over_sip2.state is state, item_id
        assert status_view(over_sip2) == status_view(direct), item_id
    on_loan = bounded(lambda: pair.sip2.item_status(NA_KLANCU.item_id))
    assert on_loan is not None and on_loan.due is not None
    assert bounded(lambda: pair.sip2.item_status(UNKNOWN_ITEM)) is None
    assert bounded(lambda: pair.sip2.item_info(UNKNOWN_ITEM)) is None
    info = bounded(lambda: pair.sip2.item_info(KRPAN.item_id))
    assert info is not None and (info.item_id, info.title) == (KRPAN.item_id, KRPAN.title)


def test_checkout_lends_for_21_days(pair: Pair) -> None:
    when = now()
    over_sip2, direct = pair.checkout(ANA, KRPAN.item_id, when)
    assert over_sip2.ok and over_sip2.due == when.date() + dt.timedelta(days=21)
    assert checkout_view(over_sip2) == checkout_view(direct)
    status = bounded(lambda: pair.sip2.item_status(KRPAN.item_id))
    assert status is not None and status.state is ItemState.ON_LOAN


@pytest.mark.parametrize(
    ("card", "item", "reason"),
    [
        (ANA, CVETJE, Reason.RESERVED_FOR_OTHER),
        (ANA, ENCIKLOPEDIJA, Reason.REFERENCE_ONLY),
        (ANA, NA_KLANCU, Reason.ALREADY_ON_LOAN_TO_YOU),
        (PETRA, NA_KLANCU, Reason.ON_LOAN_TO_OTHER),
        (JOZE, KRPAN, Reason.FEES_OVER_LIMIT),
        (MAJA, KRPAN, Reason.CARD_BLOCKED),
        (NINA, KRPAN, Reason.CARD_EXPIRED),
        (ANA, None, Reason.UNKNOWN_ITEM),
        (UNKNOWN_CARD, KRPAN, Reason.UNKNOWN_PATRON),
    ],
)
def test_checkout_refusals_match_the_library(
    pair: Pair, card: str, item: SampleItem | None, reason: Reason
) -> None:
    item_id = item.item_id if item else UNKNOWN_ITEM
    over_sip2, direct = pair.checkout(card, item_id)
    assert over_sip2.reason is reason, over_sip2.server_text
    assert checkout_view(over_sip2) == checkout_view(direct)
    assert over_sip2.server_text  # the server's own words are kept for staff


def test_checkout_over_a_childs_loan_limit(pair: Pair) -> None:
    for item in FREE[:8]:
        over_sip2, direct = pair.checkout(LUKA, item.item_id)
        assert over_sip2.ok and checkout_view(over_sip2) == checkout_view(direct)
    over_sip2, direct = pair.checkout(LUKA, FREE[8].item_id)
    assert over_sip2.reason is Reason.LOAN_LIMIT
    assert checkout_view(over_sip2) == checkout_view(direct)


def test_checkin_destinations(pair: Pair) -> None:
    pair.checkout(PETRA, CEFURJI.item_id)
    cases = [
        (NA_KLANCU, Reason.OK, "shelf"),
        (ALAMUT, Reason.OK, "holds_shelf"),  # Marko waits for it
        (CEFURJI, Reason.OK, "other_branch"),
        (KRPAN, Reason.NOT_ON_LOAN, "shelf"),
    ]
    for item, reason, destination in cases:
        over_sip2, direct = pair.checkin(item.item_id)
        assert checkin_view(over_sip2) == (reason, destination), item.title
        assert checkin_view(over_sip2) == checkin_view(direct), item.title
        assert over_sip2.item is not None and over_sip2.item.title == item.title
    unknown, direct = pair.checkin(UNKNOWN_ITEM)
    assert checkin_view(unknown) == checkin_view(direct) == (Reason.UNKNOWN_ITEM, "staff")
    assert bounded(lambda: pair.sip2.item_status(NA_KLANCU.item_id)).state is ItemState.AVAILABLE


def test_renew_ok_reserved_and_beyond_63_days(pair: Pair) -> None:
    when = now()
    ok, direct = pair.renew(ANA, NA_KLANCU.item_id, when)
    assert ok.ok and ok.due == when.date() + dt.timedelta(days=21)
    assert checkout_view(ok) == checkout_view(direct)
    reserved, direct = pair.renew(ANA, ALAMUT.item_id, when)
    assert reserved.reason is Reason.RESERVED_FOR_OTHER
    assert (reserved.reason, reserved.due) == (direct.reason, direct.due)
    # Seven weeks on, another 21 days would pass the 63-day limit.
    later = when + dt.timedelta(days=49)
    limit, direct = pair.renew(ANA, NA_KLANCU.item_id, later)
    assert limit.reason is Reason.RENEWAL_LIMIT
    assert (limit.reason, limit.due) == (direct.reason, direct.due)
    assert limit.due == ok.due  # the loan stays due when it was
    not_on_loan, direct = pair.renew(ANA, KRPAN.item_id, when)
    assert not_on_loan.reason is direct.reason is Reason.NOT_ON_LOAN


def test_renew_all_gives_a_result_per_item(pair: Pair) -> None:
    when = now()
    over_sip2, direct = pair.both(lambda b: b.renew_all(ANA, client_id=key(), when=when))
    assert over_sip2.reason is Reason.OK

    def per_item(result: Any) -> set[tuple[Any, ...]]:
        return {(r.item.item_id, r.reason, r.due) for r in result.results}

    assert per_item(over_sip2) == per_item(direct)
    assert {r.item.item_id for r in over_sip2.renewed} == {NA_KLANCU.item_id}
    assert [r.reason for r in over_sip2.refused] == [Reason.RESERVED_FOR_OTHER]


def test_status_reports_online_latency_and_supported_messages(pair: Pair) -> None:
    status = bounded(pair.sip2.status)
    assert status.online
    assert status.latency_ms is not None and 0 < status.latency_ms < 1000
    assert "online" in status.detail and "checkout allowed" in status.detail
    assert status.extra["checkout"] == status.extra["renew_all"] == "yes"
    assert status.extra["hold"] == "no"  # the demo library takes no holds over SIP2


def test_circulation_switched_off_at_the_server(pair: Pair) -> None:
    assert bounded(lambda: pair.sip2.identify(ANA, PIN[ANA])).ok
    pair.server.circulation_online = False
    # The kiosk still believes the ILS is online: the refusal's words say it is not.
    said = bounded(lambda: pair.sip2.checkout(ANA, KRPAN.item_id, client_id=key(), when=now()))
    assert said.reason is Reason.BACKEND_UNAVAILABLE
    # After a status check the kiosk knows, and does not even ask.
    assert not bounded(pair.sip2.status).online
    known = bounded(lambda: pair.sip2.checkin(NA_KLANCU.item_id, client_id=key(), when=now()))
    assert known.reason is Reason.BACKEND_UNAVAILABLE
    for item in (KRPAN, NA_KLANCU):
        status = pair.served.item_status(item.item_id)
        assert status is not None and status.state is not ItemState.ON_LOAN or item is NA_KLANCU
    assert pair.served.loans(ANA) == pair.direct.loans(ANA)
