"""The logic of `kiosk outbox list|report|retry|resolve`: what the kiosk still has to send,
and the reconciliation report staff work through after an outage.

Only the store is opened, never the devices or the library system, so the commands are
safe while the kiosk runs (SQLite in WAL mode lets both work at once); actions queued
again are sent by the running kiosk at its next check. Patrons appear as masked cards
(last four digits): enough for staff at the desk, useless to anyone reading over a
shoulder. Item ids are shown in full: staff need them to find the book.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from kiosk.receipt import mask_card
from kiosk.store import OutboxEntry, Store
from kiosk.store.outbox import STAFF_STATES, UNFINISHED_STATES

# What each kind of action means to staff, in the report.
_KIND_TEXT = {
    "checkout": "loan",
    "checkin": "return",
    "renew": "renewal",
    "security": "security write",
    "receipt_email": "e-mail receipt",
}

# What staff should do about a conflict, by the reason the library system gave.
_ADVICE = {
    "reserved_for_other": "the item is reserved for another reader: contact the borrower",
    "on_loan_to_other": "the library system showed it lent to someone else: check both loans",
    "card_blocked": "the card is blocked: the loan was recorded; follow the blocked-card rules",
    "card_expired": "the membership had expired: the loan was recorded; renew the membership",
    "fees_over_limit": "fees were over the limit: the loan was recorded",
    "loan_limit": "the patron was over the loan limit: the loan was recorded",
    "unknown_item": "the library system does not know the item: catalogue it, then lend it",
    "unknown_patron": "the library system does not know the card: find the patron",
}


def entry_record(entry: OutboxEntry) -> dict[str, Any]:
    """One outbox entry as staff and scripts see it (JSON-ready, card masked)."""
    payload, result = entry.payload, entry.result or {}
    patron = payload.get("patron_id")
    conflicts = list(result.get("conflicts", []))
    reason = result.get("reason")
    record: dict[str, Any] = {
        "seq": entry.seq,
        "client_id": entry.client_id,
        "kind": entry.kind,
        "state": entry.state,
        "attempts": entry.attempts,
        "when": payload.get("when") or entry.created_at.isoformat(),
        "item_id": payload.get("item_id"),
        "patron": mask_card(patron) if patron else None,
        "offline": bool(payload.get("offline")),
        "due": payload.get("due") or result.get("due"),
        "reason": reason,
        "conflicts": conflicts,
        "error": entry.error,
    }
    if entry.state in STAFF_STATES:
        record["advice"] = advice(entry.kind, conflicts or ([reason] if reason else []))
    return record


def advice(kind: str, reasons: Sequence[str]) -> str:
    if kind == "security":
        return "the security bit could not be set: check the item at the gate, then write it"
    if not reasons:
        return "not sent: check the link to the library system, then retry"
    return "; ".join(_ADVICE.get(reason, f"the library system said {reason}") for reason in reasons)


def list_entries(store: Store, states: Sequence[str] | None, limit: int) -> list[dict[str, Any]]:
    if states:
        entries = store.entries_in(states, limit=limit)
    else:
        entries = list(reversed(store.entries(limit)))
    return [entry_record(entry) for entry in entries]


def report(store: Store, now: dt.datetime | None = None) -> dict[str, Any]:
    """The reconciliation report: what is waiting, what staff must settle, and counts."""
    now = now or dt.datetime.now(dt.UTC)
    waiting = store.entries_in(UNFINISHED_STATES)
    staff = store.entries_in(STAFF_STATES)
    oldest = store.oldest_unfinished()
    counters = store.counters()
    return {
        "generated_at": now.isoformat(),
        "waiting": len(waiting),
        "waiting_offline": sum(1 for entry in waiting if entry.payload.get("offline")),
        "oldest_waiting": oldest.isoformat() if oldest else None,
        "needs_staff": len(staff),
        "conflicts": [entry_record(e) for e in staff if e.state == "conflict"],
        "failed": [entry_record(e) for e in staff if e.state == "failed"],
        "totals": {
            "offline_loans": counters.get("checkouts_offline", 0),
            "offline_returns": counters.get("checkins_offline", 0),
            "replayed": counters.get("replayed", 0),
            "replay_conflicts": counters.get("replay_conflicts", 0),
        },
    }


def render_report(data: dict[str, Any]) -> str:
    lines = [
        f"Outbox reconciliation report, {data['generated_at']}",
        f"Waiting to be sent: {data['waiting']} ({data['waiting_offline']} done offline)"
        + (f", oldest from {data['oldest_waiting']}" if data["oldest_waiting"] else ""),
        f"Needing staff: {data['needs_staff']}",
    ]
    for title, rows in (("Conflicts", data["conflicts"]), ("Failed", data["failed"])):
        if not rows:
            continue
        lines += ["", f"{title}:"]
        for row in rows:
            lines.append(f"  #{row['seq']} {row['when']} {_describe(row)}")
            lines.append(f"      {row['advice']}")
            lines.append(f"      id {row['client_id']}")
    totals = data["totals"]
    lines += [
        "",
        f"Since the counters started: {totals['offline_loans']} offline loans, "
        f"{totals['offline_returns']} offline returns, {totals['replayed']} replayed, "
        f"{totals['replay_conflicts']} conflicts.",
    ]
    if data["needs_staff"]:
        lines.append(
            "When an entry is settled in the library system: kiosk outbox resolve ID. "
            "To send one again: kiosk outbox retry ID."
        )
    return "\n".join(lines)


def render_list(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "The outbox is empty."
    return "\n".join(
        f"#{row['seq']:<6} {row['state']:<9} {row['when'][:19]}  {_describe(row)}  "
        f"[{row['client_id']}]"
        for row in rows
    )


def retry(store: Store, ids: Sequence[str], *, all_staff: bool) -> list[OutboxEntry]:
    """Queue failed or conflicting entries again; the running kiosk sends them."""
    targets = [e.client_id for e in store.entries_in(STAFF_STATES)] if all_staff else ids
    return [store.requeue(client_id) for client_id in targets]


def resolve(store: Store, ids: Sequence[str], note: str) -> list[OutboxEntry]:
    return [store.resolve(client_id, note) for client_id in ids]


def _describe(row: dict[str, Any]) -> str:
    parts = [_KIND_TEXT.get(row["kind"], row["kind"])]
    if row["item_id"]:
        parts.append(f"item {row['item_id']}")
    if row["patron"]:
        parts.append(f"card {row['patron']}")
    if row["offline"]:
        parts.append("(offline)")
    if row["due"] and row["kind"] == "checkout":
        parts.append(f"due {row['due']}")
    return " ".join(parts)
