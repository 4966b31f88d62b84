"""The kiosk's brain: turns card taps, key presses and tags on the pad into
circulation actions, through the outbox, and moves the session along.

Every circulation action is written to the store before it is sent, with its
client UUID as the idempotency key; on start, `recover()` replays whatever a
crash left unfinished, so nothing is lost and nothing is applied twice.

All public methods are thread-safe and may block on the library system: the
UI calls them from one worker thread, tests call them directly.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from drivers.base import CardReader, DeviceError, TagRead, TagReader
from kiosk.cardid import CardIdError, CardRules, normalise
from kiosk.circulation import (
    BackendUnavailable,
    CheckinResult,
    CheckoutResult,
    CirculationBackend,
    Patron,
    Reason,
)
from kiosk.pad import PadRules, PadTracker
from kiosk.privacy import redact
from kiosk.session import Keypad, Line, LineStatus, Observer, Session, SessionView, State, Timing
from kiosk.store import OutboxEntry, Store
from kiosk.tags import LibraryTag, TagError, decode_tag

log = logging.getLogger(__name__)

SECURITY_WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class CoreSettings:
    timing: Timing = field(default_factory=Timing)
    default_language: str = "sl"
    languages: tuple[str, ...] = ("sl", "en")
    require_pin: bool = True
    typed_card_number: bool = True  # identify.methods has "keypad": the number may be typed
    pin_length_min: int = 4
    pin_length_max: int = 8
    card_length_max: int = 20
    card_rules: CardRules = field(default_factory=CardRules)  # applied before the ILS sees a card
    afi_in_library: int = 0x07
    afi_on_loan: int = 0xC2
    pad: PadRules = field(default_factory=PadRules)


@dataclass(slots=True)
class _PadItem:
    """Parts of one item seen on the pad in this session, by part number."""

    tag: LibraryTag
    uids: dict[int, bytes] = field(default_factory=dict)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KioskCore:
    def __init__(
        self,
        *,
        backend: CirculationBackend,
        store: Store,
        tag_reader: TagReader,
        card_reader: CardReader,
        settings: CoreSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.backend = backend
        self.store = store
        self.tag_reader = tag_reader
        self.card_reader = card_reader
        self.settings = settings or CoreSettings()
        self._clock = clock
        self._wallclock = wallclock
        self._lock = threading.RLock()
        self.session = Session(self.settings.timing, self.settings.default_language, clock())
        self._tracker = PadTracker(self.settings.pad)
        self._wipe()

    # --- observation -----------------------------------------------------------
    @property
    def view(self) -> SessionView:
        return self.session.view

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        with self._lock:
            return self.session.subscribe(observer)

    # --- session-wide actions ----------------------------------------------------
    def begin_borrow(self) -> None:
        with self._lock:
            if self.session.state is State.IDLE:
                self.session.go(State.IDENTIFY, self._clock(), keypad=Keypad())

    def begin_return(self) -> None:
        with self._lock:
            if self.session.state is State.IDLE:
                self.store.increment("sessions_return")
                self.session.go(State.RETURN, self._clock())

    def finish(self) -> None:
        """The patron is done borrowing or returning: show the summary."""
        with self._lock:
            if self.session.state in (State.CHECKOUT, State.RETURN):
                self.session.go(State.SUMMARY, self._clock())

    def logout(self) -> None:
        with self._lock:
            self._logout()

    def extend(self) -> None:
        """'I need more time': restart the inactivity timer."""
        with self._lock:
            self.session.touch(self._clock())

    def set_language(self, lang: str) -> None:
        with self._lock:
            if lang not in self.settings.languages:
                raise ValueError(f"language {lang!r} is not enabled")
            self.session.update(self._clock(), language=lang)

    def tick(self) -> None:
        with self._lock:
            if self.session.tick(self._clock()):
                self.store.increment("sessions_timed_out")
                self._wipe()

    # --- identification ----------------------------------------------------------
    def card_presented(self, card: str, source: str = "") -> None:
        """A card was tapped or scanned (from the card reader or the developer tray).

        `source` is the reader's kind (CardRead.source): "nfc" delivers a chip UID."""
        with self._lock:
            card = card.strip()
            if not card or self.session.state not in (State.IDLE, State.IDENTIFY):
                self.session.touch(self._clock())
                return
            if self.session.state is State.IDLE:
                self.session.go(State.IDENTIFY, self._clock())
            normalised = self._normalised_card(card, source, self.settings.card_rules)
            if normalised is None:
                return
            self._card = normalised
            self._pin = ""
            if not self.settings.require_pin:
                self._identify()
            elif self._card_accepted():
                self.session.update(self._clock(), keypad=Keypad(stage="pin", card_known=True))

    def keypad_digit(self, digit: str) -> None:
        with self._lock:
            if self.session.state is not State.IDENTIFY or digit not in "0123456789":
                return
            keypad = self.session.view.keypad
            if keypad.stage == "card" and not self.settings.typed_card_number:
                return
            if keypad.stage == "card" and len(self._card) < self.settings.card_length_max:
                self._card += digit
            elif keypad.stage == "pin" and len(self._pin) < self.settings.pin_length_max:
                self._pin += digit
            self._publish_keypad()

    def keypad_delete(self) -> None:
        with self._lock:
            if self.session.state is not State.IDENTIFY:
                return
            keypad = self.session.view.keypad
            if keypad.stage == "pin" and self._pin:
                self._pin = self._pin[:-1]
            elif keypad.stage == "pin" and not keypad.card_known:
                self.session.update(self._clock(), keypad=Keypad(stage="card"))
            elif keypad.stage == "card":
                self._card = self._card[:-1]
            self._publish_keypad()

    def keypad_ok(self) -> None:
        with self._lock:
            if self.session.state is not State.IDENTIFY:
                return
            keypad = self.session.view.keypad
            if keypad.stage == "card":
                if not self._card:
                    return
                # The keypad has no letters, so a typed number cannot carry the prefix.
                rules = replace(self.settings.card_rules, require_prefix=False)
                normalised = self._normalised_card(self._card, "keypad", rules)
                if normalised is None:
                    return
                self._card = normalised
                if not self.settings.require_pin:
                    self._identify()
                elif self._card_accepted():
                    self.session.update(self._clock(), keypad=Keypad(stage="pin"))
            elif len(self._pin) >= self.settings.pin_length_min:
                self._identify()
            else:
                # Too short to be a PIN: start the PIN again rather than guess at it.
                self._pin = ""
                self._publish_keypad()
                self.session.notify(Reason.PIN_REQUIRED, self._clock())

    def _publish_keypad(self) -> None:
        keypad = self.session.view.keypad
        typing_card = keypad.stage == "card"
        self.session.update(
            self._clock(),
            keypad=Keypad(
                keypad.stage,
                len(self._card) if typing_card else len(self._pin),
                self._card if typing_card else "",
                keypad.card_known,
            ),
            notice=None,
        )

    def _normalised_card(self, raw: str, source: str, rules: CardRules) -> str | None:
        """The card as the library system expects it; None (and a notice) when the rules
        refuse it, so nothing is sent."""
        try:
            return normalise(raw, source, rules)
        except CardIdError as exc:
            # The reason never repeats the number; the log gets only its keyed hash.
            log.info("card %s (%s) refused by the card rules: %s", redact(raw), source, exc)
            self.store.increment("card_number_invalid")
            self._reject_identity(Reason.INVALID_CARD_NUMBER, keep_card=False)
            return None

    def _card_accepted(self) -> bool:
        """Before asking for a PIN, tell the patron at once if the card itself is refused."""
        self.session.update(self._clock(), busy=True)
        try:
            result = self.backend.identify(self._card, None)
        except BackendUnavailable:
            return True  # the PIN step will report the link; do not guess here
        finally:
            self.session.update(busy=False)
        if result.reason in (Reason.UNKNOWN_PATRON, Reason.CARD_BLOCKED, Reason.CARD_EXPIRED):
            log.info("card %s refused before the PIN: %s", redact(self._card), result.reason)
            self.store.increment("identify_refused")
            self._reject_identity(result.reason, keep_card=False)
            return False
        return True

    def _identify(self) -> None:
        pin = self._pin if self.settings.require_pin else None
        self.session.update(self._clock(), busy=True)
        try:
            result = self.backend.identify(self._card, pin)
        except BackendUnavailable as exc:
            log.warning("identify: backend unavailable: %s", exc)
            self.session.update(busy=False)
            self._reject_identity(Reason.BACKEND_UNAVAILABLE, keep_card=bool(pin))
            return
        self.session.update(busy=False)
        log.info("identify %s: %s", redact(self._card), result.reason)
        if result.ok and result.patron is not None:
            self._patron = result.patron
            self._pin = ""
            self.store.increment("sessions_checkout")
            self.session.go(
                State.CHECKOUT,
                self._clock(),
                patron_name=result.patron.name,
                patron_is_child=result.patron.is_child,
                keypad=Keypad(),
            )
            return
        self.store.increment("identify_refused")
        self._reject_identity(result.reason, keep_card=result.reason is Reason.WRONG_PIN)

    def _reject_identity(self, reason: Reason, *, keep_card: bool) -> None:
        """Stay on the identify screen with a plain reason; a wrong PIN keeps the card."""
        self._pin = ""
        if keep_card:
            keypad = Keypad(stage="pin", card_known=self.session.view.keypad.card_known)
        else:
            self._card = ""
            keypad = Keypad()
        self.session.update(self._clock(), keypad=keypad)
        self.session.notify(reason, self._clock())

    # --- devices -------------------------------------------------------------------
    def poll_devices(self) -> None:
        """Read the card reader and the pad once. The UI calls this a few times a second."""
        with self._lock:
            try:
                card = self.card_reader.poll()
            except DeviceError as exc:
                self._device_failed("card_reader", exc)
                card = None
            else:
                self._device_works("card_reader")
            if card is not None:
                self.card_presented(card.card, source=card.source)
            if self.session.state not in (State.CHECKOUT, State.RETURN):
                return
            try:
                reads = self.tag_reader.inventory()
            except DeviceError as exc:
                self._device_failed("rfid", exc)
                return
            self._device_works("rfid")
            change = self._tracker.update(reads)
            for uid in change.unreadable:
                self.session.set_line(
                    Line(
                        key=f"uid:{uid.hex()}",
                        status=LineStatus.NOT_READ,
                        reason=Reason.TAG_NOT_READ,
                    ),
                    self._clock(),
                )
            if change.new:
                self.handle_tags(list(change.new))

    def _device_failed(self, device: str, exc: DeviceError) -> None:
        if device not in self.session.view.device_trouble:
            log.warning("%s stopped answering: %s", device, exc)
            trouble = (*self.session.view.device_trouble, device)
            self.session.update(device_trouble=trouble)

    def _device_works(self, device: str) -> None:
        if device in self.session.view.device_trouble:
            log.info("%s answers again", device)
            trouble = tuple(d for d in self.session.view.device_trouble if d != device)
            self.session.update(device_trouble=trouble)

    def handle_tags(self, reads: list[TagRead]) -> None:
        """Tags now on the pad. New ones are decoded, grouped into items and handled."""
        with self._lock:
            state = self.session.state
            if state not in (State.CHECKOUT, State.RETURN):
                return
            ready: list[_PadItem] = []
            for read in reads:
                if read.uid in self._seen_uids:
                    continue
                self._seen_uids.add(read.uid)
                # Read at last after "move it slightly": that line has done its job.
                self.session.remove_line(f"uid:{read.uid.hex()}", self._clock())
                item = self._take_tag(read)
                if item is not None and len(item.uids) == item.tag.parts_in_item:
                    ready.append(item)
            for item in ready:
                if state is State.CHECKOUT:
                    self._lend(item)
                else:
                    self._return(item)

    def _take_tag(self, read: TagRead) -> _PadItem | None:
        """Decode one new tag; return its item when it belongs to a known item."""
        now = self._clock()
        try:
            tag = decode_tag(read.data, dsfid=read.dsfid)
        except TagError as exc:
            reason = (
                Reason.NOT_LIBRARY_TAG
                if exc.kind in ("blank", "not_library")
                else (Reason.DAMAGED_TAG)
            )
            log.info("tag %s on the pad: %s", read.uid.hex(), exc)
            self.session.set_line(
                Line(key=f"uid:{read.uid.hex()}", status=self._refused_status(), reason=reason),
                now,
            )
            return None
        item = self._pad.get(tag.item_id)
        if item is None:
            item = self._pad[tag.item_id] = _PadItem(tag)
        elif tag.part_number in item.uids:
            # Two tags claim the same part of the same item: a copied or mislabelled tag.
            self.session.notify(Reason.DUPLICATE_TAG, now)
            return None
        elif len(item.uids) == item.tag.parts_in_item:
            return None  # the item was already handled in this session
        item.uids[tag.part_number] = read.uid
        if len(item.uids) < tag.parts_in_item:
            missing = tuple(p for p in range(1, tag.parts_in_item + 1) if p not in item.uids)
            self.session.set_line(
                Line(
                    key=tag.item_id,
                    title=self._title(tag.item_id),
                    status=LineStatus.WAITING_PARTS,
                    reason=Reason.INCOMPLETE_SET,
                    parts_seen=len(item.uids),
                    parts_total=tag.parts_in_item,
                    missing_parts=missing,
                ),
                now,
            )
        return item

    def _refused_status(self) -> LineStatus:
        return (
            LineStatus.REFUSED
            if self.session.state is State.CHECKOUT
            else (LineStatus.NOT_RETURNED)
        )

    def _title(self, item_id: str) -> str:
        try:
            info = self.backend.item_info(item_id)
        except BackendUnavailable:
            return ""
        return info.title if info else ""

    # --- circulation -----------------------------------------------------------------
    def _lend(self, item: _PadItem) -> None:
        assert self._patron is not None
        line, result = self._transact(
            item, "checkout", LineStatus.REFUSED, patron_id=self._patron.patron_id
        )
        if result is None:
            return
        assert isinstance(result, CheckoutResult)
        line = replace(line, due=result.due, server_text=result.server_text)
        if not result.ok:
            self.store.increment("checkouts_refused")
            line = replace(line, status=LineStatus.REFUSED, reason=result.reason)
        else:
            self.store.increment("checkouts")
            secured = self._set_security(item, self.settings.afi_on_loan)
            line = replace(line, status=LineStatus.LENT if secured else LineStatus.SECURITY_FAILED)
        self.session.set_line(line, self._clock())

    def _return(self, item: _PadItem) -> None:
        line, result = self._transact(item, "checkin", LineStatus.NOT_RETURNED)
        if result is None:
            return
        assert isinstance(result, CheckinResult)
        line = replace(line, reason=result.reason, server_text=result.server_text)
        # An item that was not on loan is still the library's: shelve it, armed.
        if result.ok or result.reason is Reason.NOT_ON_LOAN:
            self.store.increment("checkins")
            secured = self._set_security(item, self.settings.afi_in_library)
            status = LineStatus.RETURNED if secured else LineStatus.SECURITY_FAILED
            line = replace(line, status=status, destination=result.destination)
        else:
            line = replace(line, status=LineStatus.NOT_RETURNED, destination="staff")
        self.session.set_line(line, self._clock())

    def _transact(
        self, item: _PadItem, kind: str, failed: LineStatus, **fields: str
    ) -> tuple[Line, CheckoutResult | CheckinResult | None]:
        """Show the item as being handled, write the action to the outbox, send it.

        Returns the item's line (titled) and the answer; without an answer the
        line already says the library system is unreachable."""
        item_id, parts = item.tag.item_id, item.tag.parts_in_item
        line = Line(key=item_id, title=self._title(item_id), parts_seen=parts, parts_total=parts)
        self.session.set_line(line, self._clock())
        payload = {
            **fields,
            "item_id": item_id,
            "when": self._wallclock().isoformat(),
            "uids": [uid.hex() for uid in item.uids.values()],
        }
        result = self._send(self.store.add_action(kind, payload))
        if result is None:
            line = replace(line, status=failed, reason=Reason.BACKEND_UNAVAILABLE)
            self.session.set_line(line, self._clock())
        elif result.item is not None:
            line = replace(line, title=result.item.title)
        return line, result

    def _send(self, entry: OutboxEntry) -> CheckoutResult | CheckinResult | None:
        """Send one outbox entry; None when the library system could not be reached."""
        self.store.mark_sending(entry.client_id)
        self.session.update(busy=True)
        try:
            result = self._call_backend(entry)
        except BackendUnavailable as exc:
            log.warning("%s %s: backend unavailable: %s", entry.kind, entry.client_id, exc)
            # Nothing was applied (the backend could not answer); the patron is told so,
            # and the entry stays for staff instead of being replayed behind their back.
            self.store.mark_done(entry.client_id, "failed", error=str(exc))
            return None
        finally:
            self.session.update(busy=False)
        self.store.mark_done(
            entry.client_id, "confirmed" if result.ok else "refused", result=_result_record(result)
        )
        return result

    def _call_backend(
        self, entry: OutboxEntry, *, resumed: bool = False
    ) -> CheckoutResult | CheckinResult:
        when = dt.datetime.fromisoformat(entry.payload["when"])
        if entry.kind == "checkout":
            return self.backend.checkout(
                entry.payload["patron_id"],
                entry.payload["item_id"],
                client_id=entry.client_id,
                when=when,
                resumed=resumed,
            )
        if entry.kind == "checkin":
            return self.backend.checkin(
                entry.payload["item_id"], client_id=entry.client_id, when=when, resumed=resumed
            )
        raise ValueError(f"unknown outbox action {entry.kind!r}")

    def _set_security(self, item: _PadItem, afi: int) -> bool:
        """Write the security byte to every part, retrying; record what could not be set."""
        ok = True
        for uid in item.uids.values():
            for attempt in range(1, SECURITY_WRITE_ATTEMPTS + 1):
                try:
                    self.tag_reader.write_afi(uid, afi)
                    break
                except DeviceError as exc:
                    log.warning("AFI write %s attempt %d: %s", uid.hex(), attempt, exc)
            else:
                ok = False
                entry = self.store.add_action(
                    "security", {"item_id": item.tag.item_id, "uid": uid.hex(), "afi": afi}
                )
                self.store.mark_done(entry.client_id, "failed", error="security write failed")
                self.store.increment("security_failures")
        return ok

    # --- start-up ---------------------------------------------------------------------
    def recover(self) -> int:
        """Replay what a crash left unfinished, in order, with the same client UUIDs.

        The backend answers a repeated UUID with its first answer, so an action
        that reached it before the crash is not applied again. Returns how many
        entries were settled; entries stay unfinished while the backend is away.
        """
        settled = 0
        with self._lock:
            for entry in self.store.unfinished():
                if entry.kind not in ("checkout", "checkin"):
                    continue
                # "sending" means it may have reached the library system before the stop.
                resumed = entry.state == "sending"
                self.store.mark_sending(entry.client_id)
                try:
                    result = self._call_backend(entry, resumed=resumed)
                except BackendUnavailable as exc:
                    log.warning("replay %s: backend unavailable: %s", entry.client_id, exc)
                    break
                if result.reason is Reason.BACKEND_UNAVAILABLE:
                    # Answered, but not done (circulation offline): keep it for a later replay.
                    log.warning("replay %s: %s", entry.client_id, result.server_text)
                    break
                record = _result_record(result) | {"replayed": True}
                state = "confirmed" if result.ok else "refused"
                self.store.mark_done(entry.client_id, state, result=record)
                self.store.increment("replayed")
                settled += 1
        return settled

    # --- internals ----------------------------------------------------------------------
    def _logout(self) -> None:
        if self.session.state is not State.IDLE:
            self.session.logout()
        self._wipe()

    def _wipe(self) -> None:
        """Forget everything about the patron and their items."""
        self._patron: Patron | None = None
        self._card = ""
        self._pin = ""
        self._pad: dict[str, _PadItem] = {}
        self._seen_uids: set[bytes] = set()
        self._tracker.reset()


def _result_record(result: CheckoutResult | CheckinResult) -> dict[str, object]:
    record: dict[str, object] = {"reason": str(result.reason), "server_text": result.server_text}
    if isinstance(result, CheckoutResult) and result.due is not None:
        record["due"] = result.due.isoformat()
    if isinstance(result, CheckinResult):
        record["destination"] = result.destination
    return record
