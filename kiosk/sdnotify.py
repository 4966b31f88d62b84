"""Telling systemd how the kiosk is doing: the sd_notify protocol, in pure Python.

systemd passes a unix datagram socket in `$NOTIFY_SOCKET` (a path, or a name in the
abstract namespace when it starts with "@"); each datagram holds newline-separated
`KEY=value` assignments: `READY=1` once the kiosk shows its first frame (the unit is
`Type=notify`), `WATCHDOG=1` while the UI loop is alive (`WatchdogSec=`),
`STATUS=…` for `systemctl status`, `STOPPING=1` on the way out.

Outside systemd (the demo, the tests, a technician's shell) there is no socket and
every call is a no-op that returns False; a message that cannot be sent is logged
once at debug level and never raised, so the kiosk keeps serving either way.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"


def socket_address(environ: Mapping[str, str] | None = None) -> str | bytes | None:
    """The address to send to: a filesystem path, or bytes for the abstract namespace
    (the leading "@" becomes NUL); None when not started by systemd with notify access."""
    value = (os.environ if environ is None else environ).get(NOTIFY_SOCKET, "")
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # unset, empty, or a kind of address (vsock:) the kiosk never gets


def notify(state: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send one datagram of `KEY=value` lines; True when systemd's socket took it."""
    address = socket_address(environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError as exc:
        log.debug("sd_notify %r not sent: %s", state.split("=", 1)[0], exc)
        return False
    return True


def ready(status_text: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """The kiosk is up (its first frame is on screen); with a status line in the same
    datagram, so `systemctl status` never shows a stale one."""
    state = "READY=1" if status_text is None else f"READY=1\n{_status_line(status_text)}"
    return notify(state, environ=environ)


def watchdog_ping(*, environ: Mapping[str, str] | None = None) -> bool:
    """Still alive: systemd kills and restarts the kiosk when these stop for WatchdogSec."""
    return notify("WATCHDOG=1", environ=environ)


def status(text: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """One line for `systemctl status kiosk`."""
    return notify(_status_line(text), environ=environ)


def stopping(*, environ: Mapping[str, str] | None = None) -> bool:
    """The kiosk is shutting down on purpose (no watchdog alarm for the last seconds)."""
    return notify("STOPPING=1", environ=environ)


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout systemd expects pings within, in seconds; None when there is
    no watchdog for this process (unset, malformed, or meant for another PID)."""
    env = os.environ if environ is None else environ
    usec_text = env.get(WATCHDOG_USEC, "")
    if not usec_text.isdigit() or int(usec_text) <= 0:
        return None
    pid_text = env.get(WATCHDOG_PID, "")
    # Set by systemd for the main process only: a child that inherited it must not ping.
    if pid_text and (not pid_text.isdigit() or int(pid_text) != os.getpid()):
        return None
    return int(usec_text) / 1_000_000


def _status_line(text: str) -> str:
    # Newlines would start a new assignment: the protocol has one per line.
    return "STATUS=" + " ".join(text.split())
