"""Engines for SQLite (the default) and PostgreSQL, set up for safe concurrent writes.

Every write transaction goes through :func:`writing`:
- on PostgreSQL it is an ordinary READ COMMITTED transaction; the code takes row
  locks where it must (``SELECT … FOR UPDATE`` on the event row);
- on SQLite, whose locks are per file, it starts with ``BEGIN IMMEDIATE`` so
  writers queue up front on the busy timeout instead of failing half way
  through a read-then-write. pysqlite's own transaction handling is switched
  off so SQLAlchemy's BEGIN really opens the transaction (and DDL in
  migrations can be rolled back).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

BUSY_TIMEOUT_S = 30.0
_BEGIN_OPTION = "central_begin"


class DatabaseUrlError(ValueError):
    """A database URL that cannot be used; the message says why in plain words."""


def database_url(value: str | Path) -> URL:
    """A SQLAlchemy URL from a URL or a plain file path (taken as SQLite)."""
    text = str(value).strip()
    if "://" not in text:
        if not text:
            raise DatabaseUrlError("the database is empty: give a file path or a URL")
        return make_url(f"sqlite:///{Path(text).expanduser().resolve()}")
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"{describe(text)} is not a database URL") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        # The psycopg 3 driver is the one installed; plain postgresql:// would want psycopg2.
        if url.drivername in ("postgresql", "postgresql+psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
        if url.drivername != "postgresql+psycopg":
            raise DatabaseUrlError(
                f"{describe(text)}: PostgreSQL is reached through psycopg "
                "(postgresql+psycopg://USER@HOST/DB)"
            )
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise DatabaseUrlError(
                f"{describe(text)}: an in-memory database would lose everything; give a file "
                "(sqlite:///PATH)"
            )
    else:
        raise DatabaseUrlError(
            f"{describe(text)}: only SQLite (a file path or sqlite:///PATH) and PostgreSQL "
            "(postgresql+psycopg://USER@HOST/DB) are supported"
        )
    return url


def describe(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "the database URL"
    return url.render_as_string(hide_password=True)


def make_engine(url: str | Path | URL) -> Engine:
    url = url if isinstance(url, URL) else database_url(url)
    if url.get_backend_name() == "sqlite":
        Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            pool_size=10,
            max_overflow=40,
            pool_timeout=BUSY_TIMEOUT_S,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        url,
        pool_size=20,
        max_overflow=40,
        pool_timeout=BUSY_TIMEOUT_S,
        pool_pre_ping=True,
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction; commits when the block ends without an error."""
    target = (
        engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) if is_sqlite(engine) else engine
    )
    with target.begin() as conn:
        yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read transaction (one consistent snapshot on both databases)."""
    with engine.begin() as conn:
        if not is_sqlite(engine):
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield conn


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see _sqlite_on_begin
    # Per-connection settings only: nothing here writes to the file, so a database that
    # is refused (too new, not ours) stays byte for byte as it was. WAL, a setting of the
    # file, is switched on by set_wal once the database is known to be ours.
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
    # NORMAL in WAL mode survives a crash of the server process, which is what matters here.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def set_wal(engine: Engine) -> None:
    """SQLite only: WAL lets readers go on while one writer works. Runs outside a
    transaction (the mode cannot change inside one)."""
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA journal_mode=WAL")
    finally:
        raw.close()
