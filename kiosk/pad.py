"""What is really on the pad: a stable set of tags from a stream of inventories.

A reader sees tags flicker: a book being slid on answers once and not the
next time, a book on the neighbouring station answers now and then, a tag
answers the inventory but its memory read fails. The tracker accepts a tag
only when it has answered `min_reads` inventories in a row (and, where the
reader reports it, with enough signal), reads each tag once, retries a tag
whose memory could not be read, and after `read_retries` such inventories
reports it as unreadable so the patron can be asked to move the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.base import TagRead


@dataclass(frozen=True, slots=True)
class PadRules:
    min_reads: int = 2  # inventories in a row before a tag counts (debounce, far tags)
    min_rssi: int | None = None  # signal floor, when the reader reports signal strength
    read_retries: int = 3  # inventories with a failed memory read before "move the book"

    def __post_init__(self) -> None:
        if self.min_reads < 1 or self.read_retries < 1:
            raise ValueError("min_reads and read_retries must be at least 1")


@dataclass(frozen=True, slots=True)
class PadChange:
    new: tuple[TagRead, ...] = ()  # stable tags with their memory, each reported once
    unreadable: tuple[bytes, ...] = ()  # stable tags whose memory could not be read
    gone: tuple[bytes, ...] = ()  # tags reported earlier that left the pad


@dataclass(slots=True)
class _Seen:
    streak: int = 0
    failed_reads: int = 0
    reported: bool = False  # read and reported as new
    told_unreadable: bool = False  # reported unreadable (reading goes on: it may be moved)


@dataclass(slots=True)
class PadTracker:
    rules: PadRules = field(default_factory=PadRules)
    _seen: dict[bytes, _Seen] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget everything (a new session): tags still on the pad count afresh."""
        self._seen.clear()

    def update(self, reads: list[TagRead]) -> PadChange:
        """One inventory's answer in; what changed on the pad out."""
        present: dict[bytes, TagRead] = {}
        floor = self.rules.min_rssi
        for read in reads:
            if floor is not None and read.rssi is not None and read.rssi < floor:
                continue  # too faint: a book lying next to the pad, not on it
            present[read.uid] = read
        gone = tuple(
            uid
            for uid, seen in self._seen.items()
            if uid not in present and (seen.reported or seen.told_unreadable)
        )
        for uid in [uid for uid in self._seen if uid not in present]:
            del self._seen[uid]  # a tag that left starts again if it comes back
        new: list[TagRead] = []
        unreadable: list[bytes] = []
        for uid, read in present.items():
            seen = self._seen.setdefault(uid, _Seen())
            seen.streak += 1
            if seen.reported or seen.streak < self.rules.min_reads:
                continue
            if read.data:
                new.append(read)
                seen.reported = True
                continue
            seen.failed_reads += 1
            if seen.failed_reads >= self.rules.read_retries and not seen.told_unreadable:
                unreadable.append(uid)
                seen.told_unreadable = True
        return PadChange(tuple(new), tuple(unreadable), gone)
