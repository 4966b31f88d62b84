"""Hungarian text -> words for speech: numbers, dates, times, money, percent.

Hungarian numbers are written as one word up to 2000 ("ezerkilencszázkilencvenegy");
above 2000 the groups of three are joined with hyphens ("kétezer-huszonöt"), as the
spelling rules (AkH. 12th ed., 297.) want. "kettő" is the standalone two and "két"
the one before a noun or inside a number ("két könyv", "kétszáz"). Dates follow the
Hungarian order, year first, the day as a possessive ordinal: "2025. december 3."
-> "kétezer-huszonöt december harmadika".
"""

from __future__ import annotations

import re

from kiosk.speech.text_tools import (
    DASH,
    WORD,
    identifiers,
    leftover_digits,
    prepare,
    sub_with_context,
    tidy,
)

UNITS = ("nulla", "egy", "kettő", "három", "négy", "öt", "hat", "hét", "nyolc", "kilenc")
_TENS = (
    "",
    "tíz",
    "húsz",
    "harminc",
    "negyven",
    "ötven",
    "hatvan",
    "hetven",
    "nyolcvan",
    "kilencven",
)
_TENS_BEFORE_UNIT = ("", "tizen", "huszon", *_TENS[3:])
_SCALES = ((10**12, "billió"), (10**9, "milliárd"), (10**6, "millió"), (10**3, "ezer"))
MONTHS = (
    "január",
    "február",
    "március",
    "április",
    "május",
    "június",
    "július",
    "augusztus",
    "szeptember",
    "október",
    "november",
    "december",
)
_MONTH_ABBREVIATIONS = {
    "jan": 1,
    "febr": 2,
    "feb": 2,
    "márc": 3,
    "ápr": 4,
    "máj": 5,
    "jún": 6,
    "júl": 7,
    "aug": 8,
    "szept": 9,
    "szep": 9,
    "okt": 10,
    "nov": 11,
    "dec": 12,
}
# Ordinal endings of the last part of a number (harmadik, negyvenedik, ezredik).
_ORDINAL_ENDINGS = (
    ("kilencven", "kilencvenedik"),
    ("nyolcvan", "nyolcvanadik"),
    ("hetven", "hetvenedik"),
    ("hatvan", "hatvanadik"),
    ("ötven", "ötvenedik"),
    ("negyven", "negyvenedik"),
    ("harminc", "harmincadik"),
    ("milliárd", "milliárdodik"),
    ("millió", "milliomodik"),
    ("ezer", "ezredik"),
    ("száz", "századik"),
    ("húsz", "huszadik"),
    ("tíz", "tizedik"),
    ("kilenc", "kilencedik"),
    ("nyolc", "nyolcadik"),
    ("hét", "hetedik"),
    ("hat", "hatodik"),
    ("öt", "ötödik"),
    ("négy", "negyedik"),
    ("három", "harmadik"),
    ("kettő", "kettedik"),
    ("egy", "egyedik"),
)
_BACK_VOWELS = "aáoóuú"
_VOWELS = "aáeéiíoóöőuúüű"


def _below_1000(n: int, attributive: bool) -> str:
    hundreds, rest = divmod(n, 100)
    said = ""
    if hundreds:
        said = ("" if hundreds == 1 else _unit(hundreds, True)) + "száz"
    tens, unit = divmod(rest, 10)
    if unit and tens:
        said += _TENS_BEFORE_UNIT[tens] + _unit(unit, attributive)
    elif tens:
        said += _TENS[tens]
    elif unit:
        said += _unit(unit, attributive)
    return said


def _unit(n: int, attributive: bool) -> str:
    return "két" if n == 2 and attributive else UNITS[n]


def cardinal(n: int, attributive: bool = False) -> str:
    """cardinal(2025) == 'kétezer-huszonöt'; attributive gives 'két' for a final two."""
    if n < 0:
        return f"mínusz {cardinal(-n, attributive)}"
    if n == 0:
        return "nulla"
    if n >= 10**15:
        raise ValueError(f"{n} is too large to say as a number")
    groups = []
    rest = n
    for value, name in _SCALES:
        count, rest = divmod(rest, value)
        if count:
            prefix = "" if count == 1 and name == "ezer" and n <= 2000 else _below_1000(count, True)
            if count == 1 and name != "ezer":
                prefix = "egy"
            groups.append(prefix + name)
    if rest:
        groups.append(_below_1000(rest, attributive))
    return ("" if n <= 2000 else "-").join(groups)


def ordinal(n: int) -> str:
    """ordinal(3) == 'harmadik'; 1 and 2 alone are 'első' and 'második'."""
    if n == 1:
        return "első"
    if n == 2:
        return "második"
    said = cardinal(n)
    for ending, replacement in _ORDINAL_ENDINGS:
        if said.endswith(ending):
            return said[: -len(ending)] + replacement
    return said + "adik"


def day_of_month(day: int) -> str:
    """The day in a date, a possessive ordinal: 1 elseje, 3 harmadika, 9 kilencedike."""
    if day == 1:
        return "elseje"
    if day == 2:
        return "másodika"
    stem = ordinal(day)
    last_vowel = [ch for ch in stem[:-2] if ch in _VOWELS][-1]
    return stem + ("a" if last_vowel in _BACK_VOWELS else "e")


def time_words(hour: int, minute: int) -> str:
    """(18, 30) -> 'tizennyolc óra harminc perc'."""
    said = f"{cardinal(hour, True)} óra"
    return f"{said} {cardinal(minute, True)} perc" if minute else said


def _date(year: int | None, month: int, day: int) -> str:
    said = f"{MONTHS[month - 1]} {day_of_month(day)}"
    return f"{cardinal(year)} {said}" if year else said


# ---------------------------------------------------------------- passes

