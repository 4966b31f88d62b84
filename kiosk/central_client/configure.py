"""Building the central client from the kiosk's configuration."""

from __future__ import annotations

from pathlib import Path

from kiosk.central_client.client import CentralClient
from kiosk.central_client.context import CentralClientSettings
from kiosk.central_client.remote_config import RemoteConfigApplier
from kiosk.config import KioskConfig
from kiosk.store import Store


def settings_from_config(config: KioskConfig) -> CentralClientSettings | None:
    """None when no central API is configured (`central.url = ""`)."""
    central = config.central
    if not central.url:
        return None
    # The config's own rules make these present when url is set.
    assert central.token is not None and central.card_key is not None
    return CentralClientSettings(
        base_url=central.url,
        device_id=central.device_id,
        token=central.token.get_secret_value(),
        card_key=central.card_key.get_secret_value().encode("utf-8"),
        cache_dir=picture_cache_dir(config),
        timeout_s=central.timeout_s,
        heartbeat_interval_s=central.heartbeat_interval_s or None,
        event_sync_interval_s=central.event_sync_interval_s,
        languages=tuple(config.kiosk.languages),
    )


def picture_cache_dir(config: KioskConfig) -> Path:
    return config.data_path() / "central-pictures"


def open_central_client(config: KioskConfig, store: Store) -> CentralClient | None:
    """The client for this configuration (None without a central API), applying remote
    configuration as an overlay of this configuration's file."""
    settings = settings_from_config(config)
    if settings is None:
        return None
    return CentralClient(settings, store, apply_config=RemoteConfigApplier(config))
