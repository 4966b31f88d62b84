"""Find every patron-facing string in the code and keep the `.po` catalogs in step with it.

Python files go through babel's own extractor (it matches the function name token, so
attribute calls such as `loc._("...")` and `self.loc._("...")` are caught too). Kivy
`.kv` files are not Python modules, so a small tokenizer finds `app.tr("...")` in them.

    python -m kiosk.i18n_extract            # report, per catalog, what is missing or unused
    python -m kiosk.i18n_extract --update   # add new messages, mark removed ones obsolete
    python -m kiosk.i18n_extract --update --prune   # ... and drop the obsolete ones

The exit status is 0 when every catalog is complete and in step, 1 when not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import io
import re
import string
import sys
import tokenize
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.catalog import Message as CatalogMessage
from babel.messages.extract import extract_from_file
from babel.messages.pofile import PoFileError, read_po, write_po

from kiosk.i18n import DOMAIN

# Folders (relative to the project root) whose texts a patron can see.
SOURCE_DIRS = ("kiosk", "screens")
# Texts only developers and technicians read: never sent to translators.
NOT_USER_FACING = frozenset({"screens/devtray.py", "screens/devtray.kv", "kiosk/demo.py"})
SKIPPED_DIRS = frozenset({"__pycache__", "locale", ".venv"})

# keyword -> which arguments are messages (babel's notation; (1, "c") marks a context).
PYTHON_KEYWORDS: dict[str, object] = {
    "_": None,
    "N_": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "tr": None,  # app.tr("...", app.language) when a screen builds a widget in Python
}
# "# Translators: ..." just above a call reaches the translator as a comment in the .po file.
COMMENT_TAGS = ("Translators:",)


class ExtractionError(Exception):
    """A source file or catalog that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Message:
    msgid: str
    msgid_plural: str | None
    locations: tuple[tuple[str, int], ...]
    context: str | None = None
    comments: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.msgid, self.context)


# --- extraction ----------------------------------------------------------------------------


def extract_messages(root: Path) -> list[Message]:
    """All patron-facing messages under `root`, merged by (msgid, context), in file order."""
    found: dict[tuple[str, str | None], Message] = {}
    for path in _source_files(root):
        rel = path.relative_to(root).as_posix()
        raw = _extract_kv(path, rel) if path.suffix == ".kv" else _extract_py(path, rel)
        for msg in raw:
            old = found.get(msg.key)
            if old is None:
                found[msg.key] = msg
                continue
            if old.msgid_plural != msg.msgid_plural:
                where = f"{old.locations[0][0]}:{old.locations[0][1]}"
                raise ExtractionError(
                    f"{rel}:{msg.locations[0][1]}: {msg.msgid!r} is used with another plural "
                    f"form than at {where}; give one of them a different text"
                )
            found[msg.key] = Message(
                old.msgid,
                old.msgid_plural,
                old.locations + msg.locations,
                old.context,
                old.comments + tuple(c for c in msg.comments if c not in old.comments),
            )
    return list(found.values())


def _source_files(root: Path) -> Iterator[Path]:
    for folder in SOURCE_DIRS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if path.suffix not in (".py", ".kv") or not path.is_file():
                continue
            if SKIPPED_DIRS.intersection(rel.parts) or rel.as_posix() in NOT_USER_FACING:
                continue
            yield path


def _extract_py(path: Path, rel: str) -> Iterator[Message]:
    try:
        results = list(
            extract_from_file(
                "python",
                path,
                keywords=PYTHON_KEYWORDS,
                comment_tags=COMMENT_TAGS,
                strip_comment_tags=True,
            )
        )
    except (SyntaxError, tokenize.TokenError, UnicodeDecodeError, ValueError) as exc:
        raise ExtractionError(f"{rel}: cannot read this Python file ({exc})") from exc
    for lineno, text, comments, context in results:
        msgid, plural = (text[0], text[1]) if isinstance(text, tuple) else (text, None)
        yield Message(msgid, plural, ((rel, lineno),), context, tuple(comments))


