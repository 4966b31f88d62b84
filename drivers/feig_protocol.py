"""FEIG ISO host protocol: frames, CRC and the command/status codes the driver and emulator share.

Sources (public FEIG system manuals, read through manualshive/easymanua.ls/manualslib pages):
- ID ISC.MR102 manual H01113-4e §3.3 "CRC16 Calculation Algorithm": poly 0x8408 (x^16+x^12+x^5+1
  reversed), preset 0xFFFF, no final XOR, over every protocol byte before the CRC. That is
  CRC-16/MCRF4XX. Confirmed.
- ID ISC.MR/PR/PRH101 manual H60301-3e §2 "protocol frames": standard frame
  [LEN][COM-ADR][CMD][data][CRC16], LEN 6..255 counting the whole frame; advanced frame
  [0x02][ALEN hi][ALEN lo][COM-ADR][CMD]... with ALEN 8..65535; a reader answers in the advanced
  frame only when the answer exceeds 255 bytes; COM-ADR 255 always reaches the reader. Confirmed.
  The CRC goes low byte first: the manuals show "CRC16" at bytes n-1, n and FEIG's C example
  leaves the low byte first; the architecture map says the same (not shown byte by byte in the
  pages we could read).
- Same manual §6.1 [0xB0] replies: [LEN][ADR][0xB0][STATUS][data][CRC]; data only with STATUS
  0x00, 0x83, 0x94, 0x95. Confirmed. Status values are from FEIG's "Index of Status Bytes" as
  far as we know them (0x00, 0x01, 0x02, 0x03, 0x83, 0x84, 0x94, 0x95 are named in the pages).

Byte layouts of each command are next to its builder below, with what was confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

STX = 0x02  # first byte of an advanced frame
BROADCAST_ADDRESS = 0xFF  # "the reader can be addressed via COM-ADR 255 at any time"
MIN_STANDARD_LENGTH = 5  # a request without data: LEN ADR CMD CRC CRC
MAX_STANDARD_LENGTH = 0xFF
MIN_ADVANCED_LENGTH = 7  # STX ALEN ALEN ADR CMD CRC CRC
MAX_FRAME_LENGTH = 4096  # far more than any ISO 15693 answer; bounds the resync scan
UID_LENGTH = 8
BLOCK_SIZE = 4  # ISO 15693 library tags (NXP ICODE SLI/SLIX) have 4-byte blocks


class Command(IntEnum):
    """Control bytes (the CMD field)."""

    BAUD_RATE_DETECT = 0x52
    GET_SOFTWARE_VERSION = 0x65
    ISO_HOST = 0xB0  # ISO 15693 mandatory and optional commands
    ISO_CUSTOM = 0xB1  # ISO 15693 custom and proprietary commands, first data byte = MFR


class IsoCommand(IntEnum):
    """First request byte after 0xB0."""

    INVENTORY = 0x01
    READ_MULTIPLE_BLOCKS = 0x23
    WRITE_MULTIPLE_BLOCKS = 0x24
    WRITE_AFI = 0x27
    GET_SYSTEM_INFORMATION = 0x2B


class NxpCommand(IntEnum):
    """NXP ICODE SLI custom commands through 0xB1 with MFR 0x04 (manual H60301-3e §8.3)."""

    SET_EAS = 0xA2
    RESET_EAS = 0xA3
    EAS_ALARM = 0xA5


MFR_NXP = 0x04  # "0x04 Philips" in the MFR table of §8 [0xB1]


class Status(IntEnum):
    OK = 0x00
    NO_TRANSPONDER = 0x01
    DATA_FALSE = 0x02
    WRITE_ERROR = 0x03
    ADDRESS_ERROR = 0x04
    UNKNOWN_COMMAND = 0x80
    LENGTH_ERROR = 0x81
    RF_COMMUNICATION_ERROR = 0x83
    RF_WARNING = 0x84
    MORE_DATA = 0x94
    ISO_ERROR = 0x95


# MODE bytes. ADR bits b000 non-addressed / b001 addressed: confirmed (manual §6.1.4-6.1.8).
MODE_ADDRESSED = 0x01
# Inventory: bit 7 MORE ("more data requested" after status 0x94): confirmed (§6.1.1).
INVENTORY_MORE = 0x80
# Inventory with an AFI byte after MODE: NOT confirmed. The MR101 manual has no AFI option in
# this MODE byte (AFI filtering is a configuration block there); newer readers document
# "0x01 MODE (AFI) ..." but we could not read the bit position. We assume bit 0 because bit 4
# is ANT on the readers we could read. Check against the reader's own manual before use.
INVENTORY_AFI = 0x01


class FrameError(ValueError):
    """Bytes that are not one well-formed FEIG frame. The message says what is wrong."""


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MCRF4XX as FEIG specifies it (reflected 0x8408, preset 0xFFFF, no final XOR)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    """One protocol frame. `payload` is everything between CMD and the CRC.

    In a reply the payload starts with the status byte; see `status` and `data`.
    """

    address: int
    command: int
    payload: bytes = b""

    @property
    def status(self) -> int:
        if not self.payload:
            raise FrameError("the reply has no status byte")
        return self.payload[0]

    @property
    def data(self) -> bytes:
        return self.payload[1:]


def encode_frame(address: int, command: int, payload: bytes = b"") -> bytes:
    """The bytes of a frame: standard form when it fits in 255 bytes, advanced form otherwise."""
    if not (0 <= address <= 0xFF and 0 <= command <= 0xFF):
        raise FrameError(f"address and command must be bytes (got {address}, {command})")
    length = 3 + len(payload) + 2
    if length <= MAX_STANDARD_LENGTH:
        body = bytes([length, address, command]) + payload
    else:
        length += 2  # STX and a second length byte
        if length > MAX_FRAME_LENGTH:
            raise FrameError(f"a frame of {length} bytes is longer than {MAX_FRAME_LENGTH}")
        body = bytes([STX, length >> 8, length & 0xFF, address, command]) + payload
    crc = crc16(body)
    return body + bytes([crc & 0xFF, crc >> 8])


def _candidate_length(buffer: bytes | bytearray, start: int) -> int | None:
    """Length announced by a frame starting at `start`; 0 when no frame can start there.

    None when more bytes are needed to tell.
    """
    first = buffer[start]
    if first == STX:  # LEN 2 is impossible in a standard frame, so STX is unambiguous
        if len(buffer) - start < 3:
            return None
        length = buffer[start + 1] << 8 | buffer[start + 2]
        return length if MIN_ADVANCED_LENGTH <= length <= MAX_FRAME_LENGTH else 0
    return first if first >= MIN_STANDARD_LENGTH else 0


def _frame_at(buffer: bytes | bytearray, start: int, length: int) -> Frame | None:
    raw = buffer[start : start + length]
    crc = crc16(raw[:-2])
    if raw[-2] != crc & 0xFF or raw[-1] != crc >> 8:
        return None
    head = 3 if raw[0] == STX else 1
    if length < head + 4:
        return None
    return Frame(raw[head], raw[head + 1], bytes(raw[head + 2 : -2]))


def scan(buffer: bytes | bytearray) -> tuple[Frame | None, int]:
    """Find the first whole frame with a good CRC in a receive buffer (resynchronising).

    Returns (frame, end) where `end` is how many leading bytes the caller may drop: up to the
    end of the frame found, or, with no frame, up to the first place where a frame might still be
    arriving. Bytes skipped on the way are line noise or damaged frames, which the reader
    ignores without an answer.
    """
    waiting_from: int | None = None
    for start in range(len(buffer)):
        length = _candidate_length(buffer, start)
        if length == 0:
            continue
        if length is None or start + length > len(buffer):
            if waiting_from is None:
                waiting_from = start
            continue
        frame = _frame_at(buffer, start, length)
        if frame is not None:
            return frame, start + length
    return None, len(buffer) if waiting_from is None else waiting_from


def decode_frame(raw: bytes | bytearray) -> Frame:
    """Exactly one frame, or FrameError saying why not."""
    if len(raw) < MIN_STANDARD_LENGTH:
        raise FrameError(f"a frame has at least {MIN_STANDARD_LENGTH} bytes, got {len(raw)}")
    length = _candidate_length(raw, 0)
    if not length:
        raise FrameError(f"the first byte 0x{raw[0]:02X} is not a frame length or STX")
    if length != len(raw):
        raise FrameError(f"the frame announces {length} bytes but {len(raw)} were given")
    frame = _frame_at(raw, 0, length)
    if frame is None:
        raise FrameError("CRC mismatch (or a frame too short for its header)")
    return frame


def reverse_blocks(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Reverse the bytes inside each block: FEIG sends and expects every block MSB first.

    The tag stores byte 0 of a block first; the reader puts the block's last byte first on the
    wire, on reads and on writes. The operation is its own inverse.
    """
    if len(data) % block_size:
        raise ValueError(f"{len(data)} bytes are not whole {block_size}-byte blocks")
    return b"".join(data[i : i + block_size][::-1] for i in range(0, len(data), block_size))


