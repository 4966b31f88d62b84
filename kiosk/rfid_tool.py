"""The logic of `kiosk rfid decode|encode`, the technician's tag commands (no argparse here).

`decode` takes the user memory as hex. A blank tag is not an error: it is reported as
`{"standard": "blank", ...}` with exit code 0, so a technician can tell "nothing written"
from "cannot be read" (exit 1, reason on stderr). Bad hex or arguments: exit 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kiosk.tags import PART3, LibraryTag, TagError, decode_tag, encode_tag
from kiosk.tags_part2 import make_part2_tag

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FIELDS = (
    "standard",
    "usage",
    "primary_item_id",
    "parts_in_item",
    "part_number",
    "country",
    "isil",
    "crc_ok",
    "block_order",
)


class UsageError(ValueError):
    """Arguments that make no sense; the message says which and why."""


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    data: dict[str, Any] | None = None  # printed as one JSON object
    error: str = ""  # one line for stderr


def parse_hex(text: str) -> bytes:
    """Hex digits, optionally separated by spaces, colons or dashes ("E0:04 01…")."""
    digits = re.sub(r"[\s:\-]", "", text)
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    if not digits or len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise UsageError(f"{text!r} is not a whole number of hex bytes")
    return bytes.fromhex(digits)


def parse_dsfid(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f"--dsfid {text!r} is not a number (write 0x06 or 6)") from None
    if not 0 <= value <= 0xFF:
        raise UsageError(f"--dsfid {text!r} does not fit in a byte")
    return value


def describe(tag: LibraryTag) -> dict[str, Any]:
    return {
        "standard": tag.standard,
        "usage": tag.type_of_usage,
        "primary_item_id": tag.item_id,
        "parts_in_item": tag.parts_in_item,
        "part_number": tag.part_number,
        "country": tag.country or None,
        "isil": tag.isil or None,
        "crc_ok": tag.crc_ok,
        "block_order": tag.block_order,
    }


def run_decode(hex_text: str, dsfid_text: str = "0") -> Outcome:
    try:
        data, dsfid = parse_hex(hex_text), parse_dsfid(dsfid_text)
    except UsageError as exc:
        return Outcome(EXIT_USAGE, error=str(exc))
    try:
        tag = decode_tag(data, dsfid=dsfid)
    except TagError as exc:
        if exc.kind == "blank":
            return Outcome(EXIT_OK, dict.fromkeys(FIELDS) | {"standard": "blank"})
        return Outcome(EXIT_FAILED, error=f"{exc.kind}: {exc}")
    return Outcome(EXIT_OK, describe(tag))


def build_tag(
    item_id: str,
    *,
    country: str | None = None,
    isil: str | None = None,
    parts: int = 1,
    part: int = 1,
    part2: bool = False,
) -> LibraryTag:
    """The tag these arguments describe. Raises UsageError with a plain reason."""
    country = (country or "").upper()
    owner = isil or ""
    if "-" in owner:
        prefix, _, rest = owner.partition("-")
        if country and prefix.upper() != country:
            raise UsageError(f"--isil {isil} names country {prefix}, not --country {country}")
        country, owner = prefix.upper(), rest
    try:
        if part2:
            full = f"{country}-{owner}" if country and owner else owner
            return make_part2_tag(item_id, isil=full, parts_in_item=parts, part_number=part)
        return LibraryTag(item_id, parts, part, country, owner)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_encode(item_id: str, **options: Any) -> Outcome:
    try:
        tag = build_tag(item_id, **options)
    except UsageError as exc:
        return Outcome(EXIT_USAGE, error=str(exc))
    data = encode_tag(tag)
    if tag.standard == PART3:
        data = data[: tag.length]  # the 34-byte layout itself; the block padding holds nothing
    return Outcome(EXIT_OK, {"hex": data.hex().upper(), "standard": tag.standard})
