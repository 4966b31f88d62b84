"""The kiosk's configuration: a TOML file read with `tomllib`, checked by pydantic models.

Technicians edit these files by hand, so every mistake (unknown key, wrong type,
value out of range, broken TOML, missing secret) becomes one `ConfigError` whose
text names the file, the dotted key and what was expected. Validation is strict:
`"90"` is not 90 and `1` is not `true`, because a silently "fixed" value is worse
than a clear refusal.

Secrets (SIP2 password, central API token) may be a plain string (for the demo),
`{ env = "NAME" }` or `{ file = "/path" }`; the file must be private to its owner.

The central API may change a few patron-facing settings remotely: they are kept in
`<data_dir>/remote-config.toml` and laid over the file at load (see "the remote
overlay" below for what may change and how to roll back).

`kiosk check-config FILE` checks a file; `python -m kiosk.config --reference`
prints the Markdown reference generated from the models.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import os
import re
import stat
import sys
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError, PydanticUndefined

from drivers.registry import KNOWN_CARD_READER_SCHEMES, KNOWN_TAG_READER_SCHEMES
from kiosk.cardid import CheckDigit, UidFormat, UidOrder

log = logging.getLogger(__name__)

APP_NAME = "library-kiosk"
MAX_REPORTED_PROBLEMS = 5
_SECRET_FILE_MAX_BYTES = 64 * 1024

# Device schemes come from the driver registry, so a new driver is configurable at once.
RFID_SCHEMES = KNOWN_TAG_READER_SCHEMES
CARD_READER_SCHEMES = KNOWN_CARD_READER_SCHEMES
PRINTER_SCHEMES = ("none", "file", "escpos-usb", "escpos-serial", "escpos-net")
# Schemes that need no details, so `"none"` may be written without the colon.
_BARE_SCHEMES = ("none", "sim")

Language = Literal["sl", "en", "hu", "it"]
IdentifyMethod = Literal["card", "barcode", "keypad"]
Charset = Literal["utf-8", "cp850", "cp1250", "latin-1", "ascii"]


class ConfigError(Exception):
    """A configuration file cannot be used. `str(err)` is the plain message for a technician."""


def _problem(message: str, key: str | None = None) -> PydanticCustomError:
    """An error raised inside validation; `key` names the field when raised by a model rule."""
    context: dict[str, Any] = {"message": message}
    if key is not None:
        context["key"] = key
    return PydanticCustomError("kiosk_config", "{message}", context)


# --- field helpers ------------------------------------------------------------------------------


def _field(
    default: Any = PydanticUndefined,
    description: str = "",
    *,
    rule: str | None = None,
    shown_default: str | None = None,
    **constraints: Any,
) -> Any:
    """A pydantic Field whose extras feed the error messages and the Markdown reference."""
    extra: dict[str, Any] = {}
    if rule:
        extra["rule"] = rule
    if shown_default:
        extra["shown_default"] = shown_default
    if isinstance(default, type) and issubclass(default, BaseModel):
        return Field(default_factory=default, description=description, json_schema_extra=extra)
    return Field(default, description=description, json_schema_extra=extra, **constraints)


def _device_url(known: tuple[str, ...], example: str) -> AfterValidator:
    """Checks a device URL such as `feig:/dev/ttyUSB0`: the scheme picks the driver."""

    def check(value: str) -> str:
        known_text = ", ".join(f'"{s}:"' for s in known)
        if value in _BARE_SCHEMES and value in known:
            return value
        scheme, colon, _ = value.partition(":")
        if not colon or not scheme:
            raise _problem(
                f'must look like "scheme:details" (e.g. "{example}"); '
                f"known schemes: {known_text}; got {_show(value)}"
            )
        if scheme not in known:
            raise _problem(
                f'unknown device scheme "{scheme}:"; known schemes: {known_text}; '
                f"got {_show(value)}"
            )
        return value

    return AfterValidator(check)


def _no_sip2_delimiters(value: str) -> str:
    # SIP2 fields end at "|" and messages at CR: such characters would corrupt every request.
    if "|" in value or any(ord(c) < 32 for c in value):
        raise _problem(f'must not contain "|" or control characters, got {_show(value)}')
    return value


def _check_host(value: str) -> str:
    if "://" in value or "/" in value or any(c.isspace() for c in value):
        raise _problem(
            "must be a host name or IP address only, without scheme, port or path, "
            f"got {_show(value)}"
        )
    return value


def _check_http_url(value: str) -> str:
    if value == "":
        return value
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _problem(
            f'must be "" (not configured) or an http(s) URL like "https://kiosk.example.org/api", '
            f"got {_show(value)}"
        )
    return value


def _resolve_secret(value: Any, info: ValidationInfo) -> SecretStr:
    """Turns a plain string, `{ env = "NAME" }` or `{ file = "/path" }` into a SecretStr."""
    context = info.context or {}
    environ: Mapping[str, str] = context.get("environ", os.environ)
    base_dir = Path(context.get("base_dir", Path.cwd()))
    shape = 'must be text, { env = "VARIABLE" } or { file = "/path/to/file" }'
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        if not value:
            raise _problem("must not be empty")
        return SecretStr(value)
    if not isinstance(value, Mapping):
        raise _problem(f"{shape}, got {_kind(value)}")
    if set(value) == {"env"}:
        return SecretStr(_secret_from_env(value["env"], environ))
    if set(value) == {"file"}:
        return SecretStr(_secret_from_file(value["file"], base_dir))
    keys = ", ".join(sorted(str(k) for k in value)) or "none"
    raise _problem(f"{shape}, got a table with the keys: {keys}")


def _secret_from_env(name: Any, environ: Mapping[str, str]) -> str:
    if not isinstance(name, str) or not name:
        raise _problem(f"env must name an environment variable, got {_show(name)}")
    if name not in environ:
        raise _problem(f"environment variable {name} is not set (it must hold this secret)")
    secret = environ[name].strip()
    if not secret:
        raise _problem(f"environment variable {name} is empty")
    return secret


def _secret_from_file(raw_path: Any, base_dir: Path) -> str:
    if not isinstance(raw_path, str) or not raw_path:
        raise _problem(f"file must be the path of a secret file, got {_show(raw_path)}")
    path = _resolve_path(raw_path, base_dir)
    try:
        # stat first so a FIFO or device is refused before open() could block on it
        if not stat.S_ISREG(path.stat().st_mode):
            raise _problem(f"secret file {path} is not a regular file")
        with path.open("rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read(_SECRET_FILE_MAX_BYTES + 1)
    except PydanticCustomError:
        raise
    except FileNotFoundError:
        raise _problem(f"secret file {path} does not exist") from None
    except PermissionError:
        raise _problem(f"secret file {path} cannot be read by this user") from None
    except (OSError, ValueError) as exc:
        raise _problem(f"secret file {path} cannot be read ({exc.__class__.__name__})") from None
    if os.name == "posix" and mode & 0o077:
        raise _problem(
            f"secret file {path} can be read by other users (mode {mode:04o}); "
            f"make it private to the kiosk user: chmod 600 {path}"
        )
    if len(data) > _SECRET_FILE_MAX_BYTES:
        raise _problem(f"secret file {path} is too large to be a secret")
    try:
        secret = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _problem(f"secret file {path} is not UTF-8 text") from None
    if not secret:
        raise _problem(f"secret file {path} is empty")
    return secret


Secret = Annotated[SecretStr, BeforeValidator(_resolve_secret)]
Host = Annotated[str, AfterValidator(_check_host)]
Sip2Text = Annotated[str, AfterValidator(_no_sip2_delimiters)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
RfidUrl = Annotated[str, _device_url(RFID_SCHEMES, "feig:/dev/ttyUSB0")]
CardReaderUrl = Annotated[str, _device_url(CARD_READER_SCHEMES, "nfc:usb")]
PrinterUrl = Annotated[str, _device_url(PRINTER_SCHEMES, "escpos-usb:0x0416:0x5011")]


# --- the models ---------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class KioskSection(_Section):
    """Who this kiosk is and which languages it offers."""

    name: str = _field("Demo kiosk", "name of this device, shown to technicians", min_length=1)
    library: str = _field("Mariborska knjižnica", "library that runs the kiosk", min_length=1)
    branch: str = _field("Demo", "branch or bibliobus where the kiosk stands", min_length=1)
    data_dir: str = _field(
        "",
        "folder for the local database and logs",
        rule='`""` = the user data folder of library-kiosk',
    )
    languages: tuple[Language, ...] = _field(
        ("sl", "en"), "languages offered on screen", min_length=1, rule="no repeats"
    )
    default_language: Language = _field("sl", "language shown first", rule="listed in `languages`")
    location_names: dict[str, str] = _field(
        {},
        "names patrons know for the library system's location codes (holds pickup)",
        rule='e.g. `{ MB = "Knjižnica Rotovž" }`; a code not listed is shown as it is',
        shown_default="{}",
    )

    @model_validator(mode="after")
    def _languages_consistent(self) -> KioskSection:
        repeated = _first_repeat(self.languages)
        if repeated:
            raise _problem(f'lists "{repeated}" twice', key="languages")
        if self.default_language not in self.languages:
            raise _problem(
                f"must be one of kiosk.languages = {_show(list(self.languages))}, "
                f"got {_show(self.default_language)}",
                key="default_language",
            )
        return self


class SessionSection(_Section):
    """How long a patron's session lasts without a touch."""

    timeout_s: int = _field(90, "seconds without a touch before logout", ge=30, le=1800)
    warning_s: int = _field(
        20, "seconds of warning before logout", ge=20, rule="less than `timeout_s`"
    )
    summary_timeout_s: int = _field(
        45,
        "seconds the summary screen stays before logout",
        ge=25,
        le=600,
        rule="more than `warning_s`",
    )
    walkaway_s: int = _field(
        40,
        "seconds without a touch, once the pad is empty again, before logout",
        ge=25,
        le=1800,
        rule="more than `warning_s`",
    )

    @model_validator(mode="after")
    def _warning_fits(self) -> SessionSection:
        if self.warning_s >= self.timeout_s:
            raise _problem(
                f"must be less than session.timeout_s = {self.timeout_s} "
                f"(seconds of warning before logout), got {self.warning_s}",
                key="warning_s",
            )
        if self.summary_timeout_s <= self.warning_s:
            raise _problem(
                f"must be more than session.warning_s = {self.warning_s} so the warning "
                f"fits (seconds the summary screen stays), got {self.summary_timeout_s}",
                key="summary_timeout_s",
            )
        if self.walkaway_s <= self.warning_s:
            raise _problem(
                f"must be more than session.warning_s = {self.warning_s} so the warning "
                f"fits (seconds before logout once the pad is empty), got {self.walkaway_s}",
                key="walkaway_s",
            )
        return self


