"""Registration rules enforced by the server: window, ages, party size, duplicates,
capacity and waitlist, cancellation, offline grants, check-in and attendance."""

from __future__ import annotations

from datetime import timedelta

from tests.central.support import Api, assert_error, card, iso, now


def _decide(api: Api, event: dict, ages: list[int], card_no: int | str, **changes: object) -> dict:
    answer = api.register(event["id"], ages, card_no, **changes)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_seat_is_confirmed_and_the_event_shows_fewer_seats(api: Api) -> None:
    event = api.new_event(capacity=5)
    reg = _decide(api, event, [5, 36], 1)
    assert (reg["status"], reg["party_size"], reg["seats_left"]) == ("confirmed", 2, 3)
    assert reg["device_id"] == api.device_id and reg["reason"] is None
    assert reg["created_at"].endswith(("+01:00", "+02:00"))  # Ljubljana time
    assert api.as_device("GET", f"/events/{event['id']}").json()["seats_left"] == 3


def test_registration_window_is_enforced(api: Api) -> None:
    start = now() + timedelta(days=5)
    later = api.new_event(
        starts_at=iso(start),
        ends_at=iso(start + timedelta(hours=1)),
        registration={"opens_at": iso(now() + timedelta(days=1)), "closes_at": iso(start)},
    )
    reg = _decide(api, later, [5], 1)
    assert (reg["status"], reg["reason"]) == ("rejected", "registration_not_open")
    assert reg["message"]

    closed = api.new_event(
        registration={
            "opens_at": iso(now() - timedelta(days=3)),
            "closes_at": iso(now() - timedelta(minutes=1)),
        }
    )
    assert _decide(api, closed, [5], 1)["reason"] == "registration_closed"
    # Without closes_at, registration closes when the event starts.
    begun = api.new_event(
        starts_at=iso(now() - timedelta(minutes=5)),
        ends_at=iso(now() + timedelta(hours=1)),
        registration={"opens_at": None, "closes_at": None},
    )
    assert _decide(api, begun, [5], 1)["reason"] == "registration_closed"


def test_age_rules(api: Api) -> None:
    event = api.new_event(min_age=4, max_age=6, adult_required=False, capacity=30)
    assert _decide(api, event, [3], 1)["reason"] == "age_out_of_range"
    assert _decide(api, event, [5, 7], 2)["reason"] == "age_out_of_range"
    # Adults come along as companions, but someone must be of the event's age.
    assert _decide(api, event, [40, 38], 3)["reason"] == "no_eligible_participant"
    assert _decide(api, event, [5, 40], 4)["status"] == "confirmed"

    toddlers = api.new_event(min_age=1, max_age=3, adult_required=True)
    assert _decide(api, toddlers, [2], 5)["reason"] == "adult_required"
    assert _decide(api, toddlers, [2, 3], 6)["reason"] == "adult_required"
    assert _decide(api, toddlers, [2, 17], 10)["reason"] == "age_out_of_range"  # a minor
    assert _decide(api, toddlers, [2, 18], 7)["status"] == "confirmed"

    adults = api.new_event(min_age=18, max_age=None, audience=["adults"])
    assert _decide(api, adults, [16], 8)["reason"] == "age_out_of_range"
    assert _decide(api, adults, [70], 9)["status"] == "confirmed"


def test_party_size(api: Api) -> None:
    event = api.new_event(max_party_size=2, capacity=10)
    assert _decide(api, event, [5, 5, 40], 1)["reason"] == "party_too_large"
    assert _decide(api, event, [5, 40], 2)["status"] == "confirmed"
    # A party_size that does not match the attendees is a malformed request.
    answer = api.register(event["id"], [5], 3, party_size=2)
    body = assert_error(answer, 422, "invalid_request")
    assert "party_size" in body["message"]


