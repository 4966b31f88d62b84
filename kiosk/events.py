"""The event catalogue as the kiosk shows it: filters for children and families,
and what a registration needs from the central API client.

Pure: events come in as `EventInfo`-like objects from the client's local cache
(kiosk.central_client), so the catalogue works offline. Filtering by age group,
category and "today / this week" is decided here, once, for every screen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

LIBRARY_ZONE = ZoneInfo("Europe/Ljubljana")

# Age groups as the catalogue's icons show them: (key, lowest age, highest age).
AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-3", 0, 3),
    ("4-6", 4, 6),
    ("7-9", 7, 9),
    ("10-12", 10, 12),
    ("teens", 13, 18),
    ("adults", 19, 64),
    ("seniors", 65, 120),
)
AGE_GROUP_KEYS = tuple(key for key, _low, _high in AGE_GROUPS)
# Categories shown as pictures, in this order; others are shown under "other".
CATEGORIES = ("story_hour", "workshop", "club", "author_visit", "lecture")
WHEN_TABS = ("today", "week", "all")
ADULT_AGE = 18  # the picker's "adult" tile (the central API's adult age too)
SENIOR_AGE = 65  # the picker's "senior" tile, for events for seniors


@dataclass(frozen=True, slots=True)
class Filters:
    age_group: str = ""  # "" = any
    category: str = ""  # "" = any
    when: str = "week"  # "today", "week", "all"

    def __post_init__(self) -> None:
        if self.age_group and self.age_group not in AGE_GROUP_KEYS:
            raise ValueError(f"unknown age group {self.age_group!r}")
        if self.when not in WHEN_TABS:
            raise ValueError(f"unknown tab {self.when!r}")


def _age_range(event: Any) -> tuple[int, int]:
    low = event.min_age if event.min_age is not None else 0
    high = event.max_age if event.max_age is not None else 120
    return low, high


def fits_age_group(event: Any, group: str) -> bool:
    """The event's age range overlaps the group's."""
    low, high = next((lo, hi) for key, lo, hi in AGE_GROUPS if key == group)
    event_low, event_high = _age_range(event)
    return event_low <= high and low <= event_high


def in_tab(event: Any, when: str, now: dt.datetime) -> bool:
    """Today = the library's calendar day; this week = the next seven days."""
    if when == "all":
        return event.ends_at > now
    local_now = now.astimezone(LIBRARY_ZONE)
    start = event.starts_at.astimezone(LIBRARY_ZONE)
    if event.ends_at <= now:
        return False
    if when == "today":
        return start.date() == local_now.date() or event.starts_at <= now
    return start.date() < local_now.date() + dt.timedelta(days=7)


def select(events: Iterable[Any], filters: Filters, now: dt.datetime) -> list[Any]:
    """Events for the grid, soonest first."""
    chosen = [
        event
        for event in events
        if in_tab(event, filters.when, now)
        and (not filters.age_group or fits_age_group(event, filters.age_group))
        and (not filters.category or filters.category in event.categories)
    ]
    return sorted(chosen, key=lambda event: (event.starts_at, event.id))


def age_problem(event: Any, ages: Sequence[int]) -> str | None:
    """Why this party cannot come, checked in the same order as the central API (which
    decides): a reason code of the contract, or None. Adults outside the event's ages
    come along as companions; children must be of the event's age."""
    if not ages:
        return "no_eligible_participant"
    if len(ages) > event.max_party_size:
        return "party_too_large"
    low, high = _age_range(event)

    def eligible(age: int) -> bool:
        return low <= age <= high

    if any(not eligible(age) and age < ADULT_AGE for age in ages):
        return "age_out_of_range"
    if event.adult_required and all(age < ADULT_AGE for age in ages):
        return "adult_required"
    if not any(eligible(age) for age in ages):
        return "no_eligible_participant"
    return None


class EventsService(Protocol):
    """What the core needs from the central API client (kiosk.central_client)."""

    def events(self) -> list[Any]: ...

    def event(self, event_id: str) -> Any | None: ...

    def register(
        self,
        event_id: str,
        card: str,
        attendee_ages: list[int],
        *,
        accept_waitlist: bool,
        language: str,
    ) -> Any: ...

    def cancel(self, event_id: str, card: str) -> Any: ...

    def check_in(self, event_id: str, card: str) -> Any: ...

    def sync(self) -> Any: ...
