"""Routes: registrations and their cancellation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from central import registrations as service
from central.api_common import Db, Fingerprint, TestHooks, errors
from central.auth import Anyone
from central.database import reading, writing
from central.errors import ApiError
from central.idempotency import OptionalIdempotencyKey, run_once
from central.models import CancelIn, CardToken, Registration, RegistrationIn, RegistrationList
from central.tables import utcnow

router = APIRouter(tags=["registrations"])


@router.post(
    "/registrations",
    response_model=Registration,
    status_code=201,
    summary="Register a party for an event",
    description="The answer is 201 with the decision in `status`: `confirmed`, `waitlisted` "
    "(with `waitlist_position`) or `rejected` (with `reason`: registration window, age rules, "
    "party size, adult required, full, already registered). The same request again (same "
    "client_id and body) gives the same answer with `Idempotent-Replayed: true`; the same "
    "client_id with another body gives 422 `idempotency_key_reused`; while the first is still "
    "being handled, 409 `idempotency_key_in_progress`.",
    responses={
        200: {
            "model": Registration,
            "description": "A registration with this client_id was already stored outside "
            "the idempotency record (e.g. records were purged): it is answered as it is now.",
        },
        **errors(403, 404, 409, 422),
    },
)
def create_registration(
    db: Db,
    principal: Anyone,
    body: RegistrationIn,
    fingerprint: Fingerprint,
    hooks: TestHooks,
    key: OptionalIdempotencyKey = None,
) -> Response:
    client_id = str(body.client_id)
    if key is not None and key != client_id:
        raise ApiError(
            422,
            "idempotency_key_mismatch",
            "The Idempotency-Key of a registration must equal its client_id.",
        )

    def work(conn: Connection) -> tuple[int, BaseModel]:
        return service.register(conn, body, principal.device_id, utcnow())

    return run_once(db, principal.scope, client_id, fingerprint, work, hooks)


@router.get(
    "/registrations",
    response_model=RegistrationList,
    summary="A card's registrations (oldest first)",
    description="Devices must give `card_token` (a kiosk lists only the registrations of the "
    "card just tapped); staff may list by event alone.",
    responses=errors(400, 422),
)
def list_registrations(
    db: Db,
    principal: Anyone,
    card_token: Annotated[CardToken | None, Query()] = None,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RegistrationList:
    if card_token is None and not principal.is_admin:
        raise ApiError(400, "card_token_required", "Give the card_token of the tapped card.")
    if card_token is None and event_id is None:
        raise ApiError(400, "filter_required", "Give card_token or event_id.")
    with reading(db) as conn:
        return service.list_for(conn, card_token, event_id, limit)


@router.get(
    "/registrations/{client_id}",
    response_model=Registration,
    summary="One registration, by the client_id the kiosk gave it",
    responses=errors(404, 422),
)
def get_registration(db: Db, principal: Anyone, client_id: UUID) -> Registration:
    with reading(db) as conn:
        return service.get(conn, str(client_id))


@router.post(
    "/registrations/{client_id}/cancel",
    response_model=Registration,
    summary="Cancel a registration (by the card that made it)",
    description="Frees the seats and promotes the waitlist in order. Cancelling a cancelled "
    "registration answers it as it is. 403 `card_mismatch` for another card, 409 "
    "`not_cancellable` once attended, no_show or rejected.",
    responses=errors(403, 404, 409, 422),
)
def cancel_registration(db: Db, principal: Anyone, client_id: UUID, body: CancelIn) -> Registration:
    with writing(db) as conn:
        return service.cancel(conn, str(client_id), body.card_token, principal.is_admin, utcnow())