_MONTH_WORD = (
    r"(?P<mon>(?i:január|február|március|április|május|június|július|augusztus|szeptember"
    r"|október|november|december|jan|febr|feb|márc|ápr|máj|jún|júl|aug|szept|szep|okt|nov|dec))\.?"
)
_NAMED_DATE = re.compile(rf"(?:(?P<y>\d{{4}})\.\s*)?{_MONTH_WORD}\s+(?P<d>[0-3]?\d)\.?(?!\d)")
_NUMERIC_DATE = re.compile(
    r"(?<![\w.,])(?P<y>\d{4})\.\s?(?P<m>0?[1-9]|1[0-2])\.\s?(?P<d>0?[1-9]|[12]\d|3[01])\.?(?!\d)"
)
_SLOVENIAN_DATE = re.compile(
    r"(?<![\w.,])(?P<d>0?[1-9]|[12]\d|3[01])\.\s?(?P<m>0?[1-9]|1[0-2])\.\s?(?P<y>\d{4})(?!\d)"
)
_ISO_DATE = re.compile(r"(?<![\w.-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])")
_TIME = re.compile(r"(?<![\w.:])(?P<h>[01]?\d|2[0-4])[:.](?P<m>[0-5]\d)(?![\d:]|\.\d)")
_AMOUNT = r"\d{1,3}(?:[ .]\d{3})*(?:,\d{1,2})?|\d+(?:,\d{1,2})?"
_MONEY_AFTER = re.compile(rf"(?<![\w.,])(?P<neg>-)?(?P<a>{_AMOUNT})\s?(?:€|EUR\b|euró\b)")
_MONEY_BEFORE = re.compile(rf"(?:€|EUR)\s?(?P<neg>-)?(?P<a>{_AMOUNT})(?!\d)")
_ORDINAL = re.compile(r"(?<![\w.,])(?P<n>\d+)\.(?=\s+[a-záéíóöőúüű])")
_QUANTITY = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>\d{{1,3}}(?: \d{{3}})+|\d+)(?:,(?P<frac>\d+))?"
    rf"(?:\s*{DASH}\s*(?P<b>\d+))?(?:\s?(?P<unit>%|°C|°))?(?P<noun>\s+{WORD})?"
)
_UNIT_WORDS = {"%": "százalék", "°C": "Celsius-fok", "°": "fok"}
_SYMBOLS = (
    (r"\s*&\s*", " és "),
    (r"%", " százalék "),
    (r"€", " euró "),
    (r"\s*\+\s*", " plusz "),
    (r"[*#_|]", " "),
)
_SYMBOL_PATTERNS = tuple((re.compile(p), said) for p, said in _SYMBOLS)


def _euros(amount: str, negative: bool) -> str:
    whole, _, frac = amount.partition(",")
    euros = int(re.sub(r"\D", "", whole))
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if euros or not cents:
        parts.append(f"{cardinal(euros, True)} euró")
    if cents:
        parts.append(f"{cardinal(cents, True)} cent")
    said = " ".join(parts)
    return f"mínusz {said}" if negative else said


def _dates(text: str) -> str:
    def named(match: re.Match[str], _done: str) -> str:
        name = match["mon"].lower()
        month = next((i for i, m in enumerate(MONTHS, 1) if m == name), None)
        month = month or _MONTH_ABBREVIATIONS[name]
        if not 1 <= int(match["d"]) <= 31:
            return match.group()
        return _date(int(match["y"]) if match["y"] else None, month, int(match["d"]))

    def numeric(match: re.Match[str], _done: str) -> str:
        return _date(int(match["y"]), int(match["m"]), int(match["d"]))

    text = sub_with_context(_ISO_DATE, text, lambda m, _d: _date(int(m[1]), int(m[2]), int(m[3])))
    text = sub_with_context(_NUMERIC_DATE, text, numeric)
    text = sub_with_context(_SLOVENIAN_DATE, text, numeric)
    return sub_with_context(_NAMED_DATE, text, named)


def _quantities(text: str) -> str:
    def quantity(match: re.Match[str], _done: str) -> str:
        noun = match["noun"] or ""
        # a two before a noun or a unit is "két"; alone it is "kettő"
        attributive = bool(noun or match["unit"])
        value = int(match["a"].replace(" ", ""))
        if match["frac"]:
            said = f"{cardinal(value)} egész {cardinal(int(match['frac']), attributive)}"
        elif match["b"]:  # "4–6 év" is said "négy-hat év", as in "két-három nap"
            said = f"{cardinal(value, True)}-{cardinal(int(match['b']), attributive)}"
        else:
            said = cardinal(value, attributive)
        if match["neg"]:
            said = f"mínusz {said}"
        if match["unit"]:
            said += " " + _UNIT_WORDS[match["unit"]]
        return said + noun

    text = sub_with_context(_MONEY_BEFORE, text, lambda m, _d: _euros(m["a"], bool(m["neg"])))
    text = sub_with_context(_MONEY_AFTER, text, lambda m, _d: _euros(m["a"], bool(m["neg"])))
    text = sub_with_context(_TIME, text, lambda m, _d: time_words(int(m["h"]), int(m["m"])))
    text = sub_with_context(_ORDINAL, text, lambda m, _d: ordinal(int(m["n"])))
    return sub_with_context(_QUANTITY, text, quantity)


def normalise(text: str) -> str:
    """Hungarian text with numbers, dates, times, money and symbols as words."""
    text = prepare(text)
    text = _dates(text)
    text = identifiers(text, UNITS, {"ISBN": "i es bé en", "ISSN": "i es es en"}, "plusz")
    text = _quantities(text)
    for pattern, said in _SYMBOL_PATTERNS:
        text = pattern.sub(said, text)
    return tidy(leftover_digits(text, UNITS))
