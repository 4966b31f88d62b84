"""The keyboard-wedge scanner driver against the emulator writing input_event records to a FIFO."""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import CardRead, CardReader, DeviceError
from drivers.emulators.scanner import WedgeScannerEmulator, key_events
from drivers.evdev_scanner import INPUT_EVENT, MAX_LINE, EvdevScanner, KeyEventDecoder
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
def wedge(tmp_path: Path) -> Iterator[WedgeScannerEmulator]:
    emu = WedgeScannerEmulator(tmp_path / "usb-scanner-event-kbd")
    emu.plug()
    yield emu
    emu.close()


def test_the_record_layout_is_the_kernels() -> None:
    assert INPUT_EVENT.size == 24  # 64-bit Linux
    data = key_events("1", timestamp=1_700_000_000.25)
    # KEY_1 down, SYN, KEY_1 up, SYN, ENTER down, SYN, ENTER up, SYN.
    assert len(data) == 8 * 24
    first = data[:24]
    assert first == struct.pack("<qqHHi", 1_700_000_000, 250_000, 1, 2, 1)
    assert data[24:48] == struct.pack("<qqHHi", 1_700_000_000, 250_000, 0, 0, 0)
    assert data[48:72] == struct.pack("<qqHHi", 1_700_000_000, 250_000, 1, 2, 0)
    assert data[96:120] == struct.pack("<qqHHi", 1_700_000_000, 250_000, 1, 28, 1)


def test_a_scan_through_the_fifo(wedge: WedgeScannerEmulator) -> None:
    reader = open_card_reader(f"evdev:{wedge.path}")
    assert reader.poll() is None
    wedge.scan("0100123456")
    assert poll_until(reader) == CardRead("0100123456", "barcode")
    assert reader.poll() is None
    assert "not grabbed" in reader.describe()  # a FIFO is not an input device
    reader.close()


def test_shifted_letters_and_symbols(wedge: WedgeScannerEmulator) -> None:
    reader = EvdevScanner(str(wedge.path))
    reader.poll()
    wedge.scan("MB-12/ab")
    wedge.scan("X")
    assert poll_until(reader) == CardRead("MB-12/ab", "barcode")
    assert poll_until(reader) == CardRead("X", "barcode")
    reader.close()


def test_records_split_across_reads_and_noise_events() -> None:
    decoder = KeyEventDecoder()
    noise = INPUT_EVENT.pack(0, 0, 4, 4, 0x70027)  # EV_MSC scan code, as keyboards send
    noise += INPUT_EVENT.pack(0, 0, 1, 999, 1)  # an unknown key
    noise += INPUT_EVENT.pack(0, 0, 1, 3, 2)  # autorepeat of KEY_2
    stream = noise + key_events("42")
    out = [line for i in range(0, len(stream), 7) for line in decoder.feed(stream[i : i + 7])]
    assert out == ["42"]


def test_an_over_long_line_is_dropped() -> None:
    decoder = KeyEventDecoder()
    assert decoder.feed(key_events("1" * (MAX_LINE + 1))) == []
    assert decoder.dropped == 1
    assert decoder.feed(key_events("5")) == ["5"]


def test_unplug_and_replug(wedge: WedgeScannerEmulator) -> None:
    reader = EvdevScanner(str(wedge.path))
    reader.poll()
    wedge.unplug()
    with pytest.raises(DeviceError, match="is gone"):
        reader.poll()
    with pytest.raises(DeviceError, match="cannot open the evdev scanner"):
        reader.poll()
    wedge.plug()
    assert reader.poll() is None
    wedge.scan("9")
    assert poll_until(reader) == CardRead("9", "barcode")
    reader.close()
    with pytest.raises(DeviceError, match="closed"):
        reader.poll()


def test_a_device_that_cannot_be_grabbed_is_used_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # /dev/null is a character device but not an input device: EVIOCGRAB fails (ENOTTY).
    reader = EvdevScanner(os.devnull)
    with caplog.at_level(logging.WARNING, logger="drivers.evdev_scanner"):
        assert reader.poll() is None
    assert "cannot grab the evdev scanner /dev/null" in caplog.text
    assert not reader.grabbed
    reader.close()


def test_an_address_is_required() -> None:
    with pytest.raises(DeviceError, match="needs its input device"):
        open_card_reader("evdev:")


@given(st.lists(st.binary(max_size=100), max_size=20))
def test_random_bytes_never_crash(chunks: list[bytes]) -> None:
    decoder = KeyEventDecoder()
    for chunk in chunks:
        for line in decoder.feed(chunk):
            assert line and len(line) <= MAX_LINE


@given(st.text("0123456789abcXYZ-./ ", min_size=1, max_size=40))
def test_typed_codes_come_back(code: str) -> None:
    expected = [code.strip()] if code.strip() else []
    assert KeyEventDecoder().feed(key_events(code)) == expected
