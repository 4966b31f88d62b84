"""Widgets shared by the screens. Layout lives in widgets.kv."""

from __future__ import annotations

from kivy.properties import ColorProperty, NumericProperty, StringProperty
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


class ItemRow(BoxLayout):
    """One item in a borrow or return list (a RecycleView row)."""

    key = StringProperty("")
    title = StringProperty("")
    status = StringProperty("")
    detail = StringProperty("")
    tone = StringProperty("busy")


class KioskScreen(Screen):
    """Base of every patron screen: one per state, one .kv file each."""
