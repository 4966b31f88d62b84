"""English text -> words for speech (simpler than Slovenian: no agreement to get right).

Numbers are said the American way without "and" ("one thousand two hundred
thirty-four"); dates as "the third of December twenty twenty-five"; times on the
12-hour clock ("six thirty p.m."), since English listeners expect it even though
the screen shows 18:30; money "€1,234.50" as "one thousand two hundred thirty-four
euros and fifty cents". The Slovenian screen formats (3. 12. 2025, 1.234,50 €)
are understood too, since a kiosk may show them in an English sentence.
"""

from __future__ import annotations

import re

from kiosk.speech.text_tools import (
    DASH,
    identifiers,
    keep_case,
    leftover_digits,
    prepare,
    sub_with_context,
    tidy,
)

ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = (
    (10**15, "quadrillion"),
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (10**3, "thousand"),
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_IRREGULAR_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, unit = divmod(rest, 10)
        words.append(TENS[tens] + (f"-{ONES[unit]}" if unit else ""))
    elif rest:
        words.append(ONES[rest])
    return " ".join(words)


def cardinal(n: int) -> str:
    """cardinal(1234) == 'one thousand two hundred thirty-four'."""
    if n < 0:
        return f"minus {cardinal(-n)}"
    if n == 0:
        return "zero"
    if n >= 10**18:
        raise ValueError(f"{n} is too large to say as a number")
    words = []
    for value, name in SCALES:
        count, n = divmod(n, value)
        if count:
            words.append(f"{_below_1000(count)} {name}")
    if n:
        words.append(_below_1000(n))
    return " ".join(words)


def ordinal(n: int) -> str:
    """ordinal(21) == 'twenty-first'."""
    words = cardinal(n)
    head, sep, last = max(
        (words.rpartition(" "), words.rpartition("-")), key=lambda parts: len(parts[0])
    )
    if last in _IRREGULAR_ORDINALS:
        last = _IRREGULAR_ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def year(n: int) -> str:
    """1905 'nineteen oh five', 2000 'two thousand', 2007 'two thousand seven',
    2025 'twenty twenty-five'."""
    if not 1000 <= n <= 9999 or 2000 <= n <= 2009:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' + ONES[low] if low < 10 else cardinal(low)}"


def time_words(hour: int, minute: int, suffix: str | None = None) -> str:
    """On the 12-hour clock: (18, 30) 'six thirty p.m.', (12, 0) 'noon'."""
    if suffix is None:
        if minute == 0 and hour in (0, 24):
            return "midnight"
        if minute == 0 and hour == 12:
            return "noon"
        suffix = "a.m." if hour < 12 or hour == 24 else "p.m."
    clock = hour % 12 or 12
    if minute == 0:
        return f"{cardinal(clock)} {suffix}"
    said_minute = f"oh {ONES[minute]}" if minute < 10 else cardinal(minute)
    return f"{cardinal(clock)} {said_minute} {suffix}"


def _date(day: int, month: int, year_: int | None) -> str:
    said = f"the {ordinal(day)} of {MONTHS[month - 1]}"
    return f"{said} {year(year_)}" if year_ else said


# ---------------------------------------------------------------- passes

_ABBREVIATIONS = (
    (r"\be\.g\.", "for example"),
    (r"\bi\.e\.", "that is"),
    (r"\betc\.(?=\s*$)", "et cetera."),
    (r"\betc\.", "et cetera"),
    (r"\bapprox\.", "approximately"),
    (r"\bvs\.", "versus"),
    (r"\bDr\.(?=\s*[A-Z])", "Doctor"),
    (r"\bMr\.(?=\s*[A-Z])", "Mister"),
    (r"\bMrs\.(?=\s*[A-Z])", "Missus"),
    (r"\bMs\.(?=\s*[A-Z])", "Miz"),
    (r"\bSt\.(?=\s*[A-Z])", "Saint"),
    (r"\b[Nn]o\.(?=\s*\d)", "number"),
    (r"\btel\.", "telephone"),
    (r"\bp\.(?=\s*\d)", "page"),
)
_ABBREVIATION_PATTERNS = tuple((re.compile(p), said) for p, said in _ABBREVIATIONS)

_MONTH_NAMES = {name.lower(): i for i, name in enumerate(MONTHS, 1)} | {
    name[:3].lower(): i for i, name in enumerate(MONTHS, 1)
}
_MONTH = (
    r"(?P<mon>(?i:january|february|march|april|may|june|july|august|september|october"
    r"|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec))\.?"
)
_ORD_SUFFIX = r"(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(
    rf"\b(?P<d>[0-3]?\d){_ORD_SUFFIX}\s+(?:of\s+)?{_MONTH}(?:,?\s+(?P<y>\d{{4}}))?(?!\w)"
)
_MONTH_DAY_YEAR = re.compile(
    rf"\b{_MONTH}\s+(?P<d>[0-3]?\d){_ORD_SUFFIX}(?:,?\s+(?P<y>\d{{4}}))?(?![\w:])"
)
_NUMERIC_DATE = re.compile(
    r"(?<![\w.,/])(?P<d>0?[1-9]|[12]\d|3[01])(?:\.\s?|/)(?P<m>0?[1-9]|1[0-2])(?:\.|/)"
    r"(?:\s?(?P<y>\d{4}))?(?![\d/])"
)
_ISO_DATE = re.compile(r"(?<![\w.-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])")

