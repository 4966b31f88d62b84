"""kiosk.sdnotify speaks systemd's notify protocol: the exact bytes, over a real unix
datagram socket (a path, or the abstract namespace), and nothing at all outside systemd."""

from __future__ import annotations

import os
import socket
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk import sdnotify


class Listener:
    """What systemd's side of $NOTIFY_SOCKET sees: datagrams, with the sender's PID."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(2)

    def receive(self) -> tuple[bytes, int]:
        data, ancillary, _flags, _addr = self.sock.recvmsg(
            4096, socket.CMSG_SPACE(struct.calcsize("3i"))
        )
        pid = next(
            struct.unpack("3i", raw[:12])[0]
            for level, kind, raw in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
        )
        return data, pid


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[Listener, dict[str, str]]]:
    address = str(tmp_path / "notify")
    listener = Listener(address)
    yield listener, {"NOTIFY_SOCKET": address}
    listener.sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[Listener, dict[str, str]]]:
    name = f"kiosk-test-{uuid.uuid4().hex}"
    listener = Listener(b"\0" + name.encode())
    yield listener, {"NOTIFY_SOCKET": "@" + name}
    listener.sock.close()


def test_ready_with_status_is_one_datagram(path_socket: tuple[Listener, dict[str, str]]) -> None:
    listener, env = path_socket
    assert sdnotify.ready("Kiosk is on screen", environ=env) is True
    data, pid = listener.receive()
    assert data == b"READY=1\nSTATUS=Kiosk is on screen"
    assert pid == os.getpid()  # what NotifyAccess=main checks


def test_each_message_has_its_exact_bytes(path_socket: tuple[Listener, dict[str, str]]) -> None:
    listener, env = path_socket
    assert sdnotify.ready(environ=env)
    assert sdnotify.watchdog_ping(environ=env)
    assert sdnotify.status("Izposoja: čakam na kartico", environ=env)
    assert sdnotify.stopping(environ=env)
    assert sdnotify.notify("EXTEND_TIMEOUT_USEC=5000000", environ=env)
    received = [listener.receive()[0] for _ in range(5)]
    assert received == [
        b"READY=1",
        b"WATCHDOG=1",
        "STATUS=Izposoja: čakam na kartico".encode(),
        b"STOPPING=1",
        b"EXTEND_TIMEOUT_USEC=5000000",
    ]


def test_abstract_namespace_socket(abstract_socket: tuple[Listener, dict[str, str]]) -> None:
    listener, env = abstract_socket
    assert sdnotify.watchdog_ping(environ=env) is True
    assert listener.receive()[0] == b"WATCHDOG=1"


def test_status_cannot_smuggle_another_assignment(
    path_socket: tuple[Listener, dict[str, str]],
) -> None:
    listener, env = path_socket
    sdnotify.status("printer:\npaper out\nREADY=1", environ=env)
    assert listener.receive()[0] == b"STATUS=printer: paper out READY=1"


@given(st.text(max_size=200))
def test_any_status_text_stays_one_status_line(text: str) -> None:
    line = sdnotify._status_line(text)
    assert line.startswith("STATUS=")
    assert "\n" not in line and "\r" not in line
    assert line == "STATUS=" + " ".join(text.split())


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"NOTIFY_SOCKET": ""},
        {"NOTIFY_SOCKET": "@"},
        {"NOTIFY_SOCKET": "relative/notify"},
        {"NOTIFY_SOCKET": "vsock:2:1234"},
    ],
)
def test_outside_systemd_every_call_is_a_quiet_no_op(env: dict[str, str]) -> None:
    assert sdnotify.socket_address(env) is None
    assert sdnotify.ready("x", environ=env) is False
    assert sdnotify.watchdog_ping(environ=env) is False
    assert sdnotify.status("x", environ=env) is False
    assert sdnotify.stopping(environ=env) is False


def test_a_socket_that_went_away_is_not_an_error(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone")}
    assert sdnotify.watchdog_ping(environ=env) is False
    (tmp_path / "not-a-socket").write_text("")
    assert sdnotify.ready(environ={"NOTIFY_SOCKET": str(tmp_path / "not-a-socket")}) is False


def test_no_socket_in_the_environment_means_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.watchdog_ping() is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": str(os.getpid())}, 2.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "abc"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "30s"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval_s(env) == expected
