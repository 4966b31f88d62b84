"""SIP2 2.00 field formats: fixed-position fields, variable field identifiers, dates.

A fixed field has no identifier; its place in the message says what it is. Each
`FixedFormat` turns the few characters at that place into a Python value and
back, refusing anything the spec does not allow (the one documented leniency per
format is written next to it). Variable fields are `XXvalue|`; `VARIABLE_FIELDS`
names every identifier of the 2.00 spec and says whether it repeats (kept as a
tuple) or is a Y/N flag (kept as `bool | None`); all others are text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

BLANK_DATE = " " * 18
# The ACS status "date / time sync" uses eighteen zeros for "not supported".
_ZERO_DATE = "0" * 18
_UTC_ZONES = frozenset({"Z", "UTC", "GMT", "UT"})


# --------------------------------------------------------------------------- dates


def format_sip_date(value: dt.datetime | None) -> str:
    """`YYYYMMDDZZZZHHMMSS`: naive datetimes are local time (zone blank), aware ones go as UTC."""
    if value is None:
        return BLANK_DATE
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime or None, got {type(value).__name__}")
    zone = "    "
    if value.tzinfo is not None and value.utcoffset() is not None:
        try:
            value = value.astimezone(dt.UTC)
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"{value!r} cannot be expressed in UTC") from exc
        zone = "   Z"
    return (
        f"{value.year:04d}{value.month:02d}{value.day:02d}{zone}"
        f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
    )


def parse_fixed_date(text: str) -> dt.datetime | None:
    """Strict reading of an 18-character date field; blank (or 18 zeros) is None.

    A zone of `Z`, `UTC`, `GMT` or `UT` (anywhere in the four places) gives an aware
    UTC datetime; blanks mean local time (naive). Leniency: any other zone text is
    read as local time rather than refused, since the spec leaves those letters open.
    """
    # The digit checks keep fromisoformat (fast, in C) to the one shape YYYYMMDDTHHMMSS.
    day = text[:8]
    clock = text[12:]
    if day.isdigit() and clock.isdigit() and len(text) == 18 and text.isascii():
        if text == _ZERO_DATE:
            return None
        zone = text[8:12]
        if zone == "    " or zone.strip() not in _UTC_ZONES:
            return _from_iso(day + "T" + clock)
        return _from_iso(day + "T" + clock).replace(tzinfo=dt.UTC)
    if not text.strip():
        return None
    raise ValueError("must be YYYYMMDDZZZZHHMMSS")


_from_iso = dt.datetime.fromisoformat


_COMPACT = re.compile(
    r"(\d{4})(\d{2})(\d{2})\s*(?:[A-Za-z]{1,4}\s*)?(?:(\d{2}):?(\d{2}):?(\d{2})?)?"
)
_WITH_CLOCK = re.compile(r"(.+?)[\sT,]+(\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp][Mm])?)")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?")
_DAY_FIRST_DOTS = re.compile(r"(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{4})\.?")
_SLASHES = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_YEAR_SLASHES = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")


def parse_sip_date(text: str | None) -> dt.datetime | None:
    """Best effort reading of a date some server sent as free text (e.g. due date `AH`).

    Understands the SIP2 form (`20251224    235900`, with or without the zone and
    the time), ISO 8601 (`2025-12-24`, `2025-12-24T23:59:00Z`), `MM/DD/YYYY` (US
    servers; `DD/MM/YYYY` when the first number cannot be a month), `YYYY/MM/DD`
    and `DD.MM.YYYY` / `24. 12. 2025`, each optionally followed by a time
    (`23:59`, `11:59 PM`). Returns None for blank or unreadable text, never raises.
    A date without a time is midnight.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or text.strip("0") == "":
        return None
    try:
        return _parse_free_date(text)
    except (ValueError, OverflowError):
        return None


