"""An RFID field of ISO 15693 tags for reader emulators: what a pad holds right now.

Reader-agnostic: a FEIG emulator (and later a 3M/Bibliotheca one) serves this model. Tests and
the developer tray change it from other threads (place, lift, stack, damage, collide, fail the
next write), so every method takes the same lock. Memory is kept in the tag's natural byte order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

UID_LENGTH = 8
BLOCK_SIZE = 4
DEFAULT_BLOCKS = 28  # NXP ICODE SLIX: 28 blocks of 4 bytes = 112 bytes of user memory


class Fault(Enum):
    NO_TAG = "no tag with that UID answers"
    COLLISION = "two tags answer with the same UID"
    UNREADABLE = "the tag answers inventory but not a block read"
    WRITE_FAILED = "the write did not reach the tag"
    OUT_OF_RANGE = "the blocks are outside the tag's memory"


class FieldFault(Exception):
    """What went wrong on the air; an emulator turns it into its protocol's status code."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.value)
        self.fault = fault


@dataclass
class FieldTag:
    uid: bytes
    memory: bytearray
    dsfid: int = 0
    afi: int = 0x07
    eas: bool = False
    damaged: bool = False  # reads return corrupted bytes
    unreadable: bool = False  # answers inventory, fails block reads
    copies: int = 1  # more than 1: tags with the same UID collide


def _byte(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be a byte (0-255), not {value}")
    return value


class RfidField:
    """Tags on the pad, in the order they were placed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: dict[bytes, FieldTag] = {}
        self._failing_writes = 0
        self._lost_writes = 0

    # --- changing the field (tests, tray) --------------------------------------------------

    def place(
        self,
        uid: bytes,
        data: bytes = b"",
        *,
        afi: int = 0x07,
        dsfid: int = 0,
        eas: bool = False,
        blocks: int = DEFAULT_BLOCKS,
    ) -> None:
        """Put a tag on the pad; `data` is user memory from block 0, zero-padded to `blocks`."""
        uid = bytes(uid)
        if len(uid) != UID_LENGTH:
            raise ValueError(f"a tag UID has {UID_LENGTH} bytes, not {len(uid)}")
        if len(data) > blocks * BLOCK_SIZE:
            raise ValueError(f"{len(data)} bytes do not fit in {blocks} blocks")
        memory = bytearray(data) + bytes(blocks * BLOCK_SIZE - len(data))
        tag = FieldTag(uid, memory, _byte("DSFID", dsfid), _byte("AFI", afi), eas)
        with self._lock:
            self._tags[uid] = tag

    def stack(self, tags: list[tuple[bytes, bytes]], **options: int) -> None:
        """Place several (uid, data) tags at once, as a pile of books."""
        for uid, data in tags:
            self.place(uid, data, **options)  # type: ignore[arg-type]

    def lift(self, uid: bytes) -> None:
        with self._lock:
            self._tags.pop(bytes(uid), None)

    def clear(self) -> None:
        with self._lock:
            self._tags.clear()

    def damage(self, uid: bytes) -> None:
        """From now on the tag's reads come back corrupted (a cracked antenna, a bent chip)."""
        with self._lock:
            self._tag(bytes(uid)).damaged = True

    def make_unreadable(self, uid: bytes, unreadable: bool = True) -> None:
        with self._lock:
            self._tag(bytes(uid)).unreadable = unreadable

    def collide(self, uid: bytes) -> None:
        """Add a second tag with the same UID (cloned tags): addressed commands fail."""
        with self._lock:
            self._tag(bytes(uid)).copies += 1

    def fail_next_write(self, n: int = 1) -> None:
        if n < 0:
            raise ValueError(f"the number of failing writes cannot be negative ({n})")
        with self._lock:
            self._failing_writes = n

    def lose_next_write(self, n: int = 1) -> None:
        """The next `n` writes answer OK but change nothing: only reading back shows it."""
        if n < 0:
            raise ValueError(f"the number of lost writes cannot be negative ({n})")
        with self._lock:
            self._lost_writes = n

    # --- looking at it ----------------------------------------------------------------------

    def tag(self, uid: bytes) -> FieldTag:
        """A copy of a tag's state (for assertions and the tray)."""
        with self._lock:
            tag = self._tag(bytes(uid))
            return FieldTag(
                tag.uid, bytearray(tag.memory), tag.dsfid, tag.afi, tag.eas, tag.damaged,
                tag.unreadable, tag.copies,
            )  # fmt: skip

    def __len__(self) -> int:
        with self._lock:
            return len(self._tags)

    # --- what a reader does on the air ------------------------------------------------------

    def inventory(self, afi: int | None = None) -> list[tuple[bytes, int]]:
        """(uid, dsfid) of the tags that answer; AFI 0 or None asks every family (ISO 15693)."""
        with self._lock:
            return [
                (t.uid, t.dsfid)
                for t in self._tags.values()
                if not afi or t.afi == afi  # a cloned UID still answers once: the slots merge
            ]

    def read(self, uid: bytes, first: int, count: int) -> bytes:
        with self._lock:
            tag = self._addressed(uid)
            if tag.unreadable:
                raise FieldFault(Fault.UNREADABLE)
            data = self._blocks(tag, first, count)
            if tag.damaged:  # flip bits in every other byte: looks like data, fails any CRC
                data = bytes(b ^ 0x5A if i % 2 else b for i, b in enumerate(data))
            return bytes(data)

    def write(self, uid: bytes, first: int, data: bytes) -> None:
        with self._lock:
            tag = self._addressed(uid)
            self._blocks(tag, first, len(data) // BLOCK_SIZE)
            if self._consume_write_failure():
                start = first * BLOCK_SIZE
                tag.memory[start : start + len(data)] = data

    def write_afi(self, uid: bytes, afi: int) -> None:
        with self._lock:
            tag = self._addressed(uid)
            if self._consume_write_failure():
                tag.afi = _byte("AFI", afi)

    def set_eas(self, uid: bytes, on: bool) -> None:
        with self._lock:
            tag = self._addressed(uid)
            if self._consume_write_failure():
                tag.eas = on

    def eas_alarm(self, uid: bytes) -> bool:
        with self._lock:
            return self._addressed(uid).eas

    def system_information(self, uid: bytes) -> FieldTag:
        with self._lock:
            tag = self._addressed(uid)
            return FieldTag(tag.uid, bytearray(), tag.dsfid, tag.afi, tag.eas)

    # --- helpers (lock held) ----------------------------------------------------------------

    def _tag(self, uid: bytes) -> FieldTag:
        try:
            return self._tags[uid]
        except KeyError:
            raise ValueError(f"no tag {uid.hex().upper()} in the field") from None

    def _addressed(self, uid: bytes) -> FieldTag:
        tag = self._tags.get(bytes(uid))
        if tag is None:
            raise FieldFault(Fault.NO_TAG)
        if tag.copies > 1:
            raise FieldFault(Fault.COLLISION)
        return tag

    @staticmethod
    def _blocks(tag: FieldTag, first: int, count: int) -> bytearray:
        start, end = first * BLOCK_SIZE, (first + count) * BLOCK_SIZE
        if count <= 0 or end > len(tag.memory):
            raise FieldFault(Fault.OUT_OF_RANGE)
        return tag.memory[start:end]

    def _consume_write_failure(self) -> bool:
        """Raise for a failing write; False for a write that answers OK but is lost."""
        if self._failing_writes:
            self._failing_writes -= 1
            raise FieldFault(Fault.WRITE_FAILED)
        if self._lost_writes:
            self._lost_writes -= 1
            return False
        return True
