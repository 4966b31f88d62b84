"""Registrations, cancellations and check-in against the real reference server, online
and with the server stopped (the offline seat grant), and the replay when it returns."""

from __future__ import annotations

import datetime as dt

from kiosk.central_client import CentralClient
from kiosk.store import Store
from tests.central.support import Api
from tests.kiosk.central_client.conftest import Served
from tests.kiosk.central_client.support import CARD_KEY, FakeClock

CARD = "MB0012345"
OTHER_CARD = "MB0099999"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def server_registrations(api: Api, event_id: str) -> list[dict]:
    answer = api.as_admin("GET", f"/events/{event_id}/registrations")
    assert answer.status_code == 200, answer.text
    return answer.json()["registrations"]


def test_card_token_is_the_contracts_keyed_hash(client: CentralClient) -> None:
    import hashlib
    import hmac

    token = client.card_token(CARD)
    assert token == hmac.new(CARD_KEY, CARD.encode(), hashlib.sha256).hexdigest()
    assert len(token) == 64 and token == token.lower()
    assert client.card_token(f" {CARD} ") == token  # the same card, the same token
    assert client.card_token(OTHER_CARD) != token


def test_register_confirmed_then_the_same_card_is_refused(
    api: Api, client: CentralClient, store: Store
) -> None:
    event = api.new_event()
    client.sync()

    outcome = client.register(event["id"], CARD, [35, 5], accept_waitlist=True, language="sl")

    assert outcome.status == "confirmed" and outcome.party_size == 2
    assert outcome.seats_left == 8
    [stored] = server_registrations(api, event["id"])
    assert stored["client_id"] == outcome.client_id  # the outbox UUID is the idempotency key
    assert stored["card_token"] == client.card_token(CARD)
    assert CARD not in str(stored)
    entry = store.get(outcome.client_id)
    assert entry.kind == "registration" and entry.state == "confirmed"
    assert CARD not in str(entry.payload)  # only the keyed hash is kept

    again = client.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    assert (again.status, again.reason) == ("rejected", "already_registered")
    assert store.get(again.client_id).state == "refused"


def test_register_rejections_carry_the_contracts_reasons(api: Api, client: CentralClient) -> None:
    ages_4_6 = api.new_event()
    closed = api.new_event(
        registration={
            "opens_at": (now() - dt.timedelta(days=3)).isoformat(),
            "closes_at": (now() - dt.timedelta(hours=1)).isoformat(),
        }
    )
    full = api.new_event(capacity=1, waitlist_enabled=False)
    client.sync()

    too_old = client.register(ages_4_6["id"], CARD, [9], accept_waitlist=True, language="en")
    assert (too_old.status, too_old.reason) == ("rejected", "age_out_of_range")
    assert too_old.message  # the server's plain explanation

    late = client.register(closed["id"], CARD, [5], accept_waitlist=True, language="en")
    assert (late.status, late.reason) == ("rejected", "registration_closed")

    assert client.register(full["id"], CARD, [5], accept_waitlist=False, language="en").status == (
        "confirmed"
    )
    no_room = client.register(full["id"], OTHER_CARD, [5], accept_waitlist=False, language="en")
    assert (no_room.status, no_room.reason) == ("rejected", "full")


def test_full_event_offers_the_waitlist_with_position(api: Api, client: CentralClient) -> None:
    event = api.new_event(capacity=2)
    client.sync()
    assert (
        client.register(event["id"], "A1", [4, 40], accept_waitlist=True, language="sl").status
        == "confirmed"
    )

    first = client.register(event["id"], "B2", [5], accept_waitlist=True, language="sl")
    second = client.register(event["id"], "C3", [6], accept_waitlist=True, language="sl")

    assert (first.status, first.waitlist_position) == ("waitlisted", 1)
    assert (second.status, second.waitlist_position) == ("waitlisted", 2)
    client.sync_soon()
    client.sync()
    assert client.event(event["id"]).waitlist_length == 2


def test_cancel_frees_the_seat_and_lists_follow(api: Api, client: CentralClient) -> None:
    event = api.new_event(capacity=1)
    client.sync()
    booked = client.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    waiting = client.register(event["id"], OTHER_CARD, [5], accept_waitlist=True, language="sl")
    assert (booked.status, waiting.status) == ("confirmed", "waitlisted")

    mine = client.registrations(CARD)
    assert [(r.event_id, r.status, r.made_here) for r in mine] == [(event["id"], "confirmed", True)]

    done = client.cancel(event["id"], CARD)
    assert done.status == "cancelled" and done.cancelled == (booked.client_id,)
    assert [r.status for r in client.registrations(CARD)] == ["cancelled"]
    # the waitlist moved up
    assert [r.status for r in client.registrations(OTHER_CARD)] == ["confirmed"]
    assert client.cancel(event["id"], CARD).status == "not_found"


