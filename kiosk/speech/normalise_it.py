"""Italian text -> words for speech: numbers, dates, times, money, percent.

Italian numbers are written as one word below a million ("milleduecentotrentaquattro"),
with the tens losing their last vowel before uno and otto ("ventuno", "ventotto") and
a final tre taking the accent ("ventitré"). milione and miliardo are nouns ("un
milione", "due milioni"). One before a noun is "un" or "una" (a few feminine nouns
the kiosk uses are known; others take "un"); the first of the month is "primo".
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

UNITS = ("zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove")
_TEENS = (
    "dieci",
    "undici",
    "dodici",
    "tredici",
    "quattordici",
    "quindici",
    "sedici",
    "diciassette",
    "diciotto",
    "diciannove",
)
_TENS = (
    "",
    "dieci",
    "venti",
    "trenta",
    "quaranta",
    "cinquanta",
    "sessanta",
    "settanta",
    "ottanta",
    "novanta",
)
MONTHS = (
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
)
_FEMININE_NOUNS = frozenset(
    {
        "persona",
        "ora",
        "settimana",
        "prenotazione",
        "copia",
        "pagina",
        "sala",
        "volta",
        "giornata",
        "tessera",
        "sedia",
        "stanza",
        "notte",
    }
)
_ORDINALS = (
    "zeresimo",
    "primo",
    "secondo",
    "terzo",
    "quarto",
    "quinto",
    "sesto",
    "settimo",
    "ottavo",
    "nono",
    "decimo",
)


def _below_100(n: int) -> str:
    if n < 10:
        return UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    tens, unit = divmod(n, 10)
    word = _TENS[tens]
    if unit in (1, 8):
        word = word[:-1]  # ventuno, ventotto
    return word + (UNITS[unit] if unit else "")


def _below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    head = "" if not hundreds else ("cento" if hundreds == 1 else UNITS[hundreds] + "cento")
    tail = _below_100(rest) if rest else ""
    if head and tail.startswith("ottant"):
        head = head[:-1]  # centottanta
    return head + tail


def _accent(word: str) -> str:
    return word[:-3] + "tré" if word.endswith("tre") and len(word) > 3 else word


def cardinal(n: int) -> str:
    """cardinal(1234) == 'milleduecentotrentaquattro'."""
    if n < 0:
        return f"meno {cardinal(-n)}"
    if n == 0:
        return "zero"
    if n >= 10**12:
        raise ValueError(f"{n} is too large to say as a number")
    parts = []
    for value, one, many in ((10**9, "un miliardo", "miliardi"), (10**6, "un milione", "milioni")):
        count, n = divmod(n, value)
        if count == 1:
            parts.append(one)
        elif count:
            parts.append(f"{_elide_uno(cardinal(count))} {many}")
    thousands, rest = divmod(n, 1000)
    word = ""
    if thousands == 1:
        word = "mille"
    elif thousands:
        word = _elide_uno(_below_1000(thousands)) + "mila"
    if rest:
        word += _below_1000(rest)
    if word:
        parts.append(_accent(word))
    return " ".join(parts)


def _elide_uno(word: str) -> str:
    """ventuno -> ventun before mila, milioni or a masculine noun."""
    return word[:-1] if word.endswith("uno") else word


def ordinal(n: int, feminine: bool = False) -> str:
    """ordinal(3) == 'terzo', ordinal(21) == 'ventunesimo', feminine 'terza'."""
    if n <= 10:
        said = _ORDINALS[n]
    else:
        word = cardinal(n).replace(" ", "").replace("tré", "tre")
        # ventitreesimo and ventiseiesimo keep their last vowel, the others drop it
        said = (word if word.endswith(("tre", "sei")) else word[:-1]) + "esimo"
    return said[:-1] + "a" if feminine else said


def time_words(hour: int, minute: int) -> str:
    """(18, 30) -> 'diciotto e trenta'; one o'clock is 'una'."""
    said = "una" if hour == 1 else cardinal(hour)
    return f"{said} e {cardinal(minute)}" if minute else said


def _date(day: int, month: int, year: int | None) -> str:
    said = f"{'primo' if day == 1 else cardinal(day)} {MONTHS[month - 1]}"
    return f"{said} {cardinal(year)}" if year else said


def _with_noun(n: int, noun: str) -> str:
    said = cardinal(n)
    if said.endswith("uno"):
        return said[:-1] + "a" if noun.lower() in _FEMININE_NOUNS else said[:-1]
    return said


# ---------------------------------------------------------------- passes

