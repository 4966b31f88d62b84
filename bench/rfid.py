"""RFID benchmark: ISO 28560 decode throughput, ours against rfidgeek (PyPI) in the same run.

    .venv/bin/python bench/rfid.py [--seconds S]

Prints human lines, then one JSON line. Each measurement is a function filling `results`;
the end-to-end pad timings (`one_tag_decoded_s`, `stack10_decoded_s`) are to be added as
further measurement functions in MEASUREMENTS.
rfidgeek is optional (`.venv/bin/pip install rfidgeek`, not a project dependency). Its only
decoder is `PyRFIDGeek.read_danish_model_tag`, which reads the tag itself over serial; it is
timed with the serial exchange replaced by a canned reply, so only its decoding is measured.
It knows part 3 only, so it gets the part-3 tags of the same mix.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.tags import DSFID_ISO_28560_2, LibraryTag, decode_tag, encode_tag
from kiosk.tags_part2 import make_part2_tag

Results = dict[str, Any]


def tag_mix(n: int = 200) -> list[tuple[bytes, int]]:
    """(user memory, DSFID): three part-3 tags for each part-2 tag, some sets, some reversed."""
    mix: list[tuple[bytes, int]] = []
    for i in range(n):
        item = f"3050{i:07d}"
        if i % 4 == 3:
            tag = make_part2_tag(item, isil="SI-50100", parts_in_item=1 + i % 3, part_number=1)
            mix.append((encode_tag(tag), DSFID_ISO_28560_2))
        else:
            tag = LibraryTag(item, 1, 1, "SI", "50100", reversed_blocks=i % 5 == 0)
            mix.append((encode_tag(tag), 0))
    return mix


def _rate(work: Callable[[], int], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += work()
    return done / (time.perf_counter() - start)


def measure_decode(results: Results, seconds: float) -> None:
    mix = tag_mix()

    def once() -> int:
        for data, dsfid in mix:
            decode_tag(data, dsfid=dsfid)
        return len(mix)

    results["decode_tags_per_s"] = round(_rate(once, seconds))
    part3 = [(d, s) for d, s in mix if s == 0 and d[0] >> 4 == 1]  # normal order only

    def once3() -> int:
        for data, _ in part3:
            decode_tag(data)
        return len(part3)

    results["decode_part3_tags_per_s"] = round(_rate(once3, seconds))
    print(
        f"ours: {results['decode_tags_per_s']} tags/s (3:1 part 3 / part 2 mix), "
        f"{results['decode_part3_tags_per_s']} tags/s on part 3 alone"
    )


def measure_rfidgeek(results: Results, seconds: float) -> None:
    try:
        from rfidgeek.rfidgeek import PyRFIDGeek
    except ImportError:
        results["rfidgeek_decode_tags_per_s"] = None
        print("rfidgeek: not installed (pip install rfidgeek), reported as null")
        return
    # Its decoder reads 8 blocks (32 bytes) through the reader; a canned reply stands in.
    replies = [
        "00" + data[:32].hex().upper() for data, s in tag_mix() if s == 0 and data[0] >> 4 == 1
    ]
    geek = PyRFIDGeek.__new__(PyRFIDGeek)
    pending: list[str] = []
    geek.issue_iso15693_command = lambda **_kw: [pending.pop()]  # type: ignore[method-assign]
    check = replies[0]
    pending.append(check)
    assert geek.read_danish_model_tag("E004")["id"].startswith("3050")

    def once() -> int:
        pending.extend(replies)
        for _ in replies:
            geek.read_danish_model_tag("E004")
        return len(replies)

    results["rfidgeek_decode_tags_per_s"] = round(_rate(once, seconds))
    print(
        f"rfidgeek: {results['rfidgeek_decode_tags_per_s']} tags/s (part 3 only, "
        "its read_danish_model_tag with the serial exchange stubbed out)"
    )


MEASUREMENTS: list[Callable[[Results, float], None]] = [measure_decode, measure_rfidgeek]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    results: Results = {}
    for measure in MEASUREMENTS:
        measure(results, args.seconds)
    results["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
