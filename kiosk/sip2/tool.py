"""The technician's SIP2 checks behind `kiosk sip2 test|patron|item|checkout|checkin|renew`.

No argparse and no printing here: `resolve_target` turns the connection options
(a `sip2://USER@HOST:PORT` URL or a configuration file, plus overrides) into
settings, and each `run_*` function talks to the server and returns an
`Outcome`: the data for `--json`, a short human rendering meant to be read out
over the phone, and, when something failed, one plain line for stderr.

Circulation goes through `Sip2Backend`, so a technician sees exactly what the
kiosk would see (reason codes, due dates, destinations). Secrets never appear
in any output: the password and the PIN come from the environment or a prompt
and are not echoed, and card numbers are shown masked (`••••••3456`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from kiosk.backends.sip2 import Sip2Backend
from kiosk.circulation import (
    BackendUnavailable,
    CheckinResult,
    CheckoutResult,
    Reason,
)
from kiosk.config import load_config
from kiosk.sip2.client import LoginRefused, Sip2Client, Sip2Settings, Sip2Unavailable
from kiosk.sip2.codec import Codec
from kiosk.sip2.errors import Sip2Error
from kiosk.sip2.fields import SUPPORTED_MESSAGES
from kiosk.sip2.messages import ACSStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PASSWORD_ENV = "KIOSK_SIP2_PASSWORD"
PIN_ENV = "KIOSK_SIP2_PIN"
DEFAULT_PORT = 6001
STATUS_ROUNDS = 5  # SC status round trips whose median `test` reports
SCHEMES = {"sip2": False, "sip2s": True}  # scheme -> TLS
MASK = "•"

# Short explanations for a technician (the patron-facing texts are in kiosk.messages).
REASON_TEXT: dict[Reason, str] = {
    Reason.OK: "done",
    Reason.UNKNOWN_PATRON: "the library system does not know this card",
    Reason.WRONG_PIN: "the PIN does not match",
    Reason.PIN_REQUIRED: "a PIN is required",
    Reason.CARD_BLOCKED: "the card is blocked",
    Reason.CARD_EXPIRED: "the membership has expired",
    Reason.FEES_OVER_LIMIT: "unpaid fees over the limit",
    Reason.UNKNOWN_ITEM: "the library system does not know this item",
    Reason.LOAN_LIMIT: "the patron has reached the loan limit",
    Reason.RESERVED_FOR_OTHER: "reserved for another patron",
    Reason.REFERENCE_ONLY: "not for loan (reference only, lost or in process)",
    Reason.ALREADY_ON_LOAN_TO_YOU: "already on loan to this patron",
    Reason.ON_LOAN_TO_OTHER: "on loan to another patron",
    Reason.NOT_ON_LOAN: "the item was not on loan",
    Reason.RENEWAL_LIMIT: "no more renewals allowed",
    Reason.BACKEND_UNAVAILABLE: "the library system cannot be used now",
    Reason.OTHER: "refused for another reason (see the server's text)",
}
DESTINATION_TEXT = {
    "shelf": "back to the shelf",
    "holds_shelf": "to the holds shelf (someone is waiting for it)",
    "other_branch": "to another branch (transit)",
    "staff": "to the staff",
}


class UsageError(Exception):
    """The command line cannot be used as given (exit 2). `str()` is one plain line."""


@dataclass(frozen=True)
class ConnectionOptions:
    """Where the server is and how to talk to it, as the command line gave it."""

    url: str | None = None
    config: Path | None = None
    charset: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    crlf: bool = False
    no_checksums: bool = False
    timeout_s: float | None = None
    institution: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Target:
    """A resolved server: client settings plus the fields the backend puts in requests."""

    settings: Sip2Settings
    institution_id: str = ""
    location_code: str = ""
    terminal_password: str = field(default="", repr=False)

    @property
    def shown(self) -> str:
        """The server for a human: address and transport, never a secret."""
        s = self.settings
        user = f"{s.username}@" if s.username else ""
        return f"{user}{s.address} ({'TLS' if s.tls else 'plain TCP'}, {s.charset})"


@dataclass(frozen=True)
class Outcome:
    """What one command found: `data` for --json, `text` for people, `error` for stderr."""

    ok: bool
    data: dict[str, Any]
    text: str = ""
    error: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_FAILED


# --------------------------------------------------------------------------- resolving


def parse_url(url: str) -> tuple[str, str, int, bool]:
    """`sip2://USER@HOST:PORT` or `sip2s://…` (TLS) -> (user, host, port, tls).

    The user is optional (no login message then); the port defaults to 6001.
    A password in the URL is refused: it would end up in the shell history.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UsageError(
            "--url must look like sip2://USER@HOST:PORT (the port a number 1 to 65535)"
        ) from None
    if parts.scheme not in SCHEMES:
        raise UsageError(
            "--url must start with sip2:// (plain) or sip2s:// (TLS), "
            "like sip2://kiosk@127.0.0.1:6001"
        )
    if parts.password is not None:
        raise UsageError(
            f"--url must not carry the password: put it in {PASSWORD_ENV} or type it at the prompt"
        )
    if not parts.hostname:
        raise UsageError("--url has no host, e.g. sip2://kiosk@127.0.0.1:6001")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError("--url takes only USER@HOST:PORT after the scheme, no path or query")
    if port == 0:
        raise UsageError("--url: the port must be 1 to 65535")
    user = unquote(parts.username or "")
    return user, parts.hostname, port or DEFAULT_PORT, SCHEMES[parts.scheme]


