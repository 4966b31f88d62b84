"""The PN532 emulator, byte for byte: hand-built host frames in, exact frames out, over its pty."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.emulators.pn532 import (
    ACK,
    ERROR_FRAME,
    NACK,
    HostFrame,
    HostFrameParser,
    Pn532Chip,
    Pn532Emulator,
    command_frame,
    crc_a,
    encode_frame,
    mifare_classic,
    ndef_message,
    ntag213,
    text_record,
    type4_tag,
    type4b_tag,
    uri_record,
)

NTAG_UID = bytes.fromhex("04A2246A2F5580")
# GetFirmwareVersion exactly as nfcpy sends it during init, and the PN532 v1.6 answer.
GET_FIRMWARE = bytes.fromhex("0000FF02FED4022A00")
FIRMWARE_ANSWER = bytes.fromhex("0000FF06FAD50332010607E800")
FINITE_RETRIES = command_frame(0x32, bytes.fromhex("05FF0101"))  # MxRtyPassiveActivation 1


@pytest.fixture
def emulator() -> Iterator[Pn532Emulator]:
    emulator = Pn532Emulator()
    emulator.open_pty()
    yield emulator
    emulator.close()


@pytest.fixture
def host(emulator: Pn532Emulator) -> Iterator[int]:
    """The driver's side of the pty, opened raw as a serial port would be."""
    fd = os.open(emulator.path, os.O_RDWR | os.O_NOCTTY)
    yield fd
    os.close(fd)


def read_for(fd: int, size: int, timeout: float = 0.5) -> bytes:
    """Read until `size` bytes came or `timeout` passed (then whatever came)."""
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        data += os.read(fd, size - len(data))
    return data


def read_frame(fd: int) -> bytes:
    """One frame from the chip, as long as its header says (ACK, normal or extended)."""
    head = read_for(fd, 5)
    if len(head) < 5 or head[3:5] in (b"\x00\xff", b"\xff\x00"):
        return head + read_for(fd, 1) if len(head) == 5 else head  # ACK / NACK: 6 bytes
    if head[3:5] == b"\xff\xff":
        head += read_for(fd, 3)
        return head + read_for(fd, (head[5] << 8 | head[6]) + 2)
    return head + read_for(fd, head[3] + 2)


def talk(fd: int, frame: bytes) -> bytes:
    """Send a frame; return the ACK and the answer frame that follow."""
    os.write(fd, frame)
    ack = read_frame(fd)
    return ack + read_frame(fd) if ack == ACK else ack


def nothing_comes(fd: int, wait: float = 0.1) -> bool:
    return read_for(fd, 1, timeout=wait) == b""


# --- frames ----------------------------------------------------------------------------------


def test_firmware_version_is_acknowledged_then_answered(host: int) -> None:
    assert talk(host, GET_FIRMWARE) == ACK + FIRMWARE_ANSWER


def test_the_wake_up_preamble_is_skipped(host: int) -> None:
    preamble = bytes.fromhex("55550000000000000000000000000000")
    assert talk(host, preamble + GET_FIRMWARE) == ACK + FIRMWARE_ANSWER


def test_a_damaged_frame_is_ignored_and_the_next_one_answered(
    emulator: Pn532Emulator, host: int
) -> None:
    bad_data_checksum = GET_FIRMWARE[:-2] + bytes([GET_FIRMWARE[-2] ^ 0xFF]) + b"\x00"
    bad_length_checksum = bytes.fromhex("0000FF0200D4022A00")
    for frame in (bad_data_checksum, bad_length_checksum):
        os.write(host, frame)
        assert nothing_comes(host)  # no ACK, no NACK: the PN532 stays silent
    assert emulator.chip.bad_frames == 2
    assert talk(host, GET_FIRMWARE) == ACK + FIRMWARE_ANSWER


def test_noise_before_a_frame_costs_nothing(host: int) -> None:
    noise = bytes.fromhex("FF13370000FF05")  # includes a start code with a broken length
    answer = talk(host, noise + GET_FIRMWARE)
    assert answer == ACK + FIRMWARE_ANSWER


