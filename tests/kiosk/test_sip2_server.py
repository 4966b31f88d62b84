"""The demo library served over SIP2: real sockets on loopback, the real codec, real SQLite."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.backends.demo import ADULT_LOAN_LIMIT, CHILD_LOAN_LIMIT, DemoLibrary
from kiosk.backends.demo_data import (
    HOME_BRANCH,
    LIBRARY_ISIL,
    SAMPLE_ITEMS,
    SAMPLE_PATRONS,
)
from kiosk.circulation import Reason
from kiosk.sip2 import (
    ACSStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    Codec,
    EndPatronSessionRequest,
    EndPatronSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    SCStatus,
    Sip2Error,
    checksum,
    format_sip_date,
    supported_messages_string,
)
from kiosk.sip2.server import (
    AF_TEXTS,
    LOGIN_REQUIRED_TEXT,
    OFFLINE_TEXT,
    SUPPORTED_MESSAGES,
    Sip2Server,
    can_make_certificates,
    make_self_signed_certificate,
    make_server_ssl_context,
)
from kiosk.sip2.server_refusals import INVALID_PATRON_STATUS, NO_BLOCK_TEXT

try:  # the SIP2 backend's table of servers' words; checked against ours when present
    from kiosk.sip2.reasons import reason_from_text
except ImportError:  # pragma: no cover - only while that module does not exist
    reason_from_text = None

ROOT = Path(__file__).resolve().parents[2]

# Sample records found by what they are for (as in test_demo_backend.py).
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
UNKNOWN_CARD = "0199999999"

REFERENCE = next(i for i in SAMPLE_ITEMS if i.reference_only)
RESERVED_ON_SHELF = next(i for i in SAMPLE_ITEMS if i.hold_for and not i.on_loan_to)
ON_LOAN_RENEWABLE = next(i for i in SAMPLE_ITEMS if i.on_loan_to and not i.hold_for)
ON_LOAN_RESERVED = next(i for i in SAMPLE_ITEMS if i.on_loan_to and i.hold_for)
OTHER_BRANCH = next(i for i in SAMPLE_ITEMS if i.owner_branch != HOME_BRANCH)
FREE = [
    i
    for i in SAMPLE_ITEMS
    if not (i.reference_only or i.hold_for or i.on_loan_to or i.owner_branch != HOME_BRANCH)
]
UNKNOWN_ITEM = "99999999999"


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def end_of(day: dt.date) -> str:
    return format_sip_date(dt.datetime.combine(day, dt.time(23, 59, 59)))


# --------------------------------------------------------------------------- a small SC


class SC:
    """A self-check unit on one real socket: encodes with the codec, reads whole answers."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        codec: Codec | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.codec = codec or Codec()
        self.sock = sock or socket.create_connection(address, timeout=5)
        self.sock.settimeout(5)

    def raw(self, data: bytes, ending: bytes | None = None) -> bytes:
        """Send bytes; the answer's bytes up to its line ending (CR unless told)."""
        self.sock.sendall(data)
        return self.read(ending or self.codec.line_ending)

    def read(self, ending: bytes = b"\r") -> bytes:
        buffer = b""
        while not buffer.endswith(ending):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"server closed the connection after {buffer!r}")
            buffer += chunk
        return buffer

    def ask(self, message: Message, *, sequence: int | None = None) -> Message:
        answer = self.raw(self.codec.encode(message, sequence=sequence))
        frame = self.codec.decode(answer)
        assert frame.checksum_present
        return frame.message

    def login(self, user: str = "kiosk", password: str = "kiosk") -> bool:
        answer = self.ask(LoginRequest(login_user_id=user, login_password=password))
        assert isinstance(answer, LoginResponse)
        return answer.ok

    def close(self) -> None:
        self.sock.close()


def patron_info(
    card: str, *, pin: str | None = None, category: str | None = None, start=None, end=None
) -> PatronInformationRequest:
    return PatronInformationRequest(
        transaction_date=now(),
        summary=PatronInformationRequest.summary_for(category),
        institution_id=LIBRARY_ISIL,
        patron_identifier=card,
        terminal_password="",
        patron_password=pin,
        start_item=start,
        end_item=end,
    )


def patron_status(card: str, pin: str = "") -> PatronStatusRequest:
    return PatronStatusRequest(
        transaction_date=now(),
        institution_id=LIBRARY_ISIL,
        patron_identifier=card,
        terminal_password="",
        patron_password=pin,
    )


def checkout(
    card: str,
    item: str,
    *,
    when: dt.datetime | None = None,
    pin: str | None = None,
    renewal_policy: bool = True,
    blank_date: bool = False,
) -> CheckoutRequest:
    return CheckoutRequest(
        sc_renewal_policy=renewal_policy,
        transaction_date=None if blank_date else (when or now()),
        institution_id=LIBRARY_ISIL,
        patron_identifier=card,
        item_identifier=item,
        terminal_password="",
        patron_password=pin,
    )


def checkin(item: str, *, when: dt.datetime | None = None, returned: dt.datetime | None = None):
    when = when or now()
    return CheckinRequest(
        transaction_date=when,
        return_date=returned or when,
        current_location=HOME_BRANCH,
        institution_id=LIBRARY_ISIL,
        item_identifier=item,
        terminal_password="",
    )


def renew(card: str, item: str, *, when: dt.datetime | None = None) -> RenewRequest:
    return RenewRequest(
        third_party_allowed=False,
        transaction_date=when or now(),
        institution_id=LIBRARY_ISIL,
        patron_identifier=card,
        item_identifier=item,
    )


def item_info(item: str) -> ItemInformationRequest:
    return ItemInformationRequest(
        transaction_date=now(), institution_id=LIBRARY_ISIL, item_identifier=item
    )


def sc_status() -> SCStatus:
    return SCStatus(status_code=0, max_print_width=40, protocol_version="2.00")


def open_loans(db: Path, item_id: str) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT card, renewals FROM loans WHERE item_id = ? AND returned_at IS NULL",
            (item_id,),
        ).fetchall()


