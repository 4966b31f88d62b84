"""ISO 28560-2 library tags: data elements named by relative object identifiers.

The tag's DSFID (0x06, in the chip's DSFID field, not in user memory) says the memory
holds a list of data elements in the ISO/IEC 15962 "no directory" form:

    precursor  bit 7 offset flag | bits 6-4 compaction scheme | bits 3-0 relative OID
               (relative OID 15: the OID is 15 + the next byte)
    [offset]   present when the offset flag is set: the number of filler bytes after the data
    length     of the compacted data, one byte
    data       compacted
    [filler]   `offset` bytes, so that the next element starts on a block boundary

A precursor of 0x00 ends the list. Relative OIDs used here: 1 primary item identifier
(required, first), 2 content parameter (a bitmap of the elements present, most
significant bit = OID 3), 3 owner institution (ISIL, in its own 5-bit/4-bit code),
4 set information (digits: parts in item then part number, each half of the string),
5 type of usage. Others are kept raw.

Verified against the worked examples of ISO 28560-2 Annexes C and D (Russian
translation GOST R ISO 28560-2-2014): integer item ID "123456789012" as
91 00 05 1C BE 99 1A 14, content parameter 02 01 D0, set information "1203" as 14 02 04 B3,
six-bit "QA268.L55" as 1C 86|B6 E2 E3 35 D6 (padding = leading bits of a space), and the
ISIL code "DE-Heu1" as 21 40 8E 16 BF 1F. Not verified (no public source found): the
codes of ":" and "/" and of the shift/latch codes other than latch-lower (28),
latch-numeric (30) and shift-numeric (31); 5-bit padding with ones; numeric compaction
as BCD with an F filler nibble (as seen on tags, see ARCHITECTURE.md).

Canonical form (what `encode_part2` writes): the elements in order, a 0x00 end marker,
zero padding to whole 4-byte blocks.
"""

from __future__ import annotations

from typing import Final

from kiosk.tags import PART2, LibraryTag, TagError, TypeOfUsage, reverse_blocks

OID_ITEM_ID: Final = 1
OID_CONTENT: Final = 2
OID_OWNER: Final = 3
OID_SET: Final = 4
OID_USAGE: Final = 5

# Compaction schemes (precursor bits 6-4), ISO/IEC 15962.
APPLICATION: Final = 0
INTEGER: Final = 1
NUMERIC: Final = 2
FIVE_BIT: Final = 3
SIX_BIT: Final = 4
SEVEN_BIT: Final = 5
OCTETS: Final = 6
UTF8: Final = 7

# Relative OID, scheme, compacted data, filler bytes (None: no offset byte at all; the
# offset flag may be set with an offset of 0, as in the standard's own example).
Element = tuple[int, int, bytes, bytes | None]


class _Bad(ValueError):
    """Data that is not a well-formed part-2 element list."""


# --- bit packing --------------------------------------------------------------------------