def _only_separators(value: str) -> str:
    # Letters or digits here would silently cut pieces out of every card number.
    if any(not (c == " " or (c.isascii() and c.isprintable() and not c.isalnum())) for c in value):
        raise _problem(f'may hold only spaces and punctuation such as " -./", got {_show(value)}')
    return value


Separators = Annotated[str, AfterValidator(_only_separators)]


class CardIdSection(_Section):
    """How card numbers and card chip numbers are turned into what the library system
    expects, before it sees them. The defaults pass cards on unchanged."""

    prefix: str = _field(
        "",
        'prefix printed on the cards, e.g. "MB"; dropped before the library system sees it',
        pattern=r"^[A-Za-z0-9]{0,8}$",
        rule="up to 8 letters A-Z and digits",
    )
    require_prefix: bool = _field(
        False,
        "refuse scanned numbers without the prefix (typed numbers never need it)",
        rule="needs `prefix`",
    )
    keep_prefix: bool = _field(
        False, "pass the prefix on to the library system", rule="needs `prefix`"
    )
    remove: Separators = _field(
        "",
        'characters dropped anywhere in a number, e.g. " -"',
        rule="spaces and punctuation only",
    )
    check_digit: CheckDigit = _field("none", "rule by which the last digit checks the others")
    uid_order: UidOrder = _field(
        "as_read", 'byte order of chip numbers (NFC); "reversed" when the register stores LSB first'
    )
    uid_format: UidFormat = _field(
        "hex", 'chip numbers as hex or as one decimal number ("decimal")'
    )
    pad_to: int = _field(
        0,
        "left-pad numbers with zeros to this many digits (0 = no padding)",
        ge=0,
        le=64,
        rule="at most `max_length`",
    )
    min_length: int = _field(1, "fewest characters in a card number", ge=1, le=64)
    max_length: int = _field(
        32, "most characters in a card number", ge=1, le=64, rule="at least `min_length`"
    )

    @model_validator(mode="after")
    def _consistent(self) -> CardIdSection:
        for flag in ("require_prefix", "keep_prefix"):
            if getattr(self, flag) and not self.prefix:
                raise _problem(
                    f'needs identify.card.prefix (it is ""); set the prefix or leave {flag} false',
                    key=flag,
                )
        if self.max_length < self.min_length:
            raise _problem(
                f"must be at least identify.card.min_length = {self.min_length}, "
                f"got {self.max_length}",
                key="max_length",
            )
        if self.pad_to > self.max_length:
            raise _problem(
                f"must be at most identify.card.max_length = {self.max_length} "
                f"(or every padded number would be too long), got {self.pad_to}",
                key="pad_to",
            )
        return self


