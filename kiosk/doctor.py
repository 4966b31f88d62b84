"""`kiosk doctor`: one report a technician can read aloud over the phone.

Each check answers ok / degraded / missing with a plain detail. The overall
exit code: 0 all required parts healthy, 1 something degraded, 2 the
configuration is invalid. Later issues add checks (disk, clock…).
"""

from __future__ import annotations

import datetime as dt
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kiosk import __version__
from kiosk.config import ConfigError, KioskConfig, load_config

OK, DEGRADED, FAILED = "ok", "degraded", "failed"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str

    @property
    def healthy(self) -> bool:
        return self.status == OK


def diagnose(config_path: Path) -> tuple[int, list[Check]]:
    checks = [
        Check(
            "version",
            OK,
            f"kiosk {__version__}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}",
        )
    ]
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        checks.append(Check("configuration", FAILED, str(exc)))
        return 2, checks
    checks.append(Check("configuration", OK, f"{config_path} is valid"))
    checks += [_check_store(config), _check_backend(config), _check_central(config)]
    checks += _check_devices(config)
    checks += [_check_disk(config), _check_clock(config), _check_recent_errors(config)]
    code = 0 if all(c.healthy for c in checks) else 1
    return code, checks


def _check_store(config: KioskConfig) -> Check:
    from kiosk.store import Store, StoreError

    try:
        store = Store.open(config.store_path())
    except StoreError as exc:
        return Check("store", FAILED, str(exc))
    try:
        d = store.describe()
    finally:
        store.close()
    oldest = d["oldest_unfinished"] or "none"
    return Check(
        "store",
        OK,
        f"{d['path']}: schema {d['revision']} (latest {d['head']}), journal {d['journal_mode']}, "
        f"outbox {d['outbox_depth']} unfinished, oldest {oldest}",
    )


def _check_backend(config: KioskConfig) -> Check:
    from kiosk.backends import make_backend
    from kiosk.circulation import BackendUnavailable

    started = time.perf_counter()
    try:
        backend = make_backend(config)
        try:
            status = backend.status()
        finally:
            backend.close()
    except BackendUnavailable as exc:
        return Check("library system", FAILED, str(exc))
    took = (time.perf_counter() - started) * 1000
    if not status.online:
        return Check("library system", DEGRADED, status.detail or "offline")
    return Check("library system", OK, f"{config.backend.kind}: {status.detail} ({took:.0f} ms)")


def _check_central(config: KioskConfig) -> Check:
    """Reachability and latency of the central API, its token, the central outbox and
    the remote configuration. Never required: without it the kiosk lends and returns,
    and shows the cached events."""
    from kiosk.central_client import CENTRAL_KINDS, open_central_client
    from kiosk.store import Store, StoreError

    name = "central API"
    overlay = (
        f"; remote configuration version {config.remote_version} applied"
        if config.remote_version is not None
        else ""
    )
    if config.remote_problem:
        overlay = f"; remote configuration NOT applied: {config.remote_problem}"
    if not config.central.url:
        detail = "not configured (no events, no remote configuration)"
        return Check(name, DEGRADED if config.remote_problem else OK, detail + overlay)
    try:
        store = Store.open(config.store_path())
    except StoreError as exc:
        return Check(name, FAILED, f"the store cannot be opened: {exc}")
    try:
        client = open_central_client(config, store)
        assert client is not None  # url is set
        with client:
            status = client.check()
            depth = len(store.unfinished(CENTRAL_KINDS))
    finally:
        store.close()
    latency = f", {status.latency_ms:.0f} ms" if status.latency_ms is not None else ""
    detail = (
        f"{config.central.url} as {config.central.device_id}: {status.state} "
        f"({status.detail}{latency}); outbox {depth} to send{overlay}"
    )
    healthy = status.state == "online" and not config.remote_problem
    return Check(name, OK if healthy else DEGRADED, detail)


def _check_devices(config: KioskConfig) -> list[Check]:
    from drivers.base import DeviceError
    from drivers.registry import open_card_reader, open_tag_reader

    checks = []
    for name, url, opener in (
        ("RFID reader", config.devices.rfid, open_tag_reader),
        ("card reader", config.devices.card_reader, open_card_reader),
    ):
        try:
            device = opener(url)
        except DeviceError as exc:
            checks.append(Check(name, FAILED, f"{url}: {exc}"))
            continue
        try:
            # Drivers that reconnect by themselves open even when their device is absent.
            state = getattr(device, "state", "ok")
            status = {"ok": OK, "degraded": DEGRADED}.get(state, FAILED)
            checks.append(Check(name, status, device.describe()))
        finally:
            device.close()
    checks.append(_printer_check(config.printer_url()))
    return checks


