"""The device fleet: devices and their tokens, heartbeats, remote configuration,
commands, receipt e-mail requests and anonymous daily counters."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from central.auth import add_token, new_token
from central.errors import ApiError, not_found
from central.events import grant_for_new_device, local
from central.models import (
    Command,
    CommandIn,
    DailyCounters,
    DailyCountersIn,
    DayTotals,
    Device,
    DeviceConfig,
    DeviceCreated,
    DeviceIn,
    Heartbeat,
    HeartbeatReply,
    ReceiptIn,
    ReceiptRecord,
    StatisticsReport,
)
from central.tables import commands, daily_counters, devices, receipts

HEARTBEAT_INTERVAL_S = 30
MAX_CONFIG_BYTES = 64 * 1024
MAX_REPORT_DAYS = 366


# --- devices -------------------------------------------------------------------------------


def create_device(conn: Connection, body: DeviceIn, now: datetime) -> DeviceCreated:
    if conn.execute(select(devices.c.id).where(devices.c.id == body.id)).first() is not None:
        raise ApiError(409, "device_exists", f"A device {body.id!r} already exists.")
    conn.execute(
        insert(devices).values(
            id=body.id,
            branch=body.branch,
            description=body.description,
            created_at=now,
            config_version=1,
            config={},
            config_updated_at=now,
        )
    )
    token = new_token()
    add_token(conn, token, "device", body.id, f"device {body.id}")
    grant_for_new_device(conn, body.branch, now)
    return DeviceCreated(**device_model(device_row(conn, body.id)).model_dump(), token=token)


def device_row(conn: Connection, device_id: str, *, lock: bool = False) -> Row[Any]:
    query = select(devices).where(devices.c.id == device_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise not_found("device", device_id)
    return row


def device_model(row: Row[Any]) -> Device:
    return Device(
        id=row.id,
        branch=row.branch,
        description=row.description,
        created_at=local(row.created_at),
        config_version=row.config_version,
        desired_software_version=row.desired_software_version,
        last_heartbeat_at=row.last_heartbeat_at and local(row.last_heartbeat_at),
        last_heartbeat=row.last_heartbeat,
    )


def list_devices(conn: Connection) -> list[Device]:
    return [device_model(r) for r in conn.execute(select(devices).order_by(devices.c.id))]


# --- heartbeat and commands ----------------------------------------------------------------


def heartbeat(conn: Connection, device_id: str, body: Heartbeat, now: datetime) -> HeartbeatReply:
    conn.execute(
        update(devices)
        .where(devices.c.id == device_id)
        .values(last_heartbeat_at=now, last_heartbeat=body.model_dump(mode="json"))
    )
    if body.acked_commands:
        conn.execute(
            update(commands)
            .where(
                commands.c.device_id == device_id,
                commands.c.id.in_(body.acked_commands),
                commands.c.acked_at.is_(None),
            )
            .values(acked_at=now)
        )
    row = device_row(conn, device_id)
    pending = conn.execute(
        select(commands)
        .where(commands.c.device_id == device_id, commands.c.acked_at.is_(None))
        .order_by(commands.c.id)
    ).all()
    return HeartbeatReply(
        server_time=local(now),
        desired_config_version=row.config_version,
        desired_software_version=row.desired_software_version,
        commands=[command_model(c) for c in pending],
        heartbeat_interval_s=HEARTBEAT_INTERVAL_S,
    )


def add_command(conn: Connection, device_id: str, body: CommandIn, now: datetime) -> Command:
    device_row(conn, device_id)
    new_id = conn.execute(
        insert(commands)
        .values(device_id=device_id, kind=body.kind, args=body.args, created_at=now)
        .returning(commands.c.id)
    ).scalar_one()
    return command_model(conn.execute(select(commands).where(commands.c.id == new_id)).one())


def command_model(row: Row[Any]) -> Command:
    return Command(
        id=row.id,
        kind=row.kind,
        args=row.args,
        created_at=local(row.created_at),
        acked_at=row.acked_at and local(row.acked_at),
    )


def set_software(conn: Connection, device_id: str, version: str | None) -> Device:
    device_row(conn, device_id, lock=True)
    conn.execute(
        update(devices).where(devices.c.id == device_id).values(desired_software_version=version)
    )
    return device_model(device_row(conn, device_id))


# --- configuration -------------------------------------------------------------------------


def config_etag(version: int) -> str:
    return f'"cfg-{version}"'


def get_config(conn: Connection, device_id: str) -> DeviceConfig:
    return _config_model(device_row(conn, device_id))


def put_config(
    conn: Connection, device_id: str, settings: dict[str, Any], if_match: str | None, now: datetime
) -> DeviceConfig:
    if len(json.dumps(settings, ensure_ascii=False).encode()) > MAX_CONFIG_BYTES:
        raise ApiError(
            413, "body_too_large", f"The configuration is over {MAX_CONFIG_BYTES} bytes."
        )
    row = device_row(conn, device_id, lock=True)
    if if_match is not None and not etag_matches(if_match, config_etag(row.config_version)):
        raise ApiError(
            412,
            "precondition_failed",
            f"The configuration is at version {row.config_version}; read it again first.",
        )
    conn.execute(
        update(devices)
        .where(devices.c.id == device_id)
        .values(config=settings, config_version=row.config_version + 1, config_updated_at=now)
    )
    return _config_model(device_row(conn, device_id))


def _config_model(row: Row[Any]) -> DeviceConfig:
    return DeviceConfig(
        device_id=row.id,
        version=row.config_version,
        settings=row.config,
        updated_at=local(row.config_updated_at),
    )


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match / If-Match: a list of tags, weak ones (W/) allowed, or `*`."""
    wanted = etag.removeprefix("W/")
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


