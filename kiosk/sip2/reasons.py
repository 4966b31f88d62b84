"""From what a SIP2 server says to a reason code the kiosk can translate.

SIP2 has no refusal codes: servers explain a refused checkout in the screen
message (AF), in their own words and language. This table knows the words of
the servers we meet (Koha's SIP server, Evergreen, COBISS-style Slovenian
texts, and our own demo library). Where the words say nothing we know, the
backend asks the server follow-up questions (item and patron status) instead.
Patterns are matched case-insensitively against all AF lines joined by spaces;
the first match wins, so the specific ones come first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kiosk.circulation import Reason

_PATTERNS: tuple[tuple[str, Reason], ...] = (
    # Checkout refusals. Koha sends CanBookBeIssued keys ("EXPIRED: …") or sentences.
    (r"\bexpired\b|\bpotekl|članstvo je poteklo", Reason.CARD_EXPIRED),
    (
        r"card_lost|card (is |was )?(reported )?lost|blocked|debarred|\bgna\b|blokiran",
        Reason.CARD_BLOCKED,
    ),
    (
        r"fines?\b.*(limit|block)|outstanding fines|\bdebt\b|fees? over|excessive (fines|fees)"
        r"|patron has fines|neporavnan|zamudnin",
        Reason.FEES_OVER_LIMIT,
    ),
    (
        r"too_many|maximum number of (checkouts|loans|items)|loan limit|too many items"
        r"|omejitev izposoj|največje število",
        Reason.LOAN_LIMIT,
    ),
    (
        r"hold shelf for another|reserved for another|on hold for another|outstanding holds"
        r"|\bon_reserve\b|rezervirano za drug",
        Reason.RESERVED_FOR_OTHER,
    ),
    (
        r"not_for_loan|not for loan|reference only|ni za izposojo|samo v čitalnici",
        Reason.REFERENCE_ONLY,
    ),
    (
        r"already checked out to you|already on loan to you|že izposojeno vam",
        Reason.ALREADY_ON_LOAN_TO_YOU,
    ),
    (
        r"(checked out|on loan|issued) to (an)?other|issued_to_another|izposojeno drugemu",
        Reason.ON_LOAN_TO_OTHER,
    ),
    (
        r"no_more_renewals|renewal limit|too_many_renewals|no more renewals"
        r"|maximum (consecutive )?renewals|ni več podaljšanj",
        Reason.RENEWAL_LIMIT,
    ),
    (r"item not checked out|not checked out|not on loan|ni izposojeno", Reason.NOT_ON_LOAN),
    (
        r"unknown_barcode|invalid item|item not found|no such item|unknown item|neznano gradivo",
        Reason.UNKNOWN_ITEM,
    ),
    # Before "invalid patron": Koha's "Invalid patron password" is about the PIN.
    (r"invalid (patron )?password|wrong pin|napačen pin", Reason.WRONG_PIN),
    (
        r"invalid patron|patron not found|unknown patron|no such patron|neznan član",
        Reason.UNKNOWN_PATRON,
    ),
    (r"circulation is offline|offline|system unavailable|ni na voljo", Reason.BACKEND_UNAVAILABLE),
)
_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), reason) for pattern, reason in _PATTERNS)


def reason_from_text(lines: Iterable[str]) -> Reason | None:
    """The reason a server's screen message names, or None when it names none we know."""
    text = " ".join(line.strip() for line in lines if line)
    if not text:
        return None
    for pattern, reason in _COMPILED:
        if pattern.search(text):
            return reason
    return None


# Patron status flags (SIP2 positions) that explain a refused checkout, most telling first.
FLAG_REASONS: tuple[tuple[str, Reason], ...] = (
    ("card_reported_lost", Reason.CARD_BLOCKED),
    ("excessive_outstanding_fines", Reason.FEES_OVER_LIMIT),
    ("excessive_outstanding_fees", Reason.FEES_OVER_LIMIT),
    ("too_many_items_charged", Reason.LOAN_LIMIT),
    ("too_many_items_overdue", Reason.CARD_BLOCKED),
    ("charge_privileges_denied", Reason.CARD_BLOCKED),
)


def reason_from_flags(flags: frozenset[str]) -> Reason | None:
    for flag, reason in FLAG_REASONS:
        if flag in flags:
            return reason
    return None
