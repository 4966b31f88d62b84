"""Bringing the database file up to the schema this code knows, safely.

Order of work in :func:`prepare`, each step leaving the file as it was if it fails:
1. read-only checks: the file is a readable, undamaged SQLite database, it is
   a kiosk store (or empty), and its revision is one this code knows (a newer
   database, left by a newer app before a rollback, is refused untouched);
2. switch to WAL (a persistent setting of the file);
3. run all pending revisions over one connection in one transaction; any
   failure rolls everything back, schema and data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from kiosk.store.engine import set_wal, writer
from kiosk.store.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

# The newest revision in migrations/versions. A database already there opens
# without loading Alembic at all (faster start, less memory); a test keeps this
# equal to Alembic's own head, so a new migration cannot forget it.
SCHEMA_HEAD = "0003"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
KEEP_IT_HINT = "Do not delete the file: it may hold actions not yet sent to the library system."


def alembic_config(extra_version_locations: Sequence[Path | str] = ()) -> Config:
    """Alembic configuration built in code; no alembic.ini is read at run time."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _ini_escape(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if extra_version_locations:
        locations = [MIGRATIONS_DIR / "versions", *map(Path, extra_version_locations)]
        cfg.set_main_option("version_locations", _ini_escape(*(p.resolve() for p in locations)))
    return cfg


def _ini_escape(*paths: Path) -> str:
    # Config values go through ConfigParser interpolation, where "%" is special.
    return os.pathsep.join(str(p) for p in paths).replace("%", "%%")


def head_revision(extra_version_locations: Sequence[Path | str] = ()) -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(extra_version_locations))
    heads = script.get_heads()
    return ", ".join(sorted(heads))


def current_heads(conn: Connection) -> tuple[str, ...]:
    """The revision(s) stamped in the database; empty for a new file. Reads only."""
    has_table = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": VERSION_TABLE},
    ).first()
    if has_table is None:
        return ()
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return tuple(sorted(r[0] for r in rows))


def prepare(engine: Engine, path: Path, extra_version_locations: Sequence[Path | str] = ()) -> None:
    """Check the file and migrate it to head; raises StoreError in plain words."""
    if not extra_version_locations and _already_at_head(engine, path):
        return
    from alembic.script import ScriptDirectory

    cfg = alembic_config(extra_version_locations)
    script = ScriptDirectory.from_config(cfg)
    heads = set(script.get_heads())

    with _unreadable_as_store_error(path), engine.connect() as conn, conn.begin():
        _check_intact(conn, path)
        current = current_heads(conn)
        _check_is_kiosk_store(conn, current, path)
    _refuse_unknown(current, script, path)

    with _unreadable_as_store_error(path):
        mode = set_wal(engine)
    if mode != "wal":
        raise StoreError(
            f"The kiosk database {path} could not be switched to WAL journal mode "
            f"(it stays in {mode or 'an unknown'} mode). The folder may be on a file system "
            "that does not support it (network share?). Put the database on local storage."
        )

    if set(current) == heads:
        return
    _upgrade(engine, path, cfg, script, current)


def _already_at_head(engine: Engine, path: Path) -> bool:
    """The usual start: the file is intact, at SCHEMA_HEAD and in WAL mode."""
    with _unreadable_as_store_error(path), engine.connect() as conn, conn.begin():
        _check_intact(conn, path)
        if current_heads(conn) != (SCHEMA_HEAD,):
            return False
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    return str(mode).lower() == "wal"


def _upgrade(
    engine: Engine,
    path: Path,
    cfg: Config,
    script: ScriptDirectory,
    current: tuple[str, ...],
) -> None:
    from alembic import command

    applied: list[str] = []

    def on_version_apply(*, step: Any, **_kw: Any) -> None:
        applied.append(step.up_revision_id)

    cfg.attributes["on_version_apply"] = [on_version_apply]
    pending = _pending_revisions(script, current)
    try:
        with writer(engine).connect() as conn, conn.begin():
            # Again under the write lock: another process may have got here first.
            current = current_heads(conn)
            _refuse_unknown(current, script, path)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
            # Leaving the block without an error commits all revisions at once.
    except StoreError:
        raise
    except Exception as exc:
        failed = next((rev for rev in pending if rev not in applied), "?")
        was = ", ".join(current) if current else "empty, no tables yet"
        raise StoreError(
            f"The kiosk database {path} could not be updated: migration to revision "
            f"{failed} failed ({plain_reason(exc)}). Nothing was changed: the database was "
            f"left as it was (revision {was}). The kiosk cannot start until the software "
            f"is fixed or rolled back. {KEEP_IT_HINT}"
        ) from exc
    log.info(
        "store %s migrated from %s to %s",
        path,
        ", ".join(current) or "empty",
        ", ".join(sorted(script.get_heads())),
    )


def _pending_revisions(script: ScriptDirectory, current: tuple[str, ...]) -> list[str]:
    """Revisions an upgrade will run, oldest first (to name the one that fails)."""
    try:
        lower = current[0] if len(current) == 1 else "base"
        return [s.revision for s in reversed(list(script.iterate_revisions("heads", lower)))]
    except Exception:  # only used for the message; the upgrade itself will report
        return []


def _check_intact(conn: Connection, path: Path) -> None:
    # quick_check reads every page: cheap for a kiosk-sized file, and a damaged
    # database is found at start rather than in the middle of a checkout.
    rows = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check").fetchall()]
    if rows != ["ok"]:
        raise StoreError(
            f"The kiosk database {path} is damaged (integrity check: {'; '.join(rows[:3])}). "
            f"It was not changed. Restore a backup or ask support. {KEEP_IT_HINT}"
        )


def _check_is_kiosk_store(conn: Connection, current: tuple[str, ...], path: Path) -> None:
    if current:
        return
    tables = [
        r[0]
        for r in conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        )
    ]
    others = [t for t in tables if t != VERSION_TABLE]
    if others:
        raise StoreError(
            f"The file {path} is a SQLite database but not a kiosk store (it has the tables "
            f"{', '.join(sorted(others)[:5])} and no schema revision). It was not changed. "
            "Check the store path in the configuration."
        )


def _refuse_unknown(current: tuple[str, ...], script: ScriptDirectory, path: Path) -> None:
    known = {s.revision for s in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StoreError(
            f"The kiosk database {path} is at schema revision {', '.join(unknown)}, which this "
            f"version of the kiosk software does not know (it knows up to "
            f"{', '.join(sorted(script.get_heads()))}). It was probably written by a newer "
            "version that has since been rolled back. The database was not changed. "
            f"Install the newer version again. {KEEP_IT_HINT}"
        )


@contextmanager
def _unreadable_as_store_error(path: Path) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(
            f"The kiosk database {path} cannot be read: {plain_reason(exc)}. It may be damaged "
            "or not a database at all. It was not changed. Restore a backup or ask support. "
            f"{KEEP_IT_HINT}"
        ) from exc


def plain_reason(exc: BaseException) -> str:
    """The useful part of an error, without SQLAlchemy's SQL echo and links."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig) or type(exc.orig).__name__
    return str(exc) or type(exc).__name__
