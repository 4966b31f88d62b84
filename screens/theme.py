"""Colours and sizes shared by every screen (WCAG AA contrast or better)."""

from kivy.metrics import dp, sp
from kivy.utils import get_color_from_hex as hex_

BACKGROUND = hex_("#F7F5F0")
SURFACE = hex_("#FFFFFF")
TEXT = hex_("#1B1B1B")  # 16.8:1 on BACKGROUND
MUTED = hex_("#4A4A4A")  # 8.3:1 on BACKGROUND
PRIMARY = hex_("#0B5D75")  # white on it 7.1:1
PRIMARY_PRESSED = hex_("#073F50")
ON_PRIMARY = hex_("#FFFFFF")
SECONDARY = hex_("#E3EEF1")
GOOD = hex_("#1E6B33")  # white on it 6.6:1
BAD = hex_("#A8251C")  # white on it 7.0:1
ATTENTION = hex_("#8A4B00")  # white on it 6.3:1
BUSY = hex_("#4A4A4A")
SCRIM = (0, 0, 0, 0.55)
TRAY = hex_("#2B2B2B")

TONES = {"good": GOOD, "bad": BAD, "attention": ATTENTION, "busy": BUSY, "neutral": PRIMARY}
# Text in a tone's colour on SURFACE (each 6:1 or better on white).
TONE_TEXT = {"good": GOOD, "bad": BAD, "attention": ATTENTION, "busy": MUTED, "neutral": MUTED}

# Touch targets: at least 44 px; patrons get larger ones.
TOUCH_MIN = dp(44)
BUTTON_H = dp(72)
KEY = dp(88)
PAD = dp(24)

FONT_BODY = sp(22)
FONT_BUTTON = sp(26)
FONT_TITLE = sp(40)
FONT_HUGE = sp(52)
