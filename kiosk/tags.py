"""Library RFID tag data: ISO 28560-3 (fixed layout, the "Danish data model").

A driver hands us the raw user memory of a tag; this module turns it into a
`LibraryTag` or a `TagError` saying plainly why it cannot (blank, not a
library tag, damaged, a layout not supported yet). `encode_tag` is the exact
inverse, used by the simulator, the technician tools and the tests.

Layout of the basic block (34 bytes; 32-byte tags cut the owner field short):

    0      version (high nibble, 1) | type of usage (low nibble)
    1      parts in item
    2      part number
    3-18   primary item ID, UTF-8, NUL padded
    19-20  CRC-16 over bytes 0-18 and 21-33, low byte first
    21-22  country of the owner library (2 letters)
    23-33  owner library: ISIL without country prefix and hyphen, NUL padded

Extension blocks may follow: [length][id lo][id hi][xor][data...]. The list
ends at a length of 0, at the end of the memory, or where the rest of the
memory is erased (all 0xFF); a length of 1 is a filler byte.

Canonical form (what `encode_tag` writes, and what `decode_tag` maps back to
the same bytes): the basic block, the extension blocks, a 0 end marker when
there are extensions, zero padding to whole 4-byte blocks. Memory after the
end of the list and filler bytes carry no content and are not kept.

ISO 28560-2 (DSFID 0x06, object identifiers) lives in `kiosk.tags_part2`;
`decode_tag` hands such tags over to it and `encode_tag` does the same for a
`LibraryTag` whose `standard` is "28560-2".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

TagErrorKind = Literal["blank", "not_library", "damaged", "unsupported"]
Standard = Literal["28560-3", "28560-2"]
PART3: Final = "28560-3"
PART2: Final = "28560-2"


class TagError(Exception):
    """A tag that cannot be read as a library item. `kind` says why, the message says it plainly."""

    def __init__(self, kind: TagErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: TagErrorKind = kind
        self.message = message

    def __reduce__(self) -> tuple[type[TagError], tuple[TagErrorKind, str]]:
        # Keep the kind when the error crosses a process boundary (pickle).
        return (TagError, (self.kind, self.message))


class TypeOfUsage:
    """Named values of the type-of-usage nibble (ISO 28560-3, Danish data model).

    Values as in the Danish data model (DS/INF 163), which part 3 took over:
    7 is "discarded", 8 a patron card. Plain ints on purpose: tags carry other
    values too (3-6 local use, 9 and up), and the core must keep and show them.
    """

    ACQUISITION: Final = 0  # not yet in the library's stock
    FOR_CIRCULATION: Final = 1
    NOT_FOR_CIRCULATION: Final = 2  # reference copy: may not leave the building
    DISCARDED: Final = 7
    PATRON_CARD: Final = 8


SUPPORTED_VERSION: Final = 1
DSFID_ISO_28560_2: Final = 0x06
LONG_TAG: Final = 34
SHORT_TAG: Final = 32  # tags with 32 bytes of memory: owner field is bytes 23-31

_ITEM_ID = slice(3, 19)
_CRC = slice(19, 21)
_COUNTRY = slice(21, 23)
_OWNER_START = 23
_EXT_HEADER = 4  # length, id lo, id hi, xor
_EXT_MAX = 255


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc16_28560(data: bytes) -> int:
    """CRC-16 of ISO 28560-3: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def reverse_blocks(data: bytes) -> bytes:
    """Swap the byte order inside each 4-byte block (a trailing partial block too).

    Some readers (FEIG's ISO host protocol) deliver every block this way. The
    operation is its own inverse.
    """
    return b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))


