"""Checkout benchmark over SIP2: a stack of ten books lent on the emulated pad, and the
outbox replayed after an outage.

    .venv/bin/python bench/checkout.py [--rounds N] [--actions N] [--quick]

Both run the whole kiosk as `Runtime.open` builds it from the demo configuration, with the
demo library served by the real SIP2 server on loopback (`backend.demo.over_sip2`) and
reached through the SIP2 client, on a fresh data folder.

- Stack: a patron (Ana) logs in with card and PIN, ten single-tag books are placed on an
  emulated FEIG reader with the radio's delays (`Delays()`), and `core.poll_devices()` is
  called back to back, as the UI's worker does, until all ten lines say lent (checked out
  over SIP2, outbox confirmed, AFI written). The stack is then returned the same way, so
  each round starts from the same library. Median and p90 over the rounds.
- Replay: N actions queued in the outbox as the core writes them (alternately a checkout
  and the return of the same item, so each is valid), marked as taken offline, then
  `core.recover()` is timed; every entry must end confirmed.

Prints human lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.config import KioskConfig

Results = dict[str, Any]

STACK_SIZE = 10
STACK_TIMEOUT_S = 20.0
# Added to the bench's own copy of the demo database when the sample data has fewer books
# on the shelf than the stack needs.
EXTRA_BOOKS = (
    ("34001900011", "Hlapec Jernej in njegova pravica", "Ivan Cankar"),
    ("34001900028", "Butalci", "Fran Milčinski"),
    ("34001900035", "Krst pri Savici", "France Prešeren"),
    ("34001900042", "Visoška kronika", "Ivan Tavčar"),
)


@dataclass(frozen=True)
class Book:
    item_id: str
    uid: bytes
    data: bytes  # ISO 28560-3 user memory


def bench_config(data_dir: Path) -> KioskConfig:
    """The shipped demo configuration, data in `data_dir`, the demo library over SIP2."""
    from kiosk.config import default_config_path, load_config

    config = load_config(default_config_path())
    kiosk = config.kiosk.model_copy(update={"data_dir": str(data_dir)})
    demo = config.backend.demo.model_copy(update={"over_sip2": True})
    backend = config.backend.model_copy(update={"demo": demo})
    return config.model_copy(update={"kiosk": kiosk, "backend": backend})


def lendable_books(config: KioskConfig, wanted: int) -> list[Book]:
    """`wanted` single-tag books on the shelf of the home branch, free to lend; what the
    sample data lacks is added to this data folder's demo library."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import URL
    from sqlalchemy.orm import Session

    from kiosk.backends.demo import DemoLibrary, ItemRow
    from kiosk.backends.demo_data import HOME_BRANCH, SAMPLE_ITEMS, demo_tag_uid
    from kiosk.circulation import ItemState
    from kiosk.demo import COUNTRY, OWNER
    from kiosk.tags import LibraryTag, encode_tag

    path = config.demo_database_path()
    library = DemoLibrary(path)  # creates and seeds the file
    try:
        ids = []
        for item in SAMPLE_ITEMS:
            if item.parts != 1 or item.owner_branch != HOME_BRANCH:
                continue
            status = library.item_status(item.item_id)
            if status and status.state is ItemState.AVAILABLE and not status.holds_queue:
                ids.append(item.item_id)
    finally:
        library.close()
    missing = max(0, wanted - len(ids))
    if missing > len(EXTRA_BOOKS):
        sys.exit(f"bench: the demo data has {len(ids)} lendable books, {wanted} are needed")
    if missing:
        engine = create_engine(URL.create("sqlite", database=str(path)))
        with Session(engine) as session, session.begin():
            for item_id, title, author in EXTRA_BOOKS[:missing]:
                session.add(ItemRow(item_id=item_id, title=title, author=author))
        engine.dispose()
        ids += [item_id for item_id, _, _ in EXTRA_BOOKS[:missing]]

    def book(item_id: str) -> Book:
        tag = LibraryTag(item_id, 1, 1, COUNTRY, OWNER)
        return Book(item_id, demo_tag_uid(item_id, 1), encode_tag(tag))

    return [book(item_id) for item_id in ids[:wanted]]