class IdentifySection(_Section):
    """How patrons identify themselves."""

    methods: tuple[IdentifyMethod, ...] = _field(
        ("card", "keypad"), "ways a patron can identify", min_length=1, rule="no repeats"
    )
    require_pin: bool = _field(True, "ask for the PIN after the card")
    pin_length_min: int = _field(4, "fewest digits in a PIN", ge=3, le=12)
    pin_length_max: int = _field(
        8, "most digits in a PIN", ge=3, le=12, rule="at least `pin_length_min`"
    )
    card: CardIdSection = _field(CardIdSection, "how card numbers are normalised")

    @model_validator(mode="after")
    def _consistent(self) -> IdentifySection:
        repeated = _first_repeat(self.methods)
        if repeated:
            raise _problem(f'lists "{repeated}" twice', key="methods")
        if self.pin_length_max < self.pin_length_min:
            raise _problem(
                f"must be at least identify.pin_length_min = {self.pin_length_min}, "
                f"got {self.pin_length_max}",
                key="pin_length_max",
            )
        return self


class DisplaySection(_Section):
    """The screen."""

    width: int = _field(1280, "window width in pixels", ge=320, le=7680)
    height: int = _field(800, "window height in pixels", ge=240, le=4320)
    fullscreen: bool = _field(False, "cover the whole screen; true on a real kiosk")
    show_cursor: bool = _field(True, "show the mouse pointer; false on a touchscreen")
    dev_tray: bool = _field(True, "developer tray of simulated cards and items, demo only")
    dev_tray_key: str = _field(
        "f12",
        "key that shows or hides the developer tray",
        pattern=r"^[a-z0-9_]{1,20}$",
        rule="a lowercase key name such as f12 or escape",
    )


class DemoBackendSection(_Section):
    """The built-in demo library system (SQLite), used when `backend.kind = "demo"`."""

    database: str = _field("", "demo library database", rule='`""` = `<data_dir>/demo-ils.sqlite`')
    loan_days: int = _field(21, "days a loan lasts", ge=1, le=365)
    over_sip2: bool = _field(
        False,
        "serve the demo library over SIP2 on loopback and talk to it with the SIP2 client",
    )


class Sip2BackendSection(_Section):
    """The library system over SIP2; required when `backend.kind = "sip2"`."""

    host: Host = _field(description="SIP2 server host name or IP address", min_length=1)
    port: int = _field(6001, "SIP2 server TCP port", ge=1, le=65535)
    tls: bool = _field(True, "connect with TLS; plain SIP2 sends passwords readable")
    verify_tls: bool = _field(True, "check the server's TLS certificate")
    username: Sip2Text = _field("", "SIP2 login user, field CN", rule='`""` = no login message')
    password: Secret | None = _field(
        None, "SIP2 login password, field CO", rule="a secret; required when `username` is set"
    )
    location_code: Sip2Text = _field("", "location code sent at login, field CP")
    institution_id: Sip2Text = _field("", "institution id, field AO")
    charset: Charset = _field("utf-8", "character set the server speaks")
    checksums: bool = _field(True, "send and check AY/AZ checksums")
    line_ending: Literal["cr", "crlf"] = _field("cr", "end of each message sent")
    timeout_s: float = _field(10.0, "seconds to wait for an answer", ge=0.5, le=120)
    connect_timeout_s: float = _field(5.0, "seconds to wait for a connection", ge=0.5, le=60)
    status_interval_s: int = _field(
        60, "seconds between SC status messages (server health)", ge=5, le=3600
    )
    resend_limit: int = _field(
        3, "times to ask for a resend after a bad checksum before giving up", ge=0, le=10
    )
    terminal_password: Secret | None = _field(
        None, "terminal password, field AC", rule="a secret; most servers need none"
    )
    ca_file: str = _field("", "CA certificates to trust", rule='`""` = the system\'s')
    client_cert: str = _field("", "client certificate (PEM) for TLS", rule='`""` = none')
    client_key: str = _field(
        "", "key of the client certificate (PEM)", rule='`""` = in client_cert'
    )

    @model_validator(mode="after")
    def _login_complete(self) -> Sip2BackendSection:
        if self.username and self.password is None:
            raise _problem("is required when backend.sip2.username is set", key="password")
        if self.password is not None:
            _no_secret_delimiters(self.password)
        return self


