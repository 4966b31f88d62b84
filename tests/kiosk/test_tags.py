"""ISO 28560-3 decoding and encoding."""

from __future__ import annotations

import pickle
import string
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kiosk.tags import (
    DSFID_ISO_28560_2,
    LibraryTag,
    TagError,
    TypeOfUsage,
    crc16_28560,
    decode_tag,
    encode_tag,
    reverse_blocks,
)

# --- an independent CRC: bit by bit, where the module uses a table --------------------------


def crc_bitwise(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def build_basic(
    *,
    first: int = 0x11,
    parts: int = 1,
    part: int = 1,
    item: bytes = b"",
    country: bytes = b"SI",
    owner: bytes = b"50001",
    length: int = 34,
) -> bytes:
    """A basic block assembled by hand, CRC by the bitwise routine above."""
    block = bytearray(length)
    block[0], block[1], block[2] = first, parts, part
    block[3 : 3 + len(item)] = item
    block[21 : 21 + len(country)] = country
    block[23 : 23 + len(owner)] = owner
    padded = bytes(block).ljust(34, b"\0")
    crc = crc_bitwise(padded[:19] + padded[21:])
    block[19], block[20] = crc & 0xFF, crc >> 8
    return bytes(block)


# --- CRC ---------------------------------------------------------------------------------


def test_crc_standard_check_value() -> None:
    # CRC-16/CCITT-FALSE catalogue check value.
    assert crc16_28560(b"123456789") == 0x29B1


def test_crc_reference_string_of_the_danish_data_model() -> None:
    # Reference value used by the libdanrfid project for the data model's CRC.
    assert crc16_28560(b"RFID tag data model") == 0x1AEE


@given(st.binary(max_size=64))
def test_crc_table_agrees_with_bitwise(data: bytes) -> None:
    assert crc16_28560(data) == crc_bitwise(data)


# --- known answers -----------------------------------------------------------------------

# A 32-byte tag from the libdanrfid test suite: item 11223344, owner DE-705, CRC 0x3E51.
LIBDANRFID_TAG = bytes.fromhex("11010131313232333334340000000000000000513e4445373035000000000000")


def test_decodes_independent_32_byte_vector() -> None:
    tag = decode_tag(LIBDANRFID_TAG)
    assert tag == LibraryTag(
        item_id="11223344",
        parts_in_item=1,
        part_number=1,
        country="DE",
        owner_library="705",
        type_of_usage=TypeOfUsage.FOR_CIRCULATION,
        version=1,
        length=32,
    )
    assert tag.isil == "DE-705"
    assert encode_tag(tag) == LIBDANRFID_TAG


def test_decodes_hand_built_maribor_tag() -> None:
    raw = build_basic(item=b"30400123456", country=b"SI", owner=b"50001") + b"\0\0"
    tag = decode_tag(raw)
    assert tag.item_id == "30400123456"
    assert tag.isil == "SI-50001"
    assert tag.country == "SI" and tag.owner_library == "50001"
    assert tag.type_of_usage == TypeOfUsage.FOR_CIRCULATION
    assert tag.length == 34 and not tag.reversed_blocks and not tag.is_set
    assert encode_tag(tag) == raw


def test_encode_writes_the_documented_layout() -> None:
    tag = LibraryTag("1234", 2, 1, "SI", "50001", type_of_usage=TypeOfUsage.NOT_FOR_CIRCULATION)
    raw = encode_tag(tag)
    assert raw[:34] == build_basic(first=0x12, parts=2, item=b"1234")
    assert raw[34:] == b"\0\0"  # padded to whole 4-byte blocks
    assert tag.is_set


def test_full_length_owner_on_34_and_32_byte_tags() -> None:
    long_owner = "ABCDEFGHIJK"  # 11 characters: bytes 23-33
    tag = LibraryTag("1", 1, 1, "DK", long_owner)
    assert decode_tag(encode_tag(tag)).owner_library == long_owner
    with pytest.raises(ValueError, match="longer than 9"):
        LibraryTag("1", 1, 1, "DK", long_owner, length=32)
    short = LibraryTag("1", 1, 1, "DK", "ABCDEFGHI", length=32)
    raw = encode_tag(short)
    assert len(raw) == 32
    assert raw == build_basic(item=b"1", country=b"DK", owner=b"ABCDEFGHI", length=32)


def test_encode_length_override() -> None:
    tag = LibraryTag("77", 1, 1, "SI", "50001")
    raw = encode_tag(tag, length=32)
    assert len(raw) == 32
    assert decode_tag(raw).length == 32
    with pytest.raises(ValueError):
        encode_tag(LibraryTag("77", 1, 1, "SI", "ABCDEFGHIJ"), length=32)


def test_reversed_blocks_are_recognised() -> None:
    raw = build_basic(item=b"30400123456") + b"\0\0"
    tag = decode_tag(reverse_blocks(raw))
    assert tag.reversed_blocks
    assert tag.item_id == "30400123456"
    assert encode_tag(tag) == reverse_blocks(raw)


def test_reverse_blocks() -> None:
    assert reverse_blocks(b"\x01\x02\x03\x04\x05\x06\x07\x08\x09") == (
        b"\x04\x03\x02\x01\x08\x07\x06\x05\x09"
    )
    assert reverse_blocks(b"") == b""


def test_utf8_item_id() -> None:
    tag = LibraryTag("Č-12ž", 1, 1, "SI", "50001")
    assert decode_tag(encode_tag(tag)).item_id == "Č-12ž"


# --- extension blocks --------------------------------------------------------------------


def test_extension_blocks_decoded_raw() -> None:
    basic = build_basic(item=b"42")
    # id 0x0201 low byte first; checksum makes all bytes XOR to zero
    block = bytes([7, 0x01, 0x02, 7 ^ 0x01 ^ 0x02 ^ 0xAA ^ 0xBB ^ 0xCC, 0xAA, 0xBB, 0xCC])
    raw = basic + b"\x01" + block + b"\x00" + b"\x55" * 5  # filler, block, end, stale memory
    tag = decode_tag(raw)
    assert tag.extensions == ((0x0201, b"\xaa\xbb\xcc"),)
    # the canonical form drops the filler and the stale bytes, keeps the content
    assert encode_tag(tag) == basic + block + b"\x00" + b"\0\0"


def test_extension_list_may_end_at_the_end_of_memory_or_erased_memory() -> None:
    basic = build_basic(item=b"42")
    block = bytes([4, 0x09, 0x00, 4 ^ 0x09])
    assert decode_tag(basic + block).extensions == ((9, b""),)
    assert decode_tag(basic + block + b"\xff" * 12).extensions == ((9, b""),)


@pytest.mark.parametrize(
    ("tail", "detail"),
    [
        (bytes([5, 1, 0, 1 ^ 5 ^ 0x10 ^ 0xFF, 0x10]), "checksum"),  # xor is off
        (bytes([9, 1, 0, 0]), "past the end"),
        (bytes([3, 1, 0]), "too short"),
        (bytes([2, 0]), "too short"),
    ],
)
def test_invalid_extension_is_damaged(tail: bytes, detail: str) -> None:
    with pytest.raises(TagError) as err:
        decode_tag(build_basic(item=b"42") + tail)
    assert err.value.kind == "damaged"
    assert detail in str(err.value)


def test_encoded_extensions_end_with_a_marker_so_stale_memory_is_not_read() -> None:
    tag = LibraryTag("42", 1, 1, "SI", "50001", extensions=((5, b"ab"),))  # 34 + 6 bytes
    memory = bytearray(b"\x55" * 64)  # an old, longer tag content still on the chip
    raw = encode_tag(tag)
    memory[: len(raw)] = raw
    assert decode_tag(bytes(memory)) == tag


def test_32_byte_tag_with_extensions_round_trips() -> None:
    tag = LibraryTag("9", 1, 1, "SI", "50001", extensions=((1, b"xyz"),), length=32)
    raw = encode_tag(tag)
    assert raw[32] == 7  # the block starts right after the short basic block
    assert decode_tag(raw) == tag


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", bytes(32), bytes(112), b"\xff" * 36])
def test_blank(raw: bytes) -> None:
    with pytest.raises(TagError) as err:
        decode_tag(raw)
    assert err.value.kind == "blank"
    assert "blank" in str(err.value)


def test_not_library() -> None:
    raw = b"\x04\x11\x00\x00" + b"3M alphanumeric tag....." + bytes(8)  # another vendor's format
    with pytest.raises(TagError) as err:
        decode_tag(raw)
    assert err.value.kind == "not_library"


def test_part_3_bytes_under_the_part_2_dsfid_are_damaged() -> None:
    # DSFID 0x06 sends the tag to the part-2 decoder (tests/kiosk/test_tags_part2.py).
    raw = build_basic(item=b"123")
    with pytest.raises(TagError) as err:
        decode_tag(raw, dsfid=DSFID_ISO_28560_2)
    assert err.value.kind == "damaged"
    assert "28560-2" in str(err.value)


def test_crc_mismatch_is_damaged() -> None:
    raw = bytearray(build_basic(item=b"30400123456"))
    raw[5] ^= 0x01  # one bit flipped in the item ID
    with pytest.raises(TagError) as err:
        decode_tag(bytes(raw))
    assert err.value.kind == "damaged"
    assert "checksum" in str(err.value)


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"parts": 0, "part": 0}, "number of parts"),
        ({"parts": 2, "part": 0}, "part number 0"),
        ({"parts": 2, "part": 3}, "part number 3"),
        ({"item": b""}, "item ID is empty"),
        ({"item": b"12\x0034"}, "after its padding"),
        ({"item": b"\xff\xfe"}, "UTF-8"),
        ({"item": b"12\x07"}, "control characters"),
        ({"item": b"1", "country": b"S"}, "two letters"),
        ({"item": b"1", "country": b"1A"}, "two letters"),
        ({"item": b"1", "owner": b"500\x0001"}, "after its padding"),
        ({"item": b"1", "owner": b"50\xe901"}, "ASCII"),
    ],
)
def test_bad_fields_with_good_crc_are_damaged(fields: dict, detail: str) -> None:
    with pytest.raises(TagError) as err:
        decode_tag(build_basic(**fields))
    assert err.value.kind == "damaged"
    assert detail in str(err.value)


