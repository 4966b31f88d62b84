"""Open devices from URL-like strings in the configuration, as pyserial and nfcpy do.

    sim:                 the in-memory simulator (demo, tests)
    none                 no device at all
    feig:/dev/ttyUSB0    a FEIG ISO host reader on a serial port; optional parameters
                         ?address=1&baud=38400&blocks=9&afi=7&timeout=0.5&max_tags=64
    nfc:usb              an nfcpy card reader: nfc:usb, nfc:usb:072f:2200, nfc:tty:AMA0:pn532
                         (nfcpy paths as-is) or a serial port by path, nfc:/dev/ttyUSB0
                         ?driver=pn532|arygon; any of them ?ndef=1 (card number in NDEF text)
    barcode:/dev/ttyACM0?baud=9600&suffix=cr   a barcode scanner on a serial port
    evdev:/dev/input/by-id/usb-…-event-kbd      a keyboard-wedge scanner, grabbed
    file:receipts/       receipts written to a folder (printers, see open_printer)

A driver is one line in a table below: scheme -> factory(address, url).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from drivers.barcode import SerialBarcodeScanner
from drivers.base import CardRead, CardReader, DeviceError, TagRead, TagReader
from drivers.evdev_scanner import EvdevScanner
from drivers.feig import FeigReader
from drivers.nfc_reader import NfcCardReader
from drivers.printer import (
    FilePrinter,
    NetworkPrinter,
    NullPrinter,
    Printer,
    SerialPrinter,
    open_usb_printer,
)
from drivers.sim import SimCardReader, SimTagReader

_Device = TypeVar("_Device")
# A factory gets the address part ("/dev/ttyUSB0") and the whole URL for its messages.
Factory = Callable[[str, str], _Device]


class NullTagReader:
    """The tag reader of a kiosk configured without one: the field is always empty."""

    def inventory(self) -> list[TagRead]:
        return []

    def write_afi(self, uid: bytes, afi: int) -> None:
        raise DeviceError("no tag reader is configured (url none)")

    def read_afi(self, uid: bytes) -> int:
        raise DeviceError("no tag reader is configured (url none)")

    def describe(self) -> str:
        return "none"

    def close(self) -> None:
        pass


class NullCardReader:
    """The card reader of a kiosk configured without one: no card ever arrives."""

    def poll(self) -> CardRead | None:
        return None

    def describe(self) -> str:
        return "none"

    def close(self) -> None:
        pass


def _without_address(scheme: str, make: Callable[[], _Device]) -> Factory[_Device]:
    def factory(address: str, url: str) -> _Device:
        if address:
            raise DeviceError(f"the {scheme} device takes no address (url {url})")
        return make()

    return factory


def _not_available_yet(what: str) -> Factory[_Device]:
    def factory(address: str, url: str) -> _Device:
        raise DeviceError(f"{what} driver is not available yet (url {url})")

    return factory


# FEIG URL parameter -> (FeigReader keyword, converter). int(x, 0) also takes 0x07.
_FEIG_PARAMETERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "address": ("address", lambda text: int(text, 0)),
    "baud": ("baud", int),
    "blocks": ("blocks", int),
    "afi": ("afi", lambda text: int(text, 0)),
    "timeout": ("timeout_s", float),
    "max_tags": ("max_tags", int),
}


def _feig(address: str, url: str) -> FeigReader:
    port, _, query = address.partition("?")
    if not port:
        raise DeviceError(
            f"the FEIG reader needs a serial port, e.g. feig:/dev/ttyUSB0 (url {url})"
        )
    options: dict[str, object] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _FEIG_PARAMETERS:
            known = ", ".join(_FEIG_PARAMETERS)
            raise DeviceError(f"unknown FEIG parameter {name!r} in {url}; known: {known}")
        keyword, convert = _FEIG_PARAMETERS[name]
        try:
            options[keyword] = convert(value)
        except ValueError:
            raise DeviceError(
                f"FEIG parameter {name}={value!r} is not a number (url {url})"
            ) from None
    return FeigReader(port, **options)  # type: ignore[arg-type]


_TAG_READERS: dict[str, Factory[TagReader]] = {
    "sim": _without_address("sim", SimTagReader),
    "none": _without_address("none", NullTagReader),
    "feig": _feig,
    "bibliotheca": _not_available_yet("Bibliotheca (3M 810) reader"),
}

_CARD_READERS: dict[str, Factory[CardReader]] = {
    "sim": _without_address("sim", SimCardReader),
    "none": _without_address("none", NullCardReader),
    "nfc": NfcCardReader.from_url,
    "barcode": SerialBarcodeScanner.from_url,
    "evdev": EvdevScanner.from_url,
}

_PRINTERS: dict[str, Factory[Printer]] = {
    "none": _without_address("none", NullPrinter),
    "file": FilePrinter.from_url,
    "escpos-net": NetworkPrinter.from_url,
    "escpos-serial": SerialPrinter.from_url,
    "escpos-usb": open_usb_printer,
}

KNOWN_TAG_READER_SCHEMES: tuple[str, ...] = tuple(sorted(_TAG_READERS))
KNOWN_CARD_READER_SCHEMES: tuple[str, ...] = tuple(sorted(_CARD_READERS))
KNOWN_PRINTER_SCHEMES: tuple[str, ...] = tuple(sorted(_PRINTERS))

# Scheme as in RFC 3986; the colon and address are optional so that "none" reads naturally.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)(?::(.*))?", re.DOTALL)
_EXAMPLES = "for example sim:, none or feig:/dev/ttyUSB0"


def parse_device_url(url: str) -> tuple[str, str]:
    """Split "feig:/dev/ttyUSB0" into ("feig", "/dev/ttyUSB0"); "socket://h:1" gives "h:1".

    The scheme is lower-cased; surrounding blanks are ignored. Raises DeviceError when the
    text is not a device URL.
    """
    if not isinstance(url, str):
        raise DeviceError(f"a device URL must be text, {_EXAMPLES} (got {url!r})")
    text = url.strip()
    if not text:
        raise DeviceError(f"the device URL is empty; use {_EXAMPLES}")
    match = _URL.fullmatch(text)
    if match is None or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise DeviceError(f"{url!r} is not a device URL; use {_EXAMPLES}")
    scheme, address = match.group(1).lower(), match.group(2) or ""
    return scheme, address.removeprefix("//")


def open_tag_reader(url: str) -> TagReader:
    return _open(url, _TAG_READERS, "tag reader")


def open_card_reader(url: str) -> CardReader:
    return _open(url, _CARD_READERS, "card reader")


def open_printer(url: str) -> Printer:
    return _open(url, _PRINTERS, "printer")


def _open(url: str, table: dict[str, Factory[_Device]], kind: str) -> _Device:
    scheme, address = parse_device_url(url)
    factory = table.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}:" if name != "none" else name for name in sorted(table))
        raise DeviceError(f"unknown {kind} {url.strip()!r}; known kinds: {known}")
    return factory(address, url.strip())
