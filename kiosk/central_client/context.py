"""Settings and the shared parts the client's pieces work with."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.central_client.backoff import Backoff
from kiosk.central_client.cache import CentralCache
from kiosk.central_client.transport import Transport, Unreachable
from kiosk.store import Store

log = logging.getLogger(__name__)

# Outbox kinds this client sends (the core writes receipt_email).
REGISTRATION = "registration"
REGISTRATION_CANCEL = "registration_cancel"
RECEIPT_EMAIL = "receipt_email"
CENTRAL_KINDS = (REGISTRATION, REGISTRATION_CANCEL, RECEIPT_EMAIL)

DEFAULT_HEARTBEAT_S = 60


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CentralClientSettings:
    base_url: str  # the API base, e.g. https://kiosk.example.org/api/v1
    device_id: str
    token: str
    card_key: bytes  # the library-wide key of card tokens
    cache_dir: Path  # event pictures
    timeout_s: float = 10.0
    # Registrations and check-ins wait for the server at most this long: a patron is waiting.
    interactive_timeout_s: float = 4.0
    heartbeat_interval_s: int | None = None  # None: as the server's reply asks
    event_sync_interval_s: int = 60
    statistics_interval_s: int = 3600
    languages: tuple[str, ...] = ("sl", "en")

    def __post_init__(self) -> None:
        if not self.card_key:
            raise ValueError("the card key must not be empty")
        if len(self.card_key) < 16:
            # Card numbers are short: the key's length is what keeps the tokens unguessable.
            log.warning(
                "the central card key is short (%d bytes); use 32 or more", len(self.card_key)
            )
        if not self.token:
            raise ValueError("the central API token must not be empty")

    def __repr__(self) -> str:  # never the token or the key
        return f"CentralClientSettings(base_url={self.base_url!r}, device_id={self.device_id!r})"


def make_card_token(card_key: bytes, card: str) -> str:
    """The contract's CardToken: HMAC-SHA256 of the normalised card number under the
    library's card key, 64 lowercase hex digits. The same on every kiosk."""
    number = card.strip()
    if not number:
        raise ValueError("a card number is needed for a card token")
    return hmac.new(card_key, number.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Context:
    settings: CentralClientSettings
    store: Store
    cache: CentralCache
    transport: Transport
    clock: Callable[[], float]
    wallclock: Callable[[], dt.datetime]
    rng: Callable[[], float]
    link: Backoff = field(init=False)
    _backoffs: dict[str, Backoff] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.link = Backoff(self.rng)

    def backoff(self, key: str) -> Backoff:
        if key not in self._backoffs:
            self._backoffs[key] = Backoff(self.rng)
        return self._backoffs[key]

    def peek_backoff(self, key: str) -> Backoff | None:
        return self._backoffs.get(key)

    def forget_backoff(self, key: str) -> None:
        self._backoffs.pop(key, None)

    def link_up(self) -> bool:
        return self.link.due(self.clock())

    def failed(self, key: str, exc: Unreachable) -> float:
        """Note a failure of `key`: no answer at all holds back every request (the link
        is down); a bad answer holds back only this kind. Returns its next attempt time."""
        now = self.clock()
        if exc.network:
            return self.link.failed(now, exc.retry_after_s)
        return self.backoff(key).failed(now, exc.retry_after_s)

    def succeeded(self, key: str) -> None:
        self.link.succeeded()
        backoff = self._backoffs.get(key)
        if backoff is not None:
            backoff.succeeded()

    def next_attempt(self, key: str) -> float:
        """Earliest monotonic time `key` may be tried again (0: now)."""
        own = self._backoffs.get(key)
        return max(self.link.not_before, own.not_before if own else 0.0)

    def due(self, key: str) -> bool:
        return self.clock() >= self.next_attempt(key)
