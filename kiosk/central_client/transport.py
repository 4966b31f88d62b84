"""HTTP to the central API with requests, every answer sorted into three kinds:

- an `Answer` (2xx, 304) to use;
- `Unreachable`: try again later — no connection, a timeout, 408, 429, a 409
  "still in progress", any 5xx, or an answer that is not what the contract says
  (not JSON, wrong shape, too big, too slow). `maybe_applied` tells whether the
  server may have done the work anyway (then a retry must be idempotent, and an
  offline decision must look first);
- `Refused`: a final no (any other 4xx), with the server's error code and message.

Nothing raised here is a requests or pydantic exception, so callers never crash on a
bad answer. The bearer token goes only to the API's own origin (pictures may live
elsewhere).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from pydantic import BaseModel, ValidationError
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from kiosk.central_client import contract
from kiosk.central_client.backoff import retry_after_seconds

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
# Answers slower than this make the link "degraded" even when they succeed.
SLOW_MS = 2000.0

M = TypeVar("M", bound=BaseModel)


class Unreachable(Exception):
    """Try again later. `str(exc)` is a plain sentence for logs."""

    def __init__(
        self,
        detail: str,
        *,
        network: bool,
        maybe_applied: bool,
        status: int | None = None,
        code: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.network = network  # no answer at all (as opposed to a bad one)
        self.maybe_applied = maybe_applied
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


class Refused(Exception):
    """A final 4xx: do not send this again."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]
    latency_ms: float

    def parsed(self, model: type[M]) -> M:
        """The body checked against a contract model; a mismatch is Unreachable (garbage)."""
        try:
            return model.model_validate_json(self.body)
        except ValidationError as exc:
            raise Unreachable(
                f"the central API answered {self.status} with a body that is not a "
                f"{model.__name__} ({contract.problem(exc)})",
                network=False,
                maybe_applied=True,
                status=self.status,
                code="bad_answer",
            ) from None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise Unreachable(
                f"the central API answered {self.status} with something that is not JSON",
                network=False,
                maybe_applied=True,
                status=self.status,
                code="bad_answer",
            ) from None


@dataclass
class LinkState:
    """How the last requests went, for status(), doctor and the heartbeat."""

    tried: bool = False
    last_ok: bool = False
    last_network_failure: bool = False
    last_detail: str = "not contacted yet"
    latency_ms: float | None = None
    last_ok_at: dt.datetime | None = None


class Transport:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float,
        http: requests.Session | None = None,
        wallclock: Callable[[], dt.datetime],
        user_agent: str = "library-kiosk",
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._origin = _origin(self.base_url)
        self._token = token
        self.timeout_s = timeout_s
        self._http = http or requests.Session()
        self._own_http = http is None
        self._wallclock = wallclock
        self._user_agent = user_agent
        self.link = LinkState()

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def url(self, path_or_url: str) -> str:
        """An absolute URL: references are resolved against the base URL (RFC 3986), so
        `events` is `<base>/events` and `/api/v1/pictures/x.png` keeps its path."""
        return urljoin(self.base_url, path_or_url)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Answer:
        url = self.url(path)
        sent_headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        if _origin(url) == self._origin:
            sent_headers["Authorization"] = f"Bearer {self._token}"
        sent_headers.update(headers or {})
        timeout = timeout_s or self.timeout_s
        started = time.monotonic()
        try:
            answer = self._exchange(method, url, body, params, sent_headers, timeout, started)
        except Unreachable as exc:
            self._note(ok=False, network=exc.network, detail=str(exc), latency_ms=None)
            raise
        except Refused:
            self._note(ok=True, network=False, detail="answering", latency_ms=None)
            raise
        self._note(ok=True, network=False, detail="answering", latency_ms=answer.latency_ms)
        return answer

    def _exchange(
        self,
        method: str,
        url: str,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
        timeout: float,
        started: float,
    ) -> Answer:
        where = urlsplit(url).path
        try:
            with self._http.request(
                method,
                url,
                json=body,
                params=params,
                headers=headers,
                timeout=(min(timeout, 5.0), timeout),
                stream=True,
                allow_redirects=False,
            ) as response:
                data = _read_limited(response, started + timeout)
                status, answer_headers = response.status_code, response.headers.copy()
        except requests.RequestException as exc:
            not_sent = _not_sent(exc)
            raise Unreachable(
                f"{method} {where}: {_network_reason(exc)}",
                network=True,
                maybe_applied=not not_sent,
            ) from None
        except _TooSlow:
            raise Unreachable(
                f"{method} {where}: no complete answer within {timeout:g} s",
                network=True,
                maybe_applied=True,
            ) from None
        except _TooBig:
            raise Unreachable(
                f"{method} {where}: the answer is larger than {MAX_BODY_BYTES} bytes",
                network=False,
                maybe_applied=True,
                code="bad_answer",
            ) from None
        latency_ms = (time.monotonic() - started) * 1000
        if 200 <= status < 300 or status == 304:
            return Answer(status, data, answer_headers, latency_ms)
        code, message = _error_of(data, status)
        retry_after = retry_after_seconds(answer_headers.get("Retry-After"), self._wallclock())
        retryable = (
            status in (408, 429)
            or status >= 500
            or (status == 409 and code == "idempotency_key_in_progress")
            or not 400 <= status < 600  # 1xx, 3xx: not what the contract promises
        )
        if retryable:
            well_formed = code != f"http_{status}"
            raise Unreachable(
                f"{method} {where}: {status} {code}: {message}",
                network=False,
                # A proper error answer means the work was not done (the contract keeps
                # no error answers); anything else may hide a done piece of work.
                maybe_applied=not well_formed or status == 409,
                status=status,
                code=code,
                retry_after_s=retry_after,
            )
        raise Refused(status, code, message)

    def _note(self, *, ok: bool, network: bool, detail: str, latency_ms: float | None) -> None:
        link = self.link
        link.tried = True
        link.last_ok = ok
        link.last_network_failure = network
        link.last_detail = detail
        if ok:
            link.last_ok_at = self._wallclock()
            if latency_ms is not None:
                link.latency_ms = latency_ms


class _TooSlow(Exception):
    pass


class _TooBig(Exception):
    pass


def _read_limited(response: requests.Response, deadline: float) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES or past the deadline (a server that
    trickles bytes would otherwise hold the worker for ever)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooBig
        if time.monotonic() > deadline:
            raise _TooSlow
        chunks.append(chunk)
    return b"".join(chunks)


def _error_of(data: bytes, status: int) -> tuple[str, str]:
    try:
        error = contract.Error.model_validate_json(data)
    except ValidationError:
        return f"http_{status}", "the answer is not the contract's error shape"
    return error.code, error.message


def _not_sent(exc: requests.RequestException) -> bool:
    """The request surely never reached the server (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema)


def _network_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "no connection (timed out)"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (certificate?)"
    if isinstance(exc, requests.ConnectionError):
        return "no connection" if _not_sent(exc) else "the connection broke"
    return f"request failed ({type(exc).__name__})"


def normalise_base_url(url: str) -> str:
    """The API base with a trailing slash; a bare host gets the contract's /api/v1."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path:
        path = "/api/v1"
    return f"{parts.scheme}://{parts.netloc}{path}/"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
