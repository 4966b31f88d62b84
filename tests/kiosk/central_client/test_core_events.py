"""The core's event flow (kiosk/core_events.py) end to end: the real reference server on
loopback, the kiosk's central client and store, the simulated card reader path. A family
browses, registers with one card tap, is waitlisted when full, registers offline within
the kiosk's seat grant, cancels and checks in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.sim import SimCardReader, SimTagReader
from kiosk.backends.demo import DemoLibrary
from kiosk.central_client import CentralClient
from kiosk.core import KioskCore
from kiosk.events import ADULT_AGE
from kiosk.session import State
from kiosk.store import Store
from tests.central.support import Api, iso
from tests.kiosk.central_client.conftest import Served
from tests.kiosk.central_client.support import FakeClock

CARD = "0100123456"
OTHER = "0100234567"


@pytest.fixture
def core(
    client: CentralClient, store: Store, clock: FakeClock, tmp_path: Path
) -> Iterator[KioskCore]:
    library = DemoLibrary(tmp_path / "ils.sqlite")
    pad, cards = SimTagReader(), SimCardReader()
    made = KioskCore(
        backend=library,
        store=store,
        tag_reader=pad,
        card_reader=cards,
        events_service=client,
        clock=clock,
    )
    yield made
    library.close()
    pad.close()
    cards.close()


def open_event(core: KioskCore, client: CentralClient, event_id: str) -> None:
    client.sync()
    core.logout()
    core.begin_events()
    assert core.view.state is State.EVENTS
    core.set_event_filters(when="all")
    assert event_id in [e.id for e in core.view.catalogue]
    core.open_event(event_id)
    assert core.view.state is State.EVENT and core.view.event.id == event_id


def register(core: KioskCore, card: str, ages: list[int]) -> None:
    core.begin_registration()
    assert core.view.event_draft.stage == "card"
    core.card_presented(card)
    draft = core.view.event_draft
    assert draft.stage == "attendees"
    for index in reversed(range(len(draft.ages))):
        core.remove_attendee(index)
    for age in ages:
        core.add_attendee(age)
    core.confirm_registration()


def test_a_family_registers_with_one_card_tap(
    api: Api, client: CentralClient, core: KioskCore
) -> None:
    event = api.new_event(adult_required=True)
    open_event(core, client, event["id"])
    core.begin_registration()
    core.card_presented(CARD)
    assert core.view.event_draft.ages == (ADULT_AGE,)  # an adult must come: already chosen
    core.add_attendee(5)
    core.add_attendee(9)  # too old for a 4-6 story hour
    core.confirm_registration()
    draft = core.view.event_draft
    assert (core.view.state, draft.problem) == (State.EVENT_REGISTER, "age_out_of_range")
    core.remove_attendee(2)
    core.confirm_registration()
    outcome = core.view.event_outcome
    assert core.view.state is State.EVENT_RESULT
    assert (outcome.status, outcome.party_size) == ("confirmed", 2)
    assert core.view.event.seats_left == 8  # the detail shows the fresh count
    assert core._event_card == ""  # the card is not kept after the action
    regs = api.as_admin("GET", f"/events/{event['id']}/registrations").json()["registrations"]
    assert [r["card_token"] for r in regs] == [client.card_token(CARD)]


def test_browsing_is_for_everyone_and_a_card_changes_nothing(
    api: Api, client: CentralClient, core: KioskCore
) -> None:
    api.new_event(min_age=0, max_age=3)
    client.sync()
    core.begin_events()
    core.card_presented(CARD)  # a card on the reader while browsing
    assert core.view.state is State.EVENTS and core.view.patron_name == ""
    core.set_event_filters(age_group="0-3", when="all")
    assert core.view.catalogue and all(e.min_age == 0 for e in core.view.catalogue)
    core.set_event_filters(age_group="0-3")  # tapped again: cleared
    assert core.view.event_filters.age_group == ""


def test_a_full_event_offers_the_waitlist_with_position(
    api: Api, client: CentralClient, core: KioskCore
) -> None:
    event = api.new_event(capacity=1)
    open_event(core, client, event["id"])
    register(core, CARD, [ADULT_AGE, 5])  # two people, one seat: waitlisted
    outcome = core.view.event_outcome
    assert (outcome.status, outcome.waitlist_position) == ("waitlisted", 1)


def test_offline_within_the_grant_is_pending_and_sent_later(
    api: Api, client: CentralClient, core: KioskCore, served: Served, clock: FakeClock
) -> None:
    event = api.new_event(offline_seats_per_device=2)
    open_event(core, client, event["id"])
    served.stop()
    register(core, CARD, [5])
    assert core.view.event_outcome.status == "pending_sync"
    core.back_to_events()
    assert event["id"] in [e.id for e in core.view.catalogue]  # the catalogue still works
    served.restart()
    clock.advance(3600)
    client.sync()
    regs = api.as_admin("GET", f"/events/{event['id']}/registrations").json()["registrations"]
    assert [(r["status"], r["party_size"]) for r in regs] == [("confirmed", 1)]


def test_cancel_and_check_in_by_card_tap(api: Api, client: CentralClient, core: KioskCore) -> None:
    now = dt.datetime.now(dt.UTC)
    event = api.new_event(
        starts_at=iso(now + dt.timedelta(minutes=10)),
        ends_at=iso(now + dt.timedelta(minutes=55)),
        registration={"opens_at": iso(now - dt.timedelta(days=1))},
    )
    open_event(core, client, event["id"])
    register(core, CARD, [ADULT_AGE, 4])
    assert core.view.event_outcome.status == "confirmed"
    core.open_event(event["id"])
    core.begin_check_in()
    core.card_presented(CARD)
    outcome = core.view.event_outcome
    assert (outcome.purpose, outcome.status, outcome.party_size) == ("check_in", "checked_in", 2)

    register_other = api.new_event()
    open_event(core, client, register_other["id"])
    register(core, OTHER, [6])
    core.open_event(register_other["id"])
    core.begin_cancellation()
    core.card_presented(OTHER)
    assert core.view.event_outcome.status == "cancelled"
    core.open_event(register_other["id"])
    core.begin_cancellation()
    core.card_presented(CARD)  # nothing registered with this card
    assert core.view.event_outcome.status == "not_found"


def test_leaving_or_timing_out_forgets_the_card(
    api: Api, client: CentralClient, core: KioskCore, clock: FakeClock
) -> None:
    event = api.new_event()
    open_event(core, client, event["id"])
    core.begin_registration()
    core.card_presented(CARD)
    assert core._event_card
    clock.advance(10_000)
    core.tick()
    assert core.view.state is State.IDLE and core.view.event_draft is None
    assert core._event_card == ""
