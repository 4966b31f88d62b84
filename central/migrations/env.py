"""Alembic environment for the central server's database.

At run time ``central.migrate`` passes an open connection that is already
inside a transaction (``config.attributes["connection"]``); all revisions run in
that one transaction and the caller commits or rolls back (SQLite and
PostgreSQL both have transactional DDL).

For developers, ``alembic -c central/alembic.ini ...`` works too: without a
connection one is made from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from central.tables import metadata

config = context.config


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transactional_ddl=True,
        transaction_per_migration=False,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    from central.database import make_engine, writing

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "dev-central.sqlite3")
    try:
        with writing(engine) as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


_run()
