"""Slovenian dates and times as words: "3. 12. 2025" -> "tretjega decembra dva tisoč
petindvajset", "ob 18:30" -> "ob osemnajstih trideset".

Dates are read with the day as an ordinal in the genitive, as in running text (also
after od/do); the year is an undeclined cardinal. A weekday written short before a date
or a time is said in full, and ranges of weekdays, days, dates and times become
"od … do …". Times: the hour is declined as its preposition wants (ob osemnajstih,
od desetih, do dvanajstih, okoli devetih; po šesti, pred deveto as ordinals of "ura"),
full hours drop the minutes, minutes below ten are "nič pet", and "18.30" (the
pravopis notation) is a time as much as "18:30".
"""

from __future__ import annotations

import datetime as dt
import re

from kiosk.speech.sl_lexicon import PREPOSITION_CASES
from kiosk.speech.sl_numbers import UNITS, cardinal, ordinal
from kiosk.speech.text_tools import DASH, keep_case, prev_word, sub_with_context

MONTHS_GENITIVE = (
    "januarja",
    "februarja",
    "marca",
    "aprila",
    "maja",
    "junija",
    "julija",
    "avgusta",
    "septembra",
    "oktobra",
    "novembra",
    "decembra",
)
WEEKDAYS = ("ponedeljek", "torek", "sreda", "četrtek", "petek", "sobota", "nedelja")
_WEEKDAY_ABBREVIATIONS = {name[:3]: name for name in WEEKDAYS}

# ---------------------------------------------------------------- public helpers


def date_words(day: dt.date, *, weekday: bool = False, year: bool = True) -> str:
    """'sreda, tretjega decembra dva tisoč petindvajset' for date(2025, 12, 3)."""
    words = _date(day.day, day.month, day.year if year else None)
    return f"{WEEKDAYS[day.weekday()]}, {words}" if weekday else words


def time_words(moment: dt.time, preposition: str | None = None) -> str:
    """'osemnajst trideset', or with preposition 'ob': 'ob osemnajstih trideset'."""
    said = _time(moment.hour, moment.minute, preposition)
    return f"{preposition} {said}" if preposition else said


# ---------------------------------------------------------------- small pieces


def _date(day: int, month: int, year: int | None) -> str:
    words = f"{ordinal(day, 'm', 'gen')} {MONTHS_GENITIVE[month - 1]}"
    return f"{words} {cardinal(year)}" if year is not None else words


def _minutes(minute: int) -> str:
    if minute == 0:
        return ""
    if minute < 10:
        return f"nič {UNITS[minute]}"
    return cardinal(minute)


_MIDNIGHT = {"pred": "polnočjo"}


def _hour(hour: int, minute: int, preposition: str | None) -> str:
    """The hour as the preposition wants it: ob osemnajstih, od desetih, po šesti, pred deveto."""
    if preposition and hour in (0, 24) and minute == 0:
        return _MIDNIGHT.get(preposition, "polnoči")
    if preposition == "po":  # "po šesti (uri)"
        return ordinal(hour, "f", "loc")
    if preposition == "pred":  # "pred deveto (uro)"
        return ordinal(hour, "f", "ins")
    case = PREPOSITION_CASES.get(preposition or "", ("nom",))[0]
    return cardinal(hour, None if case == "nom" else "f", case)


def _time(hour: int, minute: int, preposition: str | None) -> str:
    return f"{_hour(hour, minute, preposition)} {_minutes(minute)}".strip()


# ---------------------------------------------------------------- dates

_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"


def _date_re(tag: str, year: bool = True) -> str:
    y = rf"(?:\s?(?P<y{tag}>\d{{4}})(?!\d))?" if year else ""
    return rf"(?P<d{tag}>{_DAY})\.\s?(?P<m{tag}>{_MON})\.{y}"


_WEEKDAY_GENITIVE = {
    "pon": "ponedeljka",
    "tor": "torka",
    "sre": "srede",
    "čet": "četrtka",
    "pet": "petka",
    "sob": "sobote",
    "ned": "nedelje",
}
_WD = r"(?i:pon|tor|sre|čet|pet|sob|ned)"
# "pon.–pet." -> "od ponedeljka do petka"; "sob.: 8.00" -> "sobota: …" (never a bare "pet.",
# which may be the numeral five ending a sentence)
_WEEKDAY_RANGE_RE = re.compile(rf"(?<![\w])(?P<a>{_WD})\.?\s*{DASH}\s*(?P<b>{_WD})\.?(?![\w])")
_WEEKDAY_BEFORE_DIGIT_RE = re.compile(
    rf"(?<![\w])(?P<a>{_WD})\.(?=[,:]?\s*\d{{1,2}}[:.]\d\d(?![.\d]))"
)
_WEEKDAY_PREFIX = r"(?:(?P<wd>(?i:pon|tor|sre|čet|pet|sob|ned))\.?(?P<comma>,?)\s+)?"
_DATE_RANGE_RE = re.compile(rf"(?<![\w.,:]){_date_re('a')}(?:\s*{DASH}\s*|\s+do\s+){_date_re('b')}")
_DAY_RANGE_RE = re.compile(
    rf"(?<![\w.,:])(?<!\d\.\s)(?P<da>{_DAY})\.\s*(?P<sep>{DASH}|\s+do\s+|,|\s+in\s+|\s+ali\s+)\s*"
    rf"{_date_re('b')}"
)
_DATE_RE = re.compile(rf"(?<![\w.,:]){_WEEKDAY_PREFIX}(?<![\d.,:]){_date_re('')}")
_ISO_DATE_RE = re.compile(r"(?<![\w.-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])")


