"""Slovenian sample events of Mariborska knjižnica for the demo (`kiosk central serve --seed`).

The events are in ``sample_events.toml``. Dates are relative to the day the data
is loaded: the coming four weeks. Among them one nearly full event, one full with
a waitlist, one whose registration has closed, one whose registration opens
later and one that needs none.
"""

from __future__ import annotations

import hashlib
import tomllib
import uuid
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from central.database import writing
from central.events import LOCAL, create_event, replace_event
from central.models import EventIn, RegistrationIn
from central.registrations import register
from central.tables import events, utcnow

SAMPLE_FILE = Path(__file__).resolve().parent / "sample_events.toml"

# Parties (ages) registered for the presets; beyond capacity they go on the waitlist.
PRESET_PARTIES: dict[str, list[list[int]]] = {
    "nearly_full": [[5, 4], [6], [5], [4, 6], [5], [6, 4], [5], [4], [6, 5], [5], [4], [6], [5, 4]],
    "full": [[5, 35], [4, 38], [6, 41], [5, 33], [4, 6], [5, 29], [6], [5, 36], [4]],
    "closed": [[8, 9, 10], [11], [7, 40], [12, 9]],
}


@cache
def sample_file() -> dict[str, Any]:
    with SAMPLE_FILE.open("rb") as f:
        return tomllib.load(f)


def sample_card(n: int) -> str:
    """A made-up card token for the sample registrations."""
    return hashlib.sha256(f"sample-card-{n}".encode()).hexdigest()


def _start(today: date, sample: dict[str, Any]) -> datetime:
    weekday, week = sample["weekday"], sample["week"]
    if weekday < 0:  # the day after tomorrow, whatever weekday that is
        day = today + timedelta(days=2)
    else:
        ahead = (weekday - today.weekday()) % 7 or 7
        day = today + timedelta(days=ahead + 7 * week)
    hour, minute = (int(p) for p in sample["start"].split(":"))
    return datetime.combine(day, time(hour, minute), LOCAL)


def _location(sample: dict[str, Any]) -> dict[str, Any]:
    data = sample_file()
    if "stop" in sample:
        return {
            "kind": "bibliobus_stop",
            "branch": "bibliobus",
            "name": data["bibliobus"]["name"],
            "stop": sample["stop"],
        }
    place = data["places"][sample["place"]]
    return {
        "kind": "branch",
        "branch": sample["place"],
        "name": place["name"],
        "room": sample.get("room"),
        "address": place.get("address"),
    }


def event_in(sample: dict[str, Any], today: date) -> EventIn:
    starts = _start(today, sample)
    days_before = 7 if sample.get("preset") == "opens_later" else 14
    opens = datetime.combine(starts.date() - timedelta(days=days_before), time(8), LOCAL)
    return EventIn.model_validate(
        {
            "title": sample["title"],
            "description": sample["description"],
            "speech": sample["speech"],
            "starts_at": starts,
            "ends_at": starts + timedelta(minutes=sample["minutes"]),
            "location": _location(sample),
            "audience": sample["audience"],
            "min_age": sample.get("min_age"),
            "max_age": sample.get("max_age"),
            "adult_required": sample.get("adult_required", False),
            "categories": sample["categories"],
            "picture": {
                "url": f"/api/v1/pictures/{sample['picture']}.png",
                "alt": sample_file()["pictures"][sample["picture"]]["alt"],
                "width": 480,
                "height": 320,
            },
            "registration": {
                "required": sample.get("registration", True),
                "opens_at": opens,
                "closes_at": starts - timedelta(hours=1),
            },
            "capacity": sample["capacity"],
            "waitlist_enabled": True,
            "max_party_size": sample.get("max_party", 4),
            "offline_seats_per_device": sample.get("offline_seats", 0),
        }
    )


def seed_sample_data(engine: Engine, today: date | None = None) -> int:
    """Load the sample events (and their registrations) into an empty database; returns
    how many events were added (0 when there were events already)."""
    now = utcnow()
    today = today or now.astimezone(LOCAL).date()
    samples = sample_file()["events"]
    with writing(engine) as conn:
        if conn.execute(select(func.count()).select_from(events)).scalar_one():
            return 0
        cards = iter(range(1, 100_000))
        for sample in samples:
            body = event_in(sample, today)
            event_id = f"mb-{body.starts_at:%Y%m%d}-{sample['key']}"[:64]
            create_event(conn, body, now, event_id)
            preset = sample.get("preset")
            for ages in PRESET_PARTIES.get(preset, []):
                register(conn, _registration(event_id, ages, next(cards), now), None, now)
            if preset == "closed":
                # Registered while it was open; now the window has shut.
                data = body.model_dump()
                data["registration"]["closes_at"] = now - timedelta(days=1)
                replace_event(conn, event_id, EventIn.model_validate(data), now)
    return len(samples)


def _registration(event_id: str, ages: list[int], card: int, now: datetime) -> RegistrationIn:
    return RegistrationIn.model_validate(
        {
            "client_id": uuid.uuid5(uuid.NAMESPACE_URL, f"sample:{event_id}:{card}"),
            "event_id": event_id,
            "card_token": sample_card(card),
            "attendees": [{"age": a} for a in ages],
            "created_at": now,
        }
    )
