"""FEIG ISO host frames: CRC, build/parse, resynchronisation, block byte order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.feig_protocol import (
    Frame,
    FrameError,
    InventoryEntry,
    crc16,
    decode_frame,
    encode_frame,
    encode_inventory,
    encode_read_blocks,
    inventory_request,
    parse_inventory,
    parse_read_blocks,
    read_blocks_request,
    reverse_blocks,
    scan,
    write_blocks_request,
)

UID = bytes.fromhex("E004010012345678")


def crc_bytewise(data: bytes) -> int:
    """An independent CRC-16/MCRF4XX: the byte-at-a-time form of ISO/IEC 14443 annex B."""
    crc = 0xFFFF
    for byte in data:
        ch = (byte ^ crc) & 0xFF
        ch = (ch ^ (ch << 4)) & 0xFF
        crc = (crc >> 8) ^ (ch << 8) ^ (ch << 3) ^ (ch >> 4)
    return crc


def test_crc_catalogue_check_value() -> None:
    # Public source: the CRC catalogue (reveng) gives check=0x6F91 for CRC-16/MCRF4XX.
    assert crc16(b"123456789") == 0x6F91
    assert crc16(b"") == 0xFFFF


@pytest.mark.parametrize(
    ("frame", "raw"),
    [
        # Get software version, broadcast address: LEN 5, no data.
        (Frame(0xFF, 0x65), "05 ff 65 e5 cb"),
        # Inventory, new, no AFI.
        (Frame(0xFF, 0xB0, bytes([0x01, 0x00])), "07 ff b0 01 00 1c 56"),
        # Read 9 blocks from block 0 of one tag, addressed mode, bus address 1.
        (
            Frame(0x01, 0xB0, read_blocks_request(UID, 0, 9)),
            "11 01 b0 23 01" + UID.hex() + "00 09 59 90",
        ),
        # Inventory reply: status OK, one ICODE SLI tag.
        (
            Frame(0xFF, 0xB0, bytes.fromhex("00 01 03 00") + UID),
            "11 ff b0 00 01 03 00" + UID.hex() + "e5 1c",
        ),
    ],
)
def test_known_frames(frame: Frame, raw: str) -> None:
    wire = bytes.fromhex(raw)
    assert crc_bytewise(wire[:-2]) == wire[-2] | wire[-1] << 8  # CRC low byte first
    assert encode_frame(frame.address, frame.command, frame.payload) == wire
    assert decode_frame(wire) == frame


def test_reply_status_and_data() -> None:
    reply = decode_frame(bytes.fromhex("11 ff b0 00 01 03 00" + UID.hex() + "e5 1c"))
    assert reply.status == 0x00
    assert parse_inventory(reply.data) == [InventoryEntry(0x03, 0x00, UID)]


def test_advanced_frame_for_long_payloads() -> None:
    payload = bytes(range(256)) * 2
    wire = encode_frame(0x01, 0xB0, payload)
    assert wire[0] == 0x02 and (wire[1] << 8 | wire[2]) == len(wire) == 7 + 512
    assert decode_frame(wire) == Frame(0x01, 0xB0, payload)
    short = encode_frame(0x01, 0xB0, bytes(250))  # 255 bytes: still a standard frame
    assert short[0] == 255


@given(st.binary(max_size=300))
def test_appending_the_crc_makes_the_check_pass(data: bytes) -> None:
    crc = crc16(data)
    assert crc == crc_bytewise(data)
    assert crc16(data + bytes([crc & 0xFF, crc >> 8])) == 0  # residue of a reflected CRC


@pytest.mark.parametrize(
    "raw",
    ["", "05 ff", "01 ff 65 00 00", "05 ff 65 e5 cc", "06 ff 65 e5 cb", "02 00 03 ff b0 00 00"],
)
def test_bad_frames_raise_frame_error(raw: str) -> None:
    with pytest.raises(FrameError):
        decode_frame(bytes.fromhex(raw))


@given(st.binary(max_size=64))
def test_random_bytes_give_a_frame_or_a_frame_error(raw: bytes) -> None:
    try:
        frame = decode_frame(raw)
    except FrameError as err:
        assert str(err)
    else:
        assert encode_frame(frame.address, frame.command, frame.payload) == raw


@given(st.binary(max_size=200), st.binary(max_size=40))
def test_scan_finds_a_frame_after_any_noise(noise: bytes, payload: bytes) -> None:
    frame = encode_frame(0xFF, 0xB0, b"\x00" + payload)
    found, end = scan(noise + frame)
    # A whole frame with a good CRC is in the buffer, so a frame is always found: ours, or
    # (very rarely) one that the noise happens to form earlier.
    assert found is not None
    assert 0 < end <= len(noise) + len(frame)
    if not noise:
        assert found == Frame(0xFF, 0xB0, b"\x00" + payload) and end == len(frame)


def test_scan_skips_a_stray_length_byte_and_a_damaged_frame() -> None:
    good = encode_frame(0xFF, 0x65, b"\x00\x03\x01")
    damaged = bytearray(encode_frame(0xFF, 0xB0, b"\x00\x00"))
    damaged[-1] ^= 0xFF
    buffer = b"\xf0\x13" + bytes(damaged) + good + b"\x09"
    frame, end = scan(buffer)
    assert frame == Frame(0xFF, 0x65, b"\x00\x03\x01")
    assert buffer[end:] == b"\x09"  # a partial frame may follow: kept for the next read
    assert scan(b"\x09\x01")[1] == 0  # waiting for more bytes, nothing dropped
    assert scan(b"\x00\x01\x03\x04") == (None, 4)  # no frame can start there: drop all


@given(st.binary(max_size=300))
def test_scan_never_raises(raw: bytes) -> None:
    frame, end = scan(raw)
    assert 0 <= end <= len(raw)
    assert frame is None or isinstance(frame, Frame)


def test_blocks_travel_reversed() -> None:
    natural = bytes.fromhex("11223344 55667788")
    assert reverse_blocks(natural) == bytes.fromhex("44332211 88776655")
    assert reverse_blocks(reverse_blocks(natural)) == natural
    reply = encode_read_blocks(natural)
    assert reply == bytes.fromhex("02 04 00 44332211 00 88776655")  # DB-N DB-SIZE (SEC DB)*
    assert parse_read_blocks(reply) == natural
    request = write_blocks_request(UID, 3, natural)
    assert request[:2] == b"\x24\x01" and request[2:10] == UID
    assert request[10:] == bytes.fromhex("03 02 04 44332211 88776655")
    with pytest.raises(ValueError):
        reverse_blocks(b"\x01\x02\x03")


def test_inventory_request_and_reply_layouts() -> None:
    assert inventory_request() == b"\x01\x00"
    assert inventory_request(more=True) == b"\x01\x80"
    assert inventory_request(afi=0x07) == b"\x01\x01\x07"
    entries = [InventoryEntry(3, 6, UID), InventoryEntry(3, 0, bytes(8))]
    assert parse_inventory(encode_inventory(entries)) == entries
    with pytest.raises(FrameError):
        parse_inventory(b"\x02" + bytes(10))
    with pytest.raises(FrameError):
        parse_read_blocks(b"\x02\x04\x00")
