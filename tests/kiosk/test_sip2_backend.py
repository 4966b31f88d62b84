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
from tests.helpers import bounded, demo_config_in
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


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


YESTERDAY = now() - dt.timedelta(days=1)
OFFLINE_DUE = YESTERDAY.date() + dt.timedelta(days=21)


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

    def offline_checkout(self, card: str, item_id: str, **kwargs: Any) -> Any:
        """A loan made at the kiosk yesterday, recorded now (no block)."""
        kwargs.setdefault("when", YESTERDAY)
        kwargs.setdefault("offline_due", OFFLINE_DUE)
        return self.both(lambda b: b.checkout(card, item_id, client_id=key(), **kwargs))


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
    # Not `until`: the demo server sends no hold pickup date (CM); a scripted test reads it.
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
def test_identify_matches_the_library(
    pair: Pair, card: str, pin: str | None, reason: Reason
) -> None:
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
    # Neither reached the library: the book is not lent, the loan not ended.
    assert [item.item_id for item, _due in pair.served.loans(ANA)] == [
        ALAMUT.item_id,
        NA_KLANCU.item_id,
    ]


# =========================================================================== B. scripted servers

INST = "MB"
CARD = "0500123456"
ITEM = "30001"
TITLE = "Pod svobodnim soncem"
DUE = "20250404    235900"
DUE_DATE = dt.date(2025, 4, 4)
WHEN = dt.datetime(2025, 3, 14, 10, 15)


def settings(server: ScriptedServer, **overrides: Any) -> Sip2Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "timeout_s": TIMEOUT_S,
        "connect_timeout_s": TIMEOUT_S,
        "resend_limit": 2,
    }
    values.update(overrides)
    return Sip2Settings(**values)


def backend_for(server: ScriptedServer, **overrides: Any) -> Sip2Backend:
    return Sip2Backend(Sip2Client(settings(server, **overrides)), institution_id=INST)


def finished_cleanly(server: ScriptedServer) -> None:
    assert server.problems == []
    assert server.unused_steps == []


def patron_body(
    name: str = "Ana Novak",
    *,
    flags: tuple[str, ...] = (),
    valid: str = "Y",
    pin_ok: str = "Y",
    charged: tuple[str, ...] = (),
    holds: tuple[str, ...] = (),
    fees: str = "0.00",
    screen: str = "",
    extra: str = "",
) -> str:
    """A 64 answer (patron information) the way Koha builds it."""
    counts = f"{len(holds):04d}0000{len(charged):04d}000000000000"
    items = "".join(f"AU{i}|" for i in charged) + "".join(f"AS{i}|" for i in holds)
    af = f"AF{screen}|" if screen else ""
    return (
        f"64{patron_status_string(flags)}000{DATE}{counts}AO{INST}|AA{CARD}|AE{name}|"
        f"BL{valid}|CQ{pin_ok}|CB015|BHEUR|BV{fees}|{items}{af}{extra}"
    )


def patron_status_body(flags: tuple[str, ...] = (), valid: str = "Y") -> str:
    """A 24 answer (patron status)."""
    return f"24{patron_status_string(flags)}000{DATE}AO{INST}|AA{CARD}|AEAna Novak|BL{valid}|"


def item_body(
    status: int,
    *,
    due: str = "",
    queue: int = 0,
    title: str = TITLE,
    item: str = ITEM,
    extra: str = "",
) -> str:
    """An 18 answer (item information): 03 available, 04 charged, 08 on the holds shelf."""
    due_field = f"AH{due}|" if due else ""
    return (
        f"18{status:02d}0001{DATE}CF{queue:05d}|{due_field}AB{item}|AJ{title}|"
        f"AQ{INST}-Center|APMB-Center|{extra}"
    )


def checkout_body(ok: bool = True, *, screen: str = "", extra: str = "") -> str:
    """A 12 answer; a refusal leaves title and due date empty, as Koha does."""
    af = f"AF{screen}|" if screen else ""
    if ok:
        return f"121NNY{DATE}AO{INST}|AA{CARD}|AB{ITEM}|AJ{TITLE}|AH{DUE}|{af}{extra}"
    return f"120NUN{DATE}AO{INST}|AA{CARD}|AB{ITEM}|AJ|AH|{af}{extra}"


def renew_refusal_body(screen: str) -> str:
    """A 30 answer refusing a renewal as Koha does: "0NUN", due date empty."""
    return f"300NUN{DATE}AA{CARD}|AB{ITEM}|AJ{TITLE}|AH|AO{INST}|AF{screen}|"


def checkin_body(ok: bool = True, *, alert: bool = False, extra: str = "") -> str:
    return (
        f"10{int(ok)}YN{'Y' if alert else 'N'}{DATE}AO{INST}|AB{ITEM}|AQ{INST}-Center|"
        f"AJ{TITLE}|{extra}"
    )


def item_step(status: int, **fields: Any) -> Step:
    """The server's answer to the next item information request (17)."""
    return Step("17", Answer(frame(item_body(status, **fields))))


def flags_step(*flags: str, valid: str = "Y") -> Step:
    """The server's answer to the next patron status request (23)."""
    return Step("23", Answer(frame(patron_status_body(flags, valid))))


CHARGED = item_step(4, due=DUE)
AVAILABLE = item_step(3)
CHARGED_TO_PATRON = Step("63", Answer(frame(patron_body(charged=(ITEM,)))))
LENT = Step("11", Answer(frame(checkout_body())))
RETURNED = Step("09", Answer(frame(checkin_body())))


def checkout(backend: Sip2Backend, *, resumed: bool = False) -> CheckoutResult:
    return bounded(
        lambda: backend.checkout(CARD, ITEM, client_id=key(), when=WHEN, resumed=resumed)
    )


