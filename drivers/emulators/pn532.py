"""An NXP PN532 on its high-speed UART (HSU), emulated over a pty pair, with one card to read.

`open_pty()` returns a device path for the driver; a thread serves the master side. The chip
speaks the PN532 host protocol byte for byte (user manual UM0701-02, section 6.2):

    normal frame     00 00 FF LEN LCS TFI PD0..PDn DCS 00     (LEN + LCS = 0, TFI + PD + DCS = 0)
    extended frame   00 00 FF FF FF LENM LENL LCS TFI PD... DCS 00   (more than 255 bytes)
    ACK / NACK       00 00 FF 00 FF 00 / 00 00 FF FF 00 00
    error frame      00 00 FF 01 FF 7F 81 00    (a well-formed frame the chip cannot run)

Host frames carry TFI D4, answers D5 and the command code plus one. A valid command is
acknowledged, then answered; a frame with a bad length or data checksum is ignored, as the
chip ignores it; a host ACK cancels a command still waiting (InListPassiveTarget with
infinite retries and no card) and a host NACK asks for the last answer again. After
PowerDown the byte that wakes the chip is lost, which is why hosts send the 0x55 / 0x00
wake-up preamble first.

The card on the reader (see `ntag213`, `ntag215`, `type4_tag`, `type4b_tag`,
`mifare_classic`) is an NFC Forum Type 2 tag (NTAG21x, 7-byte UID, NDEF in page memory), a
Type 4 tag on Type A or B (ISO-DEP, answering SELECT NDEF application / CC file / NDEF file
and READ BINARY) or a MIFARE Classic card that gives its 4-byte UID but answers no read (many
library cards). FeliCa and Jewel cards are not emulated: searches for them find nothing.

Faults: `unplug()` (the pty goes away, as a pulled USB cable), `inject()` (noise to the
host), `garble_replies()` (answers replaced by noise), `remove_card_after()` (the card leaves
the field in the middle of a read) and `answer_nothing` (a port with something else on it).
Emulated but simplified: the baud rate is bookkeeping only (a pty has no line speed), timing
is instant, and MIFARE Classic authentication is not modelled.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# --- host frames ------------------------------------------------------------------------

ACK = bytes.fromhex("0000FF00FF00")
NACK = bytes.fromhex("0000FFFF0000")
ERROR_FRAME = bytes.fromhex("0000FF01FF7F8100")  # application-level error (syntax error)
HOST_TFI = 0xD4
CHIP_TFI = 0xD5
MAX_PAYLOAD = 265  # TFI + command code + 263 data bytes: the PN532's largest frame
STALE_AFTER_S = 0.2  # a partial frame this old is noise, not the start of a command


@dataclass(frozen=True)
class HostFrame:
    """One thing the parser recognised: "ack", "nack", "info" (payload = TFI + data) or "bad"."""

    kind: str
    payload: bytes = b""


def checksum(data: bytes) -> int:
    """The byte that makes `data` plus it sum to zero (LCS and DCS)."""
    return -sum(data) & 0xFF


def encode_frame(payload: bytes) -> bytes:
    """A normal information frame, or an extended one for payloads over 255 bytes."""
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"a PN532 frame carries 1-{MAX_PAYLOAD} bytes, not {len(payload)}")
    if len(payload) <= 0xFF:
        head = bytes([0x00, 0x00, 0xFF, len(payload), checksum(bytes([len(payload)]))])
    else:
        size = len(payload).to_bytes(2, "big")
        head = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF]) + size + bytes([checksum(size)])
    return head + payload + bytes([checksum(payload), 0x00])


def command_frame(command: int, data: bytes = b"") -> bytes:
    """A host command frame (TFI D4), as a driver sends it."""
    return encode_frame(bytes([HOST_TFI, command]) + data)


class HostFrameParser:
    """Splits the byte stream from the host into frames; never raises on any input.

    Bytes before a start code (00 FF) are skipped, so the wake-up preamble (55 55 00 00 …)
    and line noise cost nothing. A frame whose length checksum fails is dropped from its start
    code on (the scan resumes right after it); one whose data checksum fails is dropped whole.
    A partial frame older than `stale_after_s` is dropped when the next bytes arrive.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, stale_after_s: float = STALE_AFTER_S
    ) -> None:
        self._buffer = bytearray()
        self._clock = clock
        self._stale_after_s = stale_after_s
        self._last_byte_at = 0.0

    @property
    def pending(self) -> int:
        """Bytes held back as the start of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[HostFrame]:
        now = self._clock()
        if self._buffer and now - self._last_byte_at > self._stale_after_s:
            self._buffer.clear()
        if data:
            self._last_byte_at = now
        self._buffer += data
        frames: list[HostFrame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> HostFrame | None:
        buf = self._buffer
        start = buf.find(b"\x00\xff")
        if start < 0:
            # Keep a trailing 00: it may be the first half of the next start code.
            keep = 1 if buf.endswith(b"\x00") else 0
            del buf[: len(buf) - keep]
            return None
        del buf[:start]
        if len(buf) < 4:
            return None
        length, lcs = buf[2], buf[3]
        if (length, lcs) == (0x00, 0xFF):
            del buf[:4]
            return HostFrame("ack")
        if (length, lcs) == (0xFF, 0x00):
            del buf[:4]
            return HostFrame("nack")
        if (length, lcs) == (0xFF, 0xFF):
            if len(buf) < 7:
                return None
            if (buf[4] + buf[5] + buf[6]) & 0xFF:
                del buf[:2]
                return HostFrame("bad", b"extended length checksum")
            size, header = buf[4] << 8 | buf[5], 7
        elif (length + lcs) & 0xFF == 0 and length:
            size, header = length, 4
        else:
            del buf[:2]
            return HostFrame("bad", b"length checksum")
        if size > MAX_PAYLOAD or size == 0:
            del buf[:2]
            return HostFrame("bad", b"length out of range")
        if len(buf) < header + size + 1:
            return None
        payload = bytes(buf[header : header + size])
        dcs = buf[header + size]
        del buf[: header + size + 1]
        if checksum(payload) != dcs:
            return HostFrame("bad", b"data checksum")
        return HostFrame("info", payload)


# --- NDEF messages for the cards ----------------------------------------------------------

TNF_WELL_KNOWN = 0x01
_URI_PREFIXES = ("", "http://www.", "https://www.", "http://", "https://", "tel:", "mailto:")


@dataclass(frozen=True)
class NdefRecord:
    tnf: int
    type: bytes
    payload: bytes


def text_record(text: str, lang: str = "sl") -> NdefRecord:
    """An NFC Forum Text record (UTF-8), e.g. a library card number."""
    code = lang.encode("ascii")
    return NdefRecord(TNF_WELL_KNOWN, b"T", bytes([len(code)]) + code + text.encode("utf-8"))


def uri_record(uri: str) -> NdefRecord:
    """An NFC Forum URI record with the usual prefix abbreviation."""
    code = max(
        (i for i, prefix in enumerate(_URI_PREFIXES) if uri.startswith(prefix)),
        key=lambda i: len(_URI_PREFIXES[i]),
    )
    rest = uri[len(_URI_PREFIXES[code]) :].encode()
    return NdefRecord(TNF_WELL_KNOWN, b"U", bytes([code]) + rest)


def ndef_message(*records: NdefRecord) -> bytes:
    """The bytes of an NDEF message (short records where the payload fits in 255 bytes)."""
    out = bytearray()
    for index, record in enumerate(records):
        short = len(record.payload) < 256
        header = record.tnf | (0x10 if short else 0)  # SR: short record
        header |= 0x80 if index == 0 else 0  # MB: message begin
        header |= 0x40 if index == len(records) - 1 else 0  # ME: message end
        out += bytes([header, len(record.type)])
        out += bytes([len(record.payload)]) if short else len(record.payload).to_bytes(4, "big")
        out += record.type + record.payload
    return bytes(out)


# --- cards --------------------------------------------------------------------------------


def crc_a(data: bytes) -> bytes:
    """ISO/IEC 14443-3 CRC_A, low byte first, as the card appends it to its frames."""
    reg = 0x6363
    for octet in data:
        for pos in range(8):
            bit = (reg ^ (octet >> pos)) & 1
            reg >>= 1
            if bit:
                reg ^= 0x8408
    return bytes([reg & 0xFF, reg >> 8])


@dataclass(frozen=True)
class Reply:
    """A card's answer on the air; `short` for the 4-bit ACK/NAK of Type 2 tags (no CRC)."""

    data: bytes
    short: bool = False


