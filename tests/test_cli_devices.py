"""`kiosk devices`: the listing runs on any machine, and configured URLs are matched to what
is found (by path after resolving symlinks, or by USB id). Real files, a real pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.config import ConfigError
from kiosk.devices_tool import Roots, list_devices, load_devices_config, render_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pty_path() -> Iterator[str]:
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def write_config(folder: Path, **devices: str) -> Path:
    lines = ["[kiosk]", f'data_dir = "{folder / "data"}"', "", "[devices]"]
    lines += [f'{role} = "{url}"' for role, url in devices.items()]
    path = folder / "kiosk.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def devices(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "screens.cli", "devices", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_configured_pty_is_found_and_a_missing_card_reader_is_not(
    tmp_path: Path, pty_path: str
) -> None:
    link = tmp_path / "kiosk-rfid"  # as a udev rule names the reader
    link.symlink_to(pty_path)
    missing = tmp_path / "no-scanner"
    config = write_config(
        tmp_path, rfid=f"feig:{link}", card_reader=f"barcode:{missing}?baud=9600", printer="none"
    )
    as_json, as_text = devices("--json", "--config", str(config)), devices("--config", str(config))
    assert as_json.returncode == 0 and as_text.returncode == 0, as_json.stderr + as_text.stderr
    listing = json.loads(as_json.stdout)
    for key in ("serial_ports", "usb", "nfc_readers", "keyboards", "printers", "configured"):
        assert isinstance(listing[key], list | dict)
    rfid, card, printer = (listing["configured"][r] for r in ("rfid", "card_reader", "printer"))
    assert (rfid["status"], rfid["device"]["device"]) == ("found", pty_path)
    assert (card["status"], card["device"]) == ("not found", None)
    assert str(missing) in card["note"]
    assert printer["status"] == "n/a"
    text = as_text.stdout
    assert f"found: {pty_path}" in text and "not found" in text and "Serial ports:" in text


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[devices]\nrfid = "teleport:/dev/x"\n', encoding="utf-8")
    done = devices("--config", str(bad))
    assert done.returncode == 2 and done.stdout == ""
    assert "devices.rfid" in done.stderr
    missing = devices("--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_secrets_are_not_needed_to_list_devices(tmp_path: Path) -> None:
    example = ROOT / "config" / "example-branch.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    done = subprocess.run(
        [sys.executable, "-m", "screens.cli", "devices", "--config", str(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "feig:/dev/kiosk-rfid" in done.stdout


def fake_sysfs(root: Path, name: str, **files: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in files.items():
        (folder / key).write_text(value + "\n", encoding="utf-8")


def test_usb_nfc_keyboards_and_printers_from_given_roots(tmp_path: Path) -> None:
    sys_usb = tmp_path / "sys"
    fake_sysfs(sys_usb, "1-1", idVendor="072f", idProduct="2200", product="ACR122U PICC")
    fake_sysfs(sys_usb, "1-2", idVendor="0416", idProduct="5011", manufacturer="Winbond")
    fake_sysfs(sys_usb, "1-2:1.0", bInterfaceClass="07")  # an interface: not listed
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    event = tmp_path / "event3"
    event.write_bytes(b"")
    (by_id / "usb-Datalogic_Scanner-event-kbd").symlink_to(event)
    (tmp_path / "lp0").write_bytes(b"")
    roots = Roots(sys_usb=sys_usb, input_by_id=by_id, usb_printers=str(tmp_path / "lp*"))

    class Devices:  # the [devices] section's three URLs
        rfid = "evdev:" + str(by_id / "usb-Datalogic_Scanner-event-kbd")
        card_reader = "nfc:usb"
        printer = "escpos-usb:0x0416:0x5011"

    listing = list_devices(Devices(), roots)
    assert [d["usb_id"] for d in listing["usb"]] == ["072f:2200", "0416:5011"]
    assert [d["nfc_reader"] for d in listing["nfc_readers"]] == ["ACS ACR122U"]
    assert listing["keyboards"][0]["target"] == str(event)
    assert listing["printers"] == [{"device": str(tmp_path / "lp0")}]
    configured = listing["configured"]
    assert configured["rfid"]["device"] == listing["keyboards"][0]
    assert configured["card_reader"]["device"]["usb_id"] == "072f:2200"
    assert configured["printer"]["device"]["name"] == "Winbond"

    Devices.card_reader, Devices.printer = "nfc:usb:054c:06c1", "escpos-usb:zz:1"
    Devices.rfid = f"file:{tmp_path / 'lp0'}"  # not a tag reader; the matching is by path only
    again = list_devices(Devices(), roots)["configured"]
    assert again["card_reader"]["status"] == "not found"
    assert again["printer"]["status"] == "not found" and "no USB id" in again["printer"]["note"]
    assert again["rfid"]["status"] == "n/a"  # a file: folder outside /dev is not a device
    text = render_text(list_devices(Devices(), Roots(sys_usb=tmp_path / "none")))
    assert "USB devices:\n  (none)" in text


def test_load_devices_config_still_checks_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text("[devices]\nrfid = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_devices_config(path)
