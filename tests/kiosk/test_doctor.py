"""`kiosk doctor`'s disk, clock and last-errors checks on a real store and real files."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from kiosk import doctor
from kiosk.config import KioskConfig
from kiosk.errorlog import KEEP, RecentErrors, recent_errors
from kiosk.store import Store


@pytest.fixture
def config(demo_config: KioskConfig) -> KioskConfig:
    with Store.open(demo_config.store_path()):
        pass  # a store as a kiosk leaves it
    return demo_config


def test_a_clock_before_the_kiosk_existed_is_named(config: KioskConfig) -> None:
    check = doctor._check_clock(config, now=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
    assert check.status == doctor.FAILED and "lost its time" in check.detail


def test_a_clock_that_went_back_is_named(config: KioskConfig) -> None:
    with Store.open(config.store_path()) as store:
        store.set_setting("anything", 1)  # recorded now
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    check = doctor._check_clock(config, now=earlier)
    assert check.status == doctor.FAILED and "went back" in check.detail
    assert doctor._check_clock(config).status == doctor.OK


def test_a_clock_far_from_the_central_api_is_degraded(config: KioskConfig) -> None:
    with Store.open(config.store_path()) as store:
        store.set_setting("central_clock_skew_s", 600.0)
    check = doctor._check_clock(config)
    assert check.status == doctor.DEGRADED and "+600 s" in check.detail


def test_low_disk_space_is_degraded(config: KioskConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    assert doctor._check_disk(config).status == doctor.OK
    # Real numbers from the real file system; only the floor is raised above them.
    monkeypatch.setattr(doctor, "DISK_LOW_BYTES", 1 << 62)
    check = doctor._check_disk(config)
    assert check.status == doctor.DEGRADED and "MiB free" in check.detail


def test_the_last_errors_the_kiosk_logged_are_kept_and_shown(
    config: KioskConfig, tmp_path: Path
) -> None:
    log = logging.getLogger("kiosk.test_doctor")
    with Store.open(config.store_path()) as store:
        handler = RecentErrors(store, clock=lambda: 0.0)  # never due: flushed on close
        log.addHandler(handler)
        try:
            log.info("not kept")
            for n in range(KEEP + 3):
                log.warning("reader stopped answering (%d)", n)
        finally:
            log.removeHandler(handler)
            handler.close()
        kept = recent_errors(store)
    assert len(kept) == KEEP and kept[-1].endswith(f"reader stopped answering ({KEEP + 2})")
    assert all("not kept" not in line for line in kept)
    check = doctor._check_recent_errors(config)
    assert check.status == doctor.OK and f"{KEEP} recent" in check.detail
