"""A FEIG ISO host reader emulated over a pty pair: the real driver talks to it byte for byte.

`open_pty()` returns a slave path such as /dev/pts/7 to hand to the driver; a thread serves the
master side. Like the reader it answers nothing to a damaged frame, pages big inventories with
status 0x94, reports collisions and failed writes with the reader's status codes, and can take
as long as the radio would (`Delays`). `stop()` closes the pty: to the driver that is an
unplugged reader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import tty
from dataclasses import dataclass

from drivers.emulators.field import Fault, FieldFault, RfidField
from drivers.feig_protocol import (
    BLOCK_SIZE,
    BROADCAST_ADDRESS,
    INVENTORY_AFI,
    INVENTORY_MORE,
    MAX_FRAME_LENGTH,
    MFR_NXP,
    TR_TYPE_ICODE_SLI,
    UID_LENGTH,
    Command,
    Frame,
    InventoryEntry,
    IsoCommand,
    NxpCommand,
    Status,
    encode_frame,
    encode_inventory,
    encode_read_blocks,
    reverse_blocks,
    scan,
)

log = logging.getLogger(__name__)

SOFTWARE_VERSION = bytes([0x03, 0x01, 0x00, 0x00, 0x4A, 0x00, 0x08])  # SW-REV D-REV HW SW TR
_FAULT_STATUS = {
    Fault.NO_TAG: Status.NO_TRANSPONDER,
    Fault.COLLISION: Status.RF_COMMUNICATION_ERROR,
    Fault.UNREADABLE: Status.RF_COMMUNICATION_ERROR,
    Fault.WRITE_FAILED: Status.WRITE_ERROR,
    Fault.OUT_OF_RANGE: Status.ADDRESS_ERROR,
}


@dataclass(frozen=True)
class Delays:
    """Time the radio takes on ISO 15693 (the defaults are the physical figures)."""

    inventory_base_s: float = 0.004
    inventory_per_tag_s: float = 0.006
    read_s: float = 0.016
    system_information_s: float = 0.004
    write_block_s: float = 0.008
    afi_write_s: float = 0.008


class FeigEmulator:
    """Serves one RfidField as a FEIG ISO host reader on a pty."""

    def __init__(
        self,
        field: RfidField,
        *,
        address: int = BROADCAST_ADDRESS,
        delays: Delays | None = None,
        tags_per_reply: int = 20,
    ) -> None:
        self.field = field
        self.address = address
        self.delays = delays
        self.tags_per_reply = tags_per_reply
        self.frames_served = 0
        self._pending: list[InventoryEntry] = []  # inventory pages not yet fetched with MORE
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.path = ""

    # --- lifecycle --------------------------------------------------------------------------

    def open_pty(self) -> str:
        """Start serving on a new pty pair; returns the device path for the driver."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already serving; stop() it first")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation before the driver configures it
        # Keep the slave open while serving: with no slave open, reading the master fails (EIO).
        self.path = os.ttyname(self._slave)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="feig-emulator", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        """Stop and close the pty: the driver sees the device vanish, as when unplugged."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def inject(self, data: bytes) -> None:
        """Write raw bytes to the driver's side (line noise, a stray frame)."""
        if self._master is None:
            raise RuntimeError("the emulator is not serving")
        os.write(self._master, data)

    def __enter__(self) -> FeigEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ----------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._master is not None
        master = self._master
        buffer = bytearray()
        while not self._stopping.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            buffer += chunk
            while True:
                frame, end = scan(buffer)
                del buffer[:end]
                if frame is None:
                    break
                reply = self._answer(frame)
                if reply is not None:
                    try:
                        os.write(master, reply)
                    except OSError:
                        return
            if len(buffer) > MAX_FRAME_LENGTH:  # a stuck partial frame: keep only the tail
                del buffer[: len(buffer) - MAX_FRAME_LENGTH]

    def _answer(self, frame: Frame) -> bytes | None:
        if frame.address not in (self.address, BROADCAST_ADDRESS):
            return None  # another reader on the bus
        self.frames_served += 1
        try:
            status, data = self._dispatch(frame)
        except (IndexError, ValueError):  # a request too short for its command
            status, data = Status.LENGTH_ERROR, b""
        return encode_frame(self.address, frame.command, bytes([status]) + data)

    def _dispatch(self, frame: Frame) -> tuple[int, bytes]:
        request = frame.payload
        if frame.command == Command.GET_SOFTWARE_VERSION:
            return Status.OK, SOFTWARE_VERSION
        if frame.command == Command.BAUD_RATE_DETECT:
            return Status.OK, b""
        if frame.command == Command.ISO_HOST:
            return self._iso(request)
        if frame.command == Command.ISO_CUSTOM:
            return self._custom(request)
        return Status.UNKNOWN_COMMAND, b""

    def _iso(self, request: bytes) -> tuple[int, bytes]:
        command, mode = request[0], request[1]
        if command == IsoCommand.INVENTORY:
            afi = request[2] if mode & INVENTORY_AFI else None
            return self._inventory(more=bool(mode & INVENTORY_MORE), afi=afi)
        uid = _uid(request[2:])
        rest = request[2 + UID_LENGTH :]
        try:
            if command == IsoCommand.READ_MULTIPLE_BLOCKS:
                first, count = rest[0], rest[1]
                data = self.field.read(uid, first, count)
                self._sleep("read_s")
                return Status.OK, encode_read_blocks(data)
            if command == IsoCommand.WRITE_MULTIPLE_BLOCKS:
                first, count, size = rest[0], rest[1], rest[2]
                wire = rest[3 : 3 + count * size]
                if size != BLOCK_SIZE or len(wire) != count * size:
                    return Status.LENGTH_ERROR, b""
                self._sleep("write_block_s", count)
                try:
                    self.field.write(uid, first, reverse_blocks(wire, size))
                except FieldFault as fault:
                    if fault.fault is Fault.WRITE_FAILED:
                        return Status.WRITE_ERROR, bytes([first])  # DB-ADR-E
                    raise
                return Status.OK, b""
            if command == IsoCommand.WRITE_AFI:
                self._sleep("afi_write_s")
                self.field.write_afi(uid, rest[0])
                return Status.OK, b""
            if command == IsoCommand.GET_SYSTEM_INFORMATION:
                self._sleep("system_information_s")
                tag = self.field.system_information(uid)
                blocks = len(self.field.tag(uid).memory) // BLOCK_SIZE
                mem_size = bytes([BLOCK_SIZE - 1, blocks - 1])
                return Status.OK, bytes([tag.dsfid]) + uid + bytes([tag.afi]) + mem_size + b"\x01"
        except FieldFault as fault:
            return _FAULT_STATUS[fault.fault], b""
        return Status.UNKNOWN_COMMAND, b""

    def _inventory(self, *, more: bool, afi: int | None) -> tuple[int, bytes]:
        if not more:
            tags = self.field.inventory(afi)
            self._sleep("inventory_base_s")
            self._sleep("inventory_per_tag_s", len(tags))
            self._pending = [InventoryEntry(TR_TYPE_ICODE_SLI, dsfid, uid) for uid, dsfid in tags]
        if not self._pending:
            return Status.NO_TRANSPONDER, b""
        page = self._pending[: self.tags_per_reply]
        self._pending = self._pending[self.tags_per_reply :]
        status = Status.MORE_DATA if self._pending else Status.OK
        return status, encode_inventory(page)

    def _custom(self, request: bytes) -> tuple[int, bytes]:
        manufacturer, command = request[0], request[1]
        if manufacturer != MFR_NXP:
            return Status.UNKNOWN_COMMAND, b""
        uid = _uid(request[3:])
        try:
            if command in (NxpCommand.SET_EAS, NxpCommand.RESET_EAS):
                self._sleep("afi_write_s")
                self.field.set_eas(uid, command == NxpCommand.SET_EAS)
                return Status.OK, b""
            if command == NxpCommand.EAS_ALARM:
                if self.field.eas_alarm(uid):
                    return Status.OK, bytes(32)  # the EAS sequence; its content is not modelled
                return Status.NO_TRANSPONDER, b""
        except FieldFault as fault:
            return _FAULT_STATUS[fault.fault], b""
        return Status.UNKNOWN_COMMAND, b""

    def _sleep(self, which: str, times: int = 1) -> None:
        if self.delays is not None:
            time.sleep(getattr(self.delays, which) * times)


def _uid(data: bytes) -> bytes:
    if len(data) < UID_LENGTH:
        raise ValueError("request too short for a UID")
    return bytes(data[:UID_LENGTH])
