"""`kiosk rfid decode|encode` run as real processes (started in parallel to stay fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kiosk.tags import reverse_blocks

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
