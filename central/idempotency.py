"""Idempotency-Key semantics for POSTs that create something.

A key is kept per caller (admin, or one device):
- same key, same request (method, path, JSON body) → the first answer again,
  status and body byte for byte, with ``Idempotent-Replayed: true``;
- same key, another request → 422 ``idempotency_key_reused``;
- same key while the first request is still being handled → 409
  ``idempotency_key_in_progress`` (retry later).

Only successful answers are kept. An error (validation, not found, a busy
database) releases the key, so the client may retry with it. The claim on a key
is committed before the work starts; the answer is stored in the same
transaction as the work, so a crash in between never records an answer for
work that did not happen. A claim left by a crashed server expires after
``STALE_CLAIM_S``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from central.database import writing
from central.errors import ApiError
from central.tables import idempotency, utcnow

STALE_CLAIM_S = 60.0
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Client-chosen key (a UUID is best), 1-200 visible ASCII characters. "
        "Same key and same body: the first answer again; other body: 422; still in "
        "progress: 409.",
    ),
]
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Optional here: the registration's client_id is its idempotency key. If "
        "sent, it must equal client_id.",
    ),
]


@dataclass
class Hooks:
    """Test hooks. ``in_progress(key)`` runs after a key is claimed and before the work,
    in the request's worker thread, so a test can hold a request in progress."""

    in_progress: Callable[[str], None] | None = None
    extra: dict[str, object] = field(default_factory=dict)


async def request_fingerprint(request: Request) -> str:
    """Hash of method, path and the JSON body (canonical: key order and spacing do not count)."""
    body = await request.body()
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    text = f"{request.method} {request.url.path}\n{canonical}"
    return hashlib.sha256(text.encode()).hexdigest()


Work = Callable[[Connection], tuple[int, BaseModel]]


def run_once(
    engine: Engine,
    scope: str,
    key: str,
    fingerprint: str,
    work: Work,
    hooks: Hooks | None = None,
) -> Response:
    """Do `work` (in one write transaction) at most once per (scope, key)."""
    replay = _claim(engine, scope, key, fingerprint)
    if replay is not None:
        return replay
    try:
        if hooks is not None and hooks.in_progress is not None:
            hooks.in_progress(key)
        with writing(engine) as conn:
            status, model = work(conn)
            body = model.model_dump_json()
            conn.execute(
                update(idempotency)
                .where(idempotency.c.principal == scope, idempotency.c.key == key)
                .values(state="done", status_code=status, body=body, updated_at=utcnow())
            )
    except BaseException:
        # Free the key for a retry; if even that fails (database gone), the claim
        # expires after STALE_CLAIM_S, and the original error is the one to report.
        with contextlib.suppress(Exception):
            _release(engine, scope, key)
        raise
    return _answer(status, body, replayed=False)


def _claim(engine: Engine, scope: str, key: str, fingerprint: str) -> Response | None:
    """None when this request now owns the key; else the answer to give at once."""
    for _attempt in range(2):
        try:
            with writing(engine) as conn:
                row = conn.execute(
                    select(idempotency).where(
                        idempotency.c.principal == scope, idempotency.c.key == key
                    )
                ).first()
                now = utcnow()
                if row is None:
                    conn.execute(
                        insert(idempotency).values(
                            principal=scope,
                            key=key,
                            fingerprint=fingerprint,
                            state="in_progress",
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    return None
                if row.fingerprint != fingerprint:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        "This Idempotency-Key was already used for a different request; "
                        "use a new key for a new request.",
                    )
                if row.state == "done":
                    return _answer(row.status_code, row.body, replayed=True)
                if now - row.updated_at < timedelta(seconds=STALE_CLAIM_S):
                    raise ApiError(
                        409,
                        "idempotency_key_in_progress",
                        "A request with this Idempotency-Key is still being handled; "
                        "retry in a moment.",
                        headers={"Retry-After": "1"},
                    )
                # Left by a request that died: take it over.
                conn.execute(
                    update(idempotency)
                    .where(idempotency.c.principal == scope, idempotency.c.key == key)
                    .values(updated_at=now)
                )
                return None
        except IntegrityError:
            continue  # another request inserted the same key first (PostgreSQL): look again
    raise ApiError(
        409, "idempotency_key_in_progress", "A request with this Idempotency-Key is in progress."
    )


def _release(engine: Engine, scope: str, key: str) -> None:
    with writing(engine) as conn:
        conn.execute(
            delete(idempotency).where(
                and_(
                    idempotency.c.principal == scope,
                    idempotency.c.key == key,
                    idempotency.c.state == "in_progress",
                )
            )
        )


def _answer(status: int, body: str, *, replayed: bool) -> Response:
    return Response(
        content=body,
        status_code=status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true" if replayed else "false"},
    )
