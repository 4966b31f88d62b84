"""Languages: gettext catalogs and babel formatting.

Source strings are English. Catalogs are kept as `.po` files (one source of
truth, reviewable in diffs) and compiled in memory on first use, so an
installed kiosk never runs with stale `.mo` files.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "kiosk"

# Every language the product knows, in the order the language switch shows them.
LANGUAGE_NAMES: dict[str, str] = {
    "sl": "Slovenščina",
    "en": "English",
    "hu": "Magyar",
    "it": "Italiano",
}
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog for `lang`; the source language needs none."""
    path = catalog_path(lang)
    if lang == SOURCE_LANGUAGE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def available_languages() -> tuple[str, ...]:
    """Languages with a catalog on disk (plus the source language)."""
    return tuple(
        lang for lang in LANGUAGE_NAMES if lang == SOURCE_LANGUAGE or catalog_path(lang).exists()
    )


class Localizer:
    """Translation and formatting for one language. Immutable; make a new one to switch."""

    __slots__ = ("_t", "lang")

    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGE_NAMES:
            raise ValueError(f"unknown language {lang!r}")
        self.lang = lang
        self._t = translations(lang)

    def _(self, message: str, /, **params: object) -> str:
        text = self._t.gettext(message)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        """Plural-aware text; `{n}` in the message is the count, formatted for the locale."""
        text = self._t.ngettext(singular, plural, n)
        return text.format(n=self.number(n), **params)

    def pgettext(self, context: str, message: str, /) -> str:
        return self._t.pgettext(context, message)

    def date(self, value: dt.date) -> str:
        # Slovenian "3. 12. 2025"; babel's short Slovenian pattern is exactly that,
        # English gets the unambiguous medium form ("Dec 3, 2025").
        return format_date(value, "short" if self.lang == "sl" else "medium", locale=self.lang)

    def time(self, value: dt.time | dt.datetime) -> str:
        return format_time(value, "short", locale=self.lang)

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.lang)

    def money(self, cents: int, currency: str = "EUR") -> str:
        return format_currency(Decimal(cents) / 100, currency, locale=self.lang)

    def language_name(self, lang: str) -> str:
        return LANGUAGE_NAMES[lang]

    def __repr__(self) -> str:
        return f"Localizer({self.lang!r})"
