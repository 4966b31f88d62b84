"""NFC card readers for patron library cards, through nfcpy.

URLs (the part after `nfc:`):

    usb                      the first reader nfcpy finds on USB (passed to nfcpy as-is)
    usb:072f:2200            a reader by USB vendor:product (here an ACS ACR122U)
    usb:001:023              a reader by USB bus:device
    tty:AMA0:pn532           a serial reader on /dev/ttyAMA0 with nfcpy's pn532 driver
    /dev/serial/by-id/…      a serial reader by path (pn532 unless ?driver=arygon)

Any form takes `?ndef=1`: a card whose NDEF message holds a Text record is then reported by
that text (the library card number, source "nfc-ndef") instead of its UID. nfcpy's own `tty:`
lookup only lists names in /dev, so it cannot reach a udev symlink or a pty; for a path the
driver opens nfcpy's TTY transport and driver module itself and hands the device to a
ContactlessFrontend.

Each poll does one short sense (106 kbps type A, then type B) and reports a card once per
presentation: not again while it stays on the reader, again after it was taken away (for
`absent_polls` polls) and put back. The reader is opened when the driver is made (a missing
one is logged, and the app starts anyway) and reopened on the poll after any failure, so a
reader plugged back in works without restarting the app (a reader that could not be opened
is tried again `retry_after_s` later); after a reopen a card lying on it counts as newly
presented. A card UID identifies a patron: it is never logged, only a short
hash of it at debug level.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from drivers.base import CardRead, DeviceError

log = logging.getLogger(__name__)

TTY_DRIVERS = ("pn532", "arygon")  # nfcpy's serial drivers
SENSE_TARGETS = ("106A", "106B")  # library cards are ISO 14443 A (MIFARE, NTAG) or B
MAX_NDEF_NUMBER = 64  # a longer "card number" in a Text record is something else
RETRY_AFTER_S = 1.0  # after a failed open, polls repeat that error this long before retrying
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_EXAMPLES = "e.g. nfc:usb, nfc:tty:AMA0:pn532 or nfc:/dev/ttyUSB0"
# nfcpy's search paths, as nfc.clf.transport matches them.
_NFCPY_PATH = re.compile(
    r"usb(:[0-9a-fA-F]{4}(:[0-9a-fA-F]{4})?|:[0-9]{1,3}(:[0-9]{1,3})?)?"
    r"|(tty|com):[A-Za-z0-9-]+(:(pn532|arygon))?"
)
# nfcpy's pn532 driver runs `stty -F <path>` through the shell: only plain path characters.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+:@=,-]*")


@dataclass(frozen=True)
class NfcAddress:
    device: str  # an nfcpy search path ("usb:072f:2200") or a file path ("/dev/ttyUSB0")
    is_path: bool
    driver: str = "pn532"
    ndef: bool = False


def parse_nfc_address(address: str, url: str) -> NfcAddress:
    """`/dev/ttyUSB0?driver=arygon&ndef=1` -> NfcAddress; DeviceError with a plain reason."""
    device, _, query = address.strip().partition("?")
    if not device:
        raise DeviceError(f"the NFC reader needs a device, {_EXAMPLES} (url {url})")
    options = _parse_options(query, url)
    is_path = device.startswith("/")
    known = {"ndef", "driver"} if is_path else {"ndef"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise DeviceError(
            f"unknown option {unknown[0]!r}; use {' and '.join(sorted(known))} (url {url})"
        )
    ndef_text = options.get("ndef", "0").lower()
    if ndef_text not in _TRUE + _FALSE:
        raise DeviceError(f"ndef must be 1 or 0, not {ndef_text!r} (url {url})")
    driver = options.get("driver", "pn532").lower()
    if driver not in TTY_DRIVERS:
        raise DeviceError(
            f"driver must be one of {', '.join(TTY_DRIVERS)}, not {driver!r} (url {url})"
        )
    if is_path:
        if not _SAFE_PATH.fullmatch(device) or "/../" in device + "/":
            raise DeviceError(
                f"the device path {device!r} may hold only letters, digits and / . _ - + : @ = ,"
                f" and no /../ (url {url})"
            )
    elif not _NFCPY_PATH.fullmatch(device):
        raise DeviceError(f"{device!r} is not an NFC reader address; {_EXAMPLES} (url {url})")
    return NfcAddress(device=device, is_path=is_path, driver=driver, ndef=ndef_text in _TRUE)


def _parse_options(query: str, url: str) -> dict[str, str]:
    """`ndef=1&driver=arygon` -> {"ndef": "1", "driver": "arygon"}; a bare `ndef` means ndef=1."""
    options: dict[str, str] = {}
    for field in query.split("&") if query else []:
        name, equals, value = field.partition("=")
        if not name.strip():
            raise DeviceError(f"cannot read the options {query!r} (url {url})")
        options[unquote(name.strip()).lower()] = unquote(value.strip()) if equals else "1"
    return options


def card_hash(uid: bytes) -> str:
    """A short stable tag for logs: tells presentations apart without naming the patron."""
    return hashlib.sha256(b"kiosk-nfc:" + uid).hexdigest()[:8]


class NfcCardReader:
    """An nfcpy contactless reader used as a patron card reader. Implements CardReader."""

    def __init__(
        self,
        device: str,
        *,
        driver: str = "pn532",
        ndef: bool = False,
        url: str | None = None,
        absent_polls: int = 2,
        retry_after_s: float = RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if driver not in TTY_DRIVERS:
            raise DeviceError(f"driver must be one of {', '.join(TTY_DRIVERS)}, not {driver!r}")
        if absent_polls < 1 or retry_after_s < 0:
            raise DeviceError("absent_polls must be at least 1 and retry_after_s not negative")
        self.device = device
        self.is_path = device.startswith("/")
        self.driver = driver
        self.ndef = ndef
        self.url = url or f"nfc:{device}"
        self.absent_polls = absent_polls
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._open_error = ""  # why the last open failed, repeated until the next attempt
        self._retry_at = 0.0
        self._lock = threading.RLock()
        self._clf: Any = None  # nfc.ContactlessFrontend while open
        self._name = ""
        self._closed = False
        self._present: str | None = None  # UID (hex) of the card on the reader, if reported
        self._misses = 0
        try:
            self._connect()
        except DeviceError as err:  # the app starts anyway; the next poll tries again
            log.warning("%s", err)

    @classmethod
    def from_url(cls, address: str, url: str) -> NfcCardReader:
        parsed = parse_nfc_address(address, url)
        return cls(parsed.device, driver=parsed.driver, ndef=parsed.ndef, url=url)

    # --- CardReader ---------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "ok" (open), "missing" (not open: absent, or dropped after a failure) or "closed"."""
        return "closed" if self._closed else "ok" if self._clf else "missing"

    def poll(self) -> CardRead | None:
        with self._lock:
            if self._closed:
                raise DeviceError(f"the NFC reader {self.url} is closed")
            clf = self._clf or self._connect()
            target = self._sense(clf)
            if target is None:
                self._misses += 1
                if self._misses >= self.absent_polls:
                    self._present = None  # gone long enough: the next one is a new presentation
                return None
            self._misses = 0
            uid = _uid_hex(target)
            if not uid or uid == self._present:
                return None  # the same card still there (or an answer without an identifier)
            read = self._identify(clf, target, uid)
            if read is not None:
                self._present = uid
                log.debug("card %s presented (%s)", card_hash(bytes.fromhex(uid)), read.source)
            return read

    def describe(self) -> str:
        with self._lock:
            state = "closed" if self._closed else "open" if self._clf else "not open"
            name = f" ({self._name})" if self._name and self._clf else ""
            ndef = ", card numbers from NDEF text" if self.ndef else ""
            return f"NFC card reader {self.url}{name}{ndef}: {state}"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._disconnect()

    # --- cards --------------------------------------------------------------------------------

    def _sense(self, clf: Any) -> Any:
        from nfc.clf import RemoteTarget

        try:
            return clf.sense(*(RemoteTarget(brty) for brty in SENSE_TARGETS), iterations=1)
        except Exception as err:  # nfcpy parsing a garbled answer raises anything at all
            raise self._lost(err) from None

    def _identify(self, clf: Any, target: Any, uid: str) -> CardRead | None:
        if not self.ndef:
            return CardRead(card=uid, source="nfc")
        number = self._ndef_number(clf, target)
        if number is not None:
            return CardRead(card=number, source="nfc-ndef")
        # No number: the card holds no NDEF text, or it left during the read. Look again:
        # a card that went away is not reported (it is read afresh when it comes back).
        again = self._sense(clf)
        if again is None or _uid_hex(again) != uid:
            log.debug("card %s left during the read", card_hash(bytes.fromhex(uid)))
            return None
        return CardRead(card=uid, source="nfc")

    def _ndef_number(self, clf: Any, target: Any) -> str | None:
        """The text of the card's first plausible NDEF Text record, or None."""
        import ndef as ndeflib
        import nfc.clf
        import nfc.tag

        try:
            tag = nfc.tag.activate(clf, target)
            message = tag.ndef if tag is not None else None
            records = list(message.records) if message is not None else []
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError, ndeflib.DecodeError) as err:
            log.debug("no NDEF read from the card: %s", type(err).__name__)
            return None
        except Exception as err:  # the reader itself failed
            raise self._lost(err) from None
        for record in records:
            if isinstance(record, ndeflib.TextRecord):
                text = record.text.strip()
                if 0 < len(text) <= MAX_NDEF_NUMBER and text.isprintable():
                    return text
        return None

    # --- the device ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        now = self._clock()
        if self._open_error and now < self._retry_at:
            # A missing reader is looked for once a second, not at every poll: each attempt
            # costs up to the chip's ACK timeout, and nfcpy logs an error for each.
            raise DeviceError(self._open_error)
        try:
            clf = self._open()
        except DeviceError as err:
            self._open_error, self._retry_at = str(err), now + self.retry_after_s
            raise
        self._open_error = ""
        self._clf = clf
        self._present, self._misses = None, 0
        self._name = str(clf.device)
        log.info("NFC reader %s opened (%s)", self.url, self._name)
        return clf

    def _open(self) -> Any:
        nfc = _import_nfcpy(self.url)
        try:
            if self.is_path:
                return _open_tty(nfc, self.device, self.driver)
            clf = nfc.ContactlessFrontend()
            if clf.open(self.device):
                return clf
        except Exception as err:
            raise DeviceError(self._open_failure(err)) from None
        raise DeviceError(
            f"no NFC reader found at {self.device} (url {self.url}): is it plugged in, and may"
            " this user access it (udev rules)?"
        )

    def _open_failure(self, err: Exception) -> str:
        code = getattr(err, "errno", None)
        if "libusb" in str(err):
            reason = "the libusb-1.0 library is missing (install the libusb-1.0-0 package)"
        elif code in (errno.ENODEV, errno.ETIMEDOUT):  # wrong answer, or none at all
            chip = "PN532" if self.driver == "pn532" else "Arygon reader"
            reason = (
                f"no {chip} answered: wrong port or driver, or the reader has no power"
                if self.is_path
                else "no supported reader answered"
            )
        elif code == errno.EACCES:
            reason = "permission denied (is the kiosk user in the dialout/plugdev group?)"
        elif code == errno.EBUSY:
            reason = "the reader is busy (another program, pcscd perhaps, uses it)"
        else:
            reason = _plain(err)
        return f"cannot open the NFC reader {self.url}: {reason}"

    def _lost(self, err: Exception) -> DeviceError:
        """Drop the device after a failed exchange; the next poll reopens it."""
        gone = self.is_path and not os.path.exists(self.device)
        self._disconnect()
        if gone:
            return DeviceError(f"the NFC reader {self.url} disappeared (unplugged?)")
        return DeviceError(
            f"the NFC reader {self.url} gave no valid answer (unplugged, loose cable or noise on"
            f" the line?): {_plain(err)}"
        )

    def _disconnect(self) -> None:
        clf, self._clf = self._clf, None
        if clf is None:
            return
        device = clf.device
        try:
            clf.close()  # nfcpy's close puts the chip back to 115200 baud and powers it down
        except Exception as err:  # a reader that answers garbage may fail that too
            log.debug("closing the NFC reader %s: %s", self.url, _plain(err))
        finally:
            transport = getattr(getattr(device, "chipset", None), "transport", None)
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.close()
        log.info("NFC reader %s closed", self.url)


