"""Alembic environment for the kiosk store.

At run time ``kiosk.store.migrate`` passes an open connection that is already
inside a transaction (``config.attributes["connection"]``); all revisions then
run in that one transaction, and the caller commits or rolls back.

For developers, ``alembic -c kiosk/store/alembic.ini ...`` works too: without
a connection one is made from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from kiosk.store.schema import metadata

config = context.config


def _configure_and_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite DDL is transactional once pysqlite's autocommit of DDL is off
        # (see kiosk.store.engine); say so, so Alembic never commits half way.
        transactional_ddl=True,
        transaction_per_migration=False,
        # ALTER TABLE on SQLite is limited; autogenerate writes batch operations.
        render_as_batch=True,
        on_version_apply=config.attributes.get("on_version_apply", ()),
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
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from kiosk.store.engine import make_engine, writer

    database = make_url(config.get_main_option("sqlalchemy.url") or "").database
    engine = make_engine(Path(database or "dev-store.sqlite3"))
    try:
        with writer(engine).connect() as conn, conn.begin():
            _configure_and_run(conn)
    finally:
        engine.dispose()


_run()