def checkin(backend: Sip2Backend, *, resumed: bool = False) -> CheckinResult:
    return bounded(lambda: backend.checkin(ITEM, client_id=key(), when=WHEN, resumed=resumed))


def test_cr_lf_endings_without_checksums() -> None:
    def answer(body: str) -> Answer:
        return Answer(frame(body, checksums=False, ending=b"\r\n"))

    script = [
        Step("99", answer(acs_status_body())),
        Step("63", answer(patron_body())),
        Step("11", answer(checkout_body())),
    ]
    with running(script) as server:
        backend = backend_for(server, checksums=False, line_ending=b"\r\n")
        identified = bounded(lambda: backend.identify(CARD, "1234"))
        lent = checkout(backend)
        backend.close()
    assert identified.ok and identified.patron is not None
    assert identified.patron.name == "Ana Novak"
    assert (lent.reason, lent.due, lent.item.title if lent.item else "") == (
        Reason.OK,
        DUE_DATE,
        TITLE,
    )
    assert all(r.raw.endswith(b"\r\n") and b"AZ" not in r.raw for r in server.requests)
    finished_cleanly(server)


def test_a_wrong_checksum_is_asked_for_again_with_97() -> None:
    script = [
        *handshake(),
        Step("11", Answer(frame(checkout_body(), sequence=1, bad_checksum=True))),
        Step("97", Answer(frame(checkout_body(), sequence=1))),
    ]
    with running(script) as server:
        backend = backend_for(server)
        lent = checkout(backend)
        backend.close()
    assert lent.ok and lent.due == DUE_DATE
    assert server.count("11") == 1 and server.count("97") == 1
    finished_cleanly(server)


@pytest.mark.parametrize(
    ("charset", "name", "title"),
    [
        ("cp850", "René Lefèvre", "Les Misérables"),
        ("utf-8", "Črtomir Šuštar Žnidaršič", "Čarovnik in škrat na žagi"),
        ("cp1250", "Špela Žagar Čeh", "Ščuka in čaplja"),
    ],
)
def test_names_and_titles_in_the_servers_charset(charset: str, name: str, title: str) -> None:
    status = acs_status_body().replace("ž", "z")  # CP850 has no ž
    body = checkout_body().replace(f"AJ{TITLE}|", f"AJ{title}|")
    script = [
        Step("99", Answer(frame(status, charset=charset))),
        Step("63", Answer(frame(patron_body(name), sequence=1, charset=charset))),
        Step("11", Answer(frame(body, sequence=2, charset=charset))),
    ]
    with running(script) as server:
        backend = backend_for(server, charset=charset)
        identified = bounded(lambda: backend.identify(CARD, "1234"))
        lent = checkout(backend)
        backend.close()
    assert identified.patron is not None and identified.patron.name == name
    assert lent.ok and lent.item is not None and lent.item.title == title
    finished_cleanly(server)


def test_koha_extension_fields_do_not_disturb_the_result() -> None:
    koha = "PB19850317|PCADULT|PIY|ZZwhatever this is|"
    script = [
        *handshake(),
        Step("63", Answer(frame(patron_body(extra=koha), sequence=1))),
        Step("11", Answer(frame(checkout_body(extra="CK001|ZZ1|"), sequence=2))),
        Step("09", Answer(frame(checkin_body(alert=True, extra="CV04|CTRU|ZZ?|"), sequence=3))),
    ]
    with running(script) as server:
        backend = backend_for(server)
        identified = bounded(lambda: backend.identify(CARD, "1234"))
        lent = checkout(backend)
        returned = checkin(backend)
        backend.close()
    assert identified.ok and identified.patron is not None
    assert identified.patron.loan_limit == 15
    assert lent.ok and lent.due == DUE_DATE
    # CV 04 (Koha's "send to another branch") routes the item.
    assert (returned.reason, returned.destination) == (Reason.OK, "other_branch")
    finished_cleanly(server)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Outstanding Fines block issue", Reason.FEES_OVER_LIMIT),
        ("Item is on hold shelf for another patron.", Reason.RESERVED_FOR_OTHER),
        ("NOT_FOR_LOAN: 1", Reason.REFERENCE_ONLY),
        (
            "Item already checked out to another patron.  Please return item for check-in.",
            Reason.ON_LOAN_TO_OTHER,
        ),
        ("EXPIRED: 2024-01-01", Reason.CARD_EXPIRED),
        ("TOO_MANY: 15", Reason.LOAN_LIMIT),
        ("Invalid patron password", Reason.WRONG_PIN),
        ("Invalid patron", Reason.UNKNOWN_PATRON),
        ("Item not found", Reason.UNKNOWN_ITEM),
        ("Članstvo je poteklo", Reason.CARD_EXPIRED),
        ("Patron expired on 01/01/2024", Reason.CARD_EXPIRED),
        ("Patron has fines - You owe 12,50 €.", Reason.FEES_OVER_LIMIT),
        ("Item is reserved for another patron upon return.", Reason.RESERVED_FOR_OTHER),
        ("Item is on hold for another patron.", Reason.RESERVED_FOR_OTHER),
        ("Item checked out to another patron", Reason.ON_LOAN_TO_OTHER),
        ("Invalid Item", Reason.UNKNOWN_ITEM),
        ("Invalid Patron", Reason.UNKNOWN_PATRON),
    ],
)
def test_koha_refusal_texts_name_the_reason(text: str, reason: Reason) -> None:
    script = [*handshake(), Step("11", Answer(frame(checkout_body(False, screen=text))))]
    with running(script) as server:
        backend = backend_for(server)
        refused = checkout(backend)
        backend.close()
    assert (refused.reason, refused.server_text) == (reason, text)
    assert server.count("17") == 0  # the words were enough
    # Koha leaves the title empty in a refusal: no item, so the kiosk keeps its own title.
    assert refused.item is None
    finished_cleanly(server)