def all_loans(db: Path, item_id: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM loans WHERE item_id = ?", (item_id,)).fetchone()[
            0
        ]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "demo-ils.sqlite"


@pytest.fixture
def library(db: Path):
    lib = DemoLibrary(db)
    yield lib
    lib.close()


@pytest.fixture
def server(library: DemoLibrary):
    srv = Sip2Server(library)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def sc(server: Sip2Server):
    unit = SC(server.address)
    assert unit.login()
    yield unit
    unit.close()


# --------------------------------------------------------------------------- login and status


def test_login_accepts_only_the_known_user_and_password(server: Sip2Server) -> None:
    unit = SC(server.address)
    assert unit.login("kiosk", "wrong") is False
    assert unit.login("nobody", "kiosk") is False
    refused = unit.ask(patron_status(ADULT.card))
    assert isinstance(refused, PatronStatusResponse)
    assert refused.valid_patron is False and refused.screen_message == (LOGIN_REQUIRED_TEXT,)
    assert unit.login("kiosk", "kiosk") is True
    answer = unit.ask(patron_status(ADULT.card))
    assert answer.valid_patron is True and answer.personal_name == ADULT.name
    # A failed login ends the earlier one.
    assert unit.login("kiosk", "nope") is False
    assert unit.ask(patron_status(ADULT.card)).valid_patron is False


def test_sc_status_is_answered_before_login(server: Sip2Server) -> None:
    answer = SC(server.address).ask(sc_status())
    assert isinstance(answer, ACSStatus)
    assert (answer.online_status, answer.checkin_ok, answer.checkout_ok) == (True, True, True)
    assert answer.acs_renewal_policy is True
    assert (answer.status_update_ok, answer.offline_ok) == (False, True)  # no block: yes
    assert answer.timeout_period == 300 and answer.retries_allowed == 3
    assert abs((answer.date_time_sync - now()).total_seconds()) < 5
    assert answer.protocol_version == "2.00"
    assert answer.institution_id == LIBRARY_ISIL
    assert answer.library_name == "Mariborska knjižnica (demo)"
    assert answer.supported_messages == supported_messages_string(SUPPORTED_MESSAGES)
    assert answer.supported["checkout"] and answer.supported["renew_all"]
    assert not answer.supported["hold"] and not answer.supported["fee_paid"]
    assert answer.terminal_location == HOME_BRANCH


@pytest.mark.parametrize(
    ("request_", "response_type"),
    [
        (checkout(ADULT.card, FREE[0].item_id), CheckoutResponse),
        (checkin(ON_LOAN_RENEWABLE.item_id), CheckinResponse),
        (renew(ADULT.card, ON_LOAN_RENEWABLE.item_id), RenewResponse),
        (item_info(FREE[0].item_id), ItemInformationResponse),
        (patron_info(ADULT.card), PatronInformationResponse),
    ],
)
def test_requests_before_login_are_refused_in_their_own_response(
    server: Sip2Server, db: Path, request_: Message, response_type: type
) -> None:
    answer = SC(server.address).ask(request_)
    assert isinstance(answer, response_type)
    assert answer.screen_message == (LOGIN_REQUIRED_TEXT,)
    if hasattr(answer, "ok"):
        assert answer.ok is False
    assert open_loans(db, FREE[0].item_id) == []
    assert len(open_loans(db, ON_LOAN_RENEWABLE.item_id)) == 1


# --------------------------------------------------------------------------- framing


def test_wrong_checksum_is_answered_with_96_and_the_connection_stays(sc: SC) -> None:
    good = sc.codec.encode(sc_status(), sequence=3)
    bad = good[:-5] + (b"0000" if good[-5:-1] != b"0000" else b"1111") + b"\r"
    assert sc.raw(bad) == b"96AZFEF6\r"
    answer = sc.codec.decode(sc.raw(good))
    assert isinstance(answer.message, ACSStatus) and answer.sequence == 3


def test_message_without_checksum_gets_an_answer_with_a_valid_checksum(sc: SC) -> None:
    answer = sc.raw(b"9900302.00\r")
    assert answer.startswith(b"98") and answer.endswith(b"\r")
    body = answer[:-1]
    assert body[-9:-4] == b"AY0AZ"  # sequence 0 when the request had none
    assert body[-4:].decode() == checksum(body[:-4])


def test_line_endings_are_echoed(sc: SC) -> None:
    crlf = sc.raw(b"9900302.00AY1AZFCA5\r\n", b"\r\n")
    assert crlf.endswith(b"AY1AZ" + crlf[-6:-2] + b"\r\n")
    lf = sc.raw(b"9900302.00\n", b"\n")
    assert lf.endswith(b"\n") and not lf.endswith(b"\r\n")
    cr = sc.raw(b"9900302.00\r")
    assert cr.endswith(b"\r")
    time.sleep(0.05)
    sc.sock.setblocking(False)
    with pytest.raises(BlockingIOError):  # nothing more came: exactly one answer each
        sc.sock.recv(10)


def test_cr_and_lf_split_across_reads_count_as_cr_lf(sc: SC) -> None:
    sc.sock.sendall(b"9900302.00\r")
    first = sc.read(b"\r")
    assert first.startswith(b"98")
    # The LF of that CR LF arrives late: it is no message, and later answers use CR LF.
    second = sc.raw(b"\n9900302.00\r\n", b"\r\n")
    assert second.startswith(b"98") and second.endswith(b"\r\n")


def test_97_repeats_the_last_answer_byte_for_byte(server: Sip2Server) -> None:
    unit = SC(server.address)
    assert unit.raw(b"97AZFEF5\r") == b"96AZFEF6\r"  # nothing sent yet: the SC goes first
    assert unit.login()
    first = unit.raw(unit.codec.encode(patron_info(ADULT.card, category="charged_items")))
    assert first.startswith(b"64")
    assert unit.raw(b"97AZFEF5\r") == first
    assert unit.raw(b"97\r") == first


