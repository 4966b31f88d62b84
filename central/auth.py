"""Bearer tokens: one per device, and admin tokens for staff tools.

Tokens are random and long, so a plain SHA-256 is enough to store them: the
database alone does not give anyone a usable token.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, insert, select

from central.database import reading
from central.errors import ApiError
from central.tables import tokens, utcnow

Role = Literal["admin", "device"]


@dataclass(frozen=True)
class Principal:
    role: Role
    device_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def scope(self) -> str:
        """Name under which this caller's idempotency keys are kept."""
        return "admin" if self.is_admin else f"device:{self.device_id}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_token(conn: Connection, token: str, role: Role, device_id: str | None, label: str) -> None:
    conn.execute(
        insert(tokens).values(
            token_hash=hash_token(token),
            role=role,
            device_id=device_id,
            label=label[:100],
            created_at=utcnow(),
        )
    )


def principal_in(conn: Connection, token: str) -> Principal | None:
    row = conn.execute(
        select(tokens.c.role, tokens.c.device_id).where(tokens.c.token_hash == hash_token(token))
    ).first()
    return None if row is None else Principal(row.role, row.device_id)


def token_principal(engine: Engine, token: str) -> Principal | None:
    with reading(engine) as conn:
        return principal_in(conn, token)


class TokenCache:
    """Known tokens, so a heartbeat costs no extra query. Tokens are never revoked in
    API v1, so a positive answer stays true; unknown tokens are not cached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def known(self, token: str) -> Principal | None:
        with self._lock:
            return self._known.get(token)

    def lookup(self, token: str) -> Principal | None:
        found = self.known(token)
        if found is not None:
            return found
        found = token_principal(self.engine, token)
        if found is not None:
            with self._lock:
                self._known[token] = found
        return found


bearer = HTTPBearer(
    auto_error=False,
    description="A device token (one per kiosk) or an admin token, as `Authorization: Bearer …`.",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "A bearer token is required.", headers=_CHALLENGE)
    cache: TokenCache = request.app.state.tokens
    token = credentials.credentials
    # Known tokens are answered from memory; the database is asked off the event loop.
    principal = cache.known(token) or await run_in_threadpool(cache.lookup, token)
    if principal is None:
        raise ApiError(401, "unauthorized", "The bearer token is not known.", headers=_CHALLENGE)
    return principal


async def admin(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "This needs an admin token; a device token cannot do it.")
    return principal


async def device(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    if principal.is_admin:
        raise ApiError(403, "forbidden", "This needs a device token.")
    return principal


def same_device_or_admin(principal: Principal, device_id: str) -> None:
    if not principal.is_admin and principal.device_id != device_id:
        raise ApiError(403, "forbidden", "A device token may only be used for its own device.")


Anyone = Annotated[Principal, Depends(authenticated)]
Admin = Annotated[Principal, Depends(admin)]
DeviceOnly = Annotated[Principal, Depends(device)]