def _parse_free_date(text: str) -> dt.datetime | None:
    if len(text) == 18 and text[:8].isdigit():
        return parse_fixed_date(text)
    if match := _COMPACT.fullmatch(text):
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
        value = dt.datetime(year, month, day, hour, minute, second)
        zone = text[8:].strip(" 0123456789:").upper()
        return value.replace(tzinfo=dt.UTC) if zone in _UTC_ZONES else value
    if text[:4].isdigit() and text[4:5] == "-":
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    date_part, time_part = text, ""
    if match := _WITH_CLOCK.fullmatch(text):
        date_part, time_part = match[1], match[2]
    if match := _DAY_FIRST_DOTS.fullmatch(date_part):
        day, month, year = (int(g) for g in match.groups())
    elif match := _SLASHES.fullmatch(date_part):
        first, second, year = (int(g) for g in match.groups())
        month, day = (second, first) if first > 12 else (first, second)
    elif match := _YEAR_SLASHES.fullmatch(date_part):
        year, month, day = (int(g) for g in match.groups())
    else:
        return None
    hour = minute = second = 0
    if time_part:
        clock = _CLOCK.fullmatch(time_part)
        if clock is None:
            return None
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        if clock[4]:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if clock[4].lower() == "pm" else 0)
    return dt.datetime(year, month, day, hour, minute, second)


# --------------------------------------------------------------------------- fixed fields


@dataclass(frozen=True, slots=True)
class FixedFormat:
    """How one kind of fixed-position field is read (`parse`) and written (`format`).

    `parse` gets exactly `width` printable ASCII characters and raises ValueError or
    KeyError when they are not allowed; `format` raises TypeError or ValueError for a
    value it cannot write. `describe` is the rule, for error messages. One-character
    flags also give their `table` (character -> value), which the decoder indexes
    directly.
    """

    width: int
    parse: Callable[[str], Any]
    format: Callable[[Any], str]
    describe: str
    table: dict[str, Any] | None = None


def _flag(table: dict[str, Any], format_flag: Callable[[Any], str], rule: str) -> FixedFormat:
    return FixedFormat(1, table.__getitem__, format_flag, rule, table)


def _format_bool(true: str, false: str, none: str | None = None) -> Callable[[Any], str]:
    def format_flag(value: Any) -> str:
        if value is True:
            return true
        if value is False:
            return false
        if value is None and none is not None:
            return none
        allowed = "True, False or None" if none is not None else "True or False"
        raise TypeError(f"expected {allowed}, got {value!r}")

    return format_flag


YES_NO = _flag({"Y": True, "N": False}, _format_bool("Y", "N"), "Y or N")
# Y, N or U(nknown); also used for `resensitize`, which the spec gives only Y/N: some
# servers send U there too.
YES_NO_UNKNOWN = _flag({"Y": True, "N": False, "U": None}, _format_bool("Y", "N", "U"), "Y, N or U")
ONE_ZERO = _flag({"1": True, "0": False}, _format_bool("1", "0"), "1 or 0")
# "1 = stored; any other value = not stored" (item status update response).
ONE_OR_OTHER = FixedFormat(1, "1".__eq__, _format_bool("1", "0"), "1, or anything else for no")


def _digits(width: int) -> FixedFormat:
    limit = 10**width

    def parse(text: str) -> int:
        if text.isdigit():
            return int(text)
        raise ValueError

    def format_number(value: Any) -> str:
        if type(value) is not int:
            raise TypeError(f"expected an int, got {value!r}")
        if not 0 <= value < limit:
            raise ValueError(f"{value} does not fit in {width} digits")
        return f"{value:0{width}d}"

    return FixedFormat(width, parse, format_number, f"{width} digits")


def _count(width: int) -> FixedFormat:
    """A count that may be blank when the ACS does not know or support it (-> None)."""
    digits = _digits(width)
    blank = " " * width

    def parse(text: str) -> int | None:
        if text.isdigit():
            return int(text)
        if text == blank:
            return None
        raise ValueError

    def format_count(value: Any) -> str:
        return blank if value is None else digits.format(value)

    return FixedFormat(width, parse, format_count, f"{width} digits or blanks")


def _text(width: int, *, allowed: str | None = None, digits_only: bool = False) -> FixedFormat:
    """Raw text of a fixed width, optionally restricted to some characters or digits."""
    chars = frozenset(allowed) if allowed is not None else None
    parse: Callable[[str], str]
    if digits_only:
        rule = f"{width} digits"

        def parse(text: str) -> str:
            if text.isdigit():
                return text
            raise ValueError

    elif chars is not None:
        rule = f"{width} of {''.join(sorted(chars))!r}"

        def parse(text: str) -> str:
            if chars.issuperset(text):
                return text
            raise ValueError

    else:
        rule = f"{width} printable ASCII characters"
        parse = str  # the decoder has checked the whole fixed part is printable ASCII, no "|"

    def format_text(value: Any) -> str:
        if type(value) is not str:
            raise TypeError(f"expected str, got {value!r}")
        if len(value) != width or not (value.isascii() and value.isprintable()) or "|" in value:
            raise ValueError(f"must be exactly {width} printable ASCII characters, got {value!r}")
        return parse(value)

    return FixedFormat(width, parse, format_text, rule)