@dataclass(frozen=True)
class LibraryTag:
    """The content of one library tag (ISO 28560-3 or -2). An invalid one raises ValueError.

    For part 2, `elements` (relative OID, compaction scheme, compacted data, offset
    padding) is what `encode_tag` writes; the other fields are read from it. Build a
    new part-2 tag with `kiosk.tags_part2.make_part2_tag`.
    """

    item_id: str
    parts_in_item: int
    part_number: int
    country: str  # "SI", or "" when the tag names no owner
    owner_library: str  # ISIL without the country prefix: "50001"
    type_of_usage: int = TypeOfUsage.FOR_CIRCULATION
    version: int = SUPPORTED_VERSION
    extensions: tuple[tuple[int, bytes], ...] = ()  # (block id, data), raw
    reversed_blocks: bool = False  # the reader delivered each 4-byte block reversed
    length: int = LONG_TAG  # size of the basic block: 34, or 32 on small tags
    standard: Standard = PART3
    crc_ok: bool | None = True  # None where the standard has no CRC (part 2)
    # Part 2 only, see above: (relative OID, scheme, data, filler or None: no offset byte).
    elements: tuple[tuple[int, int, bytes, bytes | None], ...] = ()

    def __post_init__(self) -> None:
        # Normalise so that equality does not depend on list vs tuple or bytearray vs bytes.
        object.__setattr__(
            self, "extensions", tuple((ext_id, bytes(data)) for ext_id, data in self.extensions)
        )
        object.__setattr__(
            self,
            "elements",
            tuple(
                (oid, scheme, bytes(d), None if pad is None else bytes(pad))
                for oid, scheme, d, pad in self.elements
            ),
        )
        _validate(self)

    @property
    def block_order(self) -> str:
        """ "reversed" when the reader delivered each 4-byte block reversed, else "normal"."""
        return "reversed" if self.reversed_blocks else "normal"

    @property
    def isil(self) -> str:
        """The owner library's ISIL, "SI-50001"; just the code when no country is given."""
        if self.country and self.owner_library:
            return f"{self.country}-{self.owner_library}"
        return self.owner_library

    @property
    def is_set(self) -> bool:
        """One part of a set (book with CD…): the kiosk must see all parts together."""
        return self.parts_in_item > 1


def _validate(tag: LibraryTag) -> None:
    if tag.standard not in (PART3, PART2):
        raise ValueError(f"standard {tag.standard!r} is neither {PART3} nor {PART2}")
    if tag.standard == PART2:
        # Part 2 has no fixed layout: the item ID is one data element (length in one byte).
        _validate_common(tag, max_id_bytes=255)
        return
    _validate_common(tag, max_id_bytes=_ITEM_ID.stop - _ITEM_ID.start)
    _validate_part3(tag)


def _validate_common(tag: LibraryTag, max_id_bytes: int) -> None:
    if not 1 <= tag.parts_in_item <= 255:
        raise ValueError(f"number of parts {tag.parts_in_item} is not between 1 and 255")
    if not 1 <= tag.part_number <= tag.parts_in_item:
        raise ValueError(
            f"part number {tag.part_number} is not between 1 and the number of parts "
            f"({tag.parts_in_item})"
        )
    _validate_item_id(tag.item_id, max_id_bytes)
    if tag.country and not (len(tag.country) == 2 and _is_ascii_letters(tag.country)):
        raise ValueError(f"country {tag.country!r} is not two letters")
    if not 0 <= tag.type_of_usage <= 0xFF:
        raise ValueError(f"type of usage {tag.type_of_usage} does not fit in a byte")


def _validate_part3(tag: LibraryTag) -> None:
    if tag.elements:
        raise ValueError("an ISO 28560-3 tag has no part-2 data elements")
    if tag.version != SUPPORTED_VERSION:
        raise ValueError(f"version {tag.version} is not supported (only {SUPPORTED_VERSION})")
    if not 0 <= tag.type_of_usage <= 0x0F:
        raise ValueError(f"type of usage {tag.type_of_usage} does not fit in 4 bits")
    if tag.length not in (LONG_TAG, SHORT_TAG):
        raise ValueError(f"tag length {tag.length} is neither {LONG_TAG} nor {SHORT_TAG}")
    room = tag.length - _OWNER_START
    if len(tag.owner_library) > room:
        raise ValueError(
            f"owner library {tag.owner_library!r} is longer than {room} characters "
            f"(the room on a {tag.length}-byte tag)"
        )
    if not all(" " <= ch <= "~" for ch in tag.owner_library):
        raise ValueError(
            f"owner library {tag.owner_library!r} has characters other than printable ASCII"
        )
    for ext_id, data in tag.extensions:
        if not 0 <= ext_id <= 0xFFFF:
            raise ValueError(f"extension block id {ext_id} does not fit in 16 bits")
        if len(data) > _EXT_MAX - _EXT_HEADER:
            raise ValueError(
                f"extension block {ext_id} has {len(data)} bytes of data, "
                f"at most {_EXT_MAX - _EXT_HEADER} fit"
            )


