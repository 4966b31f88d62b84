"""The kiosk's client of the central API (events, registrations, fleet), over HTTP.

Reads come from the local cache, so the catalogue works offline; the cache is
refreshed by `sync()`, which the core calls every second or so and which returns
at once when nothing is due. Registrations and cancellations go through the
store's outbox (written before sending, replayed until answered). Waits between
attempts are backoff "not before" times, never sleeps.

Thread safety: one lock around everything that talks to the server or the cache,
so the core's worker may call any method; a patron's registration waits at most
for one sync step.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from kiosk.central_client import contract
from kiosk.central_client.cache import CentralCache
from kiosk.central_client.context import (
    CENTRAL_KINDS,
    REGISTRATION,
    REGISTRATION_CANCEL,
    CentralClientSettings,
    Context,
    make_card_token,
    utcnow,
)
from kiosk.central_client.events_sync import EventSync
from kiosk.central_client.fleet import ApplyConfig, Fleet, IlsState, OnCommand, Peripherals
from kiosk.central_client.outbox_sender import CANCEL_REFUSALS, OutboxSender
from kiosk.central_client.results import (
    CANCELLED,
    CHECKED_IN,
    CONFIRMED,
    DEGRADED,
    FAILED,
    NOT_FOUND,
    OFFLINE,
    ONLINE,
    PENDING_SYNC,
    REJECTED,
    UNAVAILABLE_OFFLINE,
    WAITLISTED,
    CancelOutcome,
    CentralStatus,
    CheckInOutcome,
    EventInfo,
    RegistrationInfo,
    RegistrationOutcome,
    SyncReport,
)
from kiosk.central_client.transport import SLOW_MS, Refused, Transport, Unreachable
from kiosk.privacy import redact
from kiosk.store import Store, StoreError

log = logging.getLogger(__name__)

# How often sync() looks for pictures still missing (a cache query each time).
PICTURE_CHECK_S = 15.0
HOUSEKEEPING_S = 3600.0
_SHOWN_LOCAL = ("pending_sync", "confirmed", "waitlisted", "cancelled", "rejected", "attended")


class CentralClient:
    def __init__(
        self,
        settings: CentralClientSettings,
        store: Store,
        *,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], dt.datetime] = utcnow,
        http: requests.Session | None = None,
        rng: Callable[[], float] = random.random,
        ils_online: IlsState | None = None,
        peripherals: Peripherals | None = None,
        apply_config: ApplyConfig | None = None,
        on_command: OnCommand | None = None,
    ) -> None:
        self.settings = settings
        transport = Transport(
            settings.base_url,
            settings.token,
            timeout_s=settings.timeout_s,
            http=http,
            wallclock=wallclock,
        )
        self._ctx = Context(
            settings=settings,
            store=store,
            cache=CentralCache(store),
            transport=transport,
            clock=clock,
            wallclock=wallclock,
            rng=rng,
        )
        self._lock = threading.RLock()
        self._events = EventSync(self._ctx)
        self._sender = OutboxSender(self._ctx)
        self._fleet = Fleet(
            self._ctx,
            ils_online=ils_online,
            peripherals=peripherals,
            apply_config=apply_config,
            on_command=on_command,
            central_state=self._state_for_heartbeat,
            sync_now=self.sync_soon,
        )
        self._next_events = 0.0
        self._next_pictures = 0.0
        self._next_housekeeping = 0.0
        self._closed = False

    # -- wiring after construction (the core knows these only once it exists) ------------

    def set_probes(
        self, *, ils_online: IlsState | None = None, peripherals: Peripherals | None = None
    ) -> None:
        """Where the heartbeat reads the library system's and the peripherals' states."""
        with self._lock:
            if ils_online is not None:
                self._fleet._ils_online = ils_online
            if peripherals is not None:
                self._fleet._peripherals = peripherals

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._ctx.transport.close()
                self._ctx.cache.close()

    def __enter__(self) -> CentralClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- cards ---------------------------------------------------------------------------

    def card_token(self, card: str) -> str:
        """The contract's CardToken for a (normalised) card number: HMAC-SHA256 under the
        library's card key, 64 lowercase hex digits; the same on every kiosk."""
        return make_card_token(self.settings.card_key, card)

    # -- the catalogue (from the cache, works offline) ------------------------------------

    def events(self) -> list[EventInfo]:
        """Scheduled events not yet ended, soonest first."""
        with self._lock:
            return self._events.events()

    def event(self, event_id: str) -> EventInfo | None:
        """One cached event (cancelled ones too); None if unknown."""
        with self._lock:
            return self._events.event(event_id)

    # -- registrations -------------------------------------------------------------------

    def register(
        self,
        event_id: str,
        card: str,
        attendee_ages: list[int],
        *,
        accept_waitlist: bool,
        language: str,
    ) -> RegistrationOutcome:
        """Register a party: written to the outbox, sent at once (a short wait). Offline,
        the kiosk promises a seat only within the seats the server granted it
        (`pending_sync`, sent later with the same client_id); else `unavailable_offline`."""
        ages = _checked_ages(attendee_ages)
        token = self.card_token(card)
        with self._lock:
            ctx = self._ctx
            now = ctx.wallclock()
            payload = {
                "event_id": event_id,
                "card_token": token,
                "ages": ages,
                "accept_waitlist": bool(accept_waitlist),
                "language": language,
                "created_at": now.isoformat(),
                "offline": False,
            }
            entry = ctx.store.add_action(REGISTRATION, payload)
            ctx.cache.add_registration(entry.client_id, event_id, token, ages, PENDING_SYNC, now)
            log.info(
                "registration %s for %s by %s: %d people",
                entry.client_id,
                event_id,
                redact(token),
                len(ages),
            )
            try:
                body = self._sender.send(entry, timeout_s=self.settings.interactive_timeout_s)
            except Refused as exc:
                return RegistrationOutcome(
                    FAILED,
                    event_id,
                    len(ages),
                    entry.client_id,
                    reason=exc.code,
                    message=exc.message,
                )
            except Unreachable as exc:
                return self._register_offline(entry.client_id, event_id, ages, exc)
            ctx.succeeded(entry.client_id)
            self._next_events = 0.0  # seats changed: refresh the catalogue soon
            return _outcome_of(body, entry.client_id, event_id, len(ages))

    def _register_offline(
        self, client_id: str, event_id: str, ages: list[int], exc: Unreachable
    ) -> RegistrationOutcome:
        ctx = self._ctx
        ctx.failed(client_id, exc)
        event = self._events.event(event_id)
        party = len(ages)
        promise = (
            event is not None
            and event.registration_open(ctx.wallclock())
            and party <= event.max_party_size
            and event.offline_seats >= party
        )
        if promise:
            ctx.store.mark_offline(client_id, {"offline": True})
            ctx.cache.update_registration(client_id, ctx.wallclock(), offline=True)
            log.warning("registration %s taken offline (seat grant): %s", client_id, exc)
            return RegistrationOutcome(PENDING_SYNC, event_id, party, client_id, message=str(exc))
        ctx.cache.update_registration(client_id, ctx.wallclock(), status=UNAVAILABLE_OFFLINE)
        if exc.maybe_applied:
            # It may have got through before the line broke: look it up later, never send.
            ctx.store.mark_offline(client_id, {"lookup_only": True})
        else:
            ctx.store.mark_done(
                client_id,
                "refused",
                result={"status": UNAVAILABLE_OFFLINE},
                error="unavailable_offline: not sent; the central API could not be reached "
                "and this kiosk may promise no more seats for the event",
            )
            ctx.forget_backoff(client_id)
        log.warning("registration %s not taken: offline without seats (%s)", client_id, exc)
        return RegistrationOutcome(
            UNAVAILABLE_OFFLINE, event_id, party, client_id, message=str(exc)
        )

    def cancel(self, event_id: str, card: str) -> CancelOutcome:
        """Cancel this card's registrations for the event (through the outbox)."""
        token = self.card_token(card)
        with self._lock:
            ctx = self._ctx
            local_active = [
                r.client_id
                for r in ctx.cache.registrations(card_token=token, event_id=event_id)
                if r.status in (PENDING_SYNC, CONFIRMED, WAITLISTED)
            ]
            online = True
            try:
                answer = ctx.transport.request(
                    "GET",
                    "registrations",
                    params={"card_token": token, "event_id": event_id},
                    timeout_s=self.settings.interactive_timeout_s,
                )
                listed = answer.parsed(contract.RegistrationList).registrations
                on_server = {r.client_id for r in listed}
                targets = [r.client_id for r in listed if r.status in (CONFIRMED, WAITLISTED)] + [
                    cid for cid in local_active if cid not in on_server
                ]
            except Unreachable as exc:
                ctx.failed("cancel", exc)
                online, targets = False, local_active
            except Refused as exc:
                return CancelOutcome(FAILED, event_id, reason=exc.code, message=exc.message)
            if not targets:
                return CancelOutcome(NOT_FOUND if online else UNAVAILABLE_OFFLINE, event_id)
            entries = [
                ctx.store.add_action(
                    REGISTRATION_CANCEL,
                    {"registration_id": cid, "event_id": event_id, "card_token": token},
                )
                for cid in targets
            ]
            if not online:
                return CancelOutcome(PENDING_SYNC, event_id, tuple(targets))
            unsent = {e.client_id for e in ctx.store.unfinished([REGISTRATION])}
            status, reason, message = CANCELLED, None, ""
            for entry, cid in zip(entries, targets, strict=True):
                if cid in unsent:
                    status = PENDING_SYNC  # sent after its registration, by sync()
                    continue
                try:
                    self._sender.send(entry, timeout_s=self.settings.interactive_timeout_s)
                except Unreachable as exc:
                    ctx.failed(entry.client_id, exc)
                    status = PENDING_SYNC
                except Refused as exc:
                    if status == CANCELLED:
                        status = REJECTED if exc.code in CANCEL_REFUSALS else FAILED
                        reason, message = exc.code, exc.message
            self._next_events = 0.0
            return CancelOutcome(status, event_id, tuple(targets), reason, message)

    def registrations(self, card: str) -> list[RegistrationInfo] | None:
        """This card's registrations, oldest first: the server's when it answers (plus
        ones made here not sent yet); offline, those made here as last known. None when
        the server cannot be asked and nothing is known here."""
        token = self.card_token(card)
        with self._lock:
            ctx = self._ctx
            local = {
                r.client_id: r
                for r in ctx.cache.registrations(card_token=token)
                if r.status in _SHOWN_LOCAL
            }
            try:
                answer = ctx.transport.request(
                    "GET",
                    "registrations",
                    params={"card_token": token, "limit": 100},
                    timeout_s=self.settings.interactive_timeout_s,
                )
                listed = answer.parsed(contract.RegistrationList).registrations
            except Unreachable as exc:
                ctx.failed("registrations", exc)
                if not local:
                    return None
                return [_local_info(r) for r in local.values()]
            except Refused as exc:
                log.warning("registrations not listed: %s", exc)
                return None
            infos = []
            for reg in listed:
                known = local.pop(reg.client_id, None)
                if known is not None and known.status != reg.status:
                    ctx.cache.update_registration(
                        reg.client_id,
                        ctx.wallclock(),
                        status=reg.status,
                        waitlist_position=reg.waitlist_position,
                    )
                infos.append(_server_info(reg, made_here=known is not None))
            infos += [_local_info(r) for r in local.values() if r.status == PENDING_SYNC]
            return sorted(infos, key=lambda info: info.created_at)

    def check_in(self, event_id: str, card: str) -> CheckInOutcome:
        """At the event's own kiosk: the card's confirmed party is checked in."""
        token = self.card_token(card)
        with self._lock:
            ctx = self._ctx
            try:
                answer = ctx.transport.request(
                    "POST",
                    f"events/{event_id}/check-in",
                    body={"card_token": token},
                    timeout_s=self.settings.interactive_timeout_s,
                )
                result = answer.parsed(contract.CheckInResult)
            except Unreachable as exc:
                ctx.failed("check_in", exc)
                return CheckInOutcome(UNAVAILABLE_OFFLINE, event_id, message=str(exc))
            except Refused as exc:
                if exc.code == "registration_not_found":
                    status = NOT_FOUND
                elif exc.code in ("not_confirmed", "check_in_not_open", "wrong_kiosk"):
                    status = REJECTED
                else:
                    status = FAILED
                return CheckInOutcome(status, event_id, reason=exc.code, message=exc.message)
            attended = [r for r in result.registrations if r.status == "attended"]
            for reg in attended:
                if ctx.cache.registration(reg.client_id) is not None:
                    ctx.cache.update_registration(reg.client_id, ctx.wallclock(), status="attended")
            return CheckInOutcome(
                CHECKED_IN,
                event_id,
                newly_checked_in=result.checked_in,
                party_size=sum(r.party_size for r in attended),
            )

    # -- housekeeping --------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Whatever is due: the event sync, pictures, the outbox, heartbeat, statistics.
        Returns at once when nothing is; never raises for the server's doings."""
        with self._lock:
            if self._closed:
                return SyncReport()
            try:
                return self._sync()
            except StoreError as exc:
                log.error("central sync stopped: %s", exc)
                return SyncReport(errors=(str(exc),))

    def _sync(self) -> SyncReport:
        ctx = self._ctx
        now = ctx.clock()
        changed = fetched = sent = 0
        beat = stats = False
        applied = None
        errors: list[str] = []

        def attempt(key: str, work: Callable[[], Any]) -> tuple[bool, Any]:
            if not ctx.due(key):
                return False, None
            try:
                value = work()
            except Unreachable as exc:
                ctx.failed(key, exc)
                errors.append(f"{key}: {exc}")
                log.warning("central %s: %s", key, exc)
                return False, None
            except Refused as exc:
                # A final no to a periodic request (bad token, unknown device): say so,
                # and ask again only after a long pause.
                ctx.backoff(key).failed(ctx.clock(), 600.0)
                errors.append(f"{key}: {exc}")
                log.error("central %s refused: %s", key, exc)
                return False, None
            ctx.succeeded(key)
            return True, value

        if now >= self._next_events:
            ok, value = attempt("events", self._events.run)
            if ok:
                changed = value
                self._next_events = now + self.settings.event_sync_interval_s
        if (self._events.pictures_due or changed) and now >= self._next_pictures:
            self._next_pictures = now + PICTURE_CHECK_S
            if ctx.link_up():
                fetched = self._events.fetch_pictures()
        if ctx.link_up():
            sent = self._sender.replay()
        if now >= self._fleet.next_heartbeat:
            ok, value = attempt("heartbeat", self._fleet.heartbeat)
            if ok:
                beat, applied = True, value
                self._fleet.next_heartbeat = now + self._fleet.heartbeat_interval_s
        if now >= self._fleet.next_statistics:
            stats, _ = attempt("statistics", self._fleet.statistics)
            if stats:
                self._fleet.next_statistics = now + self.settings.statistics_interval_s
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + HOUSEKEEPING_S
            self._events.housekeeping()
        return SyncReport(
            events_changed=changed,
            pictures_fetched=fetched,
            sent=sent,
            heartbeat=beat,
            statistics=stats,
            config_applied=applied,
            errors=tuple(errors),
        )

    def sync_soon(self) -> None:
        """Look for changed events at the next sync() (e.g. a `sync_now` command)."""
        self._next_events = 0.0

    # -- health --------------------------------------------------------------------------

    def status(self) -> CentralStatus:
        """online / degraded / offline, from how the last requests went."""
        link = self._ctx.transport.link
        latency = link.latency_ms
        if not link.tried:
            return CentralStatus(OFFLINE, "not contacted yet")
        if link.last_network_failure:
            return CentralStatus(OFFLINE, link.last_detail, latency, link.last_ok_at)
        if not link.last_ok:
            return CentralStatus(DEGRADED, link.last_detail, latency, link.last_ok_at)
        if latency is not None and latency > SLOW_MS:
            return CentralStatus(
                DEGRADED, f"answering slowly ({latency:.0f} ms)", latency, link.last_ok_at
            )
        return CentralStatus(ONLINE, "answering", latency, link.last_ok_at)

    def check(self) -> CentralStatus:
        """Ask the server now (GET health, then a token check) — for `kiosk doctor`."""
        with self._lock:
            try:
                self._ctx.transport.request("GET", "health")
                self._ctx.transport.request("GET", f"devices/{self.settings.device_id}")
            except Unreachable as exc:
                return CentralStatus(
                    OFFLINE if exc.network else DEGRADED,
                    str(exc),
                    self._ctx.transport.link.latency_ms,
                )
            except Refused as exc:
                return CentralStatus(DEGRADED, str(exc), self._ctx.transport.link.latency_ms)
            return self.status()

    def outbox_depth(self) -> int:
        """Central API entries not yet answered."""
        return len(self._ctx.store.unfinished(CENTRAL_KINDS))

    def next_attempt(self, key: str) -> float:
        """Monotonic time before which `key` (an outbox client id, "events",
        "heartbeat"…) is not tried again; 0 when it may be tried now."""
        with self._lock:
            return self._ctx.next_attempt(key)

    def last_heartbeat(self) -> dict[str, Any] | None:
        return self._fleet.last_body

    def heartbeat_body(self) -> dict[str, Any]:
        with self._lock:
            return self._fleet.heartbeat_body()

    def _state_for_heartbeat(self) -> tuple[str, float | None]:
        status = self.status()
        return status.state, status.latency_ms


