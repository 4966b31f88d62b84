"""A scripted SIP2 server for tests: a real socket on loopback that answers from a script.

The script is a list of `Step`s consumed in order by whatever connection sends the
next request (the client has one connection at a time; a reconnecting client
simply continues the script). A step says which request it expects (a message
code such as "11", or a predicate on the raw bytes) and what to do:

    Answer(raw)                 send raw bytes (a whole message with its line ending)
    Answer(raw, delay_s=0.2)    ... after a pause
    Silence()                   never answer (the connection stays open)
    CloseAfterReading()         close the connection without a word
    CloseMidAnswer(raw, 10)     send the first 10 bytes of raw, then close

`frame()` builds raw messages the way different servers do (checksum or not, a
wrong checksum, CR or CR LF, any charset). The server records every request it
receives (`requests`, `count()`), the connections it accepted, the client
certificates it saw and anything unexpected (`problems`; a test should end with
`assert server.problems == []`). Use it as a context manager: it stops its threads.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

Expect = str | Callable[[bytes], bool] | None


# --------------------------------------------------------------------------- building answers


def frame(
    body: str,
    *,
    sequence: int | None = 0,
    checksums: bool = True,
    bad_checksum: bool = False,
    charset: str = "utf-8",
    ending: bytes = b"\r",
) -> bytes:
    """`body` (message code, fixed and variable fields) as a server would put it on the wire."""
    data = body.encode(charset)
    if checksums:
        if sequence is not None:
            data += b"AY%d" % sequence
        data += b"AZ"
        value = -sum(data) & 0xFFFF  # computed here, not by the codec under test
        if bad_checksum:
            value = (value + 1) & 0xFFFF
        data += b"%04X" % value
    return data + ending


DATE = "20250314    101500"
# BX: every message but block patron, fee paid, item status update, patron enable, hold.
ALL_BUT_SOME = "YYYNYYYYYNYNNNYY"


def acs_status_body(
    *,
    online: bool = True,
    checkout: bool = True,
    supported: str = "YYYYYYYYYYYYYYYY",
    extra: str = "",
) -> str:
    yn = {True: "Y", False: "N"}
    return (
        f"98{yn[online]}Y{yn[checkout]}YNN050003{DATE}2.00"
        f"AOMB|AMMariborska knjižnica|BX{supported}|{extra}"
    )


# --------------------------------------------------------------------------- script


@dataclass(frozen=True)
class Answer:
    raw: bytes
    delay_s: float = 0.0
    close_after: bool = False  # hang up once the answer is sent (an idle-timeout server)


@dataclass(frozen=True)
class Silence:
    pass


@dataclass(frozen=True)
class CloseAfterReading:
    pass


@dataclass(frozen=True)
class CloseMidAnswer:
    raw: bytes
    after: int


Action = Answer | Silence | CloseAfterReading | CloseMidAnswer


@dataclass
class Step:
    expect: Expect
    action: Action
    times: int | None = 1  # None: this step answers every matching request from now on

    def matches(self, raw: bytes) -> bool:
        if self.expect is None:
            return True
        if isinstance(self.expect, str):
            return raw[:2] == self.expect.encode()
        return bool(self.expect(raw))

    def describe(self) -> str:
        return self.expect if isinstance(self.expect, str) else "a predicate"


def login_ok() -> Step:
    return Step("93", Answer(frame("941")))


def status_ok(**kwargs: Any) -> Step:
    return Step("99", Answer(frame(acs_status_body(**kwargs))))


def handshake(*, login: bool = False, **status: Any) -> list[Step]:
    """What a connecting client sends first: login (when it has a user) and SC status."""
    return ([login_ok()] if login else []) + [status_ok(**status)]


# --------------------------------------------------------------------------- server


@dataclass
class Received:
    connection: int  # 1 for the first connection accepted, 2 for the next ...
    raw: bytes  # with its line ending

    @property
    def code(self) -> str:
        return self.raw[:2].decode("ascii", "replace")


_MESSAGE_END = re.compile(rb"\r\n|\r|\n")


@dataclass
class ScriptedServer:
    """Binds at once (port 0 = any free port); accepts connections after `start()`.

    Until then the port is bound but not listening, so a client's connect is refused:
    the same port can play "server down" and then "server back".
    """

    script: Sequence[Step]
    tls: ssl.SSLContext | None = None
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    client_certs: list[dict[str, Any]] = field(default_factory=list)
    tls_failures: list[str] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._steps = [Step(s.expect, s.action, s.times) for s in self.script]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]

    # -- life cycle

    def start(self) -> ScriptedServer:
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self._spawn(self._accept_loop)
        return self

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in [self._listener, *sockets]:
            with suppress(OSError):  # closing a broken socket: nothing to save
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)
            if thread.is_alive():
                self.problems.append(f"server thread {thread.name} did not stop")

    # -- what happened

    def count(self, code: str) -> int:
        return sum(1 for r in self.requests if r.code == code)

    def raw_requests(self, code: str) -> list[bytes]:
        return [r.raw for r in self.requests if r.code == code]

    @property
    def unused_steps(self) -> list[str]:
        with self._lock:
            return [s.describe() for s in self._steps if s.times is not None]

    # -- threads

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed by stop()
            with self._lock:
                self.connections += 1
                number = self.connections
                self._sockets.append(sock)
            self._spawn(self._serve, sock, number)

    def _serve(self, sock: socket.socket, number: int) -> None:
        sock.settimeout(0.05)
        if self.tls is not None:
            sock.settimeout(2)
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                self.tls_failures.append(str(exc))
                sock.close()
                return
            with self._lock:
                self._sockets.append(sock)
            certificate = sock.getpeercert()
            if certificate:
                self.client_certs.append(certificate)
            sock.settimeout(0.05)
        buffer = b""
        silent = False
        try:
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except (TimeoutError, ssl.SSLWantReadError):
                    continue
                if not chunk:
                    return  # the client closed
                buffer += chunk
                while (match := _MESSAGE_END.search(buffer)) is not None:
                    raw, buffer = buffer[: match.end()], buffer[match.end() :]
                    if not raw.strip(b"\r\n"):
                        continue
                    self.requests.append(Received(number, raw))
                    if silent:
                        continue
                    action = self._next_action(raw)
                    if action is None:
                        return
                    if isinstance(action, Silence):
                        silent = True
                    elif isinstance(action, CloseAfterReading):
                        return
                    elif isinstance(action, CloseMidAnswer):
                        sock.sendall(action.raw[: action.after])
                        time.sleep(0.02)  # let the half answer leave before the close
                        return
                    else:
                        if action.delay_s:
                            self._stop.wait(action.delay_s)
                            if buffer or _readable(sock):
                                self.problems.append(
                                    f"connection {number}: a request arrived before the answer"
                                    f" to {raw!r} was sent (two requests in flight)"
                                )
                        sock.sendall(action.raw)
                        if action.close_after:
                            return
        except OSError as exc:
            if not self._stop.is_set():
                self.problems.append(f"connection {number}: {exc}")
        finally:
            with suppress(OSError):  # closing a broken socket: nothing to save
                sock.close()

    def _next_action(self, raw: bytes) -> Action | None:
        with self._lock:
            for step in self._steps:
                if step.times is None and step.matches(raw):
                    return step.action
                if step.times is not None:
                    if not step.matches(raw):
                        break
                    step.times -= 1
                    if step.times == 0:
                        self._steps.remove(step)
                    return step.action
            expected = next((s.describe() for s in self._steps if s.times is not None), "nothing")
            self.problems.append(f"unexpected request {raw!r}; the script expected {expected}")
            return None


def _readable(sock: socket.socket) -> bool:
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return bool(select.select([sock], [], [], 0)[0])


@contextmanager
def running(script: Sequence[Step], **kwargs: Any) -> Iterator[ScriptedServer]:
    """A started ScriptedServer that is stopped afterwards."""
    with ScriptedServer(script, **kwargs) as server:
        yield server.start()
