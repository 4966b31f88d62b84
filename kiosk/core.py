"""The kiosk's brain: turns card taps, key presses and tags on the pad into
circulation actions, through the outbox, and moves the session along.

Every circulation action is written to the store before it is sent, with its
client UUID as the idempotency key; on start, `recover()` replays whatever a
crash left unfinished, so nothing is lost and nothing is applied twice.

When the library system cannot be reached, the kiosk goes offline: returns
go on, loans go on where the configuration allows (kiosk.offline), each
written to the outbox with the kiosk's time and replayed in order by
`sync()` once the system answers again; what it would have refused goes to
staff as a conflict.

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
from drivers.printer import Printer
from kiosk.cardid import CardIdError, CardRules, normalise
from kiosk.circulation import (
    BackendUnavailable,
    CheckinResult,
    CheckoutResult,
    CirculationBackend,
    Patron,
    Reason,
)
from kiosk.core_events import EventsFlow
from kiosk.events import EventsService
from kiosk.i18n import Localizer
from kiosk.offline import OfflineGate, OfflineRules, category_of
from kiosk.pad import PadRules, PadTracker
from kiosk.privacy import redact
from kiosk.receipt import ReceiptLoan, receipt_bytes, receipt_lines, receipt_texts
from kiosk.session import (
    Account,
    AccountHold,
    AccountLoan,
    Keypad,
    Line,
    LineStatus,
    Observer,
    Receipt,
    Session,
    SessionView,
    State,
    Timing,
)
from kiosk.store import OutboxEntry, Store
from kiosk.tags import LibraryTag, TagError, decode_tag

log = logging.getLogger(__name__)

SECURITY_WRITE_ATTEMPTS = 3
REPLAY_BATCH = 50  # outbox entries replayed per sync() call, so a patron never waits long
REPLAYED_KINDS = ("checkout", "checkin", "renew")
# Reasons of a checkout that mean "the library system did not do it and cannot now".
_UNREACHABLE = (Reason.BACKEND_UNAVAILABLE,)


@dataclass(frozen=True, slots=True)
class ReceiptRules:
    offer: tuple[str, ...] = ("print", "email", "none")
    default: str = "print"
    ask: bool = True
    library: str = "Mariborska knjižnica"


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
    offline: OfflineRules = field(default_factory=OfflineRules)
    receipt: ReceiptRules = field(default_factory=ReceiptRules)
    location_names: dict[str, str] = field(default_factory=dict)  # "MB" → "Knjižnica Rotovž"


@dataclass(slots=True)
class _PadItem:
    """Parts of one item seen on the pad in this session, by part number."""

    tag: LibraryTag
    uids: dict[int, bytes] = field(default_factory=dict)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KioskCore(EventsFlow):
    def __init__(
        self,
        *,
        backend: CirculationBackend,
        store: Store,
        tag_reader: TagReader,
        card_reader: CardReader,
        printer: Printer | None = None,
        events_service: EventsService | None = None,
        settings: CoreSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.backend = backend
        self.store = store
        self.tag_reader = tag_reader
        self.card_reader = card_reader
        self.printer = printer
        self.events_service = events_service
        self.settings = settings or CoreSettings()
        self._clock = clock
        self._wallclock = wallclock
        self._lock = threading.RLock()
        self.session = Session(self.settings.timing, self.settings.default_language, clock())
        self._tracker = PadTracker(self.settings.pad)
        self._offline_gate = OfflineGate(self.settings.offline, store)
        self._next_check = 0.0  # when sync() next asks whether the library system answers
        self._next_blocked_refresh = 0.0
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
                self._goal = State.CHECKOUT
                self.session.go(State.IDENTIFY, self._clock(), keypad=Keypad())

    def begin_account(self) -> None:
        """'My account' on the start screen: identify, then the account."""
        with self._lock:
            if self.session.state is State.IDLE:
                self._goal = State.ACCOUNT
                self.session.go(State.IDENTIFY, self._clock(), keypad=Keypad())

    def show_account(self) -> None:
        """From borrowing to the account: loans, renewals, holds, fees."""
        with self._lock:
            if self.session.state is State.CHECKOUT and self._patron is not None:
                self.session.go(State.ACCOUNT, self._clock(), account=self._load_account())

    def back_to_borrowing(self) -> None:
        with self._lock:
            if self.session.state is State.ACCOUNT:
                self.session.go(State.CHECKOUT, self._clock())

    def begin_return(self) -> None:
        with self._lock:
            if self.session.state is State.IDLE:
                self.store.increment("sessions_return")
                self.session.go(State.RETURN, self._clock())

    def finish(self) -> None:
        """The patron is done borrowing or returning: show the summary and the receipt
        choice (or give the library's default receipt without asking)."""
        with self._lock:
            if self.session.state not in (State.CHECKOUT, State.RETURN, State.ACCOUNT):
                return
            self.session.go(State.SUMMARY, self._clock(), receipt=self._receipt_offer())
            receipt = self.session.view.receipt
            if receipt.offer and not self.settings.receipt.ask:
                self._deliver_receipt(receipt.default)

    def choose_receipt(self, kind: str) -> None:
        """The patron's receipt: "print", "email" or "none" (once per session)."""
        with self._lock:
            receipt = self.session.view.receipt
            # A failed print may be followed by another choice (e-mail, none).
            if self.session.state is not State.SUMMARY or (
                receipt.chosen and receipt.status != "failed"
            ):
                return
            if kind not in receipt.offer:
                raise ValueError(f"receipt {kind!r} is not offered (offered: {receipt.offer})")
            self._deliver_receipt(kind)

    def logout(self) -> None:
        """'Done' or 'Log out'. On the summary, a receipt not yet chosen is the default
        one: the patron is still at the kiosk to take it."""
        with self._lock:
            receipt = self.session.view.receipt
            if self.session.state is State.SUMMARY and receipt.offer and not receipt.chosen:
                self._deliver_receipt(receipt.default)
            self._logout()

    def renew(self, item_id: str) -> None:
        """Renew one loan: from the account, or an item on the pad already lent to the
        patron."""
        with self._lock:
            if self._patron is None or self.session.state not in (State.CHECKOUT, State.ACCOUNT):
                return
            self._renew(item_id)

    def renew_all(self) -> None:
        """Renew every loan on the account not renewed yet; each gets its own answer."""
        with self._lock:
            account = self.session.view.account
            if self._patron is None or self.session.state is not State.ACCOUNT or account is None:
                return
            for loan in account.loans:
                if loan.renewal is not Reason.OK:
                    self._renew(loan.item_id)

    def sync(self) -> int:
        """Housekeeping the UI's worker calls every second or so: every
        `offline.check_interval_s` ask whether the library system answers; when it
        does, replay the outbox a batch at a time and leave offline mode once it is
        empty; now and then refresh the blocked-card list. Returns entries replayed."""
        with self._lock:
            now = self._clock()
            if now < self._next_check:
                return 0
            self._next_check = now + self.settings.offline.check_interval_s
            try:
                online = self.backend.status().online
            except BackendUnavailable:
                online = False
            if not online:
                self._set_offline(True)
                return 0
            replayed = self.recover(limit=REPLAY_BATCH)
            if not self.store.unfinished(REPLAYED_KINDS, limit=1):
                self._set_offline(False)
            else:
                self._next_check = now  # more to replay: carry on at the next call
            if not self.session.view.offline and now >= self._next_blocked_refresh:
                self._next_blocked_refresh = now + self.settings.offline.blocked_list_refresh_s
                try:
                    self._offline_gate.refresh_blocked(self.backend)
                except BackendUnavailable as exc:
                    log.warning("blocked-card list not refreshed: %s", exc)
            return replayed

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
            if card and self._event_card_presented(card, source):
                return
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
        if self.session.view.offline:
            return True  # decided offline after the PIN, without waiting for a timeout
        self.session.update(self._clock(), busy=True)
        try:
            result = self.backend.identify(self._card, None)
        except BackendUnavailable:
            return True  # the PIN step will report the link; do not guess here
        finally:
            self.session.update(busy=False)
        if result.reason in (Reason.UNKNOWN_PATRON, Reason.CARD_BLOCKED, Reason.CARD_EXPIRED):
            log.info("card %s refused before the PIN: %s", redact(self._card), result.reason)
            self._offline_gate.remember(self._card, result.patron, result.reason)
            self._count_refusal("identify", result.reason)
            self._reject_identity(result.reason, keep_card=False)
            return False
        return True

    def _identify(self) -> None:
        pin = self._pin if self.settings.require_pin else None
        if self.session.view.offline:
            self._identify_offline()
            return
        self.session.update(self._clock(), busy=True)
        try:
            result = self.backend.identify(self._card, pin)
        except BackendUnavailable as exc:
            log.warning("identify: backend unavailable: %s", exc)
            self.session.update(busy=False)
            self._set_offline(True)
            self._identify_offline()
            return
        self.session.update(busy=False)
        log.info("identify %s: %s", redact(self._card), result.reason)
        self._offline_gate.remember(self._card, result.patron, result.reason)
        if result.ok and result.patron is not None:
            self._welcome(result.patron, offline=False)
            return
        self._count_refusal("identify", result.reason)
        self._reject_identity(result.reason, keep_card=result.reason is Reason.WRONG_PIN)

    def _identify_offline(self) -> None:
        """The library system is away: decide from the card cache and the offline rules.
        The PIN cannot be checked offline; the offline limits bound the risk."""
        reason, category = self._offline_gate.identify(self._card)
        log.info("identify %s offline (%s): %s", redact(self._card), category, reason)
        if reason is not Reason.OK:
            self._count_refusal("identify", reason)
            self._reject_identity(reason, keep_card=False)
            return
        self._category = category
        self._welcome(Patron(patron_id=self._card, name=""), offline=True)

    def _welcome(self, patron: Patron, *, offline: bool) -> None:
        self._patron = patron
        if not offline:
            self._category = category_of(patron)
        self._pin = ""
        self.store.increment("sessions_checkout")
        goal = self._goal
        self.session.go(
            goal,
            self._clock(),
            identified=True,
            patron_name=patron.name,
            patron_is_child=patron.is_child,
            keypad=Keypad(),
            account=self._load_account() if goal is State.ACCOUNT else None,
        )

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
            # The patron took the books off the pad: they may be leaving (shorter timeout).
            self.session.pad_left_empty = not reads and bool(self.session.view.lines)
            change = self._tracker.update(reads)
            for uid in change.unreadable:
                self.store.increment("read_failures")
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
                if read.uid in self._unsecured:
                    self._secure_again(read.uid)
                    continue
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
        if self.session.view.offline:
            return ""  # asking would only wait for a timeout; the item id stands in
        try:
            info = self.backend.item_info(item_id)
        except BackendUnavailable:
            return ""
        return info.title if info else ""

    # --- circulation -----------------------------------------------------------------
    def _lend(self, item: _PadItem) -> None:
        assert self._patron is not None
        if self.session.view.offline:
            self._lend_offline(item, self._item_line(item))
            return
        line, entry, result = self._transact(item, "checkout", patron_id=self._patron.patron_id)
        if result is None or result.reason in _UNREACHABLE:
            self._set_offline(True)
            if self._offline_gate.rules.lending:
                self._lend_offline(item, line, entry)
            else:
                self._give_up(entry, line, LineStatus.REFUSED, result)
            return
        assert isinstance(result, CheckoutResult)
        line = replace(line, due=result.due, server_text=result.server_text)
        if result.reason is Reason.ALREADY_ON_LOAN_TO_YOU:
            # Lent already, and the patron will walk out with it: make sure it is disarmed.
            self._count_refusal("checkout", result.reason)
            line = replace(line, status=LineStatus.REFUSED, reason=result.reason)
            if not self._set_security(item, self.settings.afi_on_loan):
                line = replace(line, status=LineStatus.SECURITY_FAILED)
                self._remember_unsecured(item, self.settings.afi_on_loan, LineStatus.REFUSED)
        elif not result.ok:
            self._count_refusal("checkout", result.reason)
            line = replace(line, status=LineStatus.REFUSED, reason=result.reason)
        else:
            self.store.increment("checkouts")
            line = self._secured(item, line, self.settings.afi_on_loan, LineStatus.LENT)
        self.session.set_line(line, self._clock())

    def _lend_offline(self, item: _PadItem, line: Line, entry: OutboxEntry | None = None) -> None:
        """Lend without the library system: within the offline limits, recorded for replay."""
        assert self._patron is not None
        now = self._wallclock()
        refusal = self._offline_gate.loan_refusal(self._patron.patron_id, self._category, now)
        if refusal is not None:
            self._count_refusal("checkout", refusal)
            if entry is not None:  # it never reached the library system as far as we know
                self.store.mark_done(entry.client_id, "failed", error=f"offline: {refusal}")
            line = replace(line, status=LineStatus.REFUSED, reason=refusal)
            self.session.set_line(line, self._clock())
            return
        due = self._offline_gate.due_date(now)
        details = {"offline": True, "due": due.isoformat()}
        if entry is None:
            payload = self._payload(item, now, patron_id=self._patron.patron_id)
            self.store.add_action("checkout", payload | details)
        else:
            self.store.mark_offline(entry.client_id, details)
        self.store.increment("checkouts_offline")
        line = replace(line, due=due, offline=True)
        line = self._secured(item, line, self.settings.afi_on_loan, LineStatus.LENT)
        self.session.set_line(line, self._clock())

    def _return(self, item: _PadItem) -> None:
        if self.session.view.offline:
            self._return_offline(item, self._item_line(item))
            return
        line, entry, result = self._transact(item, "checkin")
        if result is None or result.reason in _UNREACHABLE:
            # Returns always work: the book is back whatever the library system says later.
            self._set_offline(True)
            self._return_offline(item, line, entry)
            return
        assert isinstance(result, CheckinResult)
        line = replace(line, reason=result.reason, server_text=result.server_text)
        # An item that was not on loan is still the library's: shelve it, armed.
        if result.ok or result.reason is Reason.NOT_ON_LOAN:
            self.store.increment("checkins")
            line = replace(line, destination=result.destination)
            line = self._secured(item, line, self.settings.afi_in_library, LineStatus.RETURNED)
        else:
            self._count_refusal("checkin", result.reason)
            line = replace(line, status=LineStatus.NOT_RETURNED, destination="staff")
        self.session.set_line(line, self._clock())

    def _return_offline(self, item: _PadItem, line: Line, entry: OutboxEntry | None = None) -> None:
        details = {"offline": True}
        if entry is None:
            self.store.add_action("checkin", self._payload(item, self._wallclock()) | details)
        else:
            self.store.mark_offline(entry.client_id, details)
        self.store.increment("checkins_offline")
        # Where it goes is unknown (a hold? another branch?): staff sort it when the
        # replay tells them.
        line = replace(line, destination="unsorted", offline=True, reason=Reason.OK)
        line = self._secured(item, line, self.settings.afi_in_library, LineStatus.RETURNED)
        self.session.set_line(line, self._clock())

    def _item_line(self, item: _PadItem) -> Line:
        parts = item.tag.parts_in_item
        return Line(
            key=item.tag.item_id,
            title=self._title(item.tag.item_id),
            parts_seen=parts,
            parts_total=parts,
        )

    def _payload(self, item: _PadItem, when: dt.datetime, **fields: str) -> dict[str, object]:
        return {
            **fields,
            "item_id": item.tag.item_id,
            "when": when.isoformat(),
            "uids": [uid.hex() for uid in item.uids.values()],
        }

    def _transact(
        self, item: _PadItem, kind: str, **fields: str
    ) -> tuple[Line, OutboxEntry, CheckoutResult | CheckinResult | None]:
        """Show the item as being handled, write the action to the outbox, send it.

        Returns the item's line (titled), the entry and the answer (None when the
        library system could not be reached; the entry is then still unfinished)."""
        line = self._item_line(item)
        self.session.set_line(line, self._clock())
        entry = self.store.add_action(kind, self._payload(item, self._wallclock(), **fields))
        result = self._send(entry)
        if result is not None and result.item is not None:
            line = replace(line, title=result.item.title)
        return line, entry, result

    def _give_up(
        self,
        entry: OutboxEntry,
        line: Line,
        failed: LineStatus,
        result: CheckoutResult | CheckinResult | None,
    ) -> None:
        """Not done and not to be done offline: the patron is told, staff see the entry."""
        error = result.server_text if result is not None else "library system unreachable"
        if not self.store.get(entry.client_id).finished:  # type: ignore[union-attr]
            self.store.mark_done(entry.client_id, "failed", error=error or "unreachable")
        line = replace(line, status=failed, reason=Reason.BACKEND_UNAVAILABLE)
        self.session.set_line(line, self._clock())

    def _send(self, entry: OutboxEntry) -> CheckoutResult | CheckinResult | None:
        """Send one outbox entry and record the answer. None when the library system
        could not be reached; the entry then stays unfinished ("sending": it may have
        reached the system), for the caller to take offline or give up."""
        self.store.mark_sending(entry.client_id)
        self.session.update(busy=True)
        try:
            result = self._call_backend(entry)
        except BackendUnavailable as exc:
            log.warning("%s %s: backend unavailable: %s", entry.kind, entry.client_id, exc)
            return None
        finally:
            self.session.update(busy=False)
        if result.reason in _UNREACHABLE:
            return result  # answered, but not done (circulation offline): still unfinished
        self.store.mark_done(
            entry.client_id, "confirmed" if result.ok else "refused", result=_result_record(result)
        )
        return result

    def _call_backend(
        self, entry: OutboxEntry, *, resumed: bool = False
    ) -> CheckoutResult | CheckinResult:
        payload = entry.payload
        when = dt.datetime.fromisoformat(payload["when"])
        offline = bool(payload.get("offline"))
        if entry.kind == "checkout":
            due = dt.date.fromisoformat(payload["due"]) if offline else None
            return self.backend.checkout(
                payload["patron_id"],
                payload["item_id"],
                client_id=entry.client_id,
                when=when,
                resumed=resumed,
                offline_due=due,
            )
        if entry.kind == "checkin":
            return self.backend.checkin(
                payload["item_id"],
                client_id=entry.client_id,
                when=when,
                resumed=resumed,
                offline=offline,
            )
        if entry.kind == "renew":
            return self.backend.renew(
                payload["patron_id"],
                payload["item_id"],
                client_id=entry.client_id,
                when=when,
                resumed=resumed,
            )
        raise ValueError(f"unknown outbox action {entry.kind!r}")

    # --- security ---------------------------------------------------------------------
    def _secured(self, item: _PadItem, line: Line, afi: int, done: LineStatus) -> Line:
        """Set and verify the security byte; the line says which book to place again."""
        if self._set_security(item, afi):
            return replace(line, status=done)
        self._remember_unsecured(item, afi, done)
        return replace(line, status=LineStatus.SECURITY_FAILED)

    def _remember_unsecured(self, item: _PadItem, afi: int, done: LineStatus) -> None:
        for uid in item.uids.values():
            self._unsecured[uid] = (item, afi, done)

    def _set_security(self, item: _PadItem, afi: int) -> bool:
        """Write the security byte to every part and read it back, retrying; record what
        could not be set, so a lent book armed or a returned one disarmed is never silent."""
        ok = True
        for uid in item.uids.values():
            for attempt in range(1, SECURITY_WRITE_ATTEMPTS + 1):
                try:
                    self.tag_reader.write_afi(uid, afi)
                    found = self.tag_reader.read_afi(uid)
                except DeviceError as exc:
                    log.warning("AFI write %s attempt %d: %s", uid.hex(), attempt, exc)
                    continue
                if found == afi:
                    break
                log.warning(
                    "AFI write %s attempt %d: reads back 0x%02X, not 0x%02X",
                    uid.hex(),
                    attempt,
                    found,
                    afi,
                )
            else:
                ok = False
                entry = self.store.add_action(
                    "security", {"item_id": item.tag.item_id, "uid": uid.hex(), "afi": afi}
                )
                self.store.mark_done(entry.client_id, "failed", error="security write failed")
                self.store.increment("security_failures")
        return ok

    def _secure_again(self, uid: bytes) -> None:
        """A book whose security write failed was placed again: try once more."""
        item, afi, done = self._unsecured[uid]
        line = next((x for x in self.session.view.lines if x.key == item.tag.item_id), None)
        if line is None or not self._set_security(item, afi):
            return
        for part in item.uids.values():
            self._unsecured.pop(part, None)
        self.store.increment("security_fixed")
        self.session.set_line(replace(line, status=done), self._clock())

    # --- renewals and the account ------------------------------------------------------
    def _renew(self, item_id: str) -> None:
        assert self._patron is not None
        if self.session.view.offline:
            result: CheckoutResult | None = None
        else:
            payload = {
                "patron_id": self._patron.patron_id,
                "item_id": item_id,
                "when": self._wallclock().isoformat(),
            }
            entry = self.store.add_action("renew", payload)
            answer = self._send(entry)
            if answer is None or answer.reason in _UNREACHABLE:
                self.store.mark_done(entry.client_id, "failed", error="library system unreachable")
                self._set_offline(True)
                answer = None
            assert answer is None or isinstance(answer, CheckoutResult)
            result = answer
        reason = result.reason if result is not None else Reason.BACKEND_UNAVAILABLE
        if result is not None and result.ok:
            self.store.increment("renewals")
        else:
            self._count_refusal("renew", reason)
        self._show_renewal(item_id, reason, result.due if result is not None else None)

    def _show_renewal(self, item_id: str, reason: Reason, due: dt.date | None) -> None:
        now = self._clock()
        account = self.session.view.account
        if account is not None:
            loans = tuple(
                replace(
                    loan,
                    renewal=reason,
                    due=due if reason is Reason.OK and due else loan.due,
                    overdue=loan.overdue and reason is not Reason.OK,
                )
                if loan.item_id == item_id
                else loan
                for loan in account.loans
            )
            self.session.update(now, account=replace(account, loans=loans))
        line = next((x for x in self.session.view.lines if x.key == item_id), None)
        if line is not None and line.renewable:
            if reason is Reason.OK:
                line = replace(line, status=LineStatus.RENEWED, reason=Reason.OK, due=due)
            else:
                line = replace(line, reason=reason)
            self.session.set_line(line, now)
        if reason is not Reason.OK and line is None and account is None:
            self.session.notify(reason, now)

    def _load_account(self) -> Account:
        """The patron's account from the library system; `available=False` offline."""
        assert self._patron is not None
        if self.session.view.offline:
            return Account(available=False)
        self.session.update(busy=True)
        try:
            summary = self.backend.summary(self._patron.patron_id)
        except BackendUnavailable as exc:
            log.warning("account: backend unavailable: %s", exc)
            self._set_offline(True)
            return Account(available=False)
        finally:
            self.session.update(busy=False)
        if summary is None:
            return Account(available=False)
        today = self._wallclock().astimezone().date()
        loans = tuple(
            AccountLoan(
                loan.item.item_id,
                loan.item.title,
                loan.due,
                overdue=loan.overdue or loan.due < today,
            )
            for loan in sorted(summary.loans, key=lambda loan: (loan.due, loan.item.title))
        )
        names = self.settings.location_names
        holds = tuple(
            AccountHold(
                hold.item.title, names.get(hold.pickup_location, hold.pickup_location), hold.until
            )
            for hold in summary.holds_ready
        )
        return Account(loans, holds, summary.fees_cents, summary.currency)

    # --- receipts -----------------------------------------------------------------------
    def _receipt_offer(self) -> Receipt:
        """What the summary offers: nothing when nothing happened; no e-mail without a
        patron (returns need no card) or offline, where the address cannot be looked up."""
        view = self.session.view
        if not (view.lent or view.returned or view.renewed):
            return Receipt()
        rules = self.settings.receipt
        offer = tuple(
            kind
            for kind in rules.offer
            if kind != "email" or (self._patron is not None and not view.offline)
        )
        default = rules.default if rules.default in offer else "none"
        if default not in offer:
            offer = (*offer, "none")
        return Receipt(offer=offer, default=default)

    def _deliver_receipt(self, kind: str) -> None:
        view = self.session.view
        if kind == "print":
            status = self._print_receipt(view)
        elif kind == "email":
            assert self._patron is not None
            self.store.add_action(
                "receipt_email",
                {
                    "patron_id": self._patron.patron_id,
                    "language": view.language,
                    "when": self._wallclock().isoformat(),
                    "items": _receipt_items(view),
                },
            )
            self.store.increment("receipts_email")
            status = "queued"  # sent through the central API once it is configured
        else:
            status = "none"
        self.session.update(
            self._clock(), receipt=replace(view.receipt, chosen=kind, status=status)
        )

    def _print_receipt(self, view: SessionView) -> str:
        if self.printer is None:
            return "failed"
        loc = Localizer(view.language)
        returning = not view.lent and not view.renewed
        shown = view.returned if returning else (*view.lent, *view.renewed)
        loans = [ReceiptLoan(line.title or line.key, line.due) for line in shown]
        lines = receipt_lines(
            library=self.settings.receipt.library,
            when=self._wallclock(),
            card=self._patron.patron_id if self._patron is not None else "",
            loans=loans,
            texts=receipt_texts(loc, returning=returning),
            lang=view.language,
        )
        try:
            if not self.printer.status().can_print:
                raise DeviceError(f"printer not ready: {self.printer.status().state}")
            self.printer.print_bytes(receipt_bytes(lines))
        except DeviceError as exc:
            log.warning("receipt not printed: %s", exc)
            self._device_failed("printer", exc)
            return "failed"
        self._device_works("printer")
        self.store.increment("receipts_printed")
        return "printed"

    # --- offline and replay ---------------------------------------------------------------
    def _set_offline(self, offline: bool) -> None:
        if offline != self.session.view.offline:
            log.warning("library system %s", "unreachable: offline mode" if offline else "back")
            self.session.update(offline=offline)
            if offline:
                self.store.increment("went_offline")

    def recover(self, limit: int | None = None) -> int:
        """Replay unfinished actions in order, with the same client UUIDs: what a crash
        left, and what was done offline. Returns how many entries were settled.

        The backend answers a repeated UUID with its first answer (or looks before
        repeating one that may have reached it), so nothing is applied twice. Offline
        actions are sent as what already happened (no-block); what the library system
        would have refused, or refuses to record, is a conflict for staff. Replay stops
        at the first entry the system cannot take now, to keep the order.
        """
        settled = 0
        with self._lock:
            for entry in self.store.unfinished(REPLAYED_KINDS, limit=limit):
                # "sending" means it may have reached the library system before the stop.
                resumed = entry.state == "sending"
                self.store.mark_sending(entry.client_id)
                try:
                    result = self._call_backend(entry, resumed=resumed)
                except BackendUnavailable as exc:
                    log.warning("replay %s: backend unavailable: %s", entry.client_id, exc)
                    break
                if result.reason in _UNREACHABLE:
                    # Answered, but not done (circulation offline): keep it for a later replay.
                    log.warning("replay %s: %s", entry.client_id, result.server_text)
                    break
                record = _result_record(result) | {"replayed": True}
                self.store.mark_done(entry.client_id, _replayed_state(entry, result), result=record)
                self.store.increment("replayed")
                if _replayed_state(entry, result) == "conflict":
                    self.store.increment("replay_conflicts")
                settled += 1
        return settled

    # --- counters -----------------------------------------------------------------------
    def _count_refusal(self, action: str, reason: Reason) -> None:
        """Anonymous statistics: refusals by action and reason, never by patron."""
        self.store.increment(f"{action}_refused")
        self.store.increment(f"refused:{action}:{reason.value}")

    # --- internals ----------------------------------------------------------------------
    def _logout(self) -> None:
        if self.session.state is not State.IDLE:
            self.session.logout()
        self._wipe()

    def _wipe(self) -> None:
        """Forget everything about the patron and their items."""
        self._patron: Patron | None = None
        self._category = "unknown"
        self._goal = State.CHECKOUT
        self._card = ""
        self._pin = ""
        self._pad: dict[str, _PadItem] = {}
        self._seen_uids: set[bytes] = set()
        self._unsecured: dict[bytes, tuple[_PadItem, int, LineStatus]] = {}
        self._event_card = ""
        self._tracker.reset()


def _replayed_state(entry: OutboxEntry, result: CheckoutResult | CheckinResult) -> str:
    offline = bool(entry.payload.get("offline"))
    if isinstance(result, CheckoutResult) and result.conflicts:
        return "conflict"
    if offline and entry.kind == "checkout" and not result.ok:
        return "conflict"  # the patron has the book; the library system does not know it
    return "confirmed" if result.ok else "refused"


def _receipt_items(view: SessionView) -> list[dict[str, str]]:
    lines = (*view.lent, *view.renewed) or view.returned
    return [
        {"title": line.title or line.key, "due": line.due.isoformat() if line.due else ""}
        for line in lines
    ]


def _result_record(result: CheckoutResult | CheckinResult) -> dict[str, object]:
    record: dict[str, object] = {"reason": str(result.reason), "server_text": result.server_text}
    if isinstance(result, CheckoutResult) and result.due is not None:
        record["due"] = result.due.isoformat()
    if isinstance(result, CheckoutResult) and result.conflicts:
        record["conflicts"] = [str(reason) for reason in result.conflicts]
    if isinstance(result, CheckinResult):
        record["destination"] = result.destination
    return record
