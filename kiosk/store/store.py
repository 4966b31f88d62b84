"""The kiosk's local store: circulation outbox, device settings and counters.

Every method runs in its own short transaction and has committed before it
returns, so an action handed to :meth:`Store.add_action` survives the process
being killed right after. Writes are serialised by a lock (one writer thread
plus occasional writes from elsewhere); reads go straight to the pool, which
WAL lets run alongside a write.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from kiosk.store import migrate
from kiosk.store.engine import make_engine, writer
from kiosk.store.errors import StoreError
from kiosk.store.outbox import (
    FINAL_STATES,
    OUTBOX_STATES,
    PURGEABLE_STATES,
    STAFF_STATES,
    UNFINISHED_STATES,
    OutboxEntry,
    dump_json,
    load_json,
    normalise_client_id,
)
from kiosk.store.schema import card_cache, counters, outbox, settings

MAX_KIND_LENGTH = 40
MAX_KEY_LENGTH = 200


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Use :meth:`Store.open`; the constructor expects a prepared engine."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self._engine = engine
        self._writer = writer(engine)
        self._lock = threading.RLock()
        self._closed = False

    @classmethod
    def open(cls, path: Path | str, *, version_locations: Sequence[Path | str] = ()) -> Store:
        """Open (or create) the store at ``path`` and migrate it to the head revision.

        ``version_locations`` adds folders of extra revisions; it exists for
        tests of the migration machinery, not for production use.
        """
        if str(path) == ":memory:":
            raise StoreError("The kiosk store needs a file; ':memory:' would lose every action.")
        path = Path(path).expanduser().absolute()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder {path.parent} for the kiosk database: "
                f"{exc.strerror or exc}."
            ) from None
        if path.is_dir():
            raise StoreError(f"The kiosk database path {path} is a folder, not a file.")
        engine = make_engine(path)
        try:
            migrate.prepare(engine, path, version_locations)
        except BaseException:
            engine.dispose()
            raise
        return cls(path, engine)

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}{', closed' if self._closed else ''})"

    # -- revisions and health ------------------------------------------------

    def revision(self) -> str | None:
        """The schema revision stamped in the database (None if none)."""
        with self._read() as conn:
            heads = migrate.current_heads(conn)
        return ", ".join(sorted(heads)) if heads else None

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this code knows."""
        return migrate.head_revision()

    def describe(self) -> dict[str, Any]:
        """Facts for ``kiosk doctor``."""
        with self._read() as conn:
            journal_mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        oldest = self.oldest_unfinished()
        return {
            "path": str(self.path),
            "revision": self.revision(),
            "head": self.head_revision(),
            "outbox_depth": self.outbox_depth(),
            "oldest_unfinished": oldest.isoformat() if oldest else None,
            "journal_mode": str(journal_mode).lower(),
        }

    # -- outbox ----------------------------------------------------------------

    def add_action(self, kind: str, payload: dict, *, client_id: str | None = None) -> OutboxEntry:
        """Write an action to the outbox (state pending); committed before returning.

        ``client_id`` is the idempotency key (a new UUID4 if None). Adding an
        id that is already stored returns the stored entry unchanged.
        """
        if not isinstance(kind, str) or not kind.strip() or len(kind) > MAX_KIND_LENGTH:
            raise ValueError(f"kind must be a non-empty string of at most {MAX_KIND_LENGTH}")
        if not isinstance(payload, dict):
            raise ValueError(f"payload must be a dict, got {type(payload).__name__}")
        payload_text = dump_json(payload, "payload")
        cid = str(uuid.uuid4()) if client_id is None else normalise_client_id(client_id)
        now = _now()
        with self._write("saving a circulation action") as conn:
            existing = conn.execute(select(outbox).where(outbox.c.client_id == cid)).first()
            if existing is not None:
                return _entry(existing)
            row = conn.execute(
                insert(outbox)
                .values(
                    client_id=cid,
                    kind=kind,
                    payload=payload_text,
                    state="pending",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*outbox.c)
            ).one()
            return _entry(row)

    def mark_sending(self, client_id: str) -> OutboxEntry:
        """Note that the action is being sent (again): attempts + 1, state sending."""
        cid = normalise_client_id(client_id)
        with self._write("marking an action as being sent") as conn:
            self._unfinished_row(conn, cid, "sent again")
            row = conn.execute(
                update(outbox)
                .where(outbox.c.client_id == cid)
                .values(state="sending", attempts=outbox.c.attempts + 1, updated_at=_now())
                .returning(*outbox.c)
            ).one()
            return _entry(row)

    def mark_done(
        self,
        client_id: str,
        state: str,
        result: dict | None = None,
        error: str | None = None,
    ) -> OutboxEntry:
        """Record the outcome: confirmed, refused (backend said no) or failed (gave up)."""
        if state not in FINAL_STATES:
            raise ValueError(
                f"state must be one of {', '.join(FINAL_STATES)}, got {state!r} "
                f"(all states: {', '.join(OUTBOX_STATES)})"
            )
        if result is not None and not isinstance(result, dict):
            raise ValueError(f"result must be a dict or None, got {type(result).__name__}")
        if error is not None and not isinstance(error, str):
            raise ValueError(f"error must be a string or None, got {type(error).__name__}")
        result_text = None if result is None else dump_json(result, "result")
        cid = normalise_client_id(client_id)
        with self._write(f"marking an action as {state}") as conn:
            self._unfinished_row(conn, cid, f"marked {state}")
            row = conn.execute(
                update(outbox)
                .where(outbox.c.client_id == cid)
                .values(state=state, result=result_text, error=error, updated_at=_now())
                .returning(*outbox.c)
            ).one()
            return _entry(row)

    def mark_offline(self, client_id: str, details: dict) -> OutboxEntry:
        """An unfinished action goes ahead offline: `details` (offline, due…) join its
        payload; its state stays, so a replay still looks before repeating a "sending" one."""
        cid = normalise_client_id(client_id)
        with self._write("marking an action as done offline") as conn:
            row = self._unfinished_row(conn, cid, "taken offline")
            payload = {**load_json(row.payload), **details}
            row = conn.execute(
                update(outbox)
                .where(outbox.c.client_id == cid)
                .values(payload=dump_json(payload, "payload"), updated_at=_now())
                .returning(*outbox.c)
            ).one()
            return _entry(row)

    def unfinished(
        self, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[OutboxEntry]:
        """Pending and sending actions in replay order (the order they were written)."""
        query = select(outbox).where(outbox.c.state.in_(UNFINISHED_STATES)).order_by(outbox.c.seq)
        if kinds is not None:
            query = query.where(outbox.c.kind.in_(tuple(kinds)))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def get(self, client_id: str) -> OutboxEntry | None:
        """The entry with this id, or None (also for text that is not a UUID)."""
        try:
            cid = normalise_client_id(client_id)
        except ValueError:
            return None
        with self._read() as conn:
            row = conn.execute(select(outbox).where(outbox.c.client_id == cid)).first()
        return None if row is None else _entry(row)

    def entries(self, limit: int = 100) -> list[OutboxEntry]:
        """The most recent entries in any state, newest first."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = select(outbox).order_by(outbox.c.seq.desc()).limit(limit)
        with self._read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def entries_in(self, states: Sequence[str], limit: int | None = None) -> list[OutboxEntry]:
        """Entries in any of `states`, oldest first (the order they happened in)."""
        unknown = [state for state in states if state not in OUTBOX_STATES]
        if unknown:
            raise ValueError(f"unknown outbox state(s) {unknown}; known: {OUTBOX_STATES}")
        query = select(outbox).where(outbox.c.state.in_(tuple(states))).order_by(outbox.c.seq)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def requeue(self, client_id: str) -> OutboxEntry:
        """Staff asked to send a failed or conflicting action again: back to pending."""
        return self._staff_update(client_id, "can be sent again", lambda row: {"state": "pending"})

    def resolve(self, client_id: str, note: str) -> OutboxEntry:
        """Staff settled a failed or conflicting action by hand: confirmed, with their note
        kept with the result, so the report shows what was done."""

        def settled(row: Row[Any]) -> dict[str, Any]:
            result = {**(load_json(row.result) or {}), "settled_by_staff": note or "settled"}
            return {"state": "confirmed", "result": dump_json(result, "result")}

        return self._staff_update(client_id, "are settled by staff", settled)

    def _staff_update(
        self, client_id: str, verb: str, values: Callable[[Row[Any]], dict[str, Any]]
    ) -> OutboxEntry:
        """Change an entry only staff deal with (failed, conflict)."""
        cid = normalise_client_id(client_id)
        with self._write(f"changing an action that {verb}") as conn:
            row = conn.execute(select(outbox).where(outbox.c.client_id == cid)).first()
            if row is None:
                raise StoreError(f"There is no outbox action with client id {cid}.")
            if row.state not in STAFF_STATES:
                raise StoreError(
                    f"Outbox action {cid} is {row.state}; only {' or '.join(STAFF_STATES)}"
                    f" actions {verb}."
                )
            row = conn.execute(
                update(outbox)
                .where(outbox.c.client_id == cid)
                .values(**values(row), updated_at=_now())
                .returning(*outbox.c)
            ).one()
            return _entry(row)

    def count_since(
        self, kind: str, since: datetime, *, offline: bool, patron_id: str | None = None
    ) -> int:
        """How many `kind` actions were written since `since` (offline ones only, or
        only online ones), optionally for one patron: the offline limits count these."""
        flag = func.coalesce(func.json_extract(outbox.c.payload, "$.offline"), 0)
        query = select(func.count()).where(
            outbox.c.kind == kind, outbox.c.created_at >= since, flag == (1 if offline else 0)
        )
        if patron_id is not None:
            query = query.where(func.json_extract(outbox.c.payload, "$.patron_id") == patron_id)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def outbox_depth(self) -> int:
        """How many actions are not finished (pending or sending)."""
        query = select(func.count()).where(outbox.c.state.in_(UNFINISHED_STATES))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def newest_timestamp(self) -> datetime | None:
        """The latest time anything was recorded (outbox, settings): a clock showing an
        earlier time has gone back."""
        with self._read() as conn:
            times = [
                conn.execute(select(func.max(outbox.c.updated_at))).scalar_one(),
                conn.execute(select(func.max(settings.c.updated_at))).scalar_one(),
            ]
        known = [t for t in times if t is not None]
        return max(known) if known else None

    def oldest_unfinished(self) -> datetime | None:
        query = select(func.min(outbox.c.created_at)).where(outbox.c.state.in_(UNFINISHED_STATES))
        with self._read() as conn:
            return conn.execute(query).scalar_one()

    def purge_finished(self, older_than: timedelta) -> int:
        """Delete confirmed and refused entries last changed longer ago than ``older_than``.

        Personal data is kept only as long as needed. Failed entries stay
        until staff have dealt with them. Returns how many were deleted.
        """
        if older_than < timedelta(0):
            raise ValueError("older_than must not be negative")
        cutoff = _now() - older_than
        with self._write("deleting finished actions") as conn:
            deleted = conn.execute(
                outbox.delete().where(
                    outbox.c.state.in_(PURGEABLE_STATES), outbox.c.updated_at < cutoff
                )
            )
            return int(deleted.rowcount)

    # -- device settings (JSON values) -----------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        _check_name(key, "setting key")
        with self._read() as conn:
            text_value = conn.execute(
                select(settings.c.value).where(settings.c.key == key)
            ).scalar_one_or_none()
        return default if text_value is None else load_json(text_value)

    def set_setting(self, key: str, value: Any) -> None:
        _check_name(key, "setting key")
        value_text = dump_json(value, f"setting {key!r}")
        now = _now()
        statement = sqlite_insert(settings).values(key=key, value=value_text, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[settings.c.key],
            set_={"value": value_text, "updated_at": now},
        )
        with self._write(f"saving setting {key!r}") as conn:
            conn.execute(statement)

    # -- the card cache (offline decisions) ---------------------------------------------

    def replace_blocked_cards(self, tokens: Sequence[str]) -> None:
        """The library system's list of blocked cards, as keyed hashes, replaces the old one."""
        now = _now()
        wanted = set(tokens)
        with self._write("saving the blocked-card list") as conn:
            conn.execute(update(card_cache).values(blocked=False))
            for token in wanted:
                statement = sqlite_insert(card_cache).values(
                    token=token, blocked=True, category="", updated_at=now
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[card_cache.c.token],
                        set_={"blocked": True, "updated_at": now},
                    )
                )

    def remember_card(self, token: str, category: str, *, blocked: bool = False) -> None:
        """What the library system said about a card when it was last seen online."""
        now = _now()
        statement = sqlite_insert(card_cache).values(
            token=token, blocked=blocked, category=category, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[card_cache.c.token],
            set_={"blocked": blocked, "category": category, "updated_at": now},
        )
        with self._write("remembering a card") as conn:
            conn.execute(statement)

    def card_status(self, token: str) -> tuple[bool, str] | None:
        """(blocked, category) of a cached card; None for a card never seen."""
        query = select(card_cache.c.blocked, card_cache.c.category).where(
            card_cache.c.token == token
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (bool(row.blocked), str(row.category))

    # -- counters ----------------------------------------------------------------

    def increment(self, name: str, by: int = 1) -> int:
        """Add ``by`` to the counter (created at 0); returns the new value."""
        _check_name(name, "counter name")
        if not isinstance(by, int) or isinstance(by, bool):
            raise ValueError(f"by must be an integer, got {by!r}")
        statement = sqlite_insert(counters).values(name=name, value=by)
        statement = statement.on_conflict_do_update(
            index_elements=[counters.c.name],
            set_={"value": counters.c.value + by},
        ).returning(counters.c.value)
        with self._write(f"counting {name!r}") as conn:
            return int(conn.execute(statement).scalar_one())

    def counters(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(counters.c.name, counters.c.value).order_by(counters.c.name))
            return {name: int(value) for name, value in rows}

    # -- transactions --------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Reading the kiosk database {self.path} failed: {migrate.plain_reason(exc)}."
            ) from exc

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """One BEGIN IMMEDIATE transaction, committed on leaving, rolled back on error."""
        with self._lock:
            self._check_open()
            try:
                with self._writer.begin() as conn:
                    yield conn
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"Writing to the kiosk database {self.path} failed while {what}: "
                    f"{migrate.plain_reason(exc)}. The change was not saved."
                ) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"The kiosk store {self.path} is closed.")

    @staticmethod
    def _unfinished_row(conn: Connection, cid: str, verb: str) -> Row[Any]:
        row = conn.execute(select(outbox).where(outbox.c.client_id == cid)).first()
        if row is None:
            raise StoreError(f"There is no outbox action with client id {cid}.")
        if row.state not in UNFINISHED_STATES:
            raise StoreError(f"Outbox action {cid} is already {row.state}; it is not {verb}.")
        return row


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        seq=row.seq,
        client_id=row.client_id,
        kind=row.kind,
        payload=load_json(row.payload),
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        result=load_json(row.result),
        error=row.error,
    )


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or len(name) > MAX_KEY_LENGTH:
        raise ValueError(f"{what} must be a non-empty string of at most {MAX_KEY_LENGTH}")
