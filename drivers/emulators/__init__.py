"""Emulators that speak real device protocols over a pty pair, for the demo and the tests."""