ACK_4BIT = Reply(b"\x0a", short=True)
NAK_4BIT = Reply(b"\x00", short=True)


class Card:
    """An ISO/IEC 14443 Type A card: anticollision data, power and halt state, and commands."""

    product = "card"
    technology = "A"
    sens_res = b"\x00\x04"  # ATQA as the PN532 reports it, most significant byte first
    sel_res = 0x08  # SAK
    ats: bytes | None = None  # answer to RATS, for ISO-DEP cards

    def __init__(self, uid: bytes) -> None:
        if len(uid) not in (4, 7, 10):
            raise ValueError(f"a Type A UID has 4, 7 or 10 bytes, not {len(uid)}")
        self.uid = bytes(uid)
        self.state = "idle"  # idle (powered), active (selected), protocol (ISO-DEP), halt

    def power_off(self) -> None:
        self.state = "idle"

    def answers_reqa(self) -> bool:
        return self.state != "halt"

    def select(self) -> None:
        self.state = "active"

    def receive(self, frame: bytes) -> Reply | None:
        """The card's answer to one frame from the reader, or None (silence, a timeout)."""
        if frame == b"\x50\x00":  # HLTA
            self.state = "halt"
            return None
        return None

    def apdu(self, command: bytes) -> bytes:
        """ISO 7816-4 command in, response out (ISO-DEP cards only)."""
        return b"\x6d\x00"

    def describe(self) -> str:
        return f"{self.product} with a {len(self.uid)}-byte UID"


class ClassicCard(Card):
    """MIFARE Classic 1K as a reader without its keys meets it: a UID and nothing to read."""

    product = "MIFARE Classic 1K"

    def receive(self, frame: bytes) -> Reply | None:
        if self.state != "active":
            return None
        if frame == b"\x50\x00":
            self.state = "halt"
        return None  # READ without authentication: no answer (and no key to authenticate with)


