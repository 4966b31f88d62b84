"""`kiosk central serve` and `kiosk central openapi`, as a technician runs them, and the
Slovenian sample data they load."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from central.sample_data import sample_file
from central.server import DEFAULT_PORT
from tests.central.pg import free_port

REPO = Path(__file__).resolve().parents[2]
PICTURES = REPO / "central" / "pictures"


def kiosk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screens.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`kiosk central serve ARGS` in the background, until its tokens are printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "screens.cli", "central", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while not any(line.startswith("device ") for line in lines):
            line = process.stdout.readline()
            assert line, f"the server stopped: {''.join(lines)}"
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        yield process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _value(lines: list[str], prefix: str) -> str:
    line = next(line for line in lines if line.startswith(prefix))
    return line.rsplit(" ", 1)[-1].strip()


def test_serve_with_sample_data_and_stop(tmp_path: Path) -> None:
    port = free_port()
    with serving("--port", str(port), "--data-dir", str(tmp_path), "--seed") as (process, lines):
        text = "".join(lines)
        url = re.search(r"serving on (http://\S+)/api/v1", text)
        assert url and url.group(1) == f"http://127.0.0.1:{port}", text
        device_token = _value(lines, "device demo-kiosk token:")
        admin_token = _value(lines, "admin token:")
        base = url.group(1)
        page = requests.get(
            f"{base}/api/v1/events", headers={"Authorization": f"Bearer {device_token}"}, timeout=10
        ).json()
        events = page["events"]
        assert 20 <= len(events) <= 40
        assert requests.get(f"{base}/openapi.json", timeout=10).json()["info"]["title"]
        devices = requests.get(
            f"{base}/api/v1/devices", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10
        )
        assert [d["id"] for d in devices.json()["devices"]] == ["demo-kiosk"]
        _check_sample_events(base, events)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    saved = json.loads((tmp_path / "central-tokens.json").read_text())
    assert saved["device_token"] == device_token
    assert (tmp_path / "central-tokens.json").stat().st_mode & 0o077 == 0

    # Started again on the same data: the same tokens, no second copy of the sample data.
    with serving("--port", "0", "--data-dir", str(tmp_path), "--seed") as (_process, again):
        assert _value(again, "device demo-kiosk token:") == device_token
        assert any("already has events" in line for line in again)


def _check_sample_events(base: str, events: list[dict]) -> None:
    by_key = {e["id"].split("-", 2)[2]: e for e in events}
    presets = {s["key"]: s.get("preset") for s in sample_file()["events"]}
    for key, preset in presets.items():
        event = by_key[key]
        if preset == "nearly_full":
            assert 0 < event["seats_left"] <= 3, event
        elif preset == "full":
            assert event["seats_left"] == 0 and event["waitlist_length"] >= 1, event
        elif preset == "closed":
            closes = event["registration"]["closes_at"]
            assert closes < event["seats_left_as_of"] < event["starts_at"], event
    kinds = {e["location"]["kind"] for e in events}
    assert kinds == {"branch", "bibliobus_stop"}
    branches = {e["location"]["branch"] for e in events}
    assert {"rotovz", "tezno", "studenci", "nova-vas", "bibliobus"} <= branches
    categories = {c for e in events for c in e["categories"]}
    assert {"story_hour", "workshop", "club", "author_visit", "lecture"} <= categories
    for event in events:
        assert event["starts_at"].endswith(("+01:00", "+02:00")), event["starts_at"]
        # Speech is for the ear: no digits or symbols the synthesiser would spell out.
        for text in event["speech"].values():
            assert not re.search(r"[0-9%&/@#]", text), text
        picture = requests.get(base + event["picture"]["url"], timeout=10)
        assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"
        assert event["picture"]["alt"]["sl"] and event["picture"]["alt"]["en"]


def test_serve_refuses_plainly(tmp_path: Path) -> None:
    bad_db = kiosk("central", "serve", "--data-dir", str(tmp_path), "--db", "mysql://x/y")
    assert bad_db.returncode == 2 and "only SQLite" in bad_db.stderr
    assert "Traceback" not in bad_db.stderr
    with serving("--port", "0", "--data-dir", str(tmp_path)) as (_process, lines):
        port = re.search(r"127\.0\.0\.1:(\d+)/api", "".join(lines))
        assert port
        taken = kiosk(
            "central", "serve", "--data-dir", str(tmp_path / "2"), "--port", port.group(1)
        )
    assert taken.returncode == 1 and "already in use" in taken.stderr, taken.stderr
    assert "Traceback" not in taken.stderr
    foreign = tmp_path / "foreign.sqlite"
    import sqlite3

    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE x (y)")
    refused = kiosk("central", "serve", "--data-dir", str(tmp_path), "--db", str(foreign))
    assert refused.returncode == 1 and "not a central server database" in refused.stderr


def test_openapi_command_prints_the_contract(tmp_path: Path) -> None:
    printed = kiosk("central", "openapi")
    assert printed.returncode == 0
    assert printed.stdout == (REPO / "central" / "openapi.json").read_text(encoding="utf-8")
    # --check passes on the committed file, and fails once it differs.
    assert kiosk("central", "openapi", "--check").returncode == 0


def test_sample_pictures_are_small_pngs() -> None:
    names = {s["picture"] for s in sample_file()["events"]}
    assert names <= set(sample_file()["pictures"])
    for name in names:
        data = (PICTURES / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 20_000, name


def test_default_port_is_documented() -> None:
    assert f"default {DEFAULT_PORT}" in kiosk("central", "serve", "--help").stdout
