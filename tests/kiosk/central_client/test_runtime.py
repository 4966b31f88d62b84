"""The client wired into the kiosk: Runtime builds it from the configuration and hands it
to the core; `kiosk doctor` checks the central API."""

from __future__ import annotations

from pathlib import Path

from kiosk.config import load_config
from kiosk.doctor import diagnose
from kiosk.runtime import Runtime
from tests.central.support import Api
from tests.kiosk.central_client.conftest import Served

REPO = Path(__file__).resolve().parents[3]


def central_config(tmp_path: Path, api: Api) -> Path:
    text = (REPO / "config" / "kiosk.toml").read_text(encoding="utf-8")
    text = text.replace('data_dir = ""', f'data_dir = "{tmp_path / "data"}"')
    text = text.replace("over_sip2 = true", "over_sip2 = false")
    text = text.replace(
        'url = ""',
        f'url = "{api.url}/api/v1"\ndevice_id = "{api.device_id}"\n'
        f'token = "{api.device_token}"\ncard_key = "demo-card-key-0123456789"',
    )
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_runtime_builds_the_client_and_hands_it_to_the_core(tmp_path: Path, api: Api) -> None:
    event = api.new_event()
    config = load_config(central_config(tmp_path, api), environ={})
    runtime = Runtime.open(config)
    try:
        assert runtime.central is not None
        assert runtime.core.events_service is runtime.central
        report = runtime.central.sync()
        assert report.events_changed == 1 and report.heartbeat, report.errors
        assert [e.id for e in runtime.central.events()] == [event["id"]]
        beat = runtime.central.last_heartbeat()
        assert beat["connectivity"]["ils"] == "online"
        assert {p["name"]: p["state"] for p in beat["peripherals"]} == {
            "rfid": "ok",
            "card_reader": "ok",
            "printer": "ok",
        }
    finally:
        runtime.close()
    assert (tmp_path / "data" / "central-pictures").is_dir()


def test_runtime_without_a_central_api_has_no_client(demo_config) -> None:
    runtime = Runtime.open(demo_config)
    try:
        assert runtime.central is None and runtime.core.events_service is None
    finally:
        runtime.close()


def test_doctor_checks_the_central_api(tmp_path: Path, served: Served) -> None:
    path = central_config(tmp_path, served.api)
    _code, checks = diagnose(path)
    central = next(c for c in checks if c.name == "central API")
    assert central.status == "ok", central.detail
    assert "online" in central.detail and "ms" in central.detail
    assert "outbox 0 to send" in central.detail

    served.stop()
    code, checks = diagnose(path)
    central = next(c for c in checks if c.name == "central API")
    assert code == 1 and central.status == "degraded"
    assert "offline" in central.detail and "no connection" in central.detail
