"""Simulated peripherals for the demo, the developer tray and the tests.

The simulated RFID pad is not a shortcut around the driver: it is an emulated
FEIG reader on a pty (`drivers.emulators`) with the real `FeigReader` talking
to it, so the demo and the tests send and parse the same bytes as a kiosk
with a reader on its serial port. The tray and the tests change what lies in
the field; the core polls through the driver. Faults a technician meets in
the field can be switched on: an unplugged reader, a failing AFI write, a tag
that answers but cannot be read, a tag lifted before the write.

The card reader likewise: an emulated serial barcode scanner on a pty, read
by the real barcode driver.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from drivers.barcode import SerialBarcodeScanner
from drivers.base import CardRead, DeviceError, TagRead
from drivers.emulators.feig import FeigEmulator
from drivers.emulators.field import RfidField
from drivers.emulators.scanner import ScannerEmulator
from drivers.feig import FeigReader

UID_LENGTH = 8  # ISO 15693 UIDs are 64 bits
TIMEOUT_S = 0.3  # an emulator on a pty answers in well under a millisecond


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be a byte (0-255), not {value}")


class SimTagReader:
    """An emulated FEIG reader with its field, read through the real driver. A TagReader."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.field = RfidField()
        self._placed: dict[bytes, TagRead] = {}  # what the tray put there, for its display
        self._emulator = FeigEmulator(self.field)
        # The driver opens a stable path, as udev gives a real reader one; replugging points
        # it at a new pty, as a reader plugged back in gets a new device behind the same name.
        self._dir = tempfile.TemporaryDirectory(prefix="kiosk-sim-rfid-")
        self._link = Path(self._dir.name) / "reader"
        self._plug()
        self._reader = FeigReader(str(self._link), timeout_s=TIMEOUT_S)
        self._unplugged = False
        self._closed = False

    def _plug(self) -> None:
        path = self._emulator.open_pty()
        tmp = self._link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        os.symlink(path, tmp)
        os.replace(tmp, self._link)

    # --- the developer tray and the tests -------------------------------------------------

    def place(self, uid: bytes, data: bytes, *, afi: int = 0x07, dsfid: int = 0) -> None:
        """Put a tag in the field; placing a uid again replaces that tag's contents."""
        uid = bytes(uid)
        if len(uid) != UID_LENGTH:
            raise ValueError(f"a tag UID has {UID_LENGTH} bytes, not {len(uid)}")
        _check_byte("AFI", afi)
        _check_byte("DSFID", dsfid)
        with self._lock:
            self.field.place(uid, bytes(data), afi=afi, dsfid=dsfid)
            self._placed[uid] = TagRead(uid=uid, data=bytes(data), afi=afi, dsfid=dsfid)

    def lift(self, uid: bytes) -> None:
        """Take a tag out of the field (nothing happens when it is not there)."""
        with self._lock:
            self.field.lift(bytes(uid))
            self._placed.pop(bytes(uid), None)

    def clear(self) -> None:
        with self._lock:
            self.field.clear()
            self._placed.clear()

    def tags(self) -> list[TagRead]:
        """What is in the field now, as placed (for the tray's own display)."""
        with self._lock:
            return list(self._placed.values())

    def afi_of(self, uid: bytes) -> int:
        try:
            return self.field.tag(bytes(uid)).afi
        except Exception:
            raise DeviceError(f"tag left the field (UID {bytes(uid).hex().upper()})") from None

    def make_unreadable(self, uid: bytes, flag: bool = True) -> None:
        """The tag answers inventories, but reading its memory fails (a book badly placed)."""
        self.field.make_unreadable(bytes(uid), flag)

    def fail_next_writes(self, n: int) -> None:
        """Make the next `n` writes fail as a real RF write error would."""
        self.field.fail_next_write(n)

    def lose_next_writes(self, n: int) -> None:
        """Make the next `n` writes answer OK but change nothing (a weak tag at the edge)."""
        self.field.lose_next_write(n)

    def set_unplugged(self, flag: bool) -> None:
        """Unplug (the pty goes away) or plug the reader back in (a new pty, same path)."""
        with self._lock:
            if flag and not self._unplugged:
                self._emulator.stop()
            elif not flag and self._unplugged:
                self._plug()
            self._unplugged = flag

    @property
    def state(self) -> str:
        return self._reader.state

    # --- TagReader: through the real driver ------------------------------------------------

    def inventory(self) -> list[TagRead]:
        self._check_open()
        return self._reader.inventory()

    def write_afi(self, uid: bytes, afi: int) -> None:
        _check_byte("AFI", afi)
        self._check_open()
        self._reader.write_afi(bytes(uid), afi)

    def read_afi(self, uid: bytes) -> int:
        self._check_open()
        return self._reader.read_afi(bytes(uid))

    def describe(self) -> str:
        if self._closed:
            return "simulated RFID reader (sim:), closed"
        where = "unplugged" if self._unplugged else f"{len(self.field)} tag(s) in the field"
        return f"simulated RFID reader (sim:, emulated FEIG on a pty), {where}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._reader.close()
            self._emulator.stop()
            self._dir.cleanup()

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError("the simulated RFID reader is closed")


class SimCardReader:
    """A card reader fed by `tap`: an emulated serial barcode scanner on a pty, read by the
    real barcode driver. Each tap is delivered once, in order. Implements CardReader."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="kiosk-sim-cards-")
        link = Path(self._dir.name) / "scanner"
        self._emulator = ScannerEmulator(suffix="cr")
        self._emulator.open_pty(link)
        self._scanner = SerialBarcodeScanner(str(link), suffix="cr")
        self._scanner.poll()  # open the port now: a scan before the first poll must not be lost
        self._waiting = 0
        self._unplugged = False
        self._closed = False

    def tap(self, card: str) -> None:
        """Present a card (barcode digits or UID hex, as a real reader would deliver it)."""
        if not isinstance(card, str) or not card.strip():
            raise ValueError("a card presentation needs a non-empty card number")
        with self._lock:
            if not self._unplugged:  # an unplugged reader never sees the card
                self._emulator.scan(card.strip())
                self._waiting += 1

    def set_unplugged(self, flag: bool) -> None:
        """Unplug the scanner (its pty goes away) or plug it back in (same path, new pty)."""
        with self._lock:
            if flag and not self._unplugged:
                self._emulator.unplug()
                self._waiting = 0
            elif not flag and self._unplugged:
                self._emulator.replug()
            self._unplugged = flag

    def poll(self) -> CardRead | None:
        if self._closed:
            raise DeviceError("the simulated card reader is closed")
        read = self._scanner.poll()
        if read is not None:
            with self._lock:
                self._waiting = max(0, self._waiting - 1)
        return read

    def describe(self) -> str:
        with self._lock:
            if self._closed:
                state = "closed"
            elif self._unplugged:
                state = "unplugged"
            else:
                state = f"{self._waiting} card(s) waiting"
            return f"simulated card reader (sim:, emulated barcode scanner on a pty), {state}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._scanner.close()
            self._emulator.close()
            self._dir.cleanup()