def test_one_active_registration_per_card_and_event(api: Api) -> None:
    event = api.new_event()
    first = _decide(api, event, [5], "family")
    assert _decide(api, event, [4], "family")["reason"] == "already_registered"
    cancelled = api.as_device(
        "POST", f"/registrations/{first['client_id']}/cancel", json={"card_token": card("family")}
    )
    assert cancelled.json()["status"] == "cancelled"
    assert _decide(api, event, [4], "family")["status"] == "confirmed"


def test_cancelled_event_and_no_registration_needed(api: Api) -> None:
    assert _decide(api, api.new_event(status="cancelled"), [5], 1)["reason"] == "event_cancelled"
    open_door = api.new_event(registration={"required": False})
    assert _decide(api, open_door, [5], 1)["reason"] == "registration_not_required"


def test_full_event_without_waitlist_rejects(api: Api) -> None:
    event = api.new_event(capacity=1, waitlist_enabled=False)
    assert _decide(api, event, [5], 1)["status"] == "confirmed"
    assert _decide(api, event, [5], 2)["reason"] == "full"
    # With a waitlist, a patron may still decline it.
    other = api.new_event(capacity=1)
    _decide(api, other, [5], 1)
    assert _decide(api, other, [5], 2, accept_waitlist=False)["reason"] == "full"
    assert _decide(api, other, [5], 3)["waitlist_position"] == 1


def test_waitlist_promotion_in_strict_order(api: Api) -> None:
    event = api.new_event(capacity=3)
    a = _decide(api, event, [5, 40], "a")  # 2 seats
    b = _decide(api, event, [5], "b")  # 1 seat: full
    big = _decide(api, event, [4, 5, 41], "big")  # waits first, needs 3
    small = _decide(api, event, [6], "small")  # waits second, needs 1
    assert [r["status"] for r in (a, b, big, small)] == [
        "confirmed",
        "confirmed",
        "waitlisted",
        "waitlisted",
    ]
    assert (big["waitlist_position"], small["waitlist_position"]) == (1, 2)

    # One seat frees: the first in line needs three, so nobody jumps ahead of it.
    api.as_device("POST", f"/registrations/{b['client_id']}/cancel", json={"card_token": card("b")})
    assert api.as_device("GET", f"/registrations/{small['client_id']}").json()["status"] == (
        "waitlisted"
    )
    # Two more free: the big party gets its three seats; the small one is now first in line.
    api.as_device("POST", f"/registrations/{a['client_id']}/cancel", json={"card_token": card("a")})
    assert api.as_device("GET", f"/registrations/{big['client_id']}").json()["status"] == (
        "confirmed"
    )
    small_now = api.as_device("GET", f"/registrations/{small['client_id']}").json()
    assert (small_now["status"], small_now["waitlist_position"]) == ("waitlisted", 1)
    ev = api.as_device("GET", f"/events/{event['id']}").json()
    assert (ev["seats_left"], ev["waitlist_length"]) == (0, 1)


def test_leaving_the_waitlist_closes_the_gap(api: Api) -> None:
    event = api.new_event(capacity=1)
    _decide(api, event, [5], 0)
    waiting = [_decide(api, event, [5], i) for i in range(1, 4)]
    api.as_device(
        "POST", f"/registrations/{waiting[0]['client_id']}/cancel", json={"card_token": card(1)}
    )
    positions = [
        api.as_device("GET", f"/registrations/{w['client_id']}").json()["waitlist_position"]
        for w in waiting[1:]
    ]
    assert positions == [1, 2]


def test_cancellation_rules(api: Api) -> None:
    event = api.new_event()
    reg = _decide(api, event, [5], "owner")
    path = f"/registrations/{reg['client_id']}/cancel"
    assert_error(
        api.as_device("POST", path, json={"card_token": card("stranger")}), 403, "card_mismatch"
    )
    assert_error(api.as_device("POST", path, json={}), 403, "card_token_required")
    first = api.as_device("POST", path, json={"card_token": card("owner")})
    again = api.as_device("POST", path, json={"card_token": card("owner")})
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "cancelled"
    assert api.as_device("GET", f"/events/{event['id']}").json()["seats_left"] == 10
    # Staff may cancel without the card.
    other = _decide(api, event, [5], "staff-cancels")
    staff = api.as_admin("POST", f"/registrations/{other['client_id']}/cancel", json={})
    assert staff.json()["status"] == "cancelled"
    missing = api.as_device(
        "POST", "/registrations/00000000-0000-4000-8000-000000000000/cancel", json={}
    )
    assert_error(missing, 404, "registration_not_found")