# `app.tr(` not preceded by a name character or a dot (so `myapp.tr(` and `x.app.tr(` don't match).
_KV_CALL = re.compile(r"(?<![\w.])app\.tr\s*\(")
_STRING_START = re.compile(r"([rRuU]?)('''|\"\"\"|'|\")")
_SIMPLE_ESCAPES = {
    "\n": "",  # a backslash at the end of a line continues the string
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def _extract_kv(path: Path, rel: str) -> Iterator[Message]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExtractionError(f"{rel}: not UTF-8 text ({exc})") from exc
    for lineno, msgid in kv_messages(text, rel):
        yield Message(msgid, None, ((rel, lineno),))


def kv_messages(text: str, name: str = "<kv>") -> Iterator[tuple[int, str]]:
    """(line, message) for every `app.tr("...")` with a literal first argument.

    A call whose first argument is not a string literal is skipped: it cannot be
    extracted, exactly as babel skips `_(variable)` in Python.
    """
    for match in _KV_CALL.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if text[line_start : match.start()].lstrip().startswith("#"):
            continue  # a kv comment line
        lineno = text.count("\n", 0, match.start()) + 1
        value = _read_literals(text, match.end(), name, lineno)
        if value is not None:
            yield lineno, value


def _read_literals(text: str, pos: int, name: str, lineno: int) -> str | None:
    """Adjacent string literals from `pos` (Python joins them), or None if there are none."""
    parts: list[str] = []
    while True:
        pos = _skip_space(text, pos)
        start = _STRING_START.match(text, pos)
        if start is None:
            break
        raw = start.group(1).lower() == "r"
        quote = start.group(2)
        pos = start.end()
        chunk, pos = _read_body(text, pos, quote, raw, name, lineno)
        parts.append(chunk)
    if not parts:
        return None
    end = _skip_space(text, pos)
    if end < len(text) and text[end] not in ",)":
        return None  # e.g. app.tr("a" + b): an expression, not a fixed text
    return "".join(parts)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _read_body(
    text: str, pos: int, quote: str, raw: bool, name: str, lineno: int
) -> tuple[str, int]:
    out: list[str] = []
    while True:
        if pos >= len(text) or (len(quote) == 1 and text[pos] == "\n"):
            raise ExtractionError(f"{name}:{lineno}: string in app.tr(...) is not closed")
        if text.startswith(quote, pos):
            return "".join(out), pos + len(quote)
        char = text[pos]
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        if pos + 1 >= len(text):
            raise ExtractionError(f"{name}:{lineno}: string in app.tr(...) is not closed")
        if raw:  # raw strings keep the backslash, but it still protects the next quote
            out.append(text[pos : pos + 2])
            pos += 2
            continue
        decoded, pos = _decode_escape(text, pos + 1, name, lineno)
        out.append(decoded)


def _decode_escape(text: str, pos: int, name: str, lineno: int) -> tuple[str, int]:
    """Decode the escape whose letter is at `pos` (just after the backslash)."""
    kind = text[pos]
    if kind in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[kind], pos + 1
    if kind in _HEX_ESCAPES:
        width = _HEX_ESCAPES[kind]
        digits = text[pos + 1 : pos + 1 + width]
        if len(digits) != width or not all(c in string.hexdigits for c in digits):
            raise ExtractionError(f"{name}:{lineno}: bad \\{kind} escape in app.tr(...)")
        try:
            return chr(int(digits, 16)), pos + 1 + width
        except ValueError as exc:  # beyond U+10FFFF
            raise ExtractionError(f"{name}:{lineno}: bad \\{kind} escape in app.tr(...)") from exc
    if kind == "N" and text.startswith("{", pos + 1):
        close = text.find("}", pos + 2)
        if close < 0:
            raise ExtractionError(f"{name}:{lineno}: bad \\N{{...}} escape in app.tr(...)")
        try:
            return unicodedata.lookup(text[pos + 2 : close]), close + 1
        except (KeyError, ValueError) as exc:
            raise ExtractionError(f"{name}:{lineno}: bad \\N{{...}} escape in app.tr(...)") from exc
    if kind in "01234567":
        end = pos
        while end < pos + 3 and end < len(text) and text[end] in "01234567":
            end += 1
        return chr(int(text[pos:end], 8)), end
    return "\\" + kind, pos + 1  # Python keeps unknown escapes as they are


# --- comparing with the catalogs -------------------------------------------------------------


def placeholders(text: str) -> set[str]:
    """Names of the `str.format` fields in `text` (`{date}` -> "date"; `{{` is not one)."""
    names: set[str] = set()
    try:
        for _literal, field_name, _spec, _conv in string.Formatter().parse(text):
            if field_name is not None:
                names.add(re.split(r"[.\[]", field_name, maxsplit=1)[0])
    except ValueError:
        names.add("<unbalanced braces>")
    return names


def catalog_paths(root: Path) -> list[Path]:
    return sorted((root / "kiosk" / "locale").glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def load_catalog(path: Path) -> Catalog:
    lang = path.parent.parent.name
    try:
        with path.open("rb") as fh:
            return read_po(fh, locale=lang, domain=DOMAIN, abort_invalid=True)
    except (PoFileError, UnicodeDecodeError, ValueError) as exc:
        raise ExtractionError(f"{path}: cannot read this catalog ({exc})") from exc


@dataclass
class CatalogReport:
    """How one catalog compares with the code. Lists hold the msgids concerned."""

    lang: str
    missing: list[str] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    wrong_plural: list[str] = field(default_factory=list)
    bad_placeholders: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(
            (
                self.missing,
                self.untranslated,
                self.fuzzy,
                self.wrong_plural,
                self.bad_placeholders,
                self.unused,
                self.obsolete,
            )
        )


def check_catalog(messages: Sequence[Message], catalog: Catalog) -> CatalogReport:
    report = CatalogReport(str(catalog.locale))
    wanted = {m.key for m in messages}
    for msg in messages:
        entry = catalog.get(msg.msgid, context=msg.context)
        if entry is None:
            report.missing.append(msg.msgid)
            continue
        if entry.fuzzy:
            report.fuzzy.append(msg.msgid)
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if bool(msg.msgid_plural) != entry.pluralizable or (
            msg.msgid_plural and len(forms) != catalog.num_plurals
        ):
            report.wrong_plural.append(msg.msgid)
        if not all(forms):
            report.untranslated.append(msg.msgid)
            continue
        source = placeholders(msg.msgid) | placeholders(msg.msgid_plural or "")
        if msg.msgid_plural and placeholders(msg.msgid) != placeholders(msg.msgid_plural):
            report.bad_placeholders.append(msg.msgid)  # the source itself disagrees
        elif any(placeholders(form) != source for form in forms):
            report.bad_placeholders.append(msg.msgid)
    for entry in _entries(catalog):
        if (_msgid(entry), entry.context) not in wanted:
            report.unused.append(_msgid(entry))
    report.obsolete = [_msgid(entry) for entry in catalog.obsolete.values()]
    return report


def _entries(catalog: Catalog) -> Iterator[CatalogMessage]:
    return (entry for entry in catalog if entry.id)  # the header has an empty msgid


def _msgid(entry: CatalogMessage) -> str:
    return entry.id[0] if isinstance(entry.id, tuple) else entry.id


def template(messages: Iterable[Message]) -> Catalog:
    tpl = Catalog(domain=DOMAIN)
    for msg in messages:
        msgid = (msg.msgid, msg.msgid_plural) if msg.msgid_plural else msg.msgid
        tpl.add(
            msgid,
            locations=list(msg.locations),
            auto_comments=list(msg.comments),
            context=msg.context,
        )
    return tpl


def update_catalog(path: Path, messages: Sequence[Message], *, prune: bool = False) -> Catalog:
    """Bring the catalog at `path` in step with `messages`, keeping every translation.

    New msgids arrive untranslated (or fuzzy, when babel finds a similar old one);
    msgids no longer in the code become obsolete (`#~`) entries, or go with `prune`.
    """
    catalog = load_catalog(path)
    catalog.update(template(messages), update_creation_date=False)
    if prune:
        catalog.obsolete.clear()
    buf = io.BytesIO()
    # No line numbers: the catalog's diff should show translation changes, not moved code.
    # No "#| msgid" lines: babel reads them back as translator comments that never go away.
    write_po(buf, catalog, width=100, include_lineno=False, include_previous=False)
    tmp = path.with_suffix(".po.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return load_catalog(path)  # report on what is on disk, as the kiosk will read it


# --- command line ----------------------------------------------------------------------------


def _describe(report: CatalogReport, messages: Sequence[Message]) -> list[str]:
    where = {m.msgid: f"{m.locations[0][0]}:{m.locations[0][1]}" for m in messages}
    if report.ok:
        return [f"{report.lang}: complete ({len(messages)} messages)"]
    lines = [f"{report.lang}:"]
    for label, items in (
        ("missing", report.missing),
        ("untranslated", report.untranslated),
        ("fuzzy", report.fuzzy),
        ("plural forms wrong", report.wrong_plural),
        ("placeholders differ", report.bad_placeholders),
        ("unused", report.unused),
        ("obsolete", report.obsolete),
    ):
        for msgid in items:
            place = f"  ({where[msgid]})" if msgid in where else ""
            lines.append(f"  {label}: {msgid!r}{place}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.i18n_extract",
        description="Compare the message catalogs with the texts in the code.",
    )
    parser.add_argument(
        "--update", action="store_true", help="write new messages into every catalog"
    )
    parser.add_argument("--prune", action="store_true", help="with --update: drop obsolete entries")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="project root (default: this checkout)",
    )
    args = parser.parse_args(argv)
    if args.prune and not args.update:
        parser.error("--prune only works together with --update")
    try:
        messages = extract_messages(args.root)
        paths = catalog_paths(args.root)
        if not paths:
            print(f"no catalogs under {args.root / 'kiosk' / 'locale'}", file=sys.stderr)
            return 2
        all_ok = True
        for path in paths:
            catalog = (
                update_catalog(path, messages, prune=args.prune)
                if args.update
                else load_catalog(path)
            )
            report = check_catalog(messages, catalog)
            all_ok &= report.ok
            print("\n".join(_describe(report, messages)))
    except (ExtractionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
