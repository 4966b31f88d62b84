"""Kivy user interface: observes the core, forwards touches, holds no business state."""
