"""Fixtures: the real central reference server on loopback (SQLite), a real kiosk store,
and the kiosk's central client between them, on a clock the tests move."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from central.server import ServerThread, open_database
from kiosk.central_client import CentralClient, CentralClientSettings
from kiosk.store import Store
from tests.central.support import Api, start_api
from tests.kiosk.central_client.support import CARD_KEY, FakeClock, FaultyProxy


@pytest.fixture(scope="session")
def migrated_central(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("central-template") / "central.sqlite"
    open_database(path).dispose()
    return path


@pytest.fixture
def central_engine(tmp_path: Path, migrated_central: Path) -> Iterator[Engine]:
    path = tmp_path / "central.sqlite"
    shutil.copyfile(migrated_central, path)
    engine = open_database(path)
    yield engine
    engine.dispose()


@dataclass
class Served:
    api: Api
    server: ServerThread
    port: int

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        """The same server (same database and port) back again."""
        self.server = ServerThread(self.api.engine, port=self.port).start()


@pytest.fixture
def served(central_engine: Engine) -> Iterator[Served]:
    server, api = start_api(central_engine)
    port = int(server.url.rsplit(":", 1)[1])
    holder = Served(api, server, port)
    try:
        yield holder
    finally:
        api.http.close()
        holder.server.stop()


@pytest.fixture
def api(served: Served) -> Api:
    return served.api


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "kiosk" / "kiosk.sqlite") as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(
    base_url: str, api: Api, store: Store, clock: FakeClock, tmp_path: Path, **kw
) -> CentralClient:
    settings = CentralClientSettings(
        base_url=base_url,
        device_id=api.device_id,
        token=api.device_token,
        card_key=CARD_KEY,
        cache_dir=tmp_path / "kiosk" / "pictures",
        timeout_s=kw.pop("timeout_s", 3.0),
        interactive_timeout_s=kw.pop("interactive_timeout_s", 3.0),
        event_sync_interval_s=60,
    )
    return CentralClient(settings, store, clock=clock, rng=kw.pop("rng", lambda: 0.0), **kw)


@pytest.fixture
def client(api: Api, store: Store, clock: FakeClock, tmp_path: Path) -> Iterator[CentralClient]:
    with make_client(f"{api.url}/api/v1", api, store, clock, tmp_path) as made:
        yield made


@pytest.fixture
def proxy(api: Api) -> Iterator[FaultyProxy]:
    with FaultyProxy(api.url) as running:
        yield running


@pytest.fixture
def proxied(
    proxy: FaultyProxy, api: Api, store: Store, clock: FakeClock, tmp_path: Path
) -> Iterator[CentralClient]:
    """A client that reaches the server through the fault-injecting proxy."""
    with make_client(
        f"{proxy.url}/api/v1",
        api,
        store,
        clock,
        tmp_path,
        timeout_s=1.0,
        interactive_timeout_s=1.0,
    ) as made:
        yield made