def test_a_message_that_is_no_request_gets_96(sc: SC) -> None:
    assert sc.raw(sc.codec.encode(LoginResponse(ok=True))) == b"96AZFEF6\r"
    assert sc.raw(b"hello\r") == b"96AZFEF6\r"
    assert sc.raw(b"11YN\r") == b"96AZFEF6\r"  # fixed fields too short
    assert isinstance(sc.ask(sc_status()), ACSStatus)


# --------------------------------------------------------------------------- patrons


def test_patron_information_of_an_adult_with_loans(sc: SC) -> None:
    answer = sc.ask(patron_info(ADULT.card, category="charged_items"))
    assert isinstance(answer, PatronInformationResponse)
    assert answer.valid_patron is True and answer.valid_patron_password is None
    assert answer.personal_name == ADULT.name
    assert answer.status_flags == frozenset()
    assert answer.charged_items_count == 2 and answer.overdue_items_count == 1
    assert set(answer.charged_items) == {ON_LOAN_RENEWABLE.item_id, ON_LOAN_RESERVED.item_id}
    assert answer.overdue_items == () and answer.hold_items == ()  # only the category asked
    assert answer.charged_items_limit == str(ADULT_LOAN_LIMIT)
    assert answer.fee_amount is None and answer.fee_limit == "10.00"
    overdue = sc.ask(patron_info(ADULT.card, pin=ADULT.pin, category="overdue_items"))
    assert overdue.valid_patron_password is True
    assert overdue.overdue_items == (ON_LOAN_RESERVED.item_id,)


@pytest.mark.parametrize(
    ("patron", "flags", "screen"),
    [
        (
            BLOCKED,
            {
                "card_reported_lost",
                "charge_privileges_denied",
                "renewal_privileges_denied",
                "recall_privileges_denied",
                "hold_privileges_denied",
            },
            [AF_TEXTS[Reason.CARD_BLOCKED]],
        ),
        (
            EXPIRED,
            {
                "charge_privileges_denied",
                "renewal_privileges_denied",
                "recall_privileges_denied",
                "hold_privileges_denied",
            },
            [AF_TEXTS[Reason.CARD_EXPIRED]],
        ),
        (
            IN_DEBT,
            {
                "excessive_outstanding_fines",
                "charge_privileges_denied",
                "renewal_privileges_denied",
            },
            [AF_TEXTS[Reason.FEES_OVER_LIMIT]],
        ),
        (SMALL_DEBT, set(), []),
        (CHILD, set(), []),
    ],
    ids=["blocked", "expired", "fees-over-limit", "small-fees", "child"],
)
def test_patron_flags_fees_and_messages(sc: SC, patron, flags: set[str], screen) -> None:
    for request in (patron_info(patron.card), patron_status(patron.card)):
        answer = sc.ask(request)
        assert answer.valid_patron is True
        assert answer.personal_name == patron.name
        assert answer.status_flags == flags
        assert list(answer.screen_message) == screen
        if patron.fees_cents:
            assert answer.currency_type == "EUR"
            assert answer.fee_amount == f"{patron.fees_cents // 100}.{patron.fees_cents % 100:02d}"
        else:
            assert answer.fee_amount is None and answer.currency_type is None
    info = sc.ask(patron_info(patron.card))
    limit = CHILD_LOAN_LIMIT if patron.is_child else ADULT_LOAN_LIMIT
    assert info.charged_items_limit == str(limit)


def test_unknown_patron_and_wrong_pin(sc: SC) -> None:
    for request in (
        patron_info(UNKNOWN_CARD, category="charged_items"),
        patron_status(UNKNOWN_CARD),
    ):
        answer = sc.ask(request)
        assert answer.valid_patron is False and answer.personal_name == ""
        assert answer.patron_status == INVALID_PATRON_STATUS
        assert answer.screen_message == (AF_TEXTS[Reason.UNKNOWN_PATRON],)
        assert answer.patron_identifier == UNKNOWN_CARD
    # A wrong PIN: the card exists, but nothing about the patron is given away.
    for request in (
        patron_info(ADULT.card, pin="0000", category="charged_items"),
        patron_status(ADULT.card, "0000"),
    ):
        answer = sc.ask(request)
        assert (answer.valid_patron, answer.valid_patron_password) == (True, False)
        assert answer.personal_name == ""
        assert answer.screen_message == (AF_TEXTS[Reason.WRONG_PIN],)
    assert sc.ask(patron_info(ADULT.card, pin="0000", category="charged_items")).charged_items == ()
    # No AD (or an empty one, as many SCs send): no CQ in the answer.
    assert sc.ask(patron_status(ADULT.card, "")).valid_patron_password is None
    assert sc.ask(patron_status(ADULT.card, ADULT.pin)).valid_patron_password is True


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(None, None, 3), ("1", "2", 2), ("2", "3", 2), ("3", "3", 1), ("4", "9", 0), ("x", "", 3)],
)
def test_item_lists_honour_start_and_end_item(sc: SC, start, end, expected: int) -> None:
    extra = FREE[0].item_id
    assert sc.ask(checkout(ADULT.card, extra)).ok
    everything = sc.ask(patron_info(ADULT.card, category="charged_items")).charged_items
    assert len(everything) == 3
    page = sc.ask(patron_info(ADULT.card, category="charged_items", start=start, end=end))
    assert page.charged_items_count == 3  # the count is always the whole list
    first = int(start) if start and start.isdigit() else 1
    assert page.charged_items == everything[first - 1 : first - 1 + expected]


# --------------------------------------------------------------------------- checkout


def test_checkout_lends_for_21_days(sc: SC, db: Path) -> None:
    item = FREE[0]
    answer = sc.ask(checkout(ADULT.card, item.item_id), sequence=4)
    assert isinstance(answer, CheckoutResponse)
    assert answer.ok is True and answer.renewal_ok is False
    assert (answer.desensitize, answer.magnetic_media) == (True, False)
    assert answer.title_identifier == item.title
    assert answer.due_date == end_of(dt.date.today() + dt.timedelta(days=21))
    assert answer.institution_id == LIBRARY_ISIL and answer.item_identifier == item.item_id
    assert answer.screen_message == ()
    assert open_loans(db, item.item_id) == [(ADULT.card, 0)]