def test_tag_error_survives_pickle() -> None:
    err = pickle.loads(pickle.dumps(TagError("damaged", "the checksum does not match")))
    assert (err.kind, str(err)) == ("damaged", "the checksum does not match")


def test_short_read_is_damaged() -> None:
    with pytest.raises(TagError) as err:
        decode_tag(build_basic(item=b"1")[:20])
    assert err.value.kind == "damaged"
    assert "20 bytes" in str(err.value)


def test_unknown_type_of_usage_is_kept() -> None:
    tag = decode_tag(build_basic(first=0x15, item=b"1"))
    assert tag.type_of_usage == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": 2},
        {"type_of_usage": 16},
        {"parts_in_item": 256, "part_number": 1},
        {"item_id": "12345678901234567"},  # 17 bytes
        {"item_id": "ščžščžščž"},  # 18 bytes in UTF-8
        {"country": "SLO"},
        {"owner_library": "5000ž"},
        {"length": 33},
        {"extensions": ((0x10000, b""),)},
        {"extensions": ((1, bytes(252)),)},
    ],
)
def test_invalid_tags_cannot_be_built(kwargs: dict) -> None:
    fields = {
        "item_id": "1",
        "parts_in_item": 1,
        "part_number": 1,
        "country": "SI",
        "owner_library": "50001",
    }
    with pytest.raises(ValueError):
        LibraryTag(**(fields | kwargs))


