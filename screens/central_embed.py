"""The central API's reference server inside the demo (and the tour): real events from
the Slovenian sample data, on loopback, with a SQLite database in the data folder.

`kiosk demo` and `kiosk tour` use it when the configuration names no central API
(`central.url = ""`): the kiosk then talks HTTP to this server exactly as it would to
the library's. The server is another service; only the demo launchers (here, in
screens/) import it, never kiosk/.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from pydantic import SecretStr

from kiosk.config import KioskConfig

log = logging.getLogger(__name__)

# The demo's card key: every demo kiosk makes the same card tokens. Not a secret.
DEMO_CARD_KEY = "demo-card-key-not-secret-2026"
# A steady port keeps the cached pictures' addresses from run to run; any free one else.
DEMO_PORT = 8766
DATABASE_FILE = "central.sqlite"
TOKENS_FILE = "central-tokens.json"


class EmbeddedCentral(NamedTuple):
    url: str  # the API base, …/api/v1
    device_id: str
    token: str
    card_key: str
    stop: Callable[[], None]


def start_embedded_central(data_dir: Path) -> EmbeddedCentral:
    """Start the reference server on loopback over `<data_dir>/central.sqlite`, seeded with
    the sample events the first time (again when all of them have ended), with the demo
    device and its token. Call `stop()` when done. Raises RuntimeError in plain words."""
    from central.sample_data import seed_sample_data
    from central.server import ServerThread, demo_credentials, open_database

    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / DATABASE_FILE
    try:
        engine = open_database(database)
        if _all_ended(engine):
            # Sample dates are relative to the day of seeding: weeks later, start afresh.
            engine.dispose()
            for path in (database, *database.parent.glob(f"{DATABASE_FILE}-*")):
                path.unlink(missing_ok=True)
            (data_dir / TOKENS_FILE).unlink(missing_ok=True)
            engine = open_database(database)
        added = seed_sample_data(engine)
        if added:
            log.info("embedded central API: %d sample events added", added)
        credentials = demo_credentials(engine, data_dir / TOKENS_FILE)
    except Exception as exc:
        raise RuntimeError(f"the demo's central API cannot start: {exc}") from exc
    server = None
    for port in (DEMO_PORT, 0):
        with contextlib.suppress(OSError):
            server = ServerThread(engine, port=port)
            break
    if server is None:
        engine.dispose()
        raise RuntimeError("the demo's central API found no free port on loopback")
    server.start()
    log.info("embedded central API on %s/api/v1 (database %s)", server.url, database)

    def stop() -> None:
        server.stop()
        engine.dispose()

    return EmbeddedCentral(
        url=f"{server.url}/api/v1",
        device_id=credentials.device_id,
        token=credentials.device_token,
        card_key=DEMO_CARD_KEY,
        stop=stop,
    )


def _all_ended(engine) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from central.tables import events

    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(events)).scalar_one()
        coming = conn.execute(
            select(func.count()).select_from(events).where(events.c.ends_at >= datetime.now(UTC))
        ).scalar_one()
    return total > 0 and coming == 0


def with_central(config: KioskConfig, central: EmbeddedCentral) -> KioskConfig:
    """`config` pointed at `central`."""
    section = config.central.model_copy(
        update={
            "url": central.url,
            "device_id": central.device_id,
            "token": SecretStr(central.token),
            "card_key": SecretStr(central.card_key),
        }
    )
    return config.model_copy(update={"central": section})


@contextlib.contextmanager
def demo_central(config: KioskConfig) -> Iterator[KioskConfig]:
    """The configuration to run: as it is when it names a central API, else pointed at an
    embedded reference server for as long as the block runs."""
    if config.central.url:
        yield config
        return
    central = start_embedded_central(config.data_path())
    try:
        yield with_central(config, central)
    finally:
        central.stop()
