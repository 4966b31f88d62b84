"""Bad input gets 422 (or 400/413) with the documented error shape, never a traceback.

Hypothesis drives the event payload parsing both directly (the model) and over HTTP.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine

from central.models import Event, EventIn
from tests.central.support import Api, assert_error, event_payload, served

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for the whole module: hypothesis sends many requests."""
    from central.server import open_database

    engine: Engine = open_database(tmp_path_factory.mktemp("central") / "central.sqlite")
    try:
        yield from served(engine)
    finally:
        engine.dispose()


def _post_event(api: Api, body: Any, *, raw: bytes | None = None) -> requests.Response:
    headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return requests.post(f"{api.url}/api/v1/events", data=raw, headers=headers, timeout=10)
    return requests.post(f"{api.url}/api/v1/events", json=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"", "body"),
        (b"[]", "body"),
        (b'"a string"', "body"),
        (b"\xff\xfe", "body"),
    ],
)
def test_malformed_json_is_422(shared: Api, raw: bytes, field: str) -> None:
    body = assert_error(_post_event(shared, None, raw=raw), 422, "invalid_request")
    assert body["fields"][0]["field"] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": {"sl": "Samo slovensko"}}, "title"),
        ({"title": {"sl": "", "en": "x"}}, "title.sl"),
        ({"title": {"sl": "a", "en": "b", "SL": "c"}}, "title.SL"),
        ({"starts_at": "2026-12-01T10:00:00"}, "starts_at"),  # no offset
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"categories": ["party"]}, "categories.0"),
        ({"categories": []}, "categories"),
        ({"audience": ["everyone"]}, "audience.0"),
        ({"min_age": 200}, "min_age"),
        (
            {
                "location": {
                    "kind": "bibliobus_stop",
                    "branch": "bibliobus",
                    "name": {"sl": "B", "en": "B"},
                }
            },
            "location",
        ),
        (
            {"location": {"kind": "branch", "branch": "Rotovž!", "name": {"sl": "R", "en": "R"}}},
            "location.branch",
        ),
    ],
)
def test_invalid_event_fields_are_named(shared: Api, change: dict, field: str) -> None:
    body = assert_error(_post_event(shared, event_payload(**change)), 422, "invalid_request")
    assert field in {f["field"] for f in body["fields"]}, body


def test_inconsistent_events_are_refused(shared: Api) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    backwards = event_payload(
        starts_at=start.isoformat(), ends_at=(start - timedelta(hours=1)).isoformat()
    )
    assert (
        "ends_at" in assert_error(_post_event(shared, backwards), 422, "invalid_request")["message"]
    )
    ages = event_payload(min_age=10, max_age=5)
    assert "max_age" in assert_error(_post_event(shared, ages), 422, "invalid_request")["message"]


def test_errors_do_not_echo_the_input(shared: Api) -> None:
    """A card number sent by mistake must not come back in the error (nor be logged)."""
    body = {
        "client_id": str(uuid.uuid4()),
        "event_id": "x",
        "card_token": "29000123456789",
        "attendees": [{"age": 5}],
        "created_at": "2026-11-27T10:00:00+01:00",
    }
    answer = shared.as_device("POST", "/registrations", json=body)
    assert_error(answer, 422, "invalid_request")
    assert "29000123456789" not in answer.text


def test_unknown_routes_and_methods_use_the_error_shape(shared: Api) -> None:
    assert_error(shared.call("GET", "/nowhere"), 404, "not_found")
    assert_error(
        shared.call("DELETE", "/events", token=shared.admin_token), 405, "method_not_allowed"
    )
    huge = b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    assert_error(_post_event(shared, None, raw=huge), 413, "body_too_large")


# --- hypothesis ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with some fields replaced by arbitrary JSON or removed."""
    body = event_payload()
    for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=4, unique=True)):
        if draw(st.booleans()):
            body[name] = draw(json_values)
        else:
            body.pop(name)
    return body


texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(str.strip)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 500_000)))
    length = timedelta(minutes=draw(st.integers(1, 600)))
    low = draw(st.none() | st.integers(0, 100))
    high = draw(st.none() | st.integers(low or 0, 120))
    names = {"sl": draw(texts), "en": draw(texts)}
    return event_payload(
        title=names,
        speech={
            "sl": draw(texts),
            "en": draw(texts),
            **draw(st.dictionaries(st.sampled_from(["de", "hu", "it", "hr"]), texts, max_size=2)),
        },
        starts_at=start.isoformat(),
        ends_at=(start + length).isoformat(),
        min_age=low,
        max_age=high,
        capacity=draw(st.integers(0, 10_000)),
        categories=draw(
            st.lists(
                st.sampled_from(["story_hour", "workshop", "club", "author_visit", "lecture"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        ),
        registration={"opens_at": None, "closes_at": start.isoformat()},
    )


@SETTINGS
@given(body=mutated_events())
def test_event_parsing_never_fails_otherwise(body: dict[str, Any]) -> None:
    """The model accepts or refuses with a ValidationError; nothing else escapes."""
    try:
        EventIn.model_validate(body)
    except ValidationError as exc:
        assert exc.errors()


@SETTINGS
@given(body=mutated_events())
def test_server_answers_any_event_body_with_201_or_422(shared: Api, body: dict) -> None:
    answer = _post_event(shared, body)
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 422:
        error = assert_error(answer, 422, "invalid_request")
        assert error["fields"]
    else:
        Event.model_validate(answer.json())


@SETTINGS
@given(body=valid_events())
def test_valid_events_round_trip(shared: Api, body: dict) -> None:
    created = _post_event(shared, body)
    assert created.status_code == 201, created.text
    event = shared.as_device("GET", f"/events/{created.json()['id']}").json()
    for name in ("title", "speech", "min_age", "max_age", "capacity", "categories"):
        assert event[name] == json.loads(json.dumps(body[name])) or (
            name in ("title", "speech")
            and event[name] == {k: v.strip() for k, v in body[name].items()}
        ), name
    assert datetime.fromisoformat(event["starts_at"]) == datetime.fromisoformat(body["starts_at"])
    assert event["time_zone"] == "Europe/Ljubljana"
    assert event["seats_left"] == body["capacity"]