# --- receipts and statistics ---------------------------------------------------------------


def record_receipt(
    conn: Connection, device_id: str, body: ReceiptIn, now: datetime
) -> ReceiptRecord:
    client_id = str(body.client_id)
    existing = conn.execute(select(receipts).where(receipts.c.client_id == client_id)).first()
    if existing is None:
        conn.execute(
            insert(receipts).values(
                client_id=client_id,
                device_id=device_id,
                card_token=body.card_token,
                language=body.language,
                kind=body.kind,
                items=[i.model_dump(mode="json") for i in body.items],
                created_at=body.created_at,
                received_at=now,
            )
        )
        existing = conn.execute(select(receipts).where(receipts.c.client_id == client_id)).one()
    elif existing.device_id != device_id:
        raise ApiError(409, "client_id_taken", "Another receipt request has this client_id.")
    return receipt_model(existing)


def receipt_model(row: Row[Any]) -> ReceiptRecord:
    return ReceiptRecord(
        client_id=row.client_id,
        device_id=row.device_id,
        status="recorded",
        language=row.language,
        kind=row.kind,
        item_count=len(row.items),
        created_at=local(row.created_at),
        received_at=local(row.received_at),
    )


def list_receipts(conn: Connection, limit: int) -> list[ReceiptRecord]:
    rows = conn.execute(select(receipts).order_by(receipts.c.received_at.desc()).limit(limit))
    return [receipt_model(r) for r in rows]


def put_counters(
    conn: Connection, device_id: str, day: date, body: DailyCountersIn, now: datetime
) -> DailyCounters:
    where = (daily_counters.c.device_id == device_id, daily_counters.c.day == day)
    if conn.execute(select(daily_counters.c.day).where(*where)).first() is None:
        conn.execute(
            insert(daily_counters).values(
                device_id=device_id, day=day, counters=body.counters, updated_at=now
            )
        )
    else:
        conn.execute(
            update(daily_counters).where(*where).values(counters=body.counters, updated_at=now)
        )
    return DailyCounters(
        device_id=device_id, day=day, counters=body.counters, updated_at=local(now)
    )


def statistics(conn: Connection, start: date, end: date) -> StatisticsReport:
    if end < start:
        raise ApiError(400, "invalid_range", "`end` must not be before `start`.")
    if (end - start).days >= MAX_REPORT_DAYS:
        raise ApiError(400, "invalid_range", f"Ask for at most {MAX_REPORT_DAYS} days at once.")
    rows = conn.execute(
        select(daily_counters.c.day, daily_counters.c.counters)
        .where(daily_counters.c.day >= start, daily_counters.c.day <= end)
        .order_by(daily_counters.c.day)
    ).all()
    totals: dict[date, DayTotals] = {}
    for day, counters in rows:
        entry = totals.setdefault(day, DayTotals(day=day, devices=0, counters={}))
        entry.devices += 1
        for name, value in counters.items():
            entry.counters[name] = entry.counters.get(name, 0) + int(value)
    return StatisticsReport(start=start, end=end, days=list(totals.values()))
