"""Shared fixtures: a demo kiosk on real parts (SQLite store, demo library,
simulated devices) in a temporary data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import KioskConfig
from tests.helpers import demo_config_in


@pytest.fixture
def demo_config(tmp_path: Path) -> KioskConfig:
    return demo_config_in(tmp_path / "data")
