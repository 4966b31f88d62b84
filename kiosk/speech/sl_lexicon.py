"""The nouns the kiosk counts, with every form, so numerals can agree with them.

A numeral needs the gender of its noun (en dan, ena ura, eno leto), and the form
the writer used tells the case ("v treh dneh", "za eno osebo"). Each noun here is
declined in full (singular, dual, plural × six cases); forms are built from the
stem by the regular pattern of its declension, irregular ones written out.

Nouns not listed fall back to a guess from their ending (see normalise_sl).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from kiosk.speech.sl_numbers import CASES, Case, Gender, Number

Forms = dict[tuple[Number, Case], tuple[str, ...]]


@dataclass(frozen=True, eq=False)  # compared by identity: one object per noun
class Noun:
    lemma: str
    gender: Gender
    forms: Forms = field(repr=False)  # the first form of each slot is the one the kiosk says
    animate: bool = False

    def form(self, number: Number, case: Case) -> str:
        return self.forms[(number, case)][0]


def _table(sg: tuple[str, ...], du: tuple[str, ...], pl: tuple[str, ...]) -> Forms:
    forms: Forms = {}
    for number, row in (("sg", sg), ("du", du), ("pl", pl)):
        for case, cell in zip(CASES, row, strict=True):
            forms[(number, case)] = tuple(cell.split("/"))
    return forms


def feminine_a(stem: str) -> Noun:
    """knjiga, ura, minuta, oseba: the feminine a-declension."""
    s = stem
    return Noun(
        s + "a",
        "f",
        _table(
            (s + "a", s + "e", s + "i", s + "o", s + "i", s + "o"),
            (s + "i", s, s + "ama", s + "i", s + "ah", s + "ama"),
            (s + "e", s, s + "am", s + "e", s + "ah", s + "ami"),
        ),
    )


def feminine_i(lemma: str) -> Noun:
    """stran, noč: the feminine i-declension."""
    s = lemma
    return Noun(
        s,
        "f",
        _table(
            (s, s + "i", s + "i", s, s + "i", s + "jo"),
            (s + "i", s + "i", s + "ema", s + "i", s + "eh", s + "ema"),
            (s + "i", s + "i", s + "em", s + "i", s + "eh", s + "mi"),
        ),
    )


def masculine(lemma: str, stem: str | None = None, *, animate: bool = False) -> Noun:
    """dan-less masculines: razred, teden (tedn-), evro (evr-); soft stems take -em/-ev."""
    s = stem or lemma
    soft = s[-1] in "cčšžj"
    o = "e" if soft else "o"
    return Noun(
        lemma,
        "m",
        _table(
            (lemma, s + "a", s + "u", s + "a" if animate else lemma, s + "u", s + o + "m"),
            (s + "a", s + o + "v", s + o + "ma", s + "a", s + "ih", s + o + "ma"),
            (s + "i", s + o + "v", s + o + "m", s + "e", s + "ih", s + "i"),
        ),
        animate,
    )


def neuter(lemma: str, gen_plural: str | None = None) -> Noun:
    """leto, mesto, gradivo (-o) and nadstropje (-je, soft: -em)."""
    s = lemma[:-1]
    soft = lemma.endswith("e")
    o = "e" if soft else "o"
    gp = gen_plural or s
    return Noun(
        lemma,
        "n",
        _table(
            (lemma, s + "a", s + "u", lemma, s + "u", s + o + "m"),
            (s + "i", gp, s + o + "ma", s + "i", s + "ih", s + o + "ma"),
            (s + "a", gp, s + o + "m", s + "a", s + "ih", s + "i"),
        ),
    )


# dan is irregular; "dni" is the genitive plural used with numbers, "dnevov" also correct.
DAN = Noun(
    "dan",
    "m",
    _table(
        ("dan", "dneva", "dnevu", "dan", "dnevu", "dnevom"),
        ("dneva", "dni/dnevov", "dnevoma", "dneva", "dneh/dnevih", "dnevoma"),
        ("dnevi", "dni/dnevov", "dnevom", "dneve", "dneh/dnevih", "dnevi"),
    ),
)
OTROK = Noun(
    "otrok",
    "m",
    _table(
        ("otrok", "otroka", "otroku", "otroka", "otroku", "otrokom"),
        ("otroka", "otrok", "otrokoma", "otroka", "otrocih", "otrokoma"),
        ("otroci", "otrok", "otrokom", "otroke", "otrocih", "otroki"),
    ),
    animate=True,
)

EVRO = masculine("evro", "evr")
CENT = masculine("cent")
ODSTOTEK = masculine("odstotek", "odstotk")
STOPINJA = feminine_a("stopinj")
MINUTA = feminine_a("minut")
URA = feminine_a("ur")
SEKUNDA = feminine_a("sekund")

NOUNS: tuple[Noun, ...] = (
    # the kiosk's own vocabulary
    feminine_a("knjig"),
    neuter("gradivo"),
    feminine_a("enot"),
    DAN,
    URA,
    MINUTA,
    SEKUNDA,
    neuter("leto"),
    EVRO,
    CENT,
    masculine("sedež"),
    neuter("mesto"),
    OTROK,
    feminine_a("oseb"),
    masculine("dogodek", "dogodk"),
    masculine("teden", "tedn"),
    feminine_a("rezervacij"),
    # units and places that numbers and ordinals often come with
    ODSTOTEK,
    STOPINJA,
    neuter("nadstropje", "nadstropij"),
    neuter("poglavje", "poglavij"),
    masculine("razred"),
    masculine("mesec"),
    masculine("izvod"),
    masculine("kos"),
    masculine("obisk"),
    masculine("udeleženec", "udeleženc", animate=True),
    masculine("obiskovalec", "obiskovalc", animate=True),
    feminine_a("delavnic"),
    feminine_a("obletnic"),
    feminine_a("pravljic"),
    feminine_a("vrst"),
    feminine_a("sob"),
    feminine_a("točk"),
    feminine_a("izposoj"),
    feminine_a("revij"),
    feminine_a("zamudnin"),
    feminine_a("kartic"),
    feminine_i("stran"),
    feminine_i("noč"),
    neuter("podaljšanje", "podaljšanj"),
    # months, for ordinals before them ("3. decembra" -> "tretjega decembra")
    masculine("januar"),
    masculine("februar"),
    masculine("marec", "marc"),
    masculine("april"),
    masculine("maj"),
    masculine("junij"),
    masculine("julij"),
    masculine("avgust"),
    masculine("september", "septembr"),
    masculine("oktober", "oktobr"),
    masculine("november", "novembr"),
    masculine("december", "decembr"),
)


# Prepositions and the cases they govern, the likelier first: the case a numeral
# after them takes ("v treh dneh", "od štirih do šestih let", "ob osemnajstih").
PREPOSITION_CASES: dict[str, tuple[Case, ...]] = {
    **dict.fromkeys(
        (
            "od",
            "do",
            "iz",
            "izpod",
            "brez",
            "zaradi",
            "okoli",
            "okrog",
            "blizu",
            "izmed",
            "namesto",
            "sredi",
            "razen",
        ),
        ("gen",),
    ),
    **dict.fromkeys(("k", "proti", "kljub"), ("dat",)),
    **dict.fromkeys(("pri", "o", "ob"), ("loc",)),
    **dict.fromkeys(("v", "na"), ("acc", "loc")),
    "po": ("loc", "acc"),
    "za": ("acc", "ins"),
    **dict.fromkeys(("pred", "nad", "pod", "med"), ("ins", "acc")),
    **dict.fromkeys(("z", "s"), ("ins",)),
    **dict.fromkeys(("čez", "skozi"), ("acc",)),
}


@dataclass(frozen=True)
class Reading:
    """One way to read a written form: this noun, in this number and case."""

    noun: Noun
    number: Number
    case: Case


@cache
def _index() -> dict[str, tuple[Reading, ...]]:
    index: dict[str, list[Reading]] = {}
    for noun in NOUNS:
        for (number, case), forms in noun.forms.items():
            for form in forms:
                index.setdefault(form, []).append(Reading(noun, number, case))
    return {form: tuple(readings) for form, readings in index.items()}


def readings(word: str) -> tuple[Reading, ...]:
    """Every (noun, number, case) the written word can be; empty if not a known noun."""
    return _index().get(word.lower(), ())
