"""Cold start of `kiosk demo` to its first frame, and its resident memory.

Each run is a new process on a virtual screen. The app reports the time since
its process was created to its first frame (the attract screen on screen), to
the moment its core is up (store checked and migrated, library system, devices
open and the outbox replayed — this happens after the first frame, on the
worker thread), and its RSS at that moment; then it quits. The first
run starts from an empty data folder (first boot: schema and demo data created);
the median is taken over the runs that follow (a normal boot).

Usage: python bench/startup.py [--runs N]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_xvfb() -> tuple[subprocess.Popen[bytes] | None, str]:
    if os.environ.get("DISPLAY"):
        return None, os.environ["DISPLAY"]
    if shutil.which("Xvfb") is None:
        sys.exit("bench: no display and no Xvfb (sudo apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    return server, f":{number}"


def one_run(data_dir: Path, display: str) -> dict[str, float]:
    env = os.environ | {"DISPLAY": display, "KIVY_HOME": str(data_dir / "kivy")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "screens.cli",
            "demo",
            "--data-dir",
            str(data_dir),
            "--report-first-frame",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.exit(f"bench: the demo did not start:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    server, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp:
            data_dir = Path(tmp)
            first = one_run(data_dir, display)
            runs = [one_run(data_dir, display) for _ in range(args.runs)]
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    for i, run in enumerate(runs, 1):
        print(
            f"run {i}: first frame {run['first_frame_s']:.3f} s, "
            f"core ready {run['ready_s']:.3f} s, RSS {run['rss_mib']:.1f} MiB"
        )
    result = {
        "first_frame_s": round(statistics.median(r["first_frame_s"] for r in runs), 3),
        "ready_s": round(statistics.median(r["ready_s"] for r in runs), 3),
        "rss_mib": round(statistics.median(r["rss_mib"] for r in runs), 1),
        "software_gl_mib": round(statistics.median(r["software_gl_mib"] for r in runs), 1),
        "first_boot_s": first["first_frame_s"],
        "runs": len(runs),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
