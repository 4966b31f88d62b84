"""Barcode scanners that send each scan as a line over a serial port (USB CDC or RS-232).

URL: `barcode:/dev/ttyACM0?baud=9600&suffix=cr`. Scanners end a scan with a configurable
suffix; `suffix=any` (the default) accepts CR, LF and CR LF alike. The port is opened on
the first poll and reopened on the poll after an unplug, so a scanner plugged back in
works again without restarting the app.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs

import serial

from drivers.base import DeviceError, QueuedCodes

log = logging.getLogger(__name__)

# Suffix name -> the bytes that end a scan; "any" treats CR and LF alike (CR LF gives one line).
SUFFIXES: dict[str, bytes] = {"any": b"\r\n", "cr": b"\r", "lf": b"\n", "crlf": b"\n", "tab": b"\t"}
MAX_LINE = 128  # longer "scans" are noise (a scanner glitch or the wrong device)
STALE_AFTER_S = 1.0  # a partial line this old is a fragment, not the start of a scan
_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


class LineSplitter:
    """Turns the byte stream of a scanner into scanned codes.

    Lines with control or non-ASCII bytes, over-long lines and stale fragments are dropped
    (and counted in `dropped`); surrounding blanks are stripped; empty lines are ignored.
    """

    def __init__(self, suffix: str = "any", *, clock: Callable[[], float] = time.monotonic):
        if suffix not in SUFFIXES:
            raise ValueError(f"unknown suffix {suffix!r}; use one of {', '.join(SUFFIXES)}")
        self._ends = frozenset(SUFFIXES[suffix])
        # With a CR LF suffix the CR is part of the ending, not of the code.
        self._ignored = frozenset(b"\r") if suffix == "crlf" else frozenset()
        self._clock = clock
        self._buffer = bytearray()
        self._overflow = False
        self._last_byte_at = 0.0
        self.dropped = 0

    def feed(self, data: bytes) -> list[str]:
        now = self._clock()
        if self._buffer and now - self._last_byte_at > STALE_AFTER_S:
            self._drop()
        if data:
            self._last_byte_at = now
        codes: list[str] = []
        for byte in data:
            if byte in self._ends:
                code = self._finish()
                if code:
                    codes.append(code)
            elif byte in self._ignored:
                continue
            elif len(self._buffer) >= MAX_LINE:
                self._overflow = True
            else:
                self._buffer.append(byte)
        return codes

    def _finish(self) -> str | None:
        raw, overflow = bytes(self._buffer), self._overflow
        self._buffer.clear()
        self._overflow = False
        if overflow or any(b < 0x20 or b > 0x7E for b in raw):
            self.dropped += 1
            return None
        return raw.decode("ascii").strip() or None

    def _drop(self) -> None:
        self._buffer.clear()
        self._overflow = False
        self.dropped += 1


def parse_barcode_address(address: str, url: str) -> tuple[str, int, str]:
    """`/dev/ttyACM0?baud=9600&suffix=cr` -> (port, baud rate, suffix name)."""
    port, _, query = address.partition("?")
    if not port:
        raise DeviceError(
            f"the barcode scanner needs a serial port, e.g. barcode:/dev/ttyACM0 (url {url})"
        )
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise DeviceError(f"cannot read the options {query!r} (url {url})") from None
    unknown = set(options) - {"baud", "suffix"}
    if unknown:
        raise DeviceError(f"unknown option {sorted(unknown)[0]!r}; use baud and suffix (url {url})")
    baud_text = options.get("baud", ["9600"])[-1]
    if not baud_text.isdigit() or int(baud_text) not in _BAUD_RATES:
        rates = ", ".join(map(str, _BAUD_RATES))
        raise DeviceError(f"baud must be one of {rates}, not {baud_text!r} (url {url})")
    suffix = options.get("suffix", ["any"])[-1].lower()
    if suffix not in SUFFIXES:
        raise DeviceError(
            f"suffix must be one of {', '.join(SUFFIXES)}, not {suffix!r} (url {url})"
        )
    return port, int(baud_text), suffix


class SerialBarcodeScanner(QueuedCodes):
    """A barcode scanner on a serial port. Implements CardReader (source "barcode")."""

    def __init__(self, port: str, *, baudrate: int = 9600, suffix: str = "any") -> None:
        self.port = port
        self.baudrate = baudrate
        self.suffix = suffix
        self._lines = LineSplitter(suffix)
        self._codes: deque[str] = deque()
        self._serial: serial.Serial | None = None
        self._closed = False

    @classmethod
    def from_url(cls, address: str, url: str) -> SerialBarcodeScanner:
        port, baudrate, suffix = parse_barcode_address(address, url)
        return cls(port, baudrate=baudrate, suffix=suffix)

    def _closed_message(self) -> str:
        return f"the barcode scanner on {self.port} is closed"

    def describe(self) -> str:
        state = "closed" if self._closed else "open" if self._serial else "not open"
        return (
            f"barcode scanner on {self.port} ({self.baudrate} baud, suffix {self.suffix}), {state}"
        )

    def close(self) -> None:
        self._closed = True
        self._disconnect()

    def _read_available(self) -> None:
        port = self._serial or self._connect()
        try:
            data = port.read(4096)  # timeout 0: whatever is there now
        except (serial.SerialException, OSError) as err:
            self._disconnect()
            raise DeviceError(
                f"the barcode scanner on {self.port} stopped answering (unplugged?): {err}"
            ) from None
        dropped = self._lines.dropped
        self._codes.extend(self._lines.feed(data))
        if self._lines.dropped > dropped:
            # Only the count: a dropped line may hold part of a card number.
            log.warning(
                "barcode scanner on %s: ignored %d unreadable line(s)",
                self.port,
                self._lines.dropped - dropped,
            )

    def _connect(self) -> serial.Serial:
        try:
            # Parity is left at the default: ptys (emulators) refuse parity changes.
            port = serial.Serial(self.port, baudrate=self.baudrate, timeout=0)
        except (serial.SerialException, OSError, ValueError) as err:
            raise DeviceError(f"cannot open the barcode scanner on {self.port}: {err}") from None
        port.reset_input_buffer()  # bytes from before we listened are not a scan for us
        self._lines = LineSplitter(self.suffix)
        self._serial = port
        log.info("barcode scanner on %s opened", self.port)
        return port

    def _disconnect(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None
