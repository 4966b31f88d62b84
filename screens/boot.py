"""Prepare Kivy before its first import: quiet, no argument parsing, our window size.

Kivy reads its settings when first imported and creates the window when
`kivy.core.window` is imported, so this must run before anything else of Kivy.
"""

from __future__ import annotations

import os
from pathlib import Path


def prepare_kivy(
    *,
    kivy_home: Path,
    width: int,
    height: int,
    fullscreen: bool = False,
    show_cursor: bool = True,
    console_log: bool = False,
) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    if not console_log:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_HOME", str(kivy_home))

    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "show_cursor", "1" if show_cursor else "0")
    Config.set("graphics", "resizable", "0")
    # Touch screens only: no red multitouch dots from right clicks, no escape-to-quit.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "warning")
