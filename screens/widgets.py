"""Widgets shared by the screens. Layout lives in widgets.kv."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen

from screens import theme


class KLabel(Label):
    """A label that wraps to its width; `tid` names it for the harness and tests."""

    tid = StringProperty("")
    # Kivy keeps every rule's binding, so instances raise this instead of setting height.
    min_height = NumericProperty(theme.TOUCH_MIN * 0.5)


class KButton(ButtonBehavior, Label):
    """A large touch target with a visible pressed state (feedback within one frame)."""

    tid = StringProperty("")
    bg = ColorProperty(theme.PRIMARY)
    bg_pressed = ColorProperty(theme.PRIMARY_PRESSED)
    fg = ColorProperty(theme.ON_PRIMARY)
    # Kivy keeps every rule's binding, so instances raise this instead of setting height.
    min_height = NumericProperty(theme.BUTTON_H)

    def on_touch_down(self, touch: Any) -> bool:
        # A hidden button (opacity 0) takes no touch: it must not catch a finger meant
        # for what is drawn there instead (a disabled one would swallow it).
        if self.opacity == 0:
            return False
        return bool(super().on_touch_down(touch))


class ItemRow(BoxLayout):
    """One item in a borrow or return list (a RecycleView row)."""

    key = StringProperty("")
    title = StringProperty("")
    status = StringProperty("")
    detail = StringProperty("")
    tone = StringProperty("busy")
    can_renew = BooleanProperty(False)  # already lent to this patron: a "Renew" button


class AccountLoanRow(BoxLayout):
    """One loan on the account screen, with its own "Renew" button while it can be tried."""

    item_id = StringProperty("")
    title = StringProperty("")
    due = StringProperty("")
    detail = StringProperty("")
    tone = StringProperty("neutral")
    can_renew = BooleanProperty(False)


class KioskScreen(Screen):
    """Base of every patron screen: one per state, one .kv file each."""
