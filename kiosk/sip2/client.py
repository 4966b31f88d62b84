"""SIP2 client: one connection to the library system, used by one request at a time.

`Sip2Client.request(message)` sends a typed request and returns the typed answer.
Around that single call it does what real servers make necessary:

- connects on demand (TCP or TLS, login 93 when a user is set, then SC status 99)
  and, after a failed attempt, waits an exponential backoff with full jitter
  before the next one; calls during the backoff fail at once instead of
  hammering a server that is down;
- a damaged answer (bad checksum, or not parseable) is asked for again with 97,
  a 96 from the server gets the last message again, both a bounded number of
  times;
- when the answer is lost (timeout, connection closed) after the request went
  out, the stream is out of step, so the connection is dropped. Reads are then
  repeated once on a new connection; writes (checkout, checkin, renew ...) are
  never sent twice: `AnswerLost` tells the caller to look the item up first.

Logs hold message codes, sizes, timings and redacted patron ids, never PINs,
passwords or full patron identifiers; `redacted()` makes raw messages safe to log.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kiosk.privacy import redact
from kiosk.sip2.codec import Codec
from kiosk.sip2.errors import ChecksumError, Sip2Error
from kiosk.sip2.fields import SUPPORTED_MESSAGES
from kiosk.sip2.messages import (
    MESSAGES,
    ACSStatus,
    LoginRequest,
    LoginResponse,
    Message,
    RequestACSResend,
    SCStatus,
)
from kiosk.sip2.transport import ConnectFailed, Connection, StreamBroken, tls_context

if TYPE_CHECKING:
    from kiosk.config import Sip2BackendSection

_log = logging.getLogger(__name__)

# Request code -> the code of its answer (block patron is answered by a patron status).
ANSWER_CODES: dict[str, str] = {
    "93": "94",
    "99": "98",
    "01": "24",
    "23": "24",
    "63": "64",
    "25": "26",
    "35": "36",
    "37": "38",
    "17": "18",
    "19": "20",
    "11": "12",
    "09": "10",
    "29": "30",
    "65": "66",
    "15": "16",
}
# Reads: sending one twice changes nothing at the library, so a lost answer is fetched again.
SAFE_TO_REPEAT = frozenset({"99", "23", "63", "17", "35"})
_MAX_BACKOFF_EXPONENT = 30  # 2**30 half-seconds is beyond any backoff_max_s; avoids overflow


class Sip2Unavailable(Exception):
    """The SIP2 server cannot be used now. `str()` is a plain sentence without secrets."""


class AnswerLost(Sip2Unavailable):
    """The request may have reached the server, but no usable answer came back.

    For a write (checkout, checkin, renew ...) the caller must find out what happened
    (item information) before sending it again.
    """


class LoginRefused(Sip2Unavailable):
    """The server answered the login (93) with ok = 0."""


@dataclass(frozen=True)
class Sip2Settings:
    """How to reach and talk to one SIP2 server."""

    host: str
    port: int
    tls: bool = False
    verify_tls: bool = True
    ca_file: Path | None = None  # None: the system's CA store
    client_cert: Path | None = None
    client_key: Path | None = None  # None: the key is in client_cert
    username: str = ""  # login (93) only when set
    password: str = field(default="", repr=False)
    location_code: str = ""
    institution_id: str = ""
    terminal_password: str = field(default="", repr=False)
    charset: str = "utf-8"
    checksums: bool = True
    line_ending: bytes = b"\r"
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    status_interval_s: float = 60.0
    resend_limit: int = 3
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        problems = []
        if not self.host:
            problems.append("host is empty")
        if not 1 <= self.port <= 65535:
            problems.append(f"port must be 1 to 65535, not {self.port}")
        for name in ("timeout_s", "connect_timeout_s", "status_interval_s", "backoff_initial_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be more than 0")
        if self.backoff_max_s < self.backoff_initial_s:
            problems.append("backoff_max_s must be at least backoff_initial_s")
        if self.resend_limit < 0:
            problems.append("resend_limit must be 0 or more")
        if problems:
            raise ValueError("SIP2 settings: " + "; ".join(problems))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_config(cls, section: Sip2BackendSection, base_dir: Path) -> Sip2Settings:
        """From the `[backend.sip2]` configuration; relative file paths are taken from base_dir."""

        def path(raw: str) -> Path | None:
            if not raw:
                return None
            value = Path(raw).expanduser()
            return value if value.is_absolute() else base_dir / value

        def secret(value: Any) -> str:
            return "" if value is None else value.get_secret_value()

        return cls(
            host=section.host,
            port=section.port,
            tls=section.tls,
            verify_tls=section.verify_tls,
            ca_file=path(section.ca_file),
            client_cert=path(section.client_cert),
            client_key=path(section.client_key),
            username=section.username,
            password=secret(section.password),
            location_code=section.location_code,
            institution_id=section.institution_id,
            terminal_password=secret(section.terminal_password),
            charset=section.charset,
            checksums=section.checksums,
            line_ending=b"\r\n" if section.line_ending == "crlf" else b"\r",
            timeout_s=float(section.timeout_s),
            connect_timeout_s=float(section.connect_timeout_s),
            status_interval_s=float(section.status_interval_s),
            resend_limit=section.resend_limit,
        )


class _Lost(Exception):
    """Internal: the stream timed out or ended after something was sent."""


class Sip2Client:
    """A SIP2 connection that is safe to share between threads (one exchange at a time).

    `clock` (seconds, monotonic) times the backoff and the status interval; socket
    timeouts always run on the real clock. `rng` draws the backoff jitter. `sleep` is
    accepted for symmetry with the other injectable clocks but not needed: the client
    never waits out a backoff, it refuses at once.
    """

    def __init__(
        self,
        settings: Sip2Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        try:
            self._codec = Codec(
                charset=settings.charset,
                checksums=settings.checksums,
                line_ending=settings.line_ending,
            )
        except Sip2Error as exc:
            raise ValueError(f"SIP2 settings: {exc}") from None
        self._resend_request = self._codec.encode(RequestACSResend())
        # Reentrant: request() connects (login, status) while holding it.
        self._lock = threading.RLock()
        self._connection: Connection | None = None
        self._sequence = 0
        self._failures = 0  # connection attempts failed in a row
        self._retry_at: float | None = None
        self._last_failure = ""
        self._acs_status: ACSStatus | None = None
        self._status_at: float | None = None
        self._round_trip_ms: float | None = None

    # ----------------------------------------------------------------------- public

    @property
    def acs_status(self) -> ACSStatus | None:
        """The last ACS status (98) the server sent; None before the first one."""
        return self._acs_status

    @property
    def last_round_trip_ms(self) -> float | None:
        """Time from sending the last request to its accepted answer, resends included."""
        return self._round_trip_ms

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def connect(self) -> None:
        """Connect, log in and fetch the ACS status now (no-op when connected)."""
        with self._lock:
            self._ensure_connected()

    def request(self, message: Message) -> Message:
        """Send one request and return its answer (e.g. CheckoutRequest -> CheckoutResponse).

        Raises Sip2Unavailable (server unreachable, in backoff, login refused, kept
        sending damaged answers), AnswerLost (the request went out, no answer came back)
        and Sip2Error when the request itself cannot be encoded (nothing was sent).
        """
        expected = ANSWER_CODES.get(getattr(message, "code", ""))
        if expected is None:
            raise ValueError(
                f"{type(message).__name__} is not a request the client sends"
                " (resend requests 96/97 are handled by the client itself)"
            )
        with self._lock:
            self._ensure_ready()
            try:
                return self._exchange(message, expected)
            except _Lost as lost:
                self._drop()
                if message.code not in SAFE_TO_REPEAT:
                    raise AnswerLost(
                        f"{message.name}: {lost}; whether the server carried it out is unknown"
                    ) from None
                _log.info("%s: %s; asking again on a new connection", message.name, lost)
            self._ensure_ready()
            try:
                return self._exchange(message, expected)
            except _Lost as lost:
                self._drop()
                raise AnswerLost(f"{message.name}: {lost}, also after reconnecting") from None

    def refresh_status(self) -> ACSStatus:
        """Send an SC status (99) now and return the ACS status."""
        with self._lock:
            if self._connection is None:
                self._ensure_connected()  # connecting fetches the status
                assert self._acs_status is not None
                return self._acs_status
            return cast(ACSStatus, self.request(self._status_request()))

    def maybe_refresh_status(self) -> None:
        """Refresh the ACS status when status_interval_s has passed since the last one.

        Connects when not connected, so a heartbeat calling this notices when the server
        is back; raises Sip2Unavailable like request().
        """
        with self._lock:
            due = (
                self._status_at is None
                or self._clock() - self._status_at >= self.settings.status_interval_s
            )
            if due:
                self.refresh_status()

    def supports(self, message_name: str) -> bool:
        """Whether the last ACS status says the server supports a message (a name of
        SUPPORTED_MESSAGES, e.g. "renew_all"). True when the server did not say."""
        if message_name not in SUPPORTED_MESSAGES:
            raise ValueError(
                f"unknown message name {message_name!r}; known: {', '.join(SUPPORTED_MESSAGES)}"
            )
        status = self._acs_status
        if status is None:
            return True
        position = SUPPORTED_MESSAGES.index(message_name)
        bx = status.supported_messages.upper()
        # Only an explicit N says no; SIP 1.00 servers send a short or no BX at all.
        return position >= len(bx) or bx[position] != "N"

    def close(self) -> None:
        """Close the connection; the next request connects again."""
        with self._lock:
            self._drop()

    def __enter__(self) -> Sip2Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- connecting

    def _ensure_ready(self) -> None:
        """Connected, and nothing stale waiting on the connection."""
        self._ensure_connected()
        assert self._connection is not None
        dropped, still_open = self._connection.discard_unread()
        if dropped:
            _log.warning("dropped %d bytes the server sent unasked", dropped)
        if not still_open:
            # Servers close idle connections; nothing was sent yet, so reconnecting is safe.
            _log.info("the server closed the idle connection; reconnecting")
            self._drop()
            self._ensure_connected()

    def _ensure_connected(self) -> None:
        if self._connection is not None:
            return
        if self._retry_at is not None:
            wait = self._retry_at - self._clock()
            if wait > 0:
                raise Sip2Unavailable(f"{self._last_failure}; reconnecting in {math.ceil(wait)} s")
        self._connect_now()

    def _connect_now(self) -> None:
        settings = self.settings
        started = time.perf_counter()
        try:
            tls = (
                tls_context(
                    verify=settings.verify_tls,
                    ca_file=settings.ca_file,
                    client_cert=settings.client_cert,
                    client_key=settings.client_key,
                )
                if settings.tls
                else None
            )
            self._connection = Connection.open(
                settings.host,
                settings.port,
                timeout_s=settings.connect_timeout_s,
                split=self._codec.split,
                tls=tls,
            )
        except ConnectFailed as exc:
            raise self._failed(Sip2Unavailable(str(exc))) from None
        self._sequence = 0
        try:
            if settings.username:
                self._login()
            self._exchange(self._status_request(), "98")
        except LoginRefused as exc:
            self._drop()
            raise self._failed(exc) from None
        except _Lost as lost:
            self._drop()
            raise self._failed(Sip2Unavailable(f"{settings.address}: {lost}")) from None
        except Sip2Unavailable as exc:  # e.g. damaged answers: plain, the caller sent nothing
            self._drop()
            raise self._failed(Sip2Unavailable(str(exc))) from None
        except Sip2Error as exc:  # the login cannot be encoded in this charset
            self._drop()
            raise self._failed(Sip2Unavailable(f"cannot send the login: {exc}")) from None
        self._failures = 0
        self._retry_at = None
        status = self._acs_status
        assert status is not None
        assert self._connection is not None
        _log.info(
            "connected to %s%s in %.0f ms; ILS %s, checkout %s",
            settings.address,
            f" over TLS ({self._connection.cipher})" if settings.tls else "",
            (time.perf_counter() - started) * 1000,
            "online" if status.online_status else "OFFLINE",
            "allowed" if status.checkout_ok else "NOT allowed",
        )

    def _login(self) -> None:
        settings = self.settings
        answer = self._exchange(
            LoginRequest(
                login_user_id=settings.username,
                login_password=settings.password,
                location_code=settings.location_code or None,
            ),
            "94",
        )
        if not cast(LoginResponse, answer).ok:
            raise LoginRefused(
                f"the SIP2 server {settings.address} refused the login of user"
                f" {settings.username!r}: check the user name and password"
            )

    def _failed(self, error: Sip2Unavailable) -> Sip2Unavailable:
        """Note a failed connection attempt and set the next one after a jittered backoff."""
        settings = self.settings
        exponent = min(self._failures, _MAX_BACKOFF_EXPONENT)
        ceiling = min(settings.backoff_max_s, settings.backoff_initial_s * 2**exponent)
        delay = self._rng.uniform(0, ceiling)
        self._failures += 1
        self._retry_at = self._clock() + delay
        self._last_failure = str(error)
        _log.warning(
            "SIP2 connection failed (%d in a row): %s; next attempt in %.1f s",
            self._failures,
            error,
            delay,
        )
        return error

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _status_request(self) -> SCStatus:
        return SCStatus(status_code=0, max_print_width=80, protocol_version="2.00")

    # ----------------------------------------------------------------------- one exchange

    def _exchange(self, message: Message, expected: str) -> Message:
        """Send `message` on the open connection and return its answer.

        Raises _Lost when the stream times out or ends; Sip2Unavailable / AnswerLost
        (with the connection dropped) when the resend rules give up.
        """
        connection = self._connection
        assert connection is not None
        limit = self.settings.resend_limit
        sequence = None
        if self._codec.checksums:
            sequence = self._sequence
            self._sequence = (self._sequence + 1) % 10
        data = self._codec.encode(message, sequence=sequence)  # Sip2Error: nothing sent
        _log.debug("-> %s, %d bytes%s", message.name, len(data), _patron_note(message))
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("-> %s", redacted(data, self._codec.charset))
        started = time.perf_counter()
        last_sent = data
        deadline = self._send(connection, data)
        damaged = resends = strays = 0
        while True:
            raw = self._receive(connection, deadline)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("<- %s", redacted(raw, self._codec.charset))
            try:
                frame = self._codec.decode(raw)
            except Sip2Error as exc:
                damaged += 1
                problem = "a wrong checksum" if isinstance(exc, ChecksumError) else "no valid SIP2"
                if damaged > limit:
                    self._drop()
                    raise AnswerLost(
                        f"{message.name}: the server kept sending damaged answers"
                        f" ({problem}, {limit} resends asked)"
                    ) from None
                _log.warning(
                    "answer to %s had %s (%s); asking the server to resend it (97, %d of %d)",
                    message.name,
                    problem,
                    _without_excerpt(str(exc)),
                    damaged,
                    limit,
                )
                last_sent = self._resend_request
                deadline = self._send(connection, last_sent)
                continue
            answer = frame.message
            if answer.code == "96":
                resends += 1
                if resends > limit:
                    self._drop()
                    raise Sip2Unavailable(
                        f"{message.name}: the server kept asking to send it again"
                        f" ({limit} times); the link seems to damage messages"
                    )
                # The message it could not read is the last one sent (a 97 is repeated as is).
                _log.warning(
                    "the server asked for %s again (96, %d of %d)", message.name, resends, limit
                )
                deadline = self._send(connection, last_sent)
                continue
            if answer.code != expected:
                strays += 1
                _log.warning(
                    "expected answer %s to %s, got %s; ignoring it",
                    expected,
                    message.name,
                    answer.name,
                )
                if strays > limit:
                    self._drop()
                    raise AnswerLost(
                        f"{message.name}: the server answered with {answer.name}"
                        f" instead of message {expected}"
                    )
                continue
            if sequence is not None and frame.sequence is not None and frame.sequence != sequence:
                # Some servers count on their own; the answer is still the one to this request.
                _log.info(
                    "answer %s carries sequence number %d, the request had %d",
                    answer.code,
                    frame.sequence,
                    sequence,
                )
            self._round_trip_ms = (time.perf_counter() - started) * 1000
            _log.debug("<- %s, %d bytes after %.1f ms", answer.name, len(raw), self._round_trip_ms)
            if isinstance(answer, ACSStatus):
                self._acs_status = answer
                self._status_at = self._clock()
            return answer

    def _send(self, connection: Connection, data: bytes) -> float:
        """Send; returns the deadline (monotonic) for the answer."""
        timeout = self.settings.timeout_s
        try:
            connection.send(data, timeout)
        except StreamBroken as exc:
            raise _Lost(str(exc)) from None
        return time.monotonic() + timeout

    def _receive(self, connection: Connection, deadline: float) -> bytes:
        try:
            return connection.receive(deadline)
        except StreamBroken as exc:
            if exc.timed_out:
                raise _Lost(f"no answer within {self.settings.timeout_s:g} s") from None
            raise _Lost(str(exc)) from None


def _patron_note(message: Message) -> str:
    patron = getattr(message, "patron_identifier", None)
    return f", patron {redact(patron)}" if patron else ""


_EXCERPT = re.compile(r": ['\"].*\Z", re.DOTALL)


def _without_excerpt(text: str) -> str:
    """A codec error without its message excerpt (it may hold a patron's name)."""
    return _EXCERPT.sub("", text)


# --------------------------------------------------------------------------- log redaction

# Never shown: PIN, login password, terminal password.
_SECRET_CODES = frozenset({"AD", "CO", "AC"})
# Personal data with no use in a log: name, address, e-mail, phone.
_PERSONAL_CODES = frozenset({"AE", "BD", "BE", "BF"})
_MASKED = _SECRET_CODES | _PERSONAL_CODES
_ANY_MASKED = re.compile("(" + "|".join(sorted(_MASKED | {"AA"})) + ")([^|]*)")


def redacted(raw: bytes, charset: str = "utf-8") -> str:
    """A raw SIP2 message made safe for a debug log: PINs and passwords (AD, CO, AC) and
    personal data (AE, BD, BE, BF) as ****, patron identifiers (AA) as their redaction,
    control characters escaped."""
    text = raw.decode(charset, "backslashreplace")
    body = text.rstrip("\r\n")
    ending = text[len(body) :]
    spec = MESSAGES.get(body[:2])
    if spec is not None and len(body) >= 2 + spec.fixed_length:
        start = 2 + spec.fixed_length
        parts = [_mask_field(part) for part in body[start:].split("|")]
        shown = body[:start] + "|".join(parts)
    else:  # layout unknown: mask anything that looks like such a field
        shown = _ANY_MASKED.sub(lambda m: _mask_field(m.group(0)), body)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown + ending)


def _mask_field(part: str) -> str:
    code, value = part[:2], part[2:]
    if not value:
        return part
    if code in _MASKED:
        return code + "****"
    if code == "AA":
        return code + redact(value)
    return part