def _validate_item_id(item_id: str, max_bytes: int) -> None:
    if not item_id:
        raise ValueError("the item ID is empty")
    # Control characters (NUL included) never belong in an identifier; forbidding them
    # also keeps NUL padding unambiguous.
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in item_id):
        raise ValueError(f"item ID {item_id!r} contains control characters")
    try:
        size = len(item_id.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"item ID {item_id!r} is not valid text") from None
    if size > max_bytes:
        raise ValueError(f"item ID {item_id!r} is longer than {max_bytes} bytes")


def _is_ascii_letters(text: str) -> bool:
    return text.isascii() and text.isalpha()


# --- decoding ---------------------------------------------------------------------------

# How telling a failure is, when neither byte order decodes: a tag whose CRC matched but
# whose fields are wrong says more than a CRC mismatch, which says more than "not ours".
_RANK_NOT_LIBRARY = 0
_RANK_CRC = 1
_RANK_FIELDS = 2


class _Attempt(Exception):
    def __init__(self, rank: int, error: TagError) -> None:
        super().__init__(error.message)
        self.rank = rank
        self.error = error


def decode_tag(data: bytes, *, dsfid: int = 0) -> LibraryTag:
    """Decode a tag's user memory as read. Raises TagError (kind and plain message) otherwise.

    Both block orders are tried; the one whose CRC matches wins (normal order first).
    """
    data = bytes(data)
    if not data or all(b == 0x00 for b in data) or all(b == 0xFF for b in data):
        raise TagError("blank", "the tag is blank: nothing has been written to it yet")
    if dsfid == DSFID_ISO_28560_2:
        from kiosk.tags_part2 import decode_part2  # imported late: it imports this module

        return decode_part2(data)
    attempts: list[_Attempt] = []
    for candidate, reversed_ in ((data, False), (reverse_blocks(data), True)):
        try:
            return _decode_ordered(candidate, reversed_)
        except _Attempt as attempt:
            attempts.append(attempt)
    # max() keeps the first of equal ranks: the message about the normal byte order.
    raise max(attempts, key=lambda a: a.rank).error


def _decode_ordered(buf: bytes, reversed_: bool) -> LibraryTag:
    if buf[0] >> 4 != SUPPORTED_VERSION:
        raise _Attempt(
            _RANK_NOT_LIBRARY,
            TagError(
                "not_library",
                f"the tag does not hold ISO 28560-3 library data (first byte 0x{buf[0]:02X})",
            ),
        )
    if len(buf) < SHORT_TAG:
        raise _damaged(_RANK_CRC, f"only {len(buf)} bytes could be read, at least 32 are needed")
    length = _basic_block_length(buf)
    if length is None:
        raise _damaged(_RANK_CRC, "the checksum does not match the data")
    try:
        return LibraryTag(
            item_id=_padded_text(buf[_ITEM_ID], "item ID", "utf-8"),
            parts_in_item=buf[1],
            part_number=buf[2],
            country=_padded_text(buf[_COUNTRY], "country", "ascii"),
            owner_library=_padded_text(buf[_OWNER_START:length], "owner library", "ascii"),
            type_of_usage=buf[0] & 0x0F,
            version=buf[0] >> 4,
            extensions=_parse_extensions(buf, length),
            reversed_blocks=reversed_,
            length=length,
        )
    except ValueError as exc:
        raise _damaged(_RANK_FIELDS, str(exc)) from None


