"""Routes: devices, heartbeat, configuration, software target, commands, daily counters."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from central import fleet
from central.api_common import NOT_MODIFIED, Db, Fingerprint, TestHooks, errors
from central.auth import Admin, Anyone, DeviceOnly, same_device_or_admin
from central.database import reading, writing
from central.idempotency import IdempotencyKey, run_once
from central.models import (
    Command,
    CommandIn,
    DailyCounters,
    DailyCountersIn,
    Device,
    DeviceConfig,
    DeviceConfigIn,
    DeviceCreated,
    DeviceIn,
    DeviceList,
    Heartbeat,
    HeartbeatReply,
    SoftwareTarget,
)
from central.tables import utcnow

router = APIRouter(tags=["devices"])

DeviceIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]


@router.post(
    "/devices",
    response_model=DeviceCreated,
    status_code=201,
    summary="Register a device and make its token (admin)",
    description="The token is in this answer only (and in a replay of it). The device gets "
    "offline seat grants on the coming events of its branch. 409 `device_exists`.",
    responses=errors(400, 403, 409, 422),
)
def create_device(
    db: Db,
    principal: Admin,
    body: DeviceIn,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    hooks: TestHooks,
) -> Response:
    def work(conn: Connection) -> tuple[int, BaseModel]:
        return 201, fleet.create_device(conn, body, utcnow())

    return run_once(db, principal.scope, key, fingerprint, work, hooks)


@router.get(
    "/devices", response_model=DeviceList, summary="All devices (admin)", responses=errors(403)
)
def list_devices(db: Db, principal: Admin) -> DeviceList:
    with reading(db) as conn:
        return DeviceList(devices=fleet.list_devices(conn))


@router.get(
    "/devices/{device_id}",
    response_model=Device,
    summary="One device with its last heartbeat",
    responses=errors(403, 404, 422),
)
def get_device(db: Db, principal: Anyone, device_id: DeviceIdPath) -> Device:
    same_device_or_admin(principal, device_id)
    with reading(db) as conn:
        return fleet.device_model(fleet.device_row(conn, device_id))


@router.post(
    "/devices/{device_id}/heartbeat",
    response_model=HeartbeatReply,
    summary="The device reports its health; the answer says what it should run",
    description="Send every `heartbeat_interval_s`. Carry out the commands in the answer and "
    "list their ids in `acked_commands` of the next heartbeat; fetch the configuration when "
    "`desired_config_version` differs from the one applied.",
    responses=errors(403, 404, 422),
)
def heartbeat(
    db: Db, principal: DeviceOnly, device_id: DeviceIdPath, body: Heartbeat
) -> HeartbeatReply:
    same_device_or_admin(principal, device_id)
    with writing(db) as conn:
        return fleet.heartbeat(conn, device_id, body, utcnow())


@router.get(
    "/devices/{device_id}/config",
    response_model=DeviceConfig,
    summary="The device's configuration (ETag, If-None-Match → 304)",
    responses={**NOT_MODIFIED, **errors(403, 404, 422)},
)
def get_config(
    db: Db,
    principal: Anyone,
    device_id: DeviceIdPath,
    response: Response,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> DeviceConfig | Response:
    same_device_or_admin(principal, device_id)
    with reading(db) as conn:
        config = fleet.get_config(conn, device_id)
    etag = fleet.config_etag(config.version)
    if if_none_match is not None and fleet.etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return config


@router.put(
    "/devices/{device_id}/config",
    response_model=DeviceConfig,
    summary="Replace the device's configuration (admin)",
    description="The version goes up by one. With If-Match, the change is made only if the "
    "tag names the current version (else 412 `precondition_failed`).",
    responses=errors(403, 404, 412, 422),
)
def put_config(
    db: Db,
    principal: Admin,
    device_id: DeviceIdPath,
    body: DeviceConfigIn,
    response: Response,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> DeviceConfig:
    with writing(db) as conn:
        config = fleet.put_config(conn, device_id, body.settings, if_match, utcnow())
    response.headers["ETag"] = fleet.config_etag(config.version)
    return config


@router.put(
    "/devices/{device_id}/software",
    response_model=Device,
    summary="Set the software version the device should run (admin)",
    responses=errors(403, 404, 422),
)
def put_software(db: Db, principal: Admin, device_id: DeviceIdPath, body: SoftwareTarget) -> Device:
    with writing(db) as conn:
        return fleet.set_software(conn, device_id, body.version)


@router.post(
    "/devices/{device_id}/commands",
    response_model=Command,
    status_code=201,
    summary="Queue a command for the device (admin); it comes with the next heartbeat",
    responses=errors(400, 403, 404, 409, 422),
)
def add_command(
    db: Db,
    principal: Admin,
    device_id: DeviceIdPath,
    body: CommandIn,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    hooks: TestHooks,
) -> Response:
    def work(conn: Connection) -> tuple[int, BaseModel]:
        return 201, fleet.add_command(conn, device_id, body, utcnow())

    return run_once(db, principal.scope, key, fingerprint, work, hooks)


@router.put(
    "/devices/{device_id}/statistics/{day}",
    response_model=DailyCounters,
    summary="The device's anonymous counters for one day (replaces what was sent before)",
    description="Counts only, nothing about patrons. Send the day's totals so far; sending "
    "again replaces them, so a retry is harmless.",
    responses=errors(403, 404, 422),
)
def put_counters(
    db: Db, principal: Anyone, device_id: DeviceIdPath, day: date, body: DailyCountersIn
) -> DailyCounters:
    same_device_or_admin(principal, device_id)
    with writing(db) as conn:
        fleet.device_row(conn, device_id)
        return fleet.put_counters(conn, device_id, day, body, utcnow())
