"""Migrations build exactly the schema the code uses, on SQLite and PostgreSQL, and refuse
databases that are not theirs or are newer, leaving them untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from central.database import DatabaseUrlError, database_url, describe
from central.migrate import MigrationError, head_revision
from central.server import open_database
from central.tables import metadata


def _differences(engine: Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_sqlite_schema_matches_the_tables(sqlite_engine: Engine) -> None:
    assert _differences(sqlite_engine) == []


def test_postgresql_schema_matches_the_tables(pg_engine: Engine) -> None:
    assert _differences(pg_engine) == []


def test_opening_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "central.sqlite"
    open_database(path).dispose()
    engine = open_database(path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
    engine.dispose()


def test_a_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "central.sqlite"
    open_database(path).dispose()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
        db.execute("PRAGMA journal_mode=DELETE")
    before = path.read_bytes()
    with pytest.raises(MigrationError, match=r"9999.*does not know"):
        open_database(path)
    assert path.read_bytes() == before


def test_a_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE loans (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(MigrationError, match="not a central server database"):
        open_database(path)
    assert path.read_bytes() == before


def test_garbage_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(MigrationError, match="could not be opened"):
        open_database(path)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/srv/central.sqlite", "sqlite:////srv/central.sqlite"),
        ("sqlite:////srv/c.db", "sqlite:////srv/c.db"),
        ("postgresql://kiosk@db/central", "postgresql+psycopg://kiosk@db/central"),
        ("postgresql+psycopg://kiosk:pw@db:5433/c", "postgresql+psycopg://kiosk:***@db:5433/c"),
    ],
)
def test_database_urls(given: str, expected: str) -> None:
    assert describe(database_url(given)) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mysql://u:secret@h/db", "only SQLite"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql+asyncpg://u:secret@h/db", "psycopg"),
        ("", "empty"),
        ("://nothing", "not a database URL"),
    ],
)
def test_unusable_database_urls_are_refused_plainly(given: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError, match=says) as refused:
        database_url(given)
    assert "secret" not in str(refused.value)
