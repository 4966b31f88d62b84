"""Helpers shared by tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

from pathlib import Path

from kiosk.config import KioskConfig, default_config_path, load_config


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
