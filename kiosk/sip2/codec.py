"""SIP2 2.00 wire codec: bytes <-> typed messages, with checksums, charsets and framing.

No sockets here: the client and server feed `split()` what they read and
`decode()` each message; they `encode()` what they send.

Reading is tolerant where real peers differ and harmless: CR, CR LF or LF
endings; a NUL or stray LF around a message; checksums and sequence numbers
left out; lowercase checksum digits; y/n in flag fields; a stray empty field
`||`; a last field without its `|`; required fields in LENIENT_REQUIRED left
out; a single field sent twice (the first wins, the others are kept in
`unknown`); any zone text in dates; U in resensitize; N in patron status and
summary positions; blank counts; decomposed or badly encoded text (made NFC,
U+FFFD). It is strict about structure: a known message code; the fixed part
long enough, printable ASCII without `|`, every fixed field well formed;
required variable fields present; Y/N flag fields; field identifiers of two
upper-case letters or digits (so a stray `|` inside a value is an error);
AY/AZ only at the end; a correct checksum when one is present. Anything else
raises `Sip2Error` naming the field and position, with a short excerpt in
which passwords, PINs and patron identifiers are masked.

A Codec holds only its settings: one instance can serve several threads.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from kiosk.sip2.errors import ChecksumError, Sip2Error
from kiosk.sip2.fields import (
    PRIVATE_FIELDS,
    SECRET_FIELDS,
    VALID_FIELD_CODES,
    VARIABLE_FIELDS,
    Kind,
    format_sip_date,
    parse_sip_date,
)
from kiosk.sip2.messages import MESSAGES, SPECS, Message, MessageSpec

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "ChecksumError",
    "Codec",
    "Frame",
    "Sip2Error",
    "checksum",
    "format_sip_date",
    "parse_sip_date",
]

DEFAULT_MAX_LENGTH = 16384
_LINE_ENDINGS = (b"\r", b"\r\n", b"\n")
_FORBIDDEN_IN_VALUES = ("|", "\r", "\n", "\x00")
_FLAG_VALUES = {"Y": True, "N": False, "y": True, "n": False, "": None}
_FLAG_TEXT = {True: "Y", False: "N"}
_TEXT, _REPEATED, _FLAG = Kind.TEXT, Kind.REPEATED, Kind.FLAG
_ABSENT: Any = object()  # "no such flag value" while decoding
_new = object.__new__
_set_attribute = object.__setattr__


@dataclass(frozen=True)
class Frame:
    """One decoded message and what its trailer said."""

    message: Message
    sequence: int | None  # the AY value when present
    checksum_present: bool


def checksum(data: bytes) -> str:
    """The AZ value for `data` = every byte of the message up to and including "AZ"."""
    return f"{_checksum_value(data):04X}"


def _checksum_value(data: bytes) -> int:
    """The two's complement of the byte sum, low 16 bits."""
    return -_byte_sum(data) & 0xFFFF


def _byte_sum(data: bytes) -> int:
    # Summed with zlib.adler32 over slices of 256 bytes: its low half is 1 + the byte sum
    # while that stays below 65521, which 256 bytes of at most 255 do. Several times
    # faster than sum() in Python.
    size = len(data)
    if size <= 256:
        return _adler32(data) - 1
    if size <= 512:
        return (_adler32(data[:256]) & 0xFFFF) + (_adler32(data[256:]) & 0xFFFF) - 2
    view = memoryview(data)
    total = 0
    for start in range(0, size, 256):
        total += (_adler32(view[start : start + 256]) & 0xFFFF) - 1
    return total


_adler32 = zlib.adler32


