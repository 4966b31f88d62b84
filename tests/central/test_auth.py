"""Bearer tokens: none → 401, a device token on admin routes or another device → 403;
tokens are stored hashed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from central.tables import tokens
from tests.central.support import Api, assert_error, event_payload, served


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for the module: these tests only read or are refused."""
    from central.server import open_database

    engine = open_database(tmp_path_factory.mktemp("central") / "central.sqlite")
    try:
        yield from served(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/events"),
        ("GET", "/events/x"),
        ("POST", "/registrations"),
        ("GET", "/devices"),
        ("POST", "/devices/demo-kiosk/heartbeat"),
        ("GET", "/devices/demo-kiosk/config"),
        ("GET", "/statistics?start=2026-01-01&end=2026-01-02"),
    ],
)
def test_no_token_is_401(api: Api, method: str, path: str) -> None:
    answer = api.call(method, path, json={})
    assert_error(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_unknown_token_is_401(api: Api) -> None:
    assert_error(api.call("GET", "/events", token="not-a-token"), 401, "unauthorized")
    wrong_scheme = api.call("GET", "/events", headers={"Authorization": f"Basic {api.admin_token}"})
    assert_error(wrong_scheme, 401, "unauthorized")


def test_device_token_cannot_use_admin_routes(api: Api) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    d = api.device_id
    attempts = [
        api.as_device("POST", "/events", json=event_payload(), headers=key),
        api.as_device("PUT", "/events/some-id", json=event_payload()),
        api.as_device("GET", "/devices"),
        api.as_device("POST", "/devices", json={"id": "sneaky", "branch": "x"}, headers=key),
        api.as_device("PUT", f"/devices/{d}/config", json={"settings": {}}),
        api.as_device("PUT", f"/devices/{d}/software", json={"version": "9.9"}),
        api.as_device("POST", f"/devices/{d}/commands", json={"kind": "reboot"}, headers=key),
        api.as_device("GET", "/receipts"),
        api.as_device("GET", "/statistics", params={"start": "2026-01-01", "end": "2026-01-02"}),
    ]
    for answer in attempts:
        assert_error(answer, 403, "forbidden")


def test_device_token_is_for_its_own_device(api: Api) -> None:
    other, other_token = api.new_device()
    for method, path, body in [
        ("GET", f"/devices/{other}/config", None),
        ("GET", f"/devices/{other}", None),
        ("POST", f"/devices/{other}/heartbeat", _heartbeat()),
        ("PUT", f"/devices/{other}/statistics/2026-11-27", {"counters": {"checkouts": 1}}),
    ]:
        assert_error(api.as_device(method, path, json=body), 403, "forbidden")
    # Its own are fine; and the admin may read any device, but only a device may heartbeat.
    assert api.call("GET", f"/devices/{other}/config", token=other_token).status_code == 200
    assert api.as_admin("GET", f"/devices/{other}").status_code == 200
    assert_error(
        api.as_admin("POST", f"/devices/{other}/heartbeat", json=_heartbeat()), 403, "forbidden"
    )


def test_open_routes_need_no_token(api: Api) -> None:
    assert api.call("GET", "/health").json()["status"] == "ok"
    assert api.call("GET", "/pictures/story_hour.png").status_code == 200
    assert api.http.get(f"{api.url}/openapi.json", timeout=10).status_code == 200


def test_tokens_are_stored_hashed(api: Api) -> None:
    with api.engine.connect() as conn:
        stored = {row.token_hash for row in conn.execute(select(tokens))}
    assert stored and api.admin_token not in stored and api.device_token not in stored
    assert all(len(h) == 64 for h in stored)
    database = Path(str(api.engine.url.database))
    data = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert len(data) > 0
    assert api.device_token.encode() not in data and api.admin_token.encode() not in data


def _heartbeat() -> dict:
    return {
        "sent_at": "2026-11-27T10:00:00+01:00",
        "software_version": "0.1",
        "outbox": {"depth": 0},
    }