def test_isil_without_country() -> None:
    assert LibraryTag("1", 1, 1, "", "").isil == ""
    assert LibraryTag("1", 1, 1, "", "50001").isil == "50001"


# --- properties --------------------------------------------------------------------------

item_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=16
).filter(lambda s: len(s.encode("utf-8")) <= 16)
digit_ids = st.text(alphabet=string.digits, min_size=1, max_size=16)
countries = st.one_of(st.just(""), st.text(alphabet=string.ascii_letters, min_size=2, max_size=2))
extension_lists = st.lists(
    st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=3
).map(tuple)
printable_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@st.composite
def library_tags(draw: st.DrawFn) -> LibraryTag:
    length = draw(st.sampled_from([34, 32]))
    parts = draw(st.integers(1, 255))
    return LibraryTag(
        item_id=draw(st.one_of(digit_ids, item_ids)),
        parts_in_item=parts,
        part_number=draw(st.integers(1, parts)),
        country=draw(countries),
        owner_library=draw(st.text(alphabet=printable_ascii, max_size=length - 23)),
        type_of_usage=draw(st.integers(0, 15)),
        extensions=draw(extension_lists),
        reversed_blocks=draw(st.booleans()),
        length=length,
    )


@given(library_tags())
def test_round_trip_tag_bytes_tag(tag: LibraryTag) -> None:
    raw = encode_tag(tag)
    assert len(raw) % 4 == 0
    assert decode_tag(raw) == tag
    assert encode_tag(decode_tag(raw)) == raw


