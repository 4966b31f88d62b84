"""Registrations: the rules, seats, the waitlist and attendance.

Every change runs with the event row locked (see ``events.lock_event``), so two
registrations for one event are decided one after the other: the seat count
read is the seat count written. The database's check on ``seats_taken`` backs
this up.

Waitlist order is the ``waitlist_seq`` given at registration; positions are
counted from it, so they never have gaps. Promotion is strictly in order: when
the first party in line does not fit the free seats, nobody behind it jumps
ahead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from central.errors import ApiError, not_found
from central.events import lock_event, stamp
from central.models import (
    ADULT_AGE,
    AttendanceClosed,
    CheckInResult,
    Registration,
    RegistrationIn,
    RegistrationList,
)
from central.tables import ACTIVE_STATES, devices, events, grants, registrations

CHECK_IN_OPENS_BEFORE = timedelta(minutes=60)
# How far a kiosk's clock may run ahead when it dates an offline registration.
CLOCK_SKEW = timedelta(minutes=5)

REASON_MESSAGES = {
    "event_cancelled": "The event has been cancelled.",
    "registration_not_required": "This event needs no registration; just come.",
    "registration_not_open": "Registration has not opened yet.",
    "registration_closed": "Registration has closed.",
    "party_too_large": "The party is larger than this event allows.",
    "age_out_of_range": "A child's age is outside the event's age range.",
    "adult_required": "An adult must come along to this event.",
    "no_eligible_participant": "Nobody in the party is of the event's age.",
    "full": "The event is full.",
    "already_registered": "This card is already registered for this event.",
}


def register(
    conn: Connection, body: RegistrationIn, device_id: str | None, now: datetime
) -> tuple[int, Registration]:
    """Decide and store one registration: 201 with its status (rejections included)."""
    event = lock_event(conn, body.event_id)
    client_id = str(body.client_id)
    existing = conn.execute(
        select(registrations).where(registrations.c.client_id == client_id)
    ).first()
    if existing is not None:
        if existing.device_id != device_id or existing.event_id != body.event_id:
            raise ApiError(
                409, "client_id_taken", "Another registration already has this client_id."
            )
        return 200, to_model(conn, existing, event)

    grant = _usable_grant(conn, body, device_id, event)
    decided_at = min(body.created_at, now + CLOCK_SKEW) if grant else now
    party = len(body.attendees)
    reason = _rule_broken(conn, body, event, decided_at)
    status, seq, via_grant = "rejected", None, False
    if reason is None:
        # Counters change relative to the stored values (seats_taken + n), so even a
        # path that forgot the lock could not write a stale count past the check constraint.
        if grant:
            status, via_grant = "confirmed", True
            conn.execute(
                update(grants)
                .where(grants.c.event_id == event.id, grants.c.device_id == device_id)
                .values(used=grants.c.used + party)
            )
            _touch(conn, event.id, now)
        elif event.capacity - event.seats_taken >= party and event.waitlisted_count == 0:
            status = "confirmed"
            _touch(conn, event.id, now, seats_taken=events.c.seats_taken + party)
        elif event.waitlist_enabled and body.accept_waitlist:
            status = "waitlisted"
            seq = _touch(
                conn,
                event.id,
                now,
                waitlist_last=events.c.waitlist_last + 1,
                waitlisted_count=events.c.waitlisted_count + 1,
            )
        else:
            status, reason = "rejected", "full"
    conn.execute(
        insert(registrations).values(
            client_id=client_id,
            event_id=event.id,
            device_id=device_id,
            card_token=body.card_token,
            attendees=[a.model_dump() for a in body.attendees],
            party_size=party,
            status=status,
            waitlist_seq=seq,
            reason=reason,
            via_grant=via_grant,
            language=body.language,
            created_at=body.created_at,
            received_at=now,
            updated_at=now,
        )
    )
    if status != "rejected":
        stamp(conn, [event.id])
    row = conn.execute(select(registrations).where(registrations.c.client_id == client_id)).one()
    return 201, to_model(conn, row, _event(conn, event.id))


def _touch(conn: Connection, event_id: str, now: datetime, **changes: Any) -> int:
    """Update the event row; returns its waitlist_last (the sequence just given out)."""
    return conn.execute(
        update(events)
        .where(events.c.id == event_id)
        .values(updated_at=now, **changes)
        .returning(events.c.waitlist_last)
    ).scalar_one()


def _usable_grant(
    conn: Connection, body: RegistrationIn, device_id: str | None, event: Row
) -> bool:
    if not body.offline or device_id is None:
        return False
    left = conn.execute(
        select(grants.c.seats - grants.c.used).where(
            grants.c.event_id == event.id, grants.c.device_id == device_id
        )
    ).scalar()
    return left is not None and left >= len(body.attendees)


def _rule_broken(conn: Connection, body: RegistrationIn, event: Row, at: datetime) -> str | None:
    """The first rule the registration breaks, as a reason code; None when it may go on."""
    if event.status == "cancelled":
        return "event_cancelled"
    if not event.registration_required:
        return "registration_not_required"
    if event.opens_at is not None and at < event.opens_at:
        return "registration_not_open"
    if at >= (event.closes_at or event.starts_at):
        return "registration_closed"
    if len(body.attendees) > event.max_party_size:
        return "party_too_large"
    ages = [a.age for a in body.attendees]

    def eligible(age: int) -> bool:
        return (event.min_age is None or age >= event.min_age) and (
            event.max_age is None or age <= event.max_age
        )

    # Adults outside the range come along as companions; children must be in range.
    if any(not eligible(age) and age < ADULT_AGE for age in ages):
        return "age_out_of_range"
    if event.adult_required and all(age < ADULT_AGE for age in ages):
        return "adult_required"
    if not any(eligible(age) for age in ages):
        return "no_eligible_participant"
    duplicate = conn.execute(
        select(registrations.c.client_id).where(
            registrations.c.event_id == event.id,
            registrations.c.card_token == body.card_token,
            registrations.c.status.in_(ACTIVE_STATES),
        )
    ).first()
    if duplicate is not None:
        return "already_registered"
    return None


def promote_waitlist(conn: Connection, event_id: str, now: datetime) -> int:
    """Give free seats to waitlisted parties in order; returns how many were promoted.
    The event row must be locked in this transaction."""
    event = _event(conn, event_id)
    if event.status != "scheduled" or now >= event.starts_at or event.waitlisted_count == 0:
        return 0
    free = event.capacity - event.seats_taken
    waiting = conn.execute(
        select(registrations.c.client_id, registrations.c.party_size)
        .where(registrations.c.event_id == event_id, registrations.c.status == "waitlisted")
        .order_by(registrations.c.waitlist_seq)
    ).all()
    promoted = []
    for client_id, party in waiting:
        if party > free:
            break
        free -= party
        promoted.append(client_id)
    if promoted:
        conn.execute(
            update(registrations)
            .where(registrations.c.client_id.in_(promoted))
            .values(status="confirmed", updated_at=now)
        )
        _touch(
            conn,
            event_id,
            now,
            seats_taken=events.c.seats_taken + (event.capacity - event.seats_taken - free),
            waitlisted_count=events.c.waitlisted_count - len(promoted),
        )
    return len(promoted)


def cancel(
    conn: Connection, client_id: str, card_token: str | None, is_admin: bool, now: datetime
) -> Registration:
    found = _registration(conn, client_id)
    event = lock_event(conn, found.event_id)
    row = _registration(conn, client_id)  # again, now that the event is locked
    if not is_admin:
        if card_token is None:
            raise ApiError(403, "card_token_required", "Tap the card that registered to cancel.")
        if card_token != row.card_token:
            raise ApiError(403, "card_mismatch", "This card did not make the registration.")
    if row.status == "cancelled":
        return to_model(conn, row, event)
    if row.status not in ("confirmed", "waitlisted"):
        raise ApiError(
            409, "not_cancellable", f"A registration that is {row.status} cannot be cancelled."
        )
    conn.execute(
        update(registrations)
        .where(registrations.c.client_id == client_id)
        .values(status="cancelled", updated_at=now)
    )
    if row.status == "confirmed":
        _touch(conn, event.id, now, seats_taken=events.c.seats_taken - row.party_size)
    else:
        _touch(conn, event.id, now, waitlisted_count=events.c.waitlisted_count - 1)
    promote_waitlist(conn, event.id, now)
    stamp(conn, [event.id])
    return to_model(conn, _registration(conn, client_id), _event(conn, event.id))


def check_in(
    conn: Connection, event_id: str, card_token: str, device_id: str | None, now: datetime
) -> CheckInResult:
    event = lock_event(conn, event_id)
    if device_id is not None:
        branch = conn.execute(select(devices.c.branch).where(devices.c.id == device_id)).scalar()
        if branch != event.branch:
            raise ApiError(
                403, "wrong_kiosk", "Check in at a kiosk of the branch where the event is."
            )
    if not event.starts_at - CHECK_IN_OPENS_BEFORE <= now <= event.ends_at:
        raise ApiError(
            409,
            "check_in_not_open",
            "Check-in opens an hour before the event starts and closes when it ends.",
        )
    rows = _card_rows(conn, event_id, card_token)
    to_mark = [r.client_id for r in rows if r.status == "confirmed"]
    if not to_mark and not any(r.status == "attended" for r in rows):
        if any(r.status == "waitlisted" for r in rows):
            raise ApiError(409, "not_confirmed", "This card is on the waitlist, without a seat.")
        raise ApiError(404, "registration_not_found", "This card has no seat at this event.")
    if to_mark:
        conn.execute(
            update(registrations)
            .where(registrations.c.client_id.in_(to_mark))
            .values(status="attended", updated_at=now)
        )
    rows = _card_rows(conn, event_id, card_token)
    return CheckInResult(
        event_id=event_id,
        checked_in=len(to_mark),
        registrations=[to_model(conn, r, event) for r in rows],
    )


def close_attendance(conn: Connection, event_id: str, now: datetime) -> AttendanceClosed:
    event = lock_event(conn, event_id)
    if now < event.starts_at:
        raise ApiError(409, "event_not_started", "Attendance can be closed once the event starts.")
    marked = conn.execute(
        update(registrations)
        .where(registrations.c.event_id == event_id, registrations.c.status == "confirmed")
        .values(status="no_show", updated_at=now)
    ).rowcount
    return AttendanceClosed(event_id=event_id, no_show=marked)


def get(conn: Connection, client_id: str) -> Registration:
    row = _registration(conn, client_id)
    return to_model(conn, row, _event(conn, row.event_id))


def list_for(
    conn: Connection, card_token: str | None, event_id: str | None, limit: int
) -> RegistrationList:
    query = select(registrations).order_by(registrations.c.received_at).limit(limit)
    if card_token is not None:
        query = query.where(registrations.c.card_token == card_token)
    if event_id is not None:
        query = query.where(registrations.c.event_id == event_id)
    rows = conn.execute(query).all()
    cache: dict[str, Row] = {}
    out = []
    for row in rows:
        if row.event_id not in cache:
            cache[row.event_id] = _event(conn, row.event_id)
        out.append(to_model(conn, row, cache[row.event_id]))
    return RegistrationList(registrations=out)


def to_model(conn: Connection, row: Row, event: Row) -> Registration:
    from central.events import local

    position = None
    if row.status == "waitlisted":
        position = conn.execute(
            select(func.count()).where(
                registrations.c.event_id == row.event_id,
                registrations.c.status == "waitlisted",
                registrations.c.waitlist_seq <= row.waitlist_seq,
            )
        ).scalar_one()
    return Registration(
        client_id=row.client_id,
        event_id=row.event_id,
        device_id=row.device_id,
        card_token=row.card_token,
        attendees=row.attendees,
        party_size=row.party_size,
        status=row.status,
        waitlist_position=position,
        reason=row.reason,
        message=REASON_MESSAGES.get(row.reason) if row.reason else None,
        via_offline_grant=row.via_grant,
        language=row.language,
        created_at=local(row.created_at),
        received_at=local(row.received_at),
        updated_at=local(row.updated_at),
        seats_left=event.capacity - event.seats_taken,
    )


def _registration(conn: Connection, client_id: str) -> Row:
    row = conn.execute(select(registrations).where(registrations.c.client_id == client_id)).first()
    if row is None:
        raise not_found("registration", client_id)
    return row


def _event(conn: Connection, event_id: str) -> Row:
    return conn.execute(select(events).where(events.c.id == event_id)).one()


def _card_rows(conn: Connection, event_id: str, card_token: str) -> list[Row]:
    return list(
        conn.execute(
            select(registrations)
            .where(registrations.c.event_id == event_id, registrations.c.card_token == card_token)
            .order_by(registrations.c.received_at)
        ).all()
    )