def check_uid(uid: bytes) -> bytes:
    uid = bytes(uid)
    if len(uid) != UID_LENGTH:
        raise ValueError(f"an ISO 15693 UID has {UID_LENGTH} bytes, not {len(uid)}")
    return uid


# --- requests (payload after CMD) --------------------------------------------------------------


def inventory_request(*, more: bool = False, afi: int | None = None) -> bytes:
    """0xB0 [0x01][MODE]([AFI]). Reply data: [DATA-SETS] then per tag [TR-TYPE][DSFID][UID 8].

    The reply layout is confirmed (manual H60301-3e §6.1.1, "standard" response); the AFI option
    is our assumption (see INVENTORY_AFI).
    """
    mode = (INVENTORY_MORE if more else 0) | (INVENTORY_AFI if afi is not None else 0)
    return bytes([IsoCommand.INVENTORY, mode]) + (bytes([afi]) if afi is not None else b"")


def read_blocks_request(uid: bytes, first: int, count: int) -> bytes:
    """0xB0 [0x23][MODE=addressed][UID 8][DB-ADR][DB-N]. Confirmed (§6.1.4).

    Reply data: [DB-N][DB-SIZE] then per block [SEC-STATUS][DB-SIZE bytes, MSB first].
    """
    return (
        bytes([IsoCommand.READ_MULTIPLE_BLOCKS, MODE_ADDRESSED])
        + check_uid(uid)
        + bytes([first, count])
    )


