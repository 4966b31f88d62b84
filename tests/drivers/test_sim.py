"""The simulated tag and card readers. The tag reader is an emulated FEIG reader on a pty,
read through the real driver, so memory comes back as whole blocks (9 × 4 bytes)."""

from __future__ import annotations

import threading

import pytest

from drivers.base import CardRead, CardReader, DeviceError, TagRead, TagReader
from drivers.sim import SimCardReader, SimTagReader

UID_A = bytes.fromhex("E004010012345678")
UID_B = bytes.fromhex("E0040100ABCDEF01")
MEMORY = 36  # the driver reads 9 blocks of 4 bytes


def memory(data: bytes) -> bytes:
    return data.ljust(MEMORY, b"\0")


def test_implements_the_protocols() -> None:
    assert isinstance(SimTagReader(), TagReader)
    assert isinstance(SimCardReader(), CardReader)


# --- tag reader ----------------------------------------------------------------------------


def test_empty_field() -> None:
    reader = SimTagReader()
    assert reader.inventory() == []
    assert reader.tags() == []


def test_place_lift_clear() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"\x11\x01\x01", dsfid=0x06)
    reader.place(UID_B, b"\x22", afi=0xC2)
    assert reader.inventory() == [
        TagRead(uid=UID_A, data=memory(b"\x11\x01\x01"), afi=0x07, dsfid=0x06),
        TagRead(uid=UID_B, data=memory(b"\x22"), afi=0xC2, dsfid=0),
    ]
    reader.lift(UID_A)
    assert [t.uid for t in reader.inventory()] == [UID_B]
    reader.lift(UID_A)  # lifting again is harmless
    reader.clear()
    assert reader.inventory() == []


def test_placing_the_same_uid_replaces_it() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"old")
    reader.place(UID_A, b"new", afi=0xC2)
    assert reader.inventory() == [TagRead(uid=UID_A, data=memory(b"new"), afi=0xC2)]


def test_inventory_is_a_snapshot() -> None:
    reader = SimTagReader()
    data = bytearray(b"abc")
    reader.place(UID_A, data)
    seen = reader.inventory()
    data[0] = 0
    reader.lift(UID_A)
    assert seen == [TagRead(uid=UID_A, data=memory(b"abc"), afi=0x07)]


@pytest.mark.parametrize(
    ("uid", "kwargs"),
    [(b"\xe0\x04", {}), (UID_A, {"afi": 256}), (UID_A, {"dsfid": -1})],
)
def test_place_rejects_impossible_tags(uid: bytes, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SimTagReader().place(uid, b"", **kwargs)


def test_write_afi() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"x")
    reader.write_afi(UID_A, 0xC2)
    assert reader.afi_of(UID_A) == 0xC2
    assert reader.inventory()[0].afi == 0xC2


def test_write_to_a_tag_not_in_the_field() -> None:
    reader = SimTagReader()
    with pytest.raises(DeviceError, match="not in the field"):
        reader.write_afi(UID_A, 0xC2)
    with pytest.raises(DeviceError, match="tag left the field"):
        reader.afi_of(UID_A)


def test_fail_next_writes() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"x")
    reader.fail_next_writes(2)
    for _ in range(2):
        with pytest.raises(DeviceError, match="failed"):
            reader.write_afi(UID_A, 0xC2)
    assert reader.afi_of(UID_A) == 0x07  # the failed writes changed nothing
    reader.write_afi(UID_A, 0xC2)
    assert reader.afi_of(UID_A) == 0xC2


def test_unplugged() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"x")
    reader.set_unplugged(True)
    with pytest.raises(DeviceError, match=r"disappeared|cannot open"):
        reader.inventory()
    with pytest.raises(DeviceError, match=r"disappeared|cannot open"):
        reader.write_afi(UID_A, 0xC2)
    assert "unplugged" in reader.describe() and reader.state == "missing"
    assert len(reader.tags()) == 1  # the tray still shows what lies on the pad
    reader.set_unplugged(False)  # plugged back in: reopened without restarting anything
    assert len(reader.inventory()) == 1 and reader.state == "ok"


def test_unplugged_write_does_not_use_up_a_planned_failure() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"x")
    reader.fail_next_writes(1)
    reader.set_unplugged(True)
    with pytest.raises(DeviceError, match=r"disappeared|cannot open"):
        reader.write_afi(UID_A, 0xC2)
    reader.set_unplugged(False)
    with pytest.raises(DeviceError, match="failed"):
        reader.write_afi(UID_A, 0xC2)


def test_describe_and_close() -> None:
    reader = SimTagReader()
    reader.place(UID_A, b"x")
    assert reader.describe() == (
        "simulated RFID reader (sim:, emulated FEIG on a pty), 1 tag(s) in the field"
    )
    reader.close()
    assert "closed" in reader.describe()
    with pytest.raises(DeviceError, match="closed"):
        reader.inventory()


def test_threads_place_and_poll_concurrently() -> None:
    reader = SimTagReader()
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        try:
            while not stop.is_set():
                for tag in reader.inventory():
                    assert len(tag.uid) == 8
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    worker = threading.Thread(target=poll)
    worker.start()
    try:
        for i in range(2000):
            uid = (0xE0000000_00000000 + i % 50).to_bytes(8, "big")
            reader.place(uid, bytes([i % 256]))
            if i % 3 == 0:
                reader.lift(uid)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not errors
    assert len(reader.inventory()) == len({t.uid for t in reader.inventory()})


# --- card reader ---------------------------------------------------------------------------


def test_card_taps_arrive_once_in_order() -> None:
    reader = SimCardReader()
    assert reader.poll() is None
    reader.tap("20400012345")
    reader.tap("04A1B2C3D4E580")
    assert reader.poll() == CardRead(card="20400012345", source="barcode")
    assert reader.poll() == CardRead(card="04A1B2C3D4E580", source="barcode")
    assert reader.poll() is None


@pytest.mark.parametrize("card", ["", "   "])
def test_empty_tap_is_refused(card: str) -> None:
    with pytest.raises(ValueError):
        SimCardReader().tap(card)


def test_card_reader_unplugged_and_closed() -> None:
    reader = SimCardReader()
    reader.set_unplugged(True)
    reader.tap("123")  # nobody sees it
    with pytest.raises(DeviceError, match=r"stopped answering|cannot open"):
        reader.poll()
    reader.set_unplugged(False)
    assert reader.poll() is None
    reader.tap("456")
    assert "1 card(s) waiting" in reader.describe()
    reader.close()
    with pytest.raises(DeviceError, match="closed"):
        reader.poll()


def test_taps_from_many_threads_all_arrive() -> None:
    reader = SimCardReader()

    def tap_many(prefix: str) -> None:
        for i in range(500):
            reader.tap(f"{prefix}{i}")

    threads = [threading.Thread(target=tap_many, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    received: list[str] = []
    while any(t.is_alive() for t in threads):
        if (read := reader.poll()) is not None:
            received.append(read.card)
    for thread in threads:
        thread.join()
    while (read := reader.poll()) is not None:
        received.append(read.card)
    assert sorted(received) == sorted(f"{p}{i}" for p in "abcd" for i in range(500))
    for prefix in "abcd":  # each thread's taps keep their order
        mine = [card for card in received if card.startswith(prefix)]
        assert mine == [f"{prefix}{i}" for i in range(500)]
