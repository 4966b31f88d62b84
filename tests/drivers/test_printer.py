"""ESC/POS bytes, status parsing and the printer transports against the emulated printer."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import DeviceError
from drivers.emulators.printer import PrinterEmulator
from drivers.printer import (
    FilePrinter,
    NetworkPrinter,
    PrinterStatus,
    PrintLine,
    SerialPrinter,
    encode_text,
    escpos_document,
    parse_status,
    render_escpos,
)
from drivers.registry import open_printer

SLOVENIAN = "Čebelica Šmarje Žalec: čšž ČŠŽ ćđ"


@pytest.fixture
def emulator() -> Iterator[PrinterEmulator]:
    emu = PrinterEmulator()
    yield emu
    emu.close()


def test_the_document_bytes() -> None:
    data = escpos_document([PrintLine("Žiga", bold=True, center=True)])
    assert data.startswith(b"\x1b@\x1bt\x12")  # init, code page 18 = CP852
    assert b"\x1ba\x01\x1bE\x01\xa6iga\n" in data  # Ž is 0xA6 in CP852
    assert data.endswith(b"\x1bd\x04\x1dV\x01")  # feed, partial cut


def test_slovenian_letters_survive_the_code_page() -> None:
    assert render_escpos(escpos_document([PrintLine(SLOVENIAN)])).strip() == SLOVENIAN


def test_characters_outside_the_page_are_transliterated() -> None:
    assert encode_text("Café € 5 • „x“\n") == b'Caf\x82 EUR 5 * "x" '  # é is in CP852
    assert encode_text("àè") == b"ae"
    assert encode_text("日") == b"?"


def test_status_bits() -> None:
    assert parse_status({1: 0x12, 2: 0x12, 4: 0x12}).state == "ok"
    assert parse_status({1: 0x1A, 2: 0x32, 4: 0x72}).state == "paper out"
    assert parse_status({1: 0x1A, 2: 0x16, 4: 0x12}).state == "cover open"
    near = parse_status({1: 0x12, 2: 0x12, 4: 0x1E})
    assert (near.state, near.can_print) == ("paper low", True)
    assert parse_status({1: 0x12, 2: None, 4: 0x12}).state == "not answering"
    assert parse_status({1: 0xFF, 2: 0x12, 4: 0x12}).state == "not answering"  # not a status


def test_printing_over_tcp(emulator: PrinterEmulator) -> None:
    printer = open_printer(emulator.url)
    printer.print_bytes(escpos_document([PrintLine(SLOVENIAN)]))
    assert emulator.wait_for_cuts(1)
    assert printer.status() == PrinterStatus()
    assert SLOVENIAN in emulator.text()


def test_paper_out_and_cover_open_are_reported(emulator: PrinterEmulator) -> None:
    printer = open_printer(emulator.url)
    emulator.paper_out = True
    status = printer.status()
    assert (status.state, status.paper_out, status.can_print) == ("paper out", True, False)
    emulator.paper_out, emulator.cover_open = False, True
    assert printer.status().state == "cover open"
    emulator.cover_open, emulator.paper_near_end = False, True
    assert printer.status().state == "paper low"


def test_a_printer_that_stops_answering(emulator: PrinterEmulator) -> None:
    emulator.silent = True
    assert NetworkPrinter("127.0.0.1", emulator.port, timeout=0.2).status().state == "not answering"


def test_an_unreachable_printer() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    printer = NetworkPrinter("127.0.0.1", port, timeout=0.5)
    with pytest.raises(DeviceError, match=f"cannot reach printer 127.0.0.1:{port}"):
        printer.print_bytes(b"x")
    assert printer.status().state == "not answering"


def test_file_printer_writes_bytes_and_text(tmp_path: Path) -> None:
    printer = open_printer(f"file:{tmp_path / 'receipts'}")
    data = escpos_document([PrintLine(SLOVENIAN)])
    printer.print_bytes(data)
    (binary,) = (tmp_path / "receipts").glob("*.bin")
    assert binary.read_bytes() == data
    assert SLOVENIAN in binary.with_suffix(".txt").read_text(encoding="utf-8")
    assert printer.status().state == "ok"


def test_file_printer_into_a_device_file() -> None:
    printer = FilePrinter(os.devnull)  # as /dev/usb/lp0: bytes go straight to the device
    printer.print_bytes(b"\x1b@")
    assert printer.last_text is None  # no folder, no rendered copy


def test_serial_printer_over_a_pty() -> None:
    master, slave = os.openpty()
    try:
        import tty

        tty.setraw(slave)
        printer = open_printer(f"escpos-serial:{os.ttyname(slave)}?baud=19200")
        assert isinstance(printer, SerialPrinter)
        printer.print_bytes(escpos_document([PrintLine("čšž")]))
        received = b""
        while not received.endswith(b"\x1dV\x01"):
            received += os.read(master, 4096)
        assert "čšž" in render_escpos(received)
        printer.close()
        quick = SerialPrinter(os.ttyname(slave), timeout=0.05)
        assert quick.status().state == "not answering"  # nobody answers DLE EOT here
        os.write(master, b"\x12\x12\x12")  # a printer's three answers, already waiting
        assert quick.status().state == "not answering"  # stale bytes are flushed first
        quick.close()
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("escpos-usb:0x0416:0x5011", "USB printers need pyusb"),
        ("escpos-net:", "needs HOST or HOST:PORT"),
        ("escpos-net:host:99999", "needs HOST or HOST:PORT"),
        ("escpos-serial:/dev/ttyUSB0?speed=1", "a port and at most a baud rate"),
        ("file:", "needs a folder"),
        ("none", "no receipt printer"),
    ],
)
def test_bad_or_missing_printers(url: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        open_printer(url).print_bytes(b"")


def test_network_addresses() -> None:
    assert NetworkPrinter.from_url("10.0.0.5", "u").port == 9100
    ipv6 = NetworkPrinter.from_url("[::1]:9101", "u")
    assert (ipv6.host, ipv6.port) == ("::1", 9101)


@given(st.binary(max_size=300))
def test_rendering_random_bytes_never_fails(data: bytes) -> None:
    assert isinstance(render_escpos(data), str)


@given(st.dictionaries(st.sampled_from([1, 2, 4]), st.none() | st.integers(0, 255)))
def test_any_status_reply_gives_a_state(replies: dict[int, int | None]) -> None:
    assert parse_status(replies).state in (
        "ok",
        "paper low",
        "paper out",
        "cover open",
        "offline",
        "not answering",
    )


@given(st.text(max_size=60))
def test_any_text_renders_back_without_control_bytes(text: str) -> None:
    rendered = render_escpos(escpos_document([PrintLine(text)], cut=False))
    assert rendered.count("\n") == 1
