"""Library self-service kiosk: the core. Pure Python; never imports Kivy."""

__version__ = "0.1.0"
