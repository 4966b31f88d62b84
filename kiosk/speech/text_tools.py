"""Small text tools the normalisers share."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

WORD = r"[^\W\d_]+"
DASH = r"[–—-]"


def sub_with_context(
    pattern: re.Pattern[str], text: str, handle: Callable[[re.Match[str], str], str]
) -> str:
    """re.sub whose handler also sees the text already produced before the match
    (to look at the preposition in front of a number)."""
    out: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        out.append(text[pos : match.start()])
        out.append(handle(match, "".join(out)))
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def prev_word(done: str) -> str:
    """The word right before the end of `done` (only spaces between), lowercased."""
    match = re.search(rf"({WORD})\s+$", done)
    return match.group(1).lower() if match else ""


def keep_case(original: str, replacement: str) -> str:
    """The replacement, capitalised when the original was."""
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def say_digits(groups: Sequence[str], digit_words: Sequence[str], x_word: str = "iks") -> str:
    """Digits said one by one, a short pause (comma) between the written groups."""
    said = []
    for group in groups:
        words = [digit_words[int(ch)] if ch.isdigit() else x_word for ch in group if ch.isalnum()]
        if words:
            said.append(" ".join(words))
    return ", ".join(said)


def chunks(digits: str) -> list[str]:
    """A long run of digits without separators, in threes so a listener can follow."""
    if len(digits) <= 6:
        return [digits]
    return [digits[i : i + 3] for i in range(0, len(digits), 3)]


def prepare(text: str) -> str:
    """One kind of space and minus; digit groups split by (narrow) no-break spaces joined."""
    text = re.sub(r"(?<=\d)[\u00a0\u202f\u2009](?=\d{3}(?!\d))", "", text)  # 1 000 -> 1000
    text = re.sub(r"[\u00a0\u202f\u2009\t]", " ", text)
    text = text.replace("\u2212", "-").replace("℃", "°C")
    return re.sub(r"°\s+C\b", "°C", text)


def tidy(text: str) -> str:
    """Single spaces, none before punctuation."""
    text = re.sub(r"[ ]{2,}", " ", text)
    text = re.sub(r" +([,.;:!?)])", r"\1", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


# Phone-like numbers: a leading + or 0, groups split by spaces, slashes or hyphens.
PHONE_RE = re.compile(
    r"(?<![\w.,+-])(?P<phone>(?:\+\d{1,3}|0\d{1,3})(?:(?:\s?[/-]\s?|\s)(?:\(0\)\s?)?\d{1,4})+)"
    r"(?![\w]|[.,]\d)"
)
ISBN_RE = re.compile(r"\b(ISBN|ISSN)(?:-1[03])?:?\s*([0-9Xx](?:[ -]?[0-9Xx]){7,16})(?![\w])")
LEADING_ZERO_RE = re.compile(r"(?<![\w.,:+-])0\d+(?!\d|[.,:]\d)")
LONG_RUN_RE = re.compile(r"(?<![\w.,:+-])\d{11,}(?!\d)")


def phone_groups(number: str) -> list[str] | None:
    """The digit groups of a phone-like number, or None if it is too short to be one."""
    if sum(ch.isdigit() for ch in number) < 6:
        return None
    return [g for g in re.split(r"\s?[/-]\s?|\s", number.replace("(0)", " 0 ")) if g]


def identifiers(text: str, digit_words: Sequence[str], spelled: dict[str, str], plus: str) -> str:
    """ISBN/ISSN, telephone numbers, numbers with a leading zero and runs of more than ten
    digits, said digit by digit in their groups."""

    def isbn(match: re.Match[str], _done: str) -> str:
        groups = re.split(r"[ -]", match[2])
        if len(groups) == 1:
            groups = chunks(groups[0])
        return f"{spelled[match[1]]} {say_digits(groups, digit_words)}"

    def phone(match: re.Match[str], _done: str) -> str:
        number = match["phone"]
        groups = phone_groups(number)
        if groups is None:
            return number
        said = say_digits(groups, digit_words)
        return f"{plus} {said}" if number.startswith("+") else said

    def run(match: re.Match[str], _done: str) -> str:
        return say_digits(chunks(match.group()), digit_words)

    text = sub_with_context(ISBN_RE, text, isbn)
    text = sub_with_context(PHONE_RE, text, phone)
    text = sub_with_context(LEADING_ZERO_RE, text, run)
    return sub_with_context(LONG_RUN_RE, text, run)


def leftover_digits(text: str, digit_words: Sequence[str]) -> str:
    """Anything still numeric (odd formats) is said digit by digit: espeak never sees a digit."""
    return re.sub(r"\d+", lambda m: f" {say_digits([m.group()], digit_words)} ", text)