def test_a_family_registered_at_one_kiosk_cancels_at_another(
    api: Api, client: CentralClient, tmp_path, clock: FakeClock
) -> None:
    from kiosk.central_client import CentralClientSettings

    event = api.new_event()
    client.sync()
    booked = client.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    device_id, token = api.new_device()
    with Store.open(tmp_path / "other" / "kiosk.sqlite") as other_store:
        settings = CentralClientSettings(
            base_url=f"{api.url}/api/v1",
            device_id=device_id,
            token=token,
            card_key=CARD_KEY,
            cache_dir=tmp_path / "other" / "pictures",
        )
        with CentralClient(settings, other_store, clock=clock) as other:
            done = other.cancel(event["id"], CARD)
    assert done.status == "cancelled" and done.cancelled == (booked.client_id,)


def test_check_in_at_the_events_kiosk(api: Api, client: CentralClient) -> None:
    soon = now() + dt.timedelta(minutes=30)
    event = api.new_event(
        starts_at=soon.isoformat(),
        ends_at=(soon + dt.timedelta(hours=1)).isoformat(),
        registration={"closes_at": (soon - dt.timedelta(minutes=5)).isoformat()},
    )
    client.sync()
    client.register(event["id"], CARD, [35, 5], accept_waitlist=True, language="sl")

    first = client.check_in(event["id"], CARD)
    assert (first.status, first.newly_checked_in, first.party_size) == ("checked_in", 1, 2)
    again = client.check_in(event["id"], CARD)
    assert (again.status, again.newly_checked_in) == ("checked_in", 0)
    nobody = client.check_in(event["id"], OTHER_CARD)
    assert (nobody.status, nobody.reason) == ("not_found", "registration_not_found")
    assert [r.status for r in client.registrations(CARD)] == ["attended"]


def test_check_in_refusals_are_reasons(api: Api, client: CentralClient) -> None:
    event = api.new_event()  # in three days: check-in not open
    client.sync()
    client.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    early = client.check_in(event["id"], CARD)
    assert (early.status, early.reason) == ("rejected", "check_in_not_open")


def test_offline_registration_within_the_grant_is_pending_and_replayed_once(
    served: Served, client: CentralClient, store: Store, clock: FakeClock
) -> None:
    api = served.api
    event = api.new_event(offline_seats_per_device=3)
    client.sync()
    assert client.event(event["id"]).offline_seats == 3

    served.stop()
    assert [e.id for e in client.events()] == [event["id"]]  # the catalogue from the cache
    pending = client.register(event["id"], CARD, [35, 5], accept_waitlist=True, language="sl")
    assert pending.status == "pending_sync"
    assert client.event(event["id"]).offline_seats == 1  # two of three promised here
    beyond = client.register(event["id"], OTHER_CARD, [36, 6], accept_waitlist=True, language="sl")
    assert beyond.status == "unavailable_offline"
    assert store.get(beyond.client_id).state == "refused"  # kept for the record, never sent
    mine = client.registrations(CARD)
    assert [(r.status, r.pending) for r in mine] == [("pending_sync", True)]
    assert client.registrations(OTHER_CARD) is None  # nothing known, server unreachable
    for _ in range(3):  # syncing while the server is away loses nothing
        clock.advance(400)
        client.sync()
    assert store.get(pending.client_id).state in ("pending", "sending")

    served.restart()
    clock.advance(400)
    report = client.sync()

    assert report.sent == 1
    entry = store.get(pending.client_id)
    assert entry.state == "confirmed" and entry.payload["offline"] is True
    [stored] = server_registrations(api, event["id"])
    assert stored["client_id"] == pending.client_id and stored["status"] == "confirmed"
    assert stored["via_offline_grant"] is True
    # Until the catalogue is refreshed the grant stays counted; afterwards the server's
    # own figure (3 - 2) is the truth: never counted twice.
    assert client.event(event["id"]).offline_seats == 1
    clock.advance(61)
    client.sync()
    assert client.event(event["id"]).offline_seats == 1
    assert [r.status for r in client.registrations(CARD)] == ["confirmed"]
    clock.advance(400)
    assert client.sync().sent == 0  # replayed once, not again


def test_offline_cancel_of_a_registration_made_here_is_queued(
    served: Served, client: CentralClient, clock: FakeClock
) -> None:
    api = served.api
    event = api.new_event(offline_seats_per_device=2)
    client.sync()
    booked = client.register(event["id"], CARD, [5], accept_waitlist=True, language="sl")
    served.stop()
    queued = client.cancel(event["id"], CARD)
    assert queued.status == "pending_sync" and queued.cancelled == (booked.client_id,)
    assert client.cancel(event["id"], OTHER_CARD).status == "unavailable_offline"
    served.restart()
    clock.advance(400)
    client.sync()
    [stored] = server_registrations(api, event["id"])
    assert stored["status"] == "cancelled"
