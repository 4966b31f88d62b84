"""The patron screens. Their layout is in one .kv file each, loaded on first use."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.factory import Factory

from screens import theme
from screens.widgets import KioskScreen


class AttractScreen(KioskScreen):
    pass


class IdentifyScreen(KioskScreen):
    pass


class ItemsScreen(KioskScreen):
    """Borrowing and returning share a screen: a live list of what is on the pad.

    "My account" is there only while borrowing (returning needs no card). It is taken
    out of the button row rather than hidden, so the other buttons share the width."""

    def on_kv_post(self, base_widget: Any) -> None:
        self._account_button = self.ids.account.__self__  # kept while out of the row
        app = App.get_running_app()
        app.bind(session_state=self._show_account_button)
        self._show_account_button(app, app.session_state)

    def _show_account_button(self, _app: Any, state: str) -> None:
        row, button = self.ids.actions, self._account_button
        if state == "checkout" and button.parent is None:
            row.add_widget(button, index=1)  # between "Log out" and "Finish"
        elif state != "checkout" and button.parent is not None:
            row.remove_widget(button)


class AccountScreen(KioskScreen):
    """Loans (renew one or all), holds ready for pickup, fees."""


class SummaryScreen(KioskScreen):
    """What was done, and the receipt choice: one big button per kind the library offers."""

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(receipt_choices=self._show_choices)
        self._show_choices(app, app.receipt_choices)

    def _show_choices(self, app: Any, choices: list[list[str]]) -> None:
        row = self.ids.receipt_choices
        row.clear_widgets()
        for kind, label in choices:
            button = Factory.KButton(text=label)
            button.tid = f"receipt-{kind}"
            if kind == "none":  # the quiet choice looks like the other "no" buttons
                button.bg, button.fg = theme.SECONDARY, theme.TEXT
            button.bind(on_release=lambda _b, kind=kind: app.act("choose_receipt", kind))
            row.add_widget(button)


# state → (screen name, class, kv file)
SCREENS: dict[str, tuple[str, type[KioskScreen], str]] = {
    "idle": ("attract", AttractScreen, "attract.kv"),
    "identify": ("identify", IdentifyScreen, "identify.kv"),
    "checkout": ("items", ItemsScreen, "items.kv"),
    "return": ("items", ItemsScreen, "items.kv"),
    "account": ("account", AccountScreen, "account.kv"),
    "summary": ("summary", SummaryScreen, "summary.kv"),
}
