"""The Slovenian catalog is complete, in step with the code, and plural-correct."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

import kiosk
from kiosk.i18n import Localizer, catalog_path
from kiosk.i18n_extract import (
    ExtractionError,
    Message,
    check_catalog,
    extract_messages,
    kv_messages,
    load_catalog,
    main,
    placeholders,
)

ROOT = Path(kiosk.__file__).resolve().parent.parent
SL_PO = catalog_path("sl")
PLURAL_FORMS = "nplurals=4; plural=(n%100==1 ? 0 : n%100==2 ? 1 : n%100==3 || n%100==4 ? 2 : 3);"


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    return extract_messages(ROOT)


@pytest.fixture(scope="module")
def sl() -> Catalog:
    with SL_PO.open("rb") as fh:
        return read_po(fh, locale="sl", domain="kiosk")


def _forms(entry) -> tuple[str, ...]:
    return entry.string if isinstance(entry.string, tuple) else (entry.string,)


# --- (a) complete ------------------------------------------------------------------------


def test_every_message_is_translated_and_not_fuzzy(messages: list[Message], sl: Catalog) -> None:
    assert len(messages) > 40  # the extractor found the real texts, not an empty tree
    problems = []
    for msg in messages:
        entry = sl.get(msg.msgid, context=msg.context)
        if entry is None:
            problems.append(f"missing: {msg.msgid!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msg.msgid!r}")
        elif not all(_forms(entry)):
            problems.append(f"untranslated: {msg.msgid!r}")
        elif bool(msg.msgid_plural) != entry.pluralizable:
            problems.append(f"plural differs from the code: {msg.msgid!r}")
        elif msg.msgid_plural and len(_forms(entry)) != 4:
            problems.append(f"needs four plural forms: {msg.msgid!r}")
    assert problems == [], "run: python -m kiosk.i18n_extract --update, then translate"


def test_the_module_report_agrees(messages: list[Message], sl: Catalog) -> None:
    report = check_catalog(messages, sl)
    assert report.ok, report


# --- (b) placeholders --------------------------------------------------------------------


def test_placeholders_match_the_source_in_every_form(messages: list[Message], sl: Catalog) -> None:
    checked = 0
    for msg in messages:
        source = placeholders(msg.msgid) | placeholders(msg.msgid_plural or "")
        for form in _forms(sl.get(msg.msgid, context=msg.context)):
            assert placeholders(form) == source, (msg.msgid, form)
            checked += 1
    assert checked >= len(messages)


def test_placeholder_names() -> None:
    assert placeholders("Due back by {date}") == {"date"}
    assert placeholders("{seen} of {total} parts") == {"seen", "total"}
    assert placeholders("{{literal}} braces, {item.title} and {row[0]}") == {"item", "row"}
    assert placeholders("no fields") == set()
    assert placeholders("broken {") == {"<unbalanced braces>"}


def test_a_renamed_placeholder_is_caught() -> None:
    catalog = Catalog(locale="sl")
    catalog.add("Due back by {date}", "Vrnite do {datum}")
    catalog.add(("{n} item", "{n} items"), ("{n} enota", "{n} enoti", "enote", "{n} enot"))
    found = [
        Message("Due back by {date}", None, (("x.py", 1),)),
        Message("{n} item", "{n} items", (("x.py", 2),)),
    ]
    assert check_catalog(found, catalog).bad_placeholders == ["Due back by {date}", "{n} item"]


def test_fuzzy_untranslated_and_short_plurals_are_caught() -> None:
    catalog = Catalog(locale="sl")
    catalog.add("Back", "Nazaj", flags=["fuzzy"])  # babel's guess for a new text
    catalog.add("OK", "")
    catalog.add(("{n} item", "{n} items"), ("{n} enota", "{n} enoti"))
    found = [
        Message("Back", None, (("a.kv", 1),)),
        Message("OK", None, (("a.kv", 2),)),
        Message("{n} item", "{n} items", (("x.py", 3),)),
    ]
    report = check_catalog(found, catalog)
    assert (report.fuzzy, report.untranslated, report.wrong_plural) == (
        ["Back"],
        ["OK"],
        ["{n} item"],
    )


# --- (c) in step with the code -----------------------------------------------------------


def test_no_unused_or_obsolete_entries(messages: list[Message], sl: Catalog) -> None:
    in_code = {m.key for m in messages}
    unused = [e.id for e in sl if e.id and (_id(e), e.context) not in in_code]
    assert unused == [], "run: python -m kiosk.i18n_extract --update --prune"
    assert list(sl.obsolete) == []
    assert "\n#~ " not in SL_PO.read_text(encoding="utf-8")


def _id(entry) -> str:
    return entry.id[0] if isinstance(entry.id, tuple) else entry.id


# --- (d) plural forms --------------------------------------------------------------------


def test_plural_forms_header_is_exact() -> None:
    text = SL_PO.read_text(encoding="utf-8")
    assert f'"Plural-Forms: {PLURAL_FORMS}\\n"' in text.splitlines()
    assert '"Language: sl\\n"' in text.splitlines()
    assert "charset=utf-8" in text.lower()


def slovenian_form(n: int) -> int:
    # The header formula, written out by hand.
    if n % 100 == 1:
        return 0
    if n % 100 == 2:
        return 1
    if n % 100 in (3, 4):
        return 2
    return 3


BORROWED = ("You borrowed {n} item.", "You borrowed {n} items.")


@pytest.mark.parametrize(
    ("n", "form", "sentence"),
    [
        (1, 0, "Izposodili ste si 1 enoto gradiva."),
        (2, 1, "Izposodili ste si 2 enoti gradiva."),
        (3, 2, "Izposodili ste si 3 enote gradiva."),
        (4, 2, "Izposodili ste si 4 enote gradiva."),
        (5, 3, "Izposodili ste si 5 enot gradiva."),
        (11, 3, "Izposodili ste si 11 enot gradiva."),
        (101, 0, "Izposodili ste si 101 enoto gradiva."),
        (102, 1, "Izposodili ste si 102 enoti gradiva."),
        (103, 2, "Izposodili ste si 103 enote gradiva."),
        (105, 3, "Izposodili ste si 105 enot gradiva."),
    ],
)
def test_slovenian_plurals(n: int, form: int, sentence: str, sl: Catalog) -> None:
    assert slovenian_form(n) == form
    loc = Localizer("sl")
    assert loc.ngettext(*BORROWED, n) == sentence
    seconds = ("You will be logged out in {n} second.", "You will be logged out in {n} seconds.")
    word = ("sekundo", "sekundi", "sekunde", "sekund")[form]
    assert loc.ngettext(*seconds, n) == f"Čez {n} {word} boste odjavljeni."
    # and every plural message in the catalog picks the form the formula names
    for entry in sl:
        if entry.id and entry.pluralizable:
            others = {name: 1 for name in placeholders(entry.id[0]) if name != "n"}
            expected = entry.string[form].format(n=loc.number(n), **others)
            assert loc.ngettext(entry.id[0], entry.id[1], n, **others) == expected


def test_english_plurals_need_no_catalog() -> None:
    en = Localizer("en")
    assert en.ngettext(*BORROWED, 1) == "You borrowed 1 item."
    assert en.ngettext(*BORROWED, 2) == "You borrowed 2 items."


# --- (e) formatting ----------------------------------------------------------------------


def test_slovenian_formatting() -> None:
    sl = Localizer("sl")
    assert sl.date(dt.date(2025, 12, 3)) == "3. 12. 2025"
    assert sl.time(dt.time(18, 30)) == "18:30"
    assert sl.money(123450) == "1.234,50\xa0€"  # babel puts a no-break space before the €


def test_english_formatting() -> None:
    en = Localizer("en")
    assert en.date(dt.date(2025, 12, 3)) == "Dec 3, 2025"
    assert en.time(dt.time(18, 30)) == "6:30\u202fPM"  # CLDR: narrow no-break space
    assert en.money(123450) == "€1,234.50"


def test_a_translated_sentence_with_a_date() -> None:
    sl = Localizer("sl")
    when = sl.date(dt.date(2025, 12, 3))
    assert sl._("Please return by {date}.", date=when) == "Gradivo vrnite do 3. 12. 2025."


# --- (f) the extractor really finds texts ------------------------------------------------


def test_extractor_finds_kv_python_and_plural_texts(messages: list[Message]) -> None:
    by_id = {m.msgid: m for m in messages}
    assert by_id["I need more time"].locations[0][0] == "screens/root.kv"
    borrowed = by_id["You borrowed {n} item."]
    assert borrowed.msgid_plural == "You borrowed {n} items."
    assert borrowed.locations[0][0] == "kiosk/presenter.py"
    # loc._("...") is an attribute call; babel matches the name token, so it is found
    assert "Welcome to the library" in by_id
    assert "Done." in by_id  # N_("...")


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "kiosk").mkdir()
    (tmp_path / "screens").mkdir()
    (tmp_path / "kiosk" / "messages.py").write_text(
        'from kiosk.i18n import N_\n\nDONE = N_("Done.")\n\n\n'
        "def headline(loc, n):\n"
        "    # Translators: shown after a checkout\n"
        '    return loc.ngettext("You borrowed {n} item.", "You borrowed {n} items.", n)\n',
        encoding="utf-8",
    )
    (tmp_path / "screens" / "planted.kv").write_text(
        '<Planted@Label>:\n    text: app.tr("Planted", app.language)\n', encoding="utf-8"
    )
    po = tmp_path / "kiosk" / "locale" / "sl" / "LC_MESSAGES" / "kiosk.po"
    po.parent.mkdir(parents=True)
    shutil.copy(SL_PO, po)
    return tmp_path


def test_a_planted_text_is_reported_missing(tmp_path: Path, capsys) -> None:
    root = _tree(tmp_path)
    found = extract_messages(root)
    assert [m.msgid for m in found] == ["Done.", "You borrowed {n} item.", "Planted"]
    assert found[1].comments == ("shown after a checkout",)
    report = check_catalog(found, load_catalog(catalog_path_in(root)))
    assert report.missing == ["Planted"]
    assert not report.ok
    assert main(["--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "missing: 'Planted'  (screens/planted.kv:2)" in out
    assert "unused: 'Welcome to the library'" in out


def catalog_path_in(root: Path) -> Path:
    return root / "kiosk" / "locale" / "sl" / "LC_MESSAGES" / "kiosk.po"


def test_update_adds_keeps_and_obsoletes(tmp_path: Path, capsys) -> None:
    root = _tree(tmp_path)
    po = catalog_path_in(root)
    assert main(["--root", str(root), "--update"]) == 1  # "Planted" is still untranslated
    catalog = load_catalog(po)
    assert catalog["Planted"].string == ""
    assert catalog["Done."].string == "Končano."
    assert catalog["You borrowed {n} item."].string[3] == "Izposodili ste si {n} enot gradiva."
    assert "Welcome to the library" in catalog.obsolete
    assert '#~ msgid "Welcome to the library"' in po.read_text(encoding="utf-8")
    assert "untranslated: 'Planted'" in capsys.readouterr().out

    assert main(["--root", str(root), "--update", "--prune"]) == 1
    assert load_catalog(po).obsolete == {}
    assert "#~" not in po.read_text(encoding="utf-8")


def test_developer_texts_are_not_extracted(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "screens" / "devtray.py").write_text('LABEL = _("Developer only")\n', "utf-8")
    (root / "kiosk" / "demo.py").write_text('HINT = N_("Demo only")\n', "utf-8")
    assert {m.msgid for m in extract_messages(root)} == {
        "Done.",
        "You borrowed {n} item.",
        "Planted",
    }


def test_context_and_merged_locations(tmp_path: Path) -> None:
    (tmp_path / "kiosk").mkdir()
    (tmp_path / "kiosk" / "a.py").write_text(
        'loc.pgettext("button", "Return")\nloc._("Back")\nself.loc._("Back")\n', "utf-8"
    )
    found = extract_messages(tmp_path)
    assert found[0] == Message("Return", None, (("kiosk/a.py", 1),), context="button")
    assert found[1].locations == (("kiosk/a.py", 2), ("kiosk/a.py", 3))


def test_same_text_with_and_without_plural_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "kiosk").mkdir()
    (tmp_path / "kiosk" / "a.py").write_text(
        'loc._("{n} item")\nloc.ngettext("{n} item", "{n} items", n)\n', "utf-8"
    )
    with pytest.raises(ExtractionError, match=r"kiosk/a.py:2: .* another plural form"):
        extract_messages(tmp_path)


# --- bad input: one clear line, exit status 2 --------------------------------------------


def test_broken_python_file(tmp_path: Path, capsys) -> None:
    root = _tree(tmp_path)
    (root / "kiosk" / "broken.py").write_text('_("never closed\n', "utf-8")
    assert main(["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: kiosk/broken.py: cannot read this Python file")
    assert "Traceback" not in err


def test_broken_catalog(tmp_path: Path, capsys) -> None:
    root = _tree(tmp_path)
    catalog_path_in(root).write_text('msgid "a"\nmsgstr "b"\nmsgid\n', "utf-8")
    assert main(["--root", str(root)]) == 2
    assert "cannot read this catalog" in capsys.readouterr().err


def test_no_catalogs(tmp_path: Path, capsys) -> None:
    (tmp_path / "kiosk").mkdir()
    assert main(["--root", str(tmp_path)]) == 2
    assert "no catalogs" in capsys.readouterr().err


# --- the kv tokenizer --------------------------------------------------------------------


def test_kv_forms() -> None:
    kv = "\n".join(
        [
            "#:import theme screens.theme",
            '    text: app.tr("Double", app.language)',
            "    text: app.tr('Single', app.language)",
            '    text: app.tr("It\'s \\"quoted\\"\\nand\\ttabbed \\u00e9 \\N{EURO SIGN}",'
            "                 app.language)",
            '    text: app.tr( "Joined " "text" , app.language)',
            '    # text: app.tr("Commented out", app.language)',
            "    text: app.tr(variable, app.language)",
            '    text: app.tr("a" + suffix, app.language)',
            '    text: myapp.tr("Other object", app.language)',
            '    text: app.tr(r"C:\\raw", app.language)',
        ]
    )
    assert list(kv_messages(kv)) == [
        (2, "Double"),
        (3, "Single"),
        (4, 'It\'s "quoted"\nand\ttabbed é €'),
        (5, "Joined text"),
        (10, "C:\\raw"),
    ]


def test_kv_unclosed_string_is_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match=r"root\.kv:1: string in app.tr\(...\) is not closed"):
        list(kv_messages('text: app.tr("Oops, app.language)\n', "root.kv"))


@given(st.text())
def test_kv_reads_back_any_python_literal(message: str) -> None:
    # repr() writes a valid Python literal, choosing quotes and escapes itself
    kv = f"<X@Label>:\n    text: app.tr({message!r}, app.language)\n"
    assert list(kv_messages(kv)) == [(2, message)]