def _damaged(rank: int, detail: str) -> _Attempt:
    return _Attempt(rank, TagError("damaged", f"the tag data is damaged: {detail}"))


def _basic_block_length(buf: bytes) -> int | None:
    """34 or 32, whichever CRC matches; None when neither does.

    When bytes 32-33 are zero both CRCs agree; 34 is chosen then, which loses no
    content (a 32-byte tag read from a larger chip looks exactly like that).
    """
    stored = buf[_CRC.start] | buf[_CRC.start + 1] << 8
    if len(buf) >= LONG_TAG and _basic_crc(buf[:LONG_TAG]) == stored:
        return LONG_TAG
    if _basic_crc(buf[:SHORT_TAG]) == stored:
        return SHORT_TAG
    return None


def _basic_crc(basic: bytes) -> int:
    padded = basic.ljust(LONG_TAG, b"\x00")  # a 32-byte tag counts as if bytes 32-33 were 0
    return crc16_28560(padded[: _CRC.start] + padded[_CRC.stop :])


def _padded_text(field: bytes, name: str, encoding: str) -> str:
    content = field.rstrip(b"\x00")
    if b"\x00" in content:
        raise ValueError(f"the {name} has data after its padding")
    try:
        return content.decode(encoding)
    except UnicodeDecodeError:
        raise ValueError(f"the {name} is not valid {encoding.upper()} text") from None


def _parse_extensions(buf: bytes, start: int) -> tuple[tuple[int, bytes], ...]:
    found: list[tuple[int, bytes]] = []
    pos = start
    while pos < len(buf):
        size = buf[pos]
        if size == 0:  # end of the list
            break
        if size == 1:  # filler byte
            pos += 1
            continue
        if all(b == 0xFF for b in buf[pos:]):  # erased memory: nothing more was written
            break
        if size < _EXT_HEADER:
            raise ValueError(f"an extension block at byte {pos} is too short ({size} bytes)")
        block = buf[pos : pos + size]
        if len(block) < size:
            raise ValueError(f"an extension block at byte {pos} runs past the end of the data")
        if _xor(block) != 0:
            raise ValueError(f"the extension block at byte {pos} fails its checksum")
        found.append((block[1] | block[2] << 8, bytes(block[_EXT_HEADER:])))
        pos += size
    return tuple(found)


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


# --- encoding ---------------------------------------------------------------------------


def encode_tag(tag: LibraryTag, *, length: int | None = None) -> bytes:
    """The canonical bytes for `tag` (see the module docstring), ready to write from block 0.

    `length` overrides `tag.length` (34 or 32); by default the tag's own length is kept
    so that decode_tag(encode_tag(t)) == t.
    """
    if tag.standard == PART2:
        from kiosk.tags_part2 import encode_part2

        return encode_part2(tag)
    if length is not None and length != tag.length:
        tag = replace(tag, length=length)  # re-validates: the owner must fit
    basic = bytearray(tag.length)
    basic[0] = tag.version << 4 | tag.type_of_usage
    basic[1] = tag.parts_in_item
    basic[2] = tag.part_number
    basic[_ITEM_ID] = tag.item_id.encode("utf-8").ljust(16, b"\x00")
    basic[_COUNTRY] = tag.country.encode("ascii").ljust(2, b"\x00")
    basic[_OWNER_START:] = tag.owner_library.encode("ascii").ljust(tag.length - _OWNER_START, b"\0")
    crc = _basic_crc(bytes(basic))
    basic[_CRC] = bytes((crc & 0xFF, crc >> 8))

    out = bytearray(basic)
    for ext_id, data in tag.extensions:
        out += _extension_block(ext_id, data)
    if tag.extensions:
        out.append(0)  # end marker, so stale memory after it is never read as data
    out += bytes(-len(out) % 4)  # whole blocks, as they are written
    return reverse_blocks(bytes(out)) if tag.reversed_blocks else bytes(out)


def _extension_block(ext_id: int, data: bytes) -> bytes:
    head = bytes((_EXT_HEADER + len(data), ext_id & 0xFF, ext_id >> 8))
    return head + bytes((_xor(head + data),)) + data
