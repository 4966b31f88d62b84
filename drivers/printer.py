"""ESC/POS receipt printers: the few bytes a receipt needs, status queries, and the transports.

URLs: `file:receipts/` (a folder: each receipt as .bin and a rendered .txt),
`escpos-net:HOST[:9100]`, `escpos-serial:/dev/ttyUSB0[?baud=9600]`, `escpos-usb:VID:PID`
(needs pyusb, which is not installed; a USB printer works through the kernel's usblp
driver as `file:/dev/usb/lp0`).

Slovenian letters: text is sent in code page 852 (Latin-2, `ESC t 18` on Epson and most
clones), which has č š ž ć đ; a character outside it is transliterated (é -> e, € -> EUR).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import serial

from drivers.base import DeviceError

log = logging.getLogger(__name__)

ESC, GS, DLE, EOT, LF = 0x1B, 0x1D, 0x10, 0x04, 0x0A
# ESC t n -> Python codec, for the pages we send or may meet (Epson numbering).
CODE_PAGES: dict[int, str] = {
    0: "cp437",
    2: "cp850",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
}
DEFAULT_CODE_PAGE = 18  # CP852 (Latin-2): č š ž Č Š Ž ć đ
LINE_WIDTH = 42  # characters per line in font A on 80 mm paper (48 on some models)
_FALLBACK = {
    "€": "EUR",
    "•": "*",
    "–": "-",
    "—": "-",
    "„": '"',
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
}


def encode_text(text: str, code_page: int = DEFAULT_CODE_PAGE) -> bytes:
    """`text` in the printer's code page; characters it lacks are transliterated or '?'."""
    codec = CODE_PAGES[code_page]
    out = bytearray()
    for char in text:
        if char in "\r\n" or (ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0):
            out += b" "  # a control byte in text would be a printer command
            continue
        try:
            out += char.encode(codec)
            continue
        except UnicodeEncodeError:
            pass
        plain = _FALLBACK.get(char) or "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out += plain.encode(codec, errors="replace") if plain else b"?"
    return bytes(out)


@dataclass(frozen=True, slots=True)
class PrintLine:
    text: str
    bold: bool = False
    center: bool = False


def escpos_document(
    lines: Sequence[PrintLine], *, code_page: int = DEFAULT_CODE_PAGE, cut: bool = True
) -> bytes:
    """Initialise, select the code page, print the lines, feed and cut."""
    out = bytearray([ESC, ord("@"), ESC, ord("t"), code_page])
    for line in lines:
        out += bytes([ESC, ord("a"), 1 if line.center else 0, ESC, ord("E"), int(line.bold)])
        out += encode_text(line.text, code_page) + bytes([LF])
    out += bytes([ESC, ord("a"), 0, ESC, ord("E"), 0])
    if cut:
        out += bytes([ESC, ord("d"), 4, GS, ord("V"), 1])  # feed past the cutter, partial cut
    return bytes(out)


# --- reading ESC/POS back (the emulator and the file printer's .txt) --------------------------

# ESC commands by the number of parameter bytes after the command letter.
_ESC_PARAMS = {
    **dict.fromkeys(b"@2<S", 0),
    **dict.fromkeys(b" !-3EGJMRTUVadert{", 1),
    ord("c"): 2,
    ord("p"): 3,
    ord("$"): 2,
    ord("\\"): 2,
    ord("D"): -1,
}
_GS_PARAMS = {**dict.fromkeys(b"!BHfhwbIar", 1), **dict.fromkeys(b"LWP", 2)}


def render_escpos(data: bytes) -> str:
    """The text a receipt printer would print for `data`; commands are skipped.

    Never fails: unknown or truncated commands are skipped, as a printer would.
    """
    codec = CODE_PAGES[0]
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte == ESC and i + 1 < n:
            command = data[i + 1]
            if command == ord("@"):
                codec = CODE_PAGES[0]
            elif command == ord("t") and i + 2 < n:
                codec = CODE_PAGES.get(data[i + 2], CODE_PAGES[0])
            elif command == ord("d") and i + 2 < n:
                out.append("\n" * data[i + 2])
            params = _ESC_PARAMS.get(command, 0)
            if params == -1:  # ESC D n1…nk NUL: tab positions
                end = data.find(0, i + 2)
                i = n if end < 0 else end + 1
            else:
                i += 2 + params
        elif byte == GS and i + 1 < n:
            i = _skip_gs(data, i)
        elif byte == DLE and i + 1 < n:
            i += 3 if data[i + 1] == EOT else 2  # DLE EOT n: a status query
        elif byte == LF:
            out.append("\n")
            i += 1
        elif byte < 0x20:
            i += 1  # CR and other controls print nothing
        else:
            start = i
            while i < n and data[i] >= 0x20:
                i += 1
            out.append(data[start:i].decode(codec, errors="replace"))
    return "".join(out)