_MONTH_WORD = (
    r"(?P<mon>(?i:gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre"
    r"|ottobre|novembre|dicembre))"
)
_NAMED_DATE = re.compile(
    rf"(?<![\w.,])(?P<d>[0-3]?\d)[º°]?\s+{_MONTH_WORD}(?:\s+(?P<y>\d{{4}}))?(?!\w)"
)
_NUMERIC_DATE = re.compile(
    r"(?<![\w.,/])(?P<d>0?[1-9]|[12]\d|3[01])(?:\.\s?|/)(?P<m>0?[1-9]|1[0-2])(?:\.\s?|/)"
    r"(?P<y>\d{4})(?![\d/])"
)
_ISO_DATE = re.compile(r"(?<![\w.-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])")
_TIME = re.compile(r"(?<![\w.:])(?P<h>[01]?\d|2[0-4])[:.](?P<m>[0-5]\d)(?![\d:]|\.\d)")
_AMOUNT = r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:,\d{1,2})?"
_MONEY_AFTER = re.compile(rf"(?<![\w.,])(?P<neg>-)?(?P<a>{_AMOUNT})\s?(?:€|EUR\b|euro\b)")
_MONEY_BEFORE = re.compile(rf"(?:€|EUR)\s?(?P<neg>-)?(?P<a>{_AMOUNT})(?!\d)")
_ORDINAL = re.compile(r"(?<![\w.,])(?P<n>\d+)(?P<g>[º°ª])(?!C)")
_QUANTITY = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>\d{{1,3}}(?:\.\d{{3}})+|\d+)(?:,(?P<frac>\d+))?"
    rf"(?:\s*{DASH}\s*(?P<b>\d+))?(?:\s?(?P<unit>%|°C|°))?(?P<noun>\s+{WORD})?"
)
_UNIT_WORDS = {"%": ("per cento", "per cento"), "°C": ("grado", "gradi"), "°": ("grado", "gradi")}
_SYMBOLS = (
    (r"\s*&\s*", " e "),
    (r"%", " per cento "),
    (r"€", " euro "),
    (r"\s*\+\s*", " più "),
    (r"[*#_|]", " "),
)
_SYMBOL_PATTERNS = tuple((re.compile(p), said) for p, said in _SYMBOLS)


def _euros(amount: str, negative: bool) -> str:
    whole, _, frac = amount.partition(",")
    euros = int(whole.replace(".", ""))
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if euros or not cents:
        parts.append(f"{_with_noun(euros, 'euro')} euro")
    if cents:
        parts.append(
            f"{_with_noun(cents, 'centesimo')} {'centesimo' if cents == 1 else 'centesimi'}"
        )
    said = " e ".join(parts)
    return f"meno {said}" if negative else said


def _dates(text: str) -> str:
    def named(match: re.Match[str], _done: str) -> str:
        month = MONTHS.index(match["mon"].lower()) + 1
        if not 1 <= int(match["d"]) <= 31:
            return match.group()
        return _date(int(match["d"]), month, int(match["y"]) if match["y"] else None)

    def numeric(match: re.Match[str], _done: str) -> str:
        return _date(int(match["d"]), int(match["m"]), int(match["y"]))

    text = sub_with_context(_ISO_DATE, text, lambda m, _d: _date(int(m[3]), int(m[2]), int(m[1])))
    text = sub_with_context(_NUMERIC_DATE, text, numeric)
    return sub_with_context(_NAMED_DATE, text, named)


def _quantities(text: str) -> str:
    def quantity(match: re.Match[str], _done: str) -> str:
        noun = match["noun"] or ""
        value = int(match["a"].replace(".", ""))
        last = int(match["b"]) if match["b"] else value
        if match["frac"]:
            said = f"{cardinal(value)} virgola {' '.join(UNITS[int(d)] for d in match['frac'])}"
        elif match["b"]:
            to = _with_noun(last, noun.strip()) if noun else cardinal(last)
            said = f"da {cardinal(value)} a {to}"
        else:
            said = _with_noun(value, noun.strip()) if noun else cardinal(value)
        if match["neg"]:
            said = f"meno {said}"
        if match["unit"]:
            singular, plural = _UNIT_WORDS[match["unit"]]
            said += " " + (singular if last == 1 and not match["frac"] else plural)
            if match["unit"] == "°C":
                said += " Celsius"
        return said + noun

    text = sub_with_context(_MONEY_BEFORE, text, lambda m, _d: _euros(m["a"], bool(m["neg"])))
    text = sub_with_context(_MONEY_AFTER, text, lambda m, _d: _euros(m["a"], bool(m["neg"])))
    text = sub_with_context(_TIME, text, lambda m, _d: time_words(int(m["h"]), int(m["m"])))
    text = sub_with_context(
        _ORDINAL, text, lambda m, _d: ordinal(int(m["n"]), feminine=m["g"] == "ª")
    )
    return sub_with_context(_QUANTITY, text, quantity)


def normalise(text: str) -> str:
    """Italian text with numbers, dates, times, money and symbols as words."""
    text = prepare(text)
    text = _dates(text)
    text = identifiers(text, UNITS, {"ISBN": "i esse bi enne", "ISSN": "i esse esse enne"}, "più")
    text = _quantities(text)
    for pattern, said in _SYMBOL_PATTERNS:
        text = pattern.sub(said, text)
    return tidy(leftover_digits(text, UNITS))