@pytest.mark.parametrize(
    ("text", "flags", "reason"),
    [
        ("Patron Blocked", ("charge_privileges_denied", "card_reported_lost"), Reason.CARD_BLOCKED),
        ("Patron debarred", ("charge_privileges_denied",), Reason.CARD_BLOCKED),
        (
            "Patron Blocked",
            ("charge_privileges_denied", "excessive_outstanding_fines"),
            Reason.FEES_OVER_LIMIT,
        ),
        ("Patron Blocked", (), Reason.CARD_BLOCKED),  # the flags say no more: the words stand
    ],
)
def test_koha_patron_blocked_is_explained_by_the_patron_flags(
    text: str, flags: tuple[str, ...], reason: Reason
) -> None:
    script = [
        *handshake(),
        Step("11", Answer(frame(checkout_body(False, screen=text)))),
        item_step(3),
        flags_step(*flags),
    ]
    with running(script) as server:
        backend = backend_for(server)
        refused = checkout(backend)
        backend.close()
    assert (refused.reason, refused.server_text) == (reason, text)
    finished_cleanly(server)


@pytest.mark.parametrize(
    ("follow_ups", "reason"),
    [
        # Charged, and not to this patron (their charged list does not hold it).
        ([CHARGED, Step("63", Answer(frame(patron_body())))], Reason.ON_LOAN_TO_OTHER),
        ([CHARGED, CHARGED_TO_PATRON], Reason.ALREADY_ON_LOAN_TO_YOU),
        ([item_step(8, queue=1)], Reason.RESERVED_FOR_OTHER),
        ([item_step(3, queue=2)], Reason.RESERVED_FOR_OTHER),
        ([item_step(1)], Reason.REFERENCE_ONLY),
        ([item_step(1, title="")], Reason.UNKNOWN_ITEM),
        (
            [AVAILABLE, flags_step("too_many_items_charged")],
            Reason.LOAN_LIMIT,
        ),
        ([AVAILABLE, flags_step(valid="N")], Reason.UNKNOWN_PATRON),
    ],
    ids=["on-loan-to-other", "already-yours", "hold-shelf", "queue", "not-for-loan",
         "unknown-item", "loan-limit", "unknown-patron"],
)  # fmt: skip
def test_unknown_refusal_texts_are_explained_by_follow_up_questions(
    follow_ups: list[Step], reason: Reason
) -> None:
    text = "Checkout not allowed by circulation rule 7b"
    script = [
        *handshake(),
        Step("11", Answer(frame(checkout_body(False, screen=text)))),
        *follow_ups,
    ]
    with running(script) as server:
        backend = backend_for(server)
        refused = checkout(backend)
        backend.close()
    assert (refused.reason, refused.server_text) == (reason, text)
    assert server.count("11") == 1
    finished_cleanly(server)


@pytest.mark.parametrize("text", ["Computer says no", ""])
def test_a_refusal_nothing_explains_is_other_with_the_servers_text(text: str) -> None:
    script = [
        *handshake(),
        Step("11", Answer(frame(checkout_body(False, screen=text)))),
        item_step(3),
        flags_step(),
    ]
    with running(script) as server:
        backend = backend_for(server)
        refused = checkout(backend)
        backend.close()
    assert (refused.reason, refused.server_text) == (Reason.OTHER, text)
    finished_cleanly(server)


def renew(backend: Sip2Backend) -> CheckoutResult:
    return bounded(lambda: backend.renew(CARD, ITEM, client_id=key(), when=WHEN))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Item unavailable due to outstanding holds", Reason.RESERVED_FOR_OTHER),
        ("Item has reached maximum renewals", Reason.RENEWAL_LIMIT),
        ("Item has reached maximum consecutive renewals without being seen", Reason.RENEWAL_LIMIT),
    ],
)
def test_koha_renewal_refusals_keep_the_loans_due_date(text: str, reason: Reason) -> None:
    script = [*handshake(), Step("29", Answer(frame(renew_refusal_body(text)))), CHARGED]
    with running(script) as server:
        backend = backend_for(server)
        refused = renew(backend)
        backend.close()
    # Koha sends no due date with a refusal; the loan's own one is looked up once.
    assert (refused.reason, refused.due, refused.server_text) == (reason, DUE_DATE, text)
    assert server.count("17") == 1
    finished_cleanly(server)


@pytest.mark.parametrize(
    ("text", "item", "flags", "reason"),
    [
        # Koha's "Renewals not allowed." is about the patron: the flags say why.
        ("Renewals not allowed.", 4, ("renewal_privileges_denied", "excessive_outstanding_fines"),
         Reason.FEES_OVER_LIMIT),
        ("Renewal failed", 4, ("too_many_renewals",), Reason.RENEWAL_LIMIT),
        # On loan to this patron, nobody waiting, nothing flagged: not "already on loan to you".
        ("Renewal failed", 4, (), Reason.OTHER),
    ],
)  # fmt: skip
def test_unknown_renewal_refusals_are_explained_by_the_loan_and_the_patron(
    text: str, item: int, flags: tuple[str, ...], reason: Reason
) -> None:
    script = [
        *handshake(),
        Step("29", Answer(frame(renew_refusal_body(text)))),
        item_step(item, due=DUE),
        CHARGED_TO_PATRON,
        flags_step(*flags),
    ]
    with running(script) as server:
        backend = backend_for(server)
        refused = renew(backend)
        backend.close()
    assert (refused.reason, refused.server_text) == (reason, text)
    assert refused.due == (DUE_DATE if reason is not Reason.OTHER else None)
    assert server.count("17") == 1 and server.count("29") == 1
    finished_cleanly(server)