def test_a_cards_registrations_are_listed_for_the_kiosk(api: Api) -> None:
    one, two = api.new_event(), api.new_event()
    _decide(api, one, [5], "lister")
    _decide(api, two, [6], "lister")
    _decide(api, two, [6], "someone-else")
    listed = api.as_device("GET", "/registrations", params={"card_token": card("lister")}).json()
    assert sorted(r["event_id"] for r in listed["registrations"]) == sorted([one["id"], two["id"]])
    # A kiosk may not list everybody's registrations; staff may list an event's.
    assert_error(api.as_device("GET", "/registrations"), 400, "card_token_required")
    staff = api.as_admin("GET", f"/events/{two['id']}/registrations").json()
    assert len(staff["registrations"]) == 2
    assert_error(
        api.as_device("GET", "/registrations", params={"card_token": "4111111111111111"}),
        422,
        "invalid_request",
    )


def test_offline_grant_is_honoured(api: Api) -> None:
    event = api.new_event(capacity=4, offline_seats_per_device=2)
    seen = api.as_device("GET", f"/events/{event['id']}").json()
    assert (seen["offline_seats"], seen["seats_left"]) == (2, 2)  # two held for this kiosk
    _, other_token = api.new_device(branch="tezno")
    assert api.call("GET", f"/events/{event['id']}", token=other_token).json()["offline_seats"] == 0

    # Online registrations fill the rest; the held seats stay for the kiosk.
    assert _decide(api, event, [5, 40], "online")["status"] == "confirmed"
    assert _decide(api, event, [5], "late")["status"] == "waitlisted"
    # Taken offline an hour ago, within the grant: confirmed, though the event looks full.
    offline = _decide(
        api, event, [5, 39], "offline", offline=True, created_at=iso(now() - timedelta(hours=1))
    )
    assert (offline["status"], offline["via_offline_grant"]) == ("confirmed", True)
    after = api.as_device("GET", f"/events/{event['id']}").json()
    assert (after["offline_seats"], after["seats_left"]) == (0, 0)
    # A device without a grant sending "offline" goes through the normal rules.
    late = api.register(event["id"], [5], "other-kiosk", token=other_token, offline=True)
    assert late.json()["status"] == "waitlisted"


def test_offline_registration_is_judged_at_its_own_time(api: Api) -> None:
    """Taken offline before the window closed, synced after: still accepted from the grant."""
    start = now() + timedelta(hours=3)
    event = api.new_event(
        starts_at=iso(start),
        ends_at=iso(start + timedelta(hours=1)),
        registration={"opens_at": None, "closes_at": iso(now() + timedelta(seconds=2))},
        offline_seats_per_device=1,
    )
    import time

    time.sleep(2.1)  # the window closes while the kiosk is offline
    online = _decide(api, event, [5], "online-late")
    assert online["reason"] == "registration_closed"
    taken = _decide(
        api, event, [5], "offline", offline=True, created_at=iso(now() - timedelta(seconds=5))
    )
    assert taken["status"] == "confirmed"