def _parse_date_field(text: str) -> dt.datetime | None:
    # parse_fixed_date for the decoder, which has checked the 18 characters are ASCII.
    day = text[:8]
    clock = text[12:]
    if day.isdigit() and clock.isdigit() and text != _ZERO_DATE:
        zone = text[8:12]
        if zone == "    " or zone.strip() not in _UTC_ZONES:
            return _from_iso(day + "T" + clock)
        return _from_iso(day + "T" + clock).replace(tzinfo=dt.UTC)
    return parse_fixed_date(text)


DATE = FixedFormat(18, _parse_date_field, format_sip_date, "YYYYMMDDZZZZHHMMSS or blank")
DIGIT = _digits(1)
THREE_DIGITS = _digits(3)
COUNT4 = _count(4)
TWO_DIGIT_CODE = _text(2, digits_only=True)
ANY1 = _text(1)
ANY3 = _text(3)
HOLD_MODE = _text(1, allowed="+-*")
# Leniency: N is read as "not set" like a blank, as some servers fill with N.
PATRON_STATUS = _text(14, allowed="YN ")
_SUMMARY_TEXT = _text(10, allowed="YN ")


def _format_summary(value: Any) -> str:
    text = _SUMMARY_TEXT.format(value)
    if text.count("Y") > 1:  # "only one category ... at a time" says the spec
        raise ValueError(f"asks for more than one category: {value!r}")
    return text


# Leniency on input only: more than one Y is read as it is (the ACS decides).
SUMMARY = FixedFormat(10, _SUMMARY_TEXT.parse, _format_summary, _SUMMARY_TEXT.describe)


def _parse_version(text: str) -> str:
    if not (text[0].isdigit() and text[1] == "." and text[2:].isdigit()):
        raise ValueError
    return text


def _format_version(value: Any) -> str:
    if type(value) is not str or len(value) != 4 or not value.isascii():
        raise ValueError(f"must be x.xx, got {value!r}")
    return _parse_version(value)


VERSION = FixedFormat(4, _parse_version, _format_version, "x.xx (e.g. 2.00)")


# --------------------------------------------------------------------------- variable fields


class Kind(IntEnum):
    """What a variable field holds in a message object."""

    TEXT = 0  # str (None when absent and optional)
    REPEATED = 1  # tuple[str, ...], in the order received
    FLAG = 2  # bool | None from Y / N (empty -> None)


@dataclass(frozen=True, slots=True)
class VariableField:
    code: str
    attr: str
    kind: Kind


def _registry(*rows: tuple[str, str, Kind]) -> dict[str, VariableField]:
    return {code: VariableField(code, attr, kind) for code, attr, kind in rows}


