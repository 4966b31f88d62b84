"""The systemd unit is valid as far as systemd itself can tell here."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "kiosk.service"


def test_unit_runs_the_kiosk_with_a_checked_configuration() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    service = unit["Service"]
    assert service["ExecStart"].endswith("kiosk run --config /etc/library-kiosk/kiosk.toml")
    assert "check-config" in service["ExecStartPre"]
    assert service["Restart"] == "always"
    assert service["User"] != "root"


SYNTAX_PROBLEMS = ("Unknown", "Invalid", "Failed to parse", "Missing '='", "bad-setting")


def syntax_problems(unit: Path) -> list[str]:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # The kiosk user and /opt/library-kiosk do not exist on a build machine, so
    # "not executable" is expected; syntax and unknown settings are real mistakes.
    return [line for line in done.stderr.splitlines() if any(p in line for p in SYNTAX_PROBLEMS)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_analyze_verify_finds_no_syntax_errors(tmp_path: Path) -> None:
    assert syntax_problems(UNIT) == []
    broken = tmp_path / "kiosk.service"
    broken.write_text(UNIT.read_text().replace("Restart=always", "Restartt=always"))
    assert syntax_problems(broken), "the check would not notice a broken unit"
