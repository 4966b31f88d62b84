"""Keyboard-wedge barcode scanners read straight from their Linux input device.

URL: `evdev:/dev/input/by-id/usb-…-event-kbd`. A wedge scanner types each scan followed by
ENTER. Reading its event device ourselves (and grabbing it with EVIOCGRAB) keeps those
keystrokes away from whatever widget has the focus. No python-evdev: the records are a
fixed C struct, decoded here. Key codes are read as a US keyboard, the layout scanners
emulate by default.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import struct
from collections import deque

from drivers.base import DeviceError, QueuedCodes

log = logging.getLogger(__name__)

# struct input_event on 64-bit Linux: timeval (two longs), u16 type, u16 code, s32 value.
INPUT_EVENT = struct.Struct("llHHi")
EV_KEY = 1
KEY_UP, KEY_DOWN = 0, 1  # value 2 is autorepeat, which a scanner does not mean
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)
MAX_LINE = 128

KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
_SHIFTS = (KEY_LEFTSHIFT, KEY_RIGHTSHIFT)


def _build_keymap() -> dict[int, tuple[str, str]]:
    """Linux key code -> (plain, shifted) character on a US layout."""
    keys: dict[int, tuple[str, str]] = {}
    for code, plain, shifted in zip(range(2, 14), "1234567890-=", "!@#$%^&*()_+", strict=True):
        keys[code] = (plain, shifted)
    for row, first in (("qwertyuiop", 16), ("asdfghjkl", 30), ("zxcvbnm", 44)):
        for offset, letter in enumerate(row):
            keys[first + offset] = (letter, letter.upper())
    extra = {
        12: ("-", "_"),
        26: ("[", "{"),
        27: ("]", "}"),
        39: (";", ":"),
        40: ("'", '"'),
        41: ("`", "~"),
        43: ("\\", "|"),
        51: (",", "<"),
        52: (".", ">"),
        53: ("/", "?"),
        57: (" ", " "),
        55: ("*", "*"),
        74: ("-", "-"),
        78: ("+", "+"),
        83: (".", "."),
    }
    keys.update(extra)
    # The numeric keypad: some scanners type digits there.
    for code, digit in zip((71, 72, 73, 75, 76, 77, 79, 80, 81, 82), "7894561230", strict=True):
        keys[code] = (digit, digit)
    return keys


KEYMAP: dict[int, tuple[str, str]] = _build_keymap()
# The inverse, for the emulator and the tests: character -> (key code, needs shift).
CHAR_KEYS: dict[str, tuple[int, bool]] = {}
for _code, (_plain, _shifted) in sorted(KEYMAP.items(), reverse=True):  # main row wins over pad
    CHAR_KEYS[_shifted] = (_code, True)
    CHAR_KEYS[_plain] = (_code, False)


class KeyEventDecoder:
    """Turns a stream of input_event records into lines, one per ENTER.

    Bytes may arrive in any split; non-key events and unknown keys are ignored; an over-long
    line is dropped at its ENTER (counted in `dropped`).
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._line: list[str] = []
        self._overflow = False
        self._shift_down: set[int] = set()
        self.dropped = 0

    def feed(self, data: bytes) -> list[str]:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % INPUT_EVENT.size
        lines: list[str] = []
        for _sec, _usec, kind, code, value in INPUT_EVENT.iter_unpack(self._pending[:whole]):
            if kind == EV_KEY:
                line = self._key(code, value)
                if line:
                    lines.append(line)
        del self._pending[:whole]
        return lines

    def _key(self, code: int, value: int) -> str | None:
        if code in _SHIFTS:
            if value == KEY_DOWN:
                self._shift_down.add(code)
            elif value == KEY_UP:
                self._shift_down.discard(code)
            return None
        if value != KEY_DOWN:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            text, overflow = "".join(self._line).strip(), self._overflow
            self._line.clear()
            self._overflow = False
            if overflow:
                self.dropped += 1
                return None
            return text or None
        chars = KEYMAP.get(code)
        if chars is not None:
            if len(self._line) >= MAX_LINE:
                self._overflow = True
            else:
                self._line.append(chars[1] if self._shift_down else chars[0])
        return None


class EvdevScanner(QueuedCodes):
    """A keyboard-wedge scanner read from /dev/input. Implements CardReader (source "barcode").

    The device is opened on the first poll and after an unplug on the next poll.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._decoder = KeyEventDecoder()
        self._codes: deque[str] = deque()
        self._closed = False
        self.grabbed = False

    @classmethod
    def from_url(cls, address: str, url: str) -> EvdevScanner:
        if not address:
            raise DeviceError(
                f"the evdev scanner needs its input device, e.g. "
                f"evdev:/dev/input/by-id/usb-scanner-event-kbd (url {url})"
            )
        return cls(address)

    def _closed_message(self) -> str:
        return f"the evdev scanner {self.path} is closed"

    def describe(self) -> str:
        if self._closed:
            state = "closed"
        elif self._fd is None:
            state = "not open"
        else:
            state = "open, grabbed" if self.grabbed else "open, not grabbed"
        return f"keyboard-wedge scanner {self.path}, {state}"

    def close(self) -> None:
        self._closed = True
        self._disconnect()

    def _read_available(self) -> None:
        fd = self._fd if self._fd is not None else self._connect()
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(fd, INPUT_EVENT.size * 64)
            except BlockingIOError:
                break
            except OSError as err:  # ENODEV once the scanner is unplugged
                self._disconnect()
                raise DeviceError(
                    f"the evdev scanner {self.path} stopped answering (unplugged?): "
                    f"{os.strerror(err.errno or errno.EIO)}"
                ) from None
            if not chunk:
                # End of file: no writer (a FIFO in tests). Gone only if the path went too.
                if not os.path.exists(self.path):
                    self._disconnect()
                    raise DeviceError(f"the evdev scanner {self.path} is gone (unplugged?)")
                break
            chunks.append(chunk)
        dropped = self._decoder.dropped
        self._codes.extend(self._decoder.feed(b"".join(chunks)))
        if self._decoder.dropped > dropped:
            log.warning("evdev scanner %s: ignored an over-long line", self.path)

    def _connect(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            raise DeviceError(
                f"cannot open the evdev scanner {self.path}: {os.strerror(err.errno or 0)}"
                + (" (add the kiosk user to the input group)" if err.errno == errno.EACCES else "")
            ) from None
        self.grabbed = self._grab(fd)
        self._decoder = KeyEventDecoder()
        self._fd = fd
        log.info("evdev scanner %s opened", self.path)
        return fd

    def _grab(self, fd: int) -> bool:
        # Only a real input device can be grabbed; tests use a FIFO in its place.
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.ioctl(fd, EVIOCGRAB, 1)
        except OSError as err:
            log.warning(
                "cannot grab the evdev scanner %s (%s): its scans may also reach the focused "
                "widget; is another program reading it?",
                self.path,
                os.strerror(err.errno or 0),
            )
            return False
        return True

    def _disconnect(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing also ends the grab
            self._fd = None
            self.grabbed = False
