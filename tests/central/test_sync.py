"""Incremental event sync with cursors and ETags; device configuration with ETags;
heartbeat, commands and software target; receipts; statistics; pictures."""

from __future__ import annotations

import uuid

from tests.central.support import Api, assert_error, card


def test_events_etag_and_304(api: Api) -> None:
    api.new_event()
    first = api.as_device("GET", "/events")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag == f'"{first.json()["cursor"]}"'
    same = api.as_device("GET", "/events", headers={"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["ETag"]) == (304, b"", etag)
    weak = api.as_device("GET", "/events", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    # A registration changes seats_left: the list is no longer the same.
    api.register(first.json()["events"][0]["id"], [5], 1)
    changed = api.as_device("GET", "/events", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_incremental_sync_returns_only_what_changed(api: Api) -> None:
    a, b, c = api.new_event(), api.new_event(), api.new_event()
    full = api.as_device("GET", "/events").json()
    assert {e["id"] for e in full["events"]} >= {a["id"], b["id"], c["id"]}
    assert full["has_more"] is False and full["reset"] is False
    cursor = full["cursor"]

    nothing = api.as_device("GET", "/events", params={"since": cursor}).json()
    assert nothing["events"] == [] and nothing["cursor"] == cursor

    api.register(b["id"], [5], 1)
    cancelled = {**{k: a[k] for k in _EVENT_IN}, "status": "cancelled"}
    assert api.as_admin("PUT", f"/events/{a['id']}", json=cancelled).status_code == 200
    delta = api.as_device("GET", "/events", params={"since": cursor}).json()
    assert [e["id"] for e in delta["events"]] == [b["id"], a["id"]]  # in order of change
    assert delta["events"][0]["seats_left"] == b["seats_left"] - 1
    assert delta["events"][1]["status"] == "cancelled"
    assert int(delta["cursor"]) > int(cursor)


def test_pages_follow_has_more_without_losing_events(api: Api) -> None:
    made = {api.new_event()["id"] for _ in range(4)}
    # A new kiosk at the branch gets grants on all of them in one change: several events
    # share one revision, and a page boundary may fall inside it.
    for e in made:
        body = {**_event_in(api, e), "offline_seats_per_device": 1}
        api.as_admin("PUT", f"/events/{e}", json=body)
    full = api.as_device("GET", "/events").json()
    api.new_device(branch="rotovz")
    seen: list[str] = []
    cursor, pages = full["cursor"], 0
    while True:
        page = api.as_device("GET", "/events", params={"since": cursor, "limit": 1}).json()
        seen += [e["id"] for e in page["events"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(made) and pages >= 4


def test_a_cursor_from_elsewhere(api: Api) -> None:
    api.new_event()
    assert_error(
        api.as_device("GET", "/events", params={"since": "garbage!"}), 400, "invalid_cursor"
    )
    future = api.as_device("GET", "/events", params={"since": "999999"}).json()
    assert future["reset"] is True and len(future["events"]) == 1


def test_device_config_with_etag(api: Api) -> None:
    path = f"/devices/{api.device_id}/config"
    first = api.as_device("GET", path)
    assert first.json()["version"] == 1 and first.json()["settings"] == {}
    etag = first.headers["ETag"]
    assert etag == '"cfg-1"'
    assert api.as_device("GET", path, headers={"If-None-Match": etag}).status_code == 304

    settings = {"session": {"idle_timeout_s": 90}, "kiosk": {"languages": ["sl", "en"]}}
    put = api.as_admin("PUT", path, json={"settings": settings}, headers={"If-Match": etag})
    assert put.status_code == 200 and put.json()["version"] == 2
    assert put.headers["ETag"] == '"cfg-2"'
    stale = api.as_admin("PUT", path, json={"settings": {}}, headers={"If-Match": etag})
    assert_error(stale, 412, "precondition_failed")

    fresh = api.as_device("GET", path, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["settings"] == settings
    big = api.as_admin("PUT", path, json={"settings": {"x": "y" * 70_000}})
    assert_error(big, 413, "body_too_large")


def test_heartbeat_answers_with_desired_versions_and_commands(api: Api) -> None:
    beat = {
        "sent_at": "2026-11-27T10:00:00+01:00",
        "software_version": "0.4.0",
        "config_version": 1,
        "versions": {"python": "3.11.2", "rfid-firmware": "3.05"},
        "connectivity": {"network": "ethernet", "ils": "online", "central": "online"},
        "outbox": {"depth": 3, "oldest_age_s": 42.5},
        "peripherals": [
            {"name": "rfid", "state": "ok"},
            {"name": "printer", "state": "missing", "detail": "no paper"},
        ],
        "counters": {"checkouts": 12, "returns": 7},
        "uptime_s": 3600,
    }
    path = f"/devices/{api.device_id}/heartbeat"
    reply = api.as_device("POST", path, json=beat).json()
    assert reply["desired_config_version"] == 1 and reply["commands"] == []
    assert reply["desired_software_version"] is None and reply["heartbeat_interval_s"] > 0

    key = {"Idempotency-Key": str(uuid.uuid4())}
    command = api.as_admin(
        "POST", f"/devices/{api.device_id}/commands", json={"kind": "sync_now"}, headers=key
    ).json()
    api.as_admin("PUT", f"/devices/{api.device_id}/software", json={"version": "0.5.0"})
    api.as_admin("PUT", f"/devices/{api.device_id}/config", json={"settings": {"a": 1}})
    reply = api.as_device("POST", path, json=beat).json()
    assert reply["desired_config_version"] == 2 and reply["desired_software_version"] == "0.5.0"
    assert [c["id"] for c in reply["commands"]] == [command["id"]]
    # Acknowledged commands are not sent again.
    reply = api.as_device("POST", path, json={**beat, "acked_commands": [command["id"]]}).json()
    assert reply["commands"] == []

    seen = api.as_admin("GET", f"/devices/{api.device_id}").json()
    assert seen["last_heartbeat"]["outbox"] == {"depth": 3, "oldest_age_s": 42.5}
    assert seen["last_heartbeat"]["peripherals"][1]["state"] == "missing"
    listed = api.as_admin("GET", "/devices").json()["devices"]
    assert api.device_id in {d["id"] for d in listed}


def test_receipts_are_recorded_not_sent(api: Api) -> None:
    body = {
        "client_id": str(uuid.uuid4()),
        "card_token": card("reader"),
        "language": "sl",
        "kind": "checkout",
        "items": [
            {"item_id": "3000123", "title": "Pekarna Mišmaš", "due_date": "2026-12-18"},
            {"item_id": "3000456", "title": "Muca Copatarica", "due_date": "2026-12-18"},
        ],
        "created_at": "2026-11-27T10:00:00+01:00",
    }
    answer = api.as_device("POST", "/receipts", json=body, headers={"Idempotency-Key": "r-1"})
    assert answer.status_code == 202
    assert (answer.json()["status"], answer.json()["item_count"]) == ("recorded", 2)
    listed = api.as_admin("GET", "/receipts").json()["receipts"]
    assert [r["client_id"] for r in listed] == [body["client_id"]]
    card_number = {**body, "card_token": "29000123456789", "client_id": str(uuid.uuid4())}
    refused = api.as_device("POST", "/receipts", json=card_number, headers={"Idempotency-Key": "2"})
    assert_error(refused, 422, "invalid_request")


def test_statistics_by_day(api: Api) -> None:
    other, other_token = api.new_device()
    path = f"/devices/{api.device_id}/statistics"
    api.as_device("PUT", f"{path}/2026-11-26", json={"counters": {"checkouts": 5}})
    api.as_device("PUT", f"{path}/2026-11-27", json={"counters": {"checkouts": 1}})
    # Sending the day again replaces it (a retry does not double the count).
    api.as_device("PUT", f"{path}/2026-11-27", json={"counters": {"checkouts": 3, "returns": 2}})
    api.call(
        "PUT",
        f"/devices/{other}/statistics/2026-11-27",
        token=other_token,
        json={"counters": {"checkouts": 4}},
    )
    report = api.as_admin("GET", "/statistics", params={"start": "2026-11-26", "end": "2026-11-27"})
    days = report.json()["days"]
    assert days == [
        {"day": "2026-11-26", "devices": 1, "counters": {"checkouts": 5}},
        {"day": "2026-11-27", "devices": 2, "counters": {"checkouts": 7, "returns": 2}},
    ]
    backwards = api.as_admin(
        "GET", "/statistics", params={"start": "2026-11-27", "end": "2026-11-01"}
    )
    assert_error(backwards, 400, "invalid_range")
    bad_name = api.as_device("PUT", f"{path}/2026-11-27", json={"counters": {"Card 1234": 1}})
    assert_error(bad_name, 422, "invalid_request")


def test_pictures_with_etag(api: Api) -> None:
    first = api.call("GET", "/pictures/story_hour.png")
    assert first.headers["content-type"] == "image/png" and first.content[:4] == b"\x89PNG"
    again = api.call(
        "GET", "/pictures/story_hour.png", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert_error(api.call("GET", "/pictures/nothing.png"), 404, "picture_not_found")
    assert_error(api.call("GET", "/pictures/..%2Fopenapi.json"), 404, "not_found")


_EVENT_IN = (
    "status",
    "title",
    "description",
    "speech",
    "starts_at",
    "ends_at",
    "location",
    "audience",
    "min_age",
    "max_age",
    "adult_required",
    "categories",
    "picture",
    "registration",
    "capacity",
    "waitlist_enabled",
    "max_party_size",
    "offline_seats_per_device",
)


def _event_in(api: Api, event_id: str) -> dict:
    event = api.as_admin("GET", f"/events/{event_id}").json()
    return {k: event[k] for k in _EVENT_IN}
