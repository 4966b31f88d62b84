"""FEIG ISO host protocol reader (ID ISC.MR/PR/LR families) over a serial port.

The driver returns UIDs, AFI, DSFID and raw user memory in the tag's natural byte order; it
never decodes library data. It survives what a kiosk meets: line noise (resynchronise on the
next frame with a good CRC), a reader that stays silent (DeviceError after the timeout), a USB
cable pulled and plugged back (state "missing", then the next call reopens the same path), and
tags that answer inventory but not a block read (TagRead with data=b"": the core retries and
asks the patron to move the book).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import termios
import threading
import time

import serial

from drivers.base import DeviceError, TagRead
from drivers.feig_protocol import (
    BLOCK_SIZE,
    BROADCAST_ADDRESS,
    MAX_FRAME_LENGTH,
    Command,
    Frame,
    FrameError,
    NxpCommand,
    Status,
    encode_frame,
    inventory_request,
    nxp_request,
    parse_inventory,
    parse_read_blocks,
    read_blocks_request,
    scan,
    system_information_request,
    write_afi_request,
    write_blocks_request,
)

log = logging.getLogger(__name__)

MOVE_BOOK = "tag not answering: move the book slightly"
_MAX_INVENTORY_PAGES = 64  # stops a reader that says "more data" for ever


class TagError(DeviceError):
    """One tag did not do what was asked; the reader itself is fine."""


class FeigReader:
    """A FEIG reader in ISO host mode. Implements drivers.base.TagReader."""

    def __init__(
        self,
        port_url: str,
        *,
        address: int = BROADCAST_ADDRESS,
        baud: int = 38400,
        timeout_s: float = 0.5,
        afi: int | None = None,
        max_tags: int = 64,
        blocks: int = 9,
    ) -> None:
        if not 0 <= address <= 0xFF:
            raise DeviceError(f"a FEIG bus address is 0-255, not {address}")
        if afi is not None and not 0 <= afi <= 0xFF:
            raise DeviceError(f"an AFI is a byte (0-255), not {afi}")
        if not 1 <= blocks <= 32:  # 32 blocks x 4 bytes: FEIG's 128-byte limit per read
            raise DeviceError(f"blocks must be 1-32, not {blocks}")
        if timeout_s <= 0 or max_tags < 1 or baud <= 0:
            raise DeviceError("timeout, baud rate and max_tags must be positive")
        self.port_url = port_url
        self.address = address
        self.baud = baud
        self.timeout_s = timeout_s
        self.afi = afi
        self.max_tags = max_tags
        self.blocks = blocks
        self._lock = threading.RLock()
        self._port: serial.SerialBase | None = None
        self._state = "missing"
        self._closed = False
        self._version = ""
        self._known: dict[bytes, TagRead] = {}  # tags of the last inventory, as read
        try:
            self._ensure_open()
        except DeviceError as err:  # the app starts anyway; the next call tries again
            log.warning("%s", err)

    # --- TagReader --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "ok", "degraded" (open but the last exchange failed) or "missing" (no device)."""
        return self._state

    def inventory(self) -> list[TagRead]:
        """Every tag in the field with its user memory (blocks 0..blocks-1)."""
        with self._lock:
            entries = []
            more = False
            for _ in range(_MAX_INVENTORY_PAGES):
                reply = self._iso(inventory_request(more=more, afi=self.afi))
                if reply.status == Status.NO_TRANSPONDER:
                    break
                if reply.status not in (Status.OK, Status.MORE_DATA):
                    raise self._status_error(reply.status, "inventory")
                entries += self._parsed(parse_inventory, reply.data)
                if reply.status == Status.OK or len(entries) >= self.max_tags:
                    break
                more = True
            reads = [
                self._known_or_read(entry.uid, entry.dsfid) for entry in entries[: self.max_tags]
            ]
            # A tag that stayed in the field keeps its memory: read it once per stay, not per
            # inventory (a stack of ten re-read every poll would cost a quarter second each
            # time). A tag that left and came back is read again; a failed read is retried.
            self._known = {read.uid: read for read in reads if read.data}
            return reads

    def _known_or_read(self, uid: bytes, dsfid: int) -> TagRead:
        known = self._known.get(uid)
        if known is not None and known.dsfid == dsfid:
            return known
        return self._read_tag(uid, dsfid)

    def write_afi(self, uid: bytes, afi: int) -> None:
        if not 0 <= afi <= 0xFF:
            raise DeviceError(f"an AFI is a byte (0-255), not {afi}")
        with self._lock:
            self._known.pop(uid, None)  # whatever happens, read it afresh next time
            self._tag_command(Command.ISO_HOST, write_afi_request(uid, afi), "AFI write")

    def read_afi(self, uid: bytes) -> int:
        """The tag's AFI from its system information (ISO 15693 Get System Information)."""
        with self._lock:
            info = self._tag_command(
                Command.ISO_HOST, system_information_request(uid), "system information"
            )
        if len(info.data) <= 9:
            raise DeviceError(f"tag {uid.hex().upper()} reported no AFI in its system information")
        return info.data[9]

    def set_eas(self, uid: bytes, on: bool) -> None:
        """Set or clear the EAS bit of an NXP ICODE SLI tag."""
        command = NxpCommand.SET_EAS if on else NxpCommand.RESET_EAS
        self._tag_command(Command.ISO_CUSTOM, nxp_request(command, uid), "EAS write")

    def eas_alarm(self, uid: bytes) -> bool:
        """Whether the tag's EAS bit is set (an NXP tag answers the EAS alarm only then)."""
        reply = self._tag_command(
            Command.ISO_CUSTOM, nxp_request(NxpCommand.EAS_ALARM, uid), "EAS alarm",
            silent_ok=True,
        )  # fmt: skip
        return reply.status == Status.OK

    def write_blocks(self, uid: bytes, first: int, data: bytes) -> None:
        """Write user memory from block `first`; `data` in the tag's natural order."""
        if len(data) % BLOCK_SIZE or not data:
            raise DeviceError(f"{len(data)} bytes are not whole {BLOCK_SIZE}-byte blocks")
        if not 0 <= first <= 0xFF or len(data) > 32 * BLOCK_SIZE:
            raise DeviceError("write at most 32 blocks starting at block 0-255")
        request = write_blocks_request(uid, first, data)
        with self._lock:
            self._known.pop(uid, None)
            self._tag_command(Command.ISO_HOST, request, "block write")

    def read_blocks(self, uid: bytes, first: int, count: int) -> bytes:
        """User memory of one tag in the tag's natural byte order."""
        reply = self._tag_command(
            Command.ISO_HOST, read_blocks_request(uid, first, count), "block read"
        )
        return self._parsed(parse_read_blocks, reply.data)

    def software_version(self) -> str:
        """The reader's firmware revision, e.g. "3.01" (asks the reader)."""
        with self._lock:
            reply = self._transact(Command.GET_SOFTWARE_VERSION, b"")
            if reply.status != Status.OK or len(reply.data) < 2:
                raise self._status_error(reply.status, "software version")
            self._version = f"{reply.data[0]}.{reply.data[1]:02d}"
            return self._version

    def describe(self) -> str:
        """One line for technicians; never touches the line unless the version is unknown."""
        if not self._version and self._state == "ok":
            with contextlib.suppress(DeviceError):
                self.software_version()
        version = f", firmware {self._version}" if self._version else ""
        return f"FEIG ISO host reader on {self.port_url} (address {self.address}{version}): " + (
            self._state
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_port()

    # --- tag commands -----------------------------------------------------------------------

    def _read_tag(self, uid: bytes, dsfid: int) -> TagRead:
        """A tag from the inventory; a tag that does not answer the reads gets data=b""."""
        try:
            info = self._tag_command(
                Command.ISO_HOST, system_information_request(uid), "system information"
            )
            afi = info.data[9] if len(info.data) > 9 else (self.afi or 0)
            data = self.read_blocks(uid, 0, self.blocks)
        except TagError as err:
            log.info("tag %s: %s", uid.hex().upper(), err)
            return TagRead(uid=uid, data=b"", afi=self.afi or 0, dsfid=dsfid)
        return TagRead(uid=uid, data=data, afi=afi, dsfid=dsfid)

    def _tag_command(
        self, command: int, payload: bytes, what: str, *, silent_ok: bool = False
    ) -> Frame:
        """An addressed command; an RF error is retried once, as the radio often recovers."""
        with self._lock:
            for attempt in (1, 2):
                reply = self._transact(command, payload)
                if reply.status == Status.OK or (
                    silent_ok and reply.status == Status.NO_TRANSPONDER
                ):
                    return reply
                if reply.status == Status.RF_COMMUNICATION_ERROR and attempt == 1:
                    continue
                raise self._status_error(reply.status, what)
            raise AssertionError("unreachable")

    def _status_error(self, status: int, what: str) -> DeviceError:
        reasons = {
            Status.NO_TRANSPONDER: "tag not in the field",
            Status.WRITE_ERROR: "the tag refused the write",
            Status.ADDRESS_ERROR: "blocks outside the tag's memory",
            Status.RF_COMMUNICATION_ERROR: MOVE_BOOK,
            Status.RF_WARNING: "RF warning (noise near the antenna)",
        }
        reason = reasons.get(status, f"reader status 0x{status:02X}")
        if status in reasons:
            return TagError(f"{what} failed: {reason}")
        self._state = "degraded"
        return DeviceError(f"{what} failed on {self.port_url}: {reason}")

    def _parsed(self, parse, data: bytes):  # type: ignore[no-untyped-def]
        try:
            return parse(data)
        except FrameError as err:
            self._state = "degraded"
            raise DeviceError(f"garbled answer from the reader on {self.port_url}: {err}") from None

    def _iso(self, payload: bytes) -> Frame:
        return self._transact(Command.ISO_HOST, payload)

    # --- the line ---------------------------------------------------------------------------

    def _transact(self, command: int, payload: bytes) -> Frame:
        """Send one request, wait for its reply; resynchronise over any noise in between."""
        with self._lock:
            port = self._ensure_open()
            request = encode_frame(self.address, command, payload)
            try:
                port.reset_input_buffer()  # stale bytes would only be noise now
                port.write(request)
                frame = self._receive(port, command)
            except (serial.SerialException, OSError, termios.error) as err:
                self._drop_port()
                raise DeviceError(
                    f"FEIG reader on {self.port_url} disappeared (unplugged?): {err}"
                ) from None
            if frame is None:
                self._state = "degraded"
                raise DeviceError(
                    f"no answer from the FEIG reader on {self.port_url} within {self.timeout_s:g} s"
                )
            self._state = "ok"
            return frame

    def _receive(self, port: serial.SerialBase, command: int) -> Frame | None:
        buffer = bytearray()
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:  # the port's own timeout is 50 ms
            chunk = port.read(max(1, port.in_waiting))
            if not chunk:
                continue
            buffer += chunk
            while True:
                frame, end = scan(buffer)
                del buffer[:end]
                if frame is None:
                    break
                if frame.command == command and frame.payload:
                    return frame
                log.debug("ignoring a frame for command 0x%02X", frame.command)
            if len(buffer) > MAX_FRAME_LENGTH:
                del buffer[: len(buffer) - MAX_FRAME_LENGTH]
        return None

    def _ensure_open(self) -> serial.SerialBase:
        if self._closed:
            raise DeviceError(f"the FEIG reader on {self.port_url} was closed")
        if self._port is not None and self._port.is_open:
            return self._port
        try:
            self._port = self._open(serial.PARITY_EVEN)
        except (serial.SerialException, termios.error) as err:
            if not _is_einval(err):
                self._state = "missing"
                raise DeviceError(f"cannot open FEIG reader on {self.port_url}: {err}") from None
            # A pty cannot hold a parity setting (EINVAL): the emulator needs none anyway.
            log.debug("%s refuses parity (a pty?); opening with parity none", self.port_url)
            try:
                self._port = self._open(serial.PARITY_NONE)
            except (serial.SerialException, termios.error) as err2:
                self._state = "missing"
                raise DeviceError(f"cannot open FEIG reader on {self.port_url}: {err2}") from None
        self._state = "ok"
        return self._port

    def _open(self, parity: str) -> serial.SerialBase:
        port = serial.serial_for_url(
            self.port_url, do_not_open=True, baudrate=self.baud, parity=parity,
            bytesize=serial.EIGHTBITS, stopbits=serial.STOPBITS_ONE, timeout=0.05,
        )  # fmt: skip
        port.open()
        return port

    def _drop_port(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
        self._port = None
        self._state = "missing"


def _is_einval(err: serial.SerialException | termios.error) -> bool:
    """pyserial lets termios.error((22, ...)) through from open(); older versions wrap it."""
    code = err.errno if isinstance(err, serial.SerialException) else err.args[0]
    return code == errno.EINVAL or "Invalid argument" in str(err)
