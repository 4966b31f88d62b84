"""Barcode scanner emulators: a serial scanner on a pty pair and a keyboard wedge on a FIFO.

Both write exactly the bytes the real device sends, so the real drivers read them. Each
can be unplugged and plugged back: the serial one behind a stable symlink (as udev's
/dev/serial/by-id links), the wedge one by removing and recreating its FIFO.
"""

from __future__ import annotations

import os
import time
import tty
from pathlib import Path

from drivers.evdev_scanner import CHAR_KEYS, EV_KEY, INPUT_EVENT, KEY_DOWN, KEY_ENTER, KEY_UP

KEY_LEFTSHIFT = 42
EV_SYN = 0
_WIRE_SUFFIXES = {"any": b"\r\n", "cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "tab": b"\t"}


class ScannerEmulator:
    """A serial barcode scanner: `open_pty()` gives the port for the driver, `scan()` scans."""

    def __init__(self, suffix: str = "cr") -> None:
        if suffix not in _WIRE_SUFFIXES:
            raise ValueError(f"unknown suffix {suffix!r}")
        self.suffix = _WIRE_SUFFIXES[suffix]
        self._master: int | None = None
        self._slave: int | None = None
        self._link: Path | None = None
        self.port = ""

    def open_pty(self, link: str | os.PathLike[str] | None = None) -> str:
        """Create the pty pair and return the path the driver opens (`link` if given)."""
        master, slave = os.openpty()
        tty.setraw(slave)  # a real CDC port passes bytes through untouched
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        if link is not None:
            self._link = Path(link)
            self._link.unlink(missing_ok=True)
            self._link.symlink_to(self.port)
            return str(self._link)
        return self.port

    def scan(self, code: str) -> None:
        """Scan a barcode: its ASCII bytes and the configured suffix, as the scanner sends."""
        self.send_raw(code.encode("ascii") + self.suffix)

    def send_raw(self, data: bytes) -> None:
        if self._master is None:
            raise RuntimeError("the emulated scanner is unplugged")
        os.write(self._master, data)

    def unplug(self) -> None:
        """As pulling the cable: the driver's next read fails and the link dangles."""
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def replug(self) -> str:
        """A new pty behind the same link, as udev gives a replugged scanner."""
        self.unplug()
        return self.open_pty(self._link)

    def close(self) -> None:
        self.unplug()
        if self._link is not None:
            self._link.unlink(missing_ok=True)


def key_events(code: str, *, timestamp: float | None = None) -> bytes:
    """The input_event records a US-layout wedge scanner produces for `code` and ENTER."""
    when = time.time() if timestamp is None else timestamp
    sec, usec = int(when), int((when % 1) * 1_000_000)
    records = bytearray()

    def key(key_code: int, value: int) -> None:
        records.extend(INPUT_EVENT.pack(sec, usec, EV_KEY, key_code, value))
        records.extend(INPUT_EVENT.pack(sec, usec, EV_SYN, 0, 0))

    for char in code:
        if char not in CHAR_KEYS:
            raise ValueError(f"a US keyboard cannot type {char!r}")
        key_code, shifted = CHAR_KEYS[char]
        if shifted:
            key(KEY_LEFTSHIFT, KEY_DOWN)
        key(key_code, KEY_DOWN)
        key(key_code, KEY_UP)
        if shifted:
            key(KEY_LEFTSHIFT, KEY_UP)
    key(KEY_ENTER, KEY_DOWN)
    key(KEY_ENTER, KEY_UP)
    return bytes(records)


class WedgeScannerEmulator:
    """A keyboard-wedge scanner whose event device is a FIFO at `path`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def plug(self) -> str:
        os.mkfifo(self.path)
        # Read-write keeps the FIFO open without a reader and never blocks the emulator.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        return str(self.path)

    def scan(self, code: str) -> None:
        self.send_raw(key_events(code))

    def send_raw(self, data: bytes) -> None:
        if self._fd is None:
            raise RuntimeError("the emulated wedge scanner is unplugged")
        os.write(self._fd, data)

    def unplug(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self.unplug()
