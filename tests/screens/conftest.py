"""UI tests: Kivy quiet, no argument parsing, a private KIVY_HOME — set before
Kivy is first imported. Each UI test file runs in its own process (./dev test),
because a Kivy app runs once per process."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.ui)