_CLOCK = r"(?P<h{t}>[01]?\d|2[0-4]):(?P<m{t}>[0-5]\d)(?:\s?(?P<s{t}>(?i:a\.?m\.?|p\.?m\.?)))?"
_TIME_RANGE = re.compile(
    rf"(?<![\w.:]){_CLOCK.format(t='a')}\s*{DASH}\s*{_CLOCK.format(t='b')}(?![\d:])"
)
_TIME = re.compile(rf"(?<![\w.:]){_CLOCK.format(t='')}(?![\d:])")

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_EURO_AMOUNT = r"\d{1,3}(?:[.,]\d{3})*(?:[.,]\d{1,2})?"
_MONEY_BEFORE = re.compile(rf"(?:€|EUR)\s?(?P<a>-?{_EURO_AMOUNT})(?![\d])")
_MONEY_AFTER = re.compile(rf"(?<![\w.,])(?P<a>-?{_EURO_AMOUNT})\s?(?:€|EUR\b)")
_ORDINAL = re.compile(r"(?<![\w.,])(?P<n>\d+)(?:st|nd|rd|th)\b")
_UNITS = {
    "%": ("percent", "percent"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°": ("degree", "degrees"),
    "min": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "s": ("second", "seconds"),
}
_QUANTITY = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>{_NUMBER})(?:\s*{DASH}\s*(?P<b>{_NUMBER}))?"
    r"(?:\s?(?P<unit>%|°C|°|min\b|h\b|s\b(?=\s*(?:$|[.,;:!?)])))|(?P<plus>\+)|(?P<times>x\b))?"
)
_SYMBOLS = (
    (r"\s*&\s*", " and "),
    (r"%", " percent "),
    (r"°C", " degrees Celsius "),
    (r"°", " degrees "),
    (r"€", " euros "),
    (r"\s*\+\s*", " plus "),
    (r"\s*=\s*", " equals "),
    (r"@", " at "),
    (r"[*#_|]", " "),
)
_SYMBOL_PATTERNS = tuple((re.compile(p), said) for p, said in _SYMBOLS)


def _number(written: str) -> str:
    whole, _, frac = written.replace(",", "").partition(".")
    said = cardinal(int(whole))
    if frac:
        said += " point " + " ".join(ONES[int(d)] for d in frac)
    return said