def test_check_in_at_the_events_kiosk(api: Api) -> None:
    soon = now() + timedelta(minutes=20)
    event = api.new_event(
        starts_at=iso(soon),
        ends_at=iso(soon + timedelta(hours=1)),
        registration={"opens_at": None, "closes_at": iso(soon)},
        capacity=1,
    )
    _decide(api, event, [5], "seat")
    _decide(api, event, [5], "waiting")
    path = f"/events/{event['id']}/check-in"
    checked = api.as_device("POST", path, json={"card_token": card("seat")}).json()
    assert checked["checked_in"] == 1 and checked["registrations"][0]["status"] == "attended"
    again = api.as_device("POST", path, json={"card_token": card("seat")}).json()
    assert again["checked_in"] == 0 and again["registrations"][0]["status"] == "attended"
    assert_error(
        api.as_device("POST", path, json={"card_token": card("waiting")}), 409, "not_confirmed"
    )
    assert_error(
        api.as_device("POST", path, json={"card_token": card("nobody")}),
        404,
        "registration_not_found",
    )
    _, tezno = api.new_device(branch="tezno")
    assert_error(
        api.call("POST", path, token=tezno, json={"card_token": card("seat")}), 403, "wrong_kiosk"
    )
    # An attended registration cannot be cancelled any more.
    reg = checked["registrations"][0]
    assert_error(
        api.as_device(
            "POST", f"/registrations/{reg['client_id']}/cancel", json={"card_token": card("seat")}
        ),
        409,
        "not_cancellable",
    )


def test_check_in_only_around_the_event(api: Api) -> None:
    event = api.new_event()  # in three days
    _decide(api, event, [5], "early")
    answer = api.as_device(
        "POST", f"/events/{event['id']}/check-in", json={"card_token": card("early")}
    )
    assert_error(answer, 409, "check_in_not_open")


def test_closing_attendance_marks_no_shows(api: Api) -> None:
    start = now() + timedelta(minutes=30)
    event = api.new_event(
        starts_at=iso(start),
        ends_at=iso(start + timedelta(hours=1)),
        registration={"opens_at": None, "closes_at": iso(start)},
    )
    _decide(api, event, [5], "came")
    _decide(api, event, [5], "stayed-home")
    api.as_device("POST", f"/events/{event['id']}/check-in", json={"card_token": card("came")})
    path = f"/events/{event['id']}/attendance/close"
    assert_error(api.as_admin("POST", path), 409, "event_not_started")
    assert_error(api.as_device("POST", path), 403, "forbidden")
    # Move the event into the past, then close.
    past = now() - timedelta(hours=2)
    changed = api.as_admin(
        "PUT",
        f"/events/{event['id']}",
        json={
            **{
                k: event[k]
                for k in (
                    "title",
                    "description",
                    "speech",
                    "location",
                    "audience",
                    "categories",
                    "capacity",
                    "min_age",
                    "max_age",
                )
            },
            "starts_at": iso(past),
            "ends_at": iso(past + timedelta(hours=1)),
            "registration": {"opens_at": None, "closes_at": iso(past)},
        },
    )
    assert changed.status_code == 200, changed.text
    assert api.as_admin("POST", path).json()["no_show"] == 1
    statuses = sorted(
        r["status"]
        for r in api.as_admin("GET", f"/events/{event['id']}/registrations").json()["registrations"]
    )
    assert statuses == ["attended", "no_show"]


def test_more_capacity_promotes_and_less_than_confirmed_is_refused(api: Api) -> None:
    event = api.new_event(capacity=1)
    _decide(api, event, [5], 1)
    waiting = _decide(api, event, [5], 2)
    body = {k: v for k, v in event.items() if k in _EVENT_IN_FIELDS}
    grown = api.as_admin("PUT", f"/events/{event['id']}", json={**body, "capacity": 2})
    assert grown.json()["seats_left"] == 0
    assert api.as_device("GET", f"/registrations/{waiting['client_id']}").json()["status"] == (
        "confirmed"
    )
    shrunk = api.as_admin("PUT", f"/events/{event['id']}", json={**body, "capacity": 1})
    assert_error(shrunk, 409, "capacity_below_confirmed")


_EVENT_IN_FIELDS = {
    "status",
    "title",
    "description",
    "speech",
    "starts_at",
    "ends_at",
    "location",
    "audience",
    "min_age",
    "max_age",
    "adult_required",
    "categories",
    "picture",
    "registration",
    "capacity",
    "waitlist_enabled",
    "max_party_size",
    "offline_seats_per_device",
}
