"""Event payload parsing (hypothesis): whatever the server sends, an event either fits
the contract or is skipped cleanly; a bad event never spoils the rest of the page."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.central_client import contract
from kiosk.central_client.events_sync import parse_event
from tests.central.support import event_payload

SERVER_FIELDS = {
    "id": "mb-20261210-story",
    "revision": 7,
    "time_zone": "Europe/Ljubljana",
    "status": "scheduled",
    "seats_left": 4,
    "seats_left_as_of": "2026-12-03T10:00:00+01:00",
    "waitlist_length": 0,
    "waitlist_enabled": True,
    "offline_seats": 2,
    "max_party_size": 4,
    "created_at": "2026-12-01T10:00:00+01:00",
    "updated_at": "2026-12-02T10:00:00+01:00",
    "some_field_from_a_newer_server": {"ignored": True},
}


def valid_event() -> dict[str, Any]:
    body = json.loads(json.dumps(event_payload()))
    return body | SERVER_FIELDS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def test_a_valid_event_parses_and_unknown_fields_are_ignored() -> None:
    event = parse_event(valid_event())
    assert isinstance(event, contract.Event)
    assert event.id == "mb-20261210-story" and event.offline_seats == 2
    assert event.starts_at.tzinfo is not None


@given(json_values)
@settings(max_examples=200)
def test_random_json_never_crashes_the_parser(value: Any) -> None:
    parsed = parse_event(value)
    assert parsed is None or isinstance(parsed, contract.Event)


@given(
    field=st.sampled_from(sorted(valid_event())),
    value=json_values,
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_one_garbled_field_gives_a_clean_skip_or_a_valid_event(field: str, value: Any) -> None:
    body = valid_event()
    body[field] = value
    event = parse_event(body)
    if event is not None:  # the garbling happened to be harmless (e.g. an ignored field)
        assert event.ends_at > event.starts_at
        assert {"sl", "en"} <= set(event.title)


@given(
    path=st.sampled_from(
        [
            ("starts_at",),
            ("location", "name"),
            ("registration", "opens_at"),
            ("title", "en"),
            ("picture", "alt"),
            ("capacity",),
        ]
    ),
    value=json_values,
)
@settings(max_examples=200)
def test_garbled_nested_values_are_skipped_cleanly(path: tuple[str, ...], value: Any) -> None:
    body = valid_event()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    parse_event(body)  # no exception, whatever it is


def test_strictness_refuses_what_a_lenient_parser_would_fix() -> None:
    for change in (
        {"capacity": "10"},  # text for a number
        {"starts_at": "2026-12-10T17:00:00"},  # no offset
        {"waitlist_enabled": 1},  # 1 is not true
        {"title": {"sl": "Samo slovensko"}},  # en is required
        {"ends_at": "2020-01-01T00:00:00+00:00"},  # ends before it starts
        {"id": "../../etc/passwd"},
    ):
        body = valid_event() | change
        assert parse_event(body) is None, change


def test_a_page_with_one_bad_event_keeps_the_others(proxy, proxied) -> None:
    """A page (through the proxy) with a garbled event among good ones: the good ones
    are cached and shown, the bad one skipped, the sync itself succeeds."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    good = valid_event() | {
        "id": "good-event",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=1)).isoformat(),
        "registration": {"required": True},
    }
    bad = good | {"id": "bad-event", "capacity": "many"}
    page = {
        "events": [bad, good, "not even an object"],
        "cursor": "9",
        "has_more": False,
        "reset": False,
        "server_time": start.isoformat(),
    }
    proxy.fail(
        "GET",
        "/api/v1/events",
        status=200,
        body=json.dumps(page).encode(),
        headers={"ETag": '"9"', "Content-Type": "application/json"},
    )
    report = proxied.sync()
    assert report.events_changed == 1 and not [e for e in report.errors if "events" in e]
    assert [e.id for e in proxied.events()] == ["good-event"]
    assert proxied.event("bad-event") is None
