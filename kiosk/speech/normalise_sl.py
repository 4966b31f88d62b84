"""Slovenian text -> words for speech: what the screen shows, as a person would read it.

espeak-ng reads digits and symbols badly in Slovenian ("1.234,50 €" becomes
"tisoč dvesto štiriintrideset celih petdeset"), so every number, date, time,
amount, symbol and abbreviation is turned into words first, with the grammar a
native speaker uses:

- numbers agree with their noun: "1 knjiga" -> "ena knjiga", "2 dneva" -> "dva
  dneva", "v 3 dneh" -> "v treh dneh", "za 1 otroka" -> "za enega otroka";
  the case comes from the preposition before the number and the form of the noun
  after it; the gender from a lexicon of the nouns the kiosk counts
  (sl_lexicon), else from the ending of the next word (-a feminine, -o/-e
  neuter, a consonant masculine; 2 + -a masculine, 3–4 + -i masculine). With
  neither a known noun nor a word after it, a number is said as in counting
  ("ena, dva, tri"), and in an oblique case in the feminine ("od ene do petih"),
  the form used for hours.
- numbers from 5 on are declined after prepositions ("do enaindvajsetih let",
  "ob osemnajstih") as the standard language wants; years are not ("od 2020").
- ranges: "4–6 let" -> "od štirih do šestih let" (the standard reading; the
  colloquial "od štiri do šest let" mixes cases), after a preposition without
  the added "od": "v 2–3 dneh" -> "v dveh do treh dneh".
- ordinals agree with the noun: "1. nadstropje" -> "prvo nadstropje", "ob 18. uri"
  -> "ob osemnajsti uri"; a number with a full stop is an ordinal only when a
  lowercase word (or a capitalised one after a preposition) follows, otherwise
  the stop ends the sentence.
- dates and times (sl_dates): "3. 12. 2025" -> "tretjega decembra dva tisoč
  petindvajset", "ob 18:30" -> "ob osemnajstih trideset", "18:30" -> "osemnajst trideset".
- money: "1.234,50 €" -> "tisoč dvesto štiriintrideset evrov in petdeset centov".
- telephone numbers (leading 0 or +), ISBN/ISSN, numbers with a leading zero
  and runs of more than ten digits are said digit by digit, in their groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.speech.sl_dates import dates, times
from kiosk.speech.sl_lexicon import (
    CENT,
    DAN,
    EVRO,
    MINUTA,
    ODSTOTEK,
    PREPOSITION_CASES,
    SEKUNDA,
    STOPINJA,
    URA,
    Noun,
    readings,
)
from kiosk.speech.sl_numbers import (
    UNITS,
    Case,
    Gender,
    Number,
    agreement_slot,
    cardinal,
    compound_prefix,
    multiplier,
    ordinal,
)
from kiosk.speech.text_tools import (
    DASH,
    WORD,
    chunks,
    identifiers,
    keep_case,
    leftover_digits,
    prepare,
    prev_word,
    say_digits,
    sub_with_context,
    tidy,
)

_CASE_PREFERENCE: tuple[Case, ...] = ("nom", "acc", "gen", "loc", "ins", "dat")
_NUMBER_PREFERENCE: tuple[Number, ...] = ("sg", "pl", "du")

_NUM = r"(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?"


_SPELLED = {"ISBN": "i es be en", "ISSN": "i es es en"}


# ---------------------------------------------------------------- abbreviations


@dataclass(frozen=True)
class _Abbreviation:
    written: str
    said: str
    # "always" | "before_name" | "before_digit" | "ends_list" | "agrees" (an adjective
    # that takes the ending of the next word: "t. i. bralna značka" -> "tako imenovana")
    when: str = "always"


_ABBREVIATIONS = (
    _Abbreviation("npr.", "na primer"),
    _Abbreviation("št.", "številka"),
    _Abbreviation("ul.", "ulica"),
    _Abbreviation("itd.", "in tako dalje", "ends_list"),
    _Abbreviation("ipd.", "in podobno", "ends_list"),
    _Abbreviation("idr.", "in drugi", "ends_list"),
    _Abbreviation("oz.", "oziroma"),
    _Abbreviation("tj.", "to je"),
    _Abbreviation("t. i.", "tako imenovan", "agrees"),
    _Abbreviation("prim.", "primerjaj"),
    _Abbreviation("str.", "stran"),
    _Abbreviation("tel.", "telefon"),
    _Abbreviation("pribl.", "približno"),
    _Abbreviation("cca.", "približno"),
    _Abbreviation("cca", "približno"),
    _Abbreviation("vklj.", "vključno"),
    _Abbreviation("nad.", "nadstropje"),
    _Abbreviation("max.", "največ"),
    _Abbreviation("maks.", "največ"),
    _Abbreviation("dr.", "doktor", "before_name"),
    _Abbreviation("ga.", "gospa", "before_name"),
    _Abbreviation("g.", "gospod", "before_name"),
    _Abbreviation("gdč.", "gospodična", "before_name"),
    _Abbreviation("prof.", "profesor", "before_name"),
    _Abbreviation("mag.", "magister", "before_name"),
    _Abbreviation("sv.", "svet", "agrees"),
    _Abbreviation("l.", "leta", "before_digit"),
)
_FOLLOW = {
    "always": r"(?![\w])",
    "ends_list": r"(?![\w])",
    "before_name": r"(?=\s*[A-ZČŠŽĆĐ])",
    "before_digit": r"(?=\s*\d)",
    "agrees": r"(?=\s*[^\W\d_])",
}


def _abbreviation_pattern(abbreviation: _Abbreviation) -> re.Pattern[str]:
    first, rest = abbreviation.written[0], abbreviation.written[1:]
    body = re.escape(rest).replace(r"\ ", r"\s?")
    return re.compile(rf"(?<![\w.])[{first}{first.upper()}]{body}{_FOLLOW[abbreviation.when]}")


_ABBREVIATION_PATTERNS = tuple((a, _abbreviation_pattern(a)) for a in _ABBREVIATIONS)


def _adjective_ending(next_word: str) -> str:
    """The ending an adjective takes before this word (nominative singular)."""
    w = next_word.lower()
    if w.endswith("a"):
        return "a"
    return "o" if w.endswith(("o", "e")) else "i"


def _abbreviations(text: str) -> str:
    for abbreviation, pattern in _ABBREVIATION_PATTERNS:

        def expand(match: re.Match[str], _done: str, a: _Abbreviation = abbreviation) -> str:
            after = match.string[match.end() :]
            said = keep_case(match.group(), a.said)
            if a.when == "agrees":
                said += _adjective_ending(re.match(rf"\s*({WORD})", after)[1])  # type: ignore[index]
            # "…, itd. Potem" or at the very end: the dot also ended the sentence.
            if a.when == "ends_list" and re.match(r"\s*(?:$|[A-ZČŠŽĆĐ])", after):
                said += "."
            return said

        text = sub_with_context(pattern, text, expand)
    return text


# ---------------------------------------------------------------- said digit by digit

_AFTER_KEYWORD_RE = re.compile(
    r"(?<![\w])(?P<k>(?i:številk[aoei]|kod[aoei]|ID|inventarn[aoei] številk[aoei]))(?P<s>:?\s+)"
    r"(?P<n>\d{5,})(?![\d.,])"
)


def _identifiers(text: str) -> str:
    text = sub_with_context(
        _AFTER_KEYWORD_RE,
        text,
        lambda m, _d: f"{m['k']}{m['s']}{say_digits(chunks(m['n']), UNITS)}",
    )
    return identifiers(text, UNITS, _SPELLED, "plus")


# ---------------------------------------------------------------- agreement


def _slot(n: int, decimal: bool, case: Case) -> tuple[Number, Case]:
    """The number and case a counted noun takes after n in `case`."""
    if decimal:
        return ("sg", "gen")  # "2,5 litra": after a decimal number, genitive singular
    slot = agreement_slot(n)
    if slot == 1:
        return ("sg", case)
    if slot == 2:
        return ("du", case)
    if slot == 3:
        return ("pl", case)
    return ("pl", "gen") if case in ("nom", "acc") else ("pl", case)


@dataclass(frozen=True)
class _Agreement:
    gender: Gender | None
    case: Case
    animate: bool = False
    noun_said: str | None = None  # a corrected noun form, when the written one did not fit
    known: bool = False  # the noun is in the lexicon


def _guess_gender(word: str, n: int, case: Case) -> Gender:
    """The gender of an unknown noun (or adjective) from its ending, enough to pick
    the right numeral; only 1–4 depend on gender."""
    w = word.lower()
    slot = agreement_slot(n)
    if case in ("nom", "acc"):
        if slot == 1:
            if w.endswith("a"):
                return "f"
            return "n" if w.endswith(("o", "e")) else "m"
        if slot == 2:
            return "m" if w.endswith("a") else "f"
        if slot == 3:
            return "m" if case == "nom" and w.endswith("i") else "f"
        return "f"
    feminine_endings = {"gen": ("e",), "dat": ("i",), "loc": ("i",), "ins": ("o",)}
    return "f" if w.endswith(feminine_endings[case]) else "m"


def _agree(n: int, decimal: bool, cases: tuple[Case, ...] | None, word: str | None) -> _Agreement:
    """How the numeral n agrees with the word after it, given the cases a preposition allows."""
    if word is None:
        case = cases[0] if cases else "nom"
        return _Agreement(None, case)
    found = readings(word)
    if not found:
        case = cases[0] if cases else "nom"
        return _Agreement(_guess_gender(word, n, case), case)
    written = word.lower()
    nouns = list(dict.fromkeys(r.noun for r in found))
    noun = nouns[0]
    if noun is DAN and written == "dni" and agreement_slot(n) in (2, 3) and not cases:
        # "tri dni", "štiri dni" (and the colloquial "dva dni") are said as written.
        return _Agreement("m" if agreement_slot(n) == 2 else "f", "acc", known=True)
    for candidate in nouns:
        for case in cases or _CASE_PREFERENCE:
            if written in candidate.forms[_slot(n, decimal, case)]:
                return _Agreement(candidate.gender, case, candidate.animate, known=True)
    # The written form does not fit the number (a template bug, "3 knjig"): say it right.
    case = cases[0] if cases else "nom"
    said = keep_case(word, noun.form(*_slot(n, decimal, case)))
    return _Agreement(noun.gender, case, noun.animate, said, known=True)


# ---------------------------------------------------------------- ordinals

_ORDINAL_RE = re.compile(
    rf"(?<![\w.,:])(?P<n>\d{{1,3}}(?:\.\d{{3}})+|\d+)\.(?=\s|{DASH}\s*\d+\.\s)"
)
_ORDINAL_CHAIN = re.compile(rf"(?:\s*(?:{DASH}|,|\s(?:do|in|ali|oziroma)\s)\s*\d+\.)*")
_WORDS_AFTER = re.compile(rf"\s+(?P<w1>{WORD})(?:\s+(?P<w2>{WORD}))?")
_ORDINAL_DASH = re.compile(rf"\s*{DASH}\s*(?=\d+\.\s)")

# Endings of an unknown noun or adjective that fit each case in the singular, by gender.
_ENDINGS_BY_CASE: dict[Case, tuple[tuple[str, Gender], ...]] = {
    "nom": (("a", "f"), ("o", "n"), ("e", "n")),
    "acc": (("o", "f"), ("e", "n")),
    "gen": (("ega", "m"), ("e", "f"), ("a", "m")),
    "dat": (("i", "f"), ("u", "m"), ("emu", "m")),
    "loc": (("i", "f"), ("u", "m"), ("em", "m")),
    "ins": (("o", "f"), ("om", "m"), ("em", "m"), ("im", "m")),
}
_VOWELS = "aeiou"


def _guess_ordinal(word: str, cases: tuple[Case, ...] | None) -> tuple[Gender, Case]:
    """Gender and case of an unknown word after an ordinal, from its ending: the longest
    ending that fits one of the allowed cases wins ("-em" locative over a bare consonant)."""
    w = word.lower()
    allowed = cases or ("nom",)
    fitting = [
        (len(ending), gender, case)
        for case in allowed
        for ending, gender in _ENDINGS_BY_CASE[case]
        if ending and w.endswith(ending)
    ]
    if fitting:
        _, gender, case = max(fitting, key=lambda fit: fit[0])
        return gender, case
    if w[-1] not in _VOWELS or w.endswith("i"):  # a consonant (festival) or -i (mednarodni)
        return "m", next((c for c in allowed if c in ("nom", "acc")), allowed[0])
    return "m", allowed[0]


def _ordinal_form(n: int, words: list[str], cases: tuple[Case, ...] | None) -> str:
    for word in words:
        found = readings(word)
        if not found:
            continue
        fitting = [r for r in found if not cases or r.case in cases] or list(found)
        best = min(
            fitting,
            key=lambda r: (_NUMBER_PREFERENCE.index(r.number), _CASE_PREFERENCE.index(r.case)),
        )
        return ordinal(n, best.noun.gender, best.case, best.number, animate=best.noun.animate)
    gender, case = _guess_ordinal(words[0], cases) if words else ("m", (cases or ("nom",))[0])
    return ordinal(n, gender, case)


_FUNCTION_WORDS = frozenset(PREPOSITION_CASES) | {"in", "ali", "oziroma", "pa", "je", "so"}


def _ordinals(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _ORDINAL_RE.finditer(text):
        if match.start() < pos:
            continue
        done = "".join(out) + text[pos : match.start()]
        chain_end = _ORDINAL_CHAIN.match(text, match.end()).end()  # type: ignore[union-attr]
        after = _WORDS_AFTER.match(text, chain_end)
        prev = prev_word(done)
        words = [w for w in (after["w1"], after["w2"]) if w] if after else []
        is_ordinal = bool(words) and (words[0][0].islower() or prev in PREPOSITION_CASES)
        if words and words[0].lower() in _FUNCTION_WORDS:
            words = []  # "2. po vrsti": no noun to agree with, the masculine it is
        if not is_ordinal:
            continue
        out.append(text[pos : match.start()])
        n = int(match["n"].replace(".", ""))
        out.append(_ordinal_form(n, words, PREPOSITION_CASES.get(prev)))
        pos = match.end()
        dash = _ORDINAL_DASH.match(text, pos)
        if dash:  # "1.–3. razred" -> "prvi do tretji razred"
            out.append(" do ")
            pos = dash.end()
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------- quantities

_NUM_RE = re.compile(rf"(?<![\w.,:]){_NUM}(?!\d)")
_UNIT_RE = re.compile(
    r"\s?(?:(?P<eur>€|EUR\b|eur\b)|(?P<pct>%)|(?P<degc>°C)|(?P<deg>°)"
    r"|(?P<min>min\b\.?)|(?P<h>h\b)|(?P<s>s\b(?=\s*(?:$|[.,;:!?)]))))"
)
_RANGE_DASH = re.compile(rf"\s*{DASH}\s*(?=€?\s?\d)")
_RANGE_DO = re.compile(r"\s+do\s+(?=€?\s?\d)")
_CURRENCY_BEFORE = re.compile(r"(?:€|EUR)\s?$")
_MINUS_BEFORE = re.compile(r"(?:^|(?<=[\s(]))-$")
# "1 ali 2 knjigi": numbers sharing the noun after the last (not a comma: "trg 2, 2000 Maribor")
_CHAIN = re.compile(rf"(?:\s+(?:ali|in|oziroma|do)\s+|\s*{DASH}\s*)(?:€\s?)?{_NUM}(?!\d)")
_PLUS = re.compile(r"\+(?![\d\w])")
_TIMES = re.compile(r"(?:[x×]|-krat)(?![\w])")
_COMPOUND = re.compile(r"-(?P<w>[a-zčšž]+)")


@dataclass
class _Quantity:
    value: int
    frac: str | None
    negative: bool
    grouped: bool
    unit: str | None  # "eur", "pct", "degc", "deg", "min", "h", "s"


_UNIT_NOUNS: dict[str, Noun] = {
    "pct": ODSTOTEK,
    "degc": STOPINJA,
    "deg": STOPINJA,
    "min": MINUTA,
    "h": URA,
    "s": SEKUNDA,
}


def _read_number(text: str, match: re.Match[str]) -> tuple[_Quantity, int]:
    written = match.group()
    whole, _, frac = written.partition(",")
    quantity = _Quantity(int(whole.replace(".", "")), frac or None, False, "." in whole, None)
    end = match.end()
    unit = _UNIT_RE.match(text, end)
    if unit and unit.lastgroup:
        quantity.unit = unit.lastgroup
        end = unit.end()
    return quantity, end


def _number_words(q: _Quantity, gender: Gender | None, case: Case, animate: bool = False) -> str:
    if q.frac is None:
        said = cardinal(q.value, gender, case, animate=animate)
    else:
        # Decimals are said undeclined: "dve celi pet", the whole part agreeing with "cela".
        whole = cardinal(q.value, "f")
        cela = {1: "cela", 2: "celi", 3: "cele", 5: "celih"}[agreement_slot(q.value)]
        zeros = len(q.frac) - len(q.frac.lstrip("0"))
        rest = q.frac.lstrip("0")
        fraction = " ".join(["nič"] * zeros + ([cardinal(int(rest))] if rest else []))
        said = f"{whole} {cela} {fraction}"
    return f"minus {said}" if q.negative else said


def _money(q: _Quantity, case: Case) -> str:
    euros = q.value
    cents = round(int(q.frac) / 10 ** (len(q.frac) - 2)) if q.frac else 0  # ",5" is 50 cents
    if cents == 100:  # "0,999 €" rounds up
        euros, cents = euros + 1, 0
    parts = []
    if euros or not cents:
        parts.append(f"{cardinal(euros, 'm', case)} {EVRO.form(*_slot(euros, False, case))}")
    if cents:
        parts.append(f"{cardinal(cents, 'm', case)} {CENT.form(*_slot(cents, False, case))}")
    said = " in ".join(parts)
    return f"minus {said}" if q.negative else said


def _with_unit(q: _Quantity, case: Case) -> str:
    """A number with its unit: money, percent, degrees, minutes, hours, seconds."""
    if q.unit == "eur":
        return _money(q, case)
    noun = _UNIT_NOUNS[q.unit or ""]
    decimal = q.frac is not None
    said = f"{_number_words(q, noun.gender, case)} {noun.form(*_slot(q.value, decimal, case))}"
    return f"{said} Celzija" if q.unit == "degc" else said


def _is_year(q: _Quantity) -> bool:
    return q.frac is None and not q.grouped and q.unit is None and 1000 <= q.value <= 2100


def _quantities(text: str) -> str:
    out = ""
    pos = 0
    while True:
        match = _NUM_RE.search(text, pos)
        if match is None:
            return out + text[pos:]
        done = out + text[pos : match.start()]
        said, pos, done = _quantity_at(text, match, done)
        out = done + said


def _quantity_at(text: str, match: re.Match[str], done: str) -> tuple[str, int, str]:
    """Say the quantity starting at match; return (words, where to go on, text before)."""
    first, end = _read_number(text, match)
    if _MINUS_BEFORE.search(done):
        first.negative = True
        done = done[:-1]
    if _CURRENCY_BEFORE.search(done):
        first.unit = "eur"
        done = _CURRENCY_BEFORE.sub("", done)
    prev = prev_word(done)
    cases = PREPOSITION_CASES.get(prev)

    if first.frac is None and not first.negative:
        plus = _PLUS.match(text, end)
        if plus:  # "3+" -> "tri in več"
            return f"{_number_words(first, None, 'nom')} in več", plus.end(), done
        times = _TIMES.match(text, end)
        if times:  # "3x" -> "trikrat"
            return multiplier(first.value), times.end(), done
        compound = _COMPOUND.match(text, end)
        if compound:  # "50-odstotni" -> "petdesetodstotni"
            return compound_prefix(first.value) + compound["w"], compound.end(), done

    # A range: "4–6 let", "od 4 do 6 let", "2–5 €".
    second: _Quantity | None = None
    connector = _RANGE_DASH.match(text, end) or (
        _RANGE_DO.match(text, end) if prev == "od" else None
    )
    if connector:
        euro = re.compile(r"€\s?").match(text, connector.end())
        number = _NUM_RE.match(text, euro.end() if euro else connector.end())
        if number:
            second, end = _read_number(text, number)
            if euro:
                second.unit = "eur"
            first.unit = first.unit or second.unit
    last = second or first

    # The noun the number counts, looking past "1 ali 2" to the noun they share.
    chain = _CHAIN.match(text, end)
    noun_at = end
    while chain and last.unit is None and second is None:
        noun_at = chain.end()
        chain = _CHAIN.match(text, noun_at)
    after = _WORDS_AFTER.match(text, noun_at) if last.unit is None else None
    word = after["w1"] if after else None
    if after and after["w2"] and not readings(word or "") and readings(after["w2"]):
        # an adjective between: "1 prosto mesto" -> the noun (mesto) decides
        word, after = after["w2"], None
    noun_end = after.end("w1") if after else None

    if second is None:
        chained = re.findall(_NUM, text[end:noun_at])
        said, fixed_noun = _say_single(first, cases, word, chained[-1] if chained else None)
    else:
        said, fixed_noun = _say_range(first, second, prev, word)
    if fixed_noun and noun_end is not None:
        return f"{said} {fixed_noun}", noun_end, done
    return said, end, done


def _say_single(
    q: _Quantity, cases: tuple[Case, ...] | None, word: str | None, chained_to: str | None
) -> tuple[str, str | None]:
    """One number (with its unit, if any) agreeing with the word after it; also returns
    the corrected noun form when the written one did not fit the number."""
    if q.unit:
        return _with_unit(q, cases[0] if cases else "nom"), None
    if word is None and _is_year(q):
        return cardinal(q.value), None
    if chained_to is not None:
        # "1 ali 2 knjigi": the noun belongs to the last number; this one takes its gender
        last_number = int(chained_to.split(",")[0].replace(".", ""))
        agreement = _agree(last_number, False, cases, word)
        gender = agreement.gender if agreement.known else None  # a guess is too weak here
        return _number_words(q, gender, cases[0] if cases else "nom", agreement.animate), None
    agreement = _agree(q.value, q.frac is not None, cases, word)
    return _number_words(q, agreement.gender, agreement.case, agreement.animate), (
        agreement.noun_said
    )


def _say_range(
    first: _Quantity, second: _Quantity, prev: str, word: str | None
) -> tuple[str, str | None]:
    """'4–6 let', 'od 4 do 6 let', 'v 2–3 dneh', '2–5 €'.

    After "od" both ends are genitive ("od štirih do šestih let"); after another
    preposition both take its case ("v dveh do treh dneh"); bare, "od … do" is added."""
    explicit_od = prev == "od"
    cases = PREPOSITION_CASES.get(prev)
    if cases is None or explicit_od:
        cases = ("gen",)
    fixed_noun = None
    if second.unit:
        case = cases[0]
        if first.unit == "eur" and first.frac:  # "od 2,40 € do 5 €": both amounts in full
            first_said = _money(first, case)
        else:
            gender = "m" if second.unit == "eur" else _UNIT_NOUNS[second.unit].gender
            first_said = _number_words(first, gender, case)
        said = f"{first_said} do {_with_unit(second, case)}"
    elif word is None and _is_year(first) and _is_year(second):
        said = f"{cardinal(first.value)} do {cardinal(second.value)}"
    else:
        agreement = _agree(second.value, second.frac is not None, cases, word)
        first_said = _number_words(first, agreement.gender, agreement.case, agreement.animate)
        second_said = _number_words(second, agreement.gender, agreement.case, agreement.animate)
        said = f"{first_said} do {second_said}"
        fixed_noun = agreement.noun_said
    if not explicit_od and PREPOSITION_CASES.get(prev) is None:
        said = f"od {said}"
    return said, fixed_noun


# ---------------------------------------------------------------- symbols, leftovers

_SYMBOLS: tuple[tuple[str, str], ...] = (
    (r"\s*&\s*", " in "),
    (r"°C", " stopinj Celzija "),
    (r"°", " stopinj "),
    (r"%", " odstotkov "),
    (r"‰", " promilov "),
    (r"€", " evrov "),
    (r"\s*\+\s*", " plus "),
    (r"\s*=\s*", " je "),
    (r"@", " afna "),
    (r"§", " člen "),
    (r"~", " približno "),
    (r"×", " krat "),
    (r"(?<=\w)/(?=\w)", " "),
    (r"[*#_|]", " "),
)
_SYMBOL_PATTERNS = tuple((re.compile(p), s) for p, s in _SYMBOLS)


def _symbols(text: str) -> str:
    for pattern, said in _SYMBOL_PATTERNS:
        text = pattern.sub(said, text)
    return text


def normalise(text: str) -> str:
    """Slovenian text with every number, date, time, amount, symbol and abbreviation
    spelled out as words."""
    text = prepare(text)
    for step in (
        _abbreviations,
        dates,
        times,
        _identifiers,
        _ordinals,
        _quantities,
        _symbols,
    ):
        text = step(text)
    return tidy(leftover_digits(text, UNITS))