def test_unknown_renewal_refusal_of_an_item_someone_waits_for() -> None:
    script = [
        *handshake(),
        Step("29", Answer(frame(renew_refusal_body("Renewal failed")))),
        item_step(4, due=DUE, queue=1),
        CHARGED_TO_PATRON,
    ]
    with running(script) as server:
        backend = backend_for(server)
        refused = renew(backend)
        backend.close()
    assert (refused.reason, refused.due) == (Reason.RESERVED_FOR_OTHER, DUE_DATE)
    finished_cleanly(server)


def test_summary_from_a_koha_like_server() -> None:
    hold_item = "30002"
    ready = item_body(8, item=hold_item, title="Alamut", queue=1, extra="CM20250321    235900|")
    script = [
        *handshake(),
        Step("63", Answer(frame(patron_body(fees="3,40")))),
        Step("63", Answer(frame(patron_body(charged=(ITEM,))))),
        Step("63", Answer(frame(patron_body()))),  # nothing overdue
        Step("63", Answer(frame(patron_body(holds=(hold_item,))))),
        CHARGED,
        Step("17", Answer(frame(ready))),
    ]
    with running(script) as server:
        backend = backend_for(server)
        summary = bounded(lambda: backend.summary(CARD))
        backend.close()
    assert summary is not None
    assert summary.patron.name == "Ana Novak" and summary.fees_cents == 340
    assert [(ln.item.item_id, ln.item.title, ln.due, ln.overdue) for ln in summary.loans] == [
        (ITEM, TITLE, DUE_DATE, False)
    ]
    (hold,) = summary.holds_ready
    assert (hold.item.item_id, hold.item.title, hold.until) == (
        hold_item,
        "Alamut",
        dt.date(2025, 3, 21),
    )
    assert hold.pickup_location == "MB-Center"
    finished_cleanly(server)


# =========================================================================== C. dangerous cases


def cut_off(body: str) -> Step:
    """The server hangs up after sending the first bytes of its answer."""
    return Step(body[:2].replace("12", "11").replace("10", "09"), CloseMidAnswer(frame(body), 12))


def test_checkout_answer_cut_off_but_lent_to_this_patron_is_ok_and_sent_once() -> None:
    script = [*handshake(), cut_off(checkout_body()), status_ok(), CHARGED, CHARGED_TO_PATRON]
    with running(script) as server:
        backend = backend_for(server)
        lent = checkout(backend)
        backend.close()
    assert (lent.reason, lent.due) == (Reason.OK, DUE_DATE)
    assert server.count("11") == 1
    finished_cleanly(server)


def test_checkout_answer_cut_off_and_not_lent_is_sent_once_more() -> None:
    script = [*handshake(), cut_off(checkout_body()), status_ok(), AVAILABLE, LENT]
    with running(script) as server:
        backend = backend_for(server)
        lent = checkout(backend)
        backend.close()
    assert (lent.reason, lent.due) == (Reason.OK, DUE_DATE)
    assert server.count("11") == 2
    finished_cleanly(server)


def test_checkout_answer_cut_off_and_on_loan_to_someone_else_is_sent_again_and_refused() -> None:
    # Not this patron's loan, so the lost checkout did not happen: sending it again is the
    # same request as the first, and the server's refusal is the answer.
    charged_elsewhere = Step("63", Answer(frame(patron_body())))
    refusal = Step("11", Answer(frame(checkout_body(False, screen="Item checked out to another"))))
    script = [
        *handshake(),
        cut_off(checkout_body()),
        status_ok(),
        CHARGED,
        charged_elsewhere,
        refusal,
    ]
    with running(script) as server:
        backend = backend_for(server)
        result = checkout(backend)
        backend.close()
    assert result.reason is Reason.ON_LOAN_TO_OTHER
    assert server.count("11") == 2
    finished_cleanly(server)


def test_checkout_answer_cut_off_and_the_check_fails_says_the_state_is_unknown() -> None:
    script = [*handshake(), cut_off(checkout_body()), Step("99", CloseAfterReading())]
    with running(script) as server:
        backend = backend_for(server)
        with pytest.raises(BackendUnavailable) as error:
            checkout(backend)
        backend.close()
    message = str(error.value)
    assert "unknown" in message and ITEM in message
    assert "Traceback" not in message and CARD not in message
    assert server.count("11") == 1
    finished_cleanly(server)


def test_resumed_checkout_already_applied_is_not_sent() -> None:
    script = [*handshake(), CHARGED, CHARGED_TO_PATRON]
    with running(script) as server:
        backend = backend_for(server)
        lent = checkout(backend, resumed=True)
        backend.close()
    assert (lent.reason, lent.due) == (Reason.OK, DUE_DATE)
    assert lent.item is not None and lent.item.title == TITLE
    assert server.count("11") == 0
    finished_cleanly(server)


def test_resumed_checkout_not_applied_is_sent_once() -> None:
    script = [*handshake(), AVAILABLE, LENT]
    with running(script) as server:
        backend = backend_for(server)
        lent = checkout(backend, resumed=True)
        backend.close()
    assert (lent.reason, lent.due) == (Reason.OK, DUE_DATE)
    assert server.count("11") == 1
    finished_cleanly(server)


