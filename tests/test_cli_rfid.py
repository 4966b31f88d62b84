"""`kiosk rfid decode|encode|scan` run as real processes (started in parallel to stay fast).

`scan` talks to the real FEIG driver, served by the FEIG emulator over a pty that lives in
the test process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.emulators.feig import FeigEmulator
from drivers.emulators.field import RfidField
from drivers.feig import FeigReader
from kiosk.rfid_tool import check_scan_options, run_scan
from kiosk.tags import LibraryTag, encode_tag, reverse_blocks
from kiosk.tags_part2 import make_part2_tag

ROOT = Path(__file__).resolve().parents[1]
ANNEX_D = "9100051CBE991A140201D0140204B300"  # ISO 28560-2 Annex D example


def run_all(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "screens.cli", "rfid", *cmd],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cmd in commands
    ]
    done = []
    for proc, cmd in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        done.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return done


def test_encode_then_decode_part3_and_part2() -> None:
    p3, p2, p3set = run_all(
        ["encode", "--item-id", "30501000123", "--country", "SI", "--isil", "50100"],
        ["encode", "--item-id", "30501000123", "--isil", "SI-50100", "--part2"],
        ["encode", "--item-id", "X1", "--isil", "SI-50100", "--parts", "3", "--part", "2"],
    )
    assert p3.returncode == p2.returncode == p3set.returncode == 0
    hex3, hex2 = p3.stdout.strip(), p2.stdout.strip()
    assert len(bytes.fromhex(hex3)) == 34
    reversed3 = reverse_blocks(bytes.fromhex(hex3)).hex()
    damaged = bytearray(bytes.fromhex(hex3))
    damaged[5] ^= 1
    d3, d2, rev, dmg, dset = run_all(
        ["decode", hex3],
        ["decode", hex2, "--dsfid", "0x06"],
        ["decode", reversed3],
        ["decode", damaged.hex()],
        ["decode", p3set.stdout.strip()],
    )
    one = json.loads(d3.stdout)
    assert one == {
        "standard": "28560-3",
        "usage": 1,
        "primary_item_id": "30501000123",
        "parts_in_item": 1,
        "part_number": 1,
        "country": "SI",
        "isil": "SI-50100",
        "crc_ok": True,
        "block_order": "normal",
    }
    assert json.loads(d2.stdout) | {"standard": "28560-3", "crc_ok": True} == one
    assert json.loads(d2.stdout)["crc_ok"] is None
    assert json.loads(rev.stdout) == one | {"block_order": "reversed"}
    assert dmg.returncode == 1 and dmg.stdout == "" and "damaged" in dmg.stderr
    assert len(dmg.stderr.strip().splitlines()) == 1
    assert (json.loads(dset.stdout)["parts_in_item"], json.loads(dset.stdout)["part_number"]) == (
        3,
        2,
    )


def test_decode_part2_example_blank_non_library_and_bad_hex() -> None:
    annex, blank, foreign, bad, bad_dsfid, truncated = run_all(
        ["decode", ANNEX_D, "--dsfid", "6"],
        ["decode", "00" * 32],
        ["decode", "41" * 34],
        ["decode", "12G4"],
        ["decode", ANNEX_D, "--dsfid", "x"],
        ["decode", "9100051CBE", "--dsfid", "0x06"],  # cut off inside the item ID
    )
    data = json.loads(annex.stdout)
    assert (data["standard"], data["primary_item_id"], data["parts_in_item"]) == (
        "28560-2",
        "123456789012",
        12,
    )
    assert json.loads(blank.stdout)["standard"] == "blank" and blank.returncode == 0
    assert foreign.returncode == 1 and "not_library" in foreign.stderr
    assert bad.returncode == 2 and "hex" in bad.stderr
    assert bad_dsfid.returncode == 2 and "--dsfid" in bad_dsfid.stderr
    assert truncated.returncode == 1 and "28560-2" in truncated.stderr


def test_encode_refuses_bad_arguments() -> None:
    long_id, bad_part, clash = run_all(
        ["encode", "--item-id", "X" * 17],
        ["encode", "--item-id", "1", "--parts", "2", "--part", "3"],
        ["encode", "--item-id", "1", "--country", "DK", "--isil", "SI-50100"],
    )
    for done in (long_id, bad_part, clash):
        assert done.returncode == 2 and done.stdout == "" and done.stderr.startswith("kiosk rfid:")


# --- scan ------------------------------------------------------------------------------------

GOOD, REVERSED, PART2, BLANK, DAMAGED, UNREADABLE = (
    bytes.fromhex("E0040150000000") + bytes([n]) for n in range(1, 7)
)


def uid_hex(uid: bytes) -> str:
    return uid.hex().upper()


@pytest.fixture
def field() -> RfidField:
    """A pad with one tag of every kind a technician meets."""
    field = RfidField()
    field.place(GOOD, encode_tag(LibraryTag("30501000123", 1, 1, "SI", "50100")))
    set_part = encode_tag(LibraryTag("30501000130", 3, 2, "SI", "50001"))
    field.place(REVERSED, reverse_blocks(set_part), afi=0xC2)
    part2 = make_part2_tag("123456789012", isil="SI-50100")
    field.place(PART2, encode_tag(part2), dsfid=0x06, afi=0x33)
    field.place(BLANK, b"")
    field.place(DAMAGED, encode_tag(LibraryTag("30501000147", 1, 1, "SI", "50100")))
    field.damage(DAMAGED)
    field.place(UNREADABLE, encode_tag(LibraryTag("30501000154", 1, 1, "SI", "50100")))
    field.make_unreadable(UNREADABLE)
    return field


@pytest.fixture
def pty_path(field: RfidField) -> Iterator[str]:
    emulator = FeigEmulator(field)
    yield emulator.open_pty()
    emulator.stop()


def scan(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "screens.cli", "rfid", "scan", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_scan_once_json_against_the_feig_emulator(pty_path: str) -> None:
    done = scan("--reader", f"feig:{pty_path}", "--once", "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["state"] == "ok" and pty_path in report["reader"]
    tags = {tag["uid"]: tag for tag in report["tags"]}
    assert list(tags) == [uid_hex(u) for u in (GOOD, REVERSED, PART2, BLANK, DAMAGED, UNREADABLE)]
    good = tags[uid_hex(GOOD)]
    assert good == {
        "uid": uid_hex(GOOD),
        "afi": "0x07",
        "security": "in library",
        "dsfid": "0x00",
        "status": "ok",
        "reason": None,
        "standard": "28560-3",
        "usage": 1,
        "primary_item_id": "30501000123",
        "parts_in_item": 1,
        "part_number": 1,
        "country": "SI",
        "isil": "SI-50100",
        "crc_ok": True,
        "block_order": "normal",
    }
    rev = tags[uid_hex(REVERSED)]
    assert (rev["primary_item_id"], rev["parts_in_item"], rev["part_number"]) == (
        "30501000130",
        3,
        2,
    )
    assert (rev["block_order"], rev["isil"], rev["security"]) == ("reversed", "SI-50001", "on loan")
    p2 = tags[uid_hex(PART2)]
    assert (p2["standard"], p2["primary_item_id"], p2["dsfid"], p2["crc_ok"]) == (
        "28560-2",
        "123456789012",
        "0x06",
        None,
    )
    assert p2["security"] == "other (AFI 0x33)"
    assert (tags[uid_hex(BLANK)]["status"], tags[uid_hex(BLANK)]["standard"]) == ("blank", "blank")
    damaged = tags[uid_hex(DAMAGED)]
    assert damaged["status"] == "damaged" and damaged["primary_item_id"] is None
    assert "checksum" in damaged["reason"]
    unreadable = tags[uid_hex(UNREADABLE)]
    assert (unreadable["status"], unreadable["security"], unreadable["afi"]) == (
        "unreadable",
        "unknown",
        None,
    )


def test_scan_once_text_with_other_afi_values(pty_path: str) -> None:
    # A library whose vendor uses 0x33 for "in library": the part-2 tag is now at home.
    args = ("--reader", f"feig:{pty_path}", "--once", "--afi-in-library", "0x33")
    done = scan(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("6 tag(s)")
    by_uid = {line.split()[0]: line for line in lines[1:]}
    assert "in library" in by_uid[uid_hex(PART2)] and "123456789012" in by_uid[uid_hex(PART2)]
    assert "other (AFI 0x07)" in by_uid[uid_hex(GOOD)]
    assert "reversed block order" in by_uid[uid_hex(REVERSED)]
    assert "blank" in by_uid[uid_hex(BLANK)] and "damaged" in by_uid[uid_hex(DAMAGED)]


def test_scan_reader_missing_or_bad_arguments(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-reader"
    procs = run_all(
        ["scan", "--reader", f"feig:{missing}", "--once"],
        ["scan", "--reader", "feig:/dev/null", "--once", "--json"],  # opens, never answers
        ["scan", "--reader", "teleport:/dev/x", "--once"],
        ["scan", "--reader", "feig:/dev/x", "--afi-on-loan", "0x07"],
        ["scan", "--reader", "feig:/dev/x", "--afi-in-library", "300"],
        ["scan", "--reader", "feig:/dev/x", "--interval", "0"],
        ["scan", "--reader", "feig:/dev/x?speed=9", "--once"],
        ["scan", "--once"],
    )
    not_there, silent, scheme, same_afi, big_afi, interval, param, no_reader = procs
    for done in (not_there, silent):
        assert done.returncode == 1 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(missing) in not_there.stderr
    for done in (scheme, same_afi, big_afi, interval, param, no_reader):
        assert done.returncode == 2 and done.stdout == "", done.stderr
    assert "teleport" in scheme.stderr and "feig:" in scheme.stderr
    assert "must differ" in same_afi.stderr and "byte" in big_afi.stderr
    assert "--interval" in interval.stderr and "speed" in param.stderr


def test_live_scan_prints_changes_and_survives_an_unplugged_reader(field: RfidField) -> None:
    """In process: the live loop redraws only when the pad changed, and goes on after the
    reader is lost (the driver reopens it when it comes back)."""
    field.clear()
    emulator = FeigEmulator(field)
    path = emulator.open_pty()
    readers: list[FeigReader] = []

    def open_reader(url: str) -> FeigReader:
        readers.append(FeigReader(url.removeprefix("feig:"), timeout_s=0.3))
        return readers[0]

    steps = iter(
        [
            lambda: None,  # same pad: nothing printed
            lambda: field.place(GOOD, encode_tag(LibraryTag("30501000123", 1, 1, "SI", "50100"))),
            emulator.stop,  # unplugged
        ]
    )
    out = io.StringIO()
    options = check_scan_options(
        f"feig:{path}", interval_s=0.01, afi_on_loan="0xC2", afi_in_library="0x07"
    )
    try:
        outcome = run_scan(
            options, out, open_reader=open_reader, sleep=lambda _s: next(steps)(), inventories=4
        )
    finally:
        emulator.stop()
    assert outcome.exit_code == 0
    printed = out.getvalue().splitlines()
    # The empty pad (twice, printed once), the new tag, the lost reader: 2 + 2 + 1 lines.
    assert len(printed) == 5, printed
    assert printed[0].endswith("0 tag(s)") and printed[1].endswith("(no tags on the pad)")
    assert printed[2].endswith("1 tag(s)")
    assert uid_hex(GOOD) in printed[3] and "30501000123" in printed[3]
    assert path in printed[4] and "unplugged" in printed[4]
    assert readers[0].state == "missing"
