"""Routes: events, their incremental sync, check-in and attendance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from central import events as service
from central import registrations
from central.api_common import NOT_MODIFIED, Db, Fingerprint, TestHooks, errors
from central.auth import Admin, Anyone
from central.database import reading, writing
from central.fleet import etag_matches
from central.idempotency import IdempotencyKey, run_once
from central.models import (
    AttendanceClosed,
    CardIn,
    CheckInResult,
    Event,
    EventIn,
    EventPage,
    RegistrationList,
)
from central.tables import utcnow

router = APIRouter(tags=["events"])

EventIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


@router.get(
    "/events",
    response_model=EventPage,
    summary="Events changed since a cursor (incremental sync)",
    description="Without `since`: every event not yet ended. With `since` (the `cursor` of the "
    "last answer): every event changed after it, cancelled ones included. The answer's ETag "
    "is its cursor; send the last one as If-None-Match to get 304 when nothing changed.",
    responses={**NOT_MODIFIED, **errors(400, 422)},
)
def list_events(
    db: Db,
    principal: Anyone,
    response: Response,
    since: Annotated[
        str | None, Query(max_length=100, description="A cursor from an answer.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> EventPage | Response:
    now = utcnow()
    with reading(db) as conn:
        if since is not None:
            service.Cursor.parse(since)  # a bad cursor is refused, whatever the ETag
        head = f'"{service.head_revision(conn)}"'
        if if_none_match is not None and etag_matches(if_none_match, head):
            return Response(status_code=304, headers={"ETag": head, "Vary": "Authorization"})
        page = service.list_events(conn, since, limit, principal.device_id, now)
    response.headers["ETag"] = f'"{page.cursor}"'
    response.headers["Vary"] = "Authorization"
    return page


@router.post(
    "/events",
    response_model=Event,
    status_code=201,
    summary="Create an event (admin)",
    responses=errors(400, 403, 409, 422),
)
def create_event(
    db: Db,
    principal: Admin,
    body: EventIn,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    hooks: TestHooks,
) -> Response:
    def work(conn: Connection) -> tuple[int, BaseModel]:
        now = utcnow()
        event_id = service.create_event(conn, body, now)
        return 201, service.get_event(conn, event_id, None, now)

    return run_once(db, principal.scope, key, fingerprint, work, hooks)


@router.get(
    "/events/{event_id}",
    response_model=Event,
    summary="One event",
    responses=errors(404, 422),
)
def get_event(db: Db, principal: Anyone, event_id: EventIdPath) -> Event:
    with reading(db) as conn:
        return service.get_event(conn, event_id, principal.device_id, utcnow())


@router.put(
    "/events/{event_id}",
    response_model=Event,
    summary="Replace an event (admin)",
    description="Capacity may not go below the confirmed seats (409 "
    "`capacity_below_confirmed`); more capacity promotes the waitlist in order.",
    responses=errors(403, 404, 409, 422),
)
def replace_event(db: Db, principal: Admin, event_id: EventIdPath, body: EventIn) -> Event:
    with writing(db) as conn:
        now = utcnow()
        service.replace_event(conn, event_id, body, now)
        return service.get_event(conn, event_id, None, now)


@router.get(
    "/events/{event_id}/registrations",
    response_model=RegistrationList,
    summary="The event's registrations, for staff (admin)",
    responses=errors(403, 404, 422),
)
def event_registrations(
    db: Db,
    principal: Admin,
    event_id: EventIdPath,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> RegistrationList:
    with reading(db) as conn:
        service.get_event(conn, event_id, None, utcnow())  # 404 for an unknown event
        return registrations.list_for(conn, None, event_id, limit)


@router.post(
    "/events/{event_id}/check-in",
    response_model=CheckInResult,
    summary="Check a card's party in (attendance)",
    description="At a kiosk of the event's branch (or by staff), from an hour before the start "
    "until the end. Confirmed registrations of the card become `attended`; doing it again "
    "changes nothing (checked_in 0). 404 `registration_not_found` when the card has no seat, "
    "409 `not_confirmed` when it is only on the waitlist, 409 `check_in_not_open` outside the "
    "hours, 403 `wrong_kiosk` at another branch's kiosk.",
    responses=errors(403, 404, 409, 422),
)
def check_in(db: Db, principal: Anyone, event_id: EventIdPath, body: CardIn) -> CheckInResult:
    with writing(db) as conn:
        return registrations.check_in(
            conn, event_id, body.card_token, principal.device_id, utcnow()
        )


@router.post(
    "/events/{event_id}/attendance/close",
    response_model=AttendanceClosed,
    summary="Mark confirmed parties that did not come as no_show (admin)",
    responses=errors(403, 404, 409, 422),
)
def close_attendance(db: Db, principal: Admin, event_id: EventIdPath) -> AttendanceClosed:
    with writing(db) as conn:
        return registrations.close_attendance(conn, event_id, utcnow())
