"""Heartbeat, daily statistics, remote configuration and e-mail receipts against the
real reference server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kiosk.central_client import CentralClient, RemoteConfigApplier, counter_name, mapped_counters
from kiosk.config import (
    REMOTE_CONFIG_PREVIOUS,
    REMOTE_CONFIG_ROLLED_BACK,
    ConfigError,
    load_config,
    remote_config_path,
    rollback_remote_config,
)
from kiosk.store import Store
from tests.central.support import Api
from tests.kiosk.central_client.conftest import make_client
from tests.kiosk.central_client.support import FakeClock, FaultyProxy


def device(api: Api) -> dict:
    answer = api.as_admin("GET", f"/devices/{api.device_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_heartbeat_carries_outbox_depth_and_mapped_counters(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    store.increment("checkouts", 41)
    store.increment("refused:checkout:loan_limit", 2)
    store.add_action("checkout", {"item": "3020001"})  # one unfinished action
    peripherals = [("rfid", "ok", "feig:/dev/ttyUSB0"), ("printer", "paper_low?", "odd state")]
    with make_client(
        f"{api.url}/api/v1",
        api,
        store,
        clock,
        tmp_path,
        ils_online=lambda: False,
        peripherals=lambda: peripherals,
    ) as client:
        report = client.sync()
    assert report.heartbeat and not report.errors
    beat = device(api)["last_heartbeat"]
    assert beat["outbox"]["depth"] == 1 and beat["outbox"]["oldest_age_s"] >= 0
    assert beat["counters"]["checkouts"] == 41
    assert beat["counters"]["refused.checkout.loan_limit"] == 2
    assert beat["connectivity"]["ils"] == "offline"
    assert beat["connectivity"]["central"] == "online"
    assert [(p["name"], p["state"]) for p in beat["peripherals"]] == [
        ("rfid", "ok"),
        ("printer", "error"),  # a state the contract does not know
    ]
    assert beat["software_version"] and beat["versions"]["store_schema"] == "0003"
    # The server's clock in the reply: how far off this kiosk is, for `kiosk doctor`.
    assert abs(store.get_setting("central_clock_skew_s")) < 30


def test_heartbeat_every_interval_the_server_asks(
    api: Api, proxy: FaultyProxy, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    with make_client(f"{proxy.url}/api/v1", api, store, clock, tmp_path) as client:
        client.sync()
        clock.advance(29)
        client.sync()
        beats = f"/api/v1/devices/{api.device_id}/heartbeat"
        assert proxy.requests_to("POST", beats) == [200]
        clock.advance(1)  # the reference server asks for every 30 s
        client.sync()
        assert proxy.requests_to("POST", beats) == [200, 200]


def test_commands_are_carried_out_and_acknowledged(
    api: Api, client: CentralClient, clock: FakeClock
) -> None:
    import uuid

    answer = api.as_admin(
        "POST",
        f"/devices/{api.device_id}/commands",
        json={"kind": "sync_now"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert answer.status_code == 201, answer.text
    client.sync()
    api.new_event()
    clock.advance(30)
    report = client.sync()  # sync_now: the events are looked at now, not in 60 s
    assert report.events_changed == 1
    assert device(api)["last_heartbeat"]["acked_commands"] == [answer.json()["id"]]


def test_daily_statistics_are_the_days_totals(
    api: Api, client: CentralClient, store: Store, clock: FakeClock
) -> None:
    from zoneinfo import ZoneInfo

    today = dt.datetime.now(ZoneInfo("Europe/Ljubljana")).date()
    yesterday = today - dt.timedelta(days=1)
    store.increment("checkouts", 5)
    client.sync()  # counting starts here: today so far is nothing
    # As if the kiosk had counted 2 checkouts when yesterday began.
    store.set_setting(
        "central.statistics_base", {"day": yesterday.isoformat(), "counters": {"checkouts": 2}}
    )
    store.increment("checkouts", 3)
    store.increment("refused:checkout:blocked")
    clock.advance(3600)  # statistics go hourly
    client.sync()
    store.increment("checkouts")
    clock.advance(3600)
    client.sync()
    answer = api.as_admin(
        "GET", "/statistics", params={"start": yesterday.isoformat(), "end": today.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    days = {d["day"]: d["counters"] for d in answer.json()["days"]}
    # Yesterday closed with everything since its start; today has what came after.
    assert days[yesterday.isoformat()] == {"checkouts": 6, "refused.checkout.blocked": 1}
    assert days[today.isoformat()] == {"checkouts": 1}


def test_counter_names_fit_the_contract() -> None:
    assert counter_name("refused:checkout:loan_limit") == "refused.checkout.loan_limit"
    assert counter_name("Went Offline") == "went_offline"
    assert counter_name("x" * 80) == "x" * 64
    assert counter_name("čćž") == "___"
    assert mapped_counters({"a:b": 1, "a.b": 2, "neg": -3}) == {"a.b": 3, "neg": 0}


def test_receipt_email_entries_are_sent_and_confirmed(
    api: Api, client: CentralClient, store: Store
) -> None:
    entry = store.add_action(
        "receipt_email",
        {
            "patron_id": "MB0012345",
            "language": "en",
            "when": dt.datetime.now(dt.UTC).isoformat(),
            "items": [{"title": "Kekec", "due": "2026-12-24"}, {"title": "Pedenjped", "due": ""}],
        },
    )
    broken = store.add_action("receipt_email", {"patron_id": "", "items": []})
    report = client.sync()
    assert report.sent == 2  # both settled: one sent, one set aside
    assert store.get(entry.client_id).state == "confirmed"
    assert store.get(broken.client_id).state == "failed"  # never sendable: for staff
    [record] = api.as_admin("GET", "/receipts").json()["receipts"]
    assert record["client_id"] == entry.client_id
    assert (record["kind"], record["item_count"], record["language"]) == ("checkout", 2, "en")


# --- remote configuration ----------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text('[kiosk]\ndata_dir = "data"\n[session]\ntimeout_s = 90\n', encoding="utf-8")
    return path


def put_config(api: Api, settings: dict) -> int:
    answer = api.as_admin("PUT", f"/devices/{api.device_id}/config", json={"settings": settings})
    assert answer.status_code == 200, answer.text
    return answer.json()["version"]


def test_remote_configuration_applied_refused_and_rolled_back(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, config_file: Path
) -> None:
    config = load_config(config_file, environ={})
    data_dir = tmp_path / "data"
    applier = RemoteConfigApplier(config, environ={})
    calls: list[int] = []

    def apply(settings: dict, version: int) -> bool:
        calls.append(version)
        return applier(settings, version)

    with make_client(f"{api.url}/api/v1", api, store, clock, tmp_path, apply_config=apply) as c:
        first = put_config(api, {"session": {"timeout_s": 120}})
        assert c.sync().config_applied == first
        assert load_config(config_file, environ={}).session.timeout_s == 120
        assert load_config(config_file, environ={}).remote_version == first

        second = put_config(api, {"session": {"timeout_s": 150}, "receipt": {"default": "none"}})
        clock.advance(30)
        assert c.sync().config_applied == second
        layered = load_config(config_file, environ={})
        assert (layered.session.timeout_s, layered.receipt.default) == (150, "none")
        assert (data_dir / REMOTE_CONFIG_PREVIOUS).is_file()  # the one before, for rollback

        # Invalid: refused with the configuration's own message; nothing changes.
        kept = remote_config_path(data_dir).read_bytes()
        bad = put_config(api, {"session": {"timeout_s": 5}})
        clock.advance(30)
        assert c.sync().config_applied is None
        assert applier.last_problem.startswith(f"remote configuration version {bad}: ")
        file_message = _file_error(tmp_path, "[session]\ntimeout_s = 5\n")
        assert applier.last_problem.split(": ", 1)[1] == file_message.split(": ", 1)[1]
        assert remote_config_path(data_dir).read_bytes() == kept
        assert device(api)["last_heartbeat"]["config_version"] == second
        clock.advance(30)
        c.sync()
        assert calls == [first, second, bad]  # a refused version is not tried again

        forbidden = put_config(api, {"devices": {"rfid": "none"}, "kiosk": {"data_dir": "/"}})
        clock.advance(30)
        c.sync()
        assert "[devices] may not be set remotely" in applier.last_problem
        assert "kiosk.data_dir may not be set remotely" in applier.last_problem
        assert store.get_setting("central.config_refused") == forbidden

        unknown = put_config(api, {"session": {"timeout": 100}})
        clock.advance(30)
        c.sync()
        assert f"version {unknown}: session.timeout: unknown key" in applier.last_problem
        assert 'did you mean "timeout_s"' in applier.last_problem
        assert load_config(config_file, environ={}).remote_version == second

    message = rollback_remote_config(data_dir)
    assert f"version {second} taken off" in message and f"version {first} applies" in message
    assert load_config(config_file, environ={}).session.timeout_s == 120
    assert (data_dir / REMOTE_CONFIG_ROLLED_BACK).is_file()
    rollback_remote_config(data_dir)
    assert load_config(config_file, environ={}).session.timeout_s == 90  # the file alone
    with pytest.raises(ConfigError, match="no remote configuration"):
        rollback_remote_config(data_dir)


def test_an_overlay_that_no_longer_fits_is_skipped_at_start(
    tmp_path: Path, config_file: Path
) -> None:
    path = remote_config_path(tmp_path / "data")
    path.parent.mkdir(parents=True)
    path.write_text('[remote]\nversion = 7\n[session]\ntimeout_s = "long"\n', encoding="utf-8")
    config = load_config(config_file, environ={})
    assert config.session.timeout_s == 90  # the file alone: the kiosk still starts
    assert "timeout_s" in config.remote_problem and config.remote_version is None
    assert load_config(config_file, environ={}, remote=False).remote_problem == ""


def _file_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plain.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, remote=False)
    return str(caught.value)
