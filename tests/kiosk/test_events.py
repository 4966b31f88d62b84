"""The catalogue's filters and the attendee check, on plain event records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.events import (
    ADULT_AGE,
    AGE_GROUPS,
    LIBRARY_ZONE,
    SENIOR_AGE,
    Filters,
    age_problem,
    fits_age_group,
    select,
)

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=LIBRARY_ZONE)  # a Friday morning


@dataclass(frozen=True)
class Ev:
    id: str
    starts_at: dt.datetime
    minutes: int = 60
    min_age: int | None = None
    max_age: int | None = None
    categories: tuple[str, ...] = ("story_hour",)
    adult_required: bool = False
    max_party_size: int = 5

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(minutes=self.minutes)


def at(days: int, hour: int) -> dt.datetime:
    return (NOW + dt.timedelta(days=days)).replace(hour=hour, minute=0)


EVENTS = [
    Ev("story-today", at(0, 17), min_age=4, max_age=6),
    Ev("running-now", at(0, 9), minutes=120, min_age=0, max_age=3, categories=("workshop",)),
    Ev("over", at(0, 8), minutes=30),
    Ev("teens-sat", at(1, 11), min_age=13, max_age=18, categories=("club",)),
    Ev("author-thu", at(6, 18), min_age=15, categories=("author_visit",)),
    Ev("lecture-next-week", at(8, 18), min_age=65, categories=("lecture",)),
]


def ids(events) -> list[str]:
    return [e.id for e in events]


def test_tabs_today_week_and_all() -> None:
    assert ids(select(EVENTS, Filters(when="today"), NOW)) == ["running-now", "story-today"]
    assert ids(select(EVENTS, Filters(when="week"), NOW)) == [
        "running-now",
        "story-today",
        "teens-sat",
        "author-thu",
    ]
    assert "lecture-next-week" in ids(select(EVENTS, Filters(when="all"), NOW))
    assert "over" not in ids(select(EVENTS, Filters(when="all"), NOW))


def test_age_groups_and_categories_narrow_the_grid() -> None:
    assert ids(select(EVENTS, Filters(age_group="4-6"), NOW)) == ["story-today"]
    assert ids(select(EVENTS, Filters(age_group="teens"), NOW)) == ["teens-sat", "author-thu"]
    assert ids(select(EVENTS, Filters(age_group="seniors", when="all"), NOW)) == [
        "author-thu",
        "lecture-next-week",
    ]
    assert ids(select(EVENTS, Filters(category="club"), NOW)) == ["teens-sat"]
    with pytest.raises(ValueError):
        Filters(age_group="5-7")


@given(low=st.integers(0, 120), high=st.integers(0, 120))
def test_an_event_with_an_age_range_is_in_every_group_it_touches(low: int, high: int) -> None:
    if low > high:
        low, high = high, low
    event = Ev("x", at(1, 10), min_age=low, max_age=high)
    groups = [key for key, g_low, g_high in AGE_GROUPS if fits_age_group(event, key)]
    assert groups  # the groups cover every age
    for key, g_low, g_high in AGE_GROUPS:
        assert (key in groups) == (g_low <= high and low <= g_high)


def test_who_may_come() -> None:
    story = Ev("s", at(1, 10), min_age=4, max_age=6, adult_required=True, max_party_size=3)
    assert age_problem(story, [ADULT_AGE, 5]) is None
    assert age_problem(story, [5]) == "adult_required"
    assert age_problem(story, [ADULT_AGE, 9]) == "age_out_of_range"
    assert age_problem(story, [ADULT_AGE]) == "no_eligible_participant"
    assert age_problem(story, [ADULT_AGE, 4, 5, 6]) == "party_too_large"
    assert age_problem(story, []) == "no_eligible_participant"
    lecture = Ev("l", at(1, 18), min_age=65)
    assert age_problem(lecture, [ADULT_AGE]) == "no_eligible_participant"  # 18 is not 65
    assert age_problem(lecture, [SENIOR_AGE, ADULT_AGE]) is None  # a companion may come
