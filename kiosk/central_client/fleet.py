"""The device's side of fleet management: heartbeat, daily statistics, remote configuration.

- Heartbeat: versions, connectivity (library system, central API), outbox depth and
  age, peripherals, counters; the reply says which configuration version the device
  should run, which commands to carry out and how often to beat.
- Daily statistics: the day's anonymous counter totals (PUT, so a repeat replaces).
- Remote configuration: fetched (ETag) when the reply's desired version differs from
  the one applied, handed to `apply_config(settings, version) -> bool`, which checks
  and keeps it; a refused version is not fetched again.
"""

from __future__ import annotations

import logging
import platform
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from kiosk import __version__
from kiosk.central_client import contract
from kiosk.central_client.context import DEFAULT_HEARTBEAT_S, Context

log = logging.getLogger(__name__)

LIBRARY_ZONE = ZoneInfo("Europe/Ljubljana")
CONFIG_VERSION_SETTING = "central.config_version"
CONFIG_REFUSED_SETTING = "central.config_refused"
CONFIG_ETAG_SETTING = "central.config_etag"
STATISTICS_BASE_SETTING = "central.statistics_base"
PERIPHERAL_STATES = ("ok", "degraded", "missing", "error", "disabled")
MAX_COUNTERS = 200
MAX_COUNT = 10**9
_NOT_COUNTER_CHARACTER = re.compile(r"[^a-z0-9_.]")

# What the core may hand in: the library system's state and the peripherals' states.
IlsState = Callable[[], bool | None]  # True online, False offline, None unknown
Peripherals = Callable[[], Iterable[tuple[str, str, str]]]  # (name, state, detail)
ApplyConfig = Callable[[dict[str, Any], int], bool]
OnCommand = Callable[[str, dict[str, Any]], bool]


def counter_name(name: str) -> str | None:
    """Our counter names as the contract's CounterName (`^[a-z0-9_.]{1,64}$`):
    `refused:checkout:loan_limit` -> `refused.checkout.loan_limit`. None if nothing is
    left of it."""
    text = name.strip().lower().replace(":", ".").replace("-", "_").replace(" ", "_")
    text = _NOT_COUNTER_CHARACTER.sub("_", text)[:64]
    return text or None


def mapped_counters(counters: Mapping[str, int]) -> dict[str, int]:
    """Counters renamed for the contract (names that collide are added up), at most
    MAX_COUNTERS of them, each within the contract's range."""
    mapped: dict[str, int] = {}
    for name, value in sorted(counters.items()):
        key = counter_name(name)
        if key is None or not isinstance(value, int):
            continue
        mapped[key] = mapped.get(key, 0) + max(0, value)
    chosen = sorted(mapped)[:MAX_COUNTERS]
    return {key: min(mapped[key], MAX_COUNT) for key in chosen}


CLOCK_SKEW_SETTING = "central_clock_skew_s"  # kiosk minus server, at the last heartbeat


