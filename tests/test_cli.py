"""The `kiosk` command: exit codes and messages technicians and scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kiosk import __version__

REPO = Path(__file__).resolve().parents[1]


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screens.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | (env or {}),
        cwd=REPO,
    )


def demo_copy(tmp_path: Path) -> Path:
    text = (REPO / "config" / "kiosk.toml").read_text()
    path = tmp_path / "kiosk.toml"
    path.write_text(text.replace('data_dir = ""', f'data_dir = "{tmp_path / "data"}"'))
    return path


def test_version() -> None:
    done = kiosk("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"kiosk {__version__}"


def test_check_config_accepts_the_shipped_files() -> None:
    assert kiosk("check-config", "config/kiosk.toml").returncode == 0
    branch = kiosk(
        "check-config",
        "config/example-branch.toml",
        env={
            "KIOSK_SIP2_PASSWORD": "s3cret",
            "KIOSK_CENTRAL_TOKEN": "t0ken",
            "KIOSK_CENTRAL_CARD_KEY": "library-card-key-0001",
        },
    )
    assert branch.returncode == 0, branch.stderr
    assert "s3cret" not in branch.stdout + branch.stderr


def test_check_config_refuses_with_one_clear_message_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[session]\nwarning_s = 5\n")
    done = kiosk("check-config", str(bad))
    assert done.returncode == 2
    assert "session.warning_s" in done.stderr and str(bad) in done.stderr
    assert "Traceback" not in done.stderr
    missing = kiosk("check-config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_run_refuses_a_bad_configuration_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[display]\nwidth = 'wide'\n")
    done = kiosk("run", "--config", str(bad))
    assert done.returncode == 2 and "display.width" in done.stderr
    assert "Traceback" not in done.stderr


def test_doctor_reports_every_part(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    text = kiosk("doctor", "--config", str(config))
    assert text.returncode == 0, text.stdout + text.stderr
    for name in ("configuration", "store", "library system", "RFID reader", "card reader"):
        assert name in text.stdout
    done = kiosk("doctor", "--config", str(config), "--json")
    report = json.loads(done.stdout)
    assert report["exit_code"] == 0 and report["healthy"] is True
    assert {c["name"] for c in report["checks"]} >= {"store", "library system", "RFID reader"}
    assert all(c["status"] == "ok" for c in report["checks"])


def test_doctor_exit_codes_for_degraded_and_invalid(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    config.write_text(config.read_text().replace('rfid = "sim:"', 'rfid = "feig:/dev/ttyUSB9"'))
    degraded = kiosk("doctor", "--config", str(config), "--json")
    assert degraded.returncode == 1
    rfid = next(c for c in json.loads(degraded.stdout)["checks"] if c["name"] == "RFID reader")
    assert rfid["status"] == "failed" and "/dev/ttyUSB9" in rfid["detail"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[kiosk]\nnmae = 'x'\n")
    invalid = kiosk("doctor", "--config", str(bad), "--json")
    assert invalid.returncode == 2
    assert json.loads(invalid.stdout)["exit_code"] == 2


def test_doctor_reports_a_printer_out_of_paper(tmp_path: Path) -> None:
    from drivers.emulators.printer import PrinterEmulator

    emulator = PrinterEmulator()
    try:
        config = demo_copy(tmp_path)
        config.write_text(
            config.read_text().replace('printer = "file:receipts"', f'printer = "{emulator.url}"')
        )
        healthy = kiosk("doctor", "--config", str(config), "--json")
        printer = next(c for c in json.loads(healthy.stdout)["checks"] if c["name"] == "printer")
        assert (healthy.returncode, printer["status"]) == (0, "ok"), printer
        emulator.paper_out = True
        degraded = kiosk("doctor", "--config", str(config))
        assert degraded.returncode == 1
        assert "printer" in degraded.stdout and "paper out" in degraded.stdout
    finally:
        emulator.close()


def test_demo_without_a_display_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("SDL_VIDEODRIVER", None)
    done = subprocess.run(
        [sys.executable, "-m", "screens.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "no display" in done.stderr and "Traceback" not in done.stderr
