"""Drive the running app like a patron: find widgets, touch them, wait, look.

Used by `kiosk tour`, the UI tests and the start-up benchmark. A script is a
generator run on the Kivy clock: every `yield` waits until the core has
finished the work the touches started and the new view is on screen.
Touches go through Kivy's input dispatch at the widget's window position,
so hit-testing, disabled widgets and overlays count as they do for a finger.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import traceback
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.input.motionevent import MotionEvent
from kivy.uix.widget import Widget

log = logging.getLogger(__name__)
SETTLE_FRAMES = 3
Script = Callable[["Harness"], Generator[float | None, None, None]]
_touch_ids = itertools.count(1000)


class SimTouch(MotionEvent):
    """A finger at a window position, dispatched like a real touch screen's."""

    def __init__(self, x: float, y: float) -> None:
        super().__init__(
            "harness",
            next(_touch_ids),
            {"x": x / (Window.width - 1.0), "y": y / (Window.height - 1.0)},
            is_touch=True,
            type_id="touch",
        )
        self.profile = ["pos"]

    def depack(self, args: dict[str, float]) -> None:
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)


class Harness:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.failure: str | None = None
        self._shots: list[Path] = []
        Window.bind(on_flip=self._take_shots)

    # --- finding -------------------------------------------------------------------------
    def widgets(self) -> Iterator[Widget]:
        for child in Window.children:
            yield from child.walk(restrict=True)

    def find_all(self, tid: str) -> list[Widget]:
        return [w for w in self.widgets() if getattr(w, "tid", None) == tid and _shown(w)]

    def find(self, tid: str) -> Widget:
        found = self.find_all(tid)
        if not found:
            hidden = [
                (w.to_window(*w.center), w.opacity)
                for w in self.widgets()
                if getattr(w, "tid", None) == tid
            ]
            raise LookupError(f"nothing on screen is called {tid!r} (hidden: {hidden})")
        return found[0]

    def find_all_widgets(self, cls: type) -> list[Widget]:
        """Every widget of a kind a patron can see now (buttons, rows…)."""
        return [w for w in self.widgets() if isinstance(w, cls) and _shown(w)]

    def text(self, tid: str) -> str:
        return str(self.find(tid).text)

    def screen_text(self) -> str:
        """All text visible now, in widget order: what a patron can read."""
        return "\n".join(
            str(w.text) for w in self.widgets() if _shown(w) and getattr(w, "text", "")
        )

    # --- touching ------------------------------------------------------------------------
    def tap(self, tid: str) -> None:
        self.tap_widget(self.find(tid))

    def tap_widget(self, widget: Widget) -> None:
        x, y = widget.to_window(*widget.center)
        touch = SimTouch(x, y)
        EventLoop.post_dispatch_input("begin", touch)
        EventLoop.post_dispatch_input("end", touch)

    # --- looking ---------------------------------------------------------------------------
    def screenshot(self, path: Path) -> Path:
        """Photograph the next frame (taken before the buffer swap, when it is complete).
        The script must `yield` before touching anything else, or the touch shows."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._shots.append(path)
        Window.canvas.ask_update()
        return path

    @property
    def shooting(self) -> bool:
        return bool(self._shots)

    def _take_shots(self, *_args: Any) -> None:
        while self._shots:
            path = self._shots.pop(0)
            written = Window.screenshot(name=str(path.with_suffix("")) + ".png")
            # Kivy appends a counter to the name; keep the name the caller asked for.
            shutil.move(written, path)


def _shown(widget: Widget) -> bool:
    """On screen for a patron: every ancestor visible and inside the window."""
    w: Widget | None = widget
    while w is not None and w is not w.parent:
        if getattr(w, "opacity", 1) == 0:
            return False
        manager = getattr(w, "manager", None)
        if manager is not None and manager.current_screen is not w:
            return False
        w = w.parent
        if w is Window:
            break
    x, y = widget.to_window(*widget.center)
    return 0 <= x <= Window.width and 0 <= y <= Window.height


def run_script(app: Any, script: Script) -> Harness:
    """Run `app` with `script` driving it; returns the harness (check `.failure`)."""
    harness = Harness(app)
    # One last step after the script's own, so its final screenshot is taken.
    steps = itertools.chain(script(harness), [None])
    state = {"frames": 0, "wait_until": 0.0}

    def step(_dt: float) -> None:
        if Clock.get_time() < state["wait_until"] or not app.is_settled() or harness.shooting:
            state["frames"] = 0
            return
        state["frames"] += 1
        if state["frames"] < SETTLE_FRAMES:  # let the new view be laid out and drawn
            return
        state["frames"] = 0
        try:
            delay = next(steps)
        except StopIteration:
            finish()
            return
        except Exception:
            harness.failure = traceback.format_exc()
            finish()
            return
        state["wait_until"] = Clock.get_time() + (delay or 0)

    def finish() -> None:
        event.cancel()
        app.stop()

    event = Clock.schedule_interval(step, 0)
    app.run()
    return harness
