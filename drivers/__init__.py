"""Hardware drivers. Never import kiosk/ or screens/: speak bytes, return plain data."""
