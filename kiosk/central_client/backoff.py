"""When to try again: exponential backoff with full jitter, as "not before" times.

Nothing here sleeps: each kind of request (the event sync, the heartbeat, one
outbox entry…) has a `Backoff` that says when it may next be tried, and `sync()`
skips what is not yet due. Full jitter (AWS architecture blog, "Exponential
Backoff And Jitter"): after the n-th failure in a row wait a random time in
[0, min(cap, base * 2**n)], so a fleet of kiosks does not come back in step
after an outage. A `Retry-After` from the server is a floor, never shortened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

BASE_S = 1.0
CAP_S = 300.0
# A Retry-After beyond this is a broken or hostile header: wait the cap instead.
MAX_RETRY_AFTER_S = 3600.0


@dataclass
class Backoff:
    """Failures in a row and the earliest time of the next attempt (monotonic clock)."""

    rng: Callable[[], float]
    base_s: float = BASE_S
    cap_s: float = CAP_S
    failures: int = 0
    not_before: float = 0.0

    def due(self, now: float) -> bool:
        return now >= self.not_before

    def failed(self, now: float, retry_after_s: float | None = None) -> float:
        """Note a failure; returns the earliest time of the next attempt."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 60))
        self.failures += 1
        wait = self.rng() * ceiling
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, MAX_RETRY_AFTER_S))
        self.not_before = now + wait
        return self.not_before

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before = 0.0

    def wait_until(self, when: float) -> None:
        """Not before `when`, without counting a failure (a regular interval)."""
        self.not_before = when


def retry_after_seconds(header: str | None, now: dt.datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent
    or unreadable (then the usual backoff applies)."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())
