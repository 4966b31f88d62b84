"""SIP2 codec throughput: parse and build a realistic mix, against the SIP2 packages on PyPI.

The mix is what a self-check kiosk exchanges most: a checkout request and its
answer, a checkin answer, and a patron information answer with its summary
counts and ten loans (AU), all UTF-8 with Slovenian letters, sequence numbers
and checksums. Our codec parses with full validation (checksum verified, every
fixed field typed and checked, required fields, field identifiers) and builds
with every value checked.

In the same run, when they import, the same bytes are parsed by:
- `pysip2` (PyPI, msgspec-based codec): `pysip2.decode_message`;
- `sip2` (PyPI, module `Sip2`): its `sip_*_response` parsers, which exist for
  answers only, so it is measured on the three answers (and ours again on those).
They are benchmark-only: `pip install pysip2 sip2` into the venv (see bench/README.md).

Each figure is the best of N runs (default 5) of about one second, runs of the
contenders interleaved so that a slow moment of the machine hits them alike.

Usage: python bench/sip2_codec.py [--runs N] [--seconds S]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.sip2 import (
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    Codec,
    Message,
    PatronInformationResponse,
)

NOW = dt.datetime(2025, 12, 1, 10, 15, 30)
DUE = dt.datetime(2025, 12, 22, 23, 59, 59)
PATRON = "0105012345"
ITEM = "30500012345678"
TITLE = "Šolske pesmi / Tone Pavček"


def the_mix(nb_due_date: dt.datetime | None) -> list[Message]:
    checkout = CheckoutRequest(
        sc_renewal_policy=True,
        transaction_date=NOW,
        nb_due_date=nb_due_date,
        institution_id="SI-50001",
        patron_identifier=PATRON,
        item_identifier=ITEM,
        terminal_password="",
        patron_password="1234",
    )
    checkout_answer = CheckoutResponse(
        ok=True,
        renewal_ok=False,
        magnetic_media=False,
        desensitize=True,
        transaction_date=NOW,
        institution_id="SI-50001",
        patron_identifier=PATRON,
        item_identifier=ITEM,
        title_identifier=TITLE,
        due_date="20251222    235959",
        media_type="001",
        screen_message=("Izposoja uspešna. Vrnite do 22. 12. 2025.",),
    )
    checkin_answer = CheckinResponse(
        ok=True,
        resensitize=True,
        magnetic_media=False,
        alert=False,
        transaction_date=NOW,
        institution_id="SI-50001",
        item_identifier=ITEM,
        permanent_location="Oddelek za odrasle",
        title_identifier=TITLE,
        sort_bin="1",
        patron_identifier=PATRON,
        media_type="001",
    )
    account = PatronInformationResponse(
        transaction_date=NOW,
        hold_items_count=1,
        overdue_items_count=0,
        charged_items_count=10,
        fine_items_count=0,
        recall_items_count=0,
        unavailable_holds_count=0,
        institution_id="SI-50001",
        patron_identifier=PATRON,
        personal_name="Žiga Čuk Šešlja",
        charged_items_limit="0030",
        valid_patron=True,
        valid_patron_password=True,
        currency_type="EUR",
        fee_amount="0.00",
        charged_items=tuple(f"3050001234{i:04d}" for i in range(10)),
        email_address="ziga@example.si",
        screen_message=("Dobrodošli",),
    )
    return [checkout, checkout_answer, checkin_answer, account]


def rate(work: Callable[[Any], object], items: Sequence[Any], seconds: float) -> float:
    """Messages per second over about `seconds`, the mix repeated in batches of ten."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10):
            for item in items:
                work(item)
        done += 10 * len(items)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


# --------------------------------------------------------------------------- the others


def pysip2_parser(wires: list[bytes], notes: list[str]) -> Callable[[bytes], object] | None:
    try:
        import pysip2  # type: ignore[import-not-found]
    except ImportError:
        notes.append("pysip2: not installed (pip install pysip2)")
        return None

    def parse(wire: bytes) -> object:
        return pysip2.decode_message(wire, encoding="utf-8")

    for wire in wires:
        try:
            parse(wire)
        except Exception as exc:  # its own error types; anything means "cannot compare"
            notes.append(f"pysip2: cannot parse {wire[:2].decode()}: {exc}")
            return None
    return parse


def pysip2_builder(messages: list[Message], notes: list[str]) -> tuple[Any, list[Any]] | None:
    """pysip2's models of the same messages, checked to encode to the same bytes."""
    try:
        import pysip2
    except ImportError:
        return None
    codec = Codec(line_ending=b"\r")
    models = []
    for message in messages:
        wire = codec.encode(message)
        model = pysip2.decode_message(wire, encoding="utf-8").message
        again = pysip2.encode_message(model, sequence_number=0, checksum=True, encoding="utf-8")
        if again != wire:  # field order may differ: still the same work, note it
            notes.append(f"pysip2: builds {wire[:2].decode()} with its own field order")
        models.append(model)

    def build(model: Any) -> bytes:
        return pysip2.encode_message(model, sequence_number=0, checksum=True, encoding="utf-8")

    return build, models