def test_checkin_answer_cut_off_but_returned_is_ok_without_resending() -> None:
    script = [*handshake(), cut_off(checkin_body()), status_ok(), AVAILABLE]
    with running(script) as server:
        backend = backend_for(server)
        returned = checkin(backend)
        backend.close()
    assert (returned.reason, returned.destination) == (Reason.OK, "shelf")
    assert server.count("09") == 1
    finished_cleanly(server)


def test_checkin_answer_cut_off_and_still_on_loan_is_sent_once_more() -> None:
    script = [*handshake(), cut_off(checkin_body()), status_ok(), CHARGED, RETURNED]
    with running(script) as server:
        backend = backend_for(server)
        returned = checkin(backend)
        backend.close()
    assert returned.reason is Reason.OK
    assert server.count("09") == 2
    finished_cleanly(server)


@pytest.mark.parametrize(
    ("state", "sent", "destination"),
    [
        (item_step(3), 0, "shelf"),
        (item_step(8, queue=1), 0, "holds_shelf"),
        (item_step(4, due=DUE), 1, "shelf"),
    ],
)
def test_resumed_checkin_looks_first(state: Step, sent: int, destination: str) -> None:
    script = [*handshake(), state, *([RETURNED] if sent else [])]
    with running(script) as server:
        backend = backend_for(server)
        returned = checkin(backend, resumed=True)
        backend.close()
    assert (returned.reason, returned.destination) == (Reason.OK, destination)
    assert server.count("09") == sent
    finished_cleanly(server)


def test_a_slow_answer_within_the_timeout_is_a_normal_result() -> None:
    slow = Step("11", Answer(frame(checkout_body()), delay_s=TIMEOUT_S * 0.6))
    with running([*handshake(), slow]) as server:
        backend = backend_for(server)
        lent = checkout(backend)
        backend.close()
    assert (lent.reason, lent.due) == (Reason.OK, DUE_DATE)
    finished_cleanly(server)


def test_a_server_that_never_answers_is_unavailable_within_the_timeout() -> None:
    with running([Step(None, Silence(), times=None)]) as server:
        backend = backend_for(server)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="no answer within"):
            bounded(lambda: backend.identify(CARD, "1234"))
        elapsed = time.monotonic() - started
        backend.close()
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S * 3
    assert server.count("63") == 0  # it never got past the status request
    assert server.problems == []


def test_a_checkout_never_answered_is_unavailable_quickly_and_sent_once() -> None:
    script = [*handshake(), Step("11", Silence()), Step(None, Silence(), times=None)]
    with running(script) as server:
        backend = backend_for(server)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="unknown"):
            checkout(backend)
        elapsed = time.monotonic() - started
        backend.close()
    # The checkout's own timeout, then the look-up's: about two timeouts, never more.
    assert elapsed < TIMEOUT_S * 4
    assert server.count("11") == 1
    assert server.problems == []


def status_body(*, online: bool = True, checkin: bool = True, checkout: bool = True) -> str:
    yn = {True: "Y", False: "N"}
    return (
        f"98{yn[online]}{yn[checkin]}{yn[checkout]}YNN050003{DATE}2.00"
        f"AO{INST}|AMMariborska knjiznica|BXYYYYYYYYYYYYYYYY|"
    )


@pytest.mark.parametrize(
    "acs", [{"online": False}, {"checkout": False}], ids=["offline", "checkout-not-allowed"]
)
def test_checkout_not_allowed_by_the_acs_status_is_not_sent(acs: dict[str, bool]) -> None:
    with running([Step("99", Answer(frame(status_body(**acs))), times=None)]) as server:
        backend = backend_for(server)
        refused = checkout(backend)  # the very first call of a fresh kiosk
        not_renewed = renew(backend)
        status = bounded(backend.status)
        backend.close()
    assert refused.reason is Reason.BACKEND_UNAVAILABLE and refused.server_text
    assert not_renewed.reason is Reason.BACKEND_UNAVAILABLE
    assert not status.online
    assert server.count("11") == server.count("29") == 0
    assert server.problems == []


def test_resumed_checkout_that_happened_is_ok_even_while_checkouts_are_not_allowed() -> None:
    script = [Step("99", Answer(frame(status_body(checkout=False)))), CHARGED, CHARGED_TO_PATRON]
    with running(script) as server:
        backend = backend_for(server)
        lent = checkout(backend, resumed=True)
        backend.close()
    # It is a loan at the library: recording it as refused would lose it.
    assert (lent.reason, lent.due) == (Reason.OK, DUE_DATE)
    assert server.count("11") == 0
    finished_cleanly(server)


def test_checkin_not_allowed_by_the_acs_status_is_not_sent() -> None:
    with running([Step("99", Answer(frame(status_body(checkin=False))))]) as server:
        backend = backend_for(server)
        refused = checkin(backend)
        backend.close()
    assert refused.reason is Reason.BACKEND_UNAVAILABLE
    assert server.count("09") == 0
    finished_cleanly(server)


def test_a_connection_closed_while_idle_is_reopened_for_the_next_request() -> None:
    hang_up = Step("63", Answer(frame(patron_body(), sequence=1), close_after=True))
    again = Step("63", Answer(frame(patron_body(), sequence=1)))
    script = [*handshake(), hang_up, status_ok(), again]
    with running(script) as server:
        backend = backend_for(server)
        first = bounded(lambda: backend.identify(CARD, "1234"))
        time.sleep(0.05)  # the server's hang-up reaches the client while it is idle
        second = bounded(lambda: backend.identify(CARD, "1234"))
        backend.close()
    assert first.ok and second.ok
    assert server.connections == 2
    finished_cleanly(server)


# =========================================================================== the kiosk journey


