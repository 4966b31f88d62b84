"""Slovenian numerals as words: cardinals and ordinals in every gender and case.

Grammar followed (Toporišič, Slovenska slovnica; Slovenski pravopis 2001):
- 1–4 agree with the noun in gender and case (en/ena/eno, dva/dve, trije/tri,
  štirje/štiri and their oblique forms).
- From 5 on, numerals take -ih/-im/-imi in the oblique cases (petih, sedmih,
  enaindvajsetih). Only the last word of a many-word numeral declines
  ("sto petih"); sto, tisoč and the big units stay as they are.
- Tens and units are written together with "in": 21 enaindvajset, 99 devetindevetdeset.
- tisoč is indeclinable ("dva tisoč", "tri tisoč", "sto en tisoč");
  milijon and bilijon are masculine nouns, milijarda and bilijarda feminine ones,
  so they take the number's agreement themselves ("dva milijona", "pet milijard").
- Ordinals are adjectives (prvi, druga, tretjega); in a many-word ordinal only the
  last word is ordinal ("dva tisoč petindvajseti"); round thousands and millions
  are written together ("dvatisoči", "milijonti").
"""

from __future__ import annotations

from typing import Literal

Gender = Literal["m", "f", "n"]
Case = Literal["nom", "gen", "dat", "acc", "loc", "ins"]
Number = Literal["sg", "du", "pl"]

CASES: tuple[Case, ...] = ("nom", "gen", "dat", "acc", "loc", "ins")

UNITS = ("nič", "ena", "dva", "tri", "štiri", "pet", "šest", "sedem", "osem", "devet")
TEENS = (
    "deset",
    "enajst",
    "dvanajst",
    "trinajst",
    "štirinajst",
    "petnajst",
    "šestnajst",
    "sedemnajst",
    "osemnajst",
    "devetnajst",
)
TENS = (
    "",
    "deset",
    "dvajset",
    "trideset",
    "štirideset",
    "petdeset",
    "šestdeset",
    "sedemdeset",
    "osemdeset",
    "devetdeset",
)
HUNDREDS = (
    "",
    "sto",
    "dvesto",
    "tristo",
    "štiristo",
    "petsto",
    "šeststo",
    "sedemsto",
    "osemsto",
    "devetsto",
)

# The agreeing numerals 1–4, by gender then case (nom, gen, dat, acc, loc, ins).
_ONE: dict[str, tuple[str, ...]] = {
    "m": ("en", "enega", "enemu", "en", "enem", "enim"),
    "f": ("ena", "ene", "eni", "eno", "eni", "eno"),
    "n": ("eno", "enega", "enemu", "eno", "enem", "enim"),
}
_TWO: dict[str, tuple[str, ...]] = {
    "m": ("dva", "dveh", "dvema", "dva", "dveh", "dvema"),
    "f": ("dve", "dveh", "dvema", "dve", "dveh", "dvema"),
}
_THREE: dict[str, tuple[str, ...]] = {
    "m": ("trije", "treh", "trem", "tri", "treh", "tremi"),
    "f": ("tri", "treh", "trem", "tri", "treh", "tremi"),
}
_FOUR: dict[str, tuple[str, ...]] = {
    "m": ("štirje", "štirih", "štirim", "štiri", "štirih", "štirimi"),
    "f": ("štiri", "štirih", "štirim", "štiri", "štirih", "štirimi"),
}
# Bare counting, when no noun says otherwise: "ena, dva, tri, štiri".
_COUNTING = {1: "ena", 2: "dva", 3: "tri", 4: "štiri"}

# Ordinal stems of the units (the rest use the cardinal word as stem).
_ORDINAL_UNIT_STEMS = (
    *("nič", "prv", "drug", "tretj", "četrt"),
    *("pet", "šest", "sedm", "osm", "devet"),
)

# Adjective endings of ordinals: gender -> number -> cases (nom, gen, dat, acc, loc, ins).
_ADJ: dict[str, dict[str, tuple[str, ...]]] = {
    "m": {
        "sg": ("i", "ega", "emu", "i", "em", "im"),
        "du": ("a", "ih", "ima", "a", "ih", "ima"),
        "pl": ("i", "ih", "im", "e", "ih", "imi"),
    },
    "f": {
        "sg": ("a", "e", "i", "o", "i", "o"),
        "du": ("i", "ih", "ima", "i", "ih", "ima"),
        "pl": ("e", "ih", "im", "e", "ih", "imi"),
    },
    "n": {
        "sg": ("o", "ega", "emu", "o", "em", "im"),
        "du": ("i", "ih", "ima", "i", "ih", "ima"),
        "pl": ("a", "ih", "im", "a", "ih", "imi"),
    },
}

# Big units: value, word forms by agreement slot (1, 2, 3–4, 5+), gender of the unit noun.
_BIG: tuple[tuple[int, tuple[str, str, str, str], Gender | None], ...] = (
    (10**15, ("bilijarda", "bilijardi", "bilijarde", "bilijard"), "f"),
    (10**12, ("bilijon", "bilijona", "bilijoni", "bilijonov"), "m"),
    (10**9, ("milijarda", "milijardi", "milijarde", "milijard"), "f"),
    (10**6, ("milijon", "milijona", "milijoni", "milijonov"), "m"),
    (10**3, ("tisoč", "tisoč", "tisoč", "tisoč"), None),
)
_ORDINAL_BIG_STEMS = {
    "tisoč": "tisoč",
    "milijon": "milijont",
    "milijarda": "milijardt",
    "bilijon": "bilijont",
    "bilijarda": "bilijardt",
}

LARGEST = 10**18 - 1