def _skip_gs(data: bytes, i: int) -> int:
    """Index after the GS command at `i`."""
    n = len(data)
    command = data[i + 1]
    if command == ord("V"):  # cut: GS V m, or GS V m n for m 65/66
        return i + (4 if i + 2 < n and data[i + 2] in (65, 66) else 3)
    if command == ord("k") and i + 2 < n:  # barcode: NUL-ended, or with a length byte
        if data[i + 2] <= 6:
            end = data.find(0, i + 3)
            return n if end < 0 else end + 1
        return i + 4 + (data[i + 3] if i + 3 < n else 0)
    if command == ord("(") and i + 4 < n:  # GS ( fn pL pH data
        return i + 5 + data[i + 3] + 256 * data[i + 4]
    if command == ord("v") and i + 7 < n:  # GS v 0 m xL xH yL yH raster image
        width, height = data[i + 4] + 256 * data[i + 5], data[i + 6] + 256 * data[i + 7]
        return i + 8 + width * height
    return i + 2 + _GS_PARAMS.get(command, 0)


# --- status -------------------------------------------------------------------------------------

STATUS_QUERIES = (1, 2, 4)  # DLE EOT n: printer, offline cause, roll paper sensor


def status_query(n: int) -> bytes:
    return bytes([DLE, EOT, n])


def is_status_byte(value: int) -> bool:
    """Real-time status bytes have bits 1 and 4 set and bits 0 and 7 clear."""
    return value & 0x93 == 0x12


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    answering: bool = True
    offline: bool = False
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False

    @property
    def state(self) -> str:
        """One plain word or two for technicians and the health report."""
        if not self.answering:
            return "not answering"
        if self.cover_open:
            return "cover open"
        if self.paper_out:
            return "paper out"
        if self.offline:
            return "offline"
        return "paper low" if self.paper_near_end else "ok"

    @property
    def can_print(self) -> bool:
        return self.state in ("ok", "paper low")


def parse_status(replies: dict[int, int | None]) -> PrinterStatus:
    """PrinterStatus from the answers to DLE EOT 1, 2 and 4 (None: no answer)."""
    values = [replies.get(n) for n in STATUS_QUERIES]
    if any(v is None or not is_status_byte(v) for v in values):
        return PrinterStatus(answering=False)
    printer, cause, paper = (v or 0 for v in values)
    return PrinterStatus(
        offline=bool(printer & 0x08),
        cover_open=bool(cause & 0x04),
        paper_out=bool(cause & 0x20 or paper & 0x60),
        paper_near_end=bool(paper & 0x0C),
    )


# --- printers ---------------------------------------------------------------------------------


@runtime_checkable
class Printer(Protocol):
    def print_bytes(self, data: bytes) -> None:
        """Send a whole ESC/POS document; raise DeviceError when it cannot be delivered."""
        ...

    def status(self) -> PrinterStatus: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class NullPrinter:
    """The printer of a kiosk without one: printing is refused, the state says why."""

    def print_bytes(self, data: bytes) -> None:
        raise DeviceError("no receipt printer is configured (url none)")

    def status(self) -> PrinterStatus:
        return PrinterStatus(answering=False)

    def describe(self) -> str:
        return "none"

    def close(self) -> None:
        pass


