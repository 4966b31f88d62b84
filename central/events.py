"""Events: storage, the incremental sync, offline seat grants.

Revisions: one counter (``sync_state``) numbers every change to any event. A
write transaction bumps it once, as its last statement, and stamps all events
it touched with the new value. The counter row stays locked until commit, so
revisions become visible in increasing order and a reader that has seen
revision N has seen every change up to N: ``revision > cursor`` never misses one.

Seats: ``seats_taken`` counts confirmed (and attended) parties plus seats held
for kiosks' offline grants; a check constraint keeps it within ``capacity``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, and_, func, insert, or_, select, update

from central import TIME_ZONE
from central.errors import ApiError, not_found
from central.models import Event, EventIn, EventPage
from central.tables import devices, events, grants, sync_state

LOCAL = ZoneInfo(TIME_ZONE)
DEFAULT_PAGE = 200
MAX_PAGE = 500
_CURSOR = re.compile(r"^(\d{1,18})(?:\.([A-Za-z0-9_-]{1,64}))?$")


def local(value: datetime) -> datetime:
    return value.astimezone(LOCAL)


# --- revisions and cursors -----------------------------------------------------------------


def head_revision(conn: Connection) -> int:
    return int(
        conn.execute(select(sync_state.c.value).where(sync_state.c.name == "events")).scalar_one()
    )


def stamp(conn: Connection, event_ids: Iterable[str]) -> int:
    """Give the touched events one new revision. Call last in the transaction: the
    counter row stays locked until commit."""
    ids = sorted(set(event_ids))
    if not ids:
        return head_revision(conn)
    revision = conn.execute(
        update(sync_state)
        .where(sync_state.c.name == "events")
        .values(value=sync_state.c.value + 1)
        .returning(sync_state.c.value)
    ).scalar_one()
    conn.execute(update(events).where(events.c.id.in_(ids)).values(revision=revision))
    return int(revision)


@dataclass(frozen=True)
class Cursor:
    revision: int
    event_id: str | None = None

    def __str__(self) -> str:
        return f"{self.revision}.{self.event_id}" if self.event_id else str(self.revision)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.match(text)
        if match is None:
            raise ApiError(
                400, "invalid_cursor", "The since cursor is not one this server gave out."
            )
        return cls(int(match.group(1)), match.group(2))


# --- reading -------------------------------------------------------------------------------


def lock_event(conn: Connection, event_id: str) -> Row[Any]:
    """The event row, locked until commit (FOR UPDATE; SQLite holds the file lock)."""
    row = conn.execute(select(events).where(events.c.id == event_id).with_for_update()).first()
    if row is None:
        raise not_found("event", event_id)
    return row


def get_event(conn: Connection, event_id: str, device_id: str | None, now: datetime) -> Event:
    row = conn.execute(select(events).where(events.c.id == event_id)).first()
    if row is None:
        raise not_found("event", event_id)
    return to_model(row, _offline_seats(conn, [event_id], device_id).get(event_id, 0), now)


def list_events(
    conn: Connection, since: str | None, limit: int, device_id: str | None, now: datetime
) -> EventPage:
    head = head_revision(conn)
    cursor = Cursor.parse(since) if since is not None else None
    reset = cursor is not None and cursor.revision > head
    query = select(events).order_by(events.c.revision, events.c.id).limit(limit + 1)
    if cursor is None or reset:
        # A full sync: what is still to come. (A cursor from the future means this
        # server's data was reset; the client starts over.)
        query = query.where(events.c.ends_at >= now)
    elif cursor.event_id is None:
        query = query.where(events.c.revision > cursor.revision)
    else:
        query = query.where(
            or_(
                events.c.revision > cursor.revision,
                and_(events.c.revision == cursor.revision, events.c.id > cursor.event_id),
            )
        )
    rows = conn.execute(query).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    offline = _offline_seats(conn, [r.id for r in rows], device_id)
    next_cursor = Cursor(rows[-1].revision, rows[-1].id) if has_more else Cursor(head)
    return EventPage(
        events=[to_model(r, offline.get(r.id, 0), now) for r in rows],
        cursor=str(next_cursor),
        has_more=has_more,
        reset=reset,
        server_time=local(now),
    )


def _offline_seats(conn: Connection, event_ids: list[str], device_id: str | None) -> dict[str, int]:
    if device_id is None or not event_ids:
        return {}
    rows = conn.execute(
        select(grants.c.event_id, grants.c.seats - grants.c.used).where(
            grants.c.device_id == device_id, grants.c.event_id.in_(event_ids)
        )
    ).all()
    return {event_id: int(left) for event_id, left in rows}


def to_model(row: Row[Any], offline_seats: int, now: datetime) -> Event:
    return Event.model_validate(
        {
            "id": row.id,
            "revision": row.revision,
            "status": row.status,
            "title": row.title,
            "description": row.description,
            "speech": row.speech,
            "starts_at": local(row.starts_at),
            "ends_at": local(row.ends_at),
            "location": row.location,
            "audience": row.audience,
            "min_age": row.min_age,
            "max_age": row.max_age,
            "adult_required": row.adult_required,
            "categories": row.categories,
            "picture": row.picture,
            "registration": {
                "required": row.registration_required,
                "opens_at": row.opens_at and local(row.opens_at),
                "closes_at": row.closes_at and local(row.closes_at),
            },
            "capacity": row.capacity,
            "waitlist_enabled": row.waitlist_enabled,
            "max_party_size": row.max_party_size,
            "offline_seats_per_device": row.offline_seats_per_device,
            "seats_left": row.capacity - row.seats_taken,
            "seats_left_as_of": local(now),
            "waitlist_length": row.waitlisted_count,
            "offline_seats": offline_seats,
            "created_at": local(row.created_at),
            "updated_at": local(row.updated_at),
        }
    )


# --- writing -------------------------------------------------------------------------------


def _values(body: EventIn) -> dict[str, Any]:
    data = body.model_dump(mode="json")
    return {
        "status": body.status,
        "title": data["title"],
        "description": data["description"],
        "speech": data["speech"],
        "starts_at": body.starts_at,
        "ends_at": body.ends_at,
        "location": data["location"],
        "branch": body.location.branch,
        "audience": data["audience"],
        "categories": data["categories"],
        "min_age": body.min_age,
        "max_age": body.max_age,
        "adult_required": body.adult_required,
        "picture": data["picture"],
        "registration_required": body.registration.required,
        "opens_at": body.registration.opens_at,
        "closes_at": body.registration.closes_at,
        "capacity": body.capacity,
        "waitlist_enabled": body.waitlist_enabled,
        "max_party_size": body.max_party_size,
        "offline_seats_per_device": body.offline_seats_per_device,
    }


def create_event(
    conn: Connection, body: EventIn, now: datetime, event_id: str | None = None
) -> str:
    event_id = event_id or uuid.uuid4().hex
    conn.execute(
        insert(events).values(
            id=event_id,
            revision=0,
            seats_taken=0,
            waitlisted_count=0,
            waitlist_last=0,
            created_at=now,
            updated_at=now,
            **_values(body),
        )
    )
    rebalance_grants(conn, event_id, now)
    stamp(conn, [event_id])
    return event_id


def replace_event(conn: Connection, event_id: str, body: EventIn, now: datetime) -> None:
    from central.registrations import promote_waitlist  # the two modules use each other

    row = lock_event(conn, event_id)
    held = _held_seats(conn, event_id)
    confirmed = row.seats_taken - held
    if body.capacity < confirmed:
        raise ApiError(
            409,
            "capacity_below_confirmed",
            f"The event already has {confirmed} confirmed seats; capacity cannot be "
            f"{body.capacity}. Cancel registrations first.",
        )
    # Unused holds are given back, then handed out again within the new capacity.
    conn.execute(update(grants).where(grants.c.event_id == event_id).values(seats=grants.c.used))
    conn.execute(
        update(events)
        .where(events.c.id == event_id)
        .values(seats_taken=confirmed, updated_at=now, **_values(body))
    )
    rebalance_grants(conn, event_id, now)
    promote_waitlist(conn, event_id, now)
    stamp(conn, [event_id])


def _held_seats(conn: Connection, event_id: str) -> int:
    held = conn.execute(
        select(func.coalesce(func.sum(grants.c.seats - grants.c.used), 0)).where(
            grants.c.event_id == event_id
        )
    ).scalar_one()
    return int(held)


def rebalance_grants(conn: Connection, event_id: str, now: datetime) -> None:
    """Hold `offline_seats_per_device` seats for each kiosk at the event's branch, as far
    as free seats allow (devices in id order); release holds of other devices. The event
    row must be locked (or new) in this transaction."""
    row = conn.execute(select(events).where(events.c.id == event_id)).one()
    open_for_grants = (
        row.status == "scheduled" and row.registration_required and now < row.starts_at
    )
    per_device = row.offline_seats_per_device if open_for_grants else 0
    at_branch = set(
        conn.execute(select(devices.c.id).where(devices.c.branch == row.branch)).scalars()
    )
    existing = {
        g.device_id: (g.seats, g.used)
        for g in conn.execute(select(grants).where(grants.c.event_id == event_id))
    }
    taken = row.seats_taken
    for device_id in sorted(at_branch | set(existing)):
        seats, used = existing.get(device_id, (0, 0))
        want = max(used, per_device if device_id in at_branch else 0)
        if want < seats:
            taken -= seats - want
            seats = want
        elif want > seats:
            extra = min(want - seats, row.capacity - taken)
            seats += extra
            taken += extra
        if device_id in existing:
            if existing[device_id] != (seats, used):
                conn.execute(
                    update(grants)
                    .where(grants.c.event_id == event_id, grants.c.device_id == device_id)
                    .values(seats=seats)
                )
        elif seats:
            conn.execute(
                insert(grants).values(event_id=event_id, device_id=device_id, seats=seats, used=0)
            )
    if taken != row.seats_taken:
        conn.execute(update(events).where(events.c.id == event_id).values(seats_taken=taken))


def grant_for_new_device(conn: Connection, branch: str, now: datetime) -> None:
    """A new kiosk gets its holds on the branch's coming events (locked in id order)."""
    ids = (
        conn.execute(
            select(events.c.id)
            .where(
                events.c.branch == branch, events.c.starts_at > now, events.c.status == "scheduled"
            )
            .order_by(events.c.id)
        )
        .scalars()
        .all()
    )
    touched = []
    for event_id in ids:
        row = lock_event(conn, event_id)
        if row.offline_seats_per_device > 0:
            rebalance_grants(conn, event_id, now)
            touched.append(event_id)
    stamp(conn, touched)