@pytest.mark.parametrize(
    ("card", "item", "pin", "reason"),
    [
        (UNKNOWN_CARD, FREE[0].item_id, None, Reason.UNKNOWN_PATRON),
        (ADULT.card, FREE[0].item_id, "0000", Reason.WRONG_PIN),
        (BLOCKED.card, FREE[0].item_id, None, Reason.CARD_BLOCKED),
        (EXPIRED.card, FREE[0].item_id, None, Reason.CARD_EXPIRED),
        (IN_DEBT.card, FREE[0].item_id, None, Reason.FEES_OVER_LIMIT),
        (ADULT.card, UNKNOWN_ITEM, None, Reason.UNKNOWN_ITEM),
        (ADULT.card, REFERENCE.item_id, None, Reason.REFERENCE_ONLY),
        (ADULT.card, RESERVED_ON_SHELF.item_id, None, Reason.RESERVED_FOR_OTHER),
        (HOLDER.card, ON_LOAN_RENEWABLE.item_id, None, Reason.ON_LOAN_TO_OTHER),
    ],
    ids=lambda v: v.value if isinstance(v, Reason) else None,
)
def test_checkout_refusals_carry_their_screen_message(
    sc: SC, db: Path, card: str, item: str, pin: str | None, reason: Reason
) -> None:
    before = open_loans(db, item)
    answer = sc.ask(checkout(card, item, pin=pin))
    assert answer.ok is False and answer.desensitize is False and answer.renewal_ok is False
    assert answer.screen_message[0] == AF_TEXTS[reason]
    assert answer.due_date == ""
    assert open_loans(db, item) == before
    if reason_from_text is not None:  # the backend reads the reason back, detail lines and all
        assert reason_from_text(answer.screen_message) is reason


@pytest.mark.skipif(reason_from_text is None, reason="kiosk.sip2.reasons not there yet")
def test_every_screen_message_maps_back_to_its_reason() -> None:
    for reason, text in AF_TEXTS.items():
        if reason is not Reason.OTHER:
            assert reason_from_text([text]) is reason, text


def test_checkout_at_the_loan_limit_is_refused(sc: SC) -> None:
    for item in FREE[:CHILD_LOAN_LIMIT]:
        assert sc.ask(checkout(CHILD.card, item.item_id)).ok
    info = sc.ask(patron_info(CHILD.card))
    assert "too_many_items_charged" in info.status_flags
    answer = sc.ask(checkout(CHILD.card, FREE[CHILD_LOAN_LIMIT].item_id))
    assert answer.ok is False
    assert answer.screen_message[0] == AF_TEXTS[Reason.LOAN_LIMIT]


def test_retransmitted_checkout_is_not_a_second_loan(server: Sip2Server, sc: SC, db: Path) -> None:
    item = FREE[1].item_id
    wire = sc.codec.encode(checkout(ADULT.card, item), sequence=1)
    first = sc.raw(wire)
    assert sc.codec.decode(first).message.ok
    # The same bytes again at once on this connection (an SC repeating itself): the first answer.
    again = sc.codec.decode(sc.raw(wire)).message
    assert again.ok is True and again.renewal_ok is False
    assert again.due_date == sc.codec.decode(first).message.due_date
    # On a new connection a server cannot tell a retransmission from a new request (SIP2
    # has no key): with the SC's renewal policy N it is refused, never a second loan.
    other = SC(server.address)
    assert other.login()
    no_renewal = checkout(ADULT.card, item, renewal_policy=False)
    third = other.ask(no_renewal)
    assert third.ok is False
    assert third.screen_message[0] == AF_TEXTS[Reason.ALREADY_ON_LOAN_TO_YOU]
    assert open_loans(db, item) == [(ADULT.card, 0)]  # one loan, never renewed
    assert all_loans(db, item) == 1


def test_retransmission_without_a_transaction_date_is_recognised(sc: SC, db: Path) -> None:
    item = FREE[2].item_id
    wire = sc.codec.encode(checkout(ADULT.card, item, blank_date=True))
    assert sc.codec.decode(sc.raw(wire)).message.ok
    assert sc.codec.decode(sc.raw(wire)).message.renewal_ok is False
    assert open_loans(db, item) == [(ADULT.card, 0)]


def test_checkout_after_a_resend_request_lends_once(sc: SC, db: Path) -> None:
    item = FREE[3].item_id
    good = sc.codec.encode(checkout(ADULT.card, item))
    bad = good.replace(item.encode(), item[:-1].encode() + b"X")
    assert sc.raw(bad) == b"96AZFEF6\r"
    assert sc.codec.decode(sc.raw(good)).message.ok
    assert open_loans(db, item) == [(ADULT.card, 0)]
    assert all_loans(db, item) == 1


def test_checking_out_ones_own_loan_again_renews_it(sc: SC, db: Path) -> None:
    item = ON_LOAN_RENEWABLE
    answer = sc.ask(checkout(ADULT.card, item.item_id))
    assert answer.ok is True and answer.renewal_ok is True and answer.desensitize is True
    assert answer.due_date == end_of(dt.date.today() + dt.timedelta(days=21))
    assert "renewing" in answer.screen_message[0]
    assert open_loans(db, item.item_id) == [(ADULT.card, 1)]
    # With the SC's renewal policy N the same checkout is refused instead.
    refused = sc.ask(checkout(ADULT.card, item.item_id, renewal_policy=False))
    assert refused.ok is False and refused.renewal_ok is False
    assert refused.screen_message[0] == AF_TEXTS[Reason.ALREADY_ON_LOAN_TO_YOU]
    # A refused renewal by checkout (someone waits for the item) lends nothing new.
    reserved = sc.ask(checkout(ADULT.card, ON_LOAN_RESERVED.item_id))
    assert reserved.ok is False and reserved.renewal_ok is False
    assert reserved.screen_message[0] == AF_TEXTS[Reason.RESERVED_FOR_OTHER]
    assert open_loans(db, ON_LOAN_RESERVED.item_id) == [(ADULT.card, 0)]


