"""The [central] configuration section and building the client from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.central_client import settings_from_config
from kiosk.config import ConfigError, load_config

CENTRAL = """
[kiosk]
data_dir = "data"
[central]
url = "https://central.example.org"
device_id = "mb-rotovz-1"
token = "device-token-1"
card_key = { env = "CARD_KEY" }
"""
ENV = {"CARD_KEY": "a-library-wide-card-key"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=ENV if environ is None else environ)
    message = str(caught.value)
    assert "Traceback" not in message and "pydantic" not in message
    return message


def test_a_complete_section_builds_the_clients_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CENTRAL), environ=ENV)
    settings = settings_from_config(config)
    assert settings is not None
    assert settings.base_url == "https://central.example.org"
    assert settings.device_id == "mb-rotovz-1" and settings.token == "device-token-1"
    assert settings.card_key == b"a-library-wide-card-key"
    assert settings.cache_dir == tmp_path / "data" / "central-pictures"
    assert settings.heartbeat_interval_s is None  # as the server asks
    for text in (repr(settings), repr(config), str(config.central)):
        assert "a-library-wide-card-key" not in text and "device-token-1" not in text


def test_no_url_means_no_client(tmp_path: Path) -> None:
    assert settings_from_config(load_config(write(tmp_path, ""), environ={})) is None


@pytest.mark.parametrize(
    ("remove", "expected"),
    [
        ('card_key = { env = "CARD_KEY" }\n', "central.card_key: is required when central.url"),
        ('token = "device-token-1"\n', "central.token: is required when central.url"),
        ('device_id = "mb-rotovz-1"\n', "central.device_id: is required when central.url"),
    ],
)
def test_what_a_configured_central_api_needs_is_named(
    tmp_path: Path, remove: str, expected: str
) -> None:
    assert expected in error(tmp_path, CENTRAL.replace(remove, ""))


def test_bad_values_are_explained(tmp_path: Path) -> None:
    assert "environment variable CARD_KEY is not set" in error(tmp_path, CENTRAL, {})
    message = error(tmp_path, CENTRAL.replace("mb-rotovz-1", "MB Rotovž"))
    assert "central.device_id" in message and "lowercase letters" in message
    message = error(tmp_path, CENTRAL + "heartbeat_interval_s = 2\n")
    assert "central.heartbeat_interval_s" in message and "at least 5" in message
