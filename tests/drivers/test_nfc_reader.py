"""The NFC card reader: the real driver on nfcpy's real pn532 driver, against the PN532 emulator
on a pty (no mocks: every poll goes through the PN532 host protocol byte for byte)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import CardRead, CardReader, DeviceError
from drivers.emulators.pn532 import (
    Card,
    Pn532Emulator,
    mifare_classic,
    ndef_message,
    ntag213,
    ntag215,
    text_record,
    type4_tag,
    type4b_tag,
    uri_record,
)
from drivers.nfc_reader import NfcAddress, NfcCardReader, card_hash, parse_nfc_address
from drivers.registry import open_card_reader

NTAG_UID = "04A2246A2F5580"
CARD_NUMBER = "0100012345"  # as a library writes it into an NDEF Text record


def card_message(text: str = CARD_NUMBER) -> bytes:
    return ndef_message(uri_record("https://www.mb.sik.si"), text_record(text))


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Pn532Emulator]:
    emulator = Pn532Emulator()
    emulator.open_pty(tmp_path / "nfc")  # a stable name, as /dev/serial/by-id/… gives
    yield emulator
    emulator.close()


@pytest.fixture
def link(emulator: Pn532Emulator, tmp_path: Path) -> str:
    return str(tmp_path / "nfc")


@pytest.fixture
def reader(link: str) -> Iterator[NfcCardReader]:
    reader = NfcCardReader(link, retry_after_s=0)  # every poll may reopen
    yield reader
    reader.close()


@pytest.fixture
def ndef_reader(link: str) -> Iterator[NfcCardReader]:
    reader = open_card_reader(f"nfc:{link}?ndef=1")
    assert isinstance(reader, NfcCardReader)
    yield reader
    reader.close()


# --- cards -----------------------------------------------------------------------------------


def test_is_a_card_reader_opened_at_once(reader: NfcCardReader, emulator: Pn532Emulator) -> None:
    assert isinstance(reader, CardReader)
    assert reader.state == "ok"
    assert (
        reader.describe()
        == f"NFC card reader nfc:{reader.device} (PN532v1.6 at {reader.device}): open"
    )
    assert reader.poll() is None
    # nfcpy's own init sequence reached the chip, line test and all.
    assert emulator.commands[:4] == [
        "GetFirmwareVersion",
        "SAMConfiguration",
        "SetSerialBaudRate",
        "Diagnose",
    ]
    assert emulator.baudrate == 921600  # nfcpy moves a PN532 on a tty to its top speed


@pytest.mark.parametrize(
    ("card", "uid"),
    [
        (ntag213(), NTAG_UID),
        (ntag215(uid=bytes.fromhex("04010203040506")), "04010203040506"),
        (type4_tag(), "04112233445566"),
        (type4_tag(uid=bytes.fromhex("08A1B2C3")), "08A1B2C3"),
        (mifare_classic(), "3A9F12C4"),
        (type4b_tag(), "5A0B1C2D"),  # type B: the PUPI
    ],
    ids=["ntag213", "ntag215", "type4-7byte", "type4-4byte", "mifare-classic", "type4b"],
)
def test_each_card_gives_its_uid(
    reader: NfcCardReader, emulator: Pn532Emulator, card: Card, uid: str
) -> None:
    emulator.place(card)
    assert reader.poll() == CardRead(card=uid, source="nfc")


def test_once_per_presentation(reader: NfcCardReader, emulator: Pn532Emulator) -> None:
    emulator.place(ntag213())
    assert reader.poll() == CardRead(NTAG_UID, "nfc")
    assert [reader.poll(), reader.poll(), reader.poll()] == [None, None, None]  # still there
    emulator.remove()
    assert [reader.poll(), reader.poll()] == [None, None]
    emulator.place(ntag213())  # put back
    assert reader.poll() == CardRead(NTAG_UID, "nfc")
    assert reader.poll() is None


def test_a_card_lifted_for_a_single_poll_is_the_same_presentation(
    reader: NfcCardReader, emulator: Pn532Emulator, link: str
) -> None:
    emulator.place(mifare_classic())
    assert reader.poll() is not None
    emulator.remove()
    assert reader.poll() is None  # one empty sense: a wobbling card, not a new tap
    emulator.place(mifare_classic())
    assert reader.poll() is None
    strict = NfcCardReader(link, absent_polls=1)
    try:
        assert strict.poll() is not None
        emulator.remove()
        assert strict.poll() is None
        emulator.place(mifare_classic())
        assert strict.poll() == CardRead("3A9F12C4", "nfc")
    finally:
        strict.close()


def test_another_card_replacing_the_first_is_reported(
    reader: NfcCardReader, emulator: Pn532Emulator
) -> None:
    emulator.place(ntag213())
    assert reader.poll() == CardRead(NTAG_UID, "nfc")
    emulator.place(mifare_classic())  # swapped without a gap
    assert reader.poll() == CardRead("3A9F12C4", "nfc")


# --- NDEF card numbers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        ntag213(ndef=card_message()),
        ntag215(ndef=card_message()),
        type4_tag(ndef=card_message()),
        type4_tag(uid=bytes.fromhex("08A1B2C3"), ndef=card_message()),
        type4b_tag(ndef=card_message()),
    ],
    ids=["ntag213", "ntag215", "type4-7byte", "type4-4byte", "type4b"],
)
def test_the_ndef_text_is_the_card_number(
    ndef_reader: NfcCardReader, emulator: Pn532Emulator, card: Card
) -> None:
    emulator.place(card)
    assert ndef_reader.poll() == CardRead(CARD_NUMBER, "nfc-ndef")
    assert ndef_reader.poll() is None  # once per presentation here too


@pytest.mark.parametrize(
    ("card", "uid"),
    [
        (mifare_classic(), "3A9F12C4"),  # reads fail: the UID is all there is
        (ntag213(), NTAG_UID),  # formatted, empty NDEF
        (ntag213(ndef=ndef_message(uri_record("https://www.mb.sik.si"))), NTAG_UID),
        (ntag213(ndef=ndef_message(text_record("  "))), NTAG_UID),
        (ntag213(ndef=ndef_message(text_record("1\x002"))), NTAG_UID),
        (type4_tag(ndef=ndef_message(text_record("9" * 65))), "04112233445566"),
    ],
    ids=["classic", "empty", "uri-only", "blank-text", "control-chars", "too-long"],
)
def test_without_a_plausible_ndef_number_the_uid_is_reported(
    ndef_reader: NfcCardReader, emulator: Pn532Emulator, card: Card, uid: str
) -> None:
    emulator.place(card)
    assert ndef_reader.poll() == CardRead(uid, "nfc")


def test_ndef_text_is_trimmed(ndef_reader: NfcCardReader, emulator: Pn532Emulator) -> None:
    emulator.place(ntag213(ndef=ndef_message(text_record(" 4242 \n"))))
    assert ndef_reader.poll() == CardRead("4242", "nfc-ndef")


def test_ndef_is_ignored_unless_asked_for(reader: NfcCardReader, emulator: Pn532Emulator) -> None:
    emulator.place(ntag213(ndef=card_message()))
    assert reader.poll() == CardRead(NTAG_UID, "nfc")
    assert "InCommunicateThru" not in emulator.commands  # the UID alone needs no read


@pytest.mark.parametrize("exchanges", [0, 2, 5])
def test_a_card_taken_away_mid_read_is_not_reported(
    ndef_reader: NfcCardReader, emulator: Pn532Emulator, exchanges: int
) -> None:
    ndef_reader.poll()  # opened
    emulator.place(ntag213(ndef=card_message()))
    emulator.remove_card_after(exchanges)
    assert ndef_reader.poll() is None  # no half-read card, and no device error
    assert emulator.card is None
    emulator.place(ntag213(ndef=card_message()))  # the patron tries again
    assert ndef_reader.poll() == CardRead(CARD_NUMBER, "nfc-ndef")


# --- faults ------------------------------------------------------------------------------


def test_unplug_reports_and_replug_reopens(
    reader: NfcCardReader, emulator: Pn532Emulator, link: str
) -> None:
    emulator.place(ntag213())
    assert reader.poll() == CardRead(NTAG_UID, "nfc")
    emulator.unplug()
    with pytest.raises(DeviceError, match=f"the NFC reader nfc:{link} disappeared"):
        reader.poll()
    assert reader.describe().endswith("not open") and reader.state == "missing"
    with pytest.raises(DeviceError, match=f"cannot open the NFC reader nfc:{link}"):
        reader.poll()
    emulator.replug()  # the same path again
    assert reader.poll() == CardRead(NTAG_UID, "nfc")  # a reopened reader starts afresh
    assert reader.poll() is None
    emulator.place(mifare_classic())
    assert reader.poll() == CardRead("3A9F12C4", "nfc")


def test_a_garbled_answer_is_an_error_and_the_next_poll_resynchronises(
    reader: NfcCardReader, emulator: Pn532Emulator, link: str
) -> None:
    assert reader.poll() is None
    emulator.garble_replies(1, after=1)  # the answer to the type A search is noise
    with pytest.raises(DeviceError, match=f"the NFC reader nfc:{link} gave no valid answer"):
        reader.poll()
    emulator.place(ntag213())
    assert reader.poll() == CardRead(NTAG_UID, "nfc")
    assert emulator.commands.count("GetFirmwareVersion") == 4  # opened twice (init asks twice)


def test_noise_on_the_line_between_polls_is_harmless(
    reader: NfcCardReader, emulator: Pn532Emulator
) -> None:
    assert reader.poll() is None
    emulator.inject(bytes.fromhex("0000FF05FB D5 4B 01 01 00") + b"noise\x00\xff")
    time.sleep(0.05)  # arrived before the next command: nfcpy flushes it
    emulator.place(mifare_classic())
    assert reader.poll() == CardRead("3A9F12C4", "nfc")


def test_a_device_that_answers_nothing(
    emulator: Pn532Emulator, link: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.answer_nothing = True
    reader = NfcCardReader(link, retry_after_s=0)  # the app starts anyway, with a warning
    assert "no PN532 answered" in caplog.text
    with pytest.raises(DeviceError) as err:
        reader.poll()
    assert str(err.value) == (
        f"cannot open the NFC reader nfc:{link}: no PN532 answered: wrong port or driver,"
        " or the reader has no power"
    )
    emulator.answer_nothing = False
    assert reader.poll() is None  # it answers now: opened on the next poll
    reader.close()


def test_a_missing_reader_is_looked_for_once_a_second(emulator: Pn532Emulator, link: str) -> None:
    now = [100.0]
    emulator.unplug()
    reader = NfcCardReader(link, clock=lambda: now[0])  # retry_after_s=1.0, as in the app
    assert reader.state == "missing"
    emulator.replug()
    now[0] += 0.5
    with pytest.raises(DeviceError, match="cannot open"):  # the last failure, repeated
        reader.poll()
    assert emulator.commands == []  # without touching the line
    now[0] += 0.6
    assert reader.poll() is None and reader.state == "ok"
    reader.close()


def test_the_wrong_serial_driver_is_a_plain_error(link: str) -> None:
    reader = open_card_reader(f"nfc:{link}?driver=arygon")
    with pytest.raises(DeviceError, match="no Arygon reader answered"):
        reader.poll()


def test_a_missing_port_is_a_plain_error(tmp_path: Path) -> None:
    reader = open_card_reader(f"nfc:{tmp_path}/ttyUSB9")
    with pytest.raises(DeviceError, match=f"cannot open the NFC reader nfc:{tmp_path}/ttyUSB9"):
        reader.poll()
    assert reader.describe().endswith("not open")


def test_a_usb_reader_that_is_not_there() -> None:
    # No such vendor:product; on a machine without libusb nfcpy cannot even look.
    reader = open_card_reader("nfc:usb:ffff:fffe")
    with pytest.raises(DeviceError) as err:
        reader.poll()
    message = str(err.value)
    assert "nfc:usb:ffff:fffe" in message
    assert "no NFC reader found at usb:ffff:fffe" in message or "libusb-1.0" in message


def test_close(reader: NfcCardReader, emulator: Pn532Emulator) -> None:
    reader.poll()
    reader.close()
    assert emulator.commands[-2:] == ["SetSerialBaudRate", "PowerDown"]  # polite, as nfcpy is
    time.sleep(0.05)
    assert emulator.baudrate == 115200  # so the next open at 115200 finds it
    assert reader.describe().endswith("closed")
    with pytest.raises(DeviceError, match="is closed"):
        reader.poll()
    reader.close()  # twice is fine


def test_uids_never_reach_the_log(
    ndef_reader: NfcCardReader, emulator: Pn532Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        emulator.place(ntag213())
        assert ndef_reader.poll() == CardRead(NTAG_UID, "nfc")
        emulator.place(mifare_classic())
        ndef_reader.poll()
        emulator.unplug()
        with pytest.raises(DeviceError):
            ndef_reader.poll()
    assert caplog.records  # the driver did log (opened, hashes, closed)
    assert NTAG_UID not in caplog.text.upper() and "3A9F12C4" not in caplog.text.upper()
    assert card_hash(bytes.fromhex(NTAG_UID)) in caplog.text
    assert logging.getLogger("nfc").level == logging.WARNING  # nfcpy's frame dumps stay off


# --- addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("usb", NfcAddress("usb", False)),
        ("usb:072f:2200", NfcAddress("usb:072f:2200", False)),
        ("usb:001:023?ndef=1", NfcAddress("usb:001:023", False, ndef=True)),
        ("tty:AMA0:pn532", NfcAddress("tty:AMA0:pn532", False)),
        ("tty:USB0:arygon?ndef=yes", NfcAddress("tty:USB0:arygon", False, ndef=True)),
        ("usb?ndef", NfcAddress("usb", False, ndef=True)),
        ("/dev/ttyUSB0", NfcAddress("/dev/ttyUSB0", True)),
        (
            "/dev/serial/by-id/usb-1a86_USB2.0-Ser_-if00-port0?driver=Arygon&ndef=0",
            NfcAddress("/dev/serial/by-id/usb-1a86_USB2.0-Ser_-if00-port0", True, "arygon"),
        ),
    ],
)
def test_addresses(address: str, parsed: NfcAddress) -> None:
    assert parse_nfc_address(address, f"nfc:{address}") == parsed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nfc:", "needs a device, e.g. nfc:usb"),
        ("nfc:bluetooth", "'bluetooth' is not an NFC reader address"),
        ("nfc:usb:72f", "is not an NFC reader address"),
        ("nfc:tty:AMA0:rcs380", "is not an NFC reader address"),
        ("nfc:ttyUSB0", "is not an NFC reader address"),
        ("nfc:/dev/ttyUSB0?driver=acr122", "driver must be one of pn532, arygon, not 'acr122'"),
        ("nfc:/dev/ttyUSB0?speed=9600", "unknown option 'speed'; use driver and ndef"),
        ("nfc:usb?driver=pn532", "unknown option 'driver'; use ndef"),
        ("nfc:usb?ndef=maybe", "ndef must be 1 or 0, not 'maybe'"),
        ("nfc:usb?ndef=", "ndef must be 1 or 0, not ''"),
        ("nfc:usb?&ndef=1", "cannot read the options"),
        ("nfc:/dev/tty USB0", "may hold only letters"),
        ("nfc:/dev/ttyUSB0;reboot", "may hold only letters"),
        ("nfc:/dev/../etc/passwd", "may hold only letters"),
    ],
)
def test_bad_urls_give_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(DeviceError) as err:
        open_card_reader(url)
    assert message in str(err.value) and url.strip() in str(err.value)


def test_the_registry_makes_one_even_without_its_device(tmp_path: Path) -> None:
    url = f"nfc:{tmp_path}/gone?ndef=1"
    reader = open_card_reader(url)
    assert isinstance(reader, NfcCardReader) and reader.ndef and reader.is_path
    assert reader.state == "missing"  # the kiosk starts; the doctor shows it failed
    assert reader.describe() == f"NFC card reader {url}, card numbers from NDEF text: not open"
    reader.close()
    assert reader.state == "closed"


@given(st.text(max_size=40))
def test_any_address_text_gives_a_reader_or_one_clear_error(address: str) -> None:
    try:
        parsed = parse_nfc_address(address, f"nfc:{address}")
    except DeviceError as err:
        assert "nfc:" in str(err)
    else:
        assert parsed.device and parsed.driver in ("pn532", "arygon")


# --- whatever the device says -------------------------------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    noise=st.binary(max_size=48),
    after=st.integers(min_value=0, max_value=14),
    uid_tail=st.binary(min_size=6, max_size=6),
)
def test_random_answers_never_crash_or_hang(noise: bytes, after: int, uid_tail: bytes) -> None:
    uid = b"\x04" + uid_tail
    with Pn532Emulator() as emulator:
        reader = NfcCardReader(emulator.open_pty(), ndef=True, url="nfc:emulated?ndef=1")
        try:
            assert reader.poll() is None
            emulator.place(ntag213(uid=uid, ndef=card_message()))
            emulator.garble_replies(1, noise, after=after)  # in the search or the NDEF read
            started = time.monotonic()
            try:
                reads = [reader.poll()]
            except DeviceError as err:
                assert "nfc:emulated" in str(err)
                reads = []
            assert time.monotonic() - started < 2.0
            # The emulator answers properly again: the reader recovers by itself.
            reads += [reader.poll(), reader.poll()]
        finally:
            reader.close()
    cards = [read for read in reads if read is not None]
    assert len(cards) == 1
    assert cards[0] in (CardRead(CARD_NUMBER, "nfc-ndef"), CardRead(uid.hex().upper(), "nfc"))
