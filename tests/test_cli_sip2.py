"""`kiosk sip2 …`, the technician's SIP2 commands, run as real processes against a real
SIP2 server: the demo library served in this process (`Sip2Server`) or by `kiosk demo-ils`.

Commands are started in parallel where they do not depend on each other, to keep the
file fast; every run is checked for tracebacks and for the login password in its output.
"""

from __future__ import annotations

import json
import os
import re
import select
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.backends.demo import DemoLibrary
from kiosk.backends.demo_data import ANA, PETRA
from kiosk.sip2.fields import SUPPORTED_MESSAGES
from kiosk.sip2.server import Sip2Server, can_make_certificates
from kiosk.sip2.tool import (
    PASSWORD_ENV,
    PIN_ENV,
    ConnectionOptions,
    UsageError,
    mask_card,
    resolve_target,
)
from kiosk.sip2.tool import parse_url as tool_parse_url

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Zelo-tajno-9"  # distinctive, so finding it in any output means it leaked
ANA_PIN = "1234"
RENEWABLE = "34001000035"  # on loan to Ana, renewable
RESERVED = "34001000059"  # on loan to Ana, reserved by Marko: no renewal
FREE = "34001000073"  # on the shelf
TEST_KEYS = {
    "ok",
    "login",
    "online",
    "checkout_ok",
    "checkin_ok",
    "protocol_version",
    "library_name",
    "round_trip_ms",
    "supported",
    "error",
}


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def json(self) -> dict:
        return json.loads(self.out.strip().splitlines()[-1])


def _env(password: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (PASSWORD_ENV, PIN_ENV)}
    env["PYTHONPATH"] = str(ROOT)
    if password is not None:
        env[PASSWORD_ENV] = password
    return env | (extra or {})


def start(
    *args: str, password: str | None = PASSWORD, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "screens.cli", "sip2", *args],
        stdin=subprocess.DEVNULL,  # no terminal: never a prompt
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(password, env),
        cwd=ROOT,
    )
    return proc, time.monotonic()


def finish(started: tuple[subprocess.Popen[str], float]) -> Run:
    proc, at = started
    out, err = proc.communicate(timeout=60)
    run = Run(proc.returncode, out, err, time.monotonic() - at)
    assert "Traceback" not in run.err, run.err
    assert PASSWORD not in run.out + run.err
    return run


def sip2(*args: str, password: str | None = PASSWORD, env: dict[str, str] | None = None) -> Run:
    return finish(start(*args, password=password, env=env))


def together(
    *commands: tuple[str, ...], password: str | None = PASSWORD, env: dict[str, str] | None = None
) -> list[Run]:
    """Independent commands run at the same time (each a new interpreter)."""
    return [finish(s) for s in [start(*c, password=password, env=env) for c in commands]]


def one_error_line(run: Run) -> str:
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("kiosk sip2: ")
    return lines[0]


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sip2Server]:
    library = DemoLibrary(tmp_path_factory.mktemp("ils") / "demo-ils.sqlite")
    srv = Sip2Server(library, users={"kiosk": PASSWORD})
    srv.start()
    yield srv
    srv.stop()
    library.close()


@pytest.fixture(scope="module")
def url(server: Sip2Server) -> str:
    host, port = server.address
    return f"sip2://kiosk@{host}:{port}"