# --------------------------------------------------------------------------- renew


def test_renew_until_63_days_and_never_when_reserved(sc: SC, library: DemoLibrary) -> None:
    item = ON_LOAN_RENEWABLE.item_id
    ok = sc.ask(renew(ADULT.card, item))
    assert isinstance(ok, RenewResponse)
    assert ok.ok is True and ok.renewal_ok is True
    assert ok.due_date == end_of(dt.date.today() + dt.timedelta(days=21))
    # 45 days later a 21-day renewal would pass 63 days from the loan (made 10 days ago).
    later = now() + dt.timedelta(days=45)
    limit = sc.ask(renew(ADULT.card, item, when=later))
    assert limit.ok is False and limit.renewal_ok is False
    assert limit.screen_message[0] == AF_TEXTS[Reason.RENEWAL_LIMIT]
    assert limit.due_date == ok.due_date  # the loan's unchanged due date
    reserved = sc.ask(renew(ADULT.card, ON_LOAN_RESERVED.item_id))
    assert reserved.ok is False
    assert reserved.screen_message[0] == AF_TEXTS[Reason.RESERVED_FOR_OTHER]
    not_theirs = sc.ask(renew(HOLDER.card, item))
    assert not_theirs.screen_message[0] == AF_TEXTS[Reason.ON_LOAN_TO_OTHER]
    if reason_from_text is not None:
        for answer, reason in (
            (limit, Reason.RENEWAL_LIMIT),
            (reserved, Reason.RESERVED_FOR_OTHER),
            (not_theirs, Reason.ON_LOAN_TO_OTHER),
        ):
            assert reason_from_text(answer.screen_message) is reason
    due = dict((i.item_id, d) for i, d in library.loans(ADULT.card))
    assert end_of(due[item]) == ok.due_date


def test_renew_all_lists_renewed_and_unrenewed_items(sc: SC) -> None:
    answer = sc.ask(
        RenewAllRequest(
            transaction_date=now(), institution_id=LIBRARY_ISIL, patron_identifier=ADULT.card
        )
    )
    assert isinstance(answer, RenewAllResponse)
    assert answer.ok is True
    assert (answer.renewed_count, answer.unrenewed_count) == (1, 1)
    assert answer.renewed_items == (ON_LOAN_RENEWABLE.item_id,)
    assert answer.unrenewed_items == (ON_LOAN_RESERVED.item_id,)
    unknown = sc.ask(
        RenewAllRequest(
            transaction_date=now(), institution_id=LIBRARY_ISIL, patron_identifier=UNKNOWN_CARD
        )
    )
    assert unknown.ok is False and unknown.screen_message[0] == AF_TEXTS[Reason.UNKNOWN_PATRON]


# --------------------------------------------------------------------------- checkin and items


def test_checkin_of_a_reserved_item_sends_it_to_the_holds_shelf(sc: SC) -> None:
    item = ON_LOAN_RESERVED
    answer = sc.ask(checkin(item.item_id))
    assert isinstance(answer, CheckinResponse)
    assert answer.ok is True and answer.resensitize is True and answer.magnetic_media is False
    assert answer.alert is True and ("CV", "01") in answer.unknown
    assert answer.sort_bin == "2" and answer.permanent_location == HOME_BRANCH
    assert answer.title_identifier == item.title
    assert any("overdue" in line for line in answer.screen_message)
    # Now it waits for the holder: listed in their holds, shown on the holds shelf.
    holds = sc.ask(patron_info(HOLDER.card, category="hold_items"))
    assert holds.hold_items == (item.item_id,) and holds.hold_items_count == 1
    info = sc.ask(item_info(item.item_id))
    assert info.circulation_status == 8 and info.due_date is None


def test_checkin_of_another_branchs_item_is_routed(sc: SC) -> None:
    assert sc.ask(checkout(ADULT.card, OTHER_BRANCH.item_id)).ok
    answer = sc.ask(checkin(OTHER_BRANCH.item_id))
    assert answer.ok is True and answer.alert is True
    assert ("CV", "04") in answer.unknown and answer.sort_bin == "3"
    assert answer.permanent_location == OTHER_BRANCH.owner_branch


def test_checkin_of_an_item_not_on_loan_follows_koha(server: Sip2Server, sc: SC) -> None:
    answer = sc.ask(checkin(FREE[0].item_id))
    assert answer.ok is False and answer.alert is True and answer.unknown == ()
    assert answer.screen_message[0] == AF_TEXTS[Reason.NOT_ON_LOAN]
    plain = sc.ask(checkin(FREE[0].item_id, when=now() + dt.timedelta(seconds=5)))
    assert plain.ok is False
    server.checked_in_ok = True  # Koha's account option
    accepted = sc.ask(checkin(FREE[0].item_id, when=now() + dt.timedelta(seconds=10)))
    assert accepted.ok is True and accepted.alert is False and accepted.sort_bin == "1"
    unknown = sc.ask(checkin(UNKNOWN_ITEM))
    assert unknown.ok is False and unknown.alert is True and ("CV", "99") in unknown.unknown
    assert unknown.screen_message[0] == AF_TEXTS[Reason.UNKNOWN_ITEM]


def test_checkin_uses_the_return_date(sc: SC) -> None:
    item = FREE[4].item_id
    lent = now() - dt.timedelta(days=40)
    assert sc.ask(checkout(SMALL_DEBT.card, item, when=lent)).ok
    # Returned 30 days after the loan: 9 days late at 0,20 € a day.
    answer = sc.ask(checkin(item, returned=lent + dt.timedelta(days=30)))
    assert answer.ok is True
    fees = sc.ask(patron_info(SMALL_DEBT.card)).fee_amount
    assert fees == f"{(SMALL_DEBT.fees_cents + 9 * 20) / 100:.2f}"