def _no_secret_delimiters(secret: SecretStr) -> None:
    # Checked without echoing the secret: a "|" would end the SIP2 field early.
    value = secret.get_secret_value()
    if "|" in value or any(ord(c) < 32 for c in value):
        raise _problem('must not contain "|" or control characters', key="password")


class BackendSection(_Section):
    """Which library system answers circulation requests."""

    kind: Literal["demo", "sip2"] = _field("demo", "library system to talk to")
    demo: DemoBackendSection = _field(DemoBackendSection, 'settings for `kind = "demo"`')
    sip2: Sip2BackendSection | None = _field(
        None, 'settings for `kind = "sip2"`', rule='required when `kind = "sip2"`'
    )

    @model_validator(mode="after")
    def _sip2_present(self) -> BackendSection:
        if self.kind == "sip2" and self.sip2 is None:
            raise _problem(
                'is required when backend.kind = "sip2": add a [backend.sip2] table '
                "with at least host",
                key="sip2",
            )
        return self


class DevicesSection(_Section):
    """Peripherals, chosen by URL-like strings such as `feig:/dev/ttyUSB0`: the scheme picks
    the driver, the rest is for the driver. `"none"` means no device and `"sim"` the simulator
    (the colon may be left out for these two)."""

    rfid: RfidUrl = _field("sim:", "RFID pad for library items")
    card_reader: CardReaderUrl = _field("sim:", "patron card reader")
    printer: PrinterUrl = _field("none", "receipt printer")


class SecuritySection(_Section):
    """RFID security bits (AFI) written to items; vendors differ."""

    afi_in_library: int = _field(
        0x07, "AFI of an item in the library", ge=0, le=255, shown_default="0x07"
    )
    afi_on_loan: int = _field(
        0xC2,
        "AFI of an item on loan",
        ge=0,
        le=255,
        shown_default="0xC2",
        rule="differs from `afi_in_library`",
    )

    @model_validator(mode="after")
    def _distinct(self) -> SecuritySection:
        if self.afi_on_loan == self.afi_in_library:
            raise _problem(
                f"must differ from security.afi_in_library, got {self.afi_on_loan} for both",
                key="afi_on_loan",
            )
        return self


class RfidSection(_Section):
    """How the kiosk decides what is on the pad."""

    min_reads: int = _field(
        2, "inventories in a row a tag must answer before it counts", ge=1, le=10
    )
    min_rssi: int | None = _field(
        None,
        "weakest signal accepted, where the reader reports it",
        ge=-255,
        le=255,
        rule="no floor when left out",
    )
    read_retries: int = _field(
        3, "failed memory reads before the patron is asked to move the book", ge=1, le=20
    )


class CentralSection(_Section):
    """The central API: events, registrations, device health and remote configuration.
    With `url` set, `token`, `device_id` and `card_key` are required."""

    url: HttpUrl = _field(
        "",
        "central API address, e.g. https://kiosk.example.org/api/v1",
        rule='`""` = not configured; else an http(s) URL (a bare host gets `/api/v1`)',
    )
    token: Secret | None = _field(
        None, "this device's central API token", rule="a secret; required when `url` is set"
    )
    device_id: str = _field(
        "",
        "this device's id at the central API, e.g. mb-rotovz-1",
        pattern=r"^$|^[a-z0-9][a-z0-9-]{1,63}$",
        rule="2-64 lowercase letters, digits and hyphens (required when `url` is set)",
    )
    card_key: Secret | None = _field(
        None,
        "the library's card key: cards are sent only as keyed hashes made with it, the same "
        "on every kiosk",
        rule="a secret, long and random (32 characters or more); required when `url` is set",
    )
    timeout_s: float = _field(10.0, "seconds to wait for an answer", ge=1, le=120)
    event_sync_interval_s: int = _field(
        60, "seconds between looks for changed events", ge=5, le=86400
    )
    heartbeat_interval_s: int = _field(
        0,
        "seconds between heartbeats",
        ge=0,
        le=86400,
        rule="0 = as the server asks; else at least 5",
    )

    @model_validator(mode="after")
    def _complete(self) -> CentralSection:
        from urllib.parse import urlsplit

        # One problem at a time (a model rule raises once): the most dangerous first.
        if self.token is not None and self.url.startswith("http://"):
            host = urlsplit(self.url).hostname or ""
            if host not in ("localhost", "127.0.0.1", "::1"):
                raise _problem(
                    "must use https:// when central.token is set, or the token travels "
                    f"unencrypted; got {_show(self.url)}",
                    key="url",
                )
        if self.url:
            for key in ("token", "card_key"):
                if getattr(self, key) is None:
                    raise _problem("is required when central.url is set (a secret)", key=key)
            if not self.device_id:
                raise _problem(
                    "is required when central.url is set (the id the central API knows "
                    "this kiosk by)",
                    key="device_id",
                )
        if 0 < self.heartbeat_interval_s < 5:
            raise _problem(
                f"must be 0 (as the server asks) or at least 5, got {self.heartbeat_interval_s}",
                key="heartbeat_interval_s",
            )
        return self


class StoreSection(_Section):
    """The local database that keeps every action until the library system confirms it."""

    path: str = _field("", "local database file", rule='`""` = `<data_dir>/kiosk.sqlite`')
    retention_days: int = _field(
        30, "days confirmed actions are kept before they are purged", ge=1, le=3650
    )


PatronCategory = Literal["adult", "child", "unknown"]
ReceiptKind = Literal["print", "email", "none"]


