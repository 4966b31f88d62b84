"""The app's side of systemd's watchdog: READY=1 on the first frame, then WATCHDOG=1
from the Kivy clock.

The pings are scheduled on the UI loop on purpose: when the loop hangs (a deadlock, a
callback that never returns), the clock stops, the pings stop, and systemd kills and
restarts the kiosk after `WatchdogSec`. A ping from a thread of its own would keep a
frozen screen "alive" forever.

The first frame and the first pings also go into the health marker (`health.json` in
the data folder), which the updater reads to decide whether a new release works
(kiosk/updates.py). Outside systemd (demo, tour, tests without a socket) nothing is
sent and no marker is written.

Kivy is imported only when no scheduler is given, so this module imports without a
display (and the tests drive it with a scheduler of their own).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk import __version__, sdnotify
from kiosk.updates import MIN_PINGS, OUT_OF_SERVICE, Health, write_health

log = logging.getLogger(__name__)

# Kivy's Clock.schedule_interval: (callback(dt), interval_s) -> an event with .cancel().
Schedule = Callable[[Callable[[float], Any], float], Any]

# Liveness ticks for the health marker when systemd set no watchdog (WatchdogSec unset).
TICK_WITHOUT_WATCHDOG_S = 5.0


class UiWatchdog:
    """Tell systemd the kiosk is up (first frame) and alive (UI loop still turning)."""

    def __init__(
        self,
        clock_schedule: Schedule | None = None,
        *,
        data_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        version: str = __version__,
    ) -> None:
        self._schedule = clock_schedule
        self._data_dir = data_dir
        self._environ = environ
        self._version = version
        self._event: Any = None
        self._first_frame_at: str | None = None
        self._fault = ""
        self.pings = 0

    @property
    def under_systemd(self) -> bool:
        return sdnotify.socket_address(self._environ) is not None

    @property
    def started(self) -> bool:
        return self._first_frame_at is not None

    def first_frame(self, status_text: str = "Kiosk is on screen") -> None:
        """Call once the first frame is on screen (later calls do nothing)."""
        if self.started or not self.under_systemd:
            return
        self._first_frame_at = datetime.now(UTC).isoformat(timespec="seconds")
        sdnotify.ready(status_text, environ=self._environ)
        self._mark_health()
        interval = sdnotify.watchdog_interval_s(self._environ)
        # Half the timeout, as systemd advises: one late frame must not cost a restart.
        every = interval / 2 if interval else TICK_WITHOUT_WATCHDOG_S
        schedule = self._schedule or _kivy_schedule_interval()
        self._event = schedule(self._ping, every)

    def status(self, text: str) -> None:
        """One line for `systemctl status kiosk`."""
        sdnotify.status(text, environ=self._environ)

    def out_of_service(self, reason: str) -> None:
        """The screen works but the kiosk cannot serve (its core did not start): said in
        `systemctl status`, and in the health marker, so an update that did this is
        rolled back although the UI loop keeps answering the watchdog."""
        self._fault = reason
        self.status(f"Out of service: {reason}")
        self._mark_health()

    def stop(self) -> None:
        """The app is closing on purpose: no more pings, and systemd is told."""
        if self._event is not None:
            self._event.cancel()
            self._event = None
        if self.started:
            sdnotify.stopping(environ=self._environ)

    def _ping(self, _dt: float = 0.0) -> None:
        sdnotify.watchdog_ping(environ=self._environ)
        self.pings += 1
        if self.pings == MIN_PINGS:
            self._mark_health()  # the updater's sign that the UI loop keeps turning

    def _mark_health(self) -> None:
        if self._data_dir is None or self._first_frame_at is None:
            return
        state = OUT_OF_SERVICE if self._fault else "running"
        health = Health(
            self._version, os.getpid(), self.pings, self._first_frame_at, state, self._fault
        )
        try:
            write_health(self._data_dir, health)
        except OSError as exc:  # a full disk must not stop the kiosk; doctor reports it
            log.warning("health marker not written to %s: %s", self._data_dir, exc)


def _kivy_schedule_interval() -> Schedule:
    from kivy.clock import Clock

    return Clock.schedule_interval