def obtain_secret(
    env_name: str,
    prompt: str,
    *,
    environ: Mapping[str, str],
    ask: Callable[[str], str] | None,
) -> str | None:
    """A secret from the environment, else from `ask` (a getpass-like prompt, None when
    there is no terminal to ask on); None when neither is there."""
    if env_name in environ:
        return environ[env_name]
    if ask is None:
        return None
    try:
        return ask(prompt)
    except EOFError:
        return None


def resolve_target(
    options: ConnectionOptions,
    *,
    environ: Mapping[str, str],
    ask: Callable[[str], str] | None,
) -> Target:
    """The server to talk to, from `--url` or `--config` and the override flags.

    Raises UsageError (exit 2) for anything wrong on the command line, ConfigError
    for an unusable configuration file (also exit 2).
    """
    if (options.url is None) == (options.config is None):
        raise UsageError(
            "say which server: --url sip2://USER@HOST:PORT or --config PATH (one of them)"
        )
    if options.timeout_s is not None and not options.timeout_s > 0:
        raise UsageError("--timeout must be more than 0 seconds")
    if options.ca_file is not None and not options.ca_file.is_file():
        raise UsageError(f"--ca-file: no such file: {options.ca_file}")
    if options.charset is not None:
        try:
            Codec(charset=options.charset)
        except Sip2Error as exc:
            raise UsageError(f"--charset: {exc}") from None
    for flag, value in (("--institution", options.institution), ("--location", options.location)):
        if value is not None:
            _check_value(flag, value, allow_empty=True)

    if options.url is not None:
        user, host, port, tls = parse_url(options.url)
        password = ""
        if user:
            secret = obtain_secret(
                PASSWORD_ENV, f"SIP2 password for {user}@{host}: ", environ=environ, ask=ask
            )
            if secret is None:
                raise UsageError(
                    f"no SIP2 password: set {PASSWORD_ENV} or run in a terminal to be asked"
                )
            password = secret
        institution = options.institution or ""
        location = options.location or ""
        try:
            settings = Sip2Settings(
                host=host,
                port=port,
                tls=tls,
                username=user,
                password=password,
                institution_id=institution,
                location_code=location,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        terminal_password = ""
    else:
        assert options.config is not None
        config = load_config(options.config)  # ConfigError: the caller's exit 2
        section = config.backend.sip2
        if section is None:
            raise UsageError(
                f"{options.config} has no [backend.sip2] section; give the server with"
                " --url sip2://USER@HOST:PORT (kiosk demo-ils serves sip2://kiosk@127.0.0.1:6001)"
            )
        settings = Sip2Settings.from_config(section, config.source.parent)
        if PASSWORD_ENV in environ:  # lets a technician try another password
            settings = dataclasses.replace(settings, password=environ[PASSWORD_ENV])
        institution = (
            options.institution if options.institution is not None else section.institution_id
        )
        location = options.location if options.location is not None else section.location_code
        terminal_password = settings.terminal_password
        settings = dataclasses.replace(settings, institution_id=institution, location_code=location)

    if settings.password and _unsafe(settings.password):
        # Never echoed: it is a secret.
        raise UsageError('the SIP2 password must not contain "|" or control characters')
    changes: dict[str, Any] = {}
    if options.charset is not None:
        changes["charset"] = options.charset
    if options.tls:
        changes["tls"] = True
    if options.ca_file is not None:
        changes["ca_file"] = options.ca_file
    if options.crlf:
        changes["line_ending"] = b"\r\n"
    if options.no_checksums:
        changes["checksums"] = False
    if options.timeout_s is not None:
        changes["timeout_s"] = options.timeout_s
        changes["connect_timeout_s"] = options.timeout_s
    try:
        settings = dataclasses.replace(settings, **changes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.ca_file is not None and not settings.tls:
        raise UsageError("--ca-file is for TLS: use sip2s:// or --tls")
    return Target(settings, institution, location, terminal_password)


def check_argument(name: str, value: str) -> str:
    """A card, item or PIN as typed: not empty, nothing that would break a SIP2 field.
    The value itself is never repeated in the message (it may be a card or a PIN)."""
    return _check_value(name, value, allow_empty=False)


def _check_value(name: str, value: str, *, allow_empty: bool) -> str:
    if not value.strip() and not allow_empty:
        raise UsageError(f"{name} must not be empty")
    if _unsafe(value):
        raise UsageError(f'{name} must not contain "|" or control characters')
    return value.strip()


def _unsafe(value: str) -> bool:
    return "|" in value or any(ord(c) < 32 or ord(c) == 127 for c in value)


def mask_card(card: str) -> str:
    """`0100123456` -> `••••••3456`: at most the last four characters, never half or more."""
    shown = min(4, len(card) // 2)
    return MASK * (len(card) - shown) + card[len(card) - shown :]


# --------------------------------------------------------------------------- talking


class _Failed(Exception):
    """Internal: the server could not be used; the message is the one line for stderr."""


@contextmanager
def _backend(target: Target) -> Iterator[Sip2Backend]:
    """A connected backend (login and SC status done), closed afterwards."""
    client = Sip2Client(target.settings)
    try:
        try:
            client.connect()
        except Sip2Unavailable as exc:
            raise _Failed(str(exc)) from None
        yield Sip2Backend(
            client,
            institution_id=target.institution_id,
            location_code=target.location_code,
            terminal_password=target.terminal_password,
        )
    finally:
        client.close()


def _unavailable(error: str, **data: Any) -> Outcome:
    return Outcome(
        False,
        {"ok": False, "reason": Reason.BACKEND_UNAVAILABLE.value, **data, "error": error},
        error=error,
    )


def _scrubbed(outcome: Outcome, card: str | None) -> Outcome:
    """The outcome with the full card number masked wherever a server text repeated it."""
    if not card or len(card) < 5:
        return outcome
    masked = mask_card(card)

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(card, masked)
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return Outcome(outcome.ok, clean(outcome.data), clean(outcome.text), clean(outcome.error))


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _reason_text(reason: Reason) -> str:
    return REASON_TEXT.get(reason, reason.value.replace("_", " "))


def _lines(rows: list[tuple[str, str]]) -> str:
    """Aligned `label: value` lines; an empty label continues the row above (a list)."""
    width = max(len(label) for label, _ in rows) + 1
    return "\n".join(
        f"{label + ':' if label else '':<{width}} {value}".rstrip() for label, value in rows
    )


def _money(cents: int, currency: str) -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


# --------------------------------------------------------------------------- test


def run_test(target: Target, *, rounds: int = STATUS_ROUNDS) -> Outcome:
    """Connect, log in, SC status: is the link usable, how fast, what does the server offer?"""
    settings = target.settings
    data: dict[str, Any] = {
        "ok": False,
        "server": settings.address,
        "tls": settings.tls,
        "login": None,
        "online": None,
        "checkout_ok": None,
        "checkin_ok": None,
        "protocol_version": None,
        "library_name": None,
        "round_trip_ms": None,
        "supported": None,
        "institution_id": None,
        "error": None,
    }
    client = Sip2Client(settings)
    try:
        try:
            client.connect()
            times: list[float] = []
            status = client.acs_status
            for _ in range(rounds):
                status = client.refresh_status()
                if client.last_round_trip_ms is not None:
                    times.append(client.last_round_trip_ms)
        except LoginRefused as exc:
            data.update(login=False, error=str(exc))
            return Outcome(False, data, error=str(exc))
        except Sip2Unavailable as exc:
            data["error"] = str(exc)
            return Outcome(False, data, error=str(exc))
    finally:
        client.close()
    assert isinstance(status, ACSStatus)
    logged_in = True if settings.username else None
    supported = {name: status.supported.get(name, False) for name in SUPPORTED_MESSAGES}
    round_trip = round(statistics.median(times), 2) if times else None
    ok = logged_in is not False and status.online_status
    error = None if ok else "the server says it is offline (ACS status: online N)"
    data.update(
        ok=ok,
        login=logged_in,
        online=status.online_status,
        checkout_ok=status.checkout_ok,
        checkin_ok=status.checkin_ok,
        protocol_version=status.protocol_version,
        library_name=status.library_name,
        institution_id=status.institution_id,
        round_trip_ms=round_trip,
        supported=supported,
        error=error,
    )

    def allowed(flag: bool) -> str:
        return "allowed" if flag else "NOT allowed"

    yes = [name.replace("_", " ") for name, on in supported.items() if on]
    no = [name.replace("_", " ") for name, on in supported.items() if not on]
    rows = [
        ("server", target.shown),
        ("login", f"ok (user {settings.username})" if logged_in else "none (no user given)"),
        (
            "status",
            f"{'online' if status.online_status else 'OFFLINE'}, checkout "
            f"{allowed(status.checkout_ok)}, checkin {allowed(status.checkin_ok)}",
        ),
        ("protocol", status.protocol_version),
        ("library", f"{status.library_name or '(no name)'} ({status.institution_id})"),
        (
            "round trip",
            f"{round_trip:.1f} ms (median of {len(times)} SC status)" if times else "not measured",
        ),
        ("supports", ", ".join(yes) or "nothing (BX all N)"),
        ("not", ", ".join(no) or "-"),
        ("result", "OK" if ok else f"FAILED: {error}"),
    ]
    return Outcome(ok, data, _lines(rows), error or "")


# --------------------------------------------------------------------------- patron


def run_patron(target: Target, card: str, pin: str | None = None) -> Outcome:
    """Identify a card (and PIN) and show its account: loans, holds ready, fees."""
    masked = mask_card(card)
    try:
        with _backend(target) as backend:
            found = backend.identify(card, pin)
            summary = None
            if found.patron is not None:
                summary = backend.summary(found.patron.patron_id)
    except (_Failed, BackendUnavailable) as exc:
        return _scrubbed(_unavailable(str(exc), card=masked), card)
    patron = summary.patron if summary is not None else found.patron
    loans = summary.loans if summary is not None else ()
    holds = summary.holds_ready if summary is not None else ()
    fees = summary.fees_cents if summary is not None else (patron.fees_cents if patron else 0)
    currency = summary.currency if summary is not None else (patron.currency if patron else "EUR")
    # The summary's text comes from the same patron information answer: shown once.
    server_text = found.server_text or (summary.server_text if summary is not None else "")
    data: dict[str, Any] = {
        "ok": found.ok,
        "reason": found.reason.value,
        "reason_text": _reason_text(found.reason),
        "card": masked,
        "pin_checked": pin is not None,
        "valid": found.reason is not Reason.UNKNOWN_PATRON,
        "name": patron.name if patron else None,
        "loans_count": patron.loans_count if patron else None,
        "loan_limit": patron.loan_limit if patron else None,
        "loans": [
            {
                "item_id": loan.item.item_id,
                "title": loan.item.title,
                "due": _date(loan.due),
                "overdue": loan.overdue,
            }
            for loan in loans
        ],
        "holds_ready": [
            {
                "item_id": hold.item.item_id,
                "title": hold.item.title,
                "pickup_location": hold.pickup_location,
                "until": _date(hold.until),
            }
            for hold in holds
        ],
        "fees_cents": fees,
        "currency": currency,
        "server_text": server_text,
    }
    rows = [
        ("patron", f"{masked} {patron.name}" if patron else masked),
        ("result", f"{found.reason.value} ({_reason_text(found.reason)})"),
    ]
    if pin is not None:
        rows.append(("PIN", "wrong" if found.reason is Reason.WRONG_PIN else "checked"))
    if patron is not None:
        limit = f" (limit {patron.loan_limit})" if patron.loan_limit else ""
        rows.append(("loans", f"{len(loans)}{limit}"))
        rows += [
            (
                "",
                f"  {loan.item.item_id}  due {loan.due.isoformat()}"
                f"{' OVERDUE' if loan.overdue else ''}  {loan.item.title}",
            )
            for loan in loans
        ]
        rows.append(("holds ready", str(len(holds)) if holds else "none"))
        rows += [
            (
                "",
                f"  {hold.item.item_id}  {hold.item.title}"
                + (f" at {hold.pickup_location}" if hold.pickup_location else "")
                + (f" until {hold.until.isoformat()}" if hold.until else ""),
            )
            for hold in holds
        ]
        rows.append(("fees", _money(fees, currency)))
    if server_text:
        rows.append(("server says", server_text))
    error = "" if found.ok else f"patron: {found.reason.value} ({_reason_text(found.reason)})"
    return _scrubbed(Outcome(found.ok, data, _lines(rows), error), card)


# --------------------------------------------------------------------------- item


def run_item(target: Target, item_id: str) -> Outcome:
    """Where an item is: title, state, due date, holds queue, location."""
    try:
        with _backend(target) as backend:
            status = backend.item_status(item_id)
    except (_Failed, BackendUnavailable) as exc:
        return _unavailable(str(exc), item_id=item_id)
    if status is None:
        reason = Reason.UNKNOWN_ITEM
        data = {
            "ok": False,
            "reason": reason.value,
            "reason_text": _reason_text(reason),
            "item_id": item_id,
        }
        text = _lines([("item", item_id), ("result", f"{reason.value} ({_reason_text(reason)})")])
        return Outcome(False, data, text, f"item {item_id}: {_reason_text(reason)}")
    data = {
        "ok": True,
        "reason": Reason.OK.value,
        "item_id": item_id,
        "title": status.item.title,
        "state": status.state.value,
        "due": _date(status.due),
        "holds_queue": status.holds_queue,
        "location": status.location,
        "server_text": status.server_text,
    }
    state = status.state.value.replace("_", " ")
    rows = [
        ("item", f"{item_id} {status.item.title}"),
        ("state", state + (f", due {status.due.isoformat()}" if status.due else "")),
        ("holds", f"{status.holds_queue} waiting" if status.holds_queue else "none"),
        ("location", status.location or "-"),
    ]
    if status.server_text:
        rows.append(("server says", status.server_text))
    return Outcome(True, data, _lines(rows))


# --------------------------------------------------------------------------- circulation


def _loan_outcome(action: str, card: str, item_id: str, result: CheckoutResult) -> Outcome:
    masked = mask_card(card)
    data = {
        "ok": result.ok,
        "reason": result.reason.value,
        "reason_text": _reason_text(result.reason),
        "card": masked,
        "item_id": item_id,
        "title": result.item.title if result.item else None,
        "due": _date(result.due),
        "server_text": result.server_text,
    }
    title = f" ({result.item.title})" if result.item and result.item.title else ""
    rows = [
        (action, f"{item_id}{title} for {masked}"),
        ("result", f"{result.reason.value} ({_reason_text(result.reason)})"),
    ]
    if result.due:
        rows.append(("due", result.due.isoformat()))
    if result.server_text:
        rows.append(("server says", result.server_text))
    error = "" if result.ok else f"{action} refused: {result.reason.value}"
    return _scrubbed(Outcome(result.ok, data, _lines(rows), error), card)


def run_checkout(target: Target, card: str, item_id: str) -> Outcome:
    """Lend an item to a card, as the kiosk would (a new client id, now)."""
    try:
        with _backend(target) as backend:
            result = backend.checkout(
                card, item_id, client_id=str(uuid.uuid4()), when=dt.datetime.now()
            )
    except (_Failed, BackendUnavailable) as exc:
        return _scrubbed(_unavailable(str(exc), card=mask_card(card), item_id=item_id), card)
    return _loan_outcome("checkout", card, item_id, result)


def run_renew(target: Target, card: str, item_id: str) -> Outcome:
    """Renew one loan of a card."""
    try:
        with _backend(target) as backend:
            result = backend.renew(
                card, item_id, client_id=str(uuid.uuid4()), when=dt.datetime.now()
            )
    except (_Failed, BackendUnavailable) as exc:
        return _scrubbed(_unavailable(str(exc), card=mask_card(card), item_id=item_id), card)
    return _loan_outcome("renew", card, item_id, result)


def run_checkin(target: Target, item_id: str) -> Outcome:
    """Return an item, as the kiosk would; says where it goes next."""
    try:
        with _backend(target) as backend:
            result: CheckinResult = backend.checkin(
                item_id, client_id=str(uuid.uuid4()), when=dt.datetime.now()
            )
    except (_Failed, BackendUnavailable) as exc:
        return _unavailable(str(exc), item_id=item_id)
    data = {
        "ok": result.ok,
        "reason": result.reason.value,
        "reason_text": _reason_text(result.reason),
        "item_id": item_id,
        "title": result.item.title if result.item else None,
        "destination": result.destination,
        "server_text": result.server_text,
    }
    title = f" ({result.item.title})" if result.item and result.item.title else ""
    rows = [
        ("checkin", f"{item_id}{title}"),
        ("result", f"{result.reason.value} ({_reason_text(result.reason)})"),
        ("goes", DESTINATION_TEXT.get(result.destination, result.destination)),
    ]
    if result.server_text:
        rows.append(("server says", result.server_text))
    error = "" if result.ok else f"checkin refused: {result.reason.value}"
    return Outcome(result.ok, data, _lines(rows), error)