class OfflineSection(_Section):
    """Lending while the library system is unreachable (store-and-forward). Returns always
    work offline; loans only where this section allows them."""

    lending: bool = _field(False, "keep lending while the library system is unreachable")
    categories: tuple[PatronCategory, ...] = _field(
        ("adult",),
        "who may borrow offline",
        rule='of "adult", "child" and "unknown" (cards not seen online before)',
    )
    items_per_patron: int = _field(5, "most items one patron may borrow offline a day", ge=1)
    items_per_day: int = _field(100, "most items this kiosk lends offline a day", ge=1)
    loan_days: int = _field(21, "days an offline loan lasts (its due date)", ge=1, le=365)
    check_interval_s: int = _field(
        30, "seconds between checks whether the library system is back", ge=5, le=3600
    )
    blocked_list_refresh_s: int = _field(
        3600, "seconds between refreshes of the blocked-card list while online", ge=60
    )

    @model_validator(mode="after")
    def _categories_listed(self) -> OfflineSection:
        if len(set(self.categories)) != len(self.categories):
            raise _problem(f"lists a category twice: {list(self.categories)}", key="categories")
        return self


class ReceiptSection(_Section):
    """The receipt a patron gets after borrowing or returning."""

    offer: tuple[ReceiptKind, ...] = _field(
        ("print", "email", "none"),
        "choices the patron sees",
        rule='of "print", "email" and "none"; at least one',
    )
    default: ReceiptKind = _field("print", "choice made when the patron makes none", rule="offered")
    ask: bool = _field(True, "let the patron choose; false gives the default without asking")

    @model_validator(mode="after")
    def _default_offered(self) -> ReceiptSection:
        if not self.offer or len(set(self.offer)) != len(self.offer):
            raise _problem(
                f"must list each choice once, at least one, got {list(self.offer)}", key="offer"
            )
        if self.default not in self.offer:
            raise _problem(
                f"must be one of receipt.offer = {list(self.offer)}, got {_show(self.default)}",
                key="default",
            )
        return self


class KioskConfig(_Section):
    """The whole configuration. Build it with `load_config`; it cannot be changed afterwards."""

    kiosk: KioskSection = _field(KioskSection)
    session: SessionSection = _field(SessionSection)
    identify: IdentifySection = _field(IdentifySection)
    display: DisplaySection = _field(DisplaySection)
    backend: BackendSection = _field(BackendSection)
    devices: DevicesSection = _field(DevicesSection)
    security: SecuritySection = _field(SecuritySection)
    rfid: RfidSection = _field(RfidSection)
    central: CentralSection = _field(CentralSection)
    store: StoreSection = _field(StoreSection)
    offline: OfflineSection = _field(OfflineSection)
    receipt: ReceiptSection = _field(ReceiptSection)

    _source: Path = PrivateAttr(default_factory=lambda: default_config_path())
    # The remote overlay laid over the file (see "the remote overlay" below).
    _remote_version: int | None = PrivateAttr(default=None)
    _remote_problem: str = PrivateAttr(default="")

    def model_post_init(self, context: Any, /) -> None:
        if isinstance(context, Mapping) and "source" in context:
            self._source = Path(context["source"])

    @property
    def remote_version(self) -> int | None:
        """Version of the central API's configuration laid over the file; None if none."""
        return self._remote_version

    @property
    def remote_problem(self) -> str:
        """Why the remote configuration file was not applied ("" when it was, or none)."""
        return self._remote_problem

    @property
    def source(self) -> Path:
        """The file this configuration was loaded from (absolute)."""
        return self._source

    def data_path(self) -> Path:
        """Folder for the local database and logs."""
        if not self.kiosk.data_dir:
            return Path(platformdirs.user_data_dir(APP_NAME))
        return _resolve_path(self.kiosk.data_dir, self._source.parent)

    def store_path(self) -> Path:
        """The local store's SQLite file."""
        if not self.store.path:
            return self.data_path() / "kiosk.sqlite"
        return _resolve_path(self.store.path, self._source.parent)

    def printer_url(self) -> str:
        """devices.printer, with a relative file: folder placed under data_dir."""
        url = self.devices.printer.strip()
        scheme, _, folder = url.partition(":")
        if scheme.lower() == "file" and folder and not Path(folder).is_absolute():
            return f"file:{self.data_path() / folder}"
        return url

    def demo_database_path(self) -> Path:
        """The demo library system's SQLite file."""
        if not self.backend.demo.database:
            return self.data_path() / "demo-ils.sqlite"
        return _resolve_path(self.backend.demo.database, self._source.parent)


def _schemes(known: Sequence[str]) -> str:
    return ", ".join(f"`{s}:`" for s in known)


# Scheme lists for the reference; kept next to the validators that enforce them.
_DEVICE_SCHEMES = {
    "rfid": RFID_SCHEMES,
    "card_reader": CARD_READER_SCHEMES,
    "printer": PRINTER_SCHEMES,
}


# --- loading ------------------------------------------------------------------------------------


def default_config_path() -> Path:
    """`<repo>/config/kiosk.toml`, the demo configuration."""
    return Path(__file__).resolve().parents[1] / "config" / "kiosk.toml"


def load_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    remote: bool = True,
) -> KioskConfig:
    """Reads and checks a TOML configuration file; raises ConfigError with a plain message.

    With `remote`, the central API's configuration kept in
    `<data_dir>/remote-config.toml` is laid over the file (see `REMOTE_ALLOWED`); when
    it no longer fits, the file alone applies and `config.remote_problem` says why."""
    shown = os.fspath(path)
    data = _read_toml(Path(shown), shown)
    config = parse_config(data, source=shown, environ=environ)
    return _with_remote_overlay(config, data, environ) if remote else config


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
) -> KioskConfig:
    """Checks already parsed TOML data; `source` is the file it came from (for paths, messages)."""
    shown = os.fspath(source)
    absolute = Path(os.path.abspath(shown))
    context = {
        "source": absolute,
        "base_dir": absolute.parent,
        "environ": os.environ if environ is None else environ,
    }
    try:
        return KioskConfig.model_validate(_freeze(data), context=context)
    except ValidationError as exc:
        raise ConfigError(_format_errors(shown, exc.errors())) from None


