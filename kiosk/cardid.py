"""Card identifiers as the library system expects them, from what a reader delivered.

Printed cards and phone barcodes carry a number, sometimes with a prefix, spaces or
dashes and a check digit; NFC cards give a UID whose byte order and notation differ
between the reader and the library's card register. The rules are configurable because
libraries differ; `normalise` applies them before the ILS sees the card.

Error messages never repeat the card number (it identifies a person).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

CheckDigit = Literal["none", "luhn", "mod11"]
UidOrder = Literal["as_read", "reversed"]
UidFormat = Literal["hex", "decimal"]

UID_SOURCES = frozenset({"nfc"})  # readers whose `card` is a UID in upper-case hex
_UID_BYTES = (4, 7, 10)  # ISO 14443 single, double and triple size UIDs
_ALLOWED = frozenset(string.ascii_uppercase + string.digits)


class CardIdError(ValueError):
    """A card identifier that the rules refuse; `str(err)` is the plain reason."""


@dataclass(frozen=True, slots=True)
class CardRules:
    prefix: str = ""  # e.g. "MB" on printed cards
    require_prefix: bool = False  # refuse numbers without the prefix
    keep_prefix: bool = False  # pass the prefix on to the ILS
    remove: str = ""  # characters dropped anywhere, e.g. " -"
    check_digit: CheckDigit = "none"  # last digit checks the others
    uid_order: UidOrder = "as_read"  # "reversed": the register stores the UID LSB first
    uid_format: UidFormat = "hex"  # "decimal": the UID as one number (e.g. 10 digits)
    pad_to: int = 0  # left-pad numbers with zeros to this length (0: no padding)
    min_length: int = 1
    max_length: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.pad_to <= 64:
            raise ValueError(f"pad_to must be 0 to 64, not {self.pad_to}")
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError("min_length must be at least 1 and at most max_length")
        if self.check_digit not in ("none", "luhn", "mod11"):
            raise ValueError(f"unknown check digit rule {self.check_digit!r}")
        if self.uid_order not in ("as_read", "reversed"):
            raise ValueError(f"unknown UID byte order {self.uid_order!r}")
        if self.uid_format not in ("hex", "decimal"):
            raise ValueError(f"unknown UID format {self.uid_format!r}")
        if self.prefix and not set(self.prefix.upper()) <= _ALLOWED:
            raise ValueError("the prefix may hold only letters A-Z and digits")


def normalise(raw: str, source: str, rules: CardRules) -> str:
    """The identifier to send to the ILS; raises CardIdError with a plain reason."""
    if not isinstance(raw, str):
        raise CardIdError("the card was not read as text")
    if source in UID_SOURCES:
        return _normalise_uid(raw, rules)
    return _normalise_number(raw, rules)


def _normalise_uid(raw: str, rules: CardRules) -> str:
    text = raw.strip().replace(":", "").replace(" ", "")
    if not text or len(text) % 2 or not set(text.upper()) <= set(string.hexdigits.upper()):
        raise CardIdError("the card's chip number is not readable; please tap again")
    uid = bytes.fromhex(text)
    if len(uid) not in _UID_BYTES:
        raise CardIdError(f"the card's chip number has {len(uid)} bytes, expected 4, 7 or 10")
    if rules.uid_order == "reversed":
        uid = uid[::-1]
    if rules.uid_format == "decimal":
        return str(int.from_bytes(uid, "big")).zfill(rules.pad_to)
    return uid.hex().upper()


def _normalise_number(raw: str, rules: CardRules) -> str:
    text = "".join(ch for ch in raw.strip() if ch not in rules.remove).upper()
    prefix = rules.prefix.upper()
    has_prefix = bool(prefix) and text.startswith(prefix)
    if prefix and rules.require_prefix and not has_prefix:
        raise CardIdError(f"this is not a card of this library (it must start with {prefix})")
    body = text[len(prefix) :] if has_prefix else text
    if not body:
        raise CardIdError("the card number is empty")
    if not set(body) <= _ALLOWED:
        raise CardIdError("the card number may hold only letters and digits")
    if rules.check_digit != "none":
        if not body.isdigit() or len(body) < 2:
            raise CardIdError("the card number must be digits with a check digit")
        if not check_digit_ok(body, rules.check_digit):
            raise CardIdError("the card number is mistyped (its check digit does not match)")
    if body.isdigit():
        body = body.zfill(rules.pad_to)
    result = prefix + body if has_prefix and rules.keep_prefix else body
    if not rules.min_length <= len(result) <= rules.max_length:
        raise CardIdError(
            f"the card number must have {rules.min_length} to {rules.max_length} characters"
        )
    return result


def check_digit_ok(digits: str, algorithm: CheckDigit) -> bool:
    """Whether the last digit of `digits` is the check digit of the others."""
    if algorithm == "none":
        return True
    if not digits.isascii() or not digits.isdigit() or len(digits) < 2:
        return False
    expected = luhn_digit(digits[:-1]) if algorithm == "luhn" else mod11_digit(digits[:-1])
    return expected is not None and int(digits[-1]) == expected


def luhn_digit(payload: str) -> int:
    """The Luhn check digit (ISO/IEC 7812) for a string of digits."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char)
        if position % 2 == 0:  # doubled: every second digit from the right, next to the check
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return (10 - total % 10) % 10


def mod11_digit(payload: str) -> int | None:
    """The modulus-11 check digit with weights 2, 3, …, 7 repeating from the right.

    A remainder that would need "10" has no digit: such numbers are never issued (None).
    """
    total = sum(int(char) * (2 + i % 6) for i, char in enumerate(reversed(payload)))
    digit = (11 - total % 11) % 11
    return None if digit == 10 else digit