def test_item_information_states(sc: SC) -> None:
    available = sc.ask(item_info(FREE[0].item_id))
    assert isinstance(available, ItemInformationResponse)
    assert available.circulation_status == 3 and available.due_date is None
    assert available.title_identifier == FREE[0].title and available.media_type == "001"
    assert available.security_marker in ("00", "02") and available.hold_queue_length == "0"
    assert available.permanent_location == HOME_BRANCH
    charged = sc.ask(item_info(ON_LOAN_RENEWABLE.item_id))
    assert charged.circulation_status == 4 and charged.due_date
    reserved = sc.ask(item_info(RESERVED_ON_SHELF.item_id))
    assert reserved.circulation_status == 3 and reserved.hold_queue_length == "1"
    reference = sc.ask(item_info(REFERENCE.item_id))
    assert reference.circulation_status == 1
    unknown = sc.ask(item_info(UNKNOWN_ITEM))
    assert unknown.circulation_status == 1 and unknown.title_identifier == ""
    assert unknown.screen_message == (AF_TEXTS[Reason.UNKNOWN_ITEM],)


def test_end_session_and_unsupported_messages(sc: SC) -> None:
    end = sc.ask(
        EndPatronSessionRequest(
            transaction_date=now(), institution_id=LIBRARY_ISIL, patron_identifier=ADULT.card
        )
    )
    assert isinstance(end, EndPatronSessionResponse) and end.end_session is True
    base = {"transaction_date": now(), "institution_id": LIBRARY_ISIL}
    cases = [
        (HoldRequest(hold_mode="+", patron_identifier=ADULT.card, **base), HoldResponse),
        (
            FeePaidRequest(
                fee_type="01",
                payment_type="00",
                currency_type="EUR",
                fee_amount="1.00",
                patron_identifier=ADULT.card,
                **base,
            ),
            FeePaidResponse,
        ),
        (PatronEnableRequest(patron_identifier=ADULT.card, **base), PatronEnableResponse),
        (
            ItemStatusUpdateRequest(item_identifier=FREE[0].item_id, item_properties="x", **base),
            ItemStatusUpdateResponse,
        ),
        (
            BlockPatron(
                card_retained=False,
                blocked_card_msg="lost",
                patron_identifier=ADULT.card,
                terminal_password="",
                **base,
            ),
            PatronStatusResponse,
        ),
    ]
    for request, response_type in cases:
        answer = sc.ask(request)
        assert isinstance(answer, response_type)
        assert answer.screen_message and "not supported" in answer.screen_message[0]
        for flag in ("ok", "payment_accepted", "item_properties_ok"):
            assert getattr(answer, flag, False) is False
    # Blocking is not done: the card still works.
    assert sc.ask(patron_status(ADULT.card)).status_flags == frozenset()


# --------------------------------------------------------------------------- offline


def test_circulation_offline_switch(server: Sip2Server, sc: SC, db: Path) -> None:
    server.circulation_online = False
    status = sc.ask(sc_status())
    assert (status.online_status, status.checkin_ok, status.checkout_ok) == (False, False, False)
    assert status.timeout_period == 0
    requests = [
        checkout(ADULT.card, FREE[0].item_id),
        checkin(ON_LOAN_RENEWABLE.item_id),
        renew(ADULT.card, ON_LOAN_RENEWABLE.item_id),
        RenewAllRequest(
            transaction_date=now(), institution_id=LIBRARY_ISIL, patron_identifier=ADULT.card
        ),
    ]
    for request in requests:
        answer = sc.ask(request)
        assert answer.ok is False and answer.screen_message == (OFFLINE_TEXT,)
    assert open_loans(db, FREE[0].item_id) == []
    assert open_loans(db, ON_LOAN_RENEWABLE.item_id) == [(ADULT.card, 0)]
    assert sc.ask(patron_info(ADULT.card)).valid_patron is True  # reading still works
    server.circulation_online = True
    assert sc.ask(sc_status()).checkout_ok is True
    assert sc.ask(checkout(ADULT.card, FREE[0].item_id)).ok


# --------------------------------------------------------------------------- no block

YESTERDAY = now() - dt.timedelta(days=1)
NB_DUE = YESTERDAY.date() + dt.timedelta(days=21)


def no_block_checkout(
    card: str, item: str, *, when: dt.datetime = YESTERDAY, due: dt.date | None = NB_DUE
) -> CheckoutRequest:
    """A loan the SC made offline, as it replays it: no block, its own due date, no PIN."""
    return CheckoutRequest(
        sc_renewal_policy=False,
        no_block=True,
        transaction_date=when,
        nb_due_date=dt.datetime.combine(due, dt.time(23, 59, 59)) if due else None,
        institution_id=LIBRARY_ISIL,
        patron_identifier=card,
        item_identifier=item,
        terminal_password="",
    )


def no_block_checkin(item: str, returned: dt.datetime) -> CheckinRequest:
    return CheckinRequest(
        no_block=True,
        transaction_date=now(),
        return_date=returned,
        current_location=HOME_BRANCH,
        institution_id=LIBRARY_ISIL,
        item_identifier=item,
        terminal_password="",
    )


def loaned_on(db: Path, item_id: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT card, loaned_on, due FROM loans WHERE item_id = ? AND returned_at IS NULL",
            (item_id,),
        ).fetchall()


def test_no_block_checkout_of_a_reserved_item_is_recorded_with_the_sc_due_date(
    sc: SC, db: Path
) -> None:
    item = RESERVED_ON_SHELF.item_id
    wire = sc.codec.encode(no_block_checkout(ADULT.card, item))
    assert wire.startswith(b"11NY")  # what the kiosk's backend sends, field by field
    answer = sc.codec.decode(sc.raw(wire)).message
    assert isinstance(answer, CheckoutResponse)
    assert answer.ok is True and answer.renewal_ok is False
    assert answer.desensitize is False  # the item left long ago
    assert answer.due_date == end_of(NB_DUE) and answer.title_identifier
    # What it overrode, one AF line each (the backend may read them; it does not rely on them).
    assert answer.screen_message[:2] == (NO_BLOCK_TEXT, AF_TEXTS[Reason.RESERVED_FOR_OTHER])
    assert loaned_on(db, item) == [(ADULT.card, YESTERDAY.date().isoformat(), NB_DUE.isoformat())]
    info = sc.ask(item_info(item))
    assert info.circulation_status == 4 and info.hold_queue_length == "1"  # the hold stays


