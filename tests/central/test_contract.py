"""The committed contract (central/openapi.json) is what the server serves, and it says
what the clients rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central import API_PREFIX, API_VERSION
from central.contract import CONTRACT_PATH, render
from tests.central.support import Api

REPO = Path(__file__).resolve().parents[2]
FIX = "kiosk central openapi --out central/openapi.json"


@pytest.fixture(scope="module")
def contract() -> dict:
    return json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))


def test_committed_contract_is_the_served_one(api: Api, contract: dict) -> None:
    served = api.http.get(f"{api.url}/openapi.json", timeout=10).json()
    assert served == contract, f"central/openapi.json is out of date; run: {FIX}"
    assert CONTRACT_PATH.read_text(encoding="utf-8") == render(served), f"run: {FIX}"


def test_contract_is_openapi_3_1_and_versioned(contract: dict) -> None:
    assert contract["openapi"].startswith("3.1")
    assert contract["info"]["version"] == API_VERSION
    assert all(path.startswith(API_PREFIX + "/") for path in contract["paths"])


def test_every_error_answer_has_the_error_shape(contract: dict) -> None:
    error = contract["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message"}
    for path, operations in contract["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_creating_posts_document_their_idempotency_key(contract: dict) -> None:
    for path, operations in contract["paths"].items():
        post = operations.get("post")
        if post is None or not {"201", "202"} & set(post["responses"]):
            continue
        headers = {p["name"]: p for p in post.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        assert headers["Idempotency-Key"]["required"] is (path != f"{API_PREFIX}/registrations")


def test_resources_carry_what_the_issue_asks_for(contract: dict) -> None:
    schemas = contract["components"]["schemas"]
    event = set(schemas["Event"]["properties"])
    assert {
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
        "seats_left",
        "seats_left_as_of",
        "waitlist_enabled",
        "offline_seats",
    } <= event
    assert set(schemas["Event"]["properties"]["title"]["required"]) == {"sl", "en"}
    assert {"kind", "branch", "room", "stop"} <= set(schemas["Location"]["properties"])
    assert {"opens_at", "closes_at"} <= set(schemas["RegistrationWindow"]["properties"])
    registration = schemas["Registration"]["properties"]
    assert set(registration["status"]["enum"]) == {
        "pending_sync",
        "confirmed",
        "waitlisted",
        "cancelled",
        "rejected",
        "attended",
        "no_show",
    }
    assert {
        "client_id",
        "card_token",
        "attendees",
        "party_size",
        "waitlist_position",
        "reason",
    } <= set(registration)
    heartbeat = set(schemas["Heartbeat"]["properties"])
    assert {
        "software_version",
        "versions",
        "connectivity",
        "outbox",
        "peripherals",
        "counters",
    } <= heartbeat
    assert {"depth", "oldest_age_s"} <= set(schemas["OutboxState"]["properties"])
    reply = set(schemas["HeartbeatReply"]["properties"])
    assert {"desired_config_version", "desired_software_version", "commands"} <= reply
    assert {"events", "cursor", "has_more"} <= set(schemas["EventPage"]["properties"])
    paths = contract["paths"]
    for path in (
        "/events",
        "/registrations",
        "/receipts",
        "/statistics",
        "/devices/{device_id}/config",
        "/devices/{device_id}/heartbeat",
    ):
        assert API_PREFIX + path in paths
    assert "304" in paths[f"{API_PREFIX}/events"]["get"]["responses"]
    assert "304" in paths[f"{API_PREFIX}/devices/{{device_id}}/config"]["get"]["responses"]