def test_an_unknown_command_gets_the_error_frame(host: int) -> None:
    tg_init_as_target = command_frame(0x8C, bytes(37))
    assert talk(host, tg_init_as_target) == ACK + bytes.fromhex("0000FF01FF7F8100")


def test_a_frame_from_the_wrong_side_gets_the_error_frame(host: int) -> None:
    answer_frame = encode_frame(bytes.fromhex("D503"))  # TFI D5 is the chip's, not the host's
    assert talk(host, answer_frame) == ACK + ERROR_FRAME


def test_nack_repeats_the_last_answer(host: int) -> None:
    talk(host, GET_FIRMWARE)
    os.write(host, NACK)
    assert read_for(host, len(FIRMWARE_ANSWER)) == FIRMWARE_ANSWER


def test_a_long_diagnose_line_test_travels_in_extended_frames(host: int) -> None:
    # nfcpy's line test: NumTst 0 and 262 bytes, 265 bytes with TFI and code (over 255).
    data = b"\x00" + bytes(x & 0xFF for x in range(262))
    request = command_frame(0x00, data)
    assert request[:8] == bytes.fromhex("0000FFFFFF0109F6")
    answer = talk(host, request)
    assert answer[:6] == ACK
    assert answer[6:14] == bytes.fromhex("0000FFFFFF0109F6")  # LEN 0x0109, LCS
    assert answer[14:16] == bytes.fromhex("D501") and answer[16:-2] == data
    assert (sum(answer[14:-2]) + answer[-2]) & 0xFF == 0 and answer[-1] == 0


def test_encode_frame_normal_and_extended() -> None:
    assert encode_frame(bytes.fromhex("D50332010607")) == FIRMWARE_ANSWER
    assert encode_frame(bytes(300 - 35))[:8] == bytes.fromhex("0000FFFFFF0109F6")
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(ValueError):
        encode_frame(bytes(266))


# --- commands --------------------------------------------------------------------------------


def test_configuration_commands_nfcpy_sends(host: int) -> None:
    expected = {
        command_frame(0x14, bytes.fromhex("010000")): "D515",  # SAMConfiguration normal
        command_frame(0x12, b"\x00"): "D513",  # SetParameters
        command_frame(0x32, bytes.fromhex("02000B0A")): "D533",  # RFConfiguration timings
        command_frame(0x32, bytes.fromhex("0A59F43F114D85616F266287")): "D533",  # analog A
        command_frame(0x08, bytes.fromhex("63037F")): "D509",  # WriteRegister CIU_RxMode
        command_frame(0x06, bytes.fromhex("63036304")): "D5077F80",  # ReadRegister x2
        command_frame(0x16, bytes.fromhex("B0")): "D51700",  # PowerDown
    }
    for request, answer in expected.items():
        frame = encode_frame(bytes.fromhex(answer))
        assert talk(host, bytes(10) + request) == ACK + frame  # 10 bytes: wake up


def test_rf_configuration_with_a_wrong_length_is_a_syntax_error(host: int) -> None:
    assert talk(host, command_frame(0x32, b"\x05\x01")) == ACK + ERROR_FRAME