class Recorder:
    """A TCP relay between the command and the server that keeps what the command sent."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.sent = b""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        client, _ = self._listener.accept()
        server = socket.create_connection(self.upstream)
        peers = {client: server, server: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select(timeout=10):
                    data = key.fileobj.recv(65536)
                    if not data:
                        for sock in (client, server, self._listener):
                            sock.close()
                        return
                    if key.fileobj is client:
                        self.sent += data
                    peers[key.fileobj].sendall(data)

    def wait(self) -> bytes:
        self._thread.join(timeout=10)
        return self.sent


@pytest.fixture
def demo_ils_tls(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`kiosk demo-ils --tls` on a free port: (port, its self-signed certificate)."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "screens.cli", "demo-ils", "--tls", "--port", "0"),
            *("--data-dir", str(tmp_path), "--password", PASSWORD),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(None, None),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        start_line = proc.stdout.readline()
        assert first.startswith("self-signed certificate"), first + proc.stderr.read()
        cert = Path(first.rsplit(": ", 1)[1].strip())
        assert "(TLS)" in start_line, start_line
        port = int(re.search(r"127\.0\.0\.1:(\d+)", start_line).group(1))
        yield port, cert
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# --------------------------------------------------------------------------- test


def test_test_reports_login_status_round_trip_and_support(url: str) -> None:
    human, as_json = together(("test", "--url", url), ("test", "--url", url, "--json"))
    assert human.code == 0, human.err
    assert human.err == ""
    assert re.search(r"^login: +ok \(user kiosk\)$", human.out, re.M)
    assert re.search(r"^status: +online, checkout allowed, checkin allowed$", human.out, re.M)
    assert "Mariborska knjižnica (demo)" in human.out
    assert re.search(r"^round trip: +\d+\.\d ms \(median of 5 SC status\)$", human.out, re.M)
    assert re.search(r"^supports: .*\bcheckout\b.*\brenew all\b", human.out, re.M)
    assert re.search(r"^not: .*\bhold\b", human.out, re.M)

    assert as_json.code == 0
    data = as_json.json
    assert set(data) >= TEST_KEYS
    assert data["ok"] is data["login"] is data["online"] is True
    assert data["checkout_ok"] is data["checkin_ok"] is True
    assert data["protocol_version"] == "2.00"
    assert data["library_name"] == "Mariborska knjižnica (demo)"
    assert 0 < data["round_trip_ms"] < 1000
    assert list(data["supported"]) == list(SUPPORTED_MESSAGES)
    assert data["supported"]["checkout"] is True and data["supported"]["hold"] is False
    assert data["error"] is None


def test_offline_server_fails_the_test(server: Sip2Server, url: str) -> None:
    server.circulation_online = False
    try:
        run = sip2("test", "--url", url, "--json")
    finally:
        server.circulation_online = True
    assert run.code == 1
    assert run.json["online"] is False and run.json["login"] is True
    assert "offline" in one_error_line(run)


def test_crlf_and_no_checksums_are_what_goes_on_the_wire(server: Sip2Server) -> None:
    plain, bare = Recorder(server.address), Recorder(server.address)
    runs = together(
        ("test", "--url", f"sip2://kiosk@127.0.0.1:{plain.port}"),
        ("test", "--url", f"sip2://kiosk@127.0.0.1:{bare.port}", "--crlf", "--no-checksums"),
    )
    assert [r.code for r in runs] == [0, 0], [r.err for r in runs]
    default, crlf = plain.wait(), bare.wait()
    # Login, then 1 + 5 SC status: seven messages each way.
    assert default.count(b"\r") == 7 and b"\n" not in default
    assert re.fullmatch(rb"(?:[^\r]*AY\dAZ[0-9A-F]{4}\r){7}", default)
    assert crlf.count(b"\r\n") == 7
    assert b"AY" not in crlf and b"AZ" not in crlf


@pytest.mark.skipif(not can_make_certificates(), reason="neither cryptography nor openssl here")
def test_tls_with_the_demo_ils_self_signed_certificate(demo_ils_tls: tuple[int, Path]) -> None:
    port, cert = demo_ils_tls
    trusted, flag, untrusted, plain = together(
        ("test", "--url", f"sip2s://kiosk@127.0.0.1:{port}", "--ca-file", str(cert), "--json"),
        ("test", "--url", f"sip2://kiosk@localhost:{port}", "--tls", "--ca-file", str(cert)),
        ("test", "--url", f"sip2s://kiosk@127.0.0.1:{port}"),
        ("test", "--url", f"sip2://kiosk@127.0.0.1:{port}", "--timeout", "3"),
    )
    assert trusted.code == 0, trusted.err
    assert trusted.json["tls"] is True and trusted.json["ok"] is True
    assert flag.code == 0, flag.err
    assert "(TLS, utf-8)" in flag.out
    assert untrusted.code == 1
    assert "certificate" in one_error_line(untrusted)
    assert plain.code == 1
    one_error_line(plain)


# --------------------------------------------------------------------------- failures


def test_wrong_password_is_a_login_failure(url: str) -> None:
    human, as_json = together(
        ("test", "--url", url), ("test", "--url", url, "--json"), password="not-the-password"
    )
    assert human.code == as_json.code == 1
    assert human.out == ""
    assert "login" in one_error_line(human)
    assert "not-the-password" not in human.out + human.err + as_json.out + as_json.err
    assert as_json.json["login"] is False and as_json.json["ok"] is False
    assert "login" in as_json.json["error"]


def test_nothing_listening_or_a_silent_server_fail_within_the_timeout() -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]  # bound, not listening: connections refused
        with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
            silent_url = f"sip2://kiosk@127.0.0.1:{silent.getsockname()[1]}"
            refused, mute = together(
                ("test", "--url", f"sip2://kiosk@127.0.0.1:{closed_port}", "--timeout", "2"),
                ("test", "--url", silent_url, "--timeout", "1", "--json"),
            )
    assert refused.code == 1 and refused.seconds < 10
    assert "refused the connection" in one_error_line(refused)
    assert mute.code == 1 and mute.seconds < 10
    assert "no answer within 1 s" in one_error_line(mute)
    assert mute.json["ok"] is False and mute.json["login"] is None


def test_usage_errors_exit_2_with_one_line(url: str, tmp_path: Path) -> None:
    demo_config = ROOT / "config" / "kiosk.toml"
    # No password anywhere and no terminal to ask on.
    no_password = start("test", "--url", url, password=None)
    runs = together(
        ("test",),  # no server given
        ("test", "--url", url, "--config", str(demo_config)),  # two given
        ("test", "--url", "http://127.0.0.1:6001"),
        ("test", "--url", f"sip2://kiosk:{PASSWORD}@127.0.0.1:6001"),
        ("test", "--config", str(demo_config)),  # no [backend.sip2]
        ("test", "--url", url, "--charset", "ebcdic-nonsense"),
        ("test", "--url", url, "--ca-file", str(tmp_path / "missing.pem")),
        ("test", "--url", url, "--timeout", "0"),
        ("patron", "01|23", "--url", url),
        ("checkout", ANA, "--url", url),  # ITEM missing (argparse)
    )
    for run in runs:
        assert run.code == 2, run
        assert run.out == ""
    for run in runs[:-1]:
        one_error_line(run)
    assert "--url sip2://USER@HOST:PORT or --config PATH" in runs[0].err
    assert "must not carry the password" in runs[3].err
    assert "[backend.sip2]" in runs[4].err
    assert "01|23" not in runs[8].err
    assert "ITEM" in runs[9].err
    nothing = finish(no_password)
    assert nothing.code == 2
    assert PASSWORD_ENV in one_error_line(nothing)


def test_config_file_with_a_sip2_section(server: Sip2Server, tmp_path: Path) -> None:
    text = (ROOT / "config" / "example-branch.toml").read_text(encoding="utf-8")
    host, port = server.address
    text = re.sub(r'(?m)^host = ".*?"', f'host = "{host}"', text)
    text = re.sub(r"(?m)^port = \d+", f"port = {port}", text)
    text = re.sub(r"(?m)^tls = true", "tls = false", text)
    text = re.sub(r'(?m)^username = ".*?"', 'username = "kiosk"', text)
    config = tmp_path / "branch.toml"
    config.write_text(text, encoding="utf-8")
    # the example's other secrets
    token = {"KIOSK_CENTRAL_TOKEN": "central-api-token", "KIOSK_CENTRAL_CARD_KEY": "x" * 20}
    run = sip2("test", "--config", str(config), "--json", env=token)
    assert run.code == 0, run.err
    assert run.json["server"] == f"{host}:{port}"
    # password = { env = "KIOSK_SIP2_PASSWORD" } with the variable unset
    missing = sip2("test", "--config", str(config), password=None, env=token)
    assert missing.code == 2
    assert PASSWORD_ENV in missing.err


# --------------------------------------------------------------------------- patron, item


def test_patron_shows_loans_with_the_card_masked_and_no_pin(url: str) -> None:
    pin = {PIN_ENV: ANA_PIN}
    started = [
        start("patron", ANA, "--url", url, env=pin),
        start("patron", ANA, "--url", url, "--json", env=pin),
        start("patron", ANA, "--url", url, env={PIN_ENV: "9999"}),
        start("patron", "0100999999", "--url", url, "--json"),
    ]
    human, as_json, wrong, unknown = (finish(s) for s in started)
    for run in (human, as_json, wrong, unknown):
        everything = run.out + run.err
        assert ANA not in everything and "0100999999" not in everything
        assert ANA_PIN not in everything and "9999" not in everything.replace("••••••9999", "")
    assert human.code == 0, human.err
    assert re.search(r"^patron: +••••••3456 Ana Novak$", human.out, re.M)
    assert re.search(r"^PIN: +checked$", human.out, re.M)
    assert re.search(rf"^ +{RENEWABLE}  due \d{{4}}-\d\d-\d\d  Na klancu$", human.out, re.M)
    assert re.search(rf"^ +{RESERVED}  due \d{{4}}-\d\d-\d\d OVERDUE  Alamut$", human.out, re.M)

    data = as_json.json
    assert data["ok"] is True and data["reason"] == "ok" and data["valid"] is True
    assert data["card"] == "••••••3456" and data["pin_checked"] is True
    assert data["name"] == "Ana Novak"
    loans = {loan["item_id"]: loan for loan in data["loans"]}
    assert set(loans) == {RENEWABLE, RESERVED}
    assert loans[RESERVED]["overdue"] is True and loans[RENEWABLE]["overdue"] is False
    assert data["holds_ready"] == [] and data["fees_cents"] == 0

    assert wrong.code == 1
    assert "wrong_pin" in one_error_line(wrong)
    assert unknown.code == 1
    assert unknown.json["reason"] == "unknown_patron" and unknown.json["valid"] is False
    assert unknown.json["card"] == "••••••9999"


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_pin_and_password_prompts_on_a_terminal_are_not_echoed(url: str) -> None:
    import pty

    command = [sys.executable, "-m", "screens.cli", "sip2", "patron", ANA, "--pin-prompt"]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the command with the pty as its terminal
        os.chdir(ROOT)
        os.execve(command[0], [*command, "--url", url], _env(None, None))
    shown = b""

    def read_until(token: bytes) -> None:
        nonlocal shown
        deadline = time.monotonic() + 20
        while token not in shown and time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 0.2)
            if not ready:
                continue
            try:
                shown += os.read(terminal, 4096)
            except OSError:  # the child closed the terminal
                return

    read_until(b"PIN: ")
    os.write(terminal, ANA_PIN.encode() + b"\n")
    read_until(b"SIP2 password for kiosk@127.0.0.1")
    os.write(terminal, PASSWORD.encode() + b"\n")
    read_until(b"fees")
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    text = shown.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert re.search(r"^PIN: +checked", text, re.M)
    assert PASSWORD not in text and ANA_PIN not in text and ANA not in text


def test_item_status(url: str) -> None:
    known, unknown = together(
        ("item", RESERVED, "--url", url, "--json"), ("item", "99999999999", "--url", url)
    )
    assert known.code == 0, known.err
    data = known.json
    assert data["ok"] is True and data["title"] == "Alamut"
    assert data["state"] == "on_loan" and data["holds_queue"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", data["due"])
    assert data["location"] == "MB"
    assert unknown.code == 1
    assert "unknown_item" in unknown.out
    assert "does not know this item" in one_error_line(unknown)


# --------------------------------------------------------------------------- circulation


def test_checkout_checkin_renew(url: str) -> None:
    lent = sip2("checkout", PETRA, FREE, "--url", url, "--json")
    assert lent.code == 0, lent.err
    assert lent.json["ok"] is True and lent.json["title"] == "Sapramiška"
    assert lent.json["card"] == mask_card(PETRA) and PETRA not in lent.out
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", lent.json["due"])

    again, item = together(("checkout", PETRA, FREE, "--url", url), ("item", FREE, "--url", url))
    assert again.code == 1
    assert re.search(r"^result: +already_on_loan_to_you ", again.out, re.M)
    assert "already_on_loan_to_you" in one_error_line(again)
    assert re.search(r"^state: +on loan, due ", item.out, re.M)

    back = sip2("checkin", FREE, "--url", url, "--json")
    assert back.code == 0, back.err
    assert back.json["reason"] == "ok" and back.json["destination"] == "shelf"
    not_lent = sip2("checkin", FREE, "--url", url)
    assert not_lent.code == 1
    assert re.search(r"^result: +not_on_loan ", not_lent.out, re.M)

    renewed, refused = together(
        ("renew", ANA, RENEWABLE, "--url", url),
        ("renew", ANA, RESERVED, "--url", url, "--json"),
    )
    assert renewed.code == 0, renewed.err
    assert re.search(r"^result: +ok \(done\)$", renewed.out, re.M)
    assert re.search(r"^due: +\d{4}-\d\d-\d\d$", renewed.out, re.M)
    assert refused.code == 1
    assert refused.json["reason"] == "reserved_for_other"
    assert ANA not in renewed.out + refused.out


def test_circulation_against_an_unreachable_server_exits_1() -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
        run = sip2("checkout", PETRA, FREE, "--url", f"sip2://kiosk@127.0.0.1:{port}", "--json")
    assert run.code == 1
    assert run.json["reason"] == "backend_unavailable"
    assert "refused the connection" in one_error_line(run)


# --------------------------------------------------------------------------- the logic, directly


@pytest.mark.parametrize(
    ("card", "shown"),
    [("0100123456", "••••••3456"), ("12345", "•••45"), ("1234", "••34"), ("1", "•")],
)
def test_mask_card_never_shows_half_or_more(card: str, shown: str) -> None:
    assert mask_card(card) == shown


def test_url_forms() -> None:
    assert tool_parse_url("sip2://kiosk@127.0.0.1:6001") == ("kiosk", "127.0.0.1", 6001, False)
    assert tool_parse_url("sip2s://mb%40tezno@sip2.example.si") == (
        "mb@tezno",
        "sip2.example.si",
        6001,
        True,
    )
    assert tool_parse_url("sip2://[::1]:7000") == ("", "::1", 7000, False)
    for bad in ("sip2://kiosk@host:99999", "sip2://kiosk@:6001", "sip2://h:6001/path", "h:6001"):
        with pytest.raises(UsageError):
            tool_parse_url(bad)


def test_password_comes_from_the_environment_or_the_prompt() -> None:
    options = ConnectionOptions(url="sip2://kiosk@127.0.0.1:6001")
    from_env = resolve_target(options, environ={PASSWORD_ENV: "a"}, ask=lambda _p: "unused")
    prompts: list[str] = []
    typed = "typed-at-the-prompt"
    asked = resolve_target(options, environ={}, ask=lambda p: prompts.append(p) or typed)
    assert from_env.settings.password == "a" and asked.settings.password == typed
    assert prompts == ["SIP2 password for kiosk@127.0.0.1: "]
    assert typed not in repr(asked)  # the settings keep the password out of their repr
    with pytest.raises(UsageError, match="control characters") as caught:
        resolve_target(options, environ={PASSWORD_ENV: "x|y"}, ask=None)
    assert "x|y" not in str(caught.value)
