"""`kiosk outbox list|report|retry|resolve` on a real store file, run as the technician
runs it (a subprocess), with the exit codes scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.store import Store

ROOT = Path(__file__).resolve().parents[1]
CARD = "0123456789"


def outbox(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "screens.cli", "outbox", *args, "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


def fill(config: Path) -> dict[str, str]:
    """An outage's leftovers: a conflict, a failed loan, one waiting, one confirmed."""
    with Store.open(config.parent / "data" / "kiosk.sqlite") as store:
        ids = {}
        base = {"patron_id": CARD, "when": "2026-11-27T10:00:00+00:00", "offline": True}
        conflict = store.add_action("checkout", base | {"item_id": "30200007", "due": "2026-12-18"})
        store.mark_sending(conflict.client_id)
        store.mark_done(
            conflict.client_id,
            "conflict",
            result={"reason": "ok", "conflicts": ["reserved_for_other"]},
        )
        failed = store.add_action("checkout", {"patron_id": CARD, "item_id": "30200001"})
        store.mark_done(failed.client_id, "failed", error="library system unreachable")
        waiting = store.add_action("checkin", {"item_id": "30200002", "offline": True})
        done = store.add_action("checkin", {"item_id": "30200003"})
        store.mark_done(done.client_id, "confirmed")
        ids.update(
            conflict=conflict.client_id,
            failed=failed.client_id,
            waiting=waiting.client_id,
            done=done.client_id,
        )
        return ids


def test_report_names_what_staff_must_settle_and_exits_1(config: Path) -> None:
    ids = fill(config)
    done = outbox(config, "report")
    assert done.returncode == 1
    text = done.stdout
    assert "Waiting to be sent: 1 (1 done offline)" in text
    assert "Needing staff: 2" in text
    assert "loan item 30200007 card ••••6789 (offline) due 2026-12-18" in text
    assert "reserved for another reader" in text
    assert ids["conflict"] in text and ids["failed"] in text
    assert CARD not in text  # never the full card number

    data = json.loads(outbox(config, "report", "--json").stdout)
    assert data["needs_staff"] == 2 and data["waiting"] == 1
    assert [c["client_id"] for c in data["conflicts"]] == [ids["conflict"]]
    assert data["conflicts"][0]["conflicts"] == ["reserved_for_other"]


def test_list_filters_by_state_and_is_oldest_first(config: Path) -> None:
    ids = fill(config)
    rows = json.loads(outbox(config, "list", "--json").stdout)
    assert [r["client_id"] for r in rows] == [
        ids[k] for k in ("conflict", "failed", "waiting", "done")
    ]
    staff = json.loads(
        outbox(config, "list", "--state", "failed", "--state", "conflict", "--json").stdout
    )
    assert {r["state"] for r in staff} == {"failed", "conflict"}
    assert all(r["patron"] in (None, "••••6789") for r in rows)
    assert outbox(config, "list", "--state", "lost").returncode == 2  # argparse: bad choice


def test_retry_and_resolve_leave_a_clean_report(config: Path) -> None:
    ids = fill(config)
    assert outbox(config, "retry").returncode == 2  # neither ids nor --all
    done = outbox(config, "retry", ids["failed"])
    assert done.returncode == 0 and "1 entry queued again" in done.stdout
    done = outbox(config, "resolve", ids["conflict"], "--note", "hold moved to the next copy")
    assert done.returncode == 0
    bad = outbox(config, "resolve", ids["done"])
    assert bad.returncode == 1 and "only failed or conflict" in bad.stderr
    report = json.loads(outbox(config, "report", "--json").stdout)
    assert report["needs_staff"] == 0 and report["waiting"] == 2
    assert outbox(config, "report").returncode == 0
    with Store.open(config.parent / "data" / "kiosk.sqlite") as store:
        settled = store.get(ids["conflict"])
        assert settled.state == "confirmed"
        assert settled.result["settled_by_staff"] == "hold moved to the next copy"
