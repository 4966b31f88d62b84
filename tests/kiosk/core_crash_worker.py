"""Run borrow-and-return journeys on the demo kiosk forever (until killed).

Started by test_crash_recovery.py, which kills it with SIGKILL at a random
moment. Prints one line per completed journey step so the test knows it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kiosk.backends.demo_data import ANA, SAMPLE_ITEMS, SAMPLE_PATRONS
from kiosk.demo import demo_tags
from kiosk.runtime import Runtime
from tests.helpers import demo_config_in

ITEMS = [
    i for i in SAMPLE_ITEMS if i.parts == 1 and not (i.reference_only or i.hold_for or i.on_loan_to)
][:4]
PIN = next(p.pin for p in SAMPLE_PATRONS if p.card == ANA)


def main(data_dir: str, over_sip2: bool) -> None:
    rt = Runtime.open(demo_config_in(Path(data_dir), over_sip2=over_sip2))
    core, pad = rt.core, rt.tag_reader
    tags = [t for t in demo_tags() if t.item_id in {i.item_id for i in ITEMS}]
    while True:
        rt.card_reader.tap(ANA)
        core.poll_devices()
        for digit in PIN:
            core.keypad_digit(digit)
        core.keypad_ok()
        for tag in tags:
            pad.place(tag.uid, tag.data)
            core.poll_devices()
        core.poll_devices()  # the pad trusts a tag after rfid.min_reads inventories
        core.logout()
        print("borrowed", flush=True)
        core.begin_return()
        core.poll_devices()
        core.poll_devices()
        core.logout()
        pad.clear()
        print("returned", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "sip2")
