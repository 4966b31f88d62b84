"""`kiosk tour` writes one readable PNG per screen state, in both languages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageChops

STATES = [
    "attract",
    "identify-typing",
    "identify-pin-too-short",
    "checkout-empty",
    "checkout-items",
    "timeout-warning",
    "summary",
    "summary-receipt-printed",
    "identify-unknown-card",
    "return-items",
    "return-summary",
    "developer-tray",
    "account-loans",
    "account-renewed",
    "checkout-renewable",
    "checkout-renewed",
    "account-holds",
    "account-fees",
    "offline-checkout",
    "offline-account",
]


def test_tour_renders_every_state_in_both_languages(tmp_path: Path) -> None:
    out = tmp_path / "tour"
    env = os.environ | {"KIVY_HOME": str(tmp_path / "kivy")}
    done = subprocess.run(
        [sys.executable, "-m", "screens.cli", "tour", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for lang in ("sl", "en"):
        names = sorted(p.name for p in out.glob(f"{lang}-*.png"))
        assert names == [f"{lang}-{i:02d}-{s}.png" for i, s in enumerate(STATES, 1)]
        for name in names:
            with Image.open(out / name) as image:
                assert image.size == (1280, 800)
                rgb = image.convert("RGB")
                # Readable: not one flat colour, real contrast, text-like detail.
                colours = rgb.getcolors(maxcolors=1 << 16)
                assert colours is None or len(colours) > 50, name
                low, high = rgb.convert("L").getextrema()
                assert high - low > 150, name
    # The languages really differ on screen, and states differ from each other.
    with Image.open(out / "sl-01-attract.png") as sl, Image.open(out / "en-01-attract.png") as en:
        assert ImageChops.difference(sl.convert("RGB"), en.convert("RGB")).getbbox() is not None
    for before, after in (
        ("checkout-empty", "checkout-items"),
        ("summary", "summary-receipt-printed"),
        ("account-loans", "account-renewed"),
        ("checkout-renewable", "checkout-renewed"),
    ):
        with (
            Image.open(out / f"sl-{STATES.index(before) + 1:02d}-{before}.png") as first,
            Image.open(out / f"sl-{STATES.index(after) + 1:02d}-{after}.png") as second,
        ):
            diff = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
            assert diff.getbbox() is not None, (before, after)
