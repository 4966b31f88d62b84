"""What every driver returns: plain data, no library semantics.

A tag reader reports the transponders in its field (UID, AFI, raw user
memory); decoding ISO 28560 is the core's job. A card reader reports card
identifiers as the device delivered them; normalising them is the core's job.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class DeviceError(Exception):
    """A device cannot be opened or stopped answering. The message is for technicians."""


@dataclass(frozen=True, slots=True)
class TagRead:
    uid: bytes  # 8 bytes, MSB (0xE0) first as ISO 15693 readers deliver it
    data: bytes  # user memory as read, block by block
    afi: int = 0
    dsfid: int = 0
    rssi: int | None = None  # signal strength, where the reader reports it (higher is nearer)


@dataclass(frozen=True, slots=True)
class CardRead:
    card: str  # as delivered: barcode digits, or the UID as upper-case hex
    source: str = ""  # "nfc", "barcode", "sim"…


@runtime_checkable
class TagReader(Protocol):
    def inventory(self) -> list[TagRead]:
        """All tags in the field now (empty list when none)."""
        ...

    def write_afi(self, uid: bytes, afi: int) -> None:
        """Set the security byte; raise DeviceError when the write fails."""
        ...

    def read_afi(self, uid: bytes) -> int:
        """The security byte as the tag reports it now (to verify a write); DeviceError
        when the tag does not answer."""
        ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class QueuedCodes:
    """For scanners that read whatever is waiting and hand out one code per poll."""

    _codes: deque[str]
    _closed: bool

    def _read_available(self) -> None:
        raise NotImplementedError

    def _closed_message(self) -> str:
        raise NotImplementedError

    def poll(self) -> CardRead | None:
        if self._closed:
            raise DeviceError(self._closed_message())
        if not self._codes:
            self._read_available()
        if self._codes:
            return CardRead(card=self._codes.popleft(), source="barcode")
        return None


@runtime_checkable
class CardReader(Protocol):
    def poll(self) -> CardRead | None:
        """A card presented since the last poll, or None. Never blocks for long."""
        ...

    def describe(self) -> str: ...

    def close(self) -> None: ...