class FilePrinter:
    """Receipts into a folder (demo, tests), or raw bytes into a device file such as
    /dev/usb/lp0 (the kernel's USB printer driver)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.last_text: Path | None = None

    @classmethod
    def from_url(cls, address: str, url: str) -> FilePrinter:
        if not address:
            raise DeviceError(f"the file printer needs a folder, e.g. file:receipts/ (url {url})")
        return cls(address)

    def print_bytes(self, data: bytes) -> None:
        try:
            if self._is_device():
                with open(self.path, "wb", buffering=0) as device:
                    device.write(data)
                return
            self.path.mkdir(parents=True, exist_ok=True)
            stem = self.path / dt.datetime.now().strftime("receipt-%Y%m%d-%H%M%S-%f")
            stem.with_suffix(".bin").write_bytes(data)
            self.last_text = stem.with_suffix(".txt")
            self.last_text.write_text(render_escpos(data), encoding="utf-8")
        except OSError as err:
            raise DeviceError(f"cannot write the receipt to {self.path}: {err.strerror}") from None

    def status(self) -> PrinterStatus:
        target = self.path if self.path.exists() else self.path.parent
        return PrinterStatus(answering=os.access(target, os.W_OK))

    def describe(self) -> str:
        return f"file printer {self.path}, {self.status().state}"

    def close(self) -> None:
        pass

    def _is_device(self) -> bool:
        try:
            return stat.S_ISCHR(self.path.stat().st_mode)
        except OSError:
            return False


class NetworkPrinter:
    """An ESC/POS printer on raw TCP (port 9100). A connection per job, as such printers
    often serve one client at a time; a printer back on the network just works again."""

    def __init__(self, host: str, port: int = 9100, *, timeout: float = 3.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    @classmethod
    def from_url(cls, address: str, url: str) -> NetworkPrinter:
        host, port = address, "9100"
        if address.startswith("["):  # [::1]:9100
            host, _, rest = address[1:].partition("]")
            port = rest.removeprefix(":") or port
        elif address.count(":") == 1:
            host, port = address.split(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DeviceError(
                f"the network printer needs HOST or HOST:PORT, e.g. "
                f"escpos-net:192.168.1.50:9100 (url {url})"
            )
        return cls(host, int(port))

    def print_bytes(self, data: bytes) -> None:
        with self._connect() as conn:
            try:
                conn.sendall(data)
            except OSError as err:
                raise DeviceError(f"printer {self._where()} stopped answering: {err}") from None

    def status(self) -> PrinterStatus:
        try:
            with self._connect() as conn:
                replies = {n: _ask(conn, n, self.timeout) for n in STATUS_QUERIES}
        except (DeviceError, OSError):
            return PrinterStatus(answering=False)
        return parse_status(replies)

    def describe(self) -> str:
        return f"network printer {self._where()}"

    def close(self) -> None:
        pass

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as err:
            raise DeviceError(f"cannot reach printer {self._where()}: {err}") from None


def _ask(conn: socket.socket, n: int, timeout: float) -> int | None:
    conn.settimeout(timeout)
    conn.sendall(status_query(n))
    try:
        reply = conn.recv(1)
    except TimeoutError:
        return None
    return reply[0] if reply else None


class SerialPrinter:
    """An ESC/POS printer on a serial port; reopened on the next job after an unplug."""

    def __init__(self, port: str, *, baudrate: int = 9600, timeout: float = 1.0) -> None:
        self.port, self.baudrate, self.timeout = port, baudrate, timeout
        self._serial: serial.Serial | None = None

    @classmethod
    def from_url(cls, address: str, url: str) -> SerialPrinter:
        port, _, query = address.partition("?")
        baud = query.removeprefix("baud=") if query else "9600"
        if not port or not baud.isdigit() or (query and not query.startswith("baud=")):
            raise DeviceError(
                f"the serial printer needs a port and at most a baud rate, e.g. "
                f"escpos-serial:/dev/ttyUSB0?baud=19200 (url {url})"
            )
        return cls(port, baudrate=int(baud))

    def print_bytes(self, data: bytes) -> None:
        port = self._open()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as err:
            self.close()
            raise DeviceError(f"printer on {self.port} stopped answering: {err}") from None

    def status(self) -> PrinterStatus:
        try:
            port = self._open()
            port.reset_input_buffer()
            replies: dict[int, int | None] = {}
            for n in STATUS_QUERIES:
                port.write(status_query(n))
                reply = port.read(1)
                replies[n] = reply[0] if reply else None
        except (DeviceError, serial.SerialException, OSError):
            self.close()
            return PrinterStatus(answering=False)
        return parse_status(replies)

    def describe(self) -> str:
        return f"serial printer on {self.port} ({self.baudrate} baud)"

    def close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def _open(self) -> serial.Serial:
        if self._serial is None:
            try:
                self._serial = serial.Serial(
                    self.port, self.baudrate, timeout=self.timeout, write_timeout=5 * self.timeout
                )
            except (serial.SerialException, OSError, ValueError) as err:
                raise DeviceError(f"cannot open the printer on {self.port}: {err}") from None
        return self._serial


def open_usb_printer(address: str, url: str) -> Printer:
    raise DeviceError(
        f"USB printers need pyusb, which is not installed (url {url}); with the kernel's "
        "usblp driver use file:/dev/usb/lp0 instead"
    )
