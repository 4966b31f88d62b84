"""Helpers shared by tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kiosk.config import KioskConfig, default_config_path, load_config

T = TypeVar("T")


def demo_config_in(data_dir: Path, *, over_sip2: bool | None = None, **session: int) -> KioskConfig:
    """The shipped demo configuration, with its data in `data_dir` (and, if given, the
    demo library reached directly or over SIP2 on loopback)."""
    config = load_config(default_config_path())
    kiosk = config.kiosk.model_copy(update={"data_dir": str(data_dir)})
    changes: dict[str, object] = {"kiosk": kiosk}
    if over_sip2 is not None:
        demo = config.backend.demo.model_copy(update={"over_sip2": over_sip2})
        changes["backend"] = config.backend.model_copy(update={"demo": demo})
    if session:
        changes["session"] = config.session.model_copy(update=session)
    return config.model_copy(update=changes)


def bounded(call: Callable[[], T], limit_s: float = 5.0) -> T:
    """Run `call` in a thread; fail the test if it has not returned within limit_s."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread as is
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        pytest.fail(f"the call hung for more than {limit_s} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
