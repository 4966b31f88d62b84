"""The rooms stay separate: the core never imports Kivy, drivers never import the core or UI,
and the central server and the kiosk never import each other (they speak HTTP).

Every .py file is parsed with `ast`; plain, from-, relative, nested and
importlib imports all count, so a forbidden import anywhere fails the test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level names it must never import
RULES: dict[str, frozenset[str]] = {
    # screens/ imports kivy, so importing it would bring Kivy in through the back door.
    # The central server is another service: the kiosk reaches it only over HTTP.
    "kiosk": frozenset({"kivy", "screens", "central"}),
    "drivers": frozenset({"kivy", "kiosk", "screens", "central"}),
    # The central server runs on its own machine, without the kiosk's packages.
    "central": frozenset({"kivy", "kiosk", "drivers", "screens"}),
}


def module_name(path: Path, root: Path) -> tuple[list[str], bool]:
    """Dotted name parts of a source file and whether it is a package (__init__.py)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def imported_names(source: str, module: list[str], is_package: bool) -> Iterator[tuple[str, int]]:
    """(absolute dotted name, line) for everything the source imports.

    For `from x import y` both x and x.y are reported, since y may be a module. A relative
    import reaching above the top level is reported as "<beyond top level>".
    """
    package = module if is_package else module[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                if up > len(package):
                    yield "<beyond top level>", node.lineno
                    continue
                base = package[: len(package) - up]
            else:
                base = []
            target = base + (node.module.split(".") if node.module else [])
            if target:
                yield ".".join(target), node.lineno
            for alias in node.names:
                if alias.name != "*":
                    yield ".".join([*target, alias.name]), node.lineno
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value, node.lineno


def _is_dynamic_import(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"import_module", "__import__"} and bool(call.args)


def violations(root: Path, package: str, forbidden: frozenset[str]) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        module, is_package = module_name(path, root)
        try:
            source = path.read_text(encoding="utf-8")
            names = list(imported_names(source, module, is_package))
        except (SyntaxError, UnicodeDecodeError) as exc:
            found.append(f"{relative}: cannot be parsed ({exc})")
            continue
        for name, line in names:
            top = name.split(".")[0]
            if top in forbidden or name == "<beyond top level>":
                found.append(f"{relative}:{line} imports {name}")
    return found


# --- the real source tree ---------------------------------------------------------------


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_respects_its_layer(package: str) -> None:
    assert violations(ROOT, package, RULES[package]) == []


def test_the_walk_sees_the_real_files() -> None:
    files = {p.relative_to(ROOT).as_posix() for pkg in RULES for p in (ROOT / pkg).rglob("*.py")}
    assert {
        "drivers/base.py",
        "drivers/sim.py",
        "kiosk/circulation.py",
        "kiosk/tags.py",
        "central/app.py",
    } <= files


# --- the checker itself can fail ----------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("kiosk/a.py", "import kivy\n", "kivy"),
        ("kiosk/a.py", "import os, kivy.app as app\n", "kivy.app"),
        ("kiosk/a.py", "from kivy.clock import Clock\n", "kivy.clock"),
        ("kiosk/a.py", "def later():\n    from kivy import metrics\n", "kivy"),
        ("kiosk/a.py", "import importlib\nimportlib.import_module('kivy.core')\n", "kivy.core"),
        ("kiosk/a.py", "__import__('kivy')\n", "kivy"),
        ("kiosk/a.py", "from screens import home\n", "screens"),
        ("drivers/a.py", "from kiosk import tags\n", "kiosk"),
        ("drivers/a.py", "import kiosk.tags\n", "kiosk.tags"),
        ("drivers/a.py", "from .. import kiosk\n", "kiosk"),
        ("drivers/a.py", "from ..kiosk.tags import decode_tag\n", "kiosk.tags"),
        ("drivers/sub/a.py", "from ...screens import home\n", "screens"),
        ("drivers/sub/__init__.py", "from ... import kiosk\n", "kiosk"),
        ("drivers/a.py", "if TYPE_CHECKING:\n    import kiosk\n", "kiosk"),
        ("drivers/a.py", "from .... import x\n", "<beyond top level>"),
        ("kiosk/a.py", "import central.app\n", "central.app"),
        ("kiosk/a.py", "def later():\n    from central import models\n", "central"),
        ("central/a.py", "from kiosk.config import load_config\n", "kiosk.config"),
        ("central/a.py", "from drivers import base\n", "drivers"),
        ("central/sub/a.py", "from ...screens import cli\n", "screens"),
    ],
)
def test_checker_catches(tmp_path: Path, relative: str, source: str, expected: str) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    package = relative.split("/")[0]
    found = violations(tmp_path, package, RULES[package])
    assert any(f"imports {expected}" in line for line in found), found


@pytest.mark.parametrize(
    ("relative", "source"),
    [
        ("drivers/a.py", "from . import base\nfrom .base import TagRead\n"),
        ("drivers/a.py", "from .kiosk_like import x\nimport kiosk_extra\n"),  # other names
        ("drivers/sub/a.py", "from .. import sim\n"),
        ("drivers/sub/__init__.py", "from .. import kiosk\n"),  # that is drivers.kiosk
        ("kiosk/a.py", "from drivers.base import TagRead\nimport serial\n"),
        ("kiosk/a.py", "name = 'kivy'\nprint(name)\n"),  # a string is not an import
        ("central/a.py", "from central.models import Event\nimport fastapi\n"),
        ("central/sub/a.py", "from .. import models\n"),
    ],
)
def test_checker_allows(tmp_path: Path, relative: str, source: str) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    package = relative.split("/")[0]
    assert violations(tmp_path, package, RULES[package]) == []


def test_unparsable_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "kiosk").mkdir()
    (tmp_path / "kiosk" / "broken.py").write_text("def (:\n", encoding="utf-8")
    found = violations(tmp_path, "kiosk", RULES["kiosk"])
    assert len(found) == 1 and found[0].startswith("kiosk/broken.py: cannot be parsed"), found
