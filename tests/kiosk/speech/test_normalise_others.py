"""English, Hungarian and Italian normalisers: smaller reviewed tables, and any number
becomes words only."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.speech import LANGUAGES, language_code, normalise
from kiosk.speech.normalise_hu import day_of_month

ENGLISH = [
    ("€1,234.50", "one thousand two hundred thirty-four euros and fifty cents"),
    ("1.234,50 €", "one thousand two hundred thirty-four euros and fifty cents"),
    ("€1", "one euro"),
    ("€0.50", "fifty cents"),
    ("€2.01", "two euros and one cent"),
    ("3 December 2025", "the third of December twenty twenty-five"),
    ("Wednesday, 3 December 2025", "Wednesday, the third of December twenty twenty-five"),
    ("December 21, 2025", "December twenty-first, twenty twenty-five"),
    ("3. 12. 2025", "the third of December twenty twenty-five"),
    ("2025-12-03", "the third of December twenty twenty-five"),
    ("1 January 2000", "the first of January two thousand"),
    ("18:30", "six thirty p.m."),
    ("at 9:05", "at nine oh five a.m."),
    ("12:00", "noon"),
    ("0:00", "midnight"),
    ("9:00–12:00", "nine a.m. to noon"),
    ("6:30 pm", "six thirty p.m."),
    (
        "1st, 2nd, 3rd, 4th, 21st, 112th",
        "first, second, third, fourth, twenty-first, one hundred twelfth",
    ),
    ("5%", "five percent"),
    ("22 °C", "twenty-two degrees Celsius"),
    ("1 °C", "one degree Celsius"),
    ("For children aged 4–6 years.", "For children aged four to six years."),
    ("3+", "three plus"),
    ("2.5", "two point five"),
    ("1,234,567", "one million two hundred thirty-four thousand five hundred sixty-seven"),
    ("1000000000", "one billion"),
    ("-5", "minus five"),
    ("You borrowed 3 books.", "You borrowed three books."),
    ("Call 02 250 31 00", "Call zero two, two five zero, three one, zero zero"),
    (
        "ISBN 978-961-01-2345-6",
        "I S B N nine seven eight, nine six one, zero one, two three four five, six",
    ),
    ("e.g. Dr. Novak & Mr. Smith, etc.", "for example Doctor Novak and Mister Smith, et cetera."),
    ("2x a week", "twice a week"),
    ("No. 5", "Number five"),
    ("30 s", "thirty seconds"),
    ("1 min", "one minute"),
]

HUNGARIAN = [
    ("2025. december 3.", "kétezer-huszonöt december harmadika"),
    ("2025. 12. 03.", "kétezer-huszonöt december harmadika"),
    ("2025. dec. 1.", "kétezer-huszonöt december elseje"),
    ("2026. január 21.", "kétezer-huszonhat január huszonegyedike"),
    ("3. 12. 2025", "kétezer-huszonöt december harmadika"),
    ("1 234,50 €", "ezerkétszázharmincnégy euró ötven cent"),
    ("2,40 €", "két euró negyven cent"),
    ("1 €", "egy euró"),
    ("0,50 €", "ötven cent"),
    ("2 könyv", "két könyv"),
    ("2", "kettő"),
    ("22", "huszonkettő"),
    ("1991", "ezerkilencszázkilencvenegy"),
    ("2000", "kétezer"),
    ("2001", "kétezer-egy"),
    ("1000000", "egymillió"),
    ("1234567", "egymillió-kétszázharmincnégyezer-ötszázhatvanhét"),
    ("3. emelet", "harmadik emelet"),
    ("18:30", "tizennyolc óra harminc perc"),
    ("9:00", "kilenc óra"),
    ("5%", "öt százalék"),
    ("2%", "két százalék"),
    ("22 °C", "huszonkét Celsius-fok"),
    ("4–6 év", "négy-hat év"),
    ("2,5", "kettő egész öt"),
    ("Telefon: 02 250 31 00", "Telefon: nulla kettő, kettő öt nulla, három egy, nulla nulla"),
]

ITALIAN = [
    ("1.234,50 €", "milleduecentotrentaquattro euro e cinquanta centesimi"),
    ("€ 1.234,50", "milleduecentotrentaquattro euro e cinquanta centesimi"),
    ("1 €", "un euro"),
    ("0,01 €", "un centesimo"),
    ("2,40 €", "due euro e quaranta centesimi"),
    ("1 persona", "una persona"),
    ("1 libro", "un libro"),
    ("3 dicembre 2025", "tre dicembre duemilaventicinque"),
    ("1 dicembre", "primo dicembre"),
    ("03/12/2025", "tre dicembre duemilaventicinque"),
    ("3. 12. 2025", "tre dicembre duemilaventicinque"),
    ("alle 18:30", "alle diciotto e trenta"),
    ("9:05", "nove e cinque"),
    ("23", "ventitré"),
    ("28", "ventotto"),
    ("103", "centotré"),
    ("180", "centottanta"),
    ("2025", "duemilaventicinque"),
    ("21000", "ventunmila"),
    ("1000000", "un milione"),
    ("2000000", "due milioni"),
    ("1000000000", "un miliardo"),
    ("5%", "cinque per cento"),
    ("22 °C", "ventidue gradi Celsius"),
    ("1º piano, 3ª sala", "primo piano, terza sala"),
    ("4–6 anni", "da quattro a sei anni"),
    ("2,5", "due virgola cinque"),
]


@pytest.mark.parametrize(("text", "expected"), ENGLISH)
def test_english(text: str, expected: str) -> None:
    assert normalise(text, "en") == expected


@pytest.mark.parametrize(("text", "expected"), HUNGARIAN)
def test_hungarian(text: str, expected: str) -> None:
    assert normalise(text, "hu") == expected


@pytest.mark.parametrize(("text", "expected"), ITALIAN)
def test_italian(text: str, expected: str) -> None:
    assert normalise(text, "it") == expected


def test_hungarian_days_follow_vowel_harmony() -> None:
    days = [day_of_month(d) for d in range(1, 32)]
    assert days[:5] == ["elseje", "másodika", "harmadika", "negyedike", "ötödike"]
    assert days[20] == "huszonegyedike" and days[29] == "harmincadika"


@pytest.mark.parametrize("lang", LANGUAGES)
@given(n=st.integers(min_value=0, max_value=10**9))
def test_any_number_becomes_words_only(lang: str, n: int) -> None:
    said = normalise(str(n), lang)
    assert said and not re.search(r"\d", said), said


@pytest.mark.parametrize("lang", LANGUAGES)
@given(text=st.text(max_size=60))
def test_any_text_normalises_without_error(lang: str, text: str) -> None:
    assert not re.search(r"[0-9]", normalise(text, lang))


def test_language_codes() -> None:
    assert language_code("sl-SI") == "sl"
    assert language_code("hu_HU") == "hu"
    with pytest.raises(ValueError, match="cannot speak the language 'de'"):
        normalise("3 Bücher", "de")
