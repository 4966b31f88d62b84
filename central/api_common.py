"""What every route module needs: the engine and hooks of the running app, and the
documentation of the usual answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine

from central.errors import openapi_errors
from central.idempotency import Hooks, request_fingerprint


# Dependencies that do no I/O are async: FastAPI runs a sync one in a worker thread,
# a hop that costs more than the work.
async def engine_of(request: Request) -> Engine:
    return request.app.state.engine


async def hooks_of(request: Request) -> Hooks:
    return request.app.state.hooks


Db = Annotated[Engine, Depends(engine_of)]
TestHooks = Annotated[Hooks, Depends(hooks_of)]
Fingerprint = Annotated[str, Depends(request_fingerprint)]

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the If-None-Match tag is current. No body."}
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """401 and 503 can happen on every authenticated route; add the route's own."""
    return openapi_errors(*sorted({401, 503, *statuses}))