def sip2_parser(wires: list[bytes], notes: list[str]) -> Callable[[bytes], object] | None:
    try:
        from Sip2.sip2 import Sip2  # type: ignore[import-not-found]
    except ImportError:
        notes.append("sip2: not installed (pip install sip2)")
        return None

    class QuietSip2(Sip2):  # its __del__ prints to stdout, after our last line
        def __del__(self) -> None:
            pass

    client = QuietSip2()
    parsers = {
        "12": client.sip_checkout_response,
        "10": client.sip_checkin_response,
        "64": client.sip_patron_information_response,
    }

    def parse(wire: bytes) -> object:
        # It takes text: decoding is part of its work as it is of ours.
        return parsers[wire[:2].decode()](wire.decode("utf-8"))

    for wire in wires:
        parse(wire)
    return parse


# --------------------------------------------------------------------------- main


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (best is kept)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one run")
    args = parser.parse_args()

    codec = Codec(charset="utf-8", checksums=True)
    notes: list[str] = []
    # pysip2 refuses a checkout with a blank "nb due date" (the everyday case: no
    # store-and-forward), so the compared mix carries one; ours reads both.
    mix = the_mix(nb_due_date=DUE)
    wires = [codec.encode(m, sequence=i) for i, m in enumerate(mix)]
    answers = wires[1:]
    for message, wire in zip(mix, wires, strict=True):
        assert codec.decode(wire).message == message
    everyday = codec.encode(the_mix(nb_due_date=None)[0])
    check = pysip2_parser([everyday], [])
    if check is None and pysip2_parser([], []) is not None:
        notes.append("pysip2: refuses a checkout request with a blank nb due date (18 spaces)")

    contenders: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "parse": (codec.decode, wires),
        "parse_answers": (codec.decode, answers),
        "build": (lambda m: codec.encode(m, sequence=3), mix),
    }
    pysip2_parse = pysip2_parser(wires, notes)
    if pysip2_parse is not None:
        contenders["pysip2_parse"] = (pysip2_parse, wires)
        built = pysip2_builder(mix, notes)
        if built is not None:
            contenders["pysip2_build"] = built
    sip2_parse = sip2_parser(answers, notes)
    if sip2_parse is not None:
        notes.append("sip2: has parsers for answers only; compared on the three answers")
        contenders["sip2_parse_answers"] = (sip2_parse, answers)

    best = dict.fromkeys(contenders, 0.0)
    for _ in range(args.runs):
        for name, (work, items) in contenders.items():
            best[name] = max(best[name], rate(work, items, args.seconds))

    def figure(name: str) -> float | None:
        return round(best[name]) if name in best else None

    def ratio(ours: str, theirs: str) -> float | None:
        return round(best[ours] / best[theirs], 2) if theirs in best else None

    result: dict[str, Any] = {
        "parse_msgs_per_s": figure("parse"),
        "build_msgs_per_s": figure("build"),
        "pysip2_parse_msgs_per_s": figure("pysip2_parse"),
        "pysip2_build_msgs_per_s": figure("pysip2_build"),
        "parse_vs_pysip2": ratio("parse", "pysip2_parse"),
        "sip2_parse_msgs_per_s": figure("sip2_parse_answers"),
        "parse_answers_msgs_per_s": figure("parse_answers"),
        "parse_answers_vs_sip2": ratio("parse_answers", "sip2_parse_answers"),
        "runs": args.runs,
        "machine": machine(),
    }
    print(f"mix: {len(wires)} messages, {sum(map(len, wires))} bytes, UTF-8 with checksums")
    print(f"ours   parse {result['parse_msgs_per_s']:>9} msg/s (full validation)")
    print(f"ours   build {result['build_msgs_per_s']:>9} msg/s")
    if "pysip2_parse" in best:
        print(
            f"pysip2 parse {result['pysip2_parse_msgs_per_s']:>9} msg/s;"
            f" ours x{result['parse_vs_pysip2']}"
        )
    if "pysip2_build" in best:
        print(f"pysip2 build {result['pysip2_build_msgs_per_s']:>9} msg/s")
    if "sip2_parse_answers" in best:
        print(
            f"sip2   parse {result['sip2_parse_msgs_per_s']:>9} msg/s on the answers; ours"
            f" {result['parse_answers_msgs_per_s']} (x{result['parse_answers_vs_sip2']})"
        )
    for note in notes:
        print(f"note: {note}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