class Stopwatch:
    """Adds up the time spent in some methods of one object, and the calls (the methods
    are wrapped on that instance only). Tells the radio and the library system apart
    from the kiosk's own work."""

    def __init__(self, target: Any, *names: str) -> None:
        self.seconds = 0.0
        self.calls = 0
        for name in names:
            setattr(target, name, self._timed(getattr(target, name)))

    def _timed(self, method: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


# --- a stack of ten on the pad ----------------------------------------------------------


def _wait_for(core: Any, status: Any, count: int) -> float:
    """Poll as the UI's worker does until `count` lines have `status`; seconds taken."""
    start = time.perf_counter()
    while True:
        core.poll_devices()
        done = [line for line in core.view.lines if line.status is status]
        if len(done) == count:
            return time.perf_counter() - start
        if time.perf_counter() - start > STACK_TIMEOUT_S:
            lines = {line.key: str(line.status) for line in core.view.lines}
            raise RuntimeError(f"after {STACK_TIMEOUT_S:.0f} s: {lines}")


def measure_stack(results: Results, rounds: int) -> None:
    from drivers.emulators.feig import Delays, FeigEmulator
    from drivers.emulators.field import RfidField
    from drivers.feig import FeigReader
    from drivers.sim import SimCardReader
    from kiosk.backends.demo_data import ANA, SAMPLE_PATRONS
    from kiosk.runtime import Runtime
    from kiosk.session import LineStatus, State

    lent_s: list[float] = []
    returned_s: list[float] = []
    pad_s: list[float] = []  # of lent_s: in the reader's driver, the pty and the radio
    sip2_s: list[float] = []  # of lent_s: SIP2 round trips, the demo library's work included
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as folder:
        config = bench_config(Path(folder))
        books = lendable_books(config, STACK_SIZE)
        rt = Runtime.open(config)
        # The configured "sim:" pad answers at once; this one takes the radio's time.
        field = RfidField()
        emulator = FeigEmulator(field, delays=Delays())
        reader = FeigReader(emulator.open_pty())
        try:
            rt.core.tag_reader = reader
            core = rt.core
            pad = Stopwatch(reader, "inventory", "write_afi", "read_afi")
            sip2 = Stopwatch(rt.backend.client, "request")  # type: ignore[attr-defined]
            cards = rt.card_reader
            assert isinstance(cards, SimCardReader)
            pin = next(p.pin for p in SAMPLE_PATRONS if p.card == ANA)
            afi = config.security
            for _ in range(rounds):
                field.clear()
                cards.tap(ANA)
                core.poll_devices()
                for digit in pin:
                    core.keypad_digit(digit)
                core.keypad_ok()
                assert core.view.state is State.CHECKOUT, core.view.state
                core.poll_devices()  # one empty inventory: the line is warm, the pad empty
                for book in books:
                    field.place(book.uid, book.data, afi=afi.afi_in_library)
                pad.reset()
                sip2.reset()
                lent_s.append(_wait_for(core, LineStatus.LENT, len(books)))
                pad_s.append(pad.seconds)
                sip2_s.append(sip2.seconds)
                assert all(field.tag(b.uid).afi == afi.afi_on_loan for b in books)
                core.finish()
                core.logout()
                # Carried home and brought back: the same stack on the return pad.
                field.clear()
                core.begin_return()
                core.poll_devices()
                for book in books:
                    field.place(book.uid, book.data, afi=afi.afi_on_loan)
                returned_s.append(_wait_for(core, LineStatus.RETURNED, len(books)))
                assert all(field.tag(b.uid).afi == afi.afi_in_library for b in books)
                core.finish()
                core.logout()
            outbox = rt.store.entries(limit=4 * rounds * len(books))
            assert {e.state for e in outbox} == {"confirmed"}, "an action was not confirmed"
        finally:
            reader.close()
            emulator.stop()
            rt.close()
    results["stack10_lent_s"] = round(statistics.median(lent_s), 3)
    results["stack10_lent_p90_s"] = round(p90(lent_s), 3)
    results["stack10_returned_s"] = round(statistics.median(returned_s), 3)
    results["stack10_returned_p90_s"] = round(p90(returned_s), 3)
    results["stack10_pad_s"] = round(statistics.median(pad_s), 3)
    results["stack10_sip2_s"] = round(statistics.median(sip2_s), 3)
    results["stack_rounds"] = rounds
    print(
        f"stack of {STACK_SIZE} over SIP2: all lent after {results['stack10_lent_s']:.3f} s "
        f"(p90 {results['stack10_lent_p90_s']:.3f}), all returned after "
        f"{results['stack10_returned_s']:.3f} s (p90 {results['stack10_returned_p90_s']:.3f}); "
        f"median of {rounds} rounds"
    )
    print("  lent, each round: " + " ".join(f"{s:.3f}" for s in lent_s))
    print(
        f"  of the time to lent: pad (driver, pty, radio) {results['stack10_pad_s']:.3f} s, "
        f"SIP2 round trips {results['stack10_sip2_s']:.3f} s, the rest is the kiosk's own "
        "(store writes, decoding, session)"
    )


# --- the outbox replayed --------------------------------------------------------------


def queue_actions(
    store: Any, books: list[Book], patrons: list[str], count: int, loan_days: int
) -> None:
    """`count` actions as the core writes them while offline: each book lent (with the due
    date the patron was given) and returned in turn, an hour or more ago, a second apart."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1, seconds=count)
    for n in range(count):
        turn = n // 2
        book = books[turn % len(books)]
        when = start + dt.timedelta(seconds=n)
        payload: dict[str, Any] = {
            "item_id": book.item_id,
            "when": when.isoformat(),
            "uids": [book.uid.hex()],
            "offline": True,
        }
        if n % 2 == 0:
            due = when.astimezone().date() + dt.timedelta(days=loan_days)
            patron = patrons[turn % len(patrons)]
            store.add_action("checkout", {"patron_id": patron, **payload, "due": due.isoformat()})
        else:
            store.add_action("checkin", payload)


def measure_replay(results: Results, actions: int) -> None:
    from kiosk.backends.demo import FEES_LIMIT_CENTS
    from kiosk.backends.demo_data import SAMPLE_PATRONS
    from kiosk.circulation import ItemState
    from kiosk.runtime import Runtime

    patrons = [
        p.card
        for p in SAMPLE_PATRONS
        if not (p.blocked or p.expired) and p.fees_cents < FEES_LIMIT_CENTS
    ]
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as folder:
        config = bench_config(Path(folder))
        books = lendable_books(config, STACK_SIZE)
        rt = Runtime.open(config)  # an empty outbox: nothing to replay at start
        try:
            queued = time.perf_counter()
            queue_actions(rt.store, books, patrons, actions, config.offline.loan_days)
            queued = time.perf_counter() - queued
            sip2 = Stopwatch(rt.backend.client, "request")  # type: ignore[attr-defined]
            start = time.perf_counter()
            settled = rt.core.recover()
            took = time.perf_counter() - start
            entries = rt.store.entries(limit=actions + 1)[::-1]  # oldest first
            states = {e.state for e in entries}
            if settled != actions or len(entries) != actions or states != {"confirmed"}:
                raise RuntimeError(
                    f"replay settled {settled} of {actions}; outbox states {sorted(states)}"
                )
            # Every book lent was returned (an odd count leaves the last one out).
            out = [b.item_id for b in books if rt.backend.item_status(b.item_id).state
                   is ItemState.ON_LOAN]  # fmt: skip
            assert len(out) == actions % 2, out
        finally:
            rt.close()
    results["replay_actions_per_s"] = round(actions / took, 1)
    results["replay_s"] = round(took, 2)
    results["replay_actions"] = actions
    results["replay_sip2_requests_per_action"] = round(sip2.calls / actions, 2)
    results["replay_sip2_share"] = round(sip2.seconds / took, 2)
    print(
        f"replay over SIP2: {actions} actions in {took:.2f} s, "
        f"{results['replay_actions_per_s']:.1f} actions/s, all confirmed "
        f"(queued in {queued:.1f} s, not timed)"
    )
    print(
        f"  {sip2.calls / actions:.2f} SIP2 requests an action, "
        f"{sip2.seconds / took:.0%} of the time in their round trips"
    )
    # Answers are stamped as they come: a replay slowing down as the tables grow shows here.
    step = actions // 10
    if step >= 100:
        tenths = [
            step / (entries[i + step - 1].updated_at - entries[i].updated_at).total_seconds()
            for i in range(0, 10 * step, step)
        ]
        print("  actions/s in each tenth: " + " ".join(f"{rate:.0f}" for rate in tenths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="stacks lent and returned")
    parser.add_argument("--actions", type=int, default=10_000, help="outbox actions replayed")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds, 100 actions")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.actions = 2, 100
    if args.rounds < 1 or args.actions < 1:
        parser.error("--rounds and --actions must be at least 1")
    logging.getLogger().setLevel(logging.ERROR)  # the core logs every loan at INFO
    results: Results = {}
    measure_stack(results, args.rounds)
    measure_replay(results, args.actions)
    results["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
