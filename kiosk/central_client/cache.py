"""The client's tables in the kiosk store: cached events, pictures, registrations
made here. The store has created them (migration 0003); this module only queries.

It opens its own SQLAlchemy engine on the store's file (same durability settings,
kiosk.store.engine): WAL lets it read while the core writes, and writes wait for
each other through SQLite's busy timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from kiosk.store import Store, StoreError
from kiosk.store.engine import make_engine, writer
from kiosk.store.schema import central_events, central_pictures, central_registrations


@dataclass(frozen=True, slots=True)
class CachedEvent:
    id: str
    revision: int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LocalRegistration:
    client_id: str
    event_id: str
    card_token: str
    party_size: int
    ages: tuple[int, ...]
    status: str
    offline: bool
    via_offline_grant: bool
    waitlist_position: int | None
    reason: str | None
    answered_revision: int | None
    created_at: dt.datetime


class CentralCache:
    def __init__(self, store: Store) -> None:
        self.path = store.path
        self._engine = make_engine(store.path)
        self._writer = writer(self._engine)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"Reading the event cache in {self.path} failed: {exc}.") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock:
            try:
                with self._writer.begin() as conn:
                    yield conn
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"Writing the event cache in {self.path} failed: {exc}. Not saved."
                ) from exc

    # -- events -------------------------------------------------------------------------

    def save_events(
        self, rows: Sequence[tuple[str, int, str, dt.datetime, dt.datetime, str]], now: dt.datetime
    ) -> None:
        """(id, revision, status, starts_at, ends_at, raw JSON) rows, replacing older ones."""
        if not rows:
            return
        with self._write() as conn:
            for event_id, revision, status, starts, ends, raw in rows:
                values = {
                    "revision": revision,
                    "status": status,
                    "starts_at": starts,
                    "ends_at": ends,
                    "payload": raw,
                    "received_at": now,
                }
                statement = sqlite_insert(central_events).values(id=event_id, **values)
                conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))

    def delete_events_except(self, keep: Iterable[str]) -> int:
        wanted = set(keep)
        with self._write() as conn:
            ids = [r[0] for r in conn.execute(select(central_events.c.id))]
            gone = [i for i in ids if i not in wanted]
            for start in range(0, len(gone), 500):
                conn.execute(
                    delete(central_events).where(central_events.c.id.in_(gone[start : start + 500]))
                )
            return len(gone)

    def drop_ended(self, before: dt.datetime) -> int:
        with self._write() as conn:
            return int(
                conn.execute(
                    delete(central_events).where(central_events.c.ends_at < before)
                ).rowcount
            )

    def events(self, ending_after: dt.datetime) -> list[CachedEvent]:
        query = (
            select(central_events.c.id, central_events.c.revision, central_events.c.payload)
            .where(central_events.c.ends_at > ending_after, central_events.c.status != "cancelled")
            .order_by(central_events.c.starts_at, central_events.c.id)
        )
        with self._read() as conn:
            return [
                CachedEvent(r.id, r.revision, json.loads(r.payload)) for r in conn.execute(query)
            ]

    def event(self, event_id: str) -> CachedEvent | None:
        query = select(central_events.c.revision, central_events.c.payload).where(
            central_events.c.id == event_id
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else CachedEvent(event_id, row.revision, json.loads(row.payload))

    def event_revision(self, event_id: str) -> int | None:
        query = select(central_events.c.revision).where(central_events.c.id == event_id)
        with self._read() as conn:
            return conn.execute(query).scalar_one_or_none()

    def event_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(central_events)).scalar_one())

    def picture_urls(self) -> list[tuple[str, str]]:
        """(event id, picture URL as sent) of every cached event with a picture."""
        query = select(
            central_events.c.id,
            func.json_extract(central_events.c.payload, "$.picture.url"),
        ).where(func.json_extract(central_events.c.payload, "$.picture.url").is_not(None))
        with self._read() as conn:
            return [(r[0], str(r[1])) for r in conn.execute(query)]

    # -- pictures -----------------------------------------------------------------------

    def picture(self, url: str) -> tuple[str, str | None] | None:
        """(file name, etag) of a fetched picture."""
        query = select(central_pictures.c.file, central_pictures.c.etag).where(
            central_pictures.c.url == url
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.file, row.etag)

    def pictures(self) -> dict[str, str]:
        """URL -> file name of every fetched picture."""
        with self._read() as conn:
            return {r.url: r.file for r in conn.execute(select(central_pictures))}

    def save_picture(self, url: str, file: str, etag: str | None, now: dt.datetime) -> None:
        values = {"file": file, "etag": etag, "fetched_at": now}
        statement = sqlite_insert(central_pictures).values(url=url, **values)
        with self._write() as conn:
            conn.execute(statement.on_conflict_do_update(index_elements=["url"], set_=values))

    def forget_pictures(self, urls: Iterable[str]) -> None:
        gone = list(urls)
        if gone:
            with self._write() as conn:
                conn.execute(delete(central_pictures).where(central_pictures.c.url.in_(gone)))

    # -- registrations made here --------------------------------------------------------

    def add_registration(
        self,
        client_id: str,
        event_id: str,
        card_token: str,
        ages: Sequence[int],
        status: str,
        now: dt.datetime,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                insert(central_registrations).values(
                    client_id=client_id,
                    event_id=event_id,
                    card_token=card_token,
                    party_size=len(ages),
                    ages=json.dumps(list(ages)),
                    status=status,
                    offline=False,
                    via_offline_grant=False,
                    created_at=now,
                    updated_at=now,
                )
            )

    def update_registration(self, client_id: str, now: dt.datetime, **values: Any) -> None:
        with self._write() as conn:
            conn.execute(
                update(central_registrations)
                .where(central_registrations.c.client_id == client_id)
                .values(updated_at=now, **values)
            )

    def registration(self, client_id: str) -> LocalRegistration | None:
        query = select(central_registrations).where(central_registrations.c.client_id == client_id)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _registration(row)

    def registrations(
        self, *, card_token: str | None = None, event_id: str | None = None
    ) -> list[LocalRegistration]:
        query = select(central_registrations).order_by(central_registrations.c.created_at)
        if card_token is not None:
            query = query.where(central_registrations.c.card_token == card_token)
        if event_id is not None:
            query = query.where(central_registrations.c.event_id == event_id)
        with self._read() as conn:
            return [_registration(row) for row in conn.execute(query)]

    def offline_registrations(self) -> dict[str, list[LocalRegistration]]:
        """Per event: the registrations this kiosk took against its offline grant."""
        query = select(central_registrations).where(central_registrations.c.offline.is_(True))
        held: dict[str, list[LocalRegistration]] = {}
        with self._read() as conn:
            for row in conn.execute(query):
                held.setdefault(row.event_id, []).append(_registration(row))
        return held

    def forget_registrations_before(self, before: dt.datetime) -> int:
        """Registrations of events that ended: personal data only as long as needed."""
        with self._write() as conn:
            ended = select(central_events.c.id).where(central_events.c.ends_at < before)
            return int(
                conn.execute(
                    delete(central_registrations).where(
                        central_registrations.c.event_id.in_(ended),
                        central_registrations.c.status != "pending_sync",
                    )
                ).rowcount
            )


def _registration(row: Any) -> LocalRegistration:
    return LocalRegistration(
        client_id=row.client_id,
        event_id=row.event_id,
        card_token=row.card_token,
        party_size=row.party_size,
        ages=tuple(json.loads(row.ages)),
        status=row.status,
        offline=bool(row.offline),
        via_offline_grant=bool(row.via_offline_grant),
        waitlist_position=row.waitlist_position,
        reason=row.reason,
        answered_revision=row.answered_revision,
        created_at=row.created_at,
    )