class Type2Tag(Card):
    """NFC Forum Type 2 tag (NXP NTAG21x): 4-byte pages, READ / FAST_READ / WRITE / GET_VERSION."""

    sens_res = b"\x00\x44"
    sel_res = 0x00

    def __init__(self, uid: bytes, memory: bytes, version: bytes, product: str) -> None:
        if len(uid) != 7:
            raise ValueError("an NTAG has a 7-byte UID")
        super().__init__(uid)
        self.memory = bytearray(memory)
        self.version = bytes(version)
        self.product = product
        self.user_pages = range(4, self.pages - 5)  # the last five pages hold the configuration

    @property
    def pages(self) -> int:
        return len(self.memory) // 4

    def receive(self, frame: bytes) -> Reply | None:
        if self.state != "active" or not frame:
            return None
        command, args = frame[0], frame[1:]
        if command == 0x30 and len(args) == 1:  # READ: 4 pages, rolling over at the end
            if args[0] >= self.pages:
                return self._nak()
            data = (self.memory + self.memory)[args[0] * 4 : args[0] * 4 + 16]
            return Reply(bytes(data))
        if command == 0x3A and len(args) == 2:  # FAST_READ start..end
            first, last = args
            if first > last or last >= self.pages:
                return self._nak()
            return Reply(bytes(self.memory[first * 4 : last * 4 + 4]))
        if command == 0x60 and not args:  # GET_VERSION
            return Reply(self.version)
        if command == 0x3C and args == b"\x00":  # READ_SIG: the originality signature
            return Reply(bytes(32))
        if command == 0xA2 and len(args) == 5:  # WRITE one page
            page = args[0]
            if page not in self.user_pages and page not in (2, 3):
                return self._nak()
            self.memory[page * 4 : page * 4 + 4] = args[1:]
            return ACK_4BIT
        if frame == b"\x50\x00":
            self.state = "halt"
            return None
        self.state = "idle"  # an unknown command: the tag falls silent until selected again
        return None

    def _nak(self) -> Reply:
        self.state = "idle"
        return NAK_4BIT


class Type4Tag(Card):
    """NFC Forum Type 4 tag (ISO-DEP) with the NDEF application, its CC file and NDEF file."""

    product = "Type 4 tag"
    sel_res = 0x20
    ats = bytes.fromhex("0578807002")  # FSCI 8 (256 bytes), FWI 7, no CID/NAD
    NDEF_AID = (bytes.fromhex("D2760000850101"), bytes.fromhex("D2760000850100"))
    CC_FILE = b"\xe1\x03"
    NDEF_FILE = b"\xe1\x04"
    NDEF_FILE_SIZE = 0x0400
    MAX_LE = 0x003B  # what NXP's DESFire-based tags announce
    MAX_LC = 0x0034

    def __init__(self, uid: bytes, ndef: bytes) -> None:
        super().__init__(uid)
        self.sens_res = b"\x03\x44" if len(uid) == 7 else b"\x00\x04"
        body = len(ndef).to_bytes(2, "big") + ndef
        if len(body) > self.NDEF_FILE_SIZE:
            raise ValueError("the NDEF message does not fit the NDEF file")
        self.files = {
            self.CC_FILE: bytearray(
                b"\x00\x0f\x20"
                + self.MAX_LE.to_bytes(2, "big")
                + self.MAX_LC.to_bytes(2, "big")
                + b"\x04\x06"
                + self.NDEF_FILE
                + self.NDEF_FILE_SIZE.to_bytes(2, "big")
                + b"\x00\x00"  # read and write access granted
            ),
            self.NDEF_FILE: bytearray(body.ljust(self.NDEF_FILE_SIZE, b"\x00")),
        }
        self._application = False
        self._file: bytes | None = None
        self._chained = bytearray()
        self._block = 0

    def power_off(self) -> None:
        super().power_off()
        self._application = False
        self._file = None
        self._chained.clear()

    def receive(self, frame: bytes) -> Reply | None:
        if not frame:
            return None
        if self.state == "active":
            if frame[0] == 0xE0 and len(frame) == 2:  # RATS
                self.state = "protocol"
                self._block = 1
                return Reply(self.ats or b"\x01")
            if frame == b"\x50\x00":
                self.state = "halt"
            return None
        if self.state != "protocol":
            return None
        pcb = frame[0]
        if pcb & 0xE2 == 0x02 and not pcb & 0x0C:  # I-block without CID or NAD
            self._block = pcb & 1
            if pcb & 0x10:  # chaining: more of this command follows
                self._chained += frame[1:]
                return Reply(bytes([0xA2 | self._block]))
            command = bytes(self._chained + frame[1:])
            self._chained.clear()
            return Reply(bytes([0x02 | self._block]) + self.apdu(command))
        if pcb & 0xE6 == 0xA2:  # R(ACK) or R(NAK), as a presence check: acknowledge
            return Reply(bytes([0xA2 | self._block]))
        if pcb & 0xF7 == 0xC2:  # S(DESELECT), answered with the same CID if it has one
            self.state = "halt"
            return Reply(frame[:2] if pcb & 0x08 else frame[:1])
        return None

    def apdu(self, command: bytes) -> bytes:
        if len(command) < 4:
            return b"\x67\x00"
        cla, ins, p1, p2 = command[:4]
        body = command[4:]
        if cla != 0x00:
            return b"\x6e\x00"
        if ins == 0xA4:
            return self._select(p1, p2, body)
        if ins == 0xB0:
            return self._read_binary(p1 << 8 | p2, body)
        if ins == 0xD6:
            return self._update_binary(p1 << 8 | p2, body)
        return b"\x6d\x00"

    def _select(self, p1: int, p2: int, body: bytes) -> bytes:
        if not body or len(body) < 1 + body[0]:
            return b"\x67\x00"
        name = body[1 : 1 + body[0]]
        if p1 == 0x04:
            if name in self.NDEF_AID:
                self._application, self._file = True, None
                return b"\x90\x00"
            return b"\x6a\x82"
        if p1 == 0x00 and self._application and name in self.files:
            self._file = name
            return b"\x90\x00"
        return b"\x6a\x82"

    def _read_binary(self, offset: int, body: bytes) -> bytes:
        if self._file is None:
            return b"\x69\x86"  # no file selected
        content = self.files[self._file]
        length = (body[0] or 256) if body else 256
        if offset > len(content):
            return b"\x6b\x00"
        return bytes(content[offset : offset + min(length, self.MAX_LE)]) + b"\x90\x00"

    def _update_binary(self, offset: int, body: bytes) -> bytes:
        if self._file != self.NDEF_FILE or not body or len(body) != 1 + body[0]:
            return b"\x69\x86" if self._file != self.NDEF_FILE else b"\x67\x00"
        content = self.files[self._file]
        if offset + body[0] > len(content):
            return b"\x6b\x00"
        content[offset : offset + body[0]] = body[1:]
        return b"\x90\x00"


