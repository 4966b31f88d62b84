"""The SQLAlchemy engine for the store's SQLite file, set up for durability.

- pysqlite's own transaction handling is switched off and SQLAlchemy emits
  BEGIN itself, so DDL (migrations) really runs inside a transaction and can
  be rolled back; pysqlite would otherwise commit before each CREATE/ALTER.
- Write transactions start with BEGIN IMMEDIATE: the write lock is taken up
  front, so waiting for another writer goes through the busy timeout instead
  of failing half way through a read-then-write.
- ``synchronous=FULL`` with WAL: a commit is on disk before it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

BUSY_TIMEOUT_S = 10.0
# Execution option naming the BEGIN variant for a connection's transactions.
BEGIN_OPTION = "kiosk_begin"


def make_engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        # QueuePool (the default for files) is fine; the store keeps
        # transactions short, so a few connections serve both threads.
        pool_size=3,
        max_overflow=2,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions begin IMMEDIATE."""
    return engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see _on_begin
    # Per-connection settings only: nothing here writes to the file, so a
    # database that is refused (too new, not ours) stays byte-for-byte as it was.
    dbapi_connection.execute("PRAGMA synchronous=FULL")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def set_wal(engine: Engine) -> str:
    """Switch the file to WAL (a persistent setting); returns the mode now in effect.

    Runs on the raw connection because the mode cannot change inside a transaction.
    """
    raw = engine.raw_connection()
    try:
        row = raw.driver_connection.execute("PRAGMA journal_mode=WAL").fetchone()
    finally:
        raw.close()
    return str(row[0]).lower() if row else ""
