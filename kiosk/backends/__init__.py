"""Circulation backends, chosen by `[backend] kind` in the configuration.

- `demo`: the embedded demo library. With `backend.demo.over_sip2` it is served
  by the SIP2 server on loopback and reached through the SIP2 client, so the
  demo runs the same protocol path as a kiosk at a real library.
- `sip2`: the library system over SIP2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.circulation import CirculationBackend

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

DEMO_SIP2_USER = DEMO_SIP2_PASSWORD = "kiosk"


def make_backend(config: KioskConfig) -> CirculationBackend:
    from kiosk.backends.demo import DemoLibrary

    if config.backend.kind == "sip2":
        return _sip2_backend(config)
    library = DemoLibrary(config.demo_database_path(), loan_days=config.backend.demo.loan_days)
    if not config.backend.demo.over_sip2:
        return library
    return _demo_over_sip2(library)


def _sip2_backend(config: KioskConfig) -> CirculationBackend:
    from kiosk.backends.sip2 import Sip2Backend
    from kiosk.sip2.client import Sip2Client, Sip2Settings

    section = config.backend.sip2
    assert section is not None  # the configuration requires it for kind = "sip2"
    settings = Sip2Settings.from_config(section, config.source.parent)
    return Sip2Backend(
        Sip2Client(settings),
        institution_id=section.institution_id,
        location_code=section.location_code,
        terminal_password=settings.terminal_password,
    )


def _demo_over_sip2(library: CirculationBackend) -> CirculationBackend:
    from kiosk.backends.demo_data import HOME_BRANCH, LIBRARY_ISIL
    from kiosk.backends.sip2 import Sip2Backend
    from kiosk.sip2.client import Sip2Client, Sip2Settings
    from kiosk.sip2.server import Sip2Server

    server = Sip2Server(library, users={DEMO_SIP2_USER: DEMO_SIP2_PASSWORD})
    server.start()
    host, port = server.address
    client = Sip2Client(
        Sip2Settings(
            host=host,
            port=port,
            username=DEMO_SIP2_USER,
            password=DEMO_SIP2_PASSWORD,
            location_code=HOME_BRANCH,
            institution_id=LIBRARY_ISIL,
        )
    )

    def stop_server() -> None:
        server.stop()
        library.close()

    return Sip2Backend(
        client, institution_id=LIBRARY_ISIL, location_code=HOME_BRANCH, on_close=stop_server
    )
