"""A server that fails: 5xx, garbage, slowness, Retry-After, 4xx. Through a real proxy on
loopback in front of the real server; the client retries with backoff, loses nothing,
and never retries a final no."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from kiosk.central_client import CentralClient
from kiosk.central_client.backoff import Backoff, retry_after_seconds
from kiosk.store import Store
from tests.central.support import Api
from tests.kiosk.central_client.conftest import make_client
from tests.kiosk.central_client.support import FakeClock, FaultyProxy

CARD = "MB0012345"
REGISTRATIONS = "/api/v1/registrations"

GARBAGE = [
    pytest.param(dict(status=500), id="500"),
    pytest.param(dict(status=502, body=b"<html>Bad gateway</html>"), id="502-html"),
    pytest.param(dict(status=200, body=b"this is not json"), id="200-not-json"),
    pytest.param(dict(status=201, body=b'{"status": "confirmed"}'), id="201-wrong-shape"),
    pytest.param(dict(status=201, body=b"[]" * 10), id="201-nonsense"),
    pytest.param(
        dict(
            status=409,
            body=b'{"code": "idempotency_key_in_progress", "message": "Still working."}',
        ),
        id="409-in-progress",
    ),
    pytest.param(dict(status=408, body=b""), id="408"),
    pytest.param(dict(status=200, delay_s=1.3, body=b"{}"), id="slow-beyond-timeout"),
]


@pytest.mark.parametrize("fault", GARBAGE)
def test_a_bad_answer_is_retried_with_backoff_and_nothing_is_lost(
    api: Api, proxy: FaultyProxy, store: Store, clock: FakeClock, tmp_path, fault: dict
) -> None:
    event = api.new_event(offline_seats_per_device=2)
    # Jitter always at its top, so the waits are exactly base * 2**n: 1 s, then 2 s.
    with make_client(
        f"{proxy.url}/api/v1",
        api,
        store,
        clock,
        tmp_path,
        timeout_s=1.0,
        interactive_timeout_s=1.0,
        rng=lambda: 1.0,
    ) as client:
        client.sync()
        proxy.fail("POST", REGISTRATIONS, times=2, **fault)

        outcome = client.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")

        # The kiosk had a seat to promise: pending_sync, kept for the replay.
        assert outcome.status == "pending_sync"
        assert store.get(outcome.client_id).state in ("pending", "sending")
        assert client.next_attempt(outcome.client_id) == clock.now + 1
        client.sync()
        assert len(proxy.requests_to("POST", REGISTRATIONS)) == 1  # not before its time
        clock.advance(1)
        client.sync()  # the second failure: twice as long now
        assert len(proxy.requests_to("POST", REGISTRATIONS)) == 2
        assert client.next_attempt(outcome.client_id) == clock.now + 2
        assert store.get(outcome.client_id).state in ("pending", "sending")
        clock.advance(1.5)
        client.sync()
        assert len(proxy.requests_to("POST", REGISTRATIONS)) == 2
        clock.advance(0.5)
        report = client.sync()

    assert report.sent == 1
    assert store.get(outcome.client_id).state == "confirmed"
    posts = proxy.requests_to("POST", REGISTRATIONS)
    assert len(posts) == 3 and posts[-1] == 201
    stored = api.as_admin("GET", f"/events/{event['id']}/registrations").json()["registrations"]
    assert [r["client_id"] for r in stored] == [outcome.client_id]  # exactly once
    assert stored[0]["status"] == "confirmed"


def test_a_4xx_is_final_and_never_retried(
    api: Api, proxy: FaultyProxy, proxied: CentralClient, store: Store, clock: FakeClock
) -> None:
    proxied.sync()
    outcome = proxied.register("no-such-event", CARD, [5], accept_waitlist=True, language="sl")

    assert (outcome.status, outcome.reason) == ("failed", "event_not_found")
    entry = store.get(outcome.client_id)
    assert entry.state == "failed" and "event_not_found" in entry.error  # kept for staff
    clock.advance(1000)
    proxied.sync()
    clock.advance(1000)
    proxied.sync()
    assert proxy.requests_to("POST", REGISTRATIONS) == [404]


def test_retry_after_is_honoured_in_seconds(
    api: Api, proxy: FaultyProxy, proxied: CentralClient, store: Store, clock: FakeClock
) -> None:
    event = api.new_event(offline_seats_per_device=2)
    proxied.sync()
    proxy.fail(
        "POST",
        REGISTRATIONS,
        status=503,
        body=b'{"code": "database_busy", "message": "Busy; retry."}',
        headers={"Retry-After": "30"},
    )
    outcome = proxied.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    assert outcome.status == "pending_sync"
    assert proxied.next_attempt(outcome.client_id) == clock.now + 30  # jitter 0, floor 30
    status = proxied.status()
    assert status.state == "degraded" and "database_busy" in status.detail

    clock.advance(29)
    proxied.sync()
    assert proxy.requests_to("POST", REGISTRATIONS) == [503]  # not before its time
    clock.advance(1)
    proxied.sync()
    assert proxy.requests_to("POST", REGISTRATIONS) == [503, 201]
    assert store.get(outcome.client_id).state == "confirmed"


def test_retry_after_as_an_http_date_and_a_busy_event_sync(
    api: Api, proxy: FaultyProxy, proxied: CentralClient, clock: FakeClock
) -> None:
    api.new_event()
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    proxy.fail(
        "GET",
        "/api/v1/events",
        status=429,
        body=b"{}",
        headers={"Retry-After": format_datetime(when, usegmt=True)},
    )
    report = proxied.sync()
    assert report.events_changed == 0 and report.errors
    wait = proxied.next_attempt("events") - clock.now
    assert 110 <= wait <= 121, wait
    clock.advance(wait + 1)
    assert proxied.sync().events_changed == 1


def test_no_seat_to_promise_and_an_answer_lost_on_the_way_is_looked_up_not_resent(
    api: Api, proxy: FaultyProxy, proxied: CentralClient, store: Store, clock: FakeClock
) -> None:
    event = api.new_event()  # no offline seats for this kiosk
    proxied.sync()
    # The request reaches the server, the answer is lost (a garbage reply instead).
    proxy.fail("POST", REGISTRATIONS, status=502, body=b"gateway", forward_first=True)

    outcome = proxied.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")

    assert outcome.status == "unavailable_offline"
    assert store.get(outcome.client_id).payload["lookup_only"] is True
    clock.advance(1000)
    proxied.sync()
    # It had arrived: the kiosk learns so by asking, without sending it again.
    assert proxy.requests_to("POST", REGISTRATIONS) == [502]
    assert proxy.requests_to("GET", f"{REGISTRATIONS}/{outcome.client_id}") == [200]
    assert store.get(outcome.client_id).state == "confirmed"
    assert [r.status for r in proxied.registrations(CARD)] == ["confirmed"]


def test_an_answer_that_never_came_is_looked_up_and_found_missing(
    api: Api, proxy: FaultyProxy, proxied: CentralClient, store: Store, clock: FakeClock
) -> None:
    event = api.new_event()
    proxied.sync()
    proxy.fail("POST", REGISTRATIONS, status=502, body=b"gateway")  # never reached the server
    outcome = proxied.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    assert outcome.status == "unavailable_offline"
    clock.advance(1000)
    proxied.sync()
    entry = store.get(outcome.client_id)
    assert entry.state == "refused" and "unavailable_offline" in entry.error
    assert proxy.requests_to("POST", REGISTRATIONS) == [502]


def test_an_offline_promise_sent_after_a_lost_answer_adopts_what_the_server_holds(
    api: Api, proxy: FaultyProxy, proxied: CentralClient, store: Store, clock: FakeClock
) -> None:
    """First attempt got through (offline: false) but its answer was lost; the kiosk
    promised a seat from its grant and replays with offline: true: the server sees the
    same key with another body (422 idempotency_key_reused) and the kiosk looks it up."""
    event = api.new_event(offline_seats_per_device=2)
    proxied.sync()
    proxy.fail("POST", REGISTRATIONS, status=504, body=b"", forward_first=True)
    outcome = proxied.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    assert outcome.status == "pending_sync"
    clock.advance(1000)
    proxied.sync()
    assert proxy.requests_to("POST", REGISTRATIONS) == [504, 422]
    assert store.get(outcome.client_id).state == "confirmed"
    stored = api.as_admin("GET", f"/events/{event['id']}/registrations").json()["registrations"]
    assert [r["client_id"] for r in stored] == [outcome.client_id]


def test_full_jitter_backoff_grows_to_the_cap_and_retry_after_is_a_floor() -> None:
    draws = iter([1.0, 1.0, 1.0, 0.5, 1.0, 0.0])
    backoff = Backoff(lambda: next(draws), base_s=1.0, cap_s=4.0)
    assert backoff.failed(100.0) == 101.0  # random(0, 1)
    assert backoff.failed(100.0) == 102.0  # random(0, 2)
    assert backoff.failed(100.0) == 104.0  # random(0, 4)
    assert backoff.failed(100.0) == 102.0  # capped at 4, half of it
    assert not backoff.due(101.0) and backoff.due(102.0)
    assert backoff.failed(100.0, retry_after_s=10) == 110.0  # the floor wins over 4
    assert backoff.failed(100.0, retry_after_s=0.5) == 100.5  # jitter 0, floor 0.5
    backoff.succeeded()
    assert backoff.failures == 0 and backoff.due(0.0)


def test_retry_after_values() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("2", now) == 2.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:01:00 GMT", now) == 60.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # past: now
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