def _year(match: re.Match[str], group: str) -> int | None:
    value = match.group(group)
    return int(value) if value else None


def dates(text: str) -> str:
    """Every date, date range and short weekday in `text` said in words."""

    def weekday_range(match: re.Match[str], done: str) -> str:
        a, b = (_WEEKDAY_GENITIVE[match[g].lower()] for g in ("a", "b"))
        said = f"{a} do {b}" if prev_word(done) == "od" else f"od {a} do {b}"
        return keep_case(match["a"], said)

    def weekday(match: re.Match[str], _done: str) -> str:
        return keep_case(match["a"], _WEEKDAY_ABBREVIATIONS[match["a"].lower()])

    def date_range(match: re.Match[str], done: str) -> str:
        a = _date(int(match["da"]), int(match["ma"]), _year(match, "ya"))
        b = _date(int(match["db"]), int(match["mb"]), _year(match, "yb"))
        return f"{a} do {b}" if prev_word(done) == "od" else f"od {a} do {b}"

    def day_range(match: re.Match[str], done: str) -> str:
        a = ordinal(int(match["da"]), "m", "gen")
        b = _date(int(match["db"]), int(match["mb"]), _year(match, "yb"))
        sep = match["sep"].strip()
        if sep == "," or sep in ("in", "ali"):
            return f"{a}, {b}" if sep == "," else f"{a} {sep} {b}"
        if prev_word(done) in ("od", "med") or sep == "do":
            return f"{a} do {b}"
        return f"od {a} do {b}"

    def one_date(match: re.Match[str], done: str) -> str:
        if prev_word(done) == "ob":  # "ob 9.10." is a time, not the 9th of October
            return match.group()
        said = _date(int(match["d"]), int(match["m"]), _year(match, "y"))
        if match["wd"]:
            weekday = _WEEKDAY_ABBREVIATIONS[match["wd"].lower()]
            said = f"{keep_case(match['wd'], weekday)}{match['comma']} {said}"
        return said

    def iso(match: re.Match[str], _done: str) -> str:
        return _date(int(match[3]), int(match[2]), int(match[1]))

    text = sub_with_context(_WEEKDAY_RANGE_RE, text, weekday_range)
    text = sub_with_context(_WEEKDAY_BEFORE_DIGIT_RE, text, weekday)
    text = sub_with_context(_DATE_RANGE_RE, text, date_range)
    text = sub_with_context(_DAY_RANGE_RE, text, day_range)
    text = sub_with_context(_DATE_RE, text, one_date)
    return sub_with_context(_ISO_DATE_RE, text, iso)


# ---------------------------------------------------------------- times

_HH = r"(?:[01]?\d|2[0-4])"
_MM = r"[0-5]\d"
_TIME_END = r"(?!\d|[.:]\d)"
_TIME_RANGE_RE = re.compile(
    rf"(?<![\w.,:])(?P<ha>{_HH})[:.](?P<ma>{_MM})\s*(?P<sep>{DASH}|\s+do\s+)\s*"
    rf"(?P<hb>{_HH})[:.](?P<mb>{_MM}){_TIME_END}"
)
_PREP_TIME_RE = re.compile(
    rf"(?<![\w])(?P<p>(?i:ob|od|do|po|pred|okoli|okrog))\s+(?P<h>{_HH})"
    rf"(?:[:.](?P<m>{_MM})|\s?h\b){_TIME_END}"
)
_TIME_RE = re.compile(rf"(?<![\w.,:])(?P<h>{_HH})[:.](?P<m>{_MM}){_TIME_END}")


def times(text: str) -> str:
    """Every time and time range in `text` said in words."""

    def time_range(match: re.Match[str], done: str) -> str:
        a = _time(int(match["ha"]), int(match["ma"]), "od")
        b = _time(int(match["hb"]), int(match["mb"]), "do")
        return f"{a} do {b}" if prev_word(done) == "od" else f"od {a} do {b}"

    def with_preposition(match: re.Match[str], _done: str) -> str:
        preposition = match["p"]
        minute = int(match["m"] or 0)
        return f"{preposition} {_time(int(match['h']), minute, preposition.lower())}"

    def bare(match: re.Match[str], _done: str) -> str:
        return _time(int(match["h"]), int(match["m"]), None)

    text = sub_with_context(_TIME_RANGE_RE, text, time_range)
    text = sub_with_context(_PREP_TIME_RE, text, with_preposition)
    return sub_with_context(_TIME_RE, text, bare)
