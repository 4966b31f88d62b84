"""`bench/checkout.py --quick` still runs to the end and reports its figures, so the
benchmark cannot rot between the times it is run for real (bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "stack10_lent_s",
    "stack10_lent_p90_s",
    "stack10_returned_s",
    "replay_actions_per_s",
    "replay_actions",
    "stack_rounds",
}


def test_quick_run_ends_with_its_figures_as_one_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "bench/checkout.py", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS
    assert (figures["stack_rounds"], figures["replay_actions"]) == (2, 100)
    assert all(figures[key] > 0 for key in KEYS)


def test_a_bad_count_is_refused_plainly() -> None:
    done = subprocess.run(
        [sys.executable, "bench/checkout.py", "--actions", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    assert "--actions must be at least 1" in done.stderr and "Traceback" not in done.stderr
