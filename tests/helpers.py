"""Helpers shared by tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kiosk.config import KioskConfig, default_config_path, load_config

T = TypeVar("T")


def demo_config_in(data_dir: Path, *, over_sip2: bool | None = None, **session: int) -> KioskConfig:
    """The shipped demo configuration, with its data in `data_dir` (and, if given, the
    demo library reached directly or over SIP2 on loopback)."""
    config = load_config(default_config_path())
    kiosk = config.kiosk.model_copy(update={"data_dir": str(data_dir)})
    changes: dict[str, object] = {"kiosk": kiosk}
    if over_sip2 is not None:
        demo = config.backend.demo.model_copy(update={"over_sip2": over_sip2})
        changes["backend"] = config.backend.model_copy(update={"demo": demo})
    if session:
        changes["session"] = config.session.model_copy(update=session)
    return config.model_copy(update=changes)


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
        pytest.fail(f"the call hung for more than {limit_s} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class Link:
    """A TCP relay on loopback between a client and a server that a test can cut,
    restore or slow down: a real network fault on real sockets (no mock of the client).

    While cut, open connections are dropped and new ones are closed at once, as a
    dead router or a rebooting server does to a kiosk.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self.target = target
        self.delay_s = 0.0
        self._up = True
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._up = False
            for sock in self._open:
                _close_quietly(sock)
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close_quietly(self._listener)

    def _accept(self) -> None:
        import socket

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    _close_quietly(client)
                    continue
                try:
                    server = socket.create_connection(self.target, timeout=2)
                except OSError:
                    _close_quietly(client)
                    continue
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: Any, sink: Any) -> None:
        import time

        try:
            while chunk := source.recv(65536):
                if self.delay_s:
                    time.sleep(self.delay_s)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _close_quietly(source)
            _close_quietly(sink)


def _close_quietly(sock: Any) -> None:
    import contextlib
    import socket

    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