def test_the_kiosk_lends_and_returns_over_sip2(tmp_path: Path) -> None:
    rt = Runtime.open(demo_config_in(tmp_path / "data", over_sip2=True))
    try:
        assert isinstance(rt.backend, Sip2Backend)
        pad, cards = rt.tag_reader, rt.card_reader
        assert isinstance(pad, SimTagReader) and isinstance(cards, SimCardReader)

        def place(*items: SampleItem) -> None:
            for tag in demo_tags():
                if tag.item_id in {i.item_id for i in items}:
                    pad.place(tag.uid, tag.data)
            for _ in range(rt.config.rfid.min_reads):
                rt.core.poll_devices()

        def line(item: SampleItem) -> Any:
            return next(ln for ln in rt.core.view.lines if ln.key == item.item_id)

        cards.tap(ANA)
        rt.core.poll_devices()
        for digit in PIN[ANA]:
            rt.core.keypad_digit(digit)
        rt.core.keypad_ok()
        assert rt.core.view.state is State.CHECKOUT
        assert rt.core.view.patron_name == "Ana Novak"
        books = FREE[:2]
        place(*books, CVETJE)
        today = dt.datetime.now(dt.UTC).astimezone().date()
        for book in books:
            got = line(book)
            assert (got.status, got.title, got.due) == (
                LineStatus.LENT,
                book.title,
                today + dt.timedelta(days=21),
            )
        assert (line(CVETJE).status, line(CVETJE).reason) == (
            LineStatus.REFUSED,
            Reason.RESERVED_FOR_OTHER,
        )
        rt.core.logout()
        pad.clear()
        rt.core.begin_return()
        place(books[0], NA_KLANCU)
        assert (line(books[0]).status, line(books[0]).destination) == (
            LineStatus.RETURNED,
            "shelf",
        )
        assert line(NA_KLANCU).status is LineStatus.RETURNED
        entries = {(e.kind, e.payload["item_id"]): e.state for e in rt.store.entries()}
        assert entries == {
            ("checkout", books[0].item_id): "confirmed",
            ("checkout", books[1].item_id): "confirmed",
            ("checkout", CVETJE.item_id): "refused",
            ("checkin", books[0].item_id): "confirmed",
            ("checkin", NA_KLANCU.item_id): "confirmed",
        }
        assert rt.store.unfinished() == []
        database = rt.config.demo_database_path()
    finally:
        rt.close()
    db = sqlite3.connect(database)
    try:
        loans = db.execute(
            "SELECT item_id, card FROM loans WHERE returned_at IS NULL ORDER BY item_id"
        ).fetchall()
    finally:
        db.close()
    # The library agrees with the kiosk: one book still lent, the returned ones back.
    assert (books[1].item_id, ANA) in loans
    assert (books[0].item_id, ANA) not in loans and (NA_KLANCU.item_id, ANA) not in loans
    assert sorted(loans) == sorted({(books[1].item_id, ANA), (ALAMUT.item_id, ANA)})


def test_a_pin_the_server_does_not_confirm_is_not_accepted() -> None:
    """A server that leaves CQ out (SIP 1.00 style) has not checked the PIN: no entry."""
    no_cq = patron_body().replace("CQY|", "")
    script = [
        Step("99", Answer(frame(acs_status_body()))),
        Step("63", Answer(frame(no_cq, sequence=1))),
        Step("63", Answer(frame(no_cq, sequence=2))),
    ]
    with running(script) as server:
        backend = backend_for(server)
        with_pin = bounded(lambda: backend.identify(CARD, "1234"))
        card_only = bounded(lambda: backend.identify(CARD, None))
        backend.close()
    assert with_pin.reason is Reason.OTHER and with_pin.patron is None
    assert "PIN" in with_pin.server_text
    assert card_only.ok  # without a PIN nothing needed confirming


# =========================================================================== D. offline replays


def offline_view(result: CheckoutResult) -> tuple[Any, ...]:
    return result.reason, result.due, result.conflicts


def test_offline_loans_record_like_the_library_with_the_same_conflicts(pair: Pair) -> None:
    cases = [
        (ANA, KRPAN, Reason.OK, ()),
        (ANA, CVETJE, Reason.OK, (Reason.RESERVED_FOR_OTHER,)),
        (PETRA, NA_KLANCU, Reason.OK, (Reason.ON_LOAN_TO_OTHER,)),
        (
            MAJA,
            ALAMUT,
            Reason.OK,
            (Reason.ON_LOAN_TO_OTHER, Reason.RESERVED_FOR_OTHER, Reason.CARD_BLOCKED),
        ),
        (NINA, FREE[1], Reason.OK, (Reason.CARD_EXPIRED,)),
        (JOZE, FREE[2], Reason.OK, (Reason.FEES_OVER_LIMIT,)),
        (PETRA, ENCIKLOPEDIJA, Reason.OK, (Reason.REFERENCE_ONLY,)),
        (ANA, None, Reason.UNKNOWN_ITEM, ()),
        (UNKNOWN_CARD, FREE[3], Reason.UNKNOWN_PATRON, ()),
    ]
    for card, item, reason, conflicts in cases:
        item_id = item.item_id if item else UNKNOWN_ITEM
        over_sip2, direct = pair.offline_checkout(card, item_id)
        assert offline_view(over_sip2) == offline_view(direct), (card, item_id)
        expected_due = OFFLINE_DUE if reason is Reason.OK else None
        assert offline_view(over_sip2) == (reason, expected_due, conflicts), (card, item_id)
    # Both libraries now hold the same loans.
    for card in (ANA, MARKO, PETRA, MAJA, NINA, JOZE):
        assert pair.served.loans(card) == pair.direct.loans(card), card
    # Marko still waits for Alamut, lent to Maja offline: his hold is kept.
    alamut = bounded(lambda: pair.sip2.item_status(ALAMUT.item_id))
    assert alamut is not None and alamut.state is ItemState.ON_LOAN and alamut.holds_queue == 1


