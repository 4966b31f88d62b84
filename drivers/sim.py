"""Simulated peripherals for the demo, the developer tray and the tests.

They live in memory and answer at once. The UI thread places tags and taps
cards while a worker thread polls, so every method takes the same lock.
Faults a technician meets in the field can be switched on: an unplugged
reader, a failing AFI write, a tag lifted before the write.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from drivers.base import CardRead, DeviceError, TagRead

UID_LENGTH = 8  # ISO 15693 UIDs are 64 bits


@dataclass
class _FieldTag:
    data: bytes
    afi: int
    dsfid: int


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be a byte (0-255), not {value}")


def _uid_text(uid: bytes) -> str:
    return uid.hex().upper()


class SimTagReader:
    """An RFID reader whose field holds whatever `place` put there. Implements TagReader."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._field: dict[bytes, _FieldTag] = {}  # insertion order = order of placing
        self._failing_writes = 0
        self._unplugged = False
        self._closed = False

    # --- the developer tray and the tests -------------------------------------------------

    def place(self, uid: bytes, data: bytes, *, afi: int = 0x07, dsfid: int = 0) -> None:
        """Put a tag in the field; placing a uid again replaces that tag's contents."""
        uid = bytes(uid)
        if len(uid) != UID_LENGTH:
            raise ValueError(f"a tag UID has {UID_LENGTH} bytes, not {len(uid)}")
        _check_byte("AFI", afi)
        _check_byte("DSFID", dsfid)
        with self._lock:
            self._field[uid] = _FieldTag(bytes(data), afi, dsfid)

    def lift(self, uid: bytes) -> None:
        """Take a tag out of the field (nothing happens when it is not there)."""
        with self._lock:
            self._field.pop(bytes(uid), None)

    def clear(self) -> None:
        with self._lock:
            self._field.clear()

    def tags(self) -> list[TagRead]:
        """What is in the field now, regardless of faults (for the tray's own display)."""
        with self._lock:
            return self._snapshot()

    def afi_of(self, uid: bytes) -> int:
        with self._lock:
            return self._tag(bytes(uid)).afi

    def fail_next_writes(self, n: int) -> None:
        """Make the next `n` write_afi calls fail as a real RF write error would."""
        if n < 0:
            raise ValueError(f"the number of failing writes cannot be negative ({n})")
        with self._lock:
            self._failing_writes = n

    def set_unplugged(self, flag: bool) -> None:
        """While unplugged, inventory and write_afi fail as with a disconnected reader."""
        with self._lock:
            self._unplugged = flag

    # --- TagReader ---------------------------------------------------------------------

    def inventory(self) -> list[TagRead]:
        with self._lock:
            self._check_answering()
            return self._snapshot()

    def write_afi(self, uid: bytes, afi: int) -> None:
        _check_byte("AFI", afi)
        uid = bytes(uid)
        with self._lock:
            self._check_answering()
            # An unplugged reader never reaches a tag, so it does not use up a planned failure.
            if self._failing_writes:
                self._failing_writes -= 1
                raise DeviceError(f"writing the AFI of tag {_uid_text(uid)} failed")
            self._tag(uid).afi = afi

    def describe(self) -> str:
        with self._lock:
            if self._closed:
                state = "closed"
            elif self._unplugged:
                state = "unplugged"
            else:
                state = f"{len(self._field)} tag(s) in the field"
            return f"simulated RFID reader (sim:), {state}"

    def close(self) -> None:
        with self._lock:
            self._closed = True

    # --- inside the lock ---------------------------------------------------------------

    def _check_answering(self) -> None:
        if self._closed:
            raise DeviceError("the simulated RFID reader is closed")
        if self._unplugged:
            raise DeviceError("reader not answering (the simulated reader is unplugged)")

    def _tag(self, uid: bytes) -> _FieldTag:
        try:
            return self._field[uid]
        except KeyError:
            raise DeviceError(f"tag left the field (UID {_uid_text(uid)})") from None

    def _snapshot(self) -> list[TagRead]:
        return [
            TagRead(uid=uid, data=tag.data, afi=tag.afi, dsfid=tag.dsfid)
            for uid, tag in self._field.items()
        ]


class SimCardReader:
    """A card reader fed by `tap`; each tap is delivered once, in order. Implements CardReader."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._unplugged = False
        self._closed = False

    def tap(self, card: str) -> None:
        """Present a card (barcode digits or UID hex, as a real reader would deliver it)."""
        if not isinstance(card, str) or not card.strip():
            raise ValueError("a card presentation needs a non-empty card number")
        with self._lock:
            if not self._unplugged:  # an unplugged reader never sees the card
                self._queue.append(card)

    def set_unplugged(self, flag: bool) -> None:
        """While unplugged, poll fails as with a disconnected reader and taps are lost."""
        with self._lock:
            self._unplugged = flag
            if flag:
                self._queue.clear()

    def poll(self) -> CardRead | None:
        with self._lock:
            if self._closed:
                raise DeviceError("the simulated card reader is closed")
            if self._unplugged:
                raise DeviceError("card reader not answering (the simulated reader is unplugged)")
            if not self._queue:
                return None
            return CardRead(card=self._queue.popleft(), source="sim")

    def describe(self) -> str:
        with self._lock:
            if self._closed:
                state = "closed"
            elif self._unplugged:
                state = "unplugged"
            else:
                state = f"{len(self._queue)} card(s) waiting"
            return f"simulated card reader (sim:), {state}"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