T, R, F = Kind.TEXT, Kind.REPEATED, Kind.FLAG
# Every field identifier of SIP2 2.00, with the attribute name it has in messages.
VARIABLE_FIELDS: dict[str, VariableField] = _registry(
    ("AA", "patron_identifier", T),
    ("AB", "item_identifier", T),
    ("AC", "terminal_password", T),
    ("AD", "patron_password", T),
    ("AE", "personal_name", T),
    ("AF", "screen_message", R),
    ("AG", "print_line", R),
    ("AH", "due_date", T),  # free text in the spec: see parse_sip_date
    ("AJ", "title_identifier", T),
    ("AL", "blocked_card_msg", T),
    ("AM", "library_name", T),
    ("AN", "terminal_location", T),
    ("AO", "institution_id", T),
    ("AP", "current_location", T),
    ("AQ", "permanent_location", T),
    ("AS", "hold_items", R),
    ("AT", "overdue_items", R),
    ("AU", "charged_items", R),
    ("AV", "fine_items", R),
    ("BD", "home_address", T),
    ("BE", "email_address", T),
    ("BF", "home_phone_number", T),
    ("BG", "owner", T),
    ("BH", "currency_type", T),
    ("BI", "cancel", F),
    ("BK", "transaction_id", T),
    ("BL", "valid_patron", F),
    ("BM", "renewed_items", R),
    ("BN", "unrenewed_items", R),
    ("BO", "fee_acknowledged", F),
    ("BP", "start_item", T),
    ("BQ", "end_item", T),
    ("BR", "queue_position", T),
    ("BS", "pickup_location", T),
    ("BT", "fee_type", T),
    ("BU", "recall_items", R),
    ("BV", "fee_amount", T),
    ("BW", "expiration_date", T),
    ("BX", "supported_messages", T),
    ("BY", "hold_type", T),
    ("BZ", "hold_items_limit", T),
    ("CA", "overdue_items_limit", T),
    ("CB", "charged_items_limit", T),
    ("CC", "fee_limit", T),
    ("CD", "unavailable_hold_items", R),
    ("CF", "hold_queue_length", T),
    ("CG", "fee_identifier", T),
    ("CH", "item_properties", T),
    ("CI", "security_inhibit", F),
    ("CJ", "recall_date", T),
    ("CK", "media_type", T),
    ("CL", "sort_bin", T),
    ("CM", "hold_pickup_date", T),
    ("CN", "login_user_id", T),
    ("CO", "login_password", T),
    ("CP", "location_code", T),
    ("CQ", "valid_patron_password", F),
)
del T, R, F

# Values never shown in error messages.
SECRET_FIELDS = frozenset({"AC", "AD", "CO"})
# Values shown only masked in error messages (privacy: patron identifiers are personal data).
PRIVATE_FIELDS = SECRET_FIELDS | {"AA"}

_CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Any two upper-case letters or digits is a well-formed field identifier.
VALID_FIELD_CODES = frozenset(a + b for a in _CODE_CHARS for b in _CODE_CHARS)

# --------------------------------------------------------------------------- flag fields

PATRON_STATUS_FLAGS: tuple[str, ...] = (
    "charge_privileges_denied",
    "renewal_privileges_denied",
    "recall_privileges_denied",
    "hold_privileges_denied",
    "card_reported_lost",
    "too_many_items_charged",
    "too_many_items_overdue",
    "too_many_renewals",
    "too_many_claims_of_items_returned",
    "too_many_items_lost",
    "excessive_outstanding_fines",
    "excessive_outstanding_fees",
    "recall_overdue",
    "too_many_items_billed",
)

# Positions of the `supported messages` (BX) field of the ACS status.
SUPPORTED_MESSAGES: tuple[str, ...] = (
    "patron_status",
    "checkout",
    "checkin",
    "block_patron",
    "status",
    "resend",
    "login",
    "patron_information",
    "end_patron_session",
    "fee_paid",
    "item_information",
    "item_status_update",
    "patron_enable",
    "hold",
    "renew",
    "renew_all",
)

# Positions of the patron information request's `summary` field.
SUMMARY_CATEGORIES: tuple[str, ...] = (
    "hold_items",
    "overdue_items",
    "charged_items",
    "fine_items",
    "recall_items",
    "unavailable_holds",
)


def _flag_string(names: Iterable[str], known: tuple[str, ...], width: int, what: str) -> str:
    wanted = set(names)
    unknown = wanted.difference(known)
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(sorted(unknown))}")
    return "".join("Y" if name in wanted else " " for name in known).ljust(width)


def patron_status_string(flags: Iterable[str]) -> str:
    """The 14-character patron status with a Y for each named flag (see PATRON_STATUS_FLAGS)."""
    return _flag_string(flags, PATRON_STATUS_FLAGS, 14, "patron status flag")


def supported_messages_string(names: Iterable[str]) -> str:
    """The 16-character BX value: Y for each supported message (see SUPPORTED_MESSAGES), else N."""
    wanted = set(names)
    unknown = wanted.difference(SUPPORTED_MESSAGES)
    if unknown:
        raise ValueError(f"unknown message name: {', '.join(sorted(unknown))}")
    return "".join("Y" if name in wanted else "N" for name in SUPPORTED_MESSAGES)


def summary_string(category: str | None) -> str:
    """The 10-character summary asking for the details of one category (or none)."""
    return _flag_string(() if category is None else (category,), SUMMARY_CATEGORIES, 10, "summary")
