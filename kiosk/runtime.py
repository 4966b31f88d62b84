"""Assemble a running kiosk from a validated configuration: store, backend,
devices and core. One place, so `run`, `demo`, `tour`, `doctor` and the tests
build the same thing.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.base import CardReader, TagReader
from drivers.printer import Printer
from drivers.registry import open_card_reader, open_printer, open_tag_reader
from kiosk import privacy
from kiosk.backends import make_backend
from kiosk.cardid import CardRules
from kiosk.central_client import CentralClient, open_central_client
from kiosk.circulation import CirculationBackend
from kiosk.config import KioskConfig
from kiosk.core import CoreSettings, KioskCore, ReceiptRules
from kiosk.errorlog import RecentErrors
from kiosk.offline import OfflineRules
from kiosk.pad import PadRules
from kiosk.session import Timing
from kiosk.store import Store

log = logging.getLogger(__name__)


def core_settings(config: KioskConfig) -> CoreSettings:
    return CoreSettings(
        timing=Timing(
            timeout_s=config.session.timeout_s,
            warning_s=config.session.warning_s,
            summary_timeout_s=config.session.summary_timeout_s,
            walkaway_s=config.session.walkaway_s,
        ),
        default_language=config.kiosk.default_language,
        languages=tuple(config.kiosk.languages),
        require_pin=config.identify.require_pin,
        typed_card_number="keypad" in config.identify.methods,
        pin_length_min=config.identify.pin_length_min,
        pin_length_max=config.identify.pin_length_max,
        card_rules=CardRules(**config.identify.card.model_dump()),
        afi_in_library=config.security.afi_in_library,
        afi_on_loan=config.security.afi_on_loan,
        pad=PadRules(
            min_reads=config.rfid.min_reads,
            min_rssi=config.rfid.min_rssi,
            read_retries=config.rfid.read_retries,
        ),
        offline=OfflineRules(**config.offline.model_dump()),
        location_names=dict(config.kiosk.location_names),
        receipt=ReceiptRules(
            offer=tuple(config.receipt.offer),
            default=config.receipt.default,
            ask=config.receipt.ask,
            library=config.kiosk.library,
        ),
    )


@dataclass
class Runtime:
    config: KioskConfig
    store: Store
    backend: CirculationBackend
    tag_reader: TagReader
    card_reader: CardReader
    printer: Printer
    core: KioskCore
    central: CentralClient | None = None  # None when central.url is ""
    _central_thread: threading.Thread | None = field(default=None, repr=False)
    _errors: RecentErrors | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def start_central_sync(self, interval_s: float = 1.0) -> None:
        """Talk to the central API on a thread of its own: its requests may wait for a
        timeout, and a patron at the kiosk must never wait for them."""
        if self.central is None or self._central_thread is not None:
            return
        central = self.central

        def loop() -> None:
            while not self._stopping.wait(interval_s):
                try:
                    central.sync()
                except Exception:  # the catalogue must never take the kiosk down
                    log.exception("central API sync failed")

        self._central_thread = threading.Thread(target=loop, name="central-sync", daemon=True)
        self._central_thread.start()

    @classmethod
    def open(cls, config: KioskConfig, *, clock: Callable[[], float] = time.monotonic) -> Runtime:
        """Open everything; raises StoreError, BackendUnavailable or DeviceError with plain text."""
        store = Store.open(config.store_path())
        opened: list = [store]
        try:
            key = store.get_setting("privacy_key")
            if key is None:
                key = secrets.token_hex(16)
                store.set_setting("privacy_key", key)
            privacy.set_key(bytes.fromhex(key))
            backend = make_backend(config)
            opened.append(backend)
            tag_reader = open_tag_reader(config.devices.rfid)
            opened.append(tag_reader)
            card_reader = open_card_reader(config.devices.card_reader)
            opened.append(card_reader)
            printer = open_printer(config.printer_url())
            opened.append(printer)
            central = open_central_client(config, store)
        except BaseException:
            for thing in reversed(opened):
                thing.close()
            raise
        core = KioskCore(
            backend=backend,
            store=store,
            tag_reader=tag_reader,
            card_reader=card_reader,
            printer=printer,
            events_service=central,
            settings=core_settings(config),
            clock=clock,
        )
        if central is not None:
            central.set_probes(
                ils_online=lambda: not core.view.offline,
                peripherals=lambda: peripheral_states(config, core),
            )
        replayed = core.recover()
        if replayed:
            log.warning("replayed %d unfinished outbox entries after an interruption", replayed)
        # Personal data only as long as needed: answered actions go after the retention time.
        purged = store.purge_finished(dt.timedelta(days=config.store.retention_days))
        if purged:
            log.info(
                "purged %d answered outbox entries older than %d days",
                purged,
                config.store.retention_days,
            )
        runtime = cls(config, store, backend, tag_reader, card_reader, printer, core, central)
        runtime._errors = RecentErrors(store)
        logging.getLogger().addHandler(runtime._errors)
        return runtime

    def close(self) -> None:
        if self._errors is not None:
            logging.getLogger().removeHandler(self._errors)
            self._errors.close()
        self._stopping.set()
        if self._central_thread is not None:
            self._central_thread.join(timeout=15)
        things = (self.central, self.printer, self.card_reader, self.tag_reader, self.backend)
        for thing in (*things, self.store):
            if thing is None:
                continue
            try:
                thing.close()
            except Exception:  # closing must go on for the others
                log.exception("closing %r", thing)


def peripheral_states(config: KioskConfig, core: KioskCore) -> list[tuple[str, str, str]]:
    """(name, state, detail) of each peripheral for the heartbeat: "disabled" when none is
    configured, "error" while the core finds it not answering, else "ok"."""
    trouble = set(core.view.device_trouble)
    states = []
    for name, url in (
        ("rfid", config.devices.rfid),
        ("card_reader", config.devices.card_reader),
        ("printer", config.printer_url()),
    ):
        state = "disabled" if url.strip() == "none" else "error" if name in trouble else "ok"
        states.append((name, state, url))
    return states
