"""The real FEIG driver against the FEIG emulator over a pty pair (no mocks)."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base import DeviceError, TagReader
from drivers.emulators.feig import FeigEmulator
from drivers.emulators.field import RfidField
from drivers.feig import MOVE_BOOK, FeigReader
from drivers.feig_protocol import decode_frame, encode_frame, read_blocks_request
from drivers.registry import open_tag_reader

ISO28560 = bytes(range(0x11, 0x11 + 34))  # 34 bytes of "library data" in natural order


def uid(n: int) -> bytes:
    return bytes.fromhex("E0040150") + n.to_bytes(4, "big")


@pytest.fixture
def field() -> RfidField:
    return RfidField()


@pytest.fixture
def emulator(field: RfidField) -> Iterator[FeigEmulator]:
    emulator = FeigEmulator(field)
    emulator.open_pty()
    yield emulator
    emulator.stop()


@pytest.fixture
def reader(emulator: FeigEmulator) -> Iterator[FeigReader]:
    reader = FeigReader(emulator.path, timeout_s=0.3)
    yield reader
    reader.close()


def test_is_a_tag_reader(reader: FeigReader) -> None:
    assert isinstance(reader, TagReader)
    assert reader.state == "ok"
    assert "firmware 3.01" in reader.describe()


def test_empty_field(reader: FeigReader) -> None:
    assert reader.inventory() == []


def test_one_tag_comes_back_in_natural_byte_order(reader: FeigReader, field: RfidField) -> None:
    field.place(uid(1), ISO28560, afi=0xC2, dsfid=0x06)
    [tag] = reader.inventory()
    assert tag.uid == uid(1) and tag.uid[0] == 0xE0  # MSB first
    assert tag.data == ISO28560 + b"\x00\x00"  # 9 blocks = 36 bytes
    assert (tag.afi, tag.dsfid) == (0xC2, 0x06)


def test_blocks_are_reversed_on_the_wire(emulator: FeigEmulator, field: RfidField) -> None:
    field.place(uid(1), bytes.fromhex("11223344 55667788"))
    fd = os.open(emulator.path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, encode_frame(0xFF, 0xB0, read_blocks_request(uid(1), 0, 2)))
        reply = decode_frame(_read_frame(fd))
    finally:
        os.close(fd)
    assert reply.status == 0
    assert reply.data == bytes.fromhex("02 04 00 44332211 00 88776655")


def test_write_blocks_reverses_for_the_wire(reader: FeigReader, field: RfidField) -> None:
    field.place(uid(1), bytes(36))
    reader.write_blocks(uid(1), 1, bytes.fromhex("A1A2A3A4 B1B2B3B4"))
    assert bytes(field.tag(uid(1)).memory[:12]) == bytes.fromhex("00000000 A1A2A3A4 B1B2B3B4")
    assert reader.read_blocks(uid(1), 1, 2) == bytes.fromhex("A1A2A3A4 B1B2B3B4")
    with pytest.raises(DeviceError, match="whole 4-byte blocks"):
        reader.write_blocks(uid(1), 0, b"\x01\x02\x03")


def test_thirty_tags_page_with_more_data(emulator: FeigEmulator, field: RfidField) -> None:
    emulator.tags_per_reply = 8  # 30 tags: four replies, three with status 0x94
    for n in range(30):
        field.place(uid(n), n.to_bytes(4, "big") * 9)
    reader = FeigReader(emulator.path, timeout_s=0.3)
    tags = reader.inventory()
    assert [t.uid for t in tags] == [uid(n) for n in range(30)]
    assert all(t.data == n.to_bytes(4, "big") * 9 for n, t in enumerate(tags))
    # A second open of the same pty fails to set parity (EINVAL): the driver falls back to none.
    limited = FeigReader(emulator.path, timeout_s=0.3, max_tags=10)
    assert len(limited.inventory()) == 10
    reader.close()
    limited.close()


def test_inventory_with_afi_filter(emulator: FeigEmulator, field: RfidField) -> None:
    field.place(uid(1), ISO28560, afi=0x07)
    field.place(uid(2), ISO28560, afi=0xC2)
    in_library = FeigReader(emulator.path, afi=0x07, timeout_s=0.3)
    assert [t.uid for t in in_library.inventory()] == [uid(1)]
    in_library.write_afi(uid(2), 0x07)  # write AFI, then the filtered inventory sees it
    assert [t.uid for t in in_library.inventory()] == [uid(1), uid(2)]
    assert field.tag(uid(2)).afi == 0x07
    in_library.close()


def test_eas_set_and_reset(reader: FeigReader, field: RfidField) -> None:
    field.place(uid(1), ISO28560)
    reader.set_eas(uid(1), True)
    assert field.tag(uid(1)).eas and reader.eas_alarm(uid(1))
    reader.set_eas(uid(1), False)
    assert not field.tag(uid(1)).eas and not reader.eas_alarm(uid(1))


def test_failed_write_raises(reader: FeigReader, field: RfidField) -> None:
    field.place(uid(1), ISO28560, afi=0x07)
    field.fail_next_write()
    with pytest.raises(DeviceError, match="refused the write"):
        reader.write_afi(uid(1), 0xC2)
    assert field.tag(uid(1)).afi == 0x07
    assert reader.state == "ok"  # the reader is fine; the tag was not
    reader.write_afi(uid(1), 0xC2)
    assert field.tag(uid(1)).afi == 0xC2


def test_write_to_a_lifted_tag(reader: FeigReader) -> None:
    with pytest.raises(DeviceError, match="not in the field"):
        reader.write_afi(uid(9), 0xC2)


def test_collision(reader: FeigReader, field: RfidField) -> None:
    field.place(uid(1), ISO28560)
    field.place(uid(2), ISO28560)
    field.collide(uid(1))  # a cloned tag: both answer to the same UID
    tags = {t.uid: t for t in reader.inventory()}
    assert tags[uid(1)].data == b""  # answers inventory, not the read: the core retries
    assert tags[uid(2)].data == ISO28560 + b"\x00\x00"
    with pytest.raises(DeviceError, match=MOVE_BOOK):
        reader.write_afi(uid(1), 0xC2)


def test_unreadable_and_damaged_tags(reader: FeigReader, field: RfidField) -> None:
    field.place(uid(1), ISO28560)
    field.place(uid(2), ISO28560)
    field.make_unreadable(uid(1))
    field.damage(uid(2))
    tags = {t.uid: t for t in reader.inventory()}
    assert tags[uid(1)].data == b""
    assert len(tags[uid(2)].data) == 36 and tags[uid(2)].data[:34] != ISO28560


def test_garbage_on_the_line_resynchronises(
    reader: FeigReader, emulator: FeigEmulator, field: RfidField
) -> None:
    field.place(uid(1), ISO28560)
    fd = os.open(emulator.path, os.O_WRONLY | os.O_NOCTTY)
    try:  # noise towards the reader: a stray length byte, a damaged frame, random bytes
        damaged = bytearray(encode_frame(0xFF, 0xB0, b"\x01\x00"))
        damaged[4] ^= 0x01
        os.write(fd, b"\xf0\x00\x13" + bytes(damaged) + b"\x07\xff\x02")
    finally:
        os.close(fd)
    assert [t.uid for t in reader.inventory()] == [uid(1)]
    assert reader.state == "ok"


def test_damaged_request_gets_no_answer(emulator: FeigEmulator) -> None:
    fd = os.open(emulator.path, os.O_RDWR | os.O_NOCTTY)
    try:
        damaged = bytearray(encode_frame(0xFF, 0x65))
        damaged[-1] ^= 0x01
        os.write(fd, bytes(damaged))
        assert select.select([fd], [], [], 0.2)[0] == []
        os.write(fd, encode_frame(0xFF, 0x65))
        assert decode_frame(_read_frame(fd)).status == 0
    finally:
        os.close(fd)


def test_silent_reader_times_out(emulator: FeigEmulator) -> None:
    emulator.address = 0x01
    reader = FeigReader(emulator.path, address=0x05, timeout_s=0.2)  # nobody answers to 5
    with pytest.raises(DeviceError, match="no answer"):
        reader.inventory()
    assert reader.state == "degraded"
    reader.close()


def test_unplug_and_replug_on_the_same_path(field: RfidField, tmp_path: Path) -> None:
    link = tmp_path / "ttyFEIG"  # like /dev/serial/by-id/…: the name survives a replug
    first = FeigEmulator(field)
    link.symlink_to(first.open_pty())
    field.place(uid(1), ISO28560)
    reader = FeigReader(str(link), timeout_s=0.3)
    assert len(reader.inventory()) == 1

    first.stop()  # cable pulled
    with pytest.raises(DeviceError, match=r"disappeared|cannot open"):
        reader.inventory()
    assert reader.state == "missing"
    with pytest.raises(DeviceError, match="cannot open"):
        reader.inventory()  # still unplugged: tries to reopen, fails plainly
    assert reader.state == "missing"

    second = FeigEmulator(field)  # plugged back: the kernel gives a new pty behind the name
    link.unlink()
    link.symlink_to(second.open_pty())
    try:
        assert [t.uid for t in reader.inventory()] == [uid(1)]
        assert reader.state == "ok"
    finally:
        reader.close()
        second.stop()


def test_closed_reader_refuses(reader: FeigReader) -> None:
    reader.close()
    with pytest.raises(DeviceError, match="closed"):
        reader.inventory()


def test_registry_opens_feig_with_parameters(emulator: FeigEmulator, field: RfidField) -> None:
    field.place(uid(1), ISO28560)
    reader = open_tag_reader(f"feig:{emulator.path}?blocks=2&afi=0x07&timeout=0.3")
    assert isinstance(reader, FeigReader)
    assert (reader.blocks, reader.afi, reader.timeout_s) == (2, 0x07, 0.3)
    assert [t.data for t in reader.inventory()] == [ISO28560[:8]]
    reader.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("feig:/dev/ttyX?colour=red", "unknown FEIG parameter"),
        ("feig:/dev/ttyX?baud=fast", "not a number"),
        ("feig:/dev/ttyX?blocks=99", "blocks must be"),
        ("feig:", "needs a serial port"),
    ],
)
def test_registry_rejects_bad_parameters(url: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        open_tag_reader(url)


def test_missing_device_starts_missing(tmp_path: Path) -> None:
    reader = open_tag_reader(f"feig:{tmp_path / 'ttyUSB9'}")
    assert isinstance(reader, FeigReader) and reader.state == "missing"
    assert reader.describe().endswith("missing")
    with pytest.raises(DeviceError, match="cannot open"):
        reader.inventory()


def _read_frame(fd: int) -> bytes:
    """One whole frame from a raw fd (standard frames only: these replies are short)."""
    data = b""
    while not data or len(data) < data[0]:
        assert select.select([fd], [], [], 1.0)[0], "no reply from the emulator"
        data += os.read(fd, 256)
    return data


def test_a_tag_that_stays_is_read_once_per_stay(
    reader: FeigReader, emulator: FeigEmulator, field: RfidField
) -> None:
    field.place(uid(1), b"BOOK0001")
    first = reader.inventory()
    frames = emulator.frames_served
    again = reader.inventory()
    assert again == first
    assert emulator.frames_served - frames == 1  # just the inventory: memory kept
    field.lift(uid(1))
    assert reader.inventory() == []
    field.place(uid(1), b"BOOK0002")  # lifted and put back: read afresh
    assert reader.inventory()[0].data.startswith(b"BOOK0002")
    reader.write_afi(uid(1), 0xC2)
    assert reader.inventory()[0].afi == 0xC2  # a write makes it read again
