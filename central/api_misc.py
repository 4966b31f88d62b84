"""Routes: health, the sample pictures, receipt e-mail requests, statistics."""

from __future__ import annotations

import hashlib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel
from sqlalchemy import Connection

from central import API_VERSION, fleet
from central.api_common import NOT_MODIFIED, Db, Fingerprint, TestHooks, errors
from central.auth import Admin, DeviceOnly
from central.database import is_sqlite, reading
from central.errors import not_found, openapi_errors
from central.events import local
from central.idempotency import IdempotencyKey, run_once
from central.models import Health, ReceiptIn, ReceiptList, ReceiptRecord, StatisticsReport
from central.tables import utcnow

router = APIRouter()

PICTURES_DIR = Path(__file__).resolve().parent / "pictures"


@router.get(
    "/health",
    response_model=Health,
    tags=["service"],
    summary="Is the server up and its database reachable (no token needed)",
    responses=openapi_errors(503),
)
def health(db: Db) -> Health:
    with reading(db) as conn:
        conn.exec_driver_sql("SELECT 1")
    return Health(
        status="ok",
        api_version=API_VERSION,
        database="sqlite" if is_sqlite(db) else "postgresql",
        server_time=local(utcnow()),
    )


@lru_cache(maxsize=128)
def _picture(name: str) -> tuple[bytes, str] | None:
    path = PICTURES_DIR / name
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data, f'"{hashlib.sha256(data).hexdigest()[:32]}"'


@router.get(
    "/pictures/{name}",
    tags=["service"],
    summary="A picture served by this server (no token needed); ETag, If-None-Match → 304",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "The PNG file."},
        **NOT_MODIFIED,
        **openapi_errors(404, 422),
    },
)
def picture(
    name: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}\.png$")],
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    found = _picture(name)
    if found is None:
        raise not_found("picture", name)
    data, etag = found
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
    if if_none_match is not None and fleet.etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type="image/png", headers=headers)


@router.post(
    "/receipts",
    response_model=ReceiptRecord,
    status_code=202,
    tags=["receipts"],
    summary="Ask for a receipt by e-mail (the server finds the address by card_token)",
    description="The reference server records the request and sends nothing.",
    responses=errors(400, 403, 409, 422),
)
def request_receipt(
    db: Db,
    principal: DeviceOnly,
    body: ReceiptIn,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    hooks: TestHooks,
) -> Response:
    def work(conn: Connection) -> tuple[int, BaseModel]:
        return 202, fleet.record_receipt(conn, str(principal.device_id), body, utcnow())

    return run_once(db, principal.scope, key, fingerprint, work, hooks)


@router.get(
    "/receipts",
    response_model=ReceiptList,
    tags=["receipts"],
    summary="Recorded receipt requests, newest first (admin)",
    responses=errors(403, 422),
)
def list_receipts(
    db: Db, principal: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ReceiptList:
    with reading(db) as conn:
        return ReceiptList(receipts=fleet.list_receipts(conn, limit))


@router.get(
    "/statistics",
    response_model=StatisticsReport,
    tags=["statistics"],
    summary="Anonymous counters summed over all devices, by day (admin)",
    responses=errors(400, 403, 422),
)
def statistics(
    db: Db,
    principal: Admin,
    start: Annotated[date, Query(description="First day (inclusive).")],
    end: Annotated[date, Query(description="Last day (inclusive).")],
) -> StatisticsReport:
    with reading(db) as conn:
        return fleet.statistics(conn, start, end)
