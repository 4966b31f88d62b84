"""Idempotency-Key: same key and body → same answer; other body → 422; in progress → 409."""

from __future__ import annotations

import threading
import uuid

import requests

from tests.central.support import Api, assert_error, event_payload, registration_payload


def test_same_key_same_body_gives_the_first_answer_again(api: Api) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = event_payload()
    first = api.as_admin("POST", "/events", json=body, headers=key)
    # The same body with its keys in another order is the same request.
    again = api.as_admin("POST", "/events", json=dict(reversed(list(body.items()))), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == (
        "false",
        "true",
    )
    listed = api.as_admin("GET", "/events").json()["events"]
    assert sum(e["title"] == body["title"] for e in listed) == 1  # one event, not two


def test_same_key_other_body_is_refused(api: Api) -> None:
    key = {"Idempotency-Key": "event-42"}
    assert api.as_admin("POST", "/events", json=event_payload(), headers=key).status_code == 201
    other = api.as_admin("POST", "/events", json=event_payload(capacity=99), headers=key)
    assert_error(other, 422, "idempotency_key_reused")


def test_registration_replay_is_the_same_decision(api: Api) -> None:
    event = api.new_event(capacity=1)
    body = registration_payload(event["id"], [5], "replay")
    first = api.as_device("POST", "/registrations", json=body)
    # Meanwhile the event fills up; the replay must still say what was decided.
    api.register(event["id"], [5], "someone")
    again = api.as_device("POST", "/registrations", json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and first.json()["status"] == "confirmed"
    changed = api.as_device("POST", "/registrations", json={**body, "attendees": [{"age": 6}]})
    assert_error(changed, 422, "idempotency_key_reused")
    # An explicit Idempotency-Key must be the client_id.
    other = registration_payload(event["id"], [5], "header")
    wrong = api.as_device("POST", "/registrations", json=other, headers={"Idempotency-Key": "x"})
    assert_error(wrong, 422, "idempotency_key_mismatch")
    right = api.as_device(
        "POST", "/registrations", json=other, headers={"Idempotency-Key": other["client_id"]}
    )
    assert right.status_code == 201


def test_a_request_in_progress_answers_409(api: Api) -> None:
    """The first request is held (deterministically, by a test hook) after claiming its key;
    a second with the same key meanwhile gets 409; after release the first completes and a
    third gets the replay."""
    arrived, release = threading.Event(), threading.Event()

    def hold(key: str) -> None:
        if key == "slow-key":
            arrived.set()
            release.wait(10)

    api.hooks.in_progress = hold
    body, key = event_payload(), {"Idempotency-Key": "slow-key"}
    outcome: dict[str, requests.Response] = {}
    first = threading.Thread(
        target=lambda: outcome.setdefault(
            "first", api.as_admin("POST", "/events", json=body, headers=key)
        )
    )
    first.start()
    try:
        assert arrived.wait(10), "the first request never reached the hook"
        second = requests.post(
            f"{api.url}/api/v1/events", json=body, headers={**api.admin, **key}, timeout=10
        )
        assert_error(second, 409, "idempotency_key_in_progress")
        assert second.headers["Retry-After"] == "1"
    finally:
        release.set()
        first.join(10)
    assert outcome["first"].status_code == 201
    third = requests.post(
        f"{api.url}/api/v1/events", json=body, headers={**api.admin, **key}, timeout=10
    )
    assert third.content == outcome["first"].content


def test_an_error_releases_the_key(api: Api) -> None:
    """A failed request is not remembered: retrying with the same key may succeed."""
    body = registration_payload("no-such-event", [5], "retry")
    assert_error(api.as_device("POST", "/registrations", json=body), 404, "event_not_found")
    event = api.new_event()
    retried = api.as_device("POST", "/registrations", json={**body, "event_id": event["id"]})
    # Another body under the same key (the event id changed), accepted because nothing was kept.
    assert retried.status_code == 201 and retried.json()["status"] == "confirmed"


def test_keys_belong_to_their_caller(api: Api) -> None:
    device, token = api.new_device()
    key = {"Idempotency-Key": "shared-words"}
    one = api.as_admin(
        "POST", f"/devices/{device}/commands", json={"kind": "sync_now"}, headers=key
    )
    two = api.as_admin(
        "POST", f"/devices/{api.device_id}/commands", json={"kind": "reboot"}, headers=key
    )
    assert one.status_code == 201
    assert_error(two, 422, "idempotency_key_reused")  # same caller (admin), other request
    receipt = {
        "client_id": str(uuid.uuid4()),
        "card_token": "a" * 64,
        "language": "sl",
        "kind": "checkout",
        "items": [{"item_id": "123", "title": "Pekarna Mišmaš"}],
        "created_at": "2026-11-27T10:00:00+01:00",
    }
    # A device using the same words as a key is another caller: no clash.
    mine = api.call("POST", "/receipts", token=token, json=receipt, headers=key)
    assert mine.status_code == 202 and mine.json()["status"] == "recorded"


def test_creating_posts_need_a_key(api: Api) -> None:
    missing = api.as_admin("POST", "/events", json=event_payload())
    body = assert_error(missing, 422, "invalid_request")
    assert body["fields"][0]["field"] == "Idempotency-Key"
    too_long = {"Idempotency-Key": "k" * 201}
    assert_error(
        api.as_admin("POST", "/events", json=event_payload(), headers=too_long),
        422,
        "invalid_request",
    )
    spaced = {"Idempotency-Key": "two words"}
    assert_error(
        api.as_admin("POST", "/events", json=event_payload(), headers=spaced),
        422,
        "invalid_request",
    )


def test_a_crash_answers_500_or_503_and_frees_the_key(api: Api) -> None:
    """Unexpected failures still use the error shape, and the key can be used again."""
    from sqlalchemy.exc import OperationalError

    failures = iter([RuntimeError("boom"), OperationalError("SELECT 1", {}, Exception("gone"))])

    def fail(_key: str) -> None:
        raise next(failures)

    api.hooks.in_progress = fail
    body, key = event_payload(), {"Idempotency-Key": "crashing"}
    crashed = api.as_admin("POST", "/events", json=body, headers=key)
    assert_error(crashed, 500, "internal_error")
    assert "boom" not in crashed.text
    busy = api.as_admin("POST", "/events", json=body, headers=key)
    assert_error(busy, 503, "database_busy")
    assert busy.headers["Retry-After"].isdigit()
    api.hooks.in_progress = None
    assert api.as_admin("POST", "/events", json=body, headers=key).status_code == 201