def agreement_slot(n: int) -> int:
    """Which form a counted noun takes after n: 1 singular, 2 dual, 3 plural (3–4),
    5 genitive plural (0, 5 and up) — decided by the last two digits."""
    rest = abs(n) % 100
    if rest == 1:
        return 1
    if rest == 2:
        return 2
    if rest in (3, 4):
        return 3
    return 5


def _case_index(case: Case) -> int:
    return CASES.index(case)


def _below_100(n: int) -> str:
    if n < 10:
        return UNITS[n]
    if n < 20:
        return TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return TENS[tens] if unit == 0 else f"{UNITS[unit]}in{TENS[tens]}"


def _decline_small(n: int, gender: Gender | None, case: Case, animate: bool) -> str:
    """n in 1..99 in the given gender and case (None: bare counting, feminine when oblique)."""
    if gender is None:
        if case == "nom" and n in _COUNTING:
            return _COUNTING[n]
        gender = "f"
    index = _case_index(case)
    if n == 1:
        if gender == "m" and case == "acc" and animate:
            return "enega"
        return _ONE[gender][index]
    table = {2: _TWO, 3: _THREE, 4: _FOUR}.get(n)
    if table is not None:
        return table["m" if gender == "m" else "f"][index]
    word = _below_100(n)
    if case in ("nom", "acc"):
        return word
    stem = {"sedem": "sedm", "osem": "osm"}.get(word, word)
    return stem + {"gen": "ih", "loc": "ih", "dat": "im", "ins": "imi"}[case]


def _hundreds_words(n: int, gender: Gender | None, case: Case, animate: bool) -> list[str]:
    """Words for 1..999; only the part below 100 declines."""
    hundreds, rest = divmod(n, 100)
    words = [HUNDREDS[hundreds]] if hundreds else []
    if rest:
        words.append(_decline_small(rest, gender, case, animate))
    return words


def cardinal_words(
    n: int, gender: Gender | None = None, case: Case = "nom", *, animate: bool = False
) -> list[str]:
    """The words of the cardinal n agreeing with a noun of `gender` in `case`.

    gender None means bare counting ("ena, dva, tri"); in an oblique case it falls back
    to the feminine, the form used for hours and plain counting ("od ene do petih").
    """
    if n < 0:
        return ["minus", *cardinal_words(-n, gender, case, animate=animate)]
    if n > LARGEST:
        raise ValueError(f"{n} is too large to say as a number")
    if n == 0:
        return ["nič"]
    words: list[str] = []
    rest = n
    for value, forms, unit_gender in _BIG:
        count, rest = divmod(rest, value)
        if not count:
            continue
        if count == 1:
            words.append(forms[0])
            continue
        if unit_gender is None:  # tisoč: indeclinable, counted like a masculine accusative
            words += _hundreds_words(count, "m", "acc", False)
            words.append(forms[0])
        else:
            words += _hundreds_words(count, unit_gender, "nom", False)
            words.append(forms[(1, 2, 3, 5).index(agreement_slot(count))])
    if rest:
        words += _hundreds_words(rest, gender, case, animate)
    return words


def cardinal(
    n: int, gender: Gender | None = None, case: Case = "nom", *, animate: bool = False
) -> str:
    """The cardinal n as Slovenian words: cardinal(1234) == 'tisoč dvesto štiriintrideset'."""
    return " ".join(cardinal_words(n, gender, case, animate=animate))


def ordinal(
    n: int,
    gender: Gender = "m",
    case: Case = "nom",
    number: Number = "sg",
    *,
    animate: bool = False,
) -> str:
    """The ordinal n as an adjective: ordinal(3, 'm', 'gen') == 'tretjega'."""
    if n < 0:
        raise ValueError("an ordinal cannot be negative")
    ending = _ADJ[gender][number][_case_index(case)]
    if gender == "m" and number == "sg" and case == "acc" and animate:
        ending = "ega"
    words = cardinal_words(n)
    if n == 0:
        return "ničt" + ending
    if n % 1000 == 0:
        # Round thousands/millions: the count and the unit are written together
        # (dvatisoči, stotisoči, milijonti); higher groups stay as they are.
        value, forms = next((v, f) for v, f, _ in reversed(_BIG) if (n // v) % 1000 or v == 10**15)
        count = (n // value) % 1000 if value < 10**15 else n // value
        head = cardinal_words(n - count * value) if n - count * value else []
        count_words = cardinal_words(count, "m", "acc") if count > 1 else []
        return " ".join([*head, "".join(count_words) + _ORDINAL_BIG_STEMS[forms[0]] + ending])
    last = words[-1]
    if n % 100 == 0:
        stem = last + "t"  # sto -> stoti, dvesto -> dvestoti
    elif 1 <= n % 100 <= 9:
        stem = _ORDINAL_UNIT_STEMS[n % 100]
    else:
        stem = last
    return " ".join([*words[:-1], stem + ending])


def multiplier(n: int) -> str:
    """'n times', written as one word: enkrat, dvakrat, trikrat, petkrat, stoenkrat."""
    return "".join(cardinal_words(n, "m", "acc")) + "krat"


def compound_prefix(n: int) -> str:
    """The number as the first part of a compound adjective: 1-urni -> enourni,
    2-dnevni -> dvodnevni, 50-odstotni -> petdesetodstotni."""
    special = {1: "eno", 2: "dvo"}
    if n in special:
        return special[n]
    return "".join(cardinal_words(n, "m", "acc"))


def digits(text: str) -> str:
    """Each digit as a word, for numbers said digit by digit (telephone, ISBN)."""
    return " ".join(UNITS[int(ch)] for ch in text if ch.isdigit())
