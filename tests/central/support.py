"""Helpers for the central server's tests: a real server on loopback and payload builders."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import Engine

from central.auth import add_token, new_token
from central.database import writing
from central.fleet import create_device
from central.idempotency import Hooks
from central.models import DeviceIn
from central.server import ServerThread

_counter = itertools.count(1)


def card(n: int | str) -> str:
    """A card token as a kiosk makes it (here: a plain hash of a made-up card)."""
    return hashlib.sha256(f"test-card-{n}".encode()).hexdigest()


def iso(value: datetime) -> str:
    return value.isoformat()


def now() -> datetime:
    return datetime.now(UTC)


def event_payload(**changes: Any) -> dict[str, Any]:
    """A valid event in three days, registration open now, 10 seats, for ages 4-6."""
    start = now() + timedelta(days=3)
    body: dict[str, Any] = {
        "title": {"sl": "Pravljična ura", "en": "Story hour"},
        "description": {"sl": "Pravljice za otroke.", "en": "Stories for children."},
        "speech": {"sl": "Pravljična ura za otroke.", "en": "Story hour for children."},
        "starts_at": iso(start),
        "ends_at": iso(start + timedelta(minutes=45)),
        "location": {
            "kind": "branch",
            "branch": "rotovz",
            "name": {"sl": "Knjižnica Rotovž", "en": "Rotovž Library"},
            "room": "Pravljična soba",
        },
        "audience": ["preschool"],
        "min_age": 4,
        "max_age": 6,
        "categories": ["story_hour"],
        "picture": {
            "url": "/api/v1/pictures/story_hour.png",
            "alt": {"sl": "Knjiga", "en": "A book"},
        },
        "registration": {
            "opens_at": iso(now() - timedelta(days=1)),
            "closes_at": iso(start - timedelta(hours=1)),
        },
        "capacity": 10,
        "max_party_size": 4,
    }
    body.update(changes)
    return body


def registration_payload(
    event_id: str, ages: list[int], card_no: int | str, **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "event_id": event_id,
        "card_token": card(card_no),
        "attendees": [{"age": a} for a in ages],
        "created_at": iso(now()),
    }
    body.update(changes)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    """A running server and the tokens to talk to it, with requests as the client."""

    url: str
    engine: Engine
    hooks: Hooks
    admin_token: str
    device_id: str
    device_token: str
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_token)

    @property
    def device(self) -> dict[str, str]:
        return bearer(self.device_token)

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict | None = None,
        **kw: Any,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.update(bearer(token))
        return self.http.request(
            method, f"{self.url}/api/v1{path}", headers=all_headers, timeout=30, **kw
        )

    def as_admin(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.call(method, path, token=self.admin_token, **kw)

    def as_device(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.call(method, path, token=self.device_token, **kw)

    def new_event(self, **changes: Any) -> dict[str, Any]:
        answer = self.as_admin(
            "POST",
            "/events",
            json=event_payload(**changes),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def new_device(self, branch: str = "rotovz", device_id: str | None = None) -> tuple[str, str]:
        device_id = device_id or f"test-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        answer = self.as_admin(
            "POST",
            "/devices",
            json={"id": device_id, "branch": branch},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 201, answer.text
        return device_id, answer.json()["token"]

    def register(
        self,
        event_id: str,
        ages: list[int],
        card_no: int | str,
        *,
        token: str | None = None,
        **changes: Any,
    ) -> requests.Response:
        body = registration_payload(event_id, ages, card_no, **changes)
        return self.call("POST", "/registrations", token=token or self.device_token, json=body)


def start_api(engine: Engine, branch: str = "rotovz") -> tuple[ServerThread, Api]:
    """A server over `engine` with an admin token and one device at `branch`."""
    admin_token = new_token()
    device_id = f"kiosk-{uuid.uuid4().hex[:8]}"
    with writing(engine) as conn:
        add_token(conn, admin_token, "admin", None, "tests")
        device = create_device(conn, DeviceIn(id=device_id, branch=branch), now())
    server = ServerThread(engine).start()
    api = Api(server.url, engine, server.hooks, admin_token, device_id, device.token)
    return server, api


def served(engine: Engine) -> Iterator[Api]:
    server, api = start_api(engine)
    try:
        yield api
    finally:
        api.http.close()
        server.stop()


def assert_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the documented error shape with this status and code."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert set(body) <= {"code", "message", "fields"}, body
    return body
