"""The developer tray of the demo: tap sample cards, place and lift sample tags.

It drives the simulated devices exactly as hardware would be driven (the core
polls them), so the demo exercises the same path as a real kiosk. Its labels
are for developers and demonstrators, not patrons. Loaded only when the
configuration asks for it and the devices are simulated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from kivy.factory import Factory
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from drivers.sim import SimCardReader, SimTagReader
from kiosk.demo import DemoCard, DemoTag, demo_cards, demo_tags

if TYPE_CHECKING:
    from kiosk.runtime import Runtime


class SimulatedDevices(NamedTuple):
    pad: SimTagReader
    cards: SimCardReader


def simulated_devices(runtime: Runtime) -> SimulatedDevices | None:
    """The runtime's devices when both are simulated (the tray has nothing to drive otherwise)."""
    pad, cards = runtime.tag_reader, runtime.card_reader
    if isinstance(pad, SimTagReader) and isinstance(cards, SimCardReader):
        return SimulatedDevices(pad, cards)
    return None


class DevTray(BoxLayout):
    def __init__(self, *, devices: SimulatedDevices, on_close: Callable[[], None]) -> None:
        super().__init__()
        self.devices = devices
        self.on_close = on_close
        self._filled = False

    def on_touch_down(self, touch: object) -> bool:
        # Hidden (and disabled), the tray must not swallow touches meant for the kiosk.
        if self.opacity == 0:
            return False
        return super().on_touch_down(touch)

    def fill_once(self) -> None:
        if self._filled:
            return
        self._filled = True
        box = self.ids.content
        self._add(box, Factory.TrayButton(text="Close the tray"), "tray-close", self.on_close)
        box.add_widget(_heading("Cards: tap (PIN shown)"))
        for card in demo_cards():
            button = Factory.TrayButton(text=f"{card.label} · PIN {card.pin}")
            self._add(box, button, f"tray-card-{card.card}", lambda c=card: self._tap(c))
        box.add_widget(_heading("Items: place / lift"))
        for tag in demo_tags():
            button = Factory.TrayToggle(text=tag.label)
            button.tid = f"tray-tag-{tag.uid.hex()}"
            button.bind(state=lambda _b, state, t=tag: self._place(t, state == "down"))
            box.add_widget(button)

    @staticmethod
    def _add(box: BoxLayout, button: object, tid: str, action: Callable[[], None]) -> None:
        button.tid = tid  # type: ignore[attr-defined]
        button.bind(on_release=lambda _b: action())  # type: ignore[attr-defined]
        box.add_widget(button)

    def _tap(self, card: DemoCard) -> None:
        self.devices.cards.tap(card.card)

    def _place(self, tag: DemoTag, placed: bool) -> None:
        if placed:
            self.devices.pad.place(tag.uid, tag.data)
        else:
            self.devices.pad.lift(tag.uid)


def _heading(text: str) -> Label:
    return Label(text=text, bold=True, font_size=sp(18), size_hint_y=None, height=dp(40))
