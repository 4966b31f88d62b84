"""The byte stream under the SIP2 client: TCP or TLS, whole messages in, bytes out.

No SIP2 rules here beyond framing (the codec's `split` finds message ends): the
client decides what to send and what an answer means. Every socket operation
has a timeout, so nothing here can hang. Failures become one of two plain
exceptions, `ConnectFailed` (no connection was made) and `StreamBroken` (an open
connection timed out or ended), whose text is a sentence for the log and the
technician, never a traceback and never a secret.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from kiosk.sip2.errors import Sip2Error

Splitter = Callable[[bytes], tuple[list[bytes], bytes]]
_RECEIVE_SIZE = 65536


class ConnectFailed(Exception):
    """No connection: refused, unreachable, timed out, or the TLS handshake failed."""


class StreamBroken(Exception):
    """An open connection stopped working: no answer in time, closed, or garbage without end."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


def tls_context(
    *,
    verify: bool,
    ca_file: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
) -> ssl.SSLContext:
    """A client context: the server's certificate checked against ca_file (or the system's
    store) with its host name, unless verify is off; a client certificate when given."""
    try:
        if verify:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        else:
            # Only for test set-ups: the connection is encrypted but anyone could be listening.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    except (OSError, ssl.SSLError) as exc:
        raise ConnectFailed(f"cannot use the CA file {ca_file}: {_reason(exc)}") from None
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(
                f"cannot use the client certificate {client_cert}: {_reason(exc)}"
            ) from None
    return context


class Connection:
    """One open connection to the SIP2 server."""

    def __init__(self, sock: socket.socket, split: Splitter) -> None:
        self._sock = sock
        self._split = split
        self._buffer = b""
        self._messages: deque[bytes] = deque()  # complete messages read but not yet asked for
        self.closed = False

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        timeout_s: float,
        split: Splitter,
        tls: ssl.SSLContext | None = None,
    ) -> Connection:
        """Connect (and shake hands over TLS) within timeout_s, or raise ConnectFailed."""
        where = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except ConnectionRefusedError:
            raise ConnectFailed(
                f"{where} refused the connection (is the SIP2 server running?)"
            ) from None
        except TimeoutError:
            raise ConnectFailed(f"no connection to {where} within {timeout_s:g} s") from None
        except socket.gaierror as exc:
            raise ConnectFailed(f"cannot find the host {host!r}: {_reason(exc)}") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {where}: {_reason(exc)}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small messages, ASAP
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)  # handshake within timeout_s
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise ConnectFailed(
                f"the TLS certificate of {where} was not accepted: {exc.verify_message}"
            ) from None
        except TimeoutError:
            sock.close()
            raise ConnectFailed(f"no TLS handshake with {where} within {timeout_s:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise ConnectFailed(f"TLS handshake with {where} failed: {_reason(exc)}") from None
        return cls(sock, split)

    @property
    def cipher(self) -> str | None:
        """The TLS cipher in use, for the log; None over plain TCP."""
        if isinstance(self._sock, ssl.SSLSocket):
            info = self._sock.cipher()
            return f"{info[1]} {info[0]}" if info else None
        return None

    def send(self, data: bytes, timeout_s: float) -> None:
        try:
            self._sock.settimeout(timeout_s)
            self._sock.sendall(data)
        except TimeoutError:
            raise StreamBroken(f"could not send within {timeout_s:g} s", timed_out=True) from None
        except OSError as exc:
            raise StreamBroken(f"the connection broke while sending: {_reason(exc)}") from None

    def receive(self, deadline: float) -> bytes:
        """The next message (without its line ending), waiting until `deadline` (monotonic)."""
        while not self._messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamBroken("no answer in time", timed_out=True)
            try:
                self._sock.settimeout(remaining)
                chunk = self._sock.recv(_RECEIVE_SIZE)
            except TimeoutError:
                raise StreamBroken("no answer in time", timed_out=True) from None
            except OSError as exc:
                raise StreamBroken(f"the connection broke: {_reason(exc)}") from None
            if not chunk:
                what = "in the middle of an answer" if self._buffer.strip() else "without answering"
                raise StreamBroken(f"the server closed the connection {what}")
            self._take(chunk)
        return self._messages.popleft()

    def discard_unread(self) -> tuple[int, bool]:
        """Before a new request: drop what the server sent unasked (a late or doubled answer
        would otherwise be taken for the next one). Returns (bytes dropped, still open);
        a server that closed an idle connection is noticed here, before anything is sent."""
        dropped = len(self._buffer) + sum(len(m) for m in self._messages)
        self._buffer = b""
        self._messages.clear()
        try:
            self._sock.settimeout(0)
            while self._readable():
                chunk = self._sock.recv(_RECEIVE_SIZE)
                if not chunk:
                    return dropped, False
                dropped += len(chunk)
        except (BlockingIOError, ssl.SSLWantReadError):
            pass  # nothing (or no whole TLS record) waiting
        except OSError:
            return dropped, False
        return dropped, True

    def _readable(self) -> bool:
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True
        readable, _w, _x = select.select([self._sock], [], [], 0)
        return bool(readable)

    def _take(self, chunk: bytes) -> None:
        try:
            messages, self._buffer = self._split(self._buffer + chunk)
        except Sip2Error as exc:
            raise StreamBroken(str(exc)) from None
        self._messages.extend(messages)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with suppress(OSError):  # closing a broken socket: nothing to save
            self._sock.close()


def _reason(exc: BaseException) -> str:
    """The plain part of an OSError / SSLError (no errno tuples, no library prefixes)."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