class Type4BTag(Type4Tag):
    """A Type 4 tag on ISO/IEC 14443 Type B: REQB/WUPB, ATQB, ATTRIB, then ISO-DEP as above."""

    product = "Type 4B tag"
    technology = "B"

    def __init__(self, pupi: bytes, ndef: bytes) -> None:
        if len(pupi) != 4:
            raise ValueError(f"a Type B PUPI has 4 bytes, not {len(pupi)}")
        super().__init__(pupi + b"\x00\x00\x00", ndef)  # Type A needs a UID length; unused
        self.uid = bytes(pupi)
        # ATQB: 50, PUPI, application data, protocol info (106 kbps; FSCI 8 = 256 bytes and
        # ISO 14443-4; FWI 7, CID supported).
        self.atqb = b"\x50" + self.uid + bytes(4) + bytes.fromhex("008171")

    def receive(self, frame: bytes) -> Reply | None:
        if len(frame) == 3 and frame[0] == 0x05:  # REQB, or WUPB (PARAM bit 3)
            if (self.state == "halt" and not frame[2] & 0x08) or frame[1] != 0x00:
                return None  # halted (REQB does not wake it) or asked for another AFI
            self.state = "ready"
            return Reply(self.atqb)
        if self.state == "ready" and len(frame) >= 9 and frame[0] == 0x1D:  # ATTRIB
            if frame[1:5] != self.uid:
                return None
            self.state, self._block = "protocol", 1
            return Reply(bytes([frame[8] & 0x0F]))  # MBLI 0, the CID it was given
        return super().receive(frame)


