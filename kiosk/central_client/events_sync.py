"""The incremental event sync, event parsing, and the picture cache.

`GET events?since=<cursor>` with the last ETag as If-None-Match: 304 when nothing
changed, else the changed events (cancelled ones too), page after page while
`has_more`. A `reset` answer (the server's data was reset), or a first sync,
lists every event still to come: afterwards cached events that did not come are
dropped. An event that does not fit the contract is logged and skipped; the rest
of the page is used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kiosk.central_client import contract
from kiosk.central_client.cache import CachedEvent, LocalRegistration
from kiosk.central_client.context import Context
from kiosk.central_client.results import EventInfo, frozen_texts
from kiosk.central_client.transport import Refused, Unreachable

log = logging.getLogger(__name__)

CURSOR_SETTING = "central.events_cursor"
ETAG_SETTING = "central.events_etag"
# The API the cursor came from: another server (or address) means a full sync.
SOURCE_SETTING = "central.events_source"
PAGE_SIZE = 200
MAX_PAGES_PER_SYNC = 50  # 10,000 events; the rest at the next call
MAX_PICTURES_PER_SYNC = 10
MAX_PICTURE_BYTES = 4 * 1024 * 1024
# Ended events stay this long (a family may still ask what it attended).
KEEP_ENDED = dt.timedelta(days=1)

_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
)


def parse_event(raw: Any) -> contract.Event | None:
    """One event of a page, checked strictly; None (logged) when it does not fit."""
    where = raw.get("id") if isinstance(raw, dict) else None
    try:
        return contract.Event.model_validate_json(json.dumps(raw, allow_nan=False))
    except (ValidationError, ValueError, TypeError, RecursionError) as exc:
        detail = contract.problem(exc) if isinstance(exc, ValidationError) else str(exc)
        log.warning("event %s skipped: it does not fit the contract (%s)", _short(where), detail)
        return None


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text[:70]


def event_info(
    event: contract.Event,
    *,
    picture_url: str | None,
    picture_path: Path | None,
    offline_seats: int,
) -> EventInfo:
    location, registration = event.location, event.registration
    return EventInfo(
        id=event.id,
        revision=event.revision,
        status=event.status,
        title=frozen_texts(event.title),
        description=frozen_texts(event.description),
        speech=frozen_texts(event.speech),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        time_zone=event.time_zone,
        location_kind=location.kind,
        branch=location.branch,
        location_name=frozen_texts(location.name),
        room=location.room,
        stop=location.stop,
        address=location.address,
        audience=tuple(event.audience),
        min_age=event.min_age,
        max_age=event.max_age,
        adult_required=event.adult_required,
        categories=tuple(event.categories),
        picture_url=picture_url,
        picture_path=picture_path,
        picture_alt=frozen_texts(event.picture.alt if event.picture else {}),
        registration_required=registration.required,
        registration_opens_at=registration.opens_at,
        registration_closes_at=registration.closes_at,
        capacity=event.capacity,
        seats_left=event.seats_left,
        seats_left_as_of=event.seats_left_as_of,
        waitlist_enabled=event.waitlist_enabled,
        waitlist_length=event.waitlist_length,
        offline_seats=offline_seats,
        max_party_size=event.max_party_size,
    )


def seats_held(registrations: list[LocalRegistration], cached_revision: int) -> int:
    """Seats of this kiosk's offline grant promised here that the cached event's
    `offline_seats` does not count yet: those still unsent, and those the server
    confirmed against the grant while the cached copy is not newer than that answer."""
    held = 0
    for reg in registrations:
        if reg.status == "pending_sync" or (
            reg.via_offline_grant
            and reg.answered_revision is not None
            and cached_revision <= reg.answered_revision
        ):
            held += reg.party_size
    return held


class EventSync:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._parsed: dict[tuple[str, int], contract.Event | None] = {}
        self.pictures_due = True
        self._recheck: set[str] = set()  # pictures of changed events: ask by ETag

    # -- reading the cache --------------------------------------------------------------

    def events(self) -> list[EventInfo]:
        now = self.ctx.wallclock()
        cached = self.ctx.cache.events(ending_after=now)
        return self._infos(cached)

    def event(self, event_id: str) -> EventInfo | None:
        cached = self.ctx.cache.event(event_id)
        if cached is None:
            return None
        infos = self._infos([cached])
        return infos[0] if infos else None

    def _infos(self, cached: list[CachedEvent]) -> list[EventInfo]:
        pictures = self.ctx.cache.pictures()
        held = self.ctx.cache.offline_registrations()
        infos = []
        for row in cached:
            event = self._event(row)
            if event is None:
                continue
            url = self.ctx.transport.url(event.picture.url) if event.picture else None
            path = self._picture_path(pictures.get(url)) if url else None
            seats = max(0, event.offline_seats - seats_held(held.get(event.id, []), row.revision))
            infos.append(event_info(event, picture_url=url, picture_path=path, offline_seats=seats))
        return infos

    def _event(self, row: CachedEvent) -> contract.Event | None:
        # Parsed once per revision: the catalogue asks often, events change seldom.
        key = (row.id, row.revision)
        if key not in self._parsed:
            if len(self._parsed) > 20_000:
                self._parsed.clear()
            self._parsed[key] = parse_event(row.payload)
        return self._parsed[key]

    def _picture_path(self, file: str | None) -> Path | None:
        if not file:
            return None
        path = self.ctx.settings.cache_dir / file
        return path if path.is_file() else None

    # -- the sync -----------------------------------------------------------------------

    def run(self) -> int:
        """Fetch what changed; returns how many events were stored. Raises Unreachable
        (try again later) or Refused."""
        ctx = self.ctx
        cursor = ctx.store.get_setting(CURSOR_SETTING)
        etag = ctx.store.get_setting(ETAG_SETTING)
        if ctx.store.get_setting(SOURCE_SETTING) != ctx.transport.base_url:
            cursor = etag = None  # a cursor means nothing to another server
            ctx.store.set_setting(CURSOR_SETTING, None)
            ctx.store.set_setting(ETAG_SETTING, None)
            ctx.store.set_setting(SOURCE_SETTING, ctx.transport.base_url)
        full = cursor is None
        seen: set[str] = set()
        stored = 0
        for page_number in range(MAX_PAGES_PER_SYNC):
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            headers = {}
            if cursor is not None:
                params["since"] = cursor
                if page_number == 0 and etag:
                    headers["If-None-Match"] = etag
            try:
                answer = ctx.transport.request("GET", "events", params=params, headers=headers)
            except Refused as exc:
                if exc.code == "invalid_cursor" and cursor is not None:
                    # The server no longer understands our cursor: start over at once.
                    log.warning("event sync: the cursor was refused; a full sync follows")
                    ctx.store.set_setting(CURSOR_SETTING, None)
                    ctx.store.set_setting(ETAG_SETTING, None)
                    return self.run()
                raise
            if answer.status == 304:
                break
            if answer.status != 200:
                raise Unreachable(
                    f"GET events answered {answer.status}, not 200 or 304",
                    network=False,
                    maybe_applied=False,
                    status=answer.status,
                    code="bad_answer",
                )
            page = answer.parsed(contract.EventPage)
            if page.reset:
                log.warning("event sync: the server's events were reset; a full sync follows")
                full, seen = True, set()
            rows = []
            for raw in page.events:
                if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                    seen.add(raw["id"])  # a bad new copy does not drop the good old one
                event = parse_event(raw)
                if event is None:
                    continue
                if event.picture is not None:
                    self._recheck.add(ctx.transport.url(event.picture.url))
                rows.append(
                    (
                        event.id,
                        event.revision,
                        event.status,
                        event.starts_at,
                        event.ends_at,
                        json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
                    )
                )
            ctx.cache.save_events(rows, ctx.wallclock())
            stored += len(rows)
            cursor = page.cursor
            ctx.store.set_setting(CURSOR_SETTING, cursor)
            ctx.store.set_setting(ETAG_SETTING, answer.headers.get("ETag"))
            if not page.has_more:
                if full:
                    dropped = ctx.cache.delete_events_except(seen)
                    if dropped:
                        log.info("event sync: %d cached events no longer listed", dropped)
                break
        if stored:
            self.pictures_due = True
        return stored

    def housekeeping(self) -> None:
        """Drop events that ended a while ago, and the registrations made for them."""
        cutoff = self.ctx.wallclock() - KEEP_ENDED
        self.ctx.cache.forget_registrations_before(cutoff)
        self.ctx.cache.drop_ended(cutoff)

    # -- pictures -----------------------------------------------------------------------

    def fetch_pictures(self) -> int:
        """Fetch pictures not yet cached (and check changed events' ones by ETag); at most
        MAX_PICTURES_PER_SYNC a call. Returns how many files were written."""
        ctx = self.ctx
        have = ctx.cache.pictures()
        wanted = {ctx.transport.url(url) for _event, url in ctx.cache.picture_urls()}
        # Pictures no event uses any more.
        unused = [url for url in have if url not in wanted]
        for url in unused:
            self._remove_file(have[url])
        ctx.cache.forget_pictures(unused)
        missing = sorted(url for url in wanted if url not in have or not self._has_file(have[url]))
        missing += sorted((self._recheck & wanted) - set(missing))
        fetched = tried = 0
        left = False  # pictures still to fetch (not due yet, or beyond this call's share)
        for url in missing:
            key = f"picture:{url}"
            if not ctx.due(key) or tried >= MAX_PICTURES_PER_SYNC:
                left = True
                continue
            tried += 1
            try:
                fetched += self._fetch_picture(url)
                self._recheck.discard(url)
            except Unreachable as exc:
                ctx.failed(key, exc)
                log.warning("picture %s not fetched: %s", url, exc)
                left = True
                if exc.network:
                    break
                continue
            except Refused as exc:
                # Not there (404) or refused: try again much later, not every second.
                ctx.backoff(key).failed(ctx.clock(), 3600.0)
                log.warning("picture %s not fetched: %s", url, exc)
                left = True
                continue
            ctx.succeeded(key)
        self.pictures_due = left
        return fetched

    def _fetch_picture(self, url: str) -> int:
        ctx = self.ctx
        known = ctx.cache.picture(url)
        headers = {"Accept": "image/*"}
        if known is not None and known[1] and self._has_file(known[0]):
            headers["If-None-Match"] = known[1]
        answer = ctx.transport.request("GET", url, headers=headers)
        if answer.status == 304 and known is not None:
            ctx.cache.save_picture(url, known[0], known[1], ctx.wallclock())
            return 0
        suffix = _image_suffix(answer.body)
        if answer.status != 200 or suffix is None or len(answer.body) > MAX_PICTURE_BYTES:
            raise Unreachable(
                f"GET {url}: not a PNG, JPEG or GIF picture (status {answer.status})",
                network=False,
                maybe_applied=False,
                code="bad_answer",
            )
        name = hashlib.sha256(url.encode()).hexdigest()[:32] + suffix
        folder = ctx.settings.cache_dir
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(answer.body)
        os.replace(tmp, folder / name)
        if known is not None and known[0] != name:
            self._remove_file(known[0])
        ctx.cache.save_picture(url, name, answer.headers.get("ETag"), ctx.wallclock())
        return 1

    def _has_file(self, file: str) -> bool:
        return (self.ctx.settings.cache_dir / file).is_file()

    def _remove_file(self, file: str) -> None:
        try:
            (self.ctx.settings.cache_dir / file).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("old picture %s not removed: %s", file, exc)


def _image_suffix(data: bytes) -> str | None:
    for signature, suffix in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None
