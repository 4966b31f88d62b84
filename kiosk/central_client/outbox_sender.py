"""Sending the central API's outbox entries: registrations, cancellations, e-mail receipts.

Every entry was written to the store before it is sent; its outbox UUID is the
request's idempotency key (a registration's client_id), so a repeat after a lost
answer is harmless. Outcomes:

- an answer: the entry is confirmed (the server took the request; a registration may
  still be rejected by the rules: then "refused" with the reason);
- `Unreachable`: the entry stays unfinished and is tried again after a backoff;
- `Refused` (a final 4xx): "refused" when it is a no about the patron's request
  (nothing to cancel, another card), "failed" otherwise: it stays for staff
  (`kiosk outbox`), who can send it again.

A registration the kiosk accepted offline carries `offline: true` (the server honours
this kiosk's seat grant). One whose first attempt may have reached the server while
the kiosk decided it could not promise a seat carries `lookup_only`: it is never
sent again, only looked up (GET registrations/{id}); not found means it never arrived.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from kiosk.central_client import contract
from kiosk.central_client.context import (
    CENTRAL_KINDS,
    RECEIPT_EMAIL,
    REGISTRATION,
    REGISTRATION_CANCEL,
    Context,
    make_card_token,
)
from kiosk.central_client.transport import Refused, Unreachable
from kiosk.store import OutboxEntry

log = logging.getLogger(__name__)

REPLAY_BATCH = 50
# 4xx codes that answer the patron's request (not a fault of the kiosk).
CANCEL_REFUSALS = ("registration_not_found", "card_mismatch", "not_cancellable", "not_found")
_LANG = re.compile(r"^[a-z]{2,3}$")


class OutboxSender:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def replay(self) -> int:
        """Send what is due, in the order written; returns how many entries were settled.
        A cancellation waits for its registration. Stops at the first network failure."""
        ctx = self.ctx
        if not ctx.link_up():
            return 0
        entries = ctx.store.unfinished(CENTRAL_KINDS, limit=REPLAY_BATCH)
        unsent = {e.client_id for e in entries if e.kind == REGISTRATION}
        settled = 0
        for entry in entries:
            if not ctx.due(entry.client_id):
                continue
            if entry.kind == REGISTRATION_CANCEL and entry.payload.get("registration_id") in unsent:
                continue  # its registration first (it comes earlier in the outbox)
            try:
                self.send(entry)
            except Unreachable as exc:
                ctx.failed(entry.client_id, exc)
                log.warning("outbox %s (%s) not sent: %s", entry.client_id, entry.kind, exc)
                if exc.network:
                    break
                continue
            except Refused as exc:
                # Settled for good (refused or failed, kept for staff); the server answered.
                log.warning("outbox %s (%s) refused: %s", entry.client_id, entry.kind, exc)
            ctx.succeeded(entry.client_id)
            ctx.forget_backoff(entry.client_id)
            settled += 1
            unsent.discard(entry.client_id)
        return settled

    def send(self, entry: OutboxEntry, timeout_s: float | None = None) -> dict[str, Any]:
        """Send one entry and settle it; returns the answer's body. Raises Unreachable
        (the entry stays unfinished) or Refused (the entry is settled as refused/failed)."""
        self.ctx.store.mark_sending(entry.client_id)
        if entry.kind == REGISTRATION:
            return self._registration(entry, timeout_s)
        if entry.kind == REGISTRATION_CANCEL:
            return self._cancel(entry, timeout_s)
        if entry.kind == RECEIPT_EMAIL:
            return self._receipt(entry, timeout_s)
        raise ValueError(f"not a central outbox kind: {entry.kind}")

    # -- registrations ------------------------------------------------------------------

    def _registration(self, entry: OutboxEntry, timeout_s: float | None) -> dict[str, Any]:
        ctx = self.ctx
        if entry.payload.get("lookup_only"):
            return self._look_up(entry, timeout_s)
        try:
            answer = ctx.transport.request(
                "POST",
                "registrations",
                body=registration_body(entry),
                headers={"Idempotency-Key": entry.client_id},
                timeout_s=timeout_s,
            )
        except Refused as exc:
            if exc.code == "idempotency_key_reused":
                # An earlier attempt (sent before the kiosk decided it was offline) got
                # through with another body: what the server holds is the answer.
                return self._look_up(entry, timeout_s)
            self._fail_registration(entry, exc)
            raise
        registration = answer.parsed(contract.Registration)
        self.settle_registration(entry, registration)
        return registration.model_dump(mode="json")

    def _look_up(self, entry: OutboxEntry, timeout_s: float | None) -> dict[str, Any]:
        ctx = self.ctx
        try:
            answer = ctx.transport.request(
                "GET", f"registrations/{entry.client_id}", timeout_s=timeout_s
            )
        except Refused as exc:
            if exc.status == 404:
                # It never reached the server: nothing was registered, nothing to send.
                ctx.store.mark_done(
                    entry.client_id,
                    "refused",
                    result={"status": "unavailable_offline"},
                    error="unavailable_offline: not registered (the server was unreachable)",
                )
                ctx.cache.update_registration(
                    entry.client_id, ctx.wallclock(), status="unavailable_offline"
                )
                return {"status": "unavailable_offline"}
            self._fail_registration(entry, exc)
            raise
        registration = answer.parsed(contract.Registration)
        self.settle_registration(entry, registration)
        return registration.model_dump(mode="json")

    def settle_registration(self, entry: OutboxEntry, registration: contract.Registration) -> None:
        ctx = self.ctx
        result = registration.model_dump(mode="json", exclude={"attendees"})
        result.pop("card_token", None)
        state = "refused" if registration.status == "rejected" else "confirmed"
        error = f"{registration.reason}: {registration.message}" if state == "refused" else None
        ctx.store.mark_done(entry.client_id, state, result=result, error=error)
        revision = ctx.cache.event_revision(registration.event_id)
        ctx.cache.update_registration(
            entry.client_id,
            ctx.wallclock(),
            status=registration.status,
            waitlist_position=registration.waitlist_position,
            reason=registration.reason,
            via_offline_grant=registration.via_offline_grant,
            answered_revision=revision if registration.via_offline_grant else None,
        )
        log.info(
            "registration %s for %s: %s",
            entry.client_id,
            registration.event_id,
            registration.status,
        )

    def _fail_registration(self, entry: OutboxEntry, exc: Refused) -> None:
        ctx = self.ctx
        ctx.store.mark_done(entry.client_id, "failed", error=f"{exc.code}: {exc.message}")
        ctx.cache.update_registration(
            entry.client_id, ctx.wallclock(), status="failed", reason=exc.code[:40]
        )
        log.warning("registration %s failed for good: %s", entry.client_id, exc)

    # -- cancellations ------------------------------------------------------------------

    def _cancel(self, entry: OutboxEntry, timeout_s: float | None) -> dict[str, Any]:
        ctx = self.ctx
        registration_id = str(entry.payload["registration_id"])
        try:
            answer = ctx.transport.request(
                "POST",
                f"registrations/{registration_id}/cancel",
                body={"card_token": entry.payload["card_token"]},
                timeout_s=timeout_s,
            )
        except Refused as exc:
            state = "refused" if exc.code in CANCEL_REFUSALS else "failed"
            ctx.store.mark_done(entry.client_id, state, error=f"{exc.code}: {exc.message}")
            raise
        registration = answer.parsed(contract.Registration)
        ctx.store.mark_done(
            entry.client_id,
            "confirmed",
            result={"registration_id": registration_id, "status": registration.status},
        )
        ctx.cache.update_registration(registration_id, ctx.wallclock(), status=registration.status)
        return registration.model_dump(mode="json")

    # -- e-mail receipts ----------------------------------------------------------------

    def _receipt(self, entry: OutboxEntry, timeout_s: float | None) -> dict[str, Any]:
        ctx = self.ctx
        try:
            body = receipt_body(entry, ctx.settings.card_key)
        except ValueError as exc:
            # Written by an older or broken core: it can never be sent as it is.
            ctx.store.mark_done(entry.client_id, "failed", error=f"unsendable: {exc}")
            raise Refused(0, "unsendable", str(exc)) from None
        try:
            answer = ctx.transport.request(
                "POST",
                "receipts",
                body=body,
                headers={"Idempotency-Key": entry.client_id},
                timeout_s=timeout_s,
            )
        except Refused as exc:
            ctx.store.mark_done(entry.client_id, "failed", error=f"{exc.code}: {exc.message}")
            raise
        if answer.status != 202:
            raise Unreachable(
                f"POST receipts answered {answer.status}, not 202",
                network=False,
                maybe_applied=True,
                status=answer.status,
                code="bad_answer",
            )
        record = answer.json()
        status = record.get("status") if isinstance(record, dict) else None
        ctx.store.mark_done(entry.client_id, "confirmed", result={"status": str(status)})
        log.info("e-mail receipt %s handed to the central API", entry.client_id)
        return record if isinstance(record, dict) else {}


def registration_body(entry: OutboxEntry) -> dict[str, Any]:
    """The contract's RegistrationIn, made from the payload written before sending (the
    same body every time, as idempotency requires, except for `offline`)."""
    p = entry.payload
    return {
        "client_id": entry.client_id,
        "event_id": p["event_id"],
        "card_token": p["card_token"],
        "attendees": [{"age": int(age)} for age in p["ages"]],
        "party_size": len(p["ages"]),
        "accept_waitlist": bool(p["accept_waitlist"]),
        "language": p["language"],
        "created_at": p["created_at"],
        "offline": bool(p.get("offline", False)),
    }


def receipt_body(entry: OutboxEntry, card_key: bytes) -> dict[str, Any]:
    """The contract's ReceiptIn from the core's receipt_email payload (patron_id,
    language, when, items[{title, due}], optionally kind and items' item_id)."""
    p = entry.payload
    patron = p.get("patron_id")
    if not isinstance(patron, str) or not patron.strip():
        raise ValueError("the receipt has no patron")
    raw_items = p.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ValueError("the receipt lists no items")
    items = []
    for n, raw in enumerate(raw_items[:200], start=1):
        if not isinstance(raw, dict):
            raise ValueError(f"receipt item {n} is not a table")
        title = str(raw.get("title") or "").strip()[:500]
        item_id = str(raw.get("item_id") or title or n).strip()[:200] or str(n)
        items.append(
            {
                "item_id": item_id,
                "title": title,
                "due_date": _date_or_none(raw.get("due")),
                "outcome": str(raw.get("outcome") or "ok")[:200],
            }
        )
    kind = p.get("kind")
    if kind not in ("checkout", "checkin", "renew", "registration"):
        kind = "checkout" if any(item["due_date"] for item in items) else "checkin"
    language = p.get("language")
    return {
        "client_id": entry.client_id,
        "card_token": make_card_token(card_key, patron),
        "language": language if isinstance(language, str) and _LANG.match(language) else "sl",
        "kind": kind,
        "items": items,
        "created_at": _aware_iso(p.get("when"), entry.created_at),
    }


def _date_or_none(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def _aware_iso(value: Any, fallback: dt.datetime) -> str:
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else fallback
    except ValueError:
        when = fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.isoformat()