@given(library_tags(), st.integers(0, 64))
def test_memory_after_the_content_is_ignored(tag: LibraryTag, spare: int) -> None:
    raw = encode_tag(tag)
    extra = 4 * spare if tag.reversed_blocks else spare  # reversed reads come in whole blocks
    if tag.reversed_blocks:
        padded = reverse_blocks(reverse_blocks(raw) + bytes(extra))
    else:
        padded = raw + bytes(extra)
    decoded = decode_tag(padded)
    if tag.length == 32 and not tag.extensions and extra >= 2:
        # On a larger chip a plain 32-byte tag reads as a 34-byte one: same content.
        assert decoded == replace(tag, length=34)
    else:
        assert decoded == tag


@given(st.binary(max_size=120), st.sampled_from([0, 0, 0x06, 0x3E]))
@example(b"\x10", 0)
@example(b"\x11" + bytes(40), 0)
def test_arbitrary_bytes_decode_or_raise_tag_error(data: bytes, dsfid: int) -> None:
    try:
        tag = decode_tag(data, dsfid=dsfid)
    except TagError as err:
        assert err.kind in {"blank", "not_library", "damaged", "unsupported"}
        assert str(err)
    else:
        assert isinstance(tag, LibraryTag)
        assert decode_tag(encode_tag(tag)) == tag


@st.composite
def crc_valid_random_blocks(draw: st.DrawFn) -> bytes:
    """Random fields behind a version-1 byte with a correct CRC: reaches the field checks."""
    length = draw(st.sampled_from([34, 32]))
    body = bytearray(draw(st.binary(min_size=length, max_size=length)))
    body[0] = 0x10 | (body[0] & 0x0F)
    padded = bytes(body).ljust(34, b"\0")
    crc = crc_bitwise(padded[:19] + padded[21:])
    body[19], body[20] = crc & 0xFF, crc >> 8
    tail = draw(st.binary(max_size=24))
    raw = bytes(body) + tail
    return reverse_blocks(raw) if draw(st.booleans()) else raw


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(crc_valid_random_blocks())
def test_crc_valid_garbage_decodes_or_is_damaged(raw: bytes) -> None:
    try:
        tag = decode_tag(raw)
    except TagError as err:
        assert err.kind == "damaged"
    else:
        # Whatever decodes must survive its own canonical form.
        assert decode_tag(encode_tag(tag)) == tag


@given(library_tags(), st.data())
def test_any_flipped_byte_never_crashes(tag: LibraryTag, data: st.DataObject) -> None:
    raw = bytearray(encode_tag(tag))
    index = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(1, 255))
    raw[index] ^= flip
    try:
        decoded = decode_tag(bytes(raw))
    except TagError as err:
        assert err.kind in {"blank", "not_library", "damaged"}
    else:
        # The CRC catches every single-byte error in the basic block: whatever still
        # decodes names the same item (a flip may only touch extensions or padding).
        assert core(decoded) == core(tag)


def core(tag: LibraryTag) -> tuple:
    return (
        tag.item_id,
        tag.parts_in_item,
        tag.part_number,
        tag.country,
        tag.owner_library,
        tag.type_of_usage,
    )