def _open_tty(nfc: ModuleType, path: str, driver: str) -> Any:
    """What ContactlessFrontend.open does for `tty:`, for a path nfcpy's lookup cannot reach."""
    from nfc.clf.transport import TTY

    module = importlib.import_module(f"nfc.clf.{driver}")
    transport = TTY(path)  # raises serial.SerialException (an OSError) when it cannot open
    try:
        device = module.init(transport)
    except BaseException:
        with contextlib.suppress(Exception):
            transport.close()
        raise
    device._path = path
    clf = nfc.ContactlessFrontend()
    clf.device = device
    return clf


def _import_nfcpy(url: str) -> ModuleType:
    try:
        nfc = importlib.import_module("nfc")
    except ImportError as err:  # pragma: no cover - nfcpy is a dependency of the project
        raise DeviceError(
            f"cannot use the NFC reader {url}: nfcpy is not installed ({err})"
        ) from None
    _quiet_nfcpy()
    return nfc


def _uid_hex(target: Any) -> str:
    """The card identifier as upper-case hex: NFCID1 (type A) or PUPI (type B); "" if none."""
    if target.sdd_res is not None:
        return bytes(target.sdd_res).hex().upper()
    return bytes(target.sensb_res[1:5] if target.sensb_res else b"").hex().upper()


def _plain(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return str(err.strerror)
    return str(err).strip() or type(err).__name__


def _quiet_nfcpy() -> None:
    """nfcpy logs much at info (and sets INFO itself on import): keep it at warnings, unless
    the application chose a level of its own."""
    logger = logging.getLogger("nfc")
    if logger.level in (logging.NOTSET, logging.INFO):
        logger.setLevel(logging.WARNING)
