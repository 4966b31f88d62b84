"""The kiosk's client of the central API (events, registrations, device health).

Pure Python over HTTP (requests); it never imports the server's package. See
`client.CentralClient` for the API, `results` for what it returns, and
central/openapi.json for the contract it speaks.
"""

from kiosk.central_client.client import CentralClient
from kiosk.central_client.configure import open_central_client, settings_from_config
from kiosk.central_client.context import CENTRAL_KINDS, CentralClientSettings, make_card_token
from kiosk.central_client.fleet import counter_name, mapped_counters
from kiosk.central_client.remote_config import RemoteConfigApplier
from kiosk.central_client.results import (
    CancelOutcome,
    CentralStatus,
    CheckInOutcome,
    EventInfo,
    RegistrationInfo,
    RegistrationOutcome,
    SyncReport,
)

__all__ = [
    "CENTRAL_KINDS",
    "CancelOutcome",
    "CentralClient",
    "CentralClientSettings",
    "CentralStatus",
    "CheckInOutcome",
    "EventInfo",
    "RegistrationInfo",
    "RegistrationOutcome",
    "RemoteConfigApplier",
    "SyncReport",
    "counter_name",
    "make_card_token",
    "mapped_counters",
    "open_central_client",
    "settings_from_config",
]
