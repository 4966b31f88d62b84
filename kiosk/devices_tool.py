"""The logic of `kiosk devices`: what is attached, and which configured device URL is which.

A technician setting up a kiosk wants one look: the serial ports (with USB ids, where a FEIG
reader or a serial barcode scanner shows up), the USB devices (NFC card readers and printers
are recognised by id), keyboard-like input devices (barcode scanners in keyboard mode) and
USB printers, then for each URL of the `[devices]` section the device it names, or "not found".

Nothing is opened: listing must be safe while the kiosk itself is using the devices (nfcpy's
probing would claim a reader the kiosk holds, so NFC readers are found by their USB id).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serial.tools import list_ports

from drivers.base import DeviceError
from drivers.registry import parse_device_url
from kiosk.config import KioskConfig, load_config

# USB ids of the card readers nfcpy drives (its documented list, the common ones).
NFC_READERS: dict[str, str] = {
    "072f:2200": "ACS ACR122U",
    "072f:2224": "ACS ACR1251U",
    "04cc:2533": "SCM SCL3711",
    "04e6:5591": "SCM SCL3711 (PN533)",
    "04e6:5593": "SCM SCL3712",
    "054c:02e1": "Sony RC-S330/360/370",
    "054c:06c1": "Sony RC-S380",
    "054c:06c3": "Sony RC-S380/P",
}

# Schemes whose address is a device file, and the role they play.
_PATH_SCHEMES = frozenset({"feig", "bibliotheca", "barcode", "evdev", "escpos-serial", "file"})
_ROLES = ("rfid", "card_reader", "printer")


@dataclass(frozen=True)
class Roots:
    """Where to look; tests point these at folders of their own."""

    sys_usb: Path = Path("/sys/bus/usb/devices")
    input_by_id: Path = Path("/dev/input/by-id")
    usb_printers: str = "/dev/usb/lp*"


class _AnySecret(Mapping[str, str]):
    """An environment in which every variable is set: listing devices needs no secrets, so a
    technician can run it without the kiosk's EnvironmentFile. Other checks stay as they are."""

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name) or "unused"

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def load_devices_config(path: str | os.PathLike[str]) -> KioskConfig:
    """The configuration, checked, without needing its secrets; raises ConfigError."""
    return load_config(path, environ=_AnySecret())


def serial_ports() -> list[dict[str, Any]]:
    ports = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        vid_pid = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else None
        ports.append(
            {
                "device": port.device,
                "description": port.description if port.description != "n/a" else None,
                "usb_id": vid_pid,
                "serial_number": port.serial_number,
            }
        )
    return ports


def usb_devices(root: Path) -> list[dict[str, Any]]:
    """USB devices from sysfs (no libusb needed), with what we recognise them as."""
    found = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        vendor, product = _sysfs(folder, "idVendor"), _sysfs(folder, "idProduct")
        if vendor is None or product is None:
            continue  # an interface, not a device
        usb_id = f"{vendor.lower()}:{product.lower()}"
        name = " ".join(filter(None, (_sysfs(folder, "manufacturer"), _sysfs(folder, "product"))))
        found.append(
            {
                "usb_id": usb_id,
                "name": name or None,
                "serial_number": _sysfs(folder, "serial"),
                "nfc_reader": NFC_READERS.get(usb_id),
                "bus_path": folder.name,
            }
        )
    return found


def keyboards(by_id: Path) -> list[dict[str, Any]]:
    """Keyboard-like input devices: barcode scanners in keyboard mode (evdev: URLs)."""
    paths = sorted(by_id.glob("*-event-kbd")) if by_id.is_dir() else []
    return [{"device": str(path), "target": os.path.realpath(path)} for path in paths]


def usb_printers(pattern: str) -> list[dict[str, Any]]:
    return [{"device": path} for path in sorted(glob.glob(pattern))]


