"""Choosing devices by URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import CardReader, DeviceError, TagReader
from drivers.registry import (
    KNOWN_CARD_READER_SCHEMES,
    KNOWN_TAG_READER_SCHEMES,
    NullCardReader,
    NullTagReader,
    open_card_reader,
    open_tag_reader,
    parse_device_url,
)
from drivers.sim import SimCardReader, SimTagReader


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("feig:/dev/ttyUSB0", ("feig", "/dev/ttyUSB0")),
        ("sim:", ("sim", "")),
        ("sim", ("sim", "")),
        ("none", ("none", "")),
        ("  FEIG:/dev/ttyUSB0\n", ("feig", "/dev/ttyUSB0")),
        ("nfc:usb", ("nfc", "usb")),
        ("nfc:usb:054c:06c3", ("nfc", "usb:054c:06c3")),
        ("socket://127.0.0.1:7777", ("socket", "127.0.0.1:7777")),
        ("barcode:/dev/input/by-id/usb-scanner", ("barcode", "/dev/input/by-id/usb-scanner")),
    ],
)
def test_parse(url: str, parsed: tuple[str, str]) -> None:
    assert parse_device_url(url) == parsed


@pytest.mark.parametrize("url", ["", "   ", ":usb", "1feig:/dev/x", "fe ig:/dev/x", "sim:\x00", 42])
def test_parse_malformed(url: object) -> None:
    with pytest.raises(DeviceError) as err:
        parse_device_url(url)  # type: ignore[arg-type]
    assert "sim:" in str(err.value)  # the message shows what a good URL looks like


@given(st.text(max_size=40))
def test_parse_never_raises_anything_but_device_error(text: str) -> None:
    try:
        scheme, address = parse_device_url(text)
    except DeviceError as err:
        assert str(err)
    else:
        assert scheme and scheme == scheme.lower()
        assert isinstance(address, str)


def test_open_sim_and_none_tag_readers() -> None:
    sim = open_tag_reader("sim:")
    assert isinstance(sim, SimTagReader) and isinstance(sim, TagReader)
    assert open_tag_reader("sim:") is not sim  # each call opens its own device
    none = open_tag_reader("none")
    assert isinstance(none, NullTagReader) and isinstance(none, TagReader)
    assert none.inventory() == []
    assert none.describe() == "none"
    with pytest.raises(DeviceError):
        none.write_afi(bytes(8), 0xC2)
    none.close()


def test_open_sim_and_none_card_readers() -> None:
    assert isinstance(open_card_reader("sim:"), SimCardReader)
    none = open_card_reader("none")
    assert isinstance(none, NullCardReader) and isinstance(none, CardReader)
    assert none.poll() is None
    assert none.describe() == "none"


def test_feig_without_its_device_opens_as_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The FEIG driver itself is tested against its emulator in test_feig.py.
    reader = open_tag_reader(f"feig:{tmp_path / 'ttyUSB0'}")
    assert isinstance(reader, TagReader) and reader.describe().endswith("missing")
    with pytest.raises(DeviceError, match="cannot open"):
        reader.inventory()


def test_an_absent_nfc_reader_opens_as_missing_and_says_why(tmp_path: Path) -> None:
    # The NFC driver itself is tested against its PN532 emulator in test_nfc_reader.py.
    reader = open_card_reader(f"nfc:{tmp_path / 'ttyNFC'}")
    try:
        assert isinstance(reader, CardReader) and reader.state == "missing"
        with pytest.raises(DeviceError, match="ttyNFC"):
            reader.poll()
    finally:
        reader.close()


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(DeviceError) as err:
        open_tag_reader("acme:/dev/ttyS0")
    message = str(err.value)
    assert "acme:/dev/ttyS0" in message
    for scheme in KNOWN_TAG_READER_SCHEMES:
        assert scheme in message
    with pytest.raises(DeviceError) as err:
        open_card_reader("feig:/dev/ttyUSB0")  # a tag reader is no card reader
    for scheme in KNOWN_CARD_READER_SCHEMES:
        assert scheme in str(err.value)


def test_simulator_takes_no_address() -> None:
    with pytest.raises(DeviceError, match="no address"):
        open_tag_reader("sim:/dev/ttyUSB0")
    with pytest.raises(DeviceError, match="no address"):
        open_card_reader("none:x")


def test_known_schemes() -> None:
    assert set(KNOWN_TAG_READER_SCHEMES) == {"sim", "none", "feig", "bibliotheca"}
    assert set(KNOWN_CARD_READER_SCHEMES) == {"sim", "none", "nfc", "barcode", "evdev"}


def test_printer_schemes_match_the_configuration() -> None:
    from drivers.registry import KNOWN_PRINTER_SCHEMES
    from kiosk.config import PRINTER_SCHEMES

    assert set(KNOWN_PRINTER_SCHEMES) == set(PRINTER_SCHEMES)
