"""The demo's embedded central API: real sample events on loopback, seeded once, tokens
kept, and a kiosk configured to use it (no window needed)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import requests

from kiosk.central_client import open_central_client
from kiosk.store import Store
from screens.central_embed import demo_central, start_embedded_central
from tests.helpers import demo_config_in


def coming_events(url: str, token: str) -> list[dict]:
    answer = requests.get(f"{url}/events", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def test_seeded_once_with_the_same_device_and_token(tmp_path: Path) -> None:
    first = start_embedded_central(tmp_path)
    try:
        events = coming_events(first.url, first.token)
        assert len(events) >= 10 and all(e["location"]["name"]["sl"] for e in events)
        assert first.device_id == "demo-kiosk" and len(first.card_key) >= 16
    finally:
        first.stop()
    again = start_embedded_central(tmp_path)
    try:
        assert (again.device_id, again.token) == (first.device_id, first.token)
        assert len(coming_events(again.url, again.token)) == len(events)  # not seeded twice
    finally:
        again.stop()


def test_weeks_later_the_samples_are_seeded_afresh(tmp_path: Path) -> None:
    start_embedded_central(tmp_path).stop()
    con = sqlite3.connect(tmp_path / "central.sqlite")
    with con:
        con.execute(
            "UPDATE events SET starts_at = '2020-01-01 10:00:00', ends_at = '2020-01-01 11:00:00'"
        )
    con.close()
    central = start_embedded_central(tmp_path)
    try:
        events = coming_events(central.url, central.token)
        now = dt.datetime.now(dt.UTC)
        assert events and all(dt.datetime.fromisoformat(e["ends_at"]) > now for e in events)
    finally:
        central.stop()


def test_the_demo_configuration_is_pointed_at_it(tmp_path: Path) -> None:
    config = demo_config_in(tmp_path / "data")
    assert config.central.url == ""
    with demo_central(config) as used:
        assert used.central.url.endswith("/api/v1") and used.central.device_id == "demo-kiosk"
        assert used.data_path() == config.data_path()
        with Store.open(used.store_path()) as store:
            client = open_central_client(used, store)
            assert client is not None
            with client:
                report = client.sync()
                assert report.events_changed >= 10 and report.pictures_fetched >= 5
                assert any(e.picture_path for e in client.events())
