"""Card identifier rules: prefix, separators, check digits, UID byte order and notation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.cardid import (
    CardIdError,
    CardRules,
    check_digit_ok,
    luhn_digit,
    mod11_digit,
    normalise,
)


def test_default_rules_only_trim() -> None:
    assert normalise("  0100123456 ", "barcode", CardRules()) == "0100123456"


def test_prefix_separators_and_padding() -> None:
    rules = CardRules(prefix="MB", require_prefix=True, remove=" -", pad_to=10)
    assert normalise("mb 123-456", "barcode", rules) == "0000123456"
    assert normalise("MB123456", "keypad", CardRules(prefix="MB", keep_prefix=True)) == "MB123456"
    assert normalise("123456", "barcode", CardRules(prefix="MB")) == "123456"  # optional
    with pytest.raises(CardIdError, match="must start with MB") as err:
        normalise("123456", "barcode", rules)
    assert "123456" not in str(err.value)  # never repeat a card number


def test_luhn() -> None:
    assert luhn_digit("7992739871") == 3  # the textbook example
    rules = CardRules(check_digit="luhn")
    assert normalise("79927398713", "barcode", rules) == "79927398713"
    with pytest.raises(CardIdError, match="check digit does not match"):
        normalise("79927398714", "barcode", rules)
    with pytest.raises(CardIdError, match="digits with a check digit"):
        normalise("ABC", "barcode", rules)


def test_mod11() -> None:
    # 0-3-6-5-3-2 with weights 2..7 from the right: 2*2+3*3+5*4+6*5+3*6+0*7 = 81; 11-4 = 7.
    assert mod11_digit("036532") == 7
    assert check_digit_ok("0365327", "mod11")
    assert not check_digit_ok("0365328", "mod11")
    assert mod11_digit("6") is None  # 6*2 = 12, remainder 1 -> needs "10": never issued
    assert not check_digit_ok("60", "mod11")


def test_uid_order_and_format() -> None:
    assert normalise("04A1B2C3", "nfc", CardRules()) == "04A1B2C3"
    assert normalise("04a1b2c3", "nfc", CardRules(uid_order="reversed")) == "C3B2A104"
    decimal = CardRules(uid_format="decimal", uid_order="reversed", pad_to=10)
    assert normalise("04A1B2C3", "nfc", decimal) == str(0xC3B2A104).zfill(10)
    assert normalise("00000001", "nfc", decimal) == "0016777216"
    with pytest.raises(CardIdError, match="5 bytes"):
        normalise("0102030405", "nfc", CardRules())
    with pytest.raises(CardIdError, match="not readable"):
        normalise("XYZ", "nfc", CardRules())


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="check digit"):
        CardRules(check_digit="crc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_length"):
        CardRules(min_length=5, max_length=4)


def test_length_limits() -> None:
    with pytest.raises(CardIdError, match="4 to 6 characters"):
        normalise("1234567", "barcode", CardRules(min_length=4, max_length=6))


rules_strategy = st.builds(
    CardRules,
    prefix=st.sampled_from(["", "MB", "0"]),
    require_prefix=st.booleans(),
    keep_prefix=st.booleans(),
    remove=st.sampled_from(["", " -", "0"]),
    check_digit=st.sampled_from(["none", "luhn", "mod11"]),
    uid_order=st.sampled_from(["as_read", "reversed"]),
    uid_format=st.sampled_from(["hex", "decimal"]),
    pad_to=st.integers(0, 20),
)


@given(
    st.text(max_size=40), st.sampled_from(["nfc", "barcode", "keypad", "sim", ""]), rules_strategy
)
def test_anything_gives_a_string_or_a_plain_error(raw: str, source: str, rules: CardRules) -> None:
    try:
        result = normalise(raw, source, rules)
    except CardIdError as err:
        assert str(err)
        return
    assert isinstance(result, str) and result
    assert result == result.strip()


@given(st.text("0123456789", min_size=1, max_size=30))
def test_luhn_catches_every_single_digit_error(payload: str) -> None:
    number = payload + str(luhn_digit(payload))
    assert check_digit_ok(number, "luhn")
    for i in range(len(number)):
        for wrong in "0123456789":
            if wrong != number[i]:
                assert not check_digit_ok(number[:i] + wrong + number[i + 1 :], "luhn")


@given(st.text("0123456789", min_size=1, max_size=30))
def test_mod11_numbers_round_trip(payload: str) -> None:
    digit = mod11_digit(payload)
    if digit is not None:
        assert check_digit_ok(payload + str(digit), "mod11")
        assert normalise(payload + str(digit), "barcode", CardRules(check_digit="mod11"))
