"""Slovenian normaliser: the reviewed phrase table, and properties of the numerals."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.speech import normalise
from kiosk.speech.sl_dates import date_words, time_words
from kiosk.speech.sl_numbers import (
    HUNDREDS,
    TEENS,
    TENS,
    UNITS,
    agreement_slot,
    cardinal,
    ordinal,
)

PHRASES = Path(__file__).with_name("sl_phrases.tsv")


def phrase_table() -> list[tuple[str, str, str]]:
    lines = [line for line in PHRASES.read_text("utf-8").splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row["input"], row["expected"], row["rule"]) for row in rows]


def test_the_table_is_large_and_well_formed() -> None:
    rows = phrase_table()
    assert len(rows) >= 100
    inputs = [text for text, _, _ in rows]
    assert len(set(inputs)) == len(inputs), "a phrase is listed twice"
    for text, expected, rule in rows:
        assert text and expected and rule, (text, expected, rule)
        assert not re.search(r"\d", expected), f"digits left in the expected reading of {text!r}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(text, expected, id=f"{rule}: {text}") for text, expected, rule in phrase_table()],
)
def test_phrase(text: str, expected: str) -> None:
    assert normalise(text, "sl") == expected


def test_dates_and_times_from_python_values() -> None:
    wednesday = dt.date(2025, 12, 3)
    assert date_words(wednesday, weekday=True) == "sreda, tretjega decembra dva tisoč petindvajset"
    assert date_words(dt.date(2026, 1, 1), year=False) == "prvega januarja"
    assert time_words(dt.time(18, 30), "ob") == "ob osemnajstih trideset"
    assert time_words(dt.time(10, 0), "od") == "od desetih"
    assert time_words(dt.time(9, 5)) == "devet nič pet"


# ---------------------------------------------------------------- a reader for the words

_UNIT_VALUES = {word: i for i, word in enumerate(UNITS)}
_TEEN_VALUES = {word: 10 + i for i, word in enumerate(TEENS)}
_TENS_VALUES = {word: 10 * i for i, word in enumerate(TENS) if word}
_HUNDRED_VALUES = {word: 100 * i for i, word in enumerate(HUNDREDS) if word}
_BIG_VALUES = {
    "tisoč": 10**3,
    **dict.fromkeys(("milijon", "milijona", "milijoni", "milijonov"), 10**6),
    **dict.fromkeys(("milijarda", "milijardi", "milijarde", "milijard"), 10**9),
}
_SMALL_FORMS = {"en": 1, "dve": 2, "trije": 3, "štirje": 4}


def _below_100(word: str) -> int:
    if word in _SMALL_FORMS:
        return _SMALL_FORMS[word]
    for table in (_UNIT_VALUES, _TEEN_VALUES, _TENS_VALUES):
        if word in table:
            return table[word]
    unit, joint, tens = word.partition("in")
    assert joint and unit in _UNIT_VALUES and tens in _TENS_VALUES, f"not a numeral: {word}"
    assert _UNIT_VALUES[unit] > 0
    return _UNIT_VALUES[unit] + _TENS_VALUES[tens]


def read_cardinal(words: str) -> int:
    """The value of Slovenian cardinal words, written independently of the generator:
    groups below a thousand, each closed by a big unit (tisoč, milijon…)."""
    if words == "nič":
        return 0
    total = 0
    group = 0
    for word in words.split():
        if word in _BIG_VALUES:
            total += (group or 1) * _BIG_VALUES[word]
            group = 0
        elif word in _HUNDRED_VALUES:
            group += _HUNDRED_VALUES[word]
        else:
            group += _below_100(word)
    return total + group


@given(st.integers(min_value=0, max_value=10**9))
def test_cardinal_words_read_back_to_the_number(n: int) -> None:
    words = cardinal(n)
    assert read_cardinal(words) == n
    assert re.fullmatch(r"[a-zčšž]+( [a-zčšž]+)*", words), words


@given(st.integers(min_value=0, max_value=10**9))
def test_any_number_in_text_becomes_words_only(n: int) -> None:
    for written in (str(n), f"{n:,}".replace(",", "."), f"{n} knjig", f"ob {n % 25}"):
        said = normalise(written, "sl")
        assert not re.search(r"\d", said), (written, said)
        assert said.strip()


@given(st.integers(min_value=1, max_value=10**9))
def test_the_big_unit_agrees_with_its_count(n: int) -> None:
    """'dva milijona', 'trije milijoni', 'pet milijonov': the unit noun follows the
    1/2/3–4/5+ rule of the count in front of it."""
    words = cardinal(n).split()
    for i, word in enumerate(words):
        if word.startswith("milijon") and i > 0 and words[i - 1] not in _BIG_VALUES:
            count = (n // 10**6) % 1000
            expected = {1: "milijon", 2: "milijona", 3: "milijoni", 5: "milijonov"}
            assert word == expected[agreement_slot(count)], (n, words)


@given(st.integers(min_value=0, max_value=10**6))
def test_numbers_take_the_noun_form_of_their_last_two_digits(n: int) -> None:
    said = normalise(f"{n} knjiga", "sl").split()[-1]
    expected = {1: "knjiga", 2: "knjigi", 3: "knjige", 5: "knjig"}[agreement_slot(n)]
    assert said == expected  # a wrong noun form is corrected to the right one


@given(st.integers(min_value=1, max_value=10**6))
def test_ordinals_end_as_adjectives(n: int) -> None:
    assert ordinal(n, "m", "gen").endswith("ega")
    assert ordinal(n, "f", "nom").endswith("a")
    assert ordinal(n, "n", "loc").endswith("em")


@given(st.text(max_size=80))
def test_any_text_normalises_without_error(text: str) -> None:
    said = normalise(text, "sl")
    assert not re.search(r"[0-9]", said)