def _euros(amount: str) -> str:
    negative = amount.startswith("-")
    amount = amount.lstrip("-")
    # "1.234,50" (European) or "1,234.50" (English): the last separator followed by
    # one or two digits is the decimal one.
    decimal = re.search(r"[.,](\d{1,2})$", amount)
    cents = int(decimal[1].ljust(2, "0")) if decimal else 0
    whole = amount[: decimal.start()] if decimal else amount
    euros = int(re.sub(r"\D", "", whole) or 0)
    parts = []
    if euros or not cents:
        parts.append(f"{cardinal(euros)} {'euro' if euros == 1 else 'euros'}")
    if cents:
        parts.append(f"{cardinal(cents)} {'cent' if cents == 1 else 'cents'}")
    said = " and ".join(parts)
    return f"minus {said}" if negative else said


def _dates(text: str) -> str:
    def day_month_year(match: re.Match[str], _done: str) -> str:
        month = _MONTH_NAMES[match["mon"].lower()]
        return _date(int(match["d"]), month, int(match["y"]) if match["y"] else None)

    def month_day_year(match: re.Match[str], _done: str) -> str:
        said = f"{MONTHS[_MONTH_NAMES[match['mon'].lower()] - 1]} {ordinal(int(match['d']))}"
        return f"{said}, {year(int(match['y']))}" if match["y"] else said

    def numeric(match: re.Match[str], _done: str) -> str:
        return _date(int(match["d"]), int(match["m"]), int(match["y"]) if match["y"] else None)

    text = sub_with_context(_ISO_DATE, text, lambda m, _d: _date(int(m[3]), int(m[2]), int(m[1])))
    text = sub_with_context(_NUMERIC_DATE, text, numeric)
    text = sub_with_context(_MONTH_DAY_YEAR, text, month_day_year)
    return sub_with_context(_DAY_MONTH_YEAR, text, day_month_year)


def _suffix(written: str | None) -> str | None:
    if not written:
        return None
    return "a.m." if written.lower().startswith("a") else "p.m."


def _times(text: str) -> str:
    def time_range(match: re.Match[str], _done: str) -> str:
        a = time_words(int(match["ha"]), int(match["ma"]), _suffix(match["sa"]))
        b = time_words(int(match["hb"]), int(match["mb"]), _suffix(match["sb"]))
        return f"{a} to {b}"

    def one(match: re.Match[str], _done: str) -> str:
        return time_words(int(match["h"]), int(match["m"]), _suffix(match["s"]))

    return sub_with_context(_TIME, sub_with_context(_TIME_RANGE, text, time_range), one)


def _quantities(text: str) -> str:
    def quantity(match: re.Match[str], _done: str) -> str:
        a = _number(match["a"])
        if match["neg"]:
            a = f"minus {a}"
        if match["plus"]:
            return f"{a} plus"
        if match["times"]:
            return {"one": "once", "two": "twice"}.get(a, f"{a} times")
        last = match["b"] or match["a"]
        said = f"{a} to {_number(match['b'])}" if match["b"] else a
        if match["unit"]:
            singular, plural = _UNITS[match["unit"]]
            said += " " + (singular if last == "1" and not match["neg"] else plural)
        return said

    text = sub_with_context(_MONEY_BEFORE, text, lambda m, _d: _euros(m["a"]))
    text = sub_with_context(_MONEY_AFTER, text, lambda m, _d: _euros(m["a"]))
    text = sub_with_context(_ORDINAL, text, lambda m, _d: ordinal(int(m["n"])))
    return sub_with_context(_QUANTITY, text, quantity)


def normalise(text: str) -> str:
    """English text with numbers, dates, times, money, symbols and abbreviations as words."""
    text = prepare(text)
    for pattern, said in _ABBREVIATION_PATTERNS:
        text = pattern.sub(lambda m, said=said: keep_case(m.group(), said), text)
    text = _dates(text)
    text = _times(text)
    text = identifiers(text, ONES[:10], {"ISBN": "I S B N", "ISSN": "I S S N"}, "plus")
    text = _quantities(text)
    for pattern, said in _SYMBOL_PATTERNS:
        text = pattern.sub(said, text)
    return tidy(leftover_digits(text, ONES[:10]))
