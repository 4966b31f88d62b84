"""The SIP2 client against scripted servers over real loopback sockets.

Each server answers the way some real SIP2 server does (CR LF, no checksums,
damaged answers, resend requests, CP850, extensions, slow, silent, hanging up).
Every case must end in a correct answer or a clear exception, never a hang and
never a write sent twice: each client call runs under `bounded()`, which fails
the test instead of waiting forever.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.config import Sip2BackendSection
from kiosk.privacy import redact
from kiosk.sip2 import (
    ACSStatus,
    CheckinRequest,
    CheckoutRequest,
    CheckoutResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    RequestACSResend,
)
from kiosk.sip2.client import (
    AnswerLost,
    LoginRefused,
    Sip2Client,
    Sip2Settings,
    Sip2Unavailable,
    redacted,
)
from tests.helpers import bounded
from tests.kiosk.sip2_scripted import (
    ALL_BUT_SOME,
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
)

WHEN = dt.datetime(2025, 3, 14, 10, 15)
PATRON = "0500123456"
PIN = "4931"
PASSWORD = "s3cret-pw"
TIMEOUT_S = 0.5

CHECKOUT = CheckoutRequest(
    sc_renewal_policy=True,
    transaction_date=WHEN,
    institution_id="MB",
    patron_identifier=PATRON,
    item_identifier="30001",
    terminal_password="",
    patron_password=PIN,
)
CHECKOUT_OK = f"121YNN{DATE}AOMB|AA{PATRON}|AB30001|AJPod svobodnim soncem|AH20250404    235900|"
ITEM_INFO = ItemInformationRequest(
    transaction_date=WHEN, institution_id="MB", item_identifier="30001"
)
ITEM_INFO_ANSWER = f"18030201{DATE}AB30001|AJPod svobodnim soncem|AQMB-Center|"
PATRON_INFO = PatronInformationRequest(
    transaction_date=WHEN, institution_id="MB", patron_identifier=PATRON, patron_password=PIN
)
_COUNTS = "0000" * 6


def patron_answer(name: str) -> str:
    return f"64{' ' * 14}000{DATE}{_COUNTS}AOMB|AA{PATRON}|AE{name}|BLY|CQY|"


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


def finished_cleanly(server: ScriptedServer) -> None:
    assert server.problems == []
    assert server.unused_steps == []


# --------------------------------------------------------------------------- login and status


def test_login_then_status_then_request() -> None:
    script = [*handshake(login=True), Step("17", Answer(frame(ITEM_INFO_ANSWER)))]
    with running(script) as server:
        client = Sip2Client(
            settings(server, username="kiosk", password=PASSWORD, location_code="MB-1")
        )
        answer = bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert isinstance(answer, ItemInformationResponse)
    assert answer.title_identifier == "Pod svobodnim soncem"
    assert [r.code for r in server.requests] == ["93", "99", "17"]
    login = server.requests[0].raw
    assert b"CNkiosk|" in login and f"CO{PASSWORD}|".encode() in login and b"CPMB-1|" in login
    # Sequence numbers count 0, 1, 2 ... over the connection.
    assert [r.raw.split(b"AY")[1][:1] for r in server.requests] == [b"0", b"1", b"2"]
    assert client.last_round_trip_ms is not None and client.last_round_trip_ms < 1000
    finished_cleanly(server)


def test_no_login_without_a_user_name() -> None:
    with running(handshake()) as server:
        client = Sip2Client(settings(server))
        bounded(client.connect)
        client.close()
    assert [r.code for r in server.requests] == ["99"]
    finished_cleanly(server)


def test_login_refused_is_clear_and_not_retried_at_once() -> None:
    with running([Step("93", Answer(frame("940")))]) as server:
        client = Sip2Client(settings(server, username="kiosk", password=PASSWORD))
        with pytest.raises(LoginRefused) as refused:
            bounded(lambda: client.request(ITEM_INFO))
        assert "refused the login of user 'kiosk'" in str(refused.value)
        assert PASSWORD not in str(refused.value)
        # Within the backoff the next call fails at once, without a new connection.
        with pytest.raises(Sip2Unavailable, match="reconnecting in"):
            bounded(lambda: client.request(ITEM_INFO))
    assert server.connections == 1
    finished_cleanly(server)


def test_acs_status_is_kept_and_says_what_is_supported() -> None:
    script = handshake(supported=ALL_BUT_SOME, checkout=False)
    with running(script) as server:
        client = Sip2Client(settings(server))
        assert client.acs_status is None
        assert client.supports("hold")  # nothing known yet
        bounded(client.connect)
        client.close()
    status = client.acs_status
    assert isinstance(status, ACSStatus)
    assert status.online_status and not status.checkout_ok
    assert status.library_name == "Mariborska knjižnica"
    assert status.timeout_period == 50
    assert client.supports("checkout") and client.supports("renew_all")
    assert not client.supports("hold") and not client.supports("fee_paid")
    with pytest.raises(ValueError, match="unknown message name"):
        client.supports("teleport")
    finished_cleanly(server)


def test_a_sip1_server_without_supported_messages_supports_everything() -> None:
    body = f"98YYYYNN050003{DATE}1.00AOMB|"  # no BX at all
    with running([Step("99", Answer(frame(body)))]) as server:
        client = Sip2Client(settings(server))
        bounded(client.connect)
        client.close()
    assert client.supports("renew") and client.supports("hold")
    finished_cleanly(server)


def test_status_is_refreshed_when_the_interval_has_passed() -> None:
    now = [1000.0]
    script = [*handshake(), Step("99", Answer(frame(acs_status_body(online=False))))]
    with running(script) as server:
        client = Sip2Client(settings(server, status_interval_s=60), clock=lambda: now[0])
        bounded(client.maybe_refresh_status)  # never had one: connects (which sends 99)
        now[0] += 59
        bounded(client.maybe_refresh_status)  # not yet due
        assert server.count("99") == 1
        now[0] += 1
        bounded(client.maybe_refresh_status)
        client.close()
    assert server.count("99") == 2
    assert client.acs_status is not None and not client.acs_status.online_status
    finished_cleanly(server)


# --------------------------------------------------------------------------- framing variants


def test_cr_lf_both_ways() -> None:
    def crlf(code: str) -> Callable[[bytes], bool]:
        return lambda raw: raw[:2] == code.encode() and raw.endswith(b"\r\n")

    script = [
        Step(crlf("99"), Answer(frame(acs_status_body(), ending=b"\r\n"))),
        Step(crlf("17"), Answer(frame(ITEM_INFO_ANSWER, sequence=1, ending=b"\r\n"))),
        Step(crlf("17"), Answer(frame(ITEM_INFO_ANSWER, sequence=2, ending=b"\r\n"))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server, line_ending=b"\r\n"))
        for _ in range(2):  # the LF left after the first answer must not upset the second
            answer = bounded(lambda: client.request(ITEM_INFO))
            assert isinstance(answer, ItemInformationResponse)
        client.close()
    finished_cleanly(server)


def test_without_checksums_both_ways() -> None:
    def plain(code: str) -> Callable[[bytes], bool]:
        return lambda raw: raw[:2] == code.encode() and b"AY" not in raw and b"AZ" not in raw

    script = [
        Step(plain("99"), Answer(frame(acs_status_body(), checksums=False))),
        Step(plain("11"), Answer(frame(CHECKOUT_OK, checksums=False))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server, checksums=False))
        answer = bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert isinstance(answer, CheckoutResponse) and answer.ok
    finished_cleanly(server)


def test_answers_without_checksum_are_accepted_when_we_send_them() -> None:
    script = [
        Step("99", Answer(frame(acs_status_body(), checksums=False))),
        Step("11", Answer(frame(CHECKOUT_OK, sequence=None))),  # AZ but no AY
    ]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert isinstance(answer, CheckoutResponse) and answer.ok
    assert b"AY1AZ" in server.raw_requests("11")[0]
    finished_cleanly(server)


def test_an_answer_with_another_sequence_number_is_accepted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = [*handshake(), Step("17", Answer(frame(ITEM_INFO_ANSWER, sequence=7)))]
    with running(script) as server, caplog.at_level(logging.INFO, "kiosk.sip2.client"):
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert isinstance(answer, ItemInformationResponse)
    assert "sequence number 7, the request had 1" in caplog.text
    finished_cleanly(server)


# --------------------------------------------------------------------------- resends


def test_wrong_checksum_then_correct_after_97() -> None:
    script = [
        *handshake(),
        Step("11", Answer(frame(CHECKOUT_OK, sequence=1, bad_checksum=True))),
        Step("97", Answer(frame(CHECKOUT_OK, sequence=1))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert isinstance(answer, CheckoutResponse) and answer.ok
    assert server.raw_requests("97") == [b"97AZFEF5\r"]
    assert server.count("11") == 1
    finished_cleanly(server)


def test_a_server_that_always_damages_its_answers_is_given_up() -> None:
    bad = frame(CHECKOUT_OK, sequence=1, bad_checksum=True)
    script = [*handshake(), Step("11", Answer(bad)), Step("97", Answer(bad), times=None)]
    with running(script) as server:
        client = Sip2Client(settings(server, resend_limit=2))
        with pytest.raises(Sip2Unavailable, match="kept sending damaged answers") as error:
            bounded(lambda: client.request(CHECKOUT))
        client.close()
    # The checkout reached the server: the caller must look before sending it again.
    assert isinstance(error.value, AnswerLost)
    assert server.count("97") == 2 and server.count("11") == 1
    assert server.problems == []


def test_a_garbled_answer_is_asked_for_again() -> None:
    garbled = frame(f"12X{DATE}AOMB|", sequence=1)  # valid checksum, invalid message
    script = [
        *handshake(),
        Step("17", Answer(garbled)),
        Step("97", Answer(frame(ITEM_INFO_ANSWER, sequence=1))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert isinstance(answer, ItemInformationResponse)
    finished_cleanly(server)


def test_96_from_the_server_gets_the_same_request_bytes_again() -> None:
    script = [
        *handshake(),
        Step("11", Answer(b"96AZFEF6\r")),
        Step("11", Answer(frame(CHECKOUT_OK, sequence=1))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert isinstance(answer, CheckoutResponse) and answer.ok
    first, second = server.raw_requests("11")
    assert first == second
    finished_cleanly(server)


def test_a_server_that_keeps_asking_for_resends_is_given_up() -> None:
    script = [*handshake(), Step("11", Answer(b"96\r"), times=None)]
    with running(script) as server:
        client = Sip2Client(settings(server, resend_limit=2))
        with pytest.raises(Sip2Unavailable, match="kept asking to send it again"):
            bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert server.count("11") == 3  # the request and two resends it asked for
    assert server.problems == []


def test_resend_requests_are_not_for_callers() -> None:
    client = Sip2Client(Sip2Settings(host="127.0.0.1", port=9))
    with pytest.raises(ValueError, match="not a request the client sends"):
        client.request(RequestACSResend())


# --------------------------------------------------------------------------- charsets, extensions


def test_cp850_answer_with_accents() -> None:
    script = [
        Step("99", Answer(frame(acs_status_body().replace("ž", "z"), charset="cp850"))),
        Step("63", Answer(frame(patron_answer("René Müller"), sequence=1, charset="cp850"))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server, charset="cp850"))
        answer = bounded(lambda: client.request(PATRON_INFO))
        client.close()
    assert isinstance(answer, PatronInformationResponse)
    assert answer.personal_name == "René Müller"
    finished_cleanly(server)


def test_utf8_answer_with_slovenian_letters() -> None:
    name = "Črtomir Šuštar Žnidaršič"
    script = [*handshake(), Step("63", Answer(frame(patron_answer(name), sequence=1)))]
    with running(script) as server:
        client = Sip2Client(settings(server, charset="utf-8"))
        answer = bounded(lambda: client.request(PATRON_INFO))
        client.close()
    assert isinstance(answer, PatronInformationResponse)
    assert answer.personal_name == name
    assert answer.valid_patron is True and answer.valid_patron_password is True
    finished_cleanly(server)


def test_unknown_extension_fields_are_kept() -> None:
    body = CHECKOUT_OK + "PB19800101|ZZzvezek 2|CRMB-odrasli|"
    script = [*handshake(), Step("11", Answer(frame(body, sequence=1)))]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert isinstance(answer, CheckoutResponse) and answer.ok
    assert answer.unknown == (("PB", "19800101"), ("ZZ", "zvezek 2"), ("CR", "MB-odrasli"))
    finished_cleanly(server)


# --------------------------------------------------------------------------- lost answers


def test_closed_in_the_middle_of_a_checkout_answer_is_answer_lost_sent_once() -> None:
    script = [*handshake(), Step("11", CloseMidAnswer(frame(CHECKOUT_OK, sequence=1), after=12))]
    with running(script) as server:
        client = Sip2Client(settings(server))
        with pytest.raises(AnswerLost, match="closed the connection in the middle"):
            bounded(lambda: client.request(CHECKOUT))
        assert not client.connected
        client.close()
    assert server.count("11") == 1
    assert server.connections == 1  # no reconnect to send it again
    finished_cleanly(server)


def test_a_slow_answer_within_the_timeout_is_fine() -> None:
    script = [*handshake(), Step("11", Answer(frame(CHECKOUT_OK, sequence=1), delay_s=0.3))]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert isinstance(answer, CheckoutResponse) and answer.ok
    assert client.last_round_trip_ms is not None and client.last_round_trip_ms >= 250
    finished_cleanly(server)


def test_a_server_that_never_answers_a_checkout_is_answer_lost_after_the_timeout() -> None:
    with running([*handshake(), Step("11", Silence())]) as server:
        client = Sip2Client(settings(server))
        bounded(client.connect)
        started = time.monotonic()
        with pytest.raises(AnswerLost, match=f"no answer within {TIMEOUT_S:g} s"):
            bounded(lambda: client.request(CHECKOUT))
        elapsed = time.monotonic() - started
        client.close()
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 0.5
    assert server.count("11") == 1 and server.connections == 1
    finished_cleanly(server)


def test_a_lost_read_is_asked_again_once_on_a_new_connection() -> None:
    script = [
        *handshake(),
        Step("17", CloseAfterReading()),
        *handshake(),
        Step("17", Answer(frame(ITEM_INFO_ANSWER, sequence=1))),
    ]
    with running(script) as server:
        client = Sip2Client(settings(server))
        answer = bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert isinstance(answer, ItemInformationResponse)
    assert server.count("17") == 2 and server.connections == 2
    assert [r.connection for r in server.requests if r.code == "17"] == [1, 2]
    finished_cleanly(server)


def test_a_read_lost_twice_is_answer_lost() -> None:
    script = [*handshake(), Step("17", CloseAfterReading())] * 2
    with running(script) as server:
        client = Sip2Client(settings(server))
        with pytest.raises(AnswerLost, match="also after reconnecting"):
            bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert server.count("17") == 2  # one repeat, no more
    finished_cleanly(server)


def test_a_server_that_closed_an_idle_connection_gets_a_new_one_before_a_write() -> None:
    script = [
        Step("99", Answer(frame(acs_status_body()), close_after=True)),
        *handshake(),
        Step("09", Answer(frame(f"101YNN{DATE}AOMB|AB30001|AQMB-Center|", sequence=1))),
    ]
    checkin = CheckinRequest(
        transaction_date=WHEN,
        return_date=WHEN,
        current_location="MB",
        institution_id="MB",
        item_identifier="30001",
        terminal_password="",
    )
    with running(script) as server:
        client = Sip2Client(settings(server))
        bounded(client.connect)
        time.sleep(0.1)  # the server's FIN arrives while the kiosk is idle
        answer = bounded(lambda: client.request(checkin))
        client.close()
    assert answer.ok  # type: ignore[attr-defined]
    assert server.count("09") == 1 and server.connections == 2
    finished_cleanly(server)


def test_requests_from_two_threads_never_overlap() -> None:
    slow = Answer(frame(ITEM_INFO_ANSWER, sequence=None), delay_s=0.05)
    with running([*handshake(), Step("17", slow, times=6)]) as server:
        client = Sip2Client(settings(server))
        answers: list[Any] = []

        def three_requests() -> None:
            for _ in range(3):
                answers.append(client.request(ITEM_INFO))

        threads = [threading.Thread(target=three_requests) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        client.close()
    assert len(answers) == 6
    assert all(isinstance(a, ItemInformationResponse) for a in answers)
    finished_cleanly(server)  # the server complains when a request arrives mid-answer


# --------------------------------------------------------------------------- connecting, backoff


class UpperBoundRng:
    """Jitter that always takes the longest delay, and notes the ranges it was asked for."""

    def __init__(self) -> None:
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


def test_refused_connection_then_backoff_then_success() -> None:
    now = [500.0]
    rng = UpperBoundRng()
    server = ScriptedServer([*handshake(), Step("17", Answer(frame(ITEM_INFO_ANSWER, sequence=1)))])
    with server:  # bound, not listening yet: connections are refused
        client = Sip2Client(
            settings(server, backoff_initial_s=2.0, backoff_max_s=3.0),
            clock=lambda: now[0],
            rng=rng,  # type: ignore[arg-type]
        )
        with pytest.raises(Sip2Unavailable, match="refused the connection"):
            bounded(lambda: client.request(ITEM_INFO))
        now[0] += 1.0
        with pytest.raises(Sip2Unavailable, match="reconnecting in 1 s"):
            bounded(lambda: client.request(ITEM_INFO))
        now[0] += 1.0
        with pytest.raises(Sip2Unavailable, match="refused"):  # backoff over: tries, fails
            bounded(lambda: client.request(ITEM_INFO))
        server.start()
        now[0] += 2.5
        with pytest.raises(Sip2Unavailable, match="reconnecting in 1 s"):
            bounded(lambda: client.request(ITEM_INFO))
        assert server.connections == 0  # the server was not hammered during the backoff
        now[0] += 0.5
        answer = bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert isinstance(answer, ItemInformationResponse)
    # Full jitter in [0, min(max, initial * 2**failures)]: 2 s, then 4 s capped at 3 s.
    assert rng.ranges == [(0, 2.0), (0, 3.0)]
    finished_cleanly(server)


def test_a_failure_after_success_starts_the_backoff_from_the_beginning() -> None:
    now = [0.0]
    rng = UpperBoundRng()
    server = ScriptedServer([*handshake(), *handshake()])
    with server:
        client = Sip2Client(settings(server), clock=lambda: now[0], rng=rng)  # type: ignore[arg-type]
        with pytest.raises(Sip2Unavailable):
            bounded(client.connect)
        now[0] += 10
        server.start()
        bounded(client.connect)
        client.close()
    server.stop()
    with pytest.raises(Sip2Unavailable, match="refused"):
        bounded(client.connect)
    assert rng.ranges == [(0, 0.5), (0, 0.5)]


def test_nothing_listening_at_all_is_unavailable_quickly() -> None:
    with ScriptedServer([]) as server:
        port = server.port
    client = Sip2Client(Sip2Settings(host="127.0.0.1", port=port, connect_timeout_s=0.5))
    with pytest.raises(Sip2Unavailable, match="refused the connection"):
        bounded(client.connect, limit_s=2)


# --------------------------------------------------------------------------- TLS


def _openssl_cert(directory: Path, name: str, subject_alt: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={name}", "-addext", f"subjectAltName={subject_alt}",
        ],
        check=True,
        capture_output=True,
        timeout=20,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory = tmp_path_factory.mktemp("certs")
    return {
        "server": _openssl_cert(directory, "localhost", "DNS:localhost,IP:127.0.0.1"),
        "elsewhere": _openssl_cert(directory, "ils.example", "DNS:ils.example"),
        "kiosk": _openssl_cert(directory, "kiosk-42", "DNS:kiosk-42"),
    }


def server_tls(cert: tuple[Path, Path], client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def test_tls_with_the_server_certificate_trusted(certs: dict[str, tuple[Path, Path]]) -> None:
    script = [*handshake(login=True), Step("17", Answer(frame(ITEM_INFO_ANSWER, sequence=2)))]
    with running(script, tls=server_tls(certs["server"])) as server:
        client = Sip2Client(
            settings(server, tls=True, ca_file=certs["server"][0], username="kiosk", password="x")
        )
        answer = bounded(lambda: client.request(ITEM_INFO))
        client.close()
    assert isinstance(answer, ItemInformationResponse)
    assert server.client_certs == []
    finished_cleanly(server)


def test_tls_with_an_untrusted_certificate_is_refused(certs: dict[str, tuple[Path, Path]]) -> None:
    with running(handshake(), tls=server_tls(certs["server"])) as server:
        client = Sip2Client(settings(server, tls=True))  # the system's CAs do not know it
        with pytest.raises(Sip2Unavailable, match="certificate") as error:
            bounded(client.connect)
    assert "Traceback" not in str(error.value) and "\n" not in str(error.value)
    assert server.requests == []  # nothing, not even the login, went to that server


def test_tls_with_a_certificate_for_another_host_is_refused(
    certs: dict[str, tuple[Path, Path]],
) -> None:
    with running(handshake(), tls=server_tls(certs["elsewhere"])) as server:
        client = Sip2Client(settings(server, tls=True, ca_file=certs["elsewhere"][0]))
        with pytest.raises(Sip2Unavailable, match="certificate"):
            bounded(client.connect)
    assert server.requests == []


def test_tls_presents_the_client_certificate(certs: dict[str, tuple[Path, Path]]) -> None:
    tls = server_tls(certs["server"], client_ca=certs["kiosk"][0])
    with running(handshake(), tls=tls) as server:
        client = Sip2Client(
            settings(
                server,
                tls=True,
                ca_file=certs["server"][0],
                client_cert=certs["kiosk"][0],
                client_key=certs["kiosk"][1],
            )
        )
        bounded(client.connect)
        client.close()
    subjects = [dict(pair[0] for pair in cert["subject"]) for cert in server.client_certs]
    assert subjects == [{"commonName": "kiosk-42"}]
    finished_cleanly(server)


def test_a_missing_ca_file_is_a_plain_error(tmp_path: Path) -> None:
    client = Sip2Client(
        Sip2Settings(host="127.0.0.1", port=9, tls=True, ca_file=tmp_path / "missing.pem")
    )
    with pytest.raises(Sip2Unavailable, match="cannot use the CA file"):
        bounded(client.connect)


# --------------------------------------------------------------------------- privacy


def test_debug_logs_hold_no_pin_password_or_patron_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = [
        *handshake(login=True),
        Step("11", Answer(frame(CHECKOUT_OK + "AEJana Novak|", sequence=2))),
    ]
    with running(script) as server, caplog.at_level(logging.DEBUG, "kiosk.sip2"):
        client = Sip2Client(settings(server, username="kiosk", password=PASSWORD))
        bounded(lambda: client.request(CHECKOUT))
        client.close()
    assert "CheckoutRequest (11)" in caplog.text
    assert redact(PATRON) in caplog.text
    for secret in (PIN, PASSWORD, PATRON, "Jana Novak"):
        assert secret not in caplog.text
    finished_cleanly(server)


def test_redacted_masks_secrets_and_patron_ids() -> None:
    raw = (
        b"11YN20250314    101500                  AOMB|AA0500123456|AB30001|AC"
        b"term-pw|AD4931|AY3AZF07F\r"
    )
    shown = redacted(raw)
    assert shown == (
        "11YN20250314    101500                  AOMB|AA"
        + redact("0500123456")
        + "|AB30001|AC****|AD****|AY3AZF07F\\r"
    )
    login = redacted(b"9300CNkiosk|COs3cret|CPMB|AY0AZF000\r\n")
    assert login == "9300CNkiosk|CO****|CPMB|AY0AZF000\\r\\n"
    # An empty PIN shows that none was sent; that is not a secret.
    assert "|AD|" in redacted(b"2300020250314    101500AOMB|AA1|AC|AD|")


def test_redacted_masks_even_when_the_layout_is_unknown() -> None:
    shown = redacted(b"XXjunkAD4931|AA0500123456|COpw|")
    assert "4931" not in shown and "0500123456" not in shown and "COpw" not in shown


_SECRET = st.text(alphabet="qwxz", min_size=6, max_size=12)  # letters nothing else here uses


@given(pin=_SECRET, password=_SECRET, patron=_SECRET, name=_SECRET)
def test_redacted_never_shows_a_secret(pin: str, password: str, patron: str, name: str) -> None:
    messages = [
        f"9300CNKIOSK|CO{password}|CPMB|AY0AZ0000",
        f"23000{DATE}AOMB|AA{patron}|AC{password}|AD{pin}|",
        f"11YN{DATE}{' ' * 18}AOMB|AA{patron}|AB1|AC|AD{pin}|",
        patron_answer(name).replace(PATRON, patron),
        f"63000{DATE}{' ' * 10}AA{patron}|AD{pin}|",  # fields in another order
    ]
    for text in messages:
        shown = redacted(text.encode())
        for secret in (pin, password, patron, name):
            assert secret not in shown


# --------------------------------------------------------------------------- settings


def test_settings_from_config(tmp_path: Path) -> None:
    section = Sip2BackendSection(
        host="ils.example",
        port=6443,
        username="kiosk",
        password=PASSWORD,
        terminal_password="term",
        ca_file="certs/ca.pem",
        client_cert="/etc/kiosk/client.pem",
        line_ending="crlf",
        charset="cp850",
        status_interval_s=30,
    )
    result = Sip2Settings.from_config(section, tmp_path)
    assert result.host == "ils.example" and result.port == 6443 and result.tls
    assert result.password == PASSWORD and result.terminal_password == "term"
    assert result.ca_file == tmp_path / "certs/ca.pem"
    assert result.client_cert == Path("/etc/kiosk/client.pem") and result.client_key is None
    assert result.line_ending == b"\r\n" and result.charset == "cp850"
    assert result.status_interval_s == 30.0
    assert PASSWORD not in repr(result) and "term" not in repr(result)


def test_bad_settings_are_one_plain_error() -> None:
    with pytest.raises(ValueError, match=r"port must be 1 to 65535.*timeout_s must be more"):
        Sip2Settings(host="x", port=0, timeout_s=0)
    with pytest.raises(ValueError, match="character set"):
        Sip2Client(Sip2Settings(host="x", port=1, charset="klingon"))
