"""Which normaliser serves which language."""

from __future__ import annotations

from collections.abc import Callable

from kiosk.speech import normalise_en, normalise_hu, normalise_it, normalise_sl

NORMALISERS: dict[str, Callable[[str], str]] = {
    "sl": normalise_sl.normalise,
    "en": normalise_en.normalise,
    "hu": normalise_hu.normalise,
    "it": normalise_it.normalise,
}
LANGUAGES = tuple(NORMALISERS)


def language_code(lang: str) -> str:
    """'sl', 'sl-SI', 'sl_SI' -> 'sl'; a plain ValueError for a language the kiosk can't speak."""
    code = lang.replace("_", "-").split("-")[0].lower()
    if code not in NORMALISERS:
        raise ValueError(
            f"The kiosk cannot speak the language {lang!r}; it speaks {', '.join(LANGUAGES)}."
        )
    return code


def normalise(text: str, lang: str) -> str:
    """`text` with every number, date, time, amount, symbol and abbreviation as words
    of the language `lang` (sl, en, hu, it)."""
    return NORMALISERS[language_code(lang)](text)