@pytest.mark.parametrize(
    ("patron", "reason"),
    [
        (BLOCKED, Reason.CARD_BLOCKED),
        (EXPIRED, Reason.CARD_EXPIRED),
        (IN_DEBT, Reason.FEES_OVER_LIMIT),
    ],
    ids=["blocked", "expired", "fees"],
)
def test_no_block_checkout_on_a_card_that_may_not_borrow_is_recorded(
    sc: SC, db: Path, patron, reason: Reason
) -> None:
    answer = sc.ask(no_block_checkout(patron.card, FREE[0].item_id))
    assert answer.ok is True
    assert answer.screen_message[:2] == (NO_BLOCK_TEXT, AF_TEXTS[reason])
    assert open_loans(db, FREE[0].item_id) == [(patron.card, 0)]


def test_no_block_checkout_that_cannot_be_recorded_is_refused(sc: SC, db: Path) -> None:
    unknown = sc.ask(no_block_checkout(ADULT.card, UNKNOWN_ITEM))
    assert unknown.ok is False and unknown.screen_message[0] == AF_TEXTS[Reason.UNKNOWN_ITEM]
    nobody = sc.ask(no_block_checkout(UNKNOWN_CARD, FREE[0].item_id))
    assert nobody.ok is False and nobody.screen_message[0] == AF_TEXTS[Reason.UNKNOWN_PATRON]
    assert open_loans(db, FREE[0].item_id) == []


def test_no_block_checkout_without_a_due_date_gets_the_loan_period(sc: SC, db: Path) -> None:
    answer = sc.ask(no_block_checkout(ADULT.card, FREE[1].item_id, due=None))
    expected = YESTERDAY.date() + dt.timedelta(days=21)
    assert answer.ok is True and answer.due_date == end_of(expected)
    assert loaned_on(db, FREE[1].item_id)[0][2] == expected.isoformat()


def test_no_block_checkout_sent_twice_is_one_loan(sc: SC, db: Path) -> None:
    item = FREE[2].item_id
    wire = sc.codec.encode(no_block_checkout(ADULT.card, item), sequence=2)
    first = sc.codec.decode(sc.raw(wire)).message
    again = sc.codec.decode(sc.raw(wire)).message  # the SC repeating itself
    assert first.ok and again.ok and again.due_date == first.due_date
    assert all_loans(db, item) == 1


def test_no_block_checkout_is_refused_while_circulation_is_offline(
    server: Sip2Server, sc: SC, db: Path
) -> None:
    server.circulation_online = False
    answer = sc.ask(no_block_checkout(ADULT.card, FREE[0].item_id))
    assert answer.ok is False and answer.screen_message == (OFFLINE_TEXT,)
    back = sc.ask(no_block_checkin(ON_LOAN_RENEWABLE.item_id, YESTERDAY))
    assert back.ok is False and back.screen_message == (OFFLINE_TEXT,)
    assert open_loans(db, FREE[0].item_id) == []
    assert open_loans(db, ON_LOAN_RENEWABLE.item_id) == [(ADULT.card, 0)]


def test_no_block_checkin_is_recorded_at_its_return_date(sc: SC, library: DemoLibrary) -> None:
    item = ON_LOAN_RESERVED.item_id  # the adult's, overdue
    due = dict((i.item_id, d) for i, d in library.loans(ADULT.card))[item]
    returned = dt.datetime.combine(due + dt.timedelta(days=2), dt.time(9, 30))
    answer = sc.ask(no_block_checkin(item, returned))
    assert answer.ok is True and ("CV", "01") in answer.unknown  # to the holds shelf
    assert sc.ask(patron_info(ADULT.card)).fee_amount == "0.40"  # two days late, not more


def test_holds_not_ready_are_listed_in_cd(sc: SC) -> None:
    answer = sc.ask(patron_info(HOLDER.card, category="unavailable_holds"))
    waiting = {i.item_id for i in SAMPLE_ITEMS if i.hold_for == HOLDER.card}
    assert set(answer.unavailable_hold_items) == waiting
    assert answer.unavailable_holds_count == len(waiting) and answer.hold_items == ()
    none = sc.ask(patron_info(ADULT.card, category="unavailable_holds"))
    assert none.unavailable_hold_items == () and none.unavailable_holds_count == 0


def test_no_block_text_names_no_reason() -> None:
    if reason_from_text is not None:
        assert reason_from_text([NO_BLOCK_TEXT]) is None


# --------------------------------------------------------------------------- charsets


@pytest.mark.parametrize(
    ("charset", "name"), [("cp1250", "Jože Potočnik"), ("ascii", "Joze Potocnik")]
)
def test_names_in_the_connection_charset(library: DemoLibrary, charset: str, name: str) -> None:
    with Sip2Server(library, charset=charset) as server:
        unit = SC(server.address, codec=Codec(charset=charset))
        assert unit.login()
        assert unit.ask(patron_status(IN_DEBT.card)).personal_name == name


# --------------------------------------------------------------------------- TLS


