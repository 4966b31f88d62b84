"""kill -9 at any moment: after a restart nothing written to the outbox is lost
and nothing is applied twice. The kiosk runs in a child process on real files;
the test kills it at random moments and then audits the store against the
library's own records."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kiosk.runtime import Runtime
from tests.helpers import demo_config_in

WORKER = Path(__file__).with_name("core_crash_worker.py")


def run_and_kill(data_dir: Path, lines_before_kill: int, extra_delay: float) -> None:
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    for _ in range(lines_before_kill):
        if not child.stdout.readline():
            raise AssertionError("the worker stopped by itself")
    time.sleep(extra_delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def audit(data_dir: Path) -> int:
    """Restart (which recovers), then check the outbox against the library."""
    config = demo_config_in(data_dir)
    rt = Runtime.open(config)
    try:
        assert rt.store.unfinished() == [], "recovery left actions unfinished"
        entries = sorted(
            (e for e in rt.store.entries(limit=100_000) if e.kind in ("checkout", "checkin")),
            key=lambda e: e.seq,
        )
    finally:
        rt.close()
    db = sqlite3.connect(config.demo_database_path())
    try:
        applied = dict(db.execute("SELECT client_id, kind FROM transactions").fetchall())
        open_loans = {
            row[0]
            for row in db.execute(
                "SELECT item_id FROM loans WHERE returned_at IS NULL"
                " AND loaned_on >= date('now', '-1 day')"
            )
        }
    finally:
        db.close()
    sent = {e.client_id for e in entries if e.state in ("confirmed", "refused")}
    # Every action the library applied is in the outbox, and every answered one reached it.
    ours = {cid for cid in applied if cid in {e.client_id for e in entries}}
    assert ours == sent, "outbox and library disagree"
    # Replaying the confirmed actions in order gives exactly the library's loans.
    on_loan: set[str] = set()
    for e in entries:
        if e.state != "confirmed":
            continue
        if e.kind == "checkout":
            assert e.payload["item_id"] not in on_loan, "lent twice"
            on_loan.add(e.payload["item_id"])
        else:
            on_loan.discard(e.payload["item_id"])
    assert on_loan == open_loans
    return len(entries)


def test_kill_9_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(2026)
    data_dir = tmp_path / "data"
    total = 0
    for round_no in range(5):
        run_and_kill(data_dir, lines_before_kill=1 + round_no % 3, extra_delay=rng.random() * 0.3)
        total = audit(data_dir)
    assert total > 20  # the kiosk really did work between the kills
