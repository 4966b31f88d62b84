"""The patron screens. Their layout is in one .kv file each, loaded on first use."""

from __future__ import annotations

from screens.widgets import KioskScreen


class AttractScreen(KioskScreen):
    pass


class IdentifyScreen(KioskScreen):
    pass


class ItemsScreen(KioskScreen):
    """Borrowing and returning share a screen: a live list of what is on the pad."""


class SummaryScreen(KioskScreen):
    pass


# state → (screen name, class, kv file)
SCREENS: dict[str, tuple[str, type[KioskScreen], str]] = {
    "idle": ("attract", AttractScreen, "attract.kv"),
    "identify": ("identify", IdentifyScreen, "identify.kv"),
    "checkout": ("items", ItemsScreen, "items.kv"),
    "return": ("items", ItemsScreen, "items.kv"),
    "summary": ("summary", SummaryScreen, "summary.kv"),
}
