"""A SIP2 2.00 server (ACS) in front of a `CirculationBackend`: the demo ILS over the wire.

`kiosk demo-ils` runs it on the embedded demo library, so the kiosk's SIP2 client,
backend and technician tools are exercised on the real protocol path. It is
tolerant the way real servers must be with self-check units:

- CR, CR LF or LF end a message; the answer ends the way the request did (CR when
  nothing told otherwise); checksums and sequence numbers are optional on input;
- every answer carries a sequence number (the request's AY, 0 without one) and a
  valid checksum;
- a message with a wrong checksum, or one that cannot be read, is answered with 96
  (request SC resend) and the connection stays open; 97 repeats the last answer
  byte for byte;
- before a successful login only 93 (login) and 99 (SC status) are served; other
  requests get their response with ok=0 and "Please log in first".

One thread per connection; each connection closes after `idle_timeout_s` without
data, and when a peer sends more than the codec's maximum message length without
ending a message. Logs carry no PIN, password or full patron identifier.
What is answered is in `server_answers.py`, the texts and refusals in
`server_refusals.py`, TLS helpers in `server_tls.py`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import ssl
import threading
from collections.abc import Mapping
from types import TracebackType

from kiosk.backends.demo_data import LIBRARY_ISIL
from kiosk.circulation import CirculationBackend, Reason
from kiosk.sip2.codec import Codec
from kiosk.sip2.errors import ChecksumError, Sip2Error
from kiosk.sip2.messages import Message, RequestACSResend, RequestSCResend
from kiosk.sip2.server_answers import Responder, SessionState
from kiosk.sip2.server_refusals import (
    AF_TEXTS,
    LOGIN_REQUIRED_TEXT,
    OFFLINE_TEXT,
    SUPPORTED_MESSAGES,
)
from kiosk.sip2.server_tls import (
    CertificateError,
    can_make_certificates,
    make_self_signed_certificate,
    make_server_ssl_context,
)

__all__ = [
    "AF_TEXTS",
    "LOGIN_REQUIRED_TEXT",
    "OFFLINE_TEXT",
    "SUPPORTED_MESSAGES",
    "CertificateError",
    "Sip2Server",
    "can_make_certificates",
    "make_self_signed_certificate",
    "make_server_ssl_context",
]

log = logging.getLogger("kiosk.sip2.server")

DEFAULT_USERS: Mapping[str, str] = {"kiosk": "kiosk"}
DEFAULT_LIBRARY_NAME = "Mariborska knjižnica (demo)"
IDLE_TIMEOUT_S = 600.0
HANDSHAKE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
_ACCEPT_POLL_S = 0.2  # how soon the accept loop notices stop()
_ENDINGS = (b"\r", b"\r\n", b"\n")


def _next_message(buffer: bytes) -> tuple[bytes, bytes | None, bytes] | None:
    """(message, its line ending, rest) for the first complete message, None if there is none.

    The ending is None when a CR is the buffer's last byte: an LF may still follow.
    """
    cr, lf = buffer.find(b"\r"), buffer.find(b"\n")
    ends = [p for p in (cr, lf) if p >= 0]
    if not ends:
        return None
    at = min(ends)
    if at == lf:
        return buffer[:at], b"\n", buffer[at + 1 :]
    if at + 1 == len(buffer):
        return buffer[:at], None, b""
    if buffer[at + 1 : at + 2] == b"\n":
        return buffer[:at], b"\r\n", buffer[at + 2 :]
    return buffer[:at], b"\r", buffer[at + 1 :]


class Sip2Server:
    """Serves `library` over SIP2 2.00 on TCP (or TLS with `ssl_context`)."""

    def __init__(
        self,
        library: CirculationBackend,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        charset: str = "utf-8",
        institution_id: str = LIBRARY_ISIL,
        library_name: str = DEFAULT_LIBRARY_NAME,
        timeout_period_s: float = 30.0,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.library = library
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        # One codec per line ending; codecs keep no state, so threads share them.
        # Answers never fail on a character the charset lacks (transliterated) or a "|".
        self._codecs = {
            ending: Codec(charset=charset, line_ending=ending, unencodable="replace", sanitize=True)
            for ending in _ENDINGS
        }
        self.charset = self._codecs[b"\r"].charset
        self.responder = Responder(
            library,
            users=DEFAULT_USERS if users is None else users,
            institution_id=institution_id,
            library_name=library_name,
            timeout_period_s=timeout_period_s,
        )
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._count = 0  # connections served, to name them in the log

    # ------------------------------------------------------------------ switches

    @property
    def circulation_online(self) -> bool:
        """False: the ACS status says offline and checkout/checkin/renew are refused."""
        return self.responder.circulation_online

    @circulation_online.setter
    def circulation_online(self, value: bool) -> None:
        self.responder.circulation_online = bool(value)

    @property
    def checked_in_ok(self) -> bool:
        """Koha's account option: a checkin of an item that was not on loan answers ok=1."""
        return self.responder.checked_in_ok

    @checked_in_ok.setter
    def checked_in_ok(self, value: bool) -> None:
        self.responder.checked_in_ok = bool(value)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Listen and serve in background threads; returns once the port is open.

        Raises OSError when the address cannot be used (port in use, no permission).
        """
        if self._listener is not None:
            raise RuntimeError("the SIP2 server is already started")
        self._stopping.clear()
        # The address family from the host ("::1" is IPv6); gaierror is an OSError too.
        family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((self.host, self.port), family=family)
        listener.settimeout(_ACCEPT_POLL_S)
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="sip2-accept", daemon=True
        )
        self._accept_thread.start()
        host, port = self.address
        log.info(
            "SIP2 server listening on %s:%d (%s)",
            host,
            port,
            "TLS" if self.ssl_context else "plain",
        )

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually listened on (the port chosen by the system for port 0)."""
        if self._listener is None:
            raise RuntimeError("the SIP2 server is not started")
        host, port = self._listener.getsockname()[:2]
        return host, port

    def serve_forever(self) -> None:
        """Serve until stop() or Ctrl-C (which stops cleanly instead of raising)."""
        if self._listener is None:
            self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            log.info("SIP2 server interrupted")
        finally:
            self.stop()

    def stop(self) -> None:
        """Close the listener and every connection, and wait for their threads."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once on Linux
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            connections = list(self._connections.items())
        for conn, _thread in connections:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also for TLS: wakes the reader without
                # touching the TLS object another thread is using.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for _conn, thread in connections:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def __enter__(self) -> Sip2Server:
        if self._listener is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ connections

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # the listener was closed by stop()
            with self._lock:
                busy = len(self._connections) >= self.max_connections
                self._count += 1
                name = f"sip2-{self._count}"
            if busy:
                log.warning("too many SIP2 connections: refusing %s:%s", *peer[:2])
                conn.close()
                continue
            thread = threading.Thread(
                target=self._serve_connection, args=(conn, peer, name), name=name, daemon=True
            )
            with self._lock:
                self._connections[conn] = thread
            thread.start()

    def _track(self, old: socket.socket, new: socket.socket) -> None:
        with self._lock:
            thread = self._connections.pop(old, None)
            if thread is not None:
                self._connections[new] = thread

    def _serve_connection(self, conn: socket.socket, peer: tuple, name: str) -> None:
        where = f"{name} {peer[0]}:{peer[1]}"
        log.info("%s connected", where)
        try:
            if self.ssl_context is not None:
                conn.settimeout(HANDSHAKE_TIMEOUT_S)
                tls = self.ssl_context.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                )
                self._track(conn, tls)
                conn = tls
                if self._stopping.is_set():
                    return
                tls.do_handshake()
            conn.settimeout(self.idle_timeout_s)
            self._converse(conn, where)
        except TimeoutError:
            log.info("%s idle for %.0f s: closing", where, self.idle_timeout_s)
        except (ssl.SSLError, ConnectionError) as exc:
            log.info("%s closed: %s", where, exc)
        except OSError as exc:
            if not self._stopping.is_set():
                log.info("%s closed: %s", where, exc)
        except Exception:  # a bug must end this connection only, never the server
            log.exception("%s: unexpected error, closing the connection", where)
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            with contextlib.suppress(OSError):
                conn.close()
            log.info("%s disconnected", where)

    def _converse(self, conn: socket.socket, where: str) -> None:
        """Read messages and answer them until the peer leaves or the server stops."""
        state = SessionState()
        codec = self._codecs[b"\r"]
        ending = b"\r"  # answers end like the peer's last message that showed its ending
        last_answer: bytes | None = None
        cr_at_end = False  # the last read ended on CR: an LF in the next read belongs to it
        buffer = b""
        while not self._stopping.is_set():
            data = conn.recv(4096)
            if not data:
                if buffer.strip(b"\r\n\x00"):
                    log.info("%s left in the middle of a message", where)
                return
            if cr_at_end and data[:1] == b"\n":
                data, ending = data[1:], b"\r\n"
            cr_at_end = False
            buffer += data
            while (found := _next_message(buffer)) is not None:
                raw, message_ending, buffer = found
                if message_ending is None:
                    # CR, or the first half of CR LF: as before if that was CR LF, else CR.
                    cr_at_end = True
                    ending = b"\r\n" if ending == b"\r\n" else b"\r"
                else:
                    ending = message_ending
                if not raw.strip(b"\x00 "):
                    continue  # blank line or keep-alive
                answer = self._answer(state, raw, ending, last_answer, where)
                if answer is None:
                    continue
                conn.sendall(answer)
                if not answer.startswith(b"96"):
                    last_answer = answer
            if len(buffer) > codec.max_length:
                log.warning(
                    "%s sent %d bytes without ending a message: closing", where, len(buffer)
                )
                return

    def _answer(
        self,
        state: SessionState,
        raw: bytes,
        ending: bytes,
        last_answer: bytes | None,
        where: str,
    ) -> bytes | None:
        """The bytes to send for one received message (None: send nothing)."""
        codec = self._codecs[ending]
        received = dt.datetime.now().replace(microsecond=0)
        if raw[:2] == b"97":
            # Repeat exactly what was sent; before any answer, ask the SC to go first.
            return last_answer if last_answer is not None else codec.encode(RequestSCResend())
        try:
            frame = codec.decode(raw)
        except ChecksumError as exc:
            log.info("%s: %s: asking for a resend", where, exc)
            return codec.encode(RequestSCResend())
        except Sip2Error as exc:
            log.warning("%s: unreadable message (%s): asking for a resend", where, exc)
            return codec.encode(RequestSCResend())
        request = frame.message
        if isinstance(request, RequestACSResend):  # e.g. with a NUL before it
            return last_answer if last_answer is not None else codec.encode(RequestSCResend())
        if isinstance(request, RequestSCResend):
            log.info("%s sent %s, which only a server sends: no answer", where, request.name)
            return None
        response = self.responder.answer(state, request, received)
        if response is None:
            log.warning(
                "%s sent %s, which is not a request: asking for a resend", where, request.name
            )
            return codec.encode(RequestSCResend())
        return self._encode(codec, request, response, frame.sequence or 0, where)

    def _encode(
        self, codec: Codec, request: Message, response: Message, sequence: int, where: str
    ) -> bytes | None:
        try:
            return codec.encode(response, sequence=sequence)
        except Sip2Error as exc:
            log.error("%s: cannot send the answer to %s: %s", where, request.name, exc)
        try:  # say no rather than leave the SC waiting
            refusal = self.responder.refusal(request, (AF_TEXTS[Reason.OTHER],))
            return codec.encode(refusal, sequence=sequence)
        except (Sip2Error, TypeError) as exc:
            log.error("%s: cannot send a refusal either: %s", where, exc)
            return None
