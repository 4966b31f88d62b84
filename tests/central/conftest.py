"""Fixtures: the central server on a real SQLite file or a real PostgreSQL, served by
uvicorn on loopback."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from central.server import open_database
from tests.central.pg import PostgresCluster, PostgresUnavailable
from tests.central.support import Api, served

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly migrated database file, copied for each test (migrating takes longer)."""
    path = tmp_path_factory.mktemp("template") / "central.sqlite"
    open_database(path).dispose()  # closing the last connection folds the WAL into the file
    return path


@pytest.fixture
def sqlite_engine(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Engine]:
    path = tmp_path / "central.sqlite"
    shutil.copyfile(migrated_sqlite, path)
    engine = open_database(path)
    yield engine
    engine.dispose()


@pytest.fixture
def api(sqlite_engine: Engine) -> Iterator[Api]:
    """A fresh server (its own SQLite file) with an admin token and a device at rotovz."""
    yield from served(sqlite_engine)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_engine(postgres: PostgresCluster) -> Iterator[Engine]:
    """A new, migrated database in the session's PostgreSQL cluster."""
    engine = open_database(postgres.create_database(f"central_{next(_databases)}"))
    yield engine
    engine.dispose()
