"""What the demo's developer tray offers: sample cards to tap and sample
tags to place, built from the demo library's data and encoded as real
ISO 28560-3 tags, plus tags that are not library tags or are damaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from kiosk.backends.demo_data import LIBRARY_ISIL, SAMPLE_ITEMS, SAMPLE_PATRONS
from kiosk.tags import LibraryTag, encode_tag

COUNTRY, OWNER = LIBRARY_ISIL.split("-", 1)


@dataclass(frozen=True, slots=True)
class DemoCard:
    card: str
    pin: str
    label: str  # shown on the developer tray (not patron-facing)


@dataclass(frozen=True, slots=True)
class DemoTag:
    uid: bytes
    data: bytes
    label: str  # shown on the developer tray (not patron-facing)
    item_id: str = ""


def demo_cards() -> tuple[DemoCard, ...]:
    return tuple(
        DemoCard(p.card, p.pin, f"{p.name} ({p.note})" if p.note else p.name)
        for p in SAMPLE_PATRONS
    )


@cache
def demo_tags() -> tuple[DemoTag, ...]:
    tags: list[DemoTag] = []
    for item in SAMPLE_ITEMS:
        for part, uid in enumerate(item.tag_uids, start=1):
            tag = LibraryTag(
                item_id=item.item_id,
                parts_in_item=item.parts,
                part_number=part,
                country=COUNTRY,
                owner_library=OWNER,
                type_of_usage=2 if item.reference_only else 1,
                version=1,
            )
            label = item.title if item.parts == 1 else f"{item.title} ({part}/{item.parts})"
            if item.note:
                label = f"{label} – {item.note}"
            tags.append(DemoTag(uid, encode_tag(tag), label, item.item_id))
    good = tags[0].data
    damaged = bytes([good[0], good[1], good[2]]) + b"3400199" + good[10:]  # CRC no longer fits
    tags += [
        DemoTag(bytes.fromhex("E0040150AA000001"), damaged, "damaged tag (bad CRC)"),
        DemoTag(bytes.fromhex("E0040150AA000002"), bytes(34), "blank tag"),
        DemoTag(
            bytes.fromhex("E0070000BB000003"),
            b"\x41SKIPASS-2026-MARIBOR-POHORJE\x00\x00\x00\x00",
            "not a library tag (ski pass)",
        ),
    ]
    return tuple(tags)