def _ntag(
    uid: bytes | None, ndef: bytes | None, pages: int, version: bytes, product: str
) -> Type2Tag:
    uid = bytes.fromhex("04A2246A2F5580") if uid is None else bytes(uid)
    if len(uid) != 7:
        raise ValueError("an NTAG has a 7-byte UID")
    data_area = (pages - 9) * 4  # pages 4 .. pages-6
    memory = bytearray(pages * 4)
    memory[0:4] = bytes([uid[0], uid[1], uid[2], 0x88 ^ uid[0] ^ uid[1] ^ uid[2]])
    memory[4:8] = uid[3:7]
    memory[8:12] = bytes([uid[3] ^ uid[4] ^ uid[5] ^ uid[6], 0x48, 0x00, 0x00])
    memory[12:16] = bytes([0xE1, 0x10, data_area // 8, 0x00])  # capability container
    message = ndef or b""
    tlv = b"\x03" + (
        bytes([len(message)]) if len(message) < 0xFF else b"\xff" + len(message).to_bytes(2, "big")
    )
    tlv += message + b"\xfe"
    if len(tlv) > data_area:
        raise ValueError(f"the NDEF message does not fit the {product}'s {data_area} bytes")
    memory[16 : 16 + len(tlv)] = tlv
    config = (pages - 5) * 4
    memory[config : config + 8] = bytes([0, 0, 0, 0xBD, 0x04, 0, 0, 0xFF])  # locks, CFG0
    return Type2Tag(uid, bytes(memory), version, product)


def ntag213(uid: bytes | None = None, *, ndef: bytes | None = None) -> Type2Tag:
    """NXP NTAG213: 45 pages, 144 bytes of NDEF memory; `ndef` is a message (ndef_message)."""
    return _ntag(uid, ndef, 45, bytes.fromhex("0004040201000F03"), "NTAG213")


def ntag215(uid: bytes | None = None, *, ndef: bytes | None = None) -> Type2Tag:
    """NXP NTAG215: 135 pages, 504 bytes of NDEF memory."""
    return _ntag(uid, ndef, 135, bytes.fromhex("0004040201001103"), "NTAG215")


def type4_tag(uid: bytes | None = None, *, ndef: bytes | None = None) -> Type4Tag:
    """A Type 4 tag (DESFire-like) with a 4- or 7-byte UID and an NDEF file."""
    return Type4Tag(bytes.fromhex("04112233445566") if uid is None else bytes(uid), ndef or b"")


def type4b_tag(pupi: bytes | None = None, *, ndef: bytes | None = None) -> Type4BTag:
    """A Type 4 tag on Type B (as some national ID and transit cards are), with a 4-byte PUPI."""
    return Type4BTag(bytes.fromhex("5A0B1C2D") if pupi is None else bytes(pupi), ndef or b"")


def mifare_classic(uid: bytes | None = None) -> ClassicCard:
    """A MIFARE Classic 1K card (4-byte UID); its sectors cannot be read without keys."""
    uid = bytes.fromhex("3A9F12C4") if uid is None else bytes(uid)
    if len(uid) != 4:
        raise ValueError("this MIFARE Classic card has a 4-byte UID")
    return ClassicCard(uid)


# --- the chip -----------------------------------------------------------------------------

FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # PN532, version 1.6, ISO A + ISO B + ISO 18092
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)
REG_TX_MODE, REG_RX_MODE, REG_TX_CONTROL, REG_FIFO_DATA = 0x6302, 0x6303, 0x6304, 0x6339
CRC_ENABLE = 0x80  # bit 7 of CIU_TxMode / CIU_RxMode
SENS_REQ = 0x26  # REQA, left in the CIU FIFO when no card answered it
AUTO_RATS = 0x10  # SetParameters flag fAutomaticRATS
STATUS_OK, STATUS_TIMEOUT, STATUS_NOT_ACCEPTABLE = 0x00, 0x01, 0x27

# Command codes the emulated chip knows (UM0701-02 chapter 7), for describe() and tests.
COMMANDS = {
    0x00: "Diagnose",
    0x02: "GetFirmwareVersion",
    0x04: "GetGeneralStatus",
    0x06: "ReadRegister",
    0x08: "WriteRegister",
    0x0C: "ReadGPIO",
    0x0E: "WriteGPIO",
    0x10: "SetSerialBaudRate",
    0x12: "SetParameters",
    0x14: "SAMConfiguration",
    0x16: "PowerDown",
    0x32: "RFConfiguration",
    0x40: "InDataExchange",
    0x42: "InCommunicateThru",
    0x44: "InDeselect",
    0x46: "InJumpForPSL",
    0x4A: "InListPassiveTarget",
    0x50: "InATR",
    0x52: "InRelease",
    0x54: "InSelect",
    0x56: "InJumpForDEP",
    0x60: "InAutoPoll",
}
# RFConfiguration item -> how many data bytes it takes
_RF_ITEMS = {0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9}


class SyntaxFault(Exception):
    """A well-formed frame whose parameters the chip cannot use: it answers the error frame."""


@dataclass
class ChipState:
    registers: dict[int, int] = field(
        default_factory=lambda: {REG_TX_MODE: 0x00, REG_RX_MODE: 0x00, REG_TX_CONTROL: 0x80}
    )
    parameters: int = 0x14  # fAutomaticATR_RES and fAutomaticRATS after reset
    passive_retries: int = 0xFF  # MxRtyPassiveActivation: 0xFF = try until a card comes
    sam_mode: int = 1
    field_on: bool = False
    baudrate: int = 115200
    asleep: bool = False


class Pn532Chip:
    """The PN532 firmware as seen from the host: bytes in, bytes out, no threads, no pty.

    `receive()` takes whatever arrived on the UART and returns the chunks to send back (ACK,
    answer); `tick()` lets a waiting InListPassiveTarget finish when a card arrives. The card
    is changed with `place()` / `remove()`. The emulator serialises all calls with one lock.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.parser = HostFrameParser(clock=clock)
        self.state = ChipState()
        self.card: Card | None = None
        self.target: Card | None = None  # the card InListPassiveTarget activated (Tg 1)
        self.target_iso_dep = False  # the chip itself sent RATS (fAutomaticRATS)
        self.fifo_sens_req = False
        self.commands: list[int] = []  # every command code run, in order (for tests)
        self.bad_frames = 0
        self.last_answer = b""
        self.pending: tuple[int, bytes] | None = None  # a passive-target search still waiting
        self._pending_baud: int | None = None
        self.remove_after: int | None = None  # RF exchanges left before the card leaves

    # --- the card ---------------------------------------------------------------------------

    def place(self, card: Card) -> None:
        card.power_off()
        self.card = card
        self.target = None
        self.remove_after = None

    def remove(self) -> None:
        self.card = None
        self.target = None
        self.remove_after = None

    # --- bytes in, bytes out ---------------------------------------------------------------

    def receive(self, data: bytes) -> list[bytes]:
        if self.state.asleep and data:
            self.state.asleep = False  # the byte that wakes the chip is lost
            data = data[1:]
        out: list[bytes] = []
        for frame in self.parser.feed(data):
            out += self._handle(frame)
        return out

    def tick(self) -> list[bytes]:
        """Finish a waiting passive-target search if a card has come."""
        if self.pending is None or self.card is None:
            return []
        code, request = self.pending
        answer = self._in_list_passive_target(request)
        if answer is None:
            return []  # not the card it was asked for: keep searching
        self.pending = None
        return self._answer(code, answer)

    def _handle(self, frame: HostFrame) -> list[bytes]:
        if self._pending_baud is not None and frame.kind != "bad":
            # The new rate applies from the host's ACK on. nfcpy flushes its output right
            # after that ACK, so it may never arrive: then the next frame shows the switch.
            self.state.baudrate, self._pending_baud = self._pending_baud, None
        if frame.kind == "ack":
            self.pending = None  # the host cancels whatever was still running
            return []
        if frame.kind == "nack":
            return [self.last_answer] if self.last_answer else []
        if frame.kind == "bad":
            self.bad_frames += 1
            return []  # the chip ignores a damaged frame: no ACK, no answer
        payload = frame.payload
        if len(payload) < 2 or payload[0] != HOST_TFI:
            return [ACK, self._remember(ERROR_FRAME)]
        code, request = payload[1], payload[2:]
        self.commands.append(code)
        self.pending = None
        try:
            answer = self._run(code, request)
        except (SyntaxFault, IndexError, ValueError):
            return [ACK, self._remember(ERROR_FRAME)]
        if answer is None:  # waiting for a card: acknowledged, answered later
            self.pending = (code, request)
            return [ACK]
        out = [ACK, *self._answer(code, answer)]
        if code == 0x16:
            self.state.asleep = True
        return out

    def _answer(self, code: int, data: bytes) -> list[bytes]:
        return [self._remember(encode_frame(bytes([CHIP_TFI, code + 1]) + data))]

    def _remember(self, frame: bytes) -> bytes:
        self.last_answer = frame
        return frame

    # --- commands ---------------------------------------------------------------------------

    def _run(self, code: int, req: bytes) -> bytes | None:
        state = self.state
        if code == 0x00:
            return self._diagnose(req)
        if code == 0x02:
            _expect(req, 0)
            return FIRMWARE
        if code == 0x04:
            _expect(req, 0)
            return self._general_status()
        if code == 0x06:
            if not req or len(req) % 2:
                raise SyntaxFault("ReadRegister takes 2-byte addresses")
            addresses = (req[i] << 8 | req[i + 1] for i in range(0, len(req), 2))
            return bytes(self._read_register(address) for address in addresses)
        if code == 0x08:
            if not req or len(req) % 3:
                raise SyntaxFault("WriteRegister takes address-value triples")
            for i in range(0, len(req), 3):
                self._write_register(req[i] << 8 | req[i + 1], req[i + 2])
            return b""
        if code == 0x0C:
            _expect(req, 0)
            return bytes([0xFF, 0xFF, 0x00])  # P3, P7, I0I1
        if code == 0x0E:
            _expect(req, 2)
            return b""
        if code == 0x10:
            _expect(req, 1)
            if req[0] >= len(BAUD_RATES):
                raise SyntaxFault("unknown baud rate")
            self._pending_baud = BAUD_RATES[req[0]]  # taken after the host's ACK
            return b""
        if code == 0x12:
            _expect(req, 1)
            state.parameters = req[0]
            return b""
        if code == 0x14:
            if not 1 <= len(req) <= 3 or not 1 <= req[0] <= 4:
                raise SyntaxFault("SAMConfiguration mode is 1-4")
            state.sam_mode = req[0]
            return b""
        if code == 0x16:
            if not 1 <= len(req) <= 2:
                raise SyntaxFault("PowerDown takes WakeUpEnable [GenerateIRQ]")
            self._field(False)
            return bytes([STATUS_OK])
        if code == 0x32:
            return self._rf_configuration(req)
        if code == 0x4A:
            return self._in_list_passive_target(req)
        if code in (0x40, 0x42):
            return self._exchange(code, req)
        if code in (0x44, 0x52, 0x54):
            _expect(req, 1)
            return bytes([self._target_op(code, req[0])])
        if code in (0x46, 0x50, 0x56):
            if not req:
                raise SyntaxFault("empty DEP request")
            return bytes([STATUS_TIMEOUT])  # no NFC-DEP peer (phone) in the field
        if code == 0x60:
            if len(req) < 3:
                raise SyntaxFault("InAutoPoll takes PollNr Period Type…")
            return b"\x00"  # nothing found (a card there is found by InListPassiveTarget)
        raise SyntaxFault(f"command 0x{code:02X} is not emulated")

    def _diagnose(self, req: bytes) -> bytes:
        if not req:
            raise SyntaxFault("Diagnose needs NumTst")
        if req[0] == 0x00:  # communication line test: echo
            return req
        if req[0] in (0x01, 0x02):  # ROM / RAM test
            return bytes([STATUS_OK])
        raise SyntaxFault("this diagnose test is not emulated")

    def _general_status(self) -> bytes:
        targets = b""
        if self.target is not None:
            targets = bytes([0x01, 0x00, 0x00, 0x00])  # Tg, BrRx 106, BrTx 106, type A
        return bytes([0x00, int(self.state.field_on), len(targets) // 4]) + targets + b"\x00"

    def _read_register(self, address: int) -> int:
        if address == REG_FIFO_DATA:
            return SENS_REQ if self.fifo_sens_req else 0x00
        if address == REG_TX_CONTROL:
            return self.state.registers[REG_TX_CONTROL] | (0x03 if self.state.field_on else 0)
        return self.state.registers.get(address, 0x00)

    def _write_register(self, address: int, value: int) -> None:
        if address == REG_TX_CONTROL:
            self._field(bool(value & 0x03))
        self.state.registers[address] = value

    def _rf_configuration(self, req: bytes) -> bytes:
        if not req or _RF_ITEMS.get(req[0]) != len(req) - 1:
            raise SyntaxFault("RFConfiguration item or length")
        item = req[0]
        if item == 0x01:
            self._field(bool(req[1] & 0x01))
        elif item == 0x05:
            self.state.passive_retries = req[3]
        return b""

    def _field(self, on: bool) -> None:
        if not on and self.card is not None:
            self.card.power_off()  # no field, no power: every card forgets its state
        if not on:
            self.target = None
        self.state.field_on = on

    def _in_list_passive_target(self, req: bytes) -> bytes | None:
        if len(req) < 2 or not 1 <= req[0] <= 2 or req[1] > 4:
            raise SyntaxFault("InListPassiveTarget MaxTg 1-2, BrTy 0-4")
        self._field(True)
        self.target = None
        self.target_iso_dep = False
        brty = req[1]
        if brty == 0:
            answer = self._list_type_a(_uid_from_initiator_data(req[2:]))
        elif brty == 3:
            answer = self._list_type_b(req[2:3] or b"\x00")
        else:
            answer = None  # no FeliCa or Jewel card is emulated
        self.fifo_sens_req = brty == 0 and answer is None
        if answer is None:
            if self.state.passive_retries == 0xFF:
                return None  # the real chip keeps searching until a card comes or ACK
            return b"\x00"
        return answer

    def _list_type_a(self, wanted: bytes | None) -> bytes | None:
        self.state.registers[REG_TX_MODE] = CRC_ENABLE  # 106 kbps type A, CRC on
        self.state.registers[REG_RX_MODE] = CRC_ENABLE
        card = self.card
        if card is None or card.technology != "A" or not card.answers_reqa():
            return None
        if wanted is not None and wanted != card.uid:
            return None
        card.select()
        self.target = card
        answer = (
            bytes([0x01, 0x01]) + card.sens_res + bytes([card.sel_res, len(card.uid)]) + card.uid
        )
        if self.state.parameters & AUTO_RATS and card.sel_res & 0x20 and card.ats is not None:
            ats = card.receive(b"\xe0\x80")
            if ats is not None:
                self.target_iso_dep = True
                answer += ats.data
        return answer

    def _list_type_b(self, afi: bytes) -> bytes | None:
        self.state.registers[REG_TX_MODE] = CRC_ENABLE | 0x03  # 106 kbps type B, CRC on
        self.state.registers[REG_RX_MODE] = CRC_ENABLE | 0x03
        card = self.card
        if card is None or card.technology != "B":
            return None
        atqb = card.receive(b"\x05" + afi + b"\x00")  # REQB
        # The firmware activates the card itself: ATTRIB for 64-byte frames and CID 1.
        attrib = card.receive(b"\x1d" + card.uid + b"\x00\x05\x01\x01") if atqb else None
        if atqb is None or attrib is None:
            return None
        self.target, self.target_iso_dep = card, True
        return b"\x01\x01" + atqb.data + bytes([len(attrib.data)]) + attrib.data

    def _exchange(self, code: int, req: bytes) -> bytes:
        if code == 0x40:
            if not req:
                raise SyntaxFault("InDataExchange needs Tg")
            if req[0] & 0x3F != 1 or self.target is None:
                return bytes([STATUS_NOT_ACCEPTABLE])
            data = req[1:]
        else:
            if not req:
                raise SyntaxFault("InCommunicateThru needs data")
            data = req
        if self.target is None or self.target is not self.card:
            return bytes([STATUS_TIMEOUT])
        if self.remove_after is not None:
            if self.remove_after <= 0:
                self.remove()
                return bytes([STATUS_TIMEOUT])
            self.remove_after -= 1
        card = self.target
        if code == 0x40 and self.target_iso_dep:
            return bytes([STATUS_OK]) + card.apdu(bytes(data))  # the chip runs ISO-DEP itself
        if code == 0x42 and not self.state.registers.get(REG_TX_MODE, 0) & CRC_ENABLE:
            # The host sends the CRC itself; a wrong one is noise the card does not answer.
            if len(data) < 3 or crc_a(bytes(data[:-2])) != bytes(data[-2:]):
                return bytes([STATUS_TIMEOUT])
            data = data[:-2]
        reply = card.receive(bytes(data))
        if reply is None:
            return bytes([STATUS_TIMEOUT])
        answer = reply.data
        crc_check_off = not self.state.registers.get(REG_RX_MODE, 0) & CRC_ENABLE
        if code == 0x42 and not reply.short and crc_check_off:
            answer += crc_a(answer)  # the host receives the CRC bytes and checks them itself
        return bytes([STATUS_OK]) + answer

    def _target_op(self, code: int, tg: int) -> int:
        if tg not in (0, 1) or self.target is None:
            return STATUS_NOT_ACCEPTABLE
        if code == 0x44 and self.target_iso_dep:  # InDeselect
            self.target.receive(b"\xc2")
        if code == 0x52:  # InRelease
            self.target = None
        return STATUS_OK


def _expect(req: bytes, size: int) -> None:
    if len(req) != size:
        raise SyntaxFault(f"expected {size} parameter bytes, got {len(req)}")


def _uid_from_initiator_data(data: bytes) -> bytes | None:
    """The UID a host asks for in InListPassiveTarget (106A), cascade tags (0x88) removed."""
    if not data:
        return None
    if len(data) == 8 and data[0] == 0x88:
        return bytes(data[1:])
    if len(data) == 12 and data[0] == 0x88 and data[4] == 0x88:
        return bytes(data[1:4] + data[5:])
    return bytes(data)


# --- the device on a pty -----------------------------------------------------------------


class Pn532Emulator:
    """A PN532 HSU board on a pty: the real nfcpy pn532 driver talks to it byte for byte."""

    def __init__(self) -> None:
        self.chip = Pn532Chip()
        self.answer_nothing = False  # a port with some other device (or none) behind it
        self._lock = threading.Lock()
        self._garbage: list[bytes | None] = []  # None: this answer goes out unharmed
        self._master: int | None = None
        self._slave: int | None = None
        self._link: Path | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.path = ""

    # --- lifecycle --------------------------------------------------------------------------

    def open_pty(self, link: str | os.PathLike[str] | None = None) -> str:
        """Start serving on a new pty; returns the path for the driver (`link` if given).

        With `link`, the path is a symlink to the pty, as udev's /dev/serial/by-id names are,
        so the same path comes back after `replug()`.
        """
        if self._thread is not None:
            raise RuntimeError("the emulator is already serving; unplug() it first")
        master, slave = os.openpty()
        tty.setraw(slave)  # a USB serial adapter passes bytes through untouched
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        with self._lock:
            self.chip = _fresh_chip(self.chip)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="pn532-emulator", daemon=True)
        self._thread.start()
        if link is not None:
            self._link = Path(link)
        if self._link is not None:
            tmp = self._link.with_name(self._link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.path)
            os.replace(tmp, self._link)
            return str(self._link)
        return self.path

    def unplug(self) -> None:
        """As pulling the cable: the pty closes and the udev-style link goes away."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self._link is not None:
            self._link.unlink(missing_ok=True)

    def replug(self) -> str:
        """A new pty behind the same link, as a reader plugged back in; the chip restarts."""
        self.unplug()
        return self.open_pty()

    def close(self) -> None:
        self.unplug()
        self._link = None

    def __enter__(self) -> Pn532Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the card and the faults ------------------------------------------------------------

    def place(self, card: Card) -> None:
        """Put a card on the reader (replacing any card there)."""
        with self._lock:
            self.chip.place(card)

    def remove(self) -> None:
        with self._lock:
            self.chip.remove()

    @property
    def card(self) -> Card | None:
        return self.chip.card

    def remove_card_after(self, exchanges: int) -> None:
        """The card leaves the field after this many more RF exchanges (mid-read)."""
        with self._lock:
            self.chip.remove_after = exchanges

    def garble_replies(self, count: int = 1, data: bytes | None = None, *, after: int = 0) -> None:
        """Replace `count` answers (ACK and frame) with noise, or with `data`, after `after`
        more good ones."""
        noise = bytes.fromhex("DEADBEEF00FF0F55AA13") if data is None else bytes(data)
        with self._lock:
            self._garbage = [None] * after + [noise] * count

    def inject(self, data: bytes) -> None:
        """Write raw bytes to the driver's side now (line noise, a stray frame)."""
        if self._master is None:
            raise RuntimeError("the emulated reader is unplugged")
        os.write(self._master, data)

    @property
    def commands(self) -> list[str]:
        """Names of the commands the chip ran since it was plugged in, in order."""
        return [COMMANDS.get(code, f"0x{code:02X}") for code in self.chip.commands]

    @property
    def baudrate(self) -> int:
        return self.chip.state.baudrate

    # --- serving ----------------------------------------------------------------------------

    def _serve(self) -> None:
        master = self._master
        assert master is not None
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.02)
                data = os.read(master, 4096) if ready else b""
            except OSError:
                if self._stopping.wait(0.02):  # no slave open (the driver closed it)
                    return
                continue
            with self._lock:
                out = self.chip.receive(data) if data else self.chip.tick()
                if self.answer_nothing:
                    out = []
                elif out and self._garbage:
                    noise = self._garbage.pop(0)
                    out = out if noise is None else [noise]
            try:
                for chunk in out:
                    os.write(master, chunk)
            except OSError:
                return


def _fresh_chip(old: Pn532Chip) -> Pn532Chip:
    """A power-cycled chip (a replugged reader) that keeps the card lying on it."""
    chip = Pn532Chip()
    if old.card is not None:
        chip.place(old.card)
    return chip