class Fleet:
    def __init__(
        self,
        ctx: Context,
        *,
        ils_online: IlsState | None,
        peripherals: Peripherals | None,
        apply_config: ApplyConfig | None,
        on_command: OnCommand | None,
        central_state: Callable[[], tuple[str, float | None]],
        sync_now: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self._ils_online = ils_online
        self._peripherals = peripherals
        self._apply_config = apply_config
        self._on_command = on_command
        self._central_state = central_state
        self._sync_now = sync_now
        self._started = ctx.clock()
        self._acked: list[int] = []
        self._server_interval_s = DEFAULT_HEARTBEAT_S
        self.next_heartbeat = 0.0
        self.next_statistics = 0.0
        self.last_body: dict[str, Any] | None = None  # for doctor and tests

    @property
    def heartbeat_interval_s(self) -> int:
        return self.ctx.settings.heartbeat_interval_s or self._server_interval_s

    # -- heartbeat ----------------------------------------------------------------------

    def heartbeat(self) -> int | None:
        """Send one heartbeat; returns the configuration version newly applied, if any.
        Raises Unreachable or Refused."""
        ctx = self.ctx
        body = self.heartbeat_body()
        answer = ctx.transport.request(
            "POST", f"devices/{ctx.settings.device_id}/heartbeat", body=body
        )
        reply = answer.parsed(contract.HeartbeatReply)
        self.last_body = body
        # How far this kiosk's clock is from the server's, for `kiosk doctor`.
        if reply.server_time is not None:
            skew = (ctx.wallclock() - reply.server_time).total_seconds()
            ctx.store.set_setting(CLOCK_SKEW_SETTING, round(skew, 1))
        self._acked = [a for a in self._acked if a not in body["acked_commands"]]
        self._server_interval_s = reply.heartbeat_interval_s
        for command in reply.commands:
            self._carry_out(command)
        if reply.desired_software_version and reply.desired_software_version != __version__:
            log.info(
                "the central API wants software %s here (running %s); updates are the "
                "technician's job",
                reply.desired_software_version,
                __version__,
            )
        return self._follow_config(reply.desired_config_version)

    def heartbeat_body(self) -> dict[str, Any]:
        ctx = self.ctx
        state, latency = self._central_state()
        depth = ctx.store.outbox_depth()
        oldest = ctx.store.oldest_unfinished()
        now = ctx.wallclock()
        return {
            "sent_at": now.isoformat(),
            "software_version": __version__,
            "config_version": ctx.store.get_setting(CONFIG_VERSION_SETTING),
            "versions": {
                "python": platform.python_version(),
                "system": f"{platform.system()} {platform.release()}"[:200],
                "store_schema": ctx.store.revision() or "none",
            },
            "connectivity": {
                "network": "unknown",
                "ils": self._ils_state(),
                "central": state,
                "latency_ms": None if latency is None else round(latency, 1),
            },
            "outbox": {
                "depth": depth,
                "oldest_age_s": None
                if oldest is None
                else round(max(0.0, (now - oldest).total_seconds()), 1),
            },
            "peripherals": self._peripheral_states(),
            "counters": mapped_counters(ctx.store.counters()),
            "uptime_s": round(max(0.0, ctx.clock() - self._started), 1),
            "acked_commands": list(self._acked[:100]),
        }

    def _ils_state(self) -> str:
        if self._ils_online is None:
            return "unknown"
        try:
            online = self._ils_online()
        except Exception:  # a probe must never stop the heartbeat
            log.exception("the library system's state could not be read")
            return "unknown"
        return "unknown" if online is None else "online" if online else "offline"

    def _peripheral_states(self) -> list[dict[str, str]]:
        if self._peripherals is None:
            return []
        try:
            found = list(self._peripherals())
        except Exception:
            log.exception("the peripherals' states could not be read")
            return []
        states = []
        for name, state, detail in found[:50]:
            states.append(
                {
                    "name": (str(name).strip() or "device")[:200],
                    "state": state if state in PERIPHERAL_STATES else "error",
                    "detail": str(detail)[:500],
                }
            )
        return states

    def _carry_out(self, command: contract.Command) -> None:
        kind = command.kind
        done = True
        if kind == "sync_now":
            self._sync_now()
        elif kind == "reload_config":
            for setting in (CONFIG_REFUSED_SETTING, CONFIG_VERSION_SETTING, CONFIG_ETAG_SETTING):
                self.ctx.store.set_setting(setting, None)
        elif self._on_command is not None:
            try:
                done = bool(self._on_command(kind, dict(command.args)))
            except Exception:
                log.exception("command %s (%s) failed", command.id, kind)
                done = False
        else:
            # Nobody here can do it; acknowledged so it does not come back for ever.
            log.warning("command %s (%s) is not supported here; acknowledged", command.id, kind)
        if done and command.id not in self._acked:
            self._acked.append(command.id)

    # -- remote configuration -----------------------------------------------------------

    def _follow_config(self, desired: int) -> int | None:
        ctx = self.ctx
        applied = ctx.store.get_setting(CONFIG_VERSION_SETTING)
        refused = ctx.store.get_setting(CONFIG_REFUSED_SETTING)
        if desired in (applied, refused) or self._apply_config is None:
            return None
        if applied is None and desired == 0:
            return None  # the server has no configuration for this device yet
        etag = ctx.store.get_setting(CONFIG_ETAG_SETTING)
        headers = {"If-None-Match": etag} if etag and refused is None else {}
        answer = ctx.transport.request(
            "GET", f"devices/{ctx.settings.device_id}/config", headers=headers
        )
        if answer.status == 304:
            return None
        config = answer.parsed(contract.DeviceConfig)
        ctx.store.set_setting(CONFIG_ETAG_SETTING, answer.headers.get("ETag"))
        if config.version in (applied, refused):
            return None
        try:
            accepted = bool(self._apply_config(dict(config.settings), config.version))
        except Exception:
            log.exception("applying configuration version %s failed", config.version)
            accepted = False
        if not accepted:
            log.warning("configuration version %s refused; the current one stays", config.version)
            ctx.store.set_setting(CONFIG_REFUSED_SETTING, config.version)
            return None
        ctx.store.set_setting(CONFIG_VERSION_SETTING, config.version)
        ctx.store.set_setting(CONFIG_REFUSED_SETTING, None)
        log.info("configuration version %s applied", config.version)
        return config.version

    # -- daily statistics ---------------------------------------------------------------

    def statistics(self) -> None:
        """PUT today's totals (and, when the day changed, yesterday's last ones).
        Raises Unreachable or Refused."""
        ctx = self.ctx
        current = mapped_counters(ctx.store.counters())
        today = ctx.wallclock().astimezone(LIBRARY_ZONE).date().isoformat()
        base = ctx.store.get_setting(STATISTICS_BASE_SETTING)
        if not _valid_base(base):
            # The first time: counting starts now (earlier totals belong to no known day).
            base = {"day": today, "counters": current}
            ctx.store.set_setting(STATISTICS_BASE_SETTING, base)
        if base["day"] != today:
            self._put_day(base["day"], _since(current, base["counters"]))
            base = {"day": today, "counters": current}
            ctx.store.set_setting(STATISTICS_BASE_SETTING, base)
        self._put_day(today, _since(current, base["counters"]))

    def _put_day(self, day: str, counters: dict[str, int]) -> None:
        ctx = self.ctx
        ctx.transport.request(
            "PUT",
            f"devices/{ctx.settings.device_id}/statistics/{day}",
            body={"counters": counters},
        )


def _valid_base(base: Any) -> bool:
    return (
        isinstance(base, dict)
        and isinstance(base.get("day"), str)
        and isinstance(base.get("counters"), dict)
    )


def _since(current: Mapping[str, int], base: Mapping[str, Any]) -> dict[str, int]:
    totals = {}
    for name, value in current.items():
        before = base.get(name, 0)
        totals[name] = max(0, value - (before if isinstance(before, int) else 0))
    return {name: value for name, value in totals.items() if value}