def _sysfs(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text(encoding="utf-8", errors="replace").strip() or None
    except OSError:
        return None


def match_url(url: str, listing: dict[str, Any]) -> dict[str, Any]:
    """Which found device a configured URL names: status "found", "not found" or "n/a"."""
    entry: dict[str, Any] = {"url": url, "status": "n/a", "device": None, "note": None}
    try:
        scheme, address = parse_device_url(url)
    except DeviceError as exc:
        return entry | {"status": "not found", "note": str(exc)}
    if scheme in _PATH_SCHEMES:
        path = address.partition("?")[0]
        if scheme == "file" and not path.startswith("/dev/"):
            return entry | {"note": "receipts go to a folder, not a device"}
        return entry | _match_path(path, listing)
    if scheme == "nfc":
        wanted = address.split(":", 1)[1].lower() if address.count(":") >= 1 else None
        readers = [d for d in listing["nfc_readers"] if wanted in (None, d["usb_id"])]
        if readers:
            return entry | {"status": "found", "device": readers[0]}
        return entry | {"status": "not found", "note": "no known NFC reader on USB"}
    if scheme == "escpos-usb":
        try:
            wanted = ":".join(f"{int(x, 16):04x}" for x in address.split(":")[:2])
        except ValueError:
            return entry | {"status": "not found", "note": f"{url} names no USB id"}
        usb = [d for d in listing["usb"] if d["usb_id"] == wanted]
        if usb:
            return entry | {"status": "found", "device": usb[0]}
        return entry | {"status": "not found", "note": f"no USB device {wanted}"}
    return entry | {"note": f"{scheme}: is not a local device"}


def _match_path(path: str, listing: dict[str, Any]) -> dict[str, Any]:
    """Compare after resolving symlinks (udev names such as /dev/kiosk-rfid)."""
    real = os.path.realpath(path)
    for kind in ("serial_ports", "keyboards", "printers"):
        for device in listing[kind]:
            if real in (os.path.realpath(device["device"]), device.get("target")):
                return {"status": "found", "device": device}
    if os.path.exists(real):
        # There but not enumerated: a pty (an emulator) or a port pyserial does not list.
        return {
            "status": "found",
            "device": {"device": real},
            "note": "exists, but is not a listed serial, input or printer device",
        }
    return {"status": "not found", "note": f"{path} does not exist"}


def list_devices(devices_config: Any, roots: Roots | None = None) -> dict[str, Any]:
    """Everything attached, and `configured`: one match per role of the [devices] section."""
    roots = roots or Roots()
    usb = usb_devices(roots.sys_usb)
    listing: dict[str, Any] = {
        "serial_ports": serial_ports(),
        "usb": usb,
        "nfc_readers": [d for d in usb if d["nfc_reader"]],
        "keyboards": keyboards(roots.input_by_id),
        "printers": usb_printers(roots.usb_printers),
    }
    listing["configured"] = {
        role: match_url(getattr(devices_config, role), listing) for role in _ROLES
    }
    return listing


def render_text(listing: dict[str, Any]) -> str:
    lines: list[str] = []

    def section(title: str, rows: list[str]) -> None:
        lines.append(f"{title}:")
        lines.extend(f"  {row}" for row in rows or ["(none)"])

    def row(*cells: str | None) -> str:
        return "  ".join(cell for cell in cells if cell)

    section(
        "Serial ports",
        [
            row(p["device"], p["description"], p["usb_id"], p["serial_number"] and
                f"serial {p['serial_number']}")
            for p in listing["serial_ports"]
        ],
    )  # fmt: skip
    section("USB devices", [row(d["usb_id"], d["name"]) for d in listing["usb"]])
    section("NFC readers", [f"{d['usb_id']}  {d['nfc_reader']}" for d in listing["nfc_readers"]])
    section(
        "Keyboard devices (scanners)",
        [f"{k['device']} -> {k['target']}" for k in listing["keyboards"]],
    )
    section("USB printers", [p["device"] for p in listing["printers"]])
    rows = []
    for role, match in listing["configured"].items():
        device = match["device"]
        shown = device.get("device") or device.get("usb_id") if device else None
        what = f"found: {shown}" if match["status"] == "found" else match["status"]
        note = f" ({match['note']})" if match["note"] else ""
        rows.append(f"{role:<12} {match['url']}  {what}{note}")
    section("Configured", rows)
    return "\n".join(lines)
