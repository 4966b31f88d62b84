"""Circulation backends, chosen by `[backend] kind` in the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.circulation import BackendUnavailable, CirculationBackend

if TYPE_CHECKING:
    from kiosk.config import KioskConfig


def make_backend(config: KioskConfig) -> CirculationBackend:
    kind = config.backend.kind
    if kind == "demo":
        from kiosk.backends.demo import DemoLibrary

        return DemoLibrary(config.demo_database_path(), loan_days=config.backend.demo.loan_days)
    # SIP2 arrives with its own issue; until then say so plainly instead of failing later.
    raise BackendUnavailable(f"backend kind {kind!r} is not available in this version yet")