def _printer_check(url: str) -> Check:
    """Open the printer and ask its state: paper out and cover open are a technician's
    job before the next patron asks for a receipt. A printer is never required: when it
    fails the kiosk offers e-mail or no receipt, so it is at worst degraded."""
    from drivers.base import DeviceError
    from drivers.registry import open_printer

    try:
        printer = open_printer(url)
    except DeviceError as exc:
        return Check("printer", DEGRADED, f"{url}: {exc}")
    try:
        status = printer.status()
        detail = printer.describe()
    except DeviceError as exc:
        return Check("printer", DEGRADED, f"{url}: {exc}")
    finally:
        printer.close()
    if url.strip() == "none":
        return Check("printer", OK, "none configured (receipts by e-mail or none)")
    if status.state not in detail:
        detail = f"{detail}: {status.state}"
    return Check("printer", OK if status.state == "ok" else DEGRADED, detail)


def render_text(code: int, checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{c.name:<{width}}  {c.status.upper():<8}  {c.detail}" for c in checks]
    verdict = {
        0: "everything required is healthy",
        1: "something needs attention",
        2: "the configuration is invalid",
    }[code]
    lines.append(f"overall: {verdict} (exit {code})")
    return "\n".join(lines)


def render_json(code: int, checks: list[Check]) -> dict[str, object]:
    return {
        "exit_code": code,
        "healthy": code == 0,
        "checks": [asdict(c) for c in checks],
        "python": sys.version.split()[0],
        "version": __version__,
    }


# The kiosk cannot have been set up before this day: a clock showing an earlier date has
# lost its time (no RTC and no network after a power cut).
EARLIEST_PLAUSIBLE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DISK_LOW_BYTES = 200 * 1024 * 1024  # below this the store's writes may soon fail
CLOCK_SKEW_LIMIT_S = 120.0  # due dates and offline times are only as good as the clock


def _check_disk(config: KioskConfig) -> Check:
    """Free space where the store lives: a full disk loses what cannot be written."""
    folder = config.store_path().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        return Check("disk", FAILED, f"{folder}: {exc.strerror or exc}")
    free_mb = usage.free / 1024 / 1024
    detail = f"{folder}: {free_mb:,.0f} MiB free of {usage.total / 1024 / 1024:,.0f} MiB"
    if usage.free < DISK_LOW_BYTES:
        return Check("disk", DEGRADED, detail + " (low: free some space before the store fills)")
    return Check("disk", OK, detail)


def _check_clock(config: KioskConfig, now: dt.datetime | None = None) -> Check:
    """The wall clock: not before the kiosk existed, not behind what the store recorded,
    and close to the central API's clock where one is configured."""
    from kiosk.store import Store, StoreError

    now = now or dt.datetime.now(dt.UTC)
    stamp = now.isoformat(timespec="seconds")
    if now < EARLIEST_PLAUSIBLE:
        return Check(
            "clock",
            FAILED,
            f"{stamp} is before this kiosk was set up: the clock lost its time; due dates "
            "and offline times would be wrong (check NTP and the network)",
        )
    try:
        with Store.open(config.store_path()) as store:
            newest = store.newest_timestamp()
            skew = store.get_setting("central_clock_skew_s")
    except StoreError:
        return Check("clock", OK, f"{stamp} (the store could not be read to compare)")
    if newest is not None and newest > now + dt.timedelta(minutes=5):
        return Check(
            "clock",
            FAILED,
            f"{stamp} is behind the newest record in the store "
            f"({newest.isoformat(timespec='seconds')}): the clock went back",
        )
    if isinstance(skew, int | float) and abs(skew) > CLOCK_SKEW_LIMIT_S:
        return Check(
            "clock",
            DEGRADED,
            f"{stamp} is {skew:+.0f} s off the central API's clock (check NTP)",
        )
    detail = f"{stamp}" + (f", {skew:+.1f} s from the central API" if skew is not None else "")
    return Check("clock", OK, detail)


def _check_recent_errors(config: KioskConfig) -> Check:
    """The last problems the running kiosk logged (kept in the store by the app)."""
    from kiosk.errorlog import recent_errors
    from kiosk.store import Store, StoreError

    try:
        with Store.open(config.store_path()) as store:
            errors = recent_errors(store)
    except StoreError:
        return Check("last errors", OK, "the store could not be read")
    if not errors:
        return Check("last errors", OK, "none recorded")
    last = errors[-1]
    return Check("last errors", OK, f"{len(errors)} recent; last: {last}")
