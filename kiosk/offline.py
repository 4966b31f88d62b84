"""Who may borrow while the library system is unreachable, and how much.

Offline, the kiosk cannot ask the library system about a card, so it decides
from what it saw while online: the blocked-card list the system gave it and
each card's category (adult, child) when it was last identified. Both are kept
as keyed hashes (kiosk.privacy.redact), never as card numbers. Limits per
patron and per kiosk a day bound what a stolen card or a long outage can cost.
Returns need none of this: a book brought back is always taken back.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from kiosk.circulation import CirculationBackend, Patron, Reason
from kiosk.privacy import redact
from kiosk.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OfflineRules:
    lending: bool = False
    categories: tuple[str, ...] = ("adult",)  # "adult", "child", "unknown" (never seen online)
    items_per_patron: int = 5
    items_per_day: int = 100
    loan_days: int = 21
    check_interval_s: float = 30
    blocked_list_refresh_s: float = 3600


def category_of(patron: Patron) -> str:
    return "child" if patron.is_child else "adult"


def local_day_start(now: dt.datetime) -> dt.datetime:
    """Midnight of the kiosk's local day that `now` falls in (aware)."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class OfflineGate:
    """Offline decisions from the store's card cache and outbox."""

    def __init__(self, rules: OfflineRules, store: Store) -> None:
        self.rules = rules
        self.store = store

    # --- while online: learn ------------------------------------------------------------
    def remember(self, card: str, patron: Patron | None, reason: Reason) -> None:
        """What the library system said about a card, for the day it cannot be asked."""
        if patron is not None and reason is Reason.OK:
            self.store.remember_card(redact(card), category_of(patron))
        elif reason in (Reason.CARD_BLOCKED, Reason.CARD_EXPIRED, Reason.UNKNOWN_PATRON):
            category = category_of(patron) if patron is not None else "unknown"
            self.store.remember_card(redact(card), category, blocked=True)

    def refresh_blocked(self, backend: CirculationBackend) -> int | None:
        """Replace the cached blocked-card list; None when the system cannot list them."""
        cards = backend.blocked_cards()
        if cards is None:
            return None
        self.store.replace_blocked_cards([redact(card) for card in cards])
        log.info("blocked-card list refreshed: %d card(s)", len(cards))
        return len(cards)

    # --- while offline: decide ----------------------------------------------------------
    def identify(self, card: str) -> tuple[Reason, str]:
        """(OK or why not, category) for a card presented while offline."""
        cached = self.store.card_status(redact(card))
        if cached is not None and cached[0]:
            return Reason.CARD_BLOCKED, cached[1] or "unknown"
        category = cached[1] if cached is not None and cached[1] else "unknown"
        if not self.rules.lending or category not in self.rules.categories:
            return Reason.OFFLINE_NOT_ALLOWED, category
        return Reason.OK, category

    def loan_refusal(self, patron_id: str, category: str, now: dt.datetime) -> Reason | None:
        """Why one more offline loan is not allowed now, or None."""
        if not self.rules.lending or category not in self.rules.categories:
            return Reason.OFFLINE_NOT_ALLOWED
        since = local_day_start(now)
        mine = self.store.count_since("checkout", since, offline=True, patron_id=patron_id)
        if mine >= self.rules.items_per_patron:
            return Reason.OFFLINE_LIMIT
        if self.store.count_since("checkout", since, offline=True) >= self.rules.items_per_day:
            return Reason.OFFLINE_LIMIT
        return None

    def due_date(self, now: dt.datetime) -> dt.date:
        return now.astimezone().date() + dt.timedelta(days=self.rules.loan_days)