def test_offline_loan_of_ones_own_hold_is_no_conflict(pair: Pair) -> None:
    # Not on the holds shelf yet: only the CD list (holds not ready) shows it is his.
    over_sip2, direct = pair.offline_checkout(MARKO, CVETJE.item_id)
    assert offline_view(over_sip2) == offline_view(direct) == (Reason.OK, OFFLINE_DUE, ())
    status = bounded(lambda: pair.sip2.item_status(CVETJE.item_id))
    assert status is not None and status.holds_queue == 0  # the hold is fulfilled


def test_offline_loan_over_a_childs_loan_limit(pair: Pair) -> None:
    for item in FREE[:8]:
        assert pair.checkout(LUKA, item.item_id)[0].ok
    over_sip2, direct = pair.offline_checkout(LUKA, FREE[8].item_id)
    assert offline_view(over_sip2) == offline_view(direct)
    assert offline_view(over_sip2) == (Reason.OK, OFFLINE_DUE, (Reason.LOAN_LIMIT,))


def test_resumed_offline_loan_that_reached_the_library_is_not_doubled(pair: Pair) -> None:
    first = bounded(
        lambda: pair.sip2.checkout(
            ANA, CVETJE.item_id, client_id=key(), when=YESTERDAY, offline_due=OFFLINE_DUE
        )
    )
    assert first.ok and first.conflicts == (Reason.RESERVED_FOR_OTHER,)
    # The kiosk stopped before it saved the answer: replayed with resumed=True.
    again = bounded(
        lambda: pair.sip2.checkout(
            ANA,
            CVETJE.item_id,
            client_id=key(),
            when=YESTERDAY,
            resumed=True,
            offline_due=OFFLINE_DUE,
        )
    )
    assert offline_view(again) == offline_view(first)
    assert again.item is not None and again.item.title == CVETJE.title
    with sqlite3.connect(pair.served.db_path) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM loans WHERE item_id = ?", (CVETJE.item_id,)
        ).fetchone()
    assert count == 1


def test_offline_return_charges_the_fine_as_of_its_own_date(pair: Pair) -> None:
    due = dict((i.item_id, d) for i, d in pair.direct.loans(ANA))[ALAMUT.item_id]
    returned_at = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(15, 30))
    over_sip2, direct = pair.both(
        lambda b: b.checkin(ALAMUT.item_id, client_id=key(), when=returned_at, offline=True)
    )
    assert checkin_view(over_sip2) == checkin_view(direct) == (Reason.OK, "holds_shelf")
    ana = bounded(lambda: pair.sip2.identify(ANA))
    assert ana.patron is not None and ana.patron.fees_cents == 20  # one day late, not more
    assert patron_view(ana) == patron_view(pair.direct.identify(ANA))


def test_offline_replays_while_the_server_says_circulation_is_offline_are_kept(
    pair: Pair,
) -> None:
    assert bounded(lambda: pair.sip2.identify(ANA)).ok  # the kiosk believes it is online
    pair.server.circulation_online = False
    lent = bounded(
        lambda: pair.sip2.checkout(
            ANA, KRPAN.item_id, client_id=key(), when=YESTERDAY, offline_due=OFFLINE_DUE
        )
    )
    back = bounded(
        lambda: pair.sip2.checkin(NA_KLANCU.item_id, client_id=key(), when=YESTERDAY, offline=True)
    )
    # Not refusals: the kiosk keeps both and sends them again later.
    assert lent.reason is Reason.BACKEND_UNAVAILABLE and lent.conflicts == ()
    assert back.reason is Reason.BACKEND_UNAVAILABLE
    assert pair.served.loans(PETRA) == [] and len(pair.served.loans(ANA)) == 2


def test_blocked_cards_are_not_listed_over_sip2(pair: Pair) -> None:
    assert bounded(pair.sip2.blocked_cards) is None  # SIP2 has no such message
    assert pair.direct.blocked_cards() == tuple(sorted((MAJA, NINA)))


# --- scripted servers: the bytes, real servers' silence, lost answers

NB_DUE = dt.date(2025, 4, 4)


def offline_checkout(backend: Sip2Backend, *, resumed: bool = False) -> CheckoutResult:
    return bounded(
        lambda: backend.checkout(
            CARD, ITEM, client_id=key(), when=WHEN, resumed=resumed, offline_due=NB_DUE
        )
    )


def no_block_checkout(raw: bytes) -> bool:
    return raw.startswith(b"11NY")


def holds_steps(*, ready: tuple[str, ...] = (), waiting: tuple[str, ...] = ()) -> list[Step]:
    """The patron's holds on the shelf (AS), then those not ready yet (CD)."""
    cd = "".join(f"CD{i}|" for i in waiting)
    return [
        Step("63", Answer(frame(patron_body(holds=ready)))),
        Step("63", Answer(frame(patron_body(extra=cd)))),
    ]


def test_offline_checkout_sends_no_block_with_the_kiosks_dates() -> None:
    script = [*handshake(), AVAILABLE, flags_step(), Step(no_block_checkout, LENT.action)]
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend)
        backend.close()
    (raw,) = server.raw_requests("11")
    # Fixed fields: SC renewal policy N, no block Y, transaction date = when it happened,
    # nb due date = the due date the patron was given (end of that day); no PIN (AD).
    assert raw.startswith(
        b"11NY" + b"20250314    101500" + b"20250404    235959" + b"AOMB|AA0500123456|AB30001|AC|"
    )
    assert b"|AD" not in raw
    assert offline_view(lent) == (Reason.OK, DUE_DATE, ())
    finished_cleanly(server)


