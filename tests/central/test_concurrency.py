"""No overbooking under concurrent registrations, on SQLite and on a real PostgreSQL.

200 parties of one, from 40 threads, each with its own HTTP connection, all released
at once, register for a 20-seat event: exactly 20 are confirmed, the other 180 are
waitlisted with positions 1..180 (no gaps, no repeats) in the order the server
decided them; cancellations then promote the first in line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import Engine, func, select

from central.tables import events, registrations
from tests.central.support import Api, card, registration_payload, served

PARTIES = 200
SEATS = 20
THREADS = 40


@pytest.fixture
def pg_api(pg_engine: Engine) -> Iterator[Api]:
    yield from served(pg_engine)


def _burst(api: Api, event_id: str) -> tuple[list[dict], float]:
    bodies = [registration_payload(event_id, [5], f"burst-{i}") for i in range(PARTIES)]
    start = threading.Barrier(THREADS)
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(api.device)
            start.wait(timeout=30)  # every worker has its connection ready: go together
        return local.session

    def send(body: dict) -> dict:
        answer = session().post(f"{api.url}/api/v1/registrations", json=body, timeout=60)
        assert answer.status_code == 201, answer.text
        return answer.json()

    began = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, bodies))
    return answers, time.monotonic() - began


def _check_no_overbooking(api: Api) -> None:
    event = api.new_event(capacity=SEATS, max_party_size=1)
    answers, elapsed = _burst(api, event["id"])

    confirmed = [a for a in answers if a["status"] == "confirmed"]
    waitlisted = [a for a in answers if a["status"] == "waitlisted"]
    assert len(confirmed) == SEATS, f"{len(confirmed)} confirmed for {SEATS} seats"
    assert len(waitlisted) == PARTIES - SEATS
    assert sorted(a["waitlist_position"] for a in waitlisted) == list(range(1, PARTIES - SEATS + 1))
    assert all(a["waitlist_position"] is None for a in confirmed)

    # The server's own view agrees, and the database holds no more than the seats.
    now = api.as_admin("GET", f"/events/{event['id']}").json()
    assert (now["seats_left"], now["waitlist_length"]) == (0, PARTIES - SEATS)
    with api.engine.connect() as conn:
        taken = conn.execute(select(events.c.seats_taken).where(events.c.id == event["id"]))
        assert taken.scalar_one() == SEATS
        held = conn.execute(
            select(func.count()).where(
                registrations.c.event_id == event["id"], registrations.c.status == "confirmed"
            )
        ).scalar_one()
        assert held == SEATS

    # Cancelling two confirmed seats promotes positions 1 and 2, in that order.
    first, second = sorted(waitlisted, key=lambda a: a["waitlist_position"])[:2]
    for gone in confirmed[:2]:
        answer = api.as_device(
            "POST",
            f"/registrations/{gone['client_id']}/cancel",
            json={"card_token": gone["card_token"]},
        )
        assert answer.json()["status"] == "cancelled"
    for promoted in (first, second):
        now_reg = api.as_device("GET", f"/registrations/{promoted['client_id']}").json()
        assert now_reg["status"] == "confirmed", now_reg
    third = sorted(waitlisted, key=lambda a: a["waitlist_position"])[2]
    assert (
        api.as_device("GET", f"/registrations/{third['client_id']}").json()["waitlist_position"]
        == 1
    )
    print(f"{PARTIES} registrations from {THREADS} threads in {elapsed:.2f} s")


def test_no_overbooking_on_sqlite(api: Api) -> None:
    _check_no_overbooking(api)


def test_no_overbooking_on_postgresql(pg_api: Api) -> None:
    _check_no_overbooking(pg_api)


def test_the_database_itself_refuses_overbooking(pg_engine: Engine, sqlite_engine: Engine) -> None:
    """The check constraint backs the lock up: a write past capacity fails on both."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from central.database import writing
    from central.events import create_event
    from central.models import EventIn
    from central.tables import utcnow
    from tests.central.support import event_payload

    for engine in (pg_engine, sqlite_engine):
        with writing(engine) as conn:
            body = EventIn.model_validate(event_payload(capacity=3))
            event_id = create_event(conn, body, utcnow())
        with pytest.raises(IntegrityError), writing(engine) as conn:
            conn.execute(update(events).where(events.c.id == event_id).values(seats_taken=4))


def test_one_card_cannot_hold_two_places_even_when_racing(pg_api: Api) -> None:
    """The same card registering from many threads at once gets one place."""
    event = pg_api.new_event(capacity=50)

    def send(i: int) -> dict:
        with requests.Session() as http:
            body = registration_payload(event["id"], [5], "same-card")
            answer = http.post(
                f"{pg_api.url}/api/v1/registrations", json=body, headers=pg_api.device, timeout=60
            )
            assert answer.status_code == 201, answer.text
            return answer.json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["confirmed"] + ["rejected"] * 9, statuses
    assert {a["reason"] for a in answers if a["status"] == "rejected"} == {"already_registered"}
    assert card("same-card") == answers[0]["card_token"]


def test_missing_postgresql_is_a_plain_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the binaries the PostgreSQL tests fail (never skip), saying what to install."""
    from tests.central import pg

    monkeypatch.setattr(pg.glob, "glob", lambda _pattern: [])
    monkeypatch.setattr(pg.shutil, "which", lambda _name: None)
    with pytest.raises(pg.PostgresUnavailable, match="Debian package `postgresql`"):
        pg.PostgresCluster()