@pytest.mark.skipif(not can_make_certificates(), reason="neither cryptography nor openssl here")
def test_tls_round_trip_with_a_self_signed_certificate(
    library: DemoLibrary, tmp_path: Path
) -> None:
    cert, key = make_self_signed_certificate(tmp_path / "tls")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    with Sip2Server(library, ssl_context=make_server_ssl_context(cert, key)) as server:
        # A client that does not trust the certificate is turned away by its own check.
        untrusting = ssl.create_default_context()
        with (
            socket.create_connection(server.address, timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            untrusting.wrap_socket(raw, server_hostname="localhost")
        trusting = ssl.create_default_context(cafile=str(cert))
        raw = socket.create_connection(server.address, timeout=5)
        unit = SC(server.address, sock=trusting.wrap_socket(raw, server_hostname="localhost"))
        assert unit.login()
        assert unit.ask(patron_status(ADULT.card)).personal_name == ADULT.name
        # A plain-text client on the TLS port gets no SIP2 answer, and the server carries on.
        plain = socket.create_connection(server.address, timeout=5)
        plain.sendall(b"9900302.00\r")
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := plain.recv(100):
                received += chunk
        assert b"98" not in received
        assert isinstance(unit.ask(sc_status()), ACSStatus)


# --------------------------------------------------------------------------- robustness


def test_garbage_and_broken_clients_do_not_stop_the_server(server: Sip2Server) -> None:
    noisy = SC(server.address)
    for junk in (b"\x00\xff\xfe|||", b"AZAZAZ", b"99", "9ž9".encode(), b"64" + b"Y" * 300):
        assert noisy.raw(junk + b"\r") == b"96AZFEF6\r"
    half = socket.create_connection(server.address)
    half.sendall(b"9300CNkio")  # then gone in the middle of a message
    half.close()
    flood = socket.create_connection(server.address, timeout=5)
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        flood.sendall(b"9" * 100_000)  # no line ending within the limit: cut off
        assert flood.recv(10) == b""
    fresh = SC(server.address)
    assert fresh.login()
    assert isinstance(fresh.ask(sc_status()), ACSStatus)
    assert isinstance(noisy.ask(sc_status()), ACSStatus)  # the noisy one is still served


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    line=st.binary(max_size=200).filter(
        # A 96 (which only servers send) is the one message that gets no answer.
        lambda b: b"\r" not in b and b"\n" not in b and not b.strip(b"\x00").startswith(b"96")
    )
)
def test_any_line_gets_a_well_formed_answer_or_none(sc: SC, line: bytes) -> None:
    if not line.strip(b"\x00 "):
        return  # blank lines are skipped without an answer
    answer = sc.raw(line + b"\r")
    body = answer[:-1]
    assert body[-6:-4] == b"AZ" and body[-4:].decode() == checksum(body[:-4])
    sc.codec.decode(answer)  # a well-formed message of its own


def test_idle_connections_are_closed(library: DemoLibrary) -> None:
    with Sip2Server(library, idle_timeout_s=0.3) as server:
        unit = SC(server.address)
        assert unit.login()
        started = time.monotonic()
        assert unit.sock.recv(10) == b""
        assert time.monotonic() - started < 3


def test_stop_closes_connections_promptly(library: DemoLibrary) -> None:
    server = Sip2Server(library)
    server.start()
    address = server.address
    units = [SC(address) for _ in range(3)]
    assert all(unit.login() for unit in units)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    for unit in units:
        with contextlib.suppress(ConnectionResetError):
            assert unit.sock.recv(10) == b""
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1)


def test_many_concurrent_clients_lose_and_double_no_loan(server: Sip2Server, db: Path) -> None:
    patrons = [ADULT, HOLDER, SMALL_DEBT, CHILD]
    items = [i.item_id for i in FREE[:8]]
    rounds = 20
    start = now() - dt.timedelta(days=1)
    failures: list[str] = []

    def work(n: int) -> None:
        try:
            unit = SC(server.address)
            assert unit.login()
            card, item = patrons[n % len(patrons)].card, items[n]
            for r in range(rounds):
                out_at = start + dt.timedelta(minutes=2 * r)
                lent = unit.ask(checkout(card, item, when=out_at))
                back = unit.ask(checkin(item, when=out_at + dt.timedelta(minutes=1)))
                if not (lent.ok and back.ok):
                    failures.append(
                        f"{item} round {r}: {lent.screen_message} {back.screen_message}"
                    )
            unit.close()
        except (AssertionError, OSError, Sip2Error) as exc:
            failures.append(f"thread {n}: {exc!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    for item in items:
        assert open_loans(db, item) == []
        assert all_loans(db, item) == rounds


def test_logs_carry_no_pin_password_or_card_number(
    library: DemoLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pw"
    with Sip2Server(library, users={"sc1": secret}) as server:
        unit = SC(server.address)
        assert unit.login("sc1", secret)
        assert not unit.login("sc1", secret + "x")
        assert unit.login("sc1", secret)
        unit.ask(patron_info(ADULT.card, pin=ADULT.pin))
        unit.ask(checkout(ADULT.card, FREE[0].item_id, pin=ADULT.pin))
        unit.ask(checkout(BLOCKED.card, FREE[1].item_id, pin="9876"))
        bad = unit.codec.encode(patron_info(ADULT.card, pin=ADULT.pin))
        assert unit.raw(bad[:-5] + b"0000\r") == b"96AZFEF6\r"
        assert unit.raw(b"63xx AA" + ADULT.card.encode() + b"|AD" + ADULT.pin.encode() + b"|\r")
    text = caplog.text
    assert "checkout" in text and "resend" in text  # the log is not simply empty
    for secret_text in (secret, ADULT.card, BLOCKED.card, "9876", f"AD{ADULT.pin}"):
        assert secret_text not in text


# --------------------------------------------------------------------------- the command


def test_demo_ils_command_serves_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "screens.cli", "demo-ils", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("demo library serving SIP2 on 127.0.0.1:"), line
        assert line.rstrip().endswith("(plain), login kiosk/kiosk")
        port = int(line.split("127.0.0.1:")[1].split()[0])
        unit = SC(("127.0.0.1", port))
        assert unit.login()
        assert unit.ask(patron_status(ADULT.card)).personal_name == ADULT.name
        unit.close()
        # The same port again: one plain line, exit 1.
        busy = subprocess.run(
            [*command[:-1], str(port), "--data-dir", str(tmp_path / "other")],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=30,
        )
        assert busy.returncode == 1
        assert busy.stderr.strip().splitlines()[-1] == f"kiosk: 127.0.0.1:{port} is already in use"
        assert "Traceback" not in busy.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert (tmp_path / "demo-ils.sqlite").exists()