def _pack(codes: list[tuple[int, int]], pad_bit: int) -> bytes:
    """Pack (value, width) pairs MSB first; fill the last byte with `pad_bit`s."""
    acc, nbits = 0, 0
    for value, width in codes:
        acc, nbits = (acc << width) | value, nbits + width
    spare = -nbits % 8
    acc = (acc << spare) | ((1 << spare) - 1 if pad_bit else 0)
    return acc.to_bytes((nbits + spare) // 8, "big")


def _bits(data: bytes) -> str:
    return "".join(f"{b:08b}" for b in data)


# --- character compaction (5/6/7-bit, ISO/IEC 15962) ------------------------------------

# Width, lowest and highest character, padding pattern. A character's code is its ASCII code's
# low `width` bits: six-bit "Q" (0x51) is 010001, and " " (0x20) is 100000, also the padding.
_CHAR_SCHEMES: Final = {
    FIVE_BIT: (5, 0x40, 0x5F, "11111"),
    SIX_BIT: (6, 0x20, 0x5F, "100000"),
    SEVEN_BIT: (7, 0x00, 0x7F, "1111111"),
}


def _fits(text: str, scheme: int) -> bool:
    _width, low, high, pad = _CHAR_SCHEMES[scheme]
    return (
        bool(text)
        and all(low <= ord(ch) <= high for ch in text)
        and _from_code(int(pad, 2), scheme) != text[-1]  # would be read back as padding
    )


def _from_code(code: int, scheme: int) -> str:
    if scheme == SIX_BIT and code < 0x20:
        return chr(0x40 | code)
    return chr(_CHAR_SCHEMES[scheme][1] | code)


def _pack_chars(text: str, scheme: int) -> bytes:
    width, _low, _high, pad = _CHAR_SCHEMES[scheme]
    mask = (1 << width) - 1
    bits = "".join(f"{ord(ch) & mask:0{width}b}" for ch in text)
    bits += (pad * 2)[: -len(bits) % 8]
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def _unpack_chars(data: bytes, scheme: int) -> str:
    width, _low, _high, pad = _CHAR_SCHEMES[scheme]
    bits = _bits(data)
    count = len(bits) // width
    tail = bits[count * width :]
    if tail != (pad * 2)[: len(tail)]:
        raise _Bad("the padding of a character string is wrong")
    codes = [bits[i * width : (i + 1) * width] for i in range(count)]
    if codes and codes[-1] == pad and len(tail) + width < 8:
        codes.pop()  # a whole pad code: less than a byte of padding in total
    return "".join(_from_code(int(code, 2), scheme) for code in codes)


# --- ISIL compaction (ISO 28560-2 Annex C) ----------------------------------------------

_UPPER, _LOWER, _DIGIT = "upper", "lower", "digit"
_LATCH_UPPER_5, _LATCH_LOWER, _SHIFT_LOWER_OR_UPPER, _LATCH_NUMERIC, _SHIFT_NUMERIC = (
    27,
    28,
    29,
    30,
    31,
)
_LETTER_CODES: Final = "-ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # 0 "-", 1-26 letters
_DIGIT_CODES: Final = "0123456789-:/"  # 4-bit set; 13-15 switch back (unverified values)
_DIGIT_LATCH_UPPER, _DIGIT_LATCH_LOWER, _DIGIT_SHIFT_UPPER = 13, 14, 15


def encode_isil(isil: str) -> bytes:
    """The ISIL in the 5-bit (letters) / 4-bit (digits) code, padded with ones."""
    codes: list[tuple[int, int]] = []
    mode = _UPPER
    i = 0
    while i < len(isil):
        ch = isil[i]
        if ch.isdigit() and ch.isascii():
            run = len(isil[i:]) - len(isil[i:].lstrip("0123456789"))
            if mode != _DIGIT:
                if run == 1:  # one digit among letters: shift, do not latch
                    codes += [(_SHIFT_NUMERIC, 5), (int(ch), 4)]
                    i += 1
                    continue
                codes.append((_LATCH_NUMERIC, 5))
                mode = _DIGIT
            codes.append((int(ch), 4))
        elif ch in "-:/" and mode == _DIGIT:
            codes.append((_DIGIT_CODES.index(ch), 4))
        elif ch in ":/":  # only the digit set has them
            codes += [(_SHIFT_NUMERIC, 5), (_DIGIT_CODES.index(ch), 4)]
        elif ch == "-" or ("A" <= ch <= "Z"):
            if mode == _LOWER and ch != "-":
                codes.append((_LATCH_UPPER_5, 5))
                mode = _UPPER
            elif mode == _DIGIT:
                codes.append((_DIGIT_LATCH_UPPER, 4))
                mode = _UPPER
            codes.append((_LETTER_CODES.index(ch.upper()), 5))
        elif "a" <= ch <= "z":
            if mode == _DIGIT:
                codes.append((_DIGIT_LATCH_LOWER, 4))
            elif mode == _UPPER:
                codes.append((_LATCH_LOWER, 5))
            mode = _LOWER
            codes.append((_LETTER_CODES.index(ch.upper()), 5))
        else:
            raise ValueError(f"ISIL {isil!r} has a character ({ch!r}) an ISIL cannot hold")
        i += 1
    return _pack(codes, pad_bit=1)


def decode_isil(data: bytes) -> str:
    bits = _bits(data)
    out: list[str] = []
    mode, pos = _UPPER, 0
    shifted: str | None = None
    while True:
        current = shifted or mode
        width = 4 if current == _DIGIT else 5
        if pos + width > len(bits):
            break
        code = int(bits[pos : pos + width], 2)
        if set(bits[pos:]) == {"1"}:  # padding: ones to the end
            break
        pos += width
        shifted = None
        if current == _DIGIT:
            if code < len(_DIGIT_CODES):
                out.append(_DIGIT_CODES[code])
            elif code == _DIGIT_LATCH_UPPER:
                mode = _UPPER
            elif code == _DIGIT_LATCH_LOWER:
                mode = _LOWER
            else:
                shifted = _UPPER
        elif code < len(_LETTER_CODES):
            ch = _LETTER_CODES[code]
            out.append(ch.lower() if current == _LOWER else ch)
        elif code == _LATCH_UPPER_5:
            mode = _UPPER
        elif code == _LATCH_LOWER:
            mode = _LOWER
        elif code == _SHIFT_LOWER_OR_UPPER:
            shifted = _UPPER if current == _LOWER else _LOWER
        elif code == _LATCH_NUMERIC:
            mode = _DIGIT
        else:
            shifted = _DIGIT
    if not out:
        raise _Bad("the owner institution (ISIL) is empty")
    return "".join(out)


# --- numbers ------------------------------------------------------------------------------


def _encode_digits(digits: str) -> tuple[int, bytes]:
    """Integer compaction where no leading zero would be lost, else BCD (numeric)."""
    if digits == "0" or not digits.startswith("0"):
        value = int(digits)
        return INTEGER, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    nibbles = digits + ("F" if len(digits) % 2 else "")
    return NUMERIC, bytes.fromhex(nibbles)


def _decode_bcd(data: bytes) -> str:
    text = data.hex().upper()
    if text.endswith("F"):
        text = text[:-1]
    if not text or not text.isdigit():
        raise _Bad("a numeric (BCD) value has digits out of range")
    return text


def _element_text(scheme: int, data: bytes) -> str:
    if not data:
        raise _Bad("a data element is empty")
    if scheme == INTEGER:
        return str(int.from_bytes(data, "big"))
    if scheme == NUMERIC:
        return _decode_bcd(data)
    if scheme in _CHAR_SCHEMES:
        return _unpack_chars(data, scheme)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("a text element is not valid UTF-8") from None


def _encode_text(text: str) -> tuple[int, bytes]:
    if text.isascii() and text.isdigit():
        return _encode_digits(text)
    for scheme in (FIVE_BIT, SIX_BIT, SEVEN_BIT):
        if _fits(text, scheme):
            return scheme, _pack_chars(text, scheme)
    return (OCTETS if text.isascii() else UTF8), text.encode("utf-8")


# --- element list -------------------------------------------------------------------------


def parse_elements(buf: bytes) -> tuple[Element, ...]:
    """The data elements in `buf`, up to the end marker. Raises _Bad."""
    found: list[Element] = []
    pos = 0
    while pos < len(buf):
        precursor = buf[pos]
        if precursor == 0x00 or set(buf[pos:]) <= {0x80} or set(buf[pos:]) <= {0xFF}:
            break  # end marker, or padding / erased memory after the last element
        pos += 1
        oid = precursor & 0x0F
        if oid == 15:
            oid = 15 + _byte(buf, pos, "relative OID")
            pos += 1
        if oid == 0:
            raise _Bad(f"a data element at byte {pos - 1} names relative OID 0")
        offset: int | None = None
        if precursor & 0x80:
            offset = _byte(buf, pos, "offset")
            pos += 1
        length = _byte(buf, pos, "length")
        pos += 1
        skip = offset or 0
        data, filler = buf[pos : pos + length], buf[pos + length : pos + length + skip]
        if len(data) < length or len(filler) < skip:
            raise _Bad("a data element runs past the end of the memory")
        found.append(
            (oid, (precursor >> 4) & 0x07, bytes(data), None if offset is None else bytes(filler))
        )
        pos += length + skip
    return tuple(found)


def _byte(buf: bytes, pos: int, what: str) -> int:
    if pos >= len(buf):
        raise _Bad(f"the memory ends where the {what} byte of a data element should be")
    return buf[pos]


def write_elements(elements: tuple[Element, ...]) -> bytes:
    out = bytearray()
    for oid, scheme, data, filler in elements:
        if not 1 <= oid <= 15 + 255 or not 0 <= scheme <= 7:
            raise ValueError(f"data element ({oid}, {scheme}) has no valid OID or scheme")
        if len(data) > 255 or len(filler or b"") > 255:
            raise ValueError(f"data element {oid} is longer than 255 bytes")
        flag = 0 if filler is None else 0x80
        out.append(flag | scheme << 4 | min(oid, 15))
        if oid >= 15:
            out.append(oid - 15)
        if filler is not None:
            out.append(len(filler))
        out.append(len(data))
        out += data + (filler or b"")
    out.append(0)
    out += bytes(-len(out) % 4)
    return bytes(out)


def content_parameter(oids: list[int]) -> bytes:
    """The bitmap of the optional elements present: most significant bit = relative OID 3."""
    bits = [oid - OID_OWNER for oid in oids if oid >= OID_OWNER]
    size = max(1, (max(bits, default=0) // 8) + 1)
    value = 0
    for bit in bits:
        value |= 1 << (size * 8 - 1 - bit)
    return value.to_bytes(size, "big")


# --- tag level ----------------------------------------------------------------------------


def make_part2_tag(
    item_id: str,
    *,
    isil: str = "",
    parts_in_item: int = 1,
    part_number: int = 1,
    type_of_usage: int | None = None,
) -> LibraryTag:
    """A new part-2 tag with the canonical elements for these fields. ValueError if invalid."""
    if not 1 <= part_number <= parts_in_item <= 255:
        raise ValueError(f"part {part_number} of {parts_in_item} is not a valid set")
    scheme, data = _encode_text(item_id)
    elements: list[Element] = [(OID_ITEM_ID, scheme, data, None)]
    optional: list[Element] = []
    if isil:
        optional.append((OID_OWNER, APPLICATION, encode_isil(isil), None))
    if parts_in_item > 1:
        width = len(str(parts_in_item))
        optional.append(
            (OID_SET, *_encode_digits(f"{parts_in_item:0{width}}{part_number:0{width}}"), None)
        )
    if type_of_usage is not None:
        optional.append((OID_USAGE, INTEGER, bytes((type_of_usage,)), None))
    if optional:
        cp = content_parameter([oid for oid, *_ in optional])
        elements.append((OID_CONTENT, APPLICATION, cp, None))
    tag = tag_from_elements(tuple(elements + optional), reversed_=False)
    if tag.item_id != item_id or tag.isil != isil:
        raise ValueError(f"item ID {item_id!r} or ISIL {isil!r} cannot be stored exactly")
    return tag


def tag_from_elements(elements: tuple[Element, ...], *, reversed_: bool) -> LibraryTag:
    """Read the fields the kiosk uses from the elements. Raises _Bad or ValueError."""
    if not elements or elements[0][0] != OID_ITEM_ID:
        raise _Bad("the first data element is not the primary item identifier")
    item_id = _element_text(elements[0][1], elements[0][2])
    country, owner = "", ""
    parts, part = 1, 1
    usage = TypeOfUsage.FOR_CIRCULATION
    for oid, scheme, data, _filler in elements[1:]:
        if oid == OID_ITEM_ID:
            raise _Bad("the tag has two primary item identifiers")
        if oid == OID_OWNER:
            isil = decode_isil(data) if scheme == APPLICATION else _element_text(scheme, data)
            prefix, sep, rest = isil.partition("-")
            if sep and len(prefix) == 2 and prefix.isalpha() and prefix.isascii():
                country, owner = prefix.upper(), rest
            else:
                owner = isil
        elif oid == OID_SET:
            parts, part = _set_information(_element_text(scheme, data))
        elif oid == OID_USAGE:
            if scheme != INTEGER or len(data) != 1:
                raise _Bad("the type of usage is not a one-byte integer")
            usage = data[0]
    return LibraryTag(
        item_id=item_id,
        parts_in_item=parts,
        part_number=part,
        country=country,
        owner_library=owner,
        type_of_usage=usage,
        reversed_blocks=reversed_,
        standard=PART2,
        crc_ok=None,
        elements=elements,
    )


def _set_information(digits: str) -> tuple[int, int]:
    """ "1203" is part 3 of 12: parts in item, then part number, each half of the digits."""
    if not digits.isdigit():
        raise _Bad(f"the set information {digits!r} is not digits")
    if len(digits) % 2:
        digits = "0" + digits  # integer compaction drops a leading zero ("0102" → 102)
    half = len(digits) // 2
    return int(digits[:half]), int(digits[half:])


def decode_part2(data: bytes) -> LibraryTag:
    """Decode the user memory of a DSFID 0x06 tag; the other block order is tried second."""
    data = bytes(data)
    if not data or set(data) <= {0x00} or set(data) <= {0xFF}:
        raise TagError("blank", "the tag is blank: nothing has been written to it yet")
    first: str | None = None
    for candidate, reversed_ in ((data, False), (reverse_blocks(data), True)):
        try:
            return tag_from_elements(parse_elements(candidate), reversed_=reversed_)
        except ValueError as exc:  # _Bad included
            first = first or str(exc)
    raise TagError("damaged", f"the ISO 28560-2 data is damaged: {first}")


def encode_part2(tag: LibraryTag) -> bytes:
    """The canonical user memory for a part-2 tag, in the tag's block order."""
    if not tag.elements:
        raise ValueError("a part-2 tag needs its data elements: build it with make_part2_tag")
    out = write_elements(tag.elements)
    return reverse_blocks(out) if tag.reversed_blocks else out