def _checked_ages(ages: list[int]) -> list[int]:
    if not 1 <= len(ages) <= 10:
        raise ValueError(f"a party is 1 to 10 people, got {len(ages)}")
    if any(not isinstance(a, int) or isinstance(a, bool) or not 0 <= a <= 120 for a in ages):
        raise ValueError(f"ages must be whole numbers 0 to 120, got {ages}")
    return list(ages)


def _outcome_of(
    body: dict[str, Any], client_id: str, event_id: str, party: int
) -> RegistrationOutcome:
    status = body.get("status")
    if status not in (CONFIRMED, WAITLISTED, REJECTED):
        # The server's own later states (e.g. cancelled, found by a look-up).
        status = REJECTED if status != UNAVAILABLE_OFFLINE else UNAVAILABLE_OFFLINE
    return RegistrationOutcome(
        status,
        event_id,
        party,
        client_id,
        waitlist_position=body.get("waitlist_position"),
        reason=body.get("reason"),
        message=body.get("message") or "",
        seats_left=body.get("seats_left"),
    )


def _server_info(reg: contract.Registration, *, made_here: bool) -> RegistrationInfo:
    ages = tuple(
        a["age"] for a in reg.attendees if isinstance(a, dict) and isinstance(a.get("age"), int)
    )
    return RegistrationInfo(
        client_id=reg.client_id,
        event_id=reg.event_id,
        status=reg.status,
        party_size=reg.party_size,
        ages=ages,
        created_at=reg.created_at,
        waitlist_position=reg.waitlist_position,
        reason=reg.reason,
        made_here=made_here,
    )


def _local_info(reg: Any) -> RegistrationInfo:
    return RegistrationInfo(
        client_id=reg.client_id,
        event_id=reg.event_id,
        status=reg.status,
        party_size=reg.party_size,
        ages=reg.ages,
        created_at=reg.created_at,
        waitlist_position=reg.waitlist_position,
        reason=reg.reason,
        made_here=True,
    )
