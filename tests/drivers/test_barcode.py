"""The serial barcode scanner driver against the emulated scanner on a real pty pair."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.barcode import MAX_LINE, LineSplitter, SerialBarcodeScanner, parse_barcode_address
from drivers.base import CardRead, CardReader, DeviceError
from drivers.emulators.scanner import ScannerEmulator
from drivers.registry import open_card_reader


def poll_until(reader: CardReader, timeout: float = 2.0) -> CardRead | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        read = reader.poll()
        if read is not None:
            return read
        time.sleep(0.005)
    return None


@pytest.fixture
def emulator() -> Iterator[ScannerEmulator]:
    emu = ScannerEmulator(suffix="cr")
    yield emu
    emu.close()


def test_a_scan_arrives_as_a_card_read(emulator: ScannerEmulator) -> None:
    reader = open_card_reader(f"barcode:{emulator.open_pty()}?baud=9600&suffix=cr")
    assert reader.poll() is None  # opens the port; nothing scanned yet
    emulator.scan("0100123456")
    assert poll_until(reader) == CardRead(card="0100123456", source="barcode")
    assert reader.poll() is None
    reader.close()


@pytest.mark.parametrize("suffix", ["cr", "lf", "crlf", "any"])
def test_each_suffix_gives_one_code_per_scan(suffix: str) -> None:
    emu = ScannerEmulator(suffix=suffix)
    try:
        reader = SerialBarcodeScanner(emu.open_pty(), suffix=suffix)
        assert reader.poll() is None
        emu.scan("A1")
        emu.scan("B2")
        assert [poll_until(reader), poll_until(reader)] == [
            CardRead("A1", "barcode"),
            CardRead("B2", "barcode"),
        ]
        assert reader.poll() is None
        reader.close()
    finally:
        emu.close()


def test_garbage_is_dropped_and_the_next_scan_still_reads(emulator: ScannerEmulator) -> None:
    reader = SerialBarcodeScanner(emulator.open_pty(), suffix="cr")
    reader.poll()
    emulator.send_raw(b"\x00\xff\x1b[junk\r" + b"9" * (MAX_LINE + 5) + b"\r")
    emulator.scan("  4242  ")
    assert poll_until(reader) == CardRead("4242", "barcode")
    assert reader.poll() is None


def test_a_stale_fragment_does_not_glue_onto_the_next_scan() -> None:
    now = [0.0]
    lines = LineSplitter("cr", clock=lambda: now[0])
    assert lines.feed(b"12") == []
    now[0] = 5.0
    assert lines.feed(b"3456\r") == ["3456"]
    assert lines.dropped == 1


def test_a_partial_line_waits_for_its_end() -> None:
    lines = LineSplitter("crlf")
    assert lines.feed(b"010012") == []
    assert lines.feed(b"3456\r") == []
    assert lines.feed(b"\n") == ["0100123456"]


def test_unplug_reports_an_error_and_replug_reopens(tmp_path: Path) -> None:
    emu = ScannerEmulator(suffix="cr")
    link = emu.open_pty(tmp_path / "scanner")  # as /dev/serial/by-id/…
    reader = SerialBarcodeScanner(link, suffix="cr")
    try:
        reader.poll()
        emu.unplug()
        with pytest.raises(DeviceError, match="stopped answering"):
            poll_until(reader)
        (tmp_path / "scanner").unlink()  # udev removes the link of an unplugged device
        with pytest.raises(DeviceError, match="cannot open the barcode scanner"):
            reader.poll()
        emu.replug()  # a new pty behind the same link
        assert reader.poll() is None
        emu.scan("777")
        assert poll_until(reader) == CardRead("777", "barcode")
        assert "open" in reader.describe()
    finally:
        reader.close()
        emu.close()
    with pytest.raises(DeviceError, match="closed"):
        reader.poll()


def test_a_missing_port_is_a_plain_error() -> None:
    reader = open_card_reader("barcode:/dev/does-not-exist")
    with pytest.raises(DeviceError, match="cannot open the barcode scanner on /dev/does-not"):
        reader.poll()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "needs a serial port"),
        ("/dev/ttyACM0?baud=12", "baud must be one of"),
        ("/dev/ttyACM0?suffix=semicolon", "suffix must be one of"),
        ("/dev/ttyACM0?speed=9600", "unknown option 'speed'"),
    ],
)
def test_bad_addresses_are_refused(address: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        parse_barcode_address(address, f"barcode:{address}")


def test_address_options() -> None:
    assert parse_barcode_address("/dev/ttyACM0", "u") == ("/dev/ttyACM0", 9600, "any")
    assert parse_barcode_address("/dev/x?baud=115200&suffix=LF", "u") == ("/dev/x", 115200, "lf")


@given(st.lists(st.binary(max_size=64), max_size=20), st.sampled_from(["any", "cr", "crlf"]))
def test_random_bytes_give_only_clean_codes(chunks: list[bytes], suffix: str) -> None:
    lines = LineSplitter(suffix)
    for chunk in chunks:
        for code in lines.feed(chunk):
            assert code == code.strip() and code
            assert all(0x20 <= ord(c) <= 0x7E for c in code)
            assert len(code) <= MAX_LINE


@given(st.lists(st.text("0123456789ABCXYZ-", min_size=1, max_size=30), max_size=10))
def test_codes_split_anywhere_come_out_whole(codes: list[str]) -> None:
    stream = b"".join(code.encode() + b"\r\n" for code in codes)
    lines = LineSplitter("any")
    out = [code for i in range(len(stream)) for code in lines.feed(stream[i : i + 1])]
    assert out == [c.strip() for c in codes if c.strip()]
