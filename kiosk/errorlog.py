"""The last problems the running kiosk logged, kept in the store for `kiosk doctor` and
the technician: a technician on the phone needs "what went wrong last", not the journal.

Only what the code logs at WARNING or above, which never holds card numbers or PINs
(identifiers are logged as keyed hashes). Written at most every few seconds, so a device
complaining in a loop does not wear the SD card.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from kiosk.store import Store, StoreError

SETTING = "recent_errors"
KEEP = 20
FLUSH_EVERY_S = 5.0
MAX_LINE = 300


def recent_errors(store: Store) -> list[str]:
    value = store.get_setting(SETTING, [])
    return [str(line) for line in value] if isinstance(value, list) else []


class RecentErrors(logging.Handler):
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(level=logging.WARNING)
        self.store = store
        self._clock = clock
        self._lines: deque[str] = deque(recent_errors(store), maxlen=KEEP)
        self._dirty = False
        self._last_flush = 0.0
        self._flushing = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="seconds")
        text = " ".join(record.getMessage().split())[:MAX_LINE]
        self._lines.append(f"{when} {record.levelname} {record.name}: {text}")
        self._dirty = True
        if self._clock() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        # Never recurse: a store error logged while flushing must not flush again.
        if not self._dirty or not self._flushing.acquire(blocking=False):
            return
        try:
            self._last_flush = self._clock()
            self._dirty = False
            self.store.set_setting(SETTING, list(self._lines))
        except StoreError:
            pass  # the store is the problem; the journal still has the line
        finally:
            self._flushing.release()

    def close(self) -> None:
        self.flush()
        super().close()