def test_offline_checkout_conflicts_come_from_the_kiosks_own_look_ups() -> None:
    # A real server records the loan and says nothing about what it overrode.
    script = [
        *handshake(),
        item_step(3, queue=1),
        *holds_steps(waiting=("30999",)),  # the patron waits for another item, not this
        flags_step("charge_privileges_denied", "card_reported_lost"),
        LENT,
    ]
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend)
        backend.close()
    assert lent.ok and lent.conflicts == (Reason.RESERVED_FOR_OTHER, Reason.CARD_BLOCKED)
    finished_cleanly(server)


def test_offline_checkout_of_the_patrons_own_hold_is_no_conflict() -> None:
    script = [*handshake(), item_step(8, queue=1), *holds_steps(ready=(ITEM,))[:1], flags_step()]
    script.append(LENT)
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend)
        backend.close()
    assert lent.ok and lent.conflicts == ()
    finished_cleanly(server)


def test_conflicts_a_server_names_are_added_to_the_look_ups() -> None:
    said = checkout_body(extra="AFItem is on hold for another patron|AFPatron has fines|")
    script = [*handshake(), AVAILABLE, flags_step(), Step("11", Answer(frame(said)))]
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend)
        backend.close()
    assert lent.ok
    assert lent.conflicts == (Reason.RESERVED_FOR_OTHER, Reason.FEES_OVER_LIMIT)
    finished_cleanly(server)


def test_an_offline_checkout_the_server_cannot_record_is_refused() -> None:
    refusal = Step("11", Answer(frame(checkout_body(False, screen="Invalid Item"))))
    script = [*handshake(), item_step(1, title=""), flags_step(), refusal]
    with running(script) as server:
        backend = backend_for(server)
        refused = offline_checkout(backend)
        backend.close()
    assert (refused.reason, refused.conflicts) == (Reason.UNKNOWN_ITEM, ())
    assert server.count("11") == 1
    finished_cleanly(server)


def test_offline_checkout_answer_lost_but_recorded_is_ok_once_with_its_conflicts() -> None:
    script = [
        *handshake(),
        AVAILABLE,
        flags_step("card_reported_lost"),
        cut_off(checkout_body()),
        status_ok(),
        CHARGED,
        CHARGED_TO_PATRON,
    ]
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend)
        backend.close()
    assert offline_view(lent) == (Reason.OK, DUE_DATE, (Reason.CARD_BLOCKED,))
    assert server.count("11") == 1
    finished_cleanly(server)


def test_offline_checkout_answer_lost_and_not_recorded_is_sent_once_more() -> None:
    script = [
        *handshake(),
        AVAILABLE,
        flags_step(),
        cut_off(checkout_body()),
        status_ok(),
        AVAILABLE,
        Step(no_block_checkout, LENT.action),
    ]
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend)
        backend.close()
    assert offline_view(lent) == (Reason.OK, DUE_DATE, ())
    first, second = server.raw_requests("11")
    # The same no-block request again (only the sequence number differs).
    assert first.split(b"AY")[0] == second.split(b"AY")[0] and first.startswith(b"11NY")
    finished_cleanly(server)


def test_resumed_offline_checkout_already_recorded_is_not_sent() -> None:
    script = [*handshake(), CHARGED, CHARGED_TO_PATRON, flags_step("too_many_items_charged")]
    with running(script) as server:
        backend = backend_for(server)
        lent = offline_checkout(backend, resumed=True)
        backend.close()
    # Its own loan fills the count now: that is no conflict.
    assert offline_view(lent) == (Reason.OK, DUE_DATE, ())
    assert server.count("11") == 0
    finished_cleanly(server)


def test_resumed_offline_checkout_whose_look_up_fails_says_the_state_is_unknown() -> None:
    script = [*handshake(), Step("17", CloseAfterReading()), Step(None, CloseAfterReading())]
    with running(script) as server:
        backend = backend_for(server)
        with pytest.raises(BackendUnavailable, match="unknown"):
            offline_checkout(backend, resumed=True)
        backend.close()
    assert server.count("11") == 0


@pytest.mark.parametrize("resumed", [False, True])
def test_offline_checkout_while_the_acs_takes_no_checkouts_is_kept(resumed: bool) -> None:
    script = [Step("99", Answer(frame(status_body(checkout=False)))), *([AVAILABLE] * resumed)]
    with running(script) as server:
        backend = backend_for(server)
        kept = offline_checkout(backend, resumed=resumed)
        backend.close()
    assert kept.reason is Reason.BACKEND_UNAVAILABLE and kept.server_text
    assert server.count("11") == 0
    finished_cleanly(server)


def test_offline_checkin_sends_no_block_with_the_return_date() -> None:
    script = [*handshake(), RETURNED, RETURNED]
    with running(script) as server:
        backend = backend_for(server)
        online = checkin(backend)
        offline = bounded(lambda: backend.checkin(ITEM, client_id=key(), when=WHEN, offline=True))
        backend.close()
    ordinary, replayed = server.raw_requests("09")
    # No block, transaction date (now), return date = when it happened at the kiosk.
    assert ordinary[2:3] == b"N" and replayed[2:3] == b"Y"
    assert replayed[21:39] == b"20250314    101500"
    assert replayed[39:].startswith(b"AP|AOMB|AB30001|AC|")
    assert online.ok and offline.ok
    finished_cleanly(server)
