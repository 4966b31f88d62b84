"""The central API's reference server: events, registrations, device fleet.

A separate service the kiosk talks to over HTTP. It never imports the kiosk
packages (``kiosk``, ``drivers``, ``screens``); the contract between the two is
the OpenAPI document ``central/openapi.json``.
"""

from __future__ import annotations

# Version of the contract (info.version in openapi.json). Paths carry the major
# version; a change that breaks clients needs /api/v2.
API_VERSION = "1.0.0"
API_PREFIX = "/api/v1"
TIME_ZONE = "Europe/Ljubljana"
