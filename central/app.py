"""The FastAPI application: routes, error handlers, and the contract's front page."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from central import API_PREFIX, API_VERSION, api_devices, api_events, api_misc, api_registrations
from central import errors as error_handlers
from central.auth import TokenCache
from central.idempotency import Hooks

TITLE = "Library kiosk central API"

DESCRIPTION = """\
Events, registrations, device configuration and fleet health for the library kiosks.

**Authentication.** Every route except `/health` and `/pictures` needs
`Authorization: Bearer <token>`: a device token (one per kiosk) or an admin token.
No or an unknown token: 401 `unauthorized`. A device token on an admin route, or on
another device's resources: 403 `forbidden`.

**Errors.** Every 4xx and 5xx answer has the `Error` body:
`{"code": "...", "message": "...", "fields": [{"field": "...", "message": "..."}]}`;
`code` is stable and machine-readable, `message` is plain English, `fields` comes
with `invalid_request` (422: a malformed body, parameter or header). 503
`database_busy` carries `Retry-After`.

**Idempotency.** Every POST that creates something takes an `Idempotency-Key`
header (for registrations the body's `client_id` is the key). Same key and same body:
the first answer again, status and body, with `Idempotent-Replayed: true`. Same key,
other body: 422 `idempotency_key_reused`. Same key while the first request is still
being handled: 409 `idempotency_key_in_progress` (retry). Error answers are not kept:
retrying after one is safe.

**Conditional requests.** `GET /events` and `GET /devices/{id}/config` answer with an
`ETag`; send it back as `If-None-Match` to get 304 without a body when nothing changed.

**Incremental sync.** `GET /events` without `since` lists every event not yet ended;
its `cursor` (also its ETag), passed as `since`, lists what changed after it. Follow
`has_more`. Seat counts change an event's revision, so `seats_left` stays fresh.

**Time.** ISO 8601 with an offset everywhere; answers are in Europe/Ljubljana time.
Times without an offset are refused.

**Privacy.** Patrons appear only as `card_token`, a keyed hash made by the kiosk
(HMAC-SHA256 with the fleet's card key over the normalised card number, lowercase hex).
A card number is never sent; a value that is not 64 hex digits is refused.

**Offline seats.** An event may hold `offline_seats_per_device` seats for each kiosk
at its branch; a kiosk sees its own remaining grant as `offline_seats` and may promise
that many seats while offline, sending the registrations later with `offline: true`.
The server honours them (the registration window is checked at `created_at`).
"""


def create_app(engine: Engine | None, hooks: Hooks | None = None) -> FastAPI:
    """The app over `engine` (None only to read its OpenAPI document)."""
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        separate_input_output_schemas=False,
        # operationId = the function's name (create_registration), for generated clients.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.engine = engine
    app.state.hooks = hooks or Hooks()
    app.state.tokens = TokenCache(engine) if engine is not None else None
    error_handlers.install(app)
    for module in (api_events, api_registrations, api_devices, api_misc):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
