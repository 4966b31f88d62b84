"""Sample patrons and items of the embedded demo library (Slovenian, realistic).

Plain data shared by the demo ILS (`kiosk.backends.demo`), which loads it into
its database, and by the demo's developer tray, which shows which card or tag
to present for each situation. Every refusal the kiosk must explain can be
reached with these records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Slovenian ISILs are "SI-" plus the library's 5-digit sigla from NUK. SI-50001 (the
# example in the docs) is NUK's own, so it is not used here. This value is a demo
# stand-in, NOT verified as Mariborska knjižnica's sigla: take the real one from NUK's
# ISIL list before tagging real stock.
LIBRARY_ISIL = "SI-50100"

# Branch that runs the kiosk; items owned elsewhere are routed "other_branch" on return.
HOME_BRANCH = "MB"

# NXP ICODE-like UIDs: ISO 15693 tags start with 0xE0, then the manufacturer (0x04 NXP)
# and the chip type (0x01 ICODE SLIX).
_UID_PREFIX = bytes((0xE0, 0x04, 0x01))


def demo_tag_uid(item_id: str, part: int) -> bytes:
    """Deterministic 8-byte UID for part `part` (1-based) of a sample item."""
    serial = hashlib.sha256(f"{item_id}/{part}".encode()).digest()[:5]
    return _UID_PREFIX + serial


@dataclass(frozen=True)
class SamplePatron:
    card: str
    pin: str
    name: str
    birth_year: int
    is_child: bool
    blocked: bool = False
    expired: bool = False
    fees_cents: int = 0
    note: str = ""  # English one-liner for the developer tray


@dataclass(frozen=True)
class SampleItem:
    item_id: str
    title: str
    author: str
    parts: int = 1
    reference_only: bool = False
    hold_for: str | None = None  # card of the patron who reserved it
    on_loan_to: str | None = None  # card of the patron who has it at seed time
    owner_branch: str = HOME_BRANCH
    # One UID per part, filled deterministically when not given.
    tag_uids: tuple[bytes, ...] = field(default=())
    note: str = ""

    def __post_init__(self) -> None:
        if not self.tag_uids:
            uids = tuple(demo_tag_uid(self.item_id, part) for part in range(1, self.parts + 1))
            object.__setattr__(self, "tag_uids", uids)
        if len(self.tag_uids) != self.parts:
            raise ValueError(f"item {self.item_id}: {self.parts} parts need as many tag UIDs")


# Card numbers look like COBISS membership cards (10 digits); PINs have 4 digits.
ANA = "0100123456"
MARKO = "0100234567"
LUKA = "0100345678"
MAJA = "0100456789"
JOZE = "0100567890"
NINA = "0100678901"
PETRA = "0100789012"

SAMPLE_PATRONS: tuple[SamplePatron, ...] = (
    SamplePatron(
        ANA,
        "1234",
        "Ana Novak",
        1985,
        False,
        note="adult; 2 loans: one renewable, one reserved by Marko (overdue)",
    ),
    SamplePatron(MARKO, "2345", "Marko Horvat", 1979, False, note="adult; has holds waiting"),
    SamplePatron(
        LUKA, "3456", "Luka Kovač", 2016, True, note="child (loan limit 8, no overdue fines)"
    ),
    SamplePatron(
        MAJA, "4567", "Maja Krajnc", 1992, False, blocked=True, note="blocked card (reported lost)"
    ),
    SamplePatron(
        JOZE,
        "5678",
        "Jože Potočnik",
        1958,
        False,
        fees_cents=1250,
        note="fees 12,50 € (over the limit: no checkout)",
    ),
    SamplePatron(NINA, "6789", "Nina Kos", 2001, False, expired=True, note="expired membership"),
    SamplePatron(
        PETRA,
        "7890",
        "Petra Golob",
        1990,
        False,
        fees_cents=240,
        note="fees 2,40 € (under the limit: may borrow)",
    ),
)

# Item ids are barcode-like accession numbers.
SAMPLE_ITEMS: tuple[SampleItem, ...] = (
    SampleItem("34001000011", "Martin Krpan", "Fran Levstik"),
    SampleItem("34001000028", "Deseti brat", "Josip Jurčič"),
    SampleItem(
        "34001000035",
        "Na klancu",
        "Ivan Cankar",
        on_loan_to=ANA,
        note="on loan to Ana Novak: renewable",
    ),
    SampleItem(
        "34001000042",
        "Cvetje v jeseni",
        "Ivan Tavčar",
        hold_for=MARKO,
        note="on the shelf, reserved by Marko Horvat",
    ),
    SampleItem(
        "34001000059",
        "Alamut",
        "Vladimir Bartol",
        on_loan_to=ANA,
        hold_for=MARKO,
        note="on loan to Ana Novak (overdue), reserved by Marko: no renewal",
    ),
    SampleItem(
        "34001000066",
        "Moj dežnik je lahko balon",
        "Ela Peroci",
        parts=2,
        note="two-part set: picture book + audio CD",
    ),
    SampleItem("34001000073", "Sapramiška", "Svetlana Makarovič"),
    SampleItem("34001000080", "Kekec nad samotnim breznom", "Josip Vandot"),
    SampleItem("34001000097", "Solzice", "Prežihov Voranc"),
    SampleItem(
        "34001000103",
        "Čefurji raus!",
        "Goran Vojnović",
        owner_branch="RU",
        note="owned by another branch (Knjižnica Ruše)",
    ),
    SampleItem(
        "34001000110",
        "Enciklopedija Slovenije, 1. zvezek",
        "Marjan Javornik (ur.)",
        reference_only=True,
        note="reference only (reading room)",
    ),
    SampleItem("34001000127", "Poezije", "France Prešeren"),
    SampleItem("34001000134", "Ciciban", "Oton Župančič"),
    SampleItem("34001000141", "Maček Muri", "Kajetan Kovič"),
    SampleItem("34001000158", "Pod svobodnim soncem", "Fran Saleški Finžgar"),
)


def sample_patron(card: str) -> SamplePatron | None:
    return next((p for p in SAMPLE_PATRONS if p.card == card), None)


def sample_item(item_id: str) -> SampleItem | None:
    return next((i for i in SAMPLE_ITEMS if i.item_id == item_id), None)


def item_for_tag(uid: bytes) -> tuple[SampleItem, int] | None:
    """The sample item carrying tag `uid`, with the part number (1-based) of that tag."""
    for item in SAMPLE_ITEMS:
        if uid in item.tag_uids:
            return item, item.tag_uids.index(uid) + 1
    return None
