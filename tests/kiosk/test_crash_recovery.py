"""kill -9 at any moment: after a restart nothing written to the outbox is lost
and nothing is applied twice. The kiosk runs in a child process on real files,
talking to the demo library directly or over SIP2 on loopback (where no
idempotency key exists and recovery must look before it sends); the test kills
it at random moments and then audits the store against the library's records."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.runtime import Runtime
from tests.helpers import demo_config_in

WORKER = Path(__file__).with_name("core_crash_worker.py")


def run_and_kill(data_dir: Path, mode: str, lines_before_kill: int, extra_delay: float) -> None:
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), mode],
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


def audit(data_dir: Path, mode: str) -> int:
    """Restart (which recovers), then check the outbox against the library."""
    config = demo_config_in(data_dir, over_sip2=mode == "sip2")
    rt = Runtime.open(config)
    try:
        assert rt.store.unfinished() == [], "recovery left actions unfinished"
        entries = sorted(
            (e for e in rt.store.entries(limit=100_000) if e.kind in ("checkout", "checkin")),
            key=lambda e: e.seq,
        )
    finally:
        rt.close()
    ours = {e.payload["item_id"] for e in entries}
    db = sqlite3.connect(config.demo_database_path())
    try:
        loans = db.execute(
            "SELECT item_id, returned_at IS NULL FROM loans"
            " WHERE loaned_on >= date('now', '-1 day')"
        ).fetchall()
    finally:
        db.close()
    loans = [(item, bool(open_)) for item, open_ in loans if item in ours]
    # Replaying the confirmed actions in order gives exactly the library's loans:
    # nothing the library did is missing from the outbox, nothing was done twice.
    on_loan: set[str] = set()
    lent = 0
    for e in entries:
        if e.state != "confirmed":
            continue
        if e.kind == "checkout":
            assert e.payload["item_id"] not in on_loan, "lent twice"
            on_loan.add(e.payload["item_id"])
            lent += 1
        else:
            on_loan.discard(e.payload["item_id"])
    assert on_loan == {item for item, open_ in loans if open_}, (
        [
            (e.seq, e.kind, e.payload["item_id"], e.state, e.result, e.error, e.attempts)
            for e in entries
            if e.payload["item_id"] in on_loan ^ {item for item, open_ in loans if open_}
        ],
        loans,
    )
    assert lent == len(loans), "the library made a different number of loans than recorded"
    return len(entries)


@pytest.mark.parametrize("mode", ["direct", "sip2"])
def test_kill_9_at_random_moments_loses_and_doubles_nothing(tmp_path: Path, mode: str) -> None:
    rng = random.Random(2026)
    data_dir = tmp_path / "data"
    total = 0
    for round_no in range(5):
        run_and_kill(
            data_dir, mode, lines_before_kill=1 + round_no % 3, extra_delay=rng.random() * 0.3
        )
        total = audit(data_dir, mode)
    assert total > 20  # the kiosk really did work between the kills
