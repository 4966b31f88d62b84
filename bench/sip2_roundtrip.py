"""SIP2 request round trip against the demo ILS over loopback: median and p99.

Starts `kiosk demo-ils --port 0` as its own process (so server and client do not
share a GIL), connects the kiosk's `Sip2Client` with sequence numbers and
checksums (login, SC status), and after a warm-up times N requests of the mix a
self-check kiosk sends: item information, patron information with the patron's
list of loans, and checkout + checkin pairs (each lending really written to the
demo library's SQLite database and taken back). A round trip is measured around
`Sip2Client.request`: encode, send, the server's work, receive, decode with
checksum verification.

Usage: python bench/sip2_roundtrip.py [--requests N] [--warmup N] [--tls]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.backends.demo_data import ANA, HOME_BRANCH, LIBRARY_ISIL, LUKA, PETRA
from kiosk.sip2 import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    Message,
    PatronInformationRequest,
    PatronInformationResponse,
)
from kiosk.sip2.client import Sip2Client, Sip2Settings

REPO = Path(__file__).resolve().parents[1]
# Items on the shelf in the demo library, lent and returned in turn.
FREE_ITEMS = ("34001000011", "34001000028", "34001000073", "34001000080", "34001000097")
BORROWERS = (PETRA, LUKA)
KINDS = ("item_information", "patron_information", "checkout", "checkin")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def start_demo_ils(data_dir: Path, tls: bool) -> tuple[subprocess.Popen[str], int, Path | None]:
    """`kiosk demo-ils` on a free port; returns (process, port, certificate for TLS)."""
    command = [sys.executable, "-m", "screens.cli", "demo-ils", "--port", "0"]
    command += ["--data-dir", str(data_dir)] + (["--tls"] if tls else [])
    log_path = data_dir / "demo-ils.log"
    with log_path.open("w") as log:  # its log: a pipe left unread would fill up and stall it
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
    assert proc.stdout is not None
    cert = None
    for line in proc.stdout:  # it prints its start line (after the certificate's) at once
        if line.startswith("self-signed certificate"):
            cert = Path(line.rsplit(": ", 1)[1].strip())
        found = re.search(r"serving SIP2 on [^ ]+:(\d+)", line)
        if found:
            return proc, int(found.group(1)), cert
    proc.wait()
    sys.exit(f"bench: kiosk demo-ils did not start:\n{log_path.read_text()}")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share 0.99 = p99)."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def requests_of_one_cycle(turn: int) -> list[tuple[str, Message, Callable[[Message], bool]]]:
    """One kiosk-like cycle: look an item up, show an account, lend an item and take it back."""
    now = dt.datetime.now().replace(microsecond=0)
    item = FREE_ITEMS[turn % len(FREE_ITEMS)]
    card = BORROWERS[turn % len(BORROWERS)]
    return [
        (
            "item_information",
            ItemInformationRequest(
                transaction_date=now, institution_id=LIBRARY_ISIL, item_identifier=item
            ),
            lambda m: isinstance(m, ItemInformationResponse) and bool(m.title_identifier),
        ),
        (
            "patron_information",
            PatronInformationRequest(
                transaction_date=now,
                summary=PatronInformationRequest.summary_for("charged_items"),
                institution_id=LIBRARY_ISIL,
                patron_identifier=ANA,
                start_item="1",
                end_item="50",
            ),
            lambda m: isinstance(m, PatronInformationResponse) and len(m.charged_items) >= 2,
        ),
        (
            "checkout",
            CheckoutRequest(
                sc_renewal_policy=False,
                transaction_date=now,
                institution_id=LIBRARY_ISIL,
                patron_identifier=card,
                item_identifier=item,
                terminal_password="",
            ),
            lambda m: isinstance(m, CheckoutResponse) and m.ok,
        ),
        (
            "checkin",
            CheckinRequest(
                transaction_date=now,
                return_date=now,
                current_location=HOME_BRANCH,
                institution_id=LIBRARY_ISIL,
                item_identifier=item,
                terminal_password="",
            ),
            lambda m: isinstance(m, CheckinResponse) and m.ok,
        ),
    ]


def run(client: Sip2Client, count: int, first_turn: int) -> dict[str, list[float]]:
    """Send `count` requests of the mix; round trips in ms by kind."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    sent, turn = 0, first_turn
    while sent < count:
        for kind, request, answered in requests_of_one_cycle(turn):
            started = time.perf_counter()
            answer = client.request(request)
            elapsed = (time.perf_counter() - started) * 1000
            if not answered(answer):
                sys.exit(f"bench: unexpected answer to {kind}: {answer}")
            times[kind].append(elapsed)
            sent += 1
        turn += 1
    return times


def sc_status_round_trips(client: Sip2Client, count: int) -> list[float]:
    """SC status (99/98) round trips in ms: the protocol alone, no library lookup behind it."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.refresh_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="timed requests (default 4000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument("--tls", action="store_true", help="over TLS (the demo's own certificate)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-sip2-") as tmp:
        server, port, cert = start_demo_ils(Path(tmp), args.tls)
        try:
            settings = Sip2Settings(
                host="127.0.0.1",
                port=port,
                tls=args.tls,
                ca_file=cert,
                username="kiosk",
                password="kiosk",
                location_code=HOME_BRANCH,
                institution_id=LIBRARY_ISIL,
                checksums=True,
            )
            with Sip2Client(settings) as client:
                started = time.perf_counter()
                client.connect()  # TCP (+ TLS), login 93, SC status 99
                connect_ms = (time.perf_counter() - started) * 1000
                run(client, args.warmup, 0)
                started = time.perf_counter()
                times = run(client, args.requests, args.warmup)
                wall = time.perf_counter() - started
                status_times = sc_status_round_trips(client, max(100, args.requests // 10))
        finally:
            server.terminate()
            server.wait(timeout=10)
    every = [t for kind in KINDS for t in times[kind]]
    for kind, values in [*times.items(), ("sc_status (not in the mix)", status_times)]:
        print(
            f"{kind:<26} {len(values):>5} requests: median {statistics.median(values):6.3f} ms,"
            f" p99 {percentile(values, 0.99):6.3f} ms"
        )
    result = {
        "median_ms": round(statistics.median(every), 3),
        "p99_ms": round(percentile(every, 0.99), 3),
        "max_ms": round(max(every), 3),
        **{f"{kind}_median_ms": round(statistics.median(times[kind]), 3) for kind in KINDS},
        "sc_status_median_ms": round(statistics.median(status_times), 3),
        "requests": len(every),
        "requests_per_s": round(len(every) / wall),
        "connect_ms": round(connect_ms, 2),
        "tls": args.tls,
        "machine": machine(),
    }
    print(
        f"all {len(every)} requests: median {result['median_ms']} ms, p99 {result['p99_ms']} ms,"
        f" {result['requests_per_s']} requests/s one after another"
        f" ({'TLS' if args.tls else 'plain TCP'}, checksums on; connect + login"
        f" {result['connect_ms']} ms)"
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