def _read_toml(path: Path, shown: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{shown}: configuration file not found (copy config/kiosk.toml or "
            f"config/example-branch.toml and edit it)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a folder, not a configuration file") from None
    except PermissionError:
        raise ConfigError(f"{shown}: cannot be read by this user (check its permissions)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{shown}: cannot be read ({exc.__class__.__name__})") from None
    try:
        text = raw.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{shown}: line {line}: not UTF-8 text (save the file as UTF-8)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_format_toml_error(shown, str(exc))) from None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _format_toml_error(shown: str, message: str) -> str:
    where = _TOML_WHERE.search(message)
    if where:
        reason = message[: where.start()]
        place = f"line {where.group(1)}, column {where.group(2)}"
    else:
        reason = message.replace("(at end of document)", "").strip()
        place = "end of file"
    return f"{shown}: {place}: not valid TOML: {reason}"


def _freeze(value: Any) -> Any:
    """TOML arrays become tuples so the frozen models hold nothing mutable."""
    if isinstance(value, Mapping):
        return {key: _freeze(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    return value


def _resolve_path(raw: str, base_dir: Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


def _first_repeat(values: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


# --- the remote overlay -------------------------------------------------------------------------
#
# The central API may change a few settings of a kiosk (its "device configuration"). The
# kiosk checks them against this file's own rules, laid over the configuration file, and
# keeps them in <data_dir>/remote-config.toml only when the whole result is valid; the
# file they replace is kept as remote-config.previous.toml. `load_config` lays the
# overlay over the configuration file at every start. Only patron-facing behaviour may
# change remotely: never devices, the library system, secrets, paths or the central API
# itself, so a bad push can never cut a kiosk off from the fleet.

REMOTE_CONFIG_FILE = "remote-config.toml"
REMOTE_CONFIG_PREVIOUS = "remote-config.previous.toml"
REMOTE_CONFIG_ROLLED_BACK = "remote-config.rolled-back.toml"
# Section -> keys the central API may set (None: every key of the section).
REMOTE_ALLOWED: dict[str, frozenset[str] | None] = {
    "session": None,
    "receipt": None,
    "offline": None,
    "kiosk": frozenset({"languages", "default_language"}),
}
# The overlay file's own table: which central configuration version it holds.
_REMOTE_META = "remote"


def remote_config_path(data_dir: Path) -> Path:
    return data_dir / REMOTE_CONFIG_FILE


def _remote_allowed_text() -> str:
    parts = [
        f"[{section}]" if keys is None else ", ".join(f"{section}.{k}" for k in sorted(keys))
        for section, keys in REMOTE_ALLOWED.items()
    ]
    return ", ".join(parts)


def check_remote_settings(settings: Any, shown: str) -> dict[str, dict[str, Any]]:
    """The settings if they touch only what may change remotely; else ConfigError."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{shown}: must be a table of sections, got {_kind(settings)}")
    problems = []
    for section, table in settings.items():
        if section not in REMOTE_ALLOWED:
            problems.append(
                f"{shown}: [{section}] may not be set remotely; allowed: {_remote_allowed_text()}"
            )
        elif not isinstance(table, Mapping):
            problems.append(f"{shown}: {section}: must be a table, got {_kind(table)}")
        elif REMOTE_ALLOWED[section] is not None:
            for key in table:
                if key not in REMOTE_ALLOWED[section]:  # type: ignore[operator]
                    problems.append(
                        f"{shown}: {section}.{key} may not be set remotely; allowed: "
                        f"{_remote_allowed_text()}"
                    )
    if problems:
        raise ConfigError("\n".join(problems[:MAX_REPORTED_PROBLEMS]))
    return {str(section): dict(table) for section, table in settings.items()}


def _laid_over(base: Mapping[str, Any], overlay: Mapping[str, Mapping[str, Any]]) -> dict:
    merged = dict(base)
    for section, table in overlay.items():
        below = merged.get(section)
        merged[section] = {**(below if isinstance(below, Mapping) else {}), **table}
    return merged


def overlay_config(
    config: KioskConfig,
    settings: Any,
    *,
    shown: str,
    environ: Mapping[str, str] | None = None,
) -> KioskConfig:
    """`config`'s file with `settings` laid over it, checked as a whole by the same rules
    and messages as a file (prefixed with `shown`); raises ConfigError."""
    allowed = check_remote_settings(settings, shown)
    base = _read_toml(config.source, str(config.source))
    merged = _laid_over(base, allowed)
    context = {
        "source": config.source,
        "base_dir": config.source.parent,
        "environ": os.environ if environ is None else environ,
    }
    try:
        return KioskConfig.model_validate(_freeze(merged), context=context)
    except ValidationError as exc:
        raise ConfigError(_format_errors(shown, exc.errors())) from None


def _with_remote_overlay(
    config: KioskConfig, data: Mapping[str, Any], environ: Mapping[str, str] | None
) -> KioskConfig:
    path = remote_config_path(config.data_path())
    if not path.is_file():
        return config
    try:
        overlay = _read_toml(path, str(path))
        meta = overlay.pop(_REMOTE_META, {})
        version = meta.get("version") if isinstance(meta, Mapping) else None
        allowed = check_remote_settings(overlay, str(path))
        layered = parse_config(_laid_over(data, allowed), source=config.source, environ=environ)
    except ConfigError as exc:
        # A kiosk must start: the file alone applies, and doctor shows why.
        log.warning("remote configuration not applied: %s", exc)
        fallback = config.model_copy()
        fallback._remote_problem = str(exc)
        return fallback
    layered._remote_version = version if isinstance(version, int) else None
    return layered


def write_remote_config(data_dir: Path, settings: Mapping[str, Any], version: int) -> Path:
    """Keep checked remote settings as the overlay (the one it replaces becomes the
    previous one). Check them with `overlay_config` first."""
    overlay = check_remote_settings(settings, "remote configuration")
    applied = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    lines = [
        "# Configuration from the central API, laid over the configuration file at start.",
        "# Written by the kiosk; roll back with kiosk.config.rollback_remote_config.",
        "",
        f"[{_REMOTE_META}]",
        f"version = {int(version)}",
        f"applied_at = {_toml_value(applied)}",
    ]
    for section, table in overlay.items():
        lines += ["", f"[{_toml_key(section)}]"]
        lines += [f"{_toml_key(k)} = {_toml_literal(v)}" for k, v in table.items()]
    text = "\n".join(lines) + "\n"
    try:
        read_back = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        read_back = {}
    read_back.pop(_REMOTE_META, None)
    if _freeze(read_back) != _freeze(overlay):
        raise ConfigError("remote configuration: holds values that cannot be written as TOML")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = remote_config_path(data_dir)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    if path.exists():
        os.replace(path, data_dir / REMOTE_CONFIG_PREVIOUS)
    os.replace(tmp, path)
    return path


def rollback_remote_config(data_dir: Path) -> str:
    """For a technician: put the previous remote configuration back (or none, when there
    was no previous one); the one taken off is kept as remote-config.rolled-back.toml.
    Takes effect at the next start. Returns what was done, in plain words.

    The kiosk keeps telling the central API the rolled-back version is applied, so it is
    not pushed again; publish a new version centrally to change the settings again."""
    current = remote_config_path(data_dir)
    previous = data_dir / REMOTE_CONFIG_PREVIOUS
    if not current.exists() and not previous.exists():
        raise ConfigError(f"{current}: there is no remote configuration to roll back")
    taken_off = _remote_file_version(current)
    if current.exists():
        os.replace(current, data_dir / REMOTE_CONFIG_ROLLED_BACK)
    if previous.exists():
        os.replace(previous, current)
        return (
            f"remote configuration version {taken_off} taken off; version "
            f"{_remote_file_version(current)} applies again from the next start"
        )
    return (
        f"remote configuration version {taken_off} taken off; the configuration file "
        "alone applies from the next start"
    )


def _remote_file_version(path: Path) -> str:
    try:
        meta = tomllib.loads(path.read_text(encoding="utf-8")).get(_REMOTE_META, {})
    except (OSError, ValueError):
        return "?"
    version = meta.get("version") if isinstance(meta, Mapping) else None
    return str(version) if isinstance(version, int) else "?"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_literal(value: Any) -> str:
    """A TOML value for the overlay file (what JSON can carry: no dates)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError("remote configuration: numbers must be finite")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_literal(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise ConfigError(f"remote configuration: cannot write {_kind(value)}")


# --- turning validation errors into plain sentences ---------------------------------------------


def _format_errors(shown: str, errors: list[ErrorDetails]) -> str:
    lines = [f"{shown}: {_explain(error)}" for error in errors[:MAX_REPORTED_PROBLEMS]]
    if len(errors) > MAX_REPORTED_PROBLEMS:
        lines.append(f"{shown}: ... and {len(errors) - MAX_REPORTED_PROBLEMS} more problems")
    return "\n".join(lines)


def _explain(error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    context = error.get("ctx") or {}
    if error["type"] == "kiosk_config" and "key" in context:
        loc = (*loc, context["key"])
    key = _dotted(loc)
    info = _field_at(loc)
    return f"{key}: {_expectation(error, loc, info)}"


def _expectation(error: ErrorDetails, loc: tuple[Any, ...], info: FieldInfo | None) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    value = error["input"]
    about = f" ({info.description})" if info is not None and info.description else ""
    secret = info is not None and _is_secret(info)
    got = f", got {_kind(value) if secret else _show(value)}"
    unquote = " (write it without quotes)" if _looks_unquotable(value) and not secret else ""

    if kind == "kiosk_config":
        return str(context["message"])
    if kind == "extra_forbidden":
        return _unknown_key(loc, value)
    if kind == "missing":
        return f"is required{about}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{_range_text(info, context)}{about}{got}"
    if kind == "int_type":
        return f"must be a whole number{about}{got}{unquote}"
    if kind == "float_type":
        return f"must be a number{about}{got}{unquote}"
    if kind == "bool_type":
        return f"must be true or false{about}{got}{unquote}"
    if kind == "finite_number":
        return f"must be a finite number{about}{got}"
    if kind == "string_type":
        return f"must be text in quotes{about}{got}"
    if kind == "tuple_type":
        example = _toml_value(info.default) if info is not None else '["a", "b"]'
        return f"must be a list such as {example}{about}{got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table{about}{got}"
    if kind == "literal_error":
        choices = _choices(info)
        expected = ", ".join(f'"{c}"' for c in choices) if choices else context.get("expected")
        return f"must be one of {expected}{about}{got}"
    if kind == "string_too_short":
        return f"must not be empty{about}"
    if kind == "too_short":
        return f"must list at least {context.get('min_length', 1)} value{about}"
    if kind == "string_pattern_mismatch":
        rule = _extra(info).get("rule", "in a different form")
        return f"must be {rule}{about}{got}"
    # Anything unforeseen still gets the key and the input, in plain words.
    return f"is not valid{about}: {error['msg'][:1].lower()}{error['msg'][1:]}{got}"


def _looks_unquotable(value: Any) -> bool:
    """A number or true/false written in quotes, the commonest TOML slip."""
    if not isinstance(value, str):
        return False
    if value.strip().lower() in ("true", "false"):
        return True
    try:
        float(value.strip().replace("_", ""))
    except ValueError:
        return False
    return True


def _choices(info: FieldInfo | None) -> tuple[str, ...]:
    """The allowed values of a Literal field, or of the elements of a list of Literals."""
    if info is None:
        return ()
    annotation = _without_none(info.annotation)
    if typing.get_origin(annotation) is tuple:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    return ()


def _range_text(info: FieldInfo | None, context: Mapping[str, Any]) -> str:
    low, high = _bounds(info) if info is not None else (None, None)
    if low is not None and high is not None:
        return f"must be between {_num(low)} and {_num(high)}"
    if low is not None:
        return f"must be at least {_num(low)}"
    if high is not None:
        return f"must be at most {_num(high)}"
    limit = next(iter(context.values()), "?")
    return f"must respect the limit {limit}"


def _unknown_key(loc: tuple[Any, ...], value: Any) -> str:
    parent = _model_at(loc[:-1])
    name = str(loc[-1])
    known = list(parent.model_fields) if parent is not None else []
    what = "section" if isinstance(value, Mapping) else "key"
    text = f"unknown {what}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        text += f' (did you mean "{close[0]}"?)'
    if parent is KioskConfig:
        text += "; known sections: " + ", ".join(f"[{k}]" for k in known)
    elif known:
        text += f"; keys allowed in [{_dotted(loc[:-1])}]: " + ", ".join(known)
    return text


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _dotted(loc: tuple[Any, ...]) -> str:
    """`("kiosk", "languages", 1)` -> `kiosk.languages[1]`; odd keys quoted as TOML does."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = str(part) if _BARE_KEY.match(str(part)) else json.dumps(str(part))
        text += f".{name}" if text else name
    return text or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = KioskConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _model_of(model.model_fields[part])
    return model


def _field_at(loc: tuple[Any, ...]) -> FieldInfo | None:
    names = [part for part in loc if not isinstance(part, int)]
    if not names:
        return None
    parent = _model_at(tuple(names[:-1]))
    if parent is None:
        return None
    return parent.model_fields.get(names[-1])


def _without_none(annotation: Any) -> Any:
    """The core type of a field: `Optional[...]` and `Annotated[...]` peeled off."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            annotation = rest[0]
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _model_of(info: FieldInfo) -> type[BaseModel] | None:
    annotation = _without_none(info.annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_secret(info: FieldInfo) -> bool:
    return _without_none(info.annotation) is SecretStr


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low: float | None = None
    high: float | None = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = item.ge if isinstance(item, annotated_types.Ge) else item.gt
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = item.le if isinstance(item, annotated_types.Le) else item.lt
    return low, high


def _extra(info: FieldInfo | None) -> dict[str, Any]:
    extra = info.json_schema_extra if info is not None else None
    return extra if isinstance(extra, dict) else {}


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _kind(value: Any) -> str:
    """What sort of TOML value this is, without showing it (for secrets)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dt.date | dt.time):
        return "a date/time"
    return "a value of another kind"


def _show(value: Any) -> str:
    """A short TOML-like rendering of a value for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else "a very large number"
        return text
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
        return f"the text {text}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        if len(value) <= 6 and all(isinstance(v, str | int | float) for v in value):
            return "[" + ", ".join(_toml_value(v) for v in value) + "]"
        return "a list"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return f"the date/time {value.isoformat()}"
    return "a value of another kind"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


# --- the Markdown reference ---------------------------------------------------------------------


def config_reference_markdown() -> str:
    """Every section and key with type, default, allowed values and meaning, from the models."""
    lines = [
        "Every key is optional unless its default says *required*; a missing section takes",
        "its defaults. Relative paths are relative to the configuration file's folder.",
        'Secrets are written as text (demo only), `{ env = "VARIABLE" }` or',
        '`{ file = "/path" }` (a file only its owner can read: `chmod 600`).',
        "",
    ]
    for section, model in _sections(KioskConfig, ()):
        lines.append(f"### `[{section}]`")
        lines.append("")
        if model.__doc__:
            lines += [" ".join(model.__doc__.split()), ""]
        lines.append("| key | type | default | allowed | description |")
        lines.append("|---|---|---|---|---|")
        for name, info in model.model_fields.items():
            if _model_of(info) is not None:
                continue  # sub-tables get their own heading
            lines.append(
                f"| `{name}` | {_type_text(info)} | {_default_text(info)} | "
                f"{_allowed_text(model, name, info)} | {info.description or ''} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _sections(model: type[BaseModel], prefix: tuple[str, ...]) -> list[tuple[str, type[BaseModel]]]:
    found: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        sub = _model_of(info)
        if sub is not None:
            found.append((".".join((*prefix, name)), sub))
            found += _sections(sub, (*prefix, name))
    return found


def _type_text(info: FieldInfo) -> str:
    annotation = _without_none(info.annotation)
    if annotation is SecretStr:
        return "secret"
    if annotation is bool:
        return "true/false"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is str or typing.get_origin(annotation) is Literal:
        return "text"
    if typing.get_origin(annotation) is tuple:
        return "list of text"
    return "value"


def _default_text(info: FieldInfo) -> str:
    extra = _extra(info)
    if "shown_default" in extra:
        return f"`{extra['shown_default']}`"
    if info.default is PydanticUndefined:
        return "*required*"
    if info.default is None:
        return "not set"
    return f"`{_toml_value(info.default)}`"


def _allowed_text(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    parts: list[str] = []
    annotation = _without_none(info.annotation)
    low, high = _bounds(info)
    if low is not None and high is not None:
        parts.append(f"{_num(low)} to {_num(high)}")
    elif low is not None:
        parts.append(f"at least {_num(low)}")
    elif high is not None:
        parts.append(f"at most {_num(high)}")
    if typing.get_origin(annotation) is tuple:
        (element, *_rest) = typing.get_args(annotation)
        if typing.get_origin(element) is Literal:
            parts.append("any of " + ", ".join(f'`"{v}"`' for v in typing.get_args(element)))
    elif typing.get_origin(annotation) is Literal:
        parts.append("one of " + ", ".join(f'`"{v}"`' for v in typing.get_args(annotation)))
    if model is DevicesSection and name in _DEVICE_SCHEMES:
        parts.append("scheme one of " + _schemes(_DEVICE_SCHEMES[name]))
    if any(isinstance(m, annotated_types.MinLen) for m in info.metadata) and annotation is str:
        parts.append("not empty")
    if "rule" in _extra(info):
        parts.append(str(_extra(info)["rule"]))
    return "; ".join(parts) or "any"


# --- command line: check a file or print the reference ------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m kiosk.config --reference`: print the reference (files are checked
    with `kiosk check-config`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["--reference"]:
        print("usage: python -m kiosk.config --reference", file=sys.stderr)
        return 2
    print(config_reference_markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
