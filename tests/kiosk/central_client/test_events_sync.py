"""The event catalogue from the local cache: incremental sync with ETags, pictures,
and the catalogue (pictures included) working with the server stopped."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from kiosk.central_client import CentralClient, EventInfo
from tests.central.support import Api, event_payload
from tests.kiosk.central_client.conftest import Served, make_client
from tests.kiosk.central_client.support import FakeClock, FaultyProxy

PNG = b"\x89PNG\r\n\x1a\n"


def test_first_sync_fills_the_cache_and_the_catalogue_shows_it(
    api: Api, client: CentralClient
) -> None:
    later = api.new_event(title={"sl": "Delavnica", "en": "Workshop"})
    sooner = api.new_event(
        starts_at=(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        ends_at=(dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=1)).isoformat(),
        registration={"closes_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=20)).isoformat()},
    )
    assert client.events() == []

    report = client.sync()

    assert report.events_changed == 2 and not report.errors
    events = client.events()
    assert [e.id for e in events] == [sooner["id"], later["id"]]  # soonest first
    event = client.event(later["id"])
    assert isinstance(event, EventInfo)
    assert event.title["sl"] == "Delavnica" and event.text("title", "en") == "Workshop"
    assert event.text("title", "hu") == "Delavnica"  # Slovenian when a language is missing
    assert event.starts_at.tzinfo is not None and event.starts_at.utcoffset() is not None
    assert (event.min_age, event.max_age, event.max_party_size) == (4, 6, 4)
    assert event.location_kind == "branch" and event.branch == "rotovz"
    assert event.room == "Pravljična soba"
    assert event.categories == ("story_hour",) and event.audience == ("preschool",)
    assert (event.capacity, event.seats_left, event.waitlist_length) == (10, 10, 0)
    assert event.registration_required and event.registration_open(dt.datetime.now(dt.UTC))
    assert event.picture_url == f"{api.url}/api/v1/pictures/story_hour.png"
    assert event.picture_alt["en"] == "A book"


def test_nothing_changed_is_a_304_and_a_change_arrives_alone(
    api: Api, proxy: FaultyProxy, store, clock: FakeClock, tmp_path: Path
) -> None:
    first = api.new_event()
    api.new_event()
    with make_client(f"{proxy.url}/api/v1", api, store, clock, tmp_path) as client:
        assert client.sync().events_changed == 2
        clock.advance(61)
        assert client.sync().events_changed == 0
        assert proxy.requests_to("GET", "/api/v1/events") == [200, 304]

        changed = event_payload(title={"sl": "Nova pravljica", "en": "A new story"})
        assert api.as_admin("PUT", f"/events/{first['id']}", json=changed).status_code == 200
        clock.advance(61)
        report = client.sync()

        assert report.events_changed == 1  # only the changed one travelled
        assert client.event(first["id"]).title["sl"] == "Nova pravljica"
        assert len(client.events()) == 2
        # incremental: the cursor went along
        since = [p for m, p, _s in proxy.seen if m == "GET" and p.startswith("/api/v1/events")]
        assert "since=" not in since[0] and all("since=" in p for p in since[1:])


def test_sync_returns_at_once_when_nothing_is_due(
    api: Api, proxy: FaultyProxy, store, clock: FakeClock, tmp_path: Path
) -> None:
    api.new_event()
    with make_client(f"{proxy.url}/api/v1", api, store, clock, tmp_path) as client:
        client.sync()
        asked = len(proxy.seen)
        started = time.perf_counter()
        for _ in range(20):
            client.sync()
        took = time.perf_counter() - started
    assert len(proxy.seen) == asked  # nothing due: no request at all
    assert took < 0.5, took


def test_cancelled_and_ended_events_leave_the_catalogue(api: Api, client: CentralClient) -> None:
    kept = api.new_event()
    dropped = api.new_event()
    client.sync()
    body = event_payload(status="cancelled")
    assert api.as_admin("PUT", f"/events/{dropped['id']}", json=body).status_code == 200
    client.sync_soon()
    client.sync()
    assert [e.id for e in client.events()] == [kept["id"]]
    assert client.event(dropped["id"]).status == "cancelled"  # still known for its detail


def test_pictures_are_cached_with_etags_and_shown_offline(
    served: Served, proxy: FaultyProxy, store, clock: FakeClock, tmp_path: Path
) -> None:
    api = served.api
    event = api.new_event()
    with make_client(f"{proxy.url}/api/v1", api, store, clock, tmp_path) as client:
        report = client.sync()
        assert report.pictures_fetched == 1
        info = client.event(event["id"])
        assert info.picture_path is not None and info.picture_path.read_bytes().startswith(PNG)
        assert info.picture_path.parent == tmp_path / "kiosk" / "pictures"

        # The event changes: its picture is asked again with its ETag, and stays.
        api.as_admin("PUT", f"/events/{event['id']}", json=event_payload(capacity=12))
        clock.advance(61)
        client.sync()
        assert proxy.requests_to("GET", "/api/v1/pictures/") == [200, 304]
        assert client.event(event["id"]).picture_path == info.picture_path

        served.stop()
        clock.advance(61)
        client.sync()  # fails quietly
        offline = client.events()
        assert [e.id for e in offline] == [event["id"]]
        assert offline[0].capacity == 12
        assert offline[0].picture_path.read_bytes().startswith(PNG)
        assert client.status().state == "offline"


def test_a_reset_server_means_a_full_sync_that_drops_what_is_gone(
    api: Api, client: CentralClient, store, clock: FakeClock
) -> None:
    from sqlalchemy import delete

    from central.tables import events, grants

    kept = api.new_event()
    gone = api.new_event()
    client.sync()
    assert len(client.events()) == 2
    # The server's data was restored from an older backup: our cursor is from its future.
    with api.engine.begin() as conn:
        conn.execute(delete(grants).where(grants.c.event_id == gone["id"]))
        conn.execute(delete(events).where(events.c.id == gone["id"]))
    store.set_setting("central.events_cursor", "999999")
    store.set_setting("central.events_etag", None)
    clock.advance(61)
    report = client.sync()
    assert not [e for e in report.errors if e.startswith("events")]
    assert [e.id for e in client.events()] == [kept["id"]]
    assert client.event(gone["id"]) is None


def test_a_refused_cursor_is_dropped_for_a_full_sync(
    api: Api, client: CentralClient, store, clock: FakeClock
) -> None:
    event = api.new_event()
    client.sync()
    store.set_setting("central.events_cursor", "not a cursor!")
    clock.advance(61)
    report = client.sync()
    assert not report.errors and report.events_changed == 1  # started over at once
    assert [e.id for e in client.events()] == [event["id"]]
    assert store.get_setting("central.events_cursor") not in (None, "not a cursor!")


def test_pages_are_followed_while_there_are_more(
    api: Api, proxy: FaultyProxy, store, clock: FakeClock, tmp_path: Path, monkeypatch
) -> None:
    from kiosk.central_client import events_sync

    created = {api.new_event()["id"] for _ in range(5)}
    monkeypatch.setattr(events_sync, "PAGE_SIZE", 2)
    with make_client(f"{proxy.url}/api/v1", api, store, clock, tmp_path) as client:
        assert client.sync().events_changed == 5
        assert {e.id for e in client.events()} == created
    pages = [p for m, p, _s in proxy.seen if m == "GET" and p.startswith("/api/v1/events")]
    assert len(pages) == 3 and all("limit=2" in p for p in pages)