def _transliterate(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: č -> c, é -> e, ﬁ -> fi; "?" when nothing readable is left."""
    if not isinstance(error, UnicodeEncodeError):  # registered for encoding only
        raise error
    out = []
    for char in error.object[error.start : error.end]:
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        # The replacement must itself encode and must not become a delimiter.
        ok = plain and plain.isprintable() and "|" not in plain
        try:
            if ok:
                plain.encode(error.encoding)
        except UnicodeEncodeError:
            ok = False
        out.append(plain if ok else "?")
    return "".join(out), error.end


codecs.register_error("kiosk.sip2.transliterate", _transliterate)


class Codec:
    """Encoder and decoder for one connection's settings."""

    def __init__(
        self,
        *,
        charset: str = "utf-8",
        checksums: bool = True,
        line_ending: bytes = b"\r",
        max_length: int = DEFAULT_MAX_LENGTH,
        unencodable: Literal["error", "replace"] = "error",
        sanitize: bool = False,
    ) -> None:
        try:
            self.charset = codecs.lookup(charset).name
        except LookupError:
            raise Sip2Error(f"unknown character set {charset!r}") from None
        # Framing works on bytes: the charset must write ASCII (digits, letters, |, CR) as is.
        if "AZ09|\r\n".encode(self.charset, "replace") != b"AZ09|\r\n":
            raise Sip2Error(f"character set {charset!r} cannot carry SIP2 (not ASCII-based)")
        if line_ending not in _LINE_ENDINGS:
            raise Sip2Error(f"line ending must be CR, CR LF or LF, not {line_ending!r}")
        if unencodable not in ("error", "replace"):
            raise Sip2Error(f"unencodable must be 'error' or 'replace', not {unencodable!r}")
        if max_length < 32:
            raise Sip2Error(f"max_length {max_length} is too small for any SIP2 message")
        self.checksums = checksums
        self.line_ending = line_ending
        self.max_length = max_length
        self.unencodable = unencodable
        self.sanitize = sanitize
        self._encode_errors = "kiosk.sip2.transliterate" if unencodable == "replace" else "strict"

    def __repr__(self) -> str:
        return (
            f"Codec(charset={self.charset!r}, checksums={self.checksums}, "
            f"line_ending={self.line_ending!r}, max_length={self.max_length})"
        )

    # ----------------------------------------------------------------------- encode

    def encode(self, message: Message, *, sequence: int | None = None) -> bytes:
        """The message as bytes, with AY/AZ when checksums are on and the line ending."""
        spec = SPECS.get(type(message))
        if spec is None:
            raise Sip2Error(f"cannot encode {type(message).__name__}: not a SIP2 message")
        values = message.__dict__
        pieces = [spec.code]
        for attr, fmt in spec.fixed:
            try:
                pieces.append(fmt.format(values[attr]))
            except (TypeError, ValueError) as exc:
                raise Sip2Error(
                    f"{message.name}: fixed field {attr} must be {fmt.describe}: {exc}"
                ) from None
        count = 0  # variable fields written, to check for stray "|" at once
        for code, attr, kind, required in spec.variable:
            value = values[attr]
            if kind is _TEXT:
                if value is None:
                    if required:
                        raise Sip2Error(f"{message.name}: {attr} ({code}) is required")
                    continue
                if type(value) is not str:
                    raise Sip2Error(
                        f"{message.name}: {attr} ({code}) must be str, not {_shown(code, value)}"
                    )
                pieces += (code, value, "|")
                count += 1
            elif kind is _REPEATED:
                if type(value) is not tuple:
                    raise Sip2Error(f"{message.name}: {attr} ({code}) must be a tuple of str")
                for item in value:
                    if type(item) is not str:
                        raise Sip2Error(f"{message.name}: {attr} ({code}) holds {item!r}")
                    pieces += (code, item, "|")
                count += len(value)
            elif value is not None:
                text = _FLAG_TEXT.get(value) if type(value) is bool else None
                if text is None:
                    raise Sip2Error(f"{message.name}: {attr} ({code}) must be True, False or None")
                pieces += (code, text, "|")
                count += 1
        unknown = values["unknown"]
        for entry in unknown:
            if (
                type(entry) is not tuple
                or len(entry) != 2
                or entry[0] not in VALID_FIELD_CODES
                or entry[0] in ("AY", "AZ")
                or type(entry[1]) is not str
            ):
                raise Sip2Error(
                    f"{message.name}: unknown fields must be (code, text) pairs with a code of"
                    f" two upper-case letters or digits, got {entry!r}"
                )
            pieces += (entry[0], entry[1], "|")
        count += len(unknown)
        text = "".join(pieces)
        if text.count("|") != count or "\r" in text or "\n" in text or "\x00" in text:
            text = self._clean(message, spec, pieces)
        return self._frame(message, text, sequence)

    def _clean(self, message: Message, spec: MessageSpec, pieces: list[str]) -> str:
        """Slow path: a value holds |, CR, LF or NUL. Replace them, or say which field."""
        fixed_count = 1 + len(spec.fixed)
        out = pieces[:fixed_count]
        for i in range(fixed_count, len(pieces), 3):
            code, value = pieces[i], pieces[i + 1]
            bad = [c for c in _FORBIDDEN_IN_VALUES if c in value]
            if bad:
                if not self.sanitize:
                    names = ", ".join(
                        {"|": "'|'", "\r": "CR", "\n": "LF"}.get(c, "NUL") for c in bad
                    )
                    raise Sip2Error(f"{message.name}: field {_field_name(code)} contains {names}")
                for c in bad:
                    value = value.replace(c, " ")
            out += (code, value, "|")
        return "".join(out)

    def _frame(self, message: Message, text: str, sequence: int | None) -> bytes:
        try:
            data = text.encode(self.charset, self._encode_errors)
        except UnicodeEncodeError as exc:
            raise Sip2Error(self._unencodable(message, text, exc)) from None
        if self.checksums:
            if message.code in ("96", "97"):
                data += b"AZ"  # resend requests never carry a sequence number
            elif sequence is None:
                data += b"AY0AZ"
            elif type(sequence) is int and 0 <= sequence <= 9:
                data += b"AY%dAZ" % sequence
            else:
                raise Sip2Error(f"sequence number must be 0 to 9, not {sequence!r}")
            data += b"%04X" % _checksum_value(data)
        data += self.line_ending
        if len(data) > self.max_length:
            raise Sip2Error(
                f"{message.name} is {len(data)} bytes, over the limit of {self.max_length}"
            )
        return data

    def _unencodable(self, message: Message, text: str, exc: UnicodeEncodeError) -> str:
        char = text[exc.start]
        spec = SPECS[type(message)]
        start = 2 + spec.fixed_length
        code = "fixed part"
        if exc.start >= start:
            # The field holding the character is the last "XX" that starts after a "|".
            field_start = text.rfind("|", start, exc.start) + 1 or start
            code = text[field_start : field_start + 2]
        shown = "a character" if code in SECRET_FIELDS else f"{char!r} (U+{ord(char):04X})"
        return (
            f"{message.name}: field {_field_name(code)} holds {shown}, which the character"
            f" set {self.charset} cannot carry"
        )

    # ----------------------------------------------------------------------- decode

    def decode(self, data: bytes) -> Frame:
        """One message (with or without its line ending) -> Frame. Raises Sip2Error."""
        if type(data) is not bytes:
            data = bytes(data)
        if len(data) > self.max_length:
            raise Sip2Error(f"message of {len(data)} bytes is over the limit of {self.max_length}")
        data = data.strip(b"\r\n\x00")
        if 13 in data or 10 in data or 0 in data:  # CR, LF, NUL (int tests are the fast ones)
            raise Sip2Error(
                f"message holds a CR, LF or NUL in the middle: {_excerpt(data.decode('latin-1'))}"
            )
        checksum_present = False
        # "AZ" and four hex digits at the very end; anything else there (e.g. a last
        # field "...AZ123|") is left to the field parser, which needs a final "|".
        if data[-6:-4] == b"AZ" and data[-4:].isalnum():
            try:
                claimed = int(data[-4:], 16)
            except ValueError:
                claimed = -1
            if claimed >= 0:
                body = data[:-4]
                total = _adler32(body) - 1 if len(body) <= 256 else _byte_sum(body)
                if (total + claimed) & 0xFFFF:
                    raise ChecksumError(
                        f"wrong checksum {data[-4:].decode()}, expected {checksum(body)}: "
                        f"{_excerpt(data.decode('latin-1'))}"
                    )
                checksum_present = True
                data = data[:-6]
        sequence = None
        if data[-3:-1] == b"AY" and 48 <= data[-1] <= 57:
            sequence = data[-1] - 48
            data = data[:-3]
        text = data.decode(self.charset, "replace")
        if not text.isascii():
            # Some servers send decomposed letters (c + combining caron): keep one form.
            text = unicodedata.normalize("NFC", text)
        spec = MESSAGES.get(text[:2])
        if spec is None:
            what = "message too short" if len(text) < 2 else f"unknown message code {text[:2]!r}"
            raise Sip2Error(f"{what}: {_excerpt(text)}")
        frame = _new(Frame)  # skips the frozen dataclass __init__ (slow on a hot path)
        fields = frame.__dict__
        fields["message"] = _parse(spec, text)
        fields["sequence"] = sequence
        fields["checksum_present"] = checksum_present
        return frame

    # ----------------------------------------------------------------------- framing

    def split(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Complete messages (without line endings) in `buffer`, and the incomplete rest.

        Any of CR, CR LF and LF ends a message; empty lines are skipped. Raises
        Sip2Error when the unfinished rest is already longer than `max_length`, so a
        peer cannot make the reader buffer without limit.
        """
        last = max(buffer.rfind(b"\r"), buffer.rfind(b"\n"))
        if last < 0:
            messages: list[bytes] = []
            rest = buffer
        else:
            complete = buffer[:last].replace(b"\r\n", b"\r").replace(b"\n", b"\r")
            messages = [m for m in complete.split(b"\r") if m]
            rest = buffer[last + 1 :]
        if len(rest) > self.max_length:
            raise Sip2Error(
                f"no end of message within {self.max_length} bytes: the peer is not speaking SIP2"
            )
        return messages, rest


def _parse(spec: MessageSpec, text: str) -> Message:
    """Fixed fields by position, then the variable fields; builds the message object."""
    end = 2 + spec.fixed_length
    if len(text) < end:
        raise Sip2Error(
            f"{spec.cls.__name__} ({spec.code}) needs {spec.fixed_length} characters of fixed"
            f" fields, got {len(text) - 2}: {_excerpt(text, spec)}"
        )
    fixed_text = text[2:end]
    if not (fixed_text.isascii() and fixed_text.isprintable()) or "|" in fixed_text:
        raise Sip2Error(_bad_fixed_text(spec, text))
    values = spec.defaults.copy()
    try:
        spec.parse_fixed(text, values)
    except (ValueError, KeyError, TypeError, OverflowError):
        raise Sip2Error(_bad_fixed_field(spec, text)) from None
    if len(text) > end:
        # Leniency: a last field without its "|" (seen from some servers) runs to the end.
        fields = text[end:-1] if text[-1] == "|" else text[end:]
        parts = fields.split("|")
        fixed_values = values.copy()
        try:
            _variable_fields(spec, text, parts, values)
        except _StrayBar:
            # A server that let "|" into a value (an e-mail address, say): the fragment after
            # it cannot begin with a field code, so it is glued back where it came from.
            values = fixed_values
            _variable_fields(spec, text, _glue_stray_bars(parts), values)
    if spec.required and None in spec.required_values(values):
        _fill_missing(spec, values, text)
    # The frozen dataclass gets the checked values as its attribute dict, without __init__.
    message = _new(spec.cls)
    _set_attribute(message, "__dict__", values)
    return message


class _StrayBar(Sip2Error):
    """A variable field that does not start with a field code (a "|" inside a value)."""


def _glue_stray_bars(parts: list[str]) -> list[str]:
    glued: list[str] = []
    for part in parts:
        if glued and part and part[:2] not in VALID_FIELD_CODES:
            glued[-1] += "|" + part
        else:
            glued.append(part)
    return glued


def _variable_fields(
    spec: MessageSpec, text: str, parts: list[str], values: dict[str, Any]
) -> None:
    """The variable fields into `values` (any order; repeated ones as tuples)."""
    # Hot loop: dictionaries bound to locals, the common single text field first.
    text_field = spec.text_fields.get
    repeated_field = spec.repeated_fields.get
    flag_field = spec.flag_fields.get
    unknown: list[tuple[str, str]] = []
    lists: dict[str, list[str]] = {}
    for part in parts:
        code = part[:2]
        attr = text_field(code)
        if attr is not None:
            if values[attr] is None:
                values[attr] = part[2:]
            else:
                unknown.append((code, part[2:]))  # a single field sent twice: keep both
            continue
        attr = repeated_field(code)
        if attr is not None:
            try:
                lists[attr].append(part[2:])
            except KeyError:
                lists[attr] = [part[2:]]
            continue
        attr = flag_field(code)
        if attr is not None:
            flag = _FLAG_VALUES.get(part[2:], _ABSENT)
            if flag is _ABSENT:
                raise Sip2Error(
                    f"{spec.cls.__name__} ({spec.code}): field {_field_name(code)} must be"
                    f" Y or N, got {part[2:]!r}: {_excerpt(text, spec)}"
                )
            if values[attr] is None:
                values[attr] = flag
            else:
                unknown.append((code, part[2:]))
        elif part:
            if code == "AY" or code == "AZ":
                raise Sip2Error(_bad_code(spec, text, code))
            if code not in VALID_FIELD_CODES:
                raise _StrayBar(_bad_code(spec, text, code))
            unknown.append((code, part[2:]))
        # else: a stray "||", nothing lost by skipping it
    for attr, items in lists.items():
        values[attr] = tuple(items)
    if unknown:
        values["unknown"] = tuple(unknown)


def _fill_missing(spec: MessageSpec, values: dict[str, Any], text: str) -> None:
    """Required fields absent: "" where LENIENT_REQUIRED allows it, else an error."""
    for code, attr, lenient in spec.required:
        if values[attr] is None:
            if not lenient:
                raise Sip2Error(
                    f"{spec.cls.__name__} ({spec.code}): required field {_field_name(code)} is"
                    f" missing: {_excerpt(text, spec)}"
                )
            values[attr] = ""


def _bad_fixed_text(spec: MessageSpec, text: str) -> str:
    fixed_text = text[2 : 2 + spec.fixed_length]
    position = next(
        i for i, c in enumerate(fixed_text) if not (c.isascii() and c.isprintable()) or c == "|"
    )
    return (
        f"{spec.cls.__name__} ({spec.code}): fixed fields must be printable ASCII without '|',"
        f" position {position + 2} is not: {_excerpt(text, spec)}"
    )


def _bad_fixed_field(spec: MessageSpec, text: str) -> str:
    """Which fixed field did not parse (slow path: parse them again one by one)."""
    for (attr, start, stop, parse), (_attr, fmt) in zip(spec.fixed_plan, spec.fixed, strict=True):
        try:
            parse(text[start:stop])
        except (ValueError, KeyError, TypeError, OverflowError):
            return (
                f"{spec.cls.__name__} ({spec.code}): fixed field {attr} at position {start} must"
                f" be {fmt.describe}, got {text[start:stop]!r}: {_excerpt(text, spec)}"
            )
    return f"{spec.cls.__name__} ({spec.code}): fixed fields malformed: {_excerpt(text, spec)}"


def _bad_code(spec: MessageSpec, text: str, code: str) -> str:
    if code in ("AY", "AZ"):
        problem = f"{code} may only come at the end (AY then AZ)"
    else:
        problem = f"{code!r} is not a field identifier (two upper-case letters or digits)"
    return f"{spec.cls.__name__} ({spec.code}): {problem}: {_excerpt(text, spec)}"


def _shown(code: str, value: object) -> str:
    return "a " + type(value).__name__ if code in SECRET_FIELDS else repr(value)


def _field_name(code: str) -> str:
    info = VARIABLE_FIELDS.get(code)
    return f"{code} ({info.attr})" if info else code


_PRIVATE_VALUE = re.compile("(^|\\|)(" + "|".join(sorted(PRIVATE_FIELDS)) + ")[^|]*")
_ANY_PRIVATE = re.compile("(" + "|".join(sorted(PRIVATE_FIELDS)) + ")[^|]*")
_EXCERPT_LENGTH = 80


def _excerpt(text: str, spec: MessageSpec | None = None) -> str:
    """The start of a message for an error text; PINs, passwords and patron ids as ****."""
    if spec is not None and len(text) >= 2 + spec.fixed_length:
        head = text[: 2 + spec.fixed_length]
        tail = _PRIVATE_VALUE.sub(r"\1\2****", "|" + text[2 + spec.fixed_length :])[1:]
        text = head + tail
    else:  # layout unknown: mask anything that looks like such a field
        text = _ANY_PRIVATE.sub(r"\1****", text)
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:_EXCERPT_LENGTH])
    return repr(shown + ("…" if len(text) > _EXCERPT_LENGTH else ""))
