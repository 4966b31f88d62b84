"""The demo journey through the real UI, with simulated touches: a patron taps
a card (developer tray), types the PIN on the keypad, places a book (tray),
sees it lent with its due date, finishes and is logged out. Then the same
app: language switch in place, the logout warning, touch target sizes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from kiosk.backends.demo_data import ANA, SAMPLE_ITEMS, SAMPLE_PATRONS
from kiosk.demo import demo_tags
from kiosk.i18n import Localizer
from kiosk.runtime import Runtime
from screens.tour import OffsetClock
from tests.helpers import demo_config_in

BOOK = next(
    i for i in SAMPLE_ITEMS if i.parts == 1 and not (i.reference_only or i.hold_for or i.on_loan_to)
)
PIN = next(p.pin for p in SAMPLE_PATRONS if p.card == ANA)
SL, EN = Localizer("sl"), Localizer("en")


def test_demo_journey_through_the_ui(tmp_path: Path) -> None:
    config = demo_config_in(tmp_path / "data")
    from screens.launch import _prepare

    _prepare(config, width=1280, height=800)
    from screens.app import KioskApp
    from screens.harness import run_script

    clock = OffsetClock()
    runtime = Runtime.open(config, clock=clock)
    seen: dict[str, object] = {}

    def script(h):
        yield
        assert h.app.view.state == "idle"
        assert SL._("Borrow") in h.screen_text()
        # Every touch target a patron can reach is at least 44 px both ways.
        for widget in h.widgets():
            if hasattr(widget, "tid") and widget.tid and hasattr(widget, "on_release"):
                assert widget.width >= 44 and widget.height >= 44, (widget.tid, widget.size)
        # Language switch re-renders in place, and back.
        h.tap("lang-en")
        yield
        assert h.text("borrow") == "Borrow" and h.app.language == "en"
        h.tap("lang-sl")
        yield
        assert h.text("borrow") == SL._("Borrow")
        # Tap the card on the (simulated) reader through the developer tray.
        h.tap("tray-toggle")
        yield
        h.tap(f"tray-card-{ANA}")
        yield 0.5
        h.tap("tray-close")
        yield
        assert h.app.view.state == "identify"
        assert h.text("keypad-label") == SL._("Card read. Please enter your PIN.")
        for digit in PIN:
            h.tap(f"key-{digit}")
            yield
        assert h.text("keypad-display") == "●" * len(PIN)
        assert PIN not in h.screen_text()
        h.tap("key-ok")
        yield
        assert h.app.view.state == "checkout"
        assert h.text("greeting") == SL._("Hello, {name}!", name="Ana")
        # Place the book on the (simulated) pad through the tray.
        tag = next(t for t in demo_tags() if t.item_id == BOOK.item_id)
        h.tap("tray-toggle")
        yield
        h.tap(f"tray-tag-{tag.uid.hex()}")
        yield 0.6
        h.tap("tray-close")
        yield
        due = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=21)
        rows = h.app.rows
        assert [(r["title"], r["status"]) for r in rows] == [(BOOK.title, SL._("Borrowed"))]
        assert rows[0]["detail"] == SL._("Due back by {date}", date=SL.date(due))
        assert BOOK.title in h.screen_text() and SL.date(due) in h.screen_text()
        h.tap("finish")
        yield
        assert h.app.view.state == "summary"
        assert h.text("summary-headline") == SL.ngettext(
            "You borrowed {n} item.", "You borrowed {n} items.", 1
        )
        h.tap("done")
        yield
        assert h.app.view.state == "idle"
        assert "Ana" not in h.screen_text() and BOOK.title not in h.screen_text()
        # The logout warning: shown with time to extend; extending keeps the session.
        h.tap("borrow")
        yield
        clock.offset += config.session.timeout_s - config.session.warning_s + 1
        yield 1.2
        assert h.app.warning, "no warning before logout"
        assert h.app.view.warning_s >= config.session.warning_s - 2
        h.tap("extend")
        yield
        assert not h.app.warning and h.app.view.state == "identify"
        clock.offset += config.session.timeout_s + 1
        yield 1.2
        assert h.app.view.state == "idle"
        # The book reader is unplugged: the patron is told plainly, the kiosk carries on.
        runtime.tag_reader.clear()  # the borrowed book has gone home with Ana
        runtime.tag_reader.set_unplugged(True)
        h.tap("return")
        yield 0.8
        trouble = SL._(
            "The book reader is not working right now. Please ask at the desk; "
            "your account still works here."
        )
        assert trouble in h.screen_text()
        runtime.tag_reader.set_unplugged(False)  # plugged back in: picked up again
        yield 0.8
        assert trouble not in h.screen_text()
        seen["done"] = True

    try:
        harness = run_script(KioskApp(config, lambda: runtime, dev_tray=True), script)
    finally:
        runtime.close()
    assert harness.failure is None, harness.failure
    assert seen.get("done")
    db = sqlite3.connect(config.demo_database_path())
    try:
        loans = db.execute(
            "SELECT card FROM loans WHERE item_id = ? AND returned_at IS NULL", (BOOK.item_id,)
        ).fetchall()
    finally:
        db.close()
    assert loans == [(ANA,)]
    reopened = Runtime.open(config)
    try:
        checkouts = [e for e in reopened.store.entries() if e.kind == "checkout"]
        assert [(e.payload["item_id"], e.state) for e in checkouts] == [(BOOK.item_id, "confirmed")]
    finally:
        reopened.close()
