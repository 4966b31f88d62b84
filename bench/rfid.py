"""RFID benchmark: ISO 28560 decode throughput, ours against rfidgeek (PyPI) in the same run,
and the pad end to end: tags placed on an emulated FEIG reader to decoded and lent items.

    .venv/bin/python bench/rfid.py [--seconds S] [--runs N]

Prints human lines, then one JSON line. Each measurement is a function filling `results`.
rfidgeek is optional (`.venv/bin/pip install rfidgeek`, not a project dependency). Its only
decoder is `PyRFIDGeek.read_danish_model_tag`, which reads the tag itself over serial; it is
timed with the serial exchange replaced by a canned reply, so only its decoding is measured.
It knows part 3 only, so it gets the part-3 tags of the same mix.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
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


# --- end to end: emulated FEIG pad -> FeigReader -> KioskCore (demo library, direct) ------

STACK_ITEMS = 9  # 8 single books and the demo's two-part set: 10 tags


class _TimedBackend:
    """The demo library, noting when the core first asks it to lend: by then every tag of
    the stack has been decoded (the core decodes a batch before it lends any of it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first_checkout: float | None = None

    def checkout(self, *args: Any, **kwargs: Any) -> Any:
        if self.first_checkout is None:
            self.first_checkout = time.perf_counter()
        return self.inner.checkout(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _pad_run(n_items: int) -> tuple[float, float, int]:
    """One run on a fresh demo library: (placed -> decoded, placed -> all lent, tags)."""
    from drivers.emulators.feig import Delays, FeigEmulator
    from drivers.emulators.field import RfidField
    from drivers.feig import FeigReader
    from drivers.sim import SimCardReader
    from kiosk.backends.demo import DemoLibrary
    from kiosk.backends.demo_data import ANA, SAMPLE_ITEMS, SAMPLE_PATRONS
    from kiosk.config import default_config_path, load_config
    from kiosk.core import KioskCore
    from kiosk.demo import demo_tags
    from kiosk.runtime import core_settings
    from kiosk.session import LineStatus, State
    from kiosk.store import Store

    lendable = [
        i for i in SAMPLE_ITEMS
        if not (i.reference_only or i.hold_for or i.on_loan_to) and i.owner_branch == "MB"
    ]  # fmt: skip
    sets = [i for i in lendable if i.parts > 1]
    items = (sets[:1] + [i for i in lendable if i.parts == 1])[:n_items] if n_items > 1 else [
        next(i for i in lendable if i.parts == 1)
    ]  # fmt: skip
    wanted = {i.item_id for i in items}
    tags = [t for t in demo_tags() if t.item_id in wanted]
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(default_config_path())
        kiosk = config.kiosk.model_copy(update={"data_dir": folder})
        config = config.model_copy(update={"kiosk": kiosk})
        field = RfidField()
        emulator = FeigEmulator(field, delays=Delays())
        store = Store.open(config.store_path())
        backend = _TimedBackend(DemoLibrary(config.demo_database_path()))
        reader = FeigReader(emulator.open_pty())
        cards = SimCardReader()
        core = KioskCore(
            backend=backend, store=store, tag_reader=reader, card_reader=cards,
            settings=core_settings(config),
        )  # fmt: skip
        try:
            core.card_presented(ANA)
            for digit in next(p.pin for p in SAMPLE_PATRONS if p.card == ANA):
                core.keypad_digit(digit)
            core.keypad_ok()
            assert core.view.state is State.CHECKOUT, core.view.state
            core.poll_devices()  # one empty inventory: the line is warm, as on a kiosk in use
            for tag in tags:
                field.place(tag.uid, tag.data)
            start = time.perf_counter()
            while True:
                core.poll_devices()
                lent = [line for line in core.view.lines if line.status is LineStatus.LENT]
                if len(lent) == len(items):
                    break
                if time.perf_counter() - start > 10:
                    raise RuntimeError(f"only {len(lent)} of {len(items)} lent after 10 s")
            done = time.perf_counter()
            assert backend.first_checkout is not None
            assert all(field.tag(t.uid).afi == config.security.afi_on_loan for t in tags)
            return backend.first_checkout - start, done - start, len(tags)
        finally:
            reader.close()
            emulator.stop()
            backend.inner.close()
            store.close()


def measure_pad(results: Results, seconds: float, runs: int = 7) -> None:
    logging.getLogger().setLevel(logging.ERROR)  # the core logs every loan at INFO
    for key, n_items in (("one_tag", 1), ("stack10", STACK_ITEMS)):
        timings = [_pad_run(n_items) for _ in range(runs)]
        decoded = statistics.median(t[0] for t in timings)
        lent = statistics.median(t[1] for t in timings)
        results[f"{key}_decoded_s"] = round(decoded, 3)
        results[f"{key}_lent_s"] = round(lent, 3)
        print(
            f"pad, {timings[0][2]} tag(s): decoded in the core after {decoded:.3f} s, all lent "
            f"(checkout and AFI writes) after {lent:.3f} s (median of {runs})"
        )
    results["pad_runs"] = runs


MEASUREMENTS: list[Callable[[Results, float], None]] = [
    measure_decode,
    measure_rfidgeek,
    measure_pad,
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--runs", type=int, default=7, help="runs of each pad timing")
    args = parser.parse_args()
    results: Results = {}
    for measure in MEASUREMENTS:
        if measure is measure_pad:
            measure_pad(results, args.seconds, args.runs)
        else:
            measure(results, args.seconds)
    results["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