def test_list_passive_target_finds_the_ntag(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(ntag213())
    # D5 4B, NbTg 1, Tg 1, SENS_RES 00 44, SEL_RES 00, NFCID length 7, NFCID1.
    frame = encode_frame(bytes.fromhex("D54B0101004400 07") + NTAG_UID)
    assert talk(host, command_frame(0x4A, b"\x01\x00")) == ACK + frame


def test_list_passive_target_filters_by_uid(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(ntag213())
    talk(host, FINITE_RETRIES)
    found = talk(host, command_frame(0x4A, b"\x01\x00\x88" + NTAG_UID))
    assert found[11:14] == bytes.fromhex("D54B01")
    other = bytes.fromhex("88") + bytes(7)
    assert talk(host, command_frame(0x4A, b"\x01\x00" + other))[11:14] == bytes.fromhex("D54B00")


def test_no_card_with_finite_retries_leaves_sens_req_in_the_fifo(host: int) -> None:
    talk(host, FINITE_RETRIES)
    none = encode_frame(bytes.fromhex("D54B00"))
    assert talk(host, command_frame(0x4A, b"\x01\x00")) == ACK + none
    fifo = encode_frame(bytes.fromhex("D50726"))  # nfcpy reads CIU_FIFOData: REQA still there
    assert talk(host, command_frame(0x06, bytes.fromhex("6339"))) == ACK + fifo


def test_infinite_retries_wait_for_a_card(emulator: Pn532Emulator, host: int) -> None:
    os.write(host, command_frame(0x4A, b"\x01\x00"))  # MxRtyPassiveActivation still 0xFF
    assert read_for(host, 6) == ACK
    assert nothing_comes(host)
    emulator.place(mifare_classic())
    frame = encode_frame(bytes.fromhex("D54B0101000408043A9F12C4"))
    assert read_for(host, len(frame)) == frame


def test_a_host_ack_cancels_the_waiting_search(emulator: Pn532Emulator, host: int) -> None:
    os.write(host, command_frame(0x4A, b"\x01\x00"))
    assert read_for(host, 6) == ACK
    os.write(host, ACK)
    time.sleep(0.05)
    emulator.place(mifare_classic())
    assert nothing_comes(host)


def test_type_2_read_with_and_without_the_crc_check(emulator: Pn532Emulator, host: int) -> None:
    tag = ntag213(ndef=ndef_message(text_record("42")))
    emulator.place(tag)
    talk(host, command_frame(0x4A, b"\x01\x00"))
    pages = bytes(tag.memory[0:16])
    with_crc_check = encode_frame(bytes.fromhex("D54300") + pages)
    assert talk(host, command_frame(0x42, b"\x30\x00")) == (ACK + with_crc_check)
    talk(host, command_frame(0x08, bytes.fromhex("630300")))  # CIU_RxMode: CRC check off
    without = encode_frame(bytes.fromhex("D54300") + pages + crc_a(pages))
    assert talk(host, command_frame(0x42, b"\x30\x00")) == ACK + without
    assert pages[:4] == bytes([0x04, 0xA2, 0x24, 0x88 ^ 0x04 ^ 0xA2 ^ 0x24])  # UID0-2, BCC0
    assert pages[12:16] == bytes.fromhex("E1101200")  # capability container: 144 bytes


def test_the_classic_card_answers_no_read(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(mifare_classic())
    talk(host, command_frame(0x4A, b"\x01\x00"))
    timeout = encode_frame(bytes.fromhex("D54301"))  # status 01: the target did not answer
    assert talk(host, command_frame(0x42, b"\x30\x04")) == ACK + timeout


def test_type_4_over_communicate_thru(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(type4_tag(ndef=ndef_message(text_record("7"))))
    talk(host, command_frame(0x12, b"\x00"))  # no automatic RATS, as nfcpy sets it
    listed = talk(host, command_frame(0x4A, b"\x01\x00"))
    assert listed[6:] == encode_frame(bytes.fromhex("D54B0101034420 07 04112233445566"))
    ats = encode_frame(bytes.fromhex("D543000578807002"))
    assert talk(host, command_frame(0x42, b"\xe0\x80")) == ACK + ats
    select_app = bytes.fromhex("02 00A4040007D276000085010100")
    ok = encode_frame(bytes.fromhex("D54300 02 9000"))
    assert talk(host, command_frame(0x42, select_app)) == ACK + ok
    select_cc = bytes.fromhex("03 00A4000C02E103")
    ok = encode_frame(bytes.fromhex("D54300 03 9000"))
    assert talk(host, command_frame(0x42, select_cc)) == ACK + ok
    read_cc = bytes.fromhex("02 00B000000F")
    cc = bytes.fromhex("000F20003B00340406E10404000000")
    answer = encode_frame(bytes.fromhex("D5430002") + cc + b"\x90\x00")
    assert talk(host, command_frame(0x42, read_cc)) == ACK + answer


def test_automatic_rats_and_apdus_through_data_exchange(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(type4_tag(uid=bytes.fromhex("08123456")))
    listed = talk(host, command_frame(0x4A, b"\x01\x00"))  # default: fAutomaticRATS on
    assert listed[6:] == encode_frame(bytes.fromhex("D54B0101000420 04 08123456 0578807002"))
    select_app = bytes.fromhex("00A4040007D276000085010100")
    ok = encode_frame(bytes.fromhex("D54100 9000"))
    assert talk(host, command_frame(0x40, b"\x01" + select_app)) == ACK + ok
    unknown = encode_frame(bytes.fromhex("D54100 6D00"))
    assert talk(host, command_frame(0x40, bytes.fromhex("0100CA0000"))) == (ACK + unknown)


def test_type_b_is_listed_and_activated_by_the_chip(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(type4b_tag(pupi=bytes.fromhex("5A0B1C2D")))
    talk(host, FINITE_RETRIES)
    none = encode_frame(bytes.fromhex("D54B00"))
    assert talk(host, command_frame(0x4A, b"\x01\x00")) == ACK + none  # not a type A card
    # D5 4B, NbTg 1, Tg 1, ATQB (50 PUPI, app data, protocol info), ATTRIB_RES (CID 1).
    atqb = bytes.fromhex("50 5A0B1C2D 00000000 008171")
    listed = encode_frame(bytes.fromhex("D54B0101") + atqb + b"\x01\x01")
    assert talk(host, command_frame(0x4A, b"\x01\x03\x00")) == ACK + listed
    # What nfcpy does next: S(DESELECT) with CID 1, then WUPB for the ATQB again.
    deselected = encode_frame(bytes.fromhex("D54300CA01"))
    assert talk(host, command_frame(0x42, b"\xca\x01")) == ACK + deselected
    woken = encode_frame(bytes.fromhex("D54300") + atqb)
    assert talk(host, command_frame(0x42, b"\x05\x00\x08")) == ACK + woken


def test_data_exchange_without_a_target_is_not_acceptable(host: int) -> None:
    answer = encode_frame(bytes.fromhex("D54127"))
    assert talk(host, command_frame(0x40, b"\x01\x30\x00")) == ACK + answer


def test_the_card_leaves_mid_read(emulator: Pn532Emulator, host: int) -> None:
    emulator.place(ntag213())
    talk(host, command_frame(0x4A, b"\x01\x00"))
    emulator.remove_card_after(1)
    assert talk(host, command_frame(0x42, b"\x30\x00"))[11:14] == bytes.fromhex("D54300")
    assert talk(host, command_frame(0x42, b"\x30\x04"))[11:14] == bytes.fromhex("D54301")
    assert emulator.card is None


def test_set_serial_baud_rate_applies_after_the_host_ack(
    emulator: Pn532Emulator, host: int
) -> None:
    answer = encode_frame(bytes.fromhex("D511"))
    assert talk(host, command_frame(0x10, b"\x07")) == ACK + answer
    assert emulator.baudrate == 115200
    os.write(host, ACK)
    talk(host, GET_FIRMWARE)
    assert emulator.baudrate == 921600


def test_field_off_resets_the_card(emulator: Pn532Emulator, host: int) -> None:
    card = ntag213()
    emulator.place(card)
    talk(host, command_frame(0x4A, b"\x01\x00"))
    talk(host, command_frame(0x42, b"\x50\x00"))  # HLTA: the tag halts
    assert card.state == "halt"
    talk(host, command_frame(0x32, b"\x01\x02"))  # RF field off, as nfcpy's mute()
    assert card.state == "idle"


def test_garbled_replies_and_silence(emulator: Pn532Emulator, host: int) -> None:
    emulator.garble_replies(1, b"\x01\x02\x03", after=1)
    assert talk(host, GET_FIRMWARE) == ACK + FIRMWARE_ANSWER
    os.write(host, GET_FIRMWARE)
    assert read_for(host, 3) == b"\x01\x02\x03"
    emulator.answer_nothing = True
    os.write(host, GET_FIRMWARE)
    assert nothing_comes(host)


def test_unplug_closes_the_line(emulator: Pn532Emulator) -> None:
    fd = os.open(emulator.path, os.O_RDWR | os.O_NOCTTY)
    try:
        emulator.unplug()
        with pytest.raises(OSError):
            os.write(fd, GET_FIRMWARE)
            os.read(fd, 16)
    finally:
        os.close(fd)
    assert emulator.commands == []


def test_the_replugged_chip_restarts_with_the_card_still_on_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Pn532Emulator() as emulator:
        link = emulator.open_pty(tmp_path / "pn532")
        emulator.place(mifare_classic())
        emulator.chip.state.baudrate = 921600
        assert emulator.replug() == link and os.path.realpath(link) == emulator.path
        assert emulator.baudrate == 115200 and emulator.card is not None
    assert not (tmp_path / "pn532").exists()


# --- cards and NDEF ----------------------------------------------------------------------------


def test_ndef_message_bytes() -> None:
    message = ndef_message(text_record("0123", lang="sl"), uri_record("https://www.mb.sik.si"))
    assert message == bytes.fromhex("91 01 07 54 02 736C 30313233  51 01 0A 55 02") + b"mb.sik.si"


def test_cards_refuse_impossible_uids() -> None:
    with pytest.raises(ValueError):
        ntag213(uid=bytes(4))
    with pytest.raises(ValueError):
        mifare_classic(uid=bytes(7))
    with pytest.raises(ValueError):
        type4_tag(uid=bytes(5))
    with pytest.raises(ValueError, match="does not fit"):
        ntag213(ndef=ndef_message(text_record("x" * 200)))


# --- never crash, whatever comes --------------------------------------------------------------


@given(st.lists(st.binary(max_size=80), max_size=12))
def test_the_parser_takes_any_bytes(chunks: list[bytes]) -> None:
    parser = HostFrameParser(clock=lambda: 0.0)
    for chunk in chunks:
        for frame in parser.feed(chunk):
            assert frame.kind in ("ack", "nack", "info", "bad")
            if frame.kind == "info":
                assert 1 <= len(frame.payload) <= 265
        assert parser.pending <= 8 + 265 + 1  # never more than one frame held back


@given(
    st.binary(min_size=1, max_size=265),
    st.binary(max_size=20).filter(lambda noise: b"\x00\xff" not in noise),
    st.integers(min_value=1, max_value=8),
)
def test_a_frame_comes_through_noise_and_any_split(payload: bytes, noise: bytes, step: int) -> None:
    stream = noise + encode_frame(payload)
    parser = HostFrameParser(clock=lambda: 0.0)
    frames: list[HostFrame] = []
    for start in range(0, len(stream), step):
        frames += parser.feed(stream[start : start + step])
    assert frames[-1] == HostFrame("info", payload)


def test_a_stale_partial_frame_is_dropped() -> None:
    now = [0.0]
    parser = HostFrameParser(clock=lambda: now[0])
    assert parser.feed(GET_FIRMWARE[:5]) == []
    now[0] = 1.0
    assert parser.feed(GET_FIRMWARE) == [HostFrame("info", bytes.fromhex("D402"))]


@settings(max_examples=60)
@given(st.lists(st.binary(max_size=64), max_size=8), st.booleans())
def test_the_chip_answers_any_bytes_with_whole_frames(chunks: list[bytes], card: bool) -> None:
    chip = Pn532Chip(clock=lambda: 0.0)
    if card:
        chip.place(type4_tag())
    for chunk in chunks:
        for out in chip.receive(chunk) + chip.tick():
            if out in (ACK, ERROR_FRAME):
                continue
            frames = HostFrameParser(clock=lambda: 0.0).feed(out)
            assert [f.kind for f in frames] == ["info"] and frames[0].payload[0] == 0xD5


@settings(max_examples=60)
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
def test_the_chip_survives_any_command_data(requests: list[bytes]) -> None:
    chip = Pn532Chip(clock=lambda: 0.0)
    chip.place(ntag213())
    for request in requests:
        out = chip.receive(command_frame(request[0], request[1:]))
        assert out[0] == ACK  # every well-formed frame is acknowledged
