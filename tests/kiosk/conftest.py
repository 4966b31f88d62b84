"""Fixtures of the core's tests: a whole kiosk on the demo configuration, with a clock
the test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiosk.config import KioskConfig
from kiosk.runtime import Runtime


class FakeClock:
    """Monotonic time the test moves by hand (only the session timers read it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rt(demo_config: KioskConfig, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime.open(demo_config, clock=clock)
    yield runtime
    runtime.close()