def write_blocks_request(uid: bytes, first: int, data: bytes) -> bytes:
    """0xB0 [0x24][MODE][UID 8][DB-ADR][DB-N][DB-SIZE][blocks, MSB first]. Confirmed (§6.1.5).

    `data` is in the tag's natural order; this reverses each block for the wire.
    A failed write answers STATUS 0x03 with [DB-ADR-E], the first block not written.
    """
    count = len(data) // BLOCK_SIZE
    return (
        bytes([IsoCommand.WRITE_MULTIPLE_BLOCKS, MODE_ADDRESSED])
        + check_uid(uid)
        + bytes([first, count, BLOCK_SIZE])
        + reverse_blocks(data)
    )


def write_afi_request(uid: bytes, afi: int) -> bytes:
    """0xB0 [0x27][MODE][UID 8][AFI]. Confirmed (§6.1.8)."""
    return bytes([IsoCommand.WRITE_AFI, MODE_ADDRESSED]) + check_uid(uid) + bytes([afi])


def system_information_request(uid: bytes) -> bytes:
    """0xB0 [0x2B][MODE][UID 8]. Confirmed (§6.1.12).

    Reply data: [DSFID][UID 8][AFI][MEM-SIZE 2][IC-REF]. The order of the two MEM-SIZE bytes
    (block size - 1, number of blocks - 1) is our assumption; the driver does not rely on it.
    """
    return bytes([IsoCommand.GET_SYSTEM_INFORMATION, MODE_ADDRESSED]) + check_uid(uid)


def nxp_request(command: NxpCommand, uid: bytes) -> bytes:
    """0xB1 [MFR=0x04][CMD][MODE][UID 8]. Set/Reset EAS layout confirmed (§8.3.1, §8.3.2).

    EAS Alarm (0xA5) with the same layout is our assumption by analogy; we assume its reply is
    STATUS 0x00 with the 32-byte EAS sequence when the EAS bit is set, and STATUS 0x01 (the tag
    keeps silent) when it is not.
    """
    return bytes([MFR_NXP, command, MODE_ADDRESSED]) + check_uid(uid)


# --- replies (data after STATUS) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    tr_type: int
    dsfid: int
    uid: bytes  # MSB (0xE0) first, as it travels


INVENTORY_ENTRY_LENGTH = 10
TR_TYPE_ICODE_SLI = 0x03  # "I-Code SLI" in FEIG's transponder type codes (annex A), assumed


def parse_inventory(data: bytes) -> list[InventoryEntry]:
    if not data:
        raise FrameError("an inventory reply has no DATA-SETS byte")
    count, body = data[0], data[1:]
    if len(body) != count * INVENTORY_ENTRY_LENGTH:
        raise FrameError(f"inventory reply announces {count} tags but carries {len(body)} bytes")
    return [
        InventoryEntry(body[i], body[i + 1], bytes(body[i + 2 : i + INVENTORY_ENTRY_LENGTH]))
        for i in range(0, len(body), INVENTORY_ENTRY_LENGTH)
    ]


def encode_inventory(entries: list[InventoryEntry]) -> bytes:
    return bytes([len(entries)]) + b"".join(
        bytes([e.tr_type, e.dsfid]) + check_uid(e.uid) for e in entries
    )


def parse_read_blocks(data: bytes) -> bytes:
    """User memory in the tag's natural order from a read-multiple-blocks reply."""
    if len(data) < 2:
        raise FrameError("a block read reply has no DB-N/DB-SIZE bytes")
    count, size = data[0], data[1]
    body = data[2:]
    if size == 0 or len(body) != count * (size + 1):
        raise FrameError(f"block read reply announces {count}x{size} bytes, carries {len(body)}")
    blocks = [body[i + 1 : i + 1 + size] for i in range(0, len(body), size + 1)]
    return b"".join(block[::-1] for block in blocks)


def encode_read_blocks(natural: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Reply data for natural-order memory: [DB-N][DB-SIZE] + per block [SEC=0][reversed]."""
    wire = reverse_blocks(natural, block_size)
    blocks = [wire[i : i + block_size] for i in range(0, len(wire), block_size)]
    return bytes([len(blocks), block_size]) + b"".join(b"\x00" + block for block in blocks)
