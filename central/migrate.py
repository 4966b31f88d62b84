"""Bringing the server's database up to the schema this code knows, safely.

The same rules as the kiosk's store: a database stamped with a revision this
code does not know (left by a newer server) is refused untouched; a database
that has tables but is not ours is refused untouched; all pending revisions
run in one transaction, so a failed migration leaves the database as it was.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from central.database import describe, reading, set_wal, writing

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


class MigrationError(RuntimeError):
    """The database cannot be used or brought up to date; the message says why."""


def alembic_config() -> Config:
    """Alembic configuration built in code; no alembic.ini is read at run time."""
    from alembic.config import Config

    cfg = Config()
    # Config values go through ConfigParser interpolation, where "%" is special.
    cfg.set_main_option("script_location", os.fspath(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ", ".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(conn: Connection) -> tuple[str, ...]:
    if not inspect(conn).has_table(VERSION_TABLE):
        return ()
    return tuple(
        sorted(r[0] for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    )


def prepare(engine: Engine) -> None:
    """Migrate the database to head; raises MigrationError in plain words."""
    from alembic import command
    from alembic.script import ScriptDirectory

    where = describe(engine.url)
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    heads = set(script.get_heads())
    known = {s.revision for s in script.walk_revisions()}
    try:
        with reading(engine) as conn:
            current = current_revisions(conn)
            unknown = [rev for rev in current if rev not in known]
            if unknown:
                raise MigrationError(
                    f"The database {where} is at schema revision {', '.join(unknown)}, which "
                    f"this server does not know (it knows up to {', '.join(sorted(heads))}). "
                    "It was probably written by a newer version. It was not changed."
                )
            if not current:
                others = sorted(set(inspect(conn).get_table_names()) - {VERSION_TABLE})
                if others:
                    raise MigrationError(
                        f"The database {where} has tables ({', '.join(others[:5])}) but no "
                        "central schema revision: it is not a central server database. It was "
                        "not changed."
                    )
        set_wal(engine)
        if set(current) == heads:
            return
        with writing(engine) as conn:
            # Again under the write lock: another server may have got here first.
            if set(current_revisions(conn)) == heads:
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except MigrationError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise MigrationError(
            f"The database {where} could not be opened or brought up to date: "
            f"{plain_reason(exc)}. Nothing was changed."
        ) from exc
    log.info("database %s migrated to %s", where, ", ".join(sorted(heads)))


def plain_reason(exc: BaseException) -> str:
    """The useful part of an error, without SQLAlchemy's SQL echo and links."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return (str(exc.orig) or type(exc.orig).__name__).strip().splitlines()[0]
    return str(exc) or type(exc).__name__
