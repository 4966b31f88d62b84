"""Property-based tests of the SIP2 codec (hypothesis).

(a) Any valid message of any type, in any charset that can carry its text, with or
    without checksums, comes back equal after encode and decode.
(b) Random bytes and mutated valid messages: decode returns a Frame or raises
    Sip2Error, never anything else, and never takes long.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.sip2 import MESSAGES, Codec, Frame, Message, Sip2Error, checksum
from kiosk.sip2.fields import (
    ANY1,
    ANY3,
    COUNT4,
    DATE,
    DIGIT,
    HOLD_MODE,
    ONE_OR_OTHER,
    ONE_ZERO,
    PATRON_STATUS,
    SUMMARY,
    THREE_DIGITS,
    TWO_DIGIT_CODE,
    VALID_FIELD_CODES,
    VERSION,
    YES_NO,
    YES_NO_UNKNOWN,
    Kind,
)
from kiosk.sip2.messages import SPECS, MessageSpec

CHARSETS = ("utf-8", "cp1250", "cp850", "latin-1", "ascii")
FORBIDDEN = frozenset("|\r\n\x00")


def _alphabet(charset: str) -> list[str]:
    """Every character the charset can carry from one byte (or, for UTF-8, a sample)."""
    if charset == "utf-8":
        return []
    chars = set()
    for byte in range(0x20, 0x100):
        try:
            char = bytes([byte]).decode(charset)
        except UnicodeDecodeError:
            continue
        if char.isprintable() and char not in FORBIDDEN:
            chars.add(char)
    return sorted(chars)


@functools.cache
def text_for(charset: str) -> st.SearchStrategy[str]:
    if charset == "utf-8":
        base = st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="|\r\n\x00"),
            max_size=20,
        )
    else:
        base = st.text(st.sampled_from(_alphabet(charset)), max_size=20)
    # The decoder gives composed (NFC) text, so generate it that way.
    return base.map(lambda s: unicodedata.normalize("NFC", s)).filter(
        lambda s: FORBIDDEN.isdisjoint(s) and _encodable(s, charset)
    )


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


_SECOND = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2199, 12, 31))
_OFFSETS = st.integers(-12 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


def _dates() -> st.SearchStrategy[dt.datetime | None]:
    naive = _SECOND.map(lambda d: d.replace(microsecond=0))
    aware = st.builds(lambda d, tz: d.replace(microsecond=0, tzinfo=tz), _SECOND, _OFFSETS)
    return st.none() | naive | aware


def _fixed_text(width: int, alphabet: str) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=width, max_size=width)


_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "|")
_SUMMARIES = st.integers(-1, 9).map(lambda i: "".join("Y" if p == i else " " for p in range(10)))


def _fixed_strategy(fmt: Any) -> st.SearchStrategy[Any]:
    by_format: dict[int, st.SearchStrategy[Any]] = {
        id(YES_NO): st.booleans(),
        id(ONE_ZERO): st.booleans(),
        id(ONE_OR_OTHER): st.booleans(),
        id(YES_NO_UNKNOWN): st.sampled_from([True, False, None]),
        id(DATE): _dates(),
        id(DIGIT): st.integers(0, 9),
        id(THREE_DIGITS): st.integers(0, 999),
        id(COUNT4): st.none() | st.integers(0, 9999),
        id(TWO_DIGIT_CODE): _fixed_text(2, "0123456789"),
        id(ANY1): _fixed_text(1, _PRINTABLE_ASCII),
        id(ANY3): _fixed_text(3, _PRINTABLE_ASCII),
        id(HOLD_MODE): st.sampled_from("+-*"),
        id(PATRON_STATUS): _fixed_text(14, "YN "),
        id(SUMMARY): _SUMMARIES,
        id(VERSION): st.from_regex(r"\A[0-9]\.[0-9]{2}\Z"),
    }
    if id(fmt) in by_format:
        return by_format[id(fmt)]
    assert fmt.describe == "2 digits"  # circulation status
    return st.integers(0, 99)


@functools.cache
def messages(code: str, charset: str) -> st.SearchStrategy[Message]:
    """Valid messages of one type (by message code) whose text the charset can carry."""
    spec = MESSAGES[code]
    text = text_for(charset)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for attr, fmt in spec.fixed:
        fields[attr] = _fixed_strategy(fmt)
    for _code, attr, kind, required in spec.variable:
        if kind is Kind.TEXT:
            fields[attr] = text if required else st.none() | text
        elif kind is Kind.REPEATED:
            fields[attr] = st.lists(text, max_size=4).map(tuple)
        else:
            fields[attr] = st.sampled_from([True, False, None])
    own_codes = set(spec.text_fields) | set(spec.repeated_fields) | set(spec.flag_fields)
    extension_codes = sorted(VALID_FIELD_CODES - own_codes - {"AY", "AZ"})
    fields["unknown"] = st.lists(st.tuples(st.sampled_from(extension_codes), text), max_size=3).map(
        tuple
    )
    return st.builds(spec.cls, **fields)


SPEC_IDS = [f"{code}-{spec.cls.__name__}" for code, spec in MESSAGES.items()]


@pytest.mark.parametrize("spec", MESSAGES.values(), ids=SPEC_IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_every_message_type(spec: MessageSpec, data: st.DataObject) -> None:
    charset = data.draw(st.sampled_from(CHARSETS), label="charset")
    message = data.draw(messages(spec.code, charset), label="message")
    codec = Codec(
        charset=charset,
        checksums=data.draw(st.booleans(), label="checksums"),
        line_ending=data.draw(st.sampled_from([b"\r", b"\r\n", b"\n"]), label="ending"),
    )
    sequence = data.draw(st.none() | st.integers(0, 9), label="sequence")
    wire = codec.encode(message, sequence=sequence)
    frame = codec.decode(wire)
    assert frame.message == message
    assert type(frame.message) is spec.cls
    assert frame.checksum_present is codec.checksums
    if codec.checksums and spec.code not in ("96", "97"):
        assert frame.sequence == (sequence or 0)
    # And what a split stream finds is the same message.
    found, rest = codec.split(wire + b"64  ")
    assert [codec.decode(m).message for m in found] == [message] and rest == b"64  "


# --------------------------------------------------------------------------- bad input


def _sample(spec: MessageSpec, variant: int) -> Message:
    """A plain valid message of one type: every field set (variant 1) or only required ones."""
    values: dict[str, Any] = {attr: _fixed_sample(fmt) for attr, fmt in spec.fixed}
    for code, attr, kind, required in spec.variable:
        if kind is Kind.TEXT and (required or variant):
            values[attr] = f"{code.lower()}-Žiga {variant}"
        elif kind is Kind.REPEATED and variant:
            values[attr] = ("one", "two č")
        elif kind is Kind.FLAG and variant:
            values[attr] = True
    if variant:
        values["unknown"] = (("ZZ", "extension"), ("X1", ""))
    return spec.cls(**values)


_FIXED_TEXTS = ["Y", "+", "1", "03", "100", "2.00", "0012", "  Y       ", "Y  Y          "]
_FIXED_TEXTS.append("20251201    101530")


def _fixed_sample(fmt: Any) -> Any:
    """The value of the first sample text of the right width that the format reads."""
    for text in _FIXED_TEXTS:
        if len(text) == fmt.width:
            try:
                return fmt.parse(text)
            except (KeyError, ValueError):
                continue
    raise AssertionError(fmt)


# Valid messages of every type to mutate, encoded with and without checksums.
_CORPUS = [
    Codec(checksums=checksums).encode(_sample(spec, variant))
    for spec in MESSAGES.values()
    for variant in (0, 1)
    for checksums in (False, True)
]
_SEEDS = st.sampled_from(_CORPUS)

_MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "replace", "truncate"]),
    st.integers(0, 10_000),
    st.integers(0, 255),
)


def _mutate(wire: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(wire)
    for kind, where, byte in mutations:
        if not data:
            data.append(byte)
            continue
        i = where % len(data)
        if kind == "flip":
            data[i] ^= 1 << (byte % 8)
        elif kind == "insert":
            data.insert(i, byte)
        elif kind == "delete":
            del data[i]
        elif kind == "replace":
            data[i] = byte
        else:
            del data[i:]
    return bytes(data)


def _decode_or_sip2_error(codec: Codec, data: bytes) -> None:
    try:
        frame = codec.decode(data)
    except Sip2Error as error:
        assert str(error)  # one plain sentence, never empty
        return
    assert isinstance(frame, Frame) and isinstance(frame.message, Message)
    # Whatever was accepted can be written again by the strict encoder, or refused by it.
    with contextlib.suppress(Sip2Error):
        Codec(checksums=False, sanitize=True).encode(frame.message)


# Digits, flags, field codes, the delimiter and a checksum trailer make random bytes find
# the parser's corners sooner than uniform bytes would.
_SIP_LIKE = st.lists(
    st.sampled_from(
        [b"|", b"AY", b"AZ", b"AO", b"AA", b"AB", b"AF", b"BL", b"Y", b"N", b"U", b"0", b"1", b"9"]
        + [b" " * 4, b"20251201    101530", b"\r", b"\n", b"\x00", b"\xc5\xbd", b"\xff"]
        + [code.encode() for code in MESSAGES]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=2000, deadline=dt.timedelta(milliseconds=250))
@given(
    data=st.binary(max_size=200) | _SIP_LIKE,
    charset=st.sampled_from(CHARSETS),
)
def test_random_bytes_give_a_frame_or_sip2_error(data: bytes, charset: str) -> None:
    _decode_or_sip2_error(Codec(charset=charset), data)


@settings(
    max_examples=2000,
    deadline=dt.timedelta(milliseconds=250),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(wire=_SEEDS, mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_mutated_messages_give_a_frame_or_sip2_error(
    wire: bytes, mutations: list[tuple[str, int, int]]
) -> None:
    _decode_or_sip2_error(Codec(), _mutate(wire, mutations))


@settings(max_examples=200, deadline=None)
@given(wire=_SEEDS, cuts=st.lists(st.integers(0, 400), max_size=6))
def test_split_reassembles_a_stream_cut_anywhere(wire: bytes, cuts: list[int]) -> None:
    codec = Codec()
    stream = wire + b"\r\n" + wire
    buffer = b""
    found: list[bytes] = []
    position = 0
    for cut in [*sorted(min(c, len(stream)) for c in cuts), len(stream)]:
        messages, buffer = codec.split(buffer + stream[position:cut])
        found += messages
        position = cut
    assert buffer == b""
    assert len(found) == 2 and codec.decode(found[0]) == codec.decode(found[1])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000))
def test_checksum_is_minus_the_byte_sum(data: bytes) -> None:
    assert int(checksum(data), 16) == -sum(data) & 0xFFFF
    assert (sum(data + b"") + int(checksum(data), 16)) & 0xFFFF == 0


def test_every_fixed_format_has_a_strategy() -> None:
    for spec in SPECS.values():
        for _attr, fmt in spec.fixed:
            _fixed_strategy(fmt)
