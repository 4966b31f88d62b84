"""The README keeps its promises: the two commands, the configuration reference
in step with the code, and the screenshots it shows exist."""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.config import config_reference_markdown

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_configuration_reference_matches_the_code() -> None:
    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    shown = README.split(start, 1)[1].split(end, 1)[0]
    assert shown == config_reference_markdown(), "run ./dev readme"


def test_the_two_commands_and_ci() -> None:
    assert "./dev demo" in README and "./dev test" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert "./dev test" in ci


def test_every_picture_shown_exists() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)
    assert pictures
    for picture in pictures:
        assert (REPO / picture).is_file(), picture
