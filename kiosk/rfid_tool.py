"""The logic of `kiosk rfid decode|encode|scan`, the technician's tag commands (no argparse).

`decode` takes the user memory as hex. A blank tag is not an error: it is reported as
`{"standard": "blank", ...}` with exit code 0, so a technician can tell "nothing written"
from "cannot be read" (exit 1, reason on stderr). Bad hex or arguments: exit 2.
`scan` shows what a reader sees on the pad, decoded, with each tag's security state;
exit 1 when the reader cannot be opened or does not answer.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from drivers.base import TagRead, TagReader
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


# --- `kiosk rfid scan`: the live view of the pad ------------------------------------------

# Why a tag is not shown as an item; the TagError kinds plus a tag whose memory read failed.
UNREADABLE = "unreadable"
DEFAULT_AFI_IN_LIBRARY, DEFAULT_AFI_ON_LOAN = 0x07, 0xC2


@dataclass(frozen=True)
class ScanOptions:
    url: str
    once: bool = False
    as_json: bool = False
    interval_s: float = 0.5
    afi_on_loan: int = DEFAULT_AFI_ON_LOAN
    afi_in_library: int = DEFAULT_AFI_IN_LIBRARY


def parse_afi(text: str, option: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a number (write 0xC2 or 194)") from None
    if not 0 <= value <= 0xFF:
        raise UsageError(f"{option} {text!r} does not fit in a byte")
    return value


def check_scan_options(
    url: str, *, interval_s: float, afi_on_loan: str, afi_in_library: str, **flags: bool
) -> ScanOptions:
    """The scan command's arguments checked; raises UsageError with a plain reason."""
    from drivers.base import DeviceError
    from drivers.registry import KNOWN_TAG_READER_SCHEMES, parse_device_url

    try:
        scheme, _ = parse_device_url(url)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None
    if scheme not in KNOWN_TAG_READER_SCHEMES:
        known = ", ".join(s if s == "none" else f"{s}:" for s in KNOWN_TAG_READER_SCHEMES)
        raise UsageError(f"--reader {url!r}: unknown kind of reader; known: {known}")
    if not interval_s > 0:  # also refuses NaN
        raise UsageError(f"--interval must be a positive number of seconds, not {interval_s}")
    on_loan = parse_afi(afi_on_loan, "--afi-on-loan")
    in_library = parse_afi(afi_in_library, "--afi-in-library")
    if on_loan == in_library:
        raise UsageError("--afi-on-loan and --afi-in-library must differ")
    return ScanOptions(url, interval_s=interval_s, afi_on_loan=on_loan,
                       afi_in_library=in_library, **flags)  # fmt: skip


def security_state(afi: int, options: ScanOptions) -> str:
    if afi == options.afi_in_library:
        return "in library"
    if afi == options.afi_on_loan:
        return "on loan"
    return f"other (AFI 0x{afi:02X})"


def describe_read(read: TagRead, options: ScanOptions) -> dict[str, Any]:
    """One tag on the pad: UID, security state and the decoded item or why there is none.

    `status` is "ok" or why not: "blank", "not_library", "damaged", "unsupported",
    "unreadable" (the tag answered the inventory but not the memory read)."""
    entry: dict[str, Any] = {
        "uid": read.uid.hex().upper(),
        "afi": f"0x{read.afi:02X}",
        "security": security_state(read.afi, options),
        "dsfid": f"0x{read.dsfid:02X}",
        "status": "ok",
        "reason": None,
    }
    item: dict[str, Any] = dict.fromkeys(FIELDS)
    if not read.data:
        # The driver could not ask the tag its AFI either: its value says nothing.
        entry |= {"afi": None, "security": "unknown", "status": UNREADABLE}
        return entry | {"reason": "the tag answers but its memory read failed"} | item
    try:
        item = describe(decode_tag(read.data, dsfid=read.dsfid))
    except TagError as exc:
        entry |= {"status": exc.kind, "reason": exc.message}
        if exc.kind == "blank":
            item["standard"] = "blank"
    return entry | item


def inventory_report(reader: TagReader, options: ScanOptions) -> dict[str, Any]:
    """One inventory as the JSON object `--json` prints. Raises DeviceError."""
    reads = reader.inventory()
    return {
        "reader": reader.describe(),
        "state": getattr(reader, "state", "ok"),
        "tags": [describe_read(read, options) for read in reads],
    }


def render_text(report: dict[str, Any]) -> str:
    """A technician's table: one line per tag."""
    lines = [f"{report['reader']} - {len(report['tags'])} tag(s)"]
    for tag in report["tags"]:
        if tag["status"] == "ok":
            parts = f"part {tag['part_number']}/{tag['parts_in_item']}"
            what = f"item {tag['primary_item_id']} ({parts}, {tag['isil'] or 'no ISIL'}, "
            what += f"{tag['standard']}, {tag['block_order']} block order)"
        else:
            what = f"{tag['status'].replace('_', ' ')}: {tag['reason']}"
        lines.append(f"  {tag['uid']}  {tag['security']:<14}  {what}")
    if not report["tags"]:
        lines.append("  (no tags on the pad)")
    return "\n".join(lines)


def run_scan(
    options: ScanOptions,
    out: TextIO,
    *,
    open_reader: Callable[[str], TagReader] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    inventories: int | None = None,
) -> Outcome:
    """Print inventories until interrupted (or once). The Outcome carries the exit code and,
    on failure, the one-line reason. A reader lost after the first inventory is reported and
    scanning goes on: the driver reopens it when it is plugged back."""
    from drivers.base import DeviceError
    from drivers.registry import open_tag_reader

    try:
        reader = (open_reader or open_tag_reader)(options.url)
    except DeviceError as exc:
        return Outcome(EXIT_USAGE, error=str(exc))
    try:
        limit = 1 if options.once else inventories
        done, shown = 0, ""
        while limit is None or done < limit:
            if done:
                sleep(options.interval_s)
            try:
                report = inventory_report(reader, options)
            except DeviceError as exc:
                if not done:
                    return Outcome(EXIT_FAILED, error=str(exc))
                report = {"reader": options.url, "state": "missing", "error": str(exc), "tags": []}
            done += 1
            if options.as_json:
                out.write(json.dumps(report, ensure_ascii=False) + "\n")
            else:
                text = render_text(report) if "error" not in report else f"{report['error']}"
                if text == shown:
                    continue  # live mode prints changes only
                shown = text
                stamp = "" if options.once else time.strftime("%H:%M:%S ")
                out.write(stamp + text + "\n")
            out.flush()
        return Outcome(EXIT_OK)
    finally:
        reader.close()
