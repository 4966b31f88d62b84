"""The contract's data: every request and answer body of the central API (pydantic 2).

These models are the source of ``central/openapi.json``. Inputs ignore fields
they do not know (an older server keeps working with a newer kiosk); answers
may gain fields in a minor version, so clients must ignore unknown fields too.

Conventions:
- times are ISO 8601 with an offset; the server answers in Europe/Ljubljana
  local time and refuses times without an offset;
- texts for people are language-keyed maps with at least ``sl`` and ``en``;
- a patron is known only by ``card_token``: 64 lowercase hex digits, the kiosk's
  keyed hash (HMAC-SHA256 with the fleet's card key) of the normalised card
  number. The card number itself never reaches the server.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    model_validator,
)

REQUIRED_LANGUAGES = ("sl", "en")
ADULT_AGE = 18

LangCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
BranchCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$"),
    Field(description="Branch code, e.g. `rotovz`; bibliobus stops use `bibliobus`."),
]
DeviceId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$"),
    Field(description="Device id chosen by the admin, e.g. `mb-rotovz-1`."),
]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
CardToken = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(
        description="Keyed hash of the patron's card: lowercase hex HMAC-SHA256 (fleet card "
        "key, normalised card number). Never the card number itself.",
        examples=["3f7a0c1e9b2d4f6a8c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"],
    ),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Category = Literal[
    "story_hour",
    "workshop",
    "club",
    "author_visit",
    "lecture",
    "course",
    "exhibition",
    "film",
    "other",
]
AudienceGroup = Literal[
    "toddlers", "preschool", "children", "preteens", "teens", "adults", "seniors", "families"
]
RegistrationStatus = Literal[
    "pending_sync", "confirmed", "waitlisted", "cancelled", "rejected", "attended", "no_show"
]
RejectReason = Literal[
    "event_cancelled",
    "registration_not_required",
    "registration_not_open",
    "registration_closed",
    "party_too_large",
    "age_out_of_range",
    "adult_required",
    "no_eligible_participant",
    "full",
    "already_registered",
]


def _needs_required_languages(value: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in REQUIRED_LANGUAGES if lang not in value]
    if missing:
        raise ValueError(f"needs a text in {' and '.join(missing)} (sl and en are required)")
    return value


def localized(max_length: int, description: str, example: dict[str, str]) -> Any:
    """A language-keyed text map (`{"sl": "...", "en": "..."}`) with at least sl and en."""
    text = Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)
    ]
    return Annotated[
        dict[LangCode, text],
        AfterValidator(_needs_required_languages),
        Field(
            description=f"{description} Keys are ISO 639 language codes; sl and en are required.",
            json_schema_extra={"required": list(REQUIRED_LANGUAGES), "additionalProperties": False},
            examples=[example],
        ),
    ]


Title = localized(200, "Title.", {"sl": "Pravljična ura", "en": "Story hour"})
Description = localized(
    4000,
    "Description for the screen.",
    {"sl": "Pravljice za otroke od 4 do 6 let.", "en": "Stories for children aged 4 to 6."},
)
Speech = localized(
    2000,
    "Text written to be read aloud (no abbreviations, symbols or emoji); the kiosk adds "
    "the date, time and place itself.",
    {
        "sl": "Pravljična ura za otroke od štirih do šestih let.",
        "en": "Story hour for children from four to six.",
    },
)
AltText = localized(300, "Alternative text of the picture.", {"sl": "Medvedek", "en": "A bear"})
PlaceName = localized(200, "Name of the place.", {"sl": "Knjižnica Rotovž", "en": "Rotovž Library"})


class Error(BaseModel):
    """Every error answer (4xx and 5xx) has this body."""

    code: str = Field(
        description="Machine-readable code, stable across versions, e.g. `invalid_request`, "
        "`unauthorized`, `forbidden`, `not_found`, `idempotency_key_reused`, "
        "`idempotency_key_in_progress`, `database_busy`.",
        examples=["invalid_request"],
    )
    message: str = Field(description="One plain English sentence for logs and technicians.")
    fields: list[FieldError] | None = Field(
        default=None, description="For `invalid_request`: what is wrong with which field."
    )


class FieldError(BaseModel):
    field: str = Field(
        description="Dotted path in the body or the parameter name.", examples=["attendees.0.age"]
    )
    message: str


# --- events --------------------------------------------------------------------------------


class Location(BaseModel):
    kind: Literal["branch", "bibliobus_stop"]
    branch: BranchCode
    name: PlaceName
    room: ShortText | None = Field(default=None, description="Room inside the branch.")
    stop: ShortText | None = Field(
        default=None, description="Bibliobus stop name; required when kind is bibliobus_stop."
    )
    address: ShortText | None = None

    @model_validator(mode="after")
    def _stop_only_for_bibliobus(self) -> Location:
        if self.kind == "bibliobus_stop" and not self.stop:
            raise ValueError("a bibliobus_stop location needs `stop`")
        if self.kind == "branch" and self.stop:
            raise ValueError("`stop` is only for kind bibliobus_stop")
        return self


class Picture(BaseModel):
    url: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="URI reference; a relative one (as the server's own pictures, "
        "`/api/v1/pictures/NAME.png`) is resolved against the API's base URL (RFC 3986).",
        examples=["/api/v1/pictures/story_hour.png"],
    )
    alt: AltText
    width: int | None = Field(default=None, ge=1, le=10000)
    height: int | None = Field(default=None, ge=1, le=10000)


class RegistrationWindow(BaseModel):
    required: bool = Field(default=True, description="False: no registration, just come.")
    opens_at: AwareDatetime | None = Field(default=None, description="None: open now.")
    closes_at: AwareDatetime | None = Field(
        default=None, description="None: closes when the event starts."
    )

    @model_validator(mode="after")
    def _in_order(self) -> RegistrationWindow:
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("registration closes_at must be after opens_at")
        return self


class EventIn(BaseModel):
    """An event as the admin creates or replaces it."""

    status: Literal["scheduled", "cancelled"] = "scheduled"
    title: Title
    description: Description
    speech: Speech
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    location: Location
    audience: list[AudienceGroup] = Field(min_length=1, max_length=8)
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    adult_required: bool = Field(
        default=False, description="The party must include someone aged 18 or more."
    )
    categories: list[Category] = Field(min_length=1, max_length=5)
    picture: Picture | None = None
    registration: RegistrationWindow = Field(default_factory=RegistrationWindow)
    capacity: int = Field(ge=0, le=10000, description="Seats in all.")
    waitlist_enabled: bool = True
    max_party_size: int = Field(default=5, ge=1, le=10)
    offline_seats_per_device: int = Field(
        default=0,
        ge=0,
        le=20,
        description="Seats held for each kiosk at the event's branch, which it may promise "
        "while offline (each kiosk sees its own grant as `offline_seats`).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> EventIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age must not be below min_age")
        closes = self.registration.closes_at
        if closes is not None and closes > self.ends_at:
            raise ValueError("registration must close before the event ends")
        return self


class Event(EventIn):
    """An event as clients see it."""

    id: EventId
    revision: int = Field(description="Changes whenever anything about the event changes.")
    time_zone: Literal["Europe/Ljubljana"] = "Europe/Ljubljana"
    seats_left: int = Field(ge=0)
    seats_left_as_of: AwareDatetime = Field(description="When seats_left was read.")
    waitlist_length: int = Field(ge=0, description="People's parties on the waitlist.")
    offline_seats: int = Field(
        ge=0,
        description="Seats this device may still promise offline (its grant, less what it "
        "used); 0 for admins and other devices.",
    )
    created_at: AwareDatetime
    updated_at: AwareDatetime


class EventPage(BaseModel):
    """One page of the incremental event sync."""

    events: list[Event] = Field(
        description="Events changed after `since`, oldest change first (cancelled ones too: "
        "status `cancelled`). Without `since`: all events not yet ended."
    )
    cursor: str = Field(
        description="Opaque; pass as `since` next time. Also the ETag of this answer."
    )
    has_more: bool = Field(description="True: call again at once with since=cursor.")
    reset: bool = Field(
        default=False,
        description="True: `since` was a cursor this server does not know (its data was "
        "reset). This answer starts a full sync as if `since` had not been sent: after the "
        "last page, drop cached events that did not come.",
    )
    server_time: AwareDatetime


# --- registrations -------------------------------------------------------------------------


class Attendee(BaseModel):
    age: int = Field(ge=0, le=120, description="Age in years on the day of the event.")


class RegistrationIn(BaseModel):
    client_id: UUID = Field(
        description="Made by the kiosk when the patron confirms; the registration's id and its "
        "idempotency key (an Idempotency-Key header, if sent, must equal it)."
    )
    event_id: EventId
    card_token: CardToken
    attendees: list[Attendee] = Field(min_length=1, max_length=10)
    party_size: int | None = Field(
        default=None, ge=1, le=10, description="If sent, must equal the number of attendees."
    )
    accept_waitlist: bool = Field(
        default=True, description="False: reject with `full` instead of waitlisting."
    )
    language: LangCode = "sl"
    created_at: AwareDatetime = Field(description="When the patron confirmed at the kiosk.")
    offline: bool = Field(
        default=False,
        description="Taken while the kiosk was offline, within its `offline_seats` grant: the "
        "server honours the grant; the registration window is checked at created_at.",
    )

    @model_validator(mode="after")
    def _party_size_matches(self) -> RegistrationIn:
        if self.party_size is not None and self.party_size != len(self.attendees):
            raise ValueError(
                f"party_size {self.party_size} does not match {len(self.attendees)} attendees"
            )
        return self


class Registration(BaseModel):
    client_id: UUID
    event_id: EventId
    device_id: str | None = Field(description="Device that registered; None when staff did.")
    card_token: CardToken
    attendees: list[Attendee]
    party_size: int
    status: RegistrationStatus = Field(
        description="`pending_sync` is the kiosk's own state (not yet accepted by the server); "
        "the server never answers with it."
    )
    waitlist_position: int | None = Field(
        description="1 = next to get a seat; positions have no gaps. Only when waitlisted."
    )
    reason: RejectReason | None = Field(description="Why it was rejected; only when rejected.")
    message: str | None = Field(description="Plain English explanation of the reason.")
    via_offline_grant: bool
    language: LangCode
    created_at: AwareDatetime
    received_at: AwareDatetime
    updated_at: AwareDatetime
    seats_left: int = Field(description="The event's seats left right after this answer.")


class RegistrationList(BaseModel):
    registrations: list[Registration]


class CardIn(BaseModel):
    card_token: CardToken


class CancelIn(BaseModel):
    card_token: CardToken | None = Field(
        default=None,
        description="Devices must send the registering card's token; staff (admin) may omit it.",
    )


class CheckInResult(BaseModel):
    event_id: EventId
    checked_in: int = Field(description="Registrations marked attended by this request.")
    registrations: list[Registration] = Field(
        description="This card's registrations for the event."
    )


class AttendanceClosed(BaseModel):
    event_id: EventId
    no_show: int = Field(description="Confirmed registrations marked no_show.")


# --- devices -------------------------------------------------------------------------------


class DeviceIn(BaseModel):
    id: DeviceId
    branch: BranchCode
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class Device(BaseModel):
    id: DeviceId
    branch: BranchCode
    description: str
    created_at: AwareDatetime
    config_version: int
    desired_software_version: str | None
    last_heartbeat_at: AwareDatetime | None
    last_heartbeat: Heartbeat | None


class DeviceCreated(Device):
    token: str = Field(description="The device's bearer token. Shown once; stored hashed.")


class DeviceList(BaseModel):
    devices: list[Device]


class Connectivity(BaseModel):
    network: Literal["ethernet", "wifi", "mobile", "none", "unknown"] = "unknown"
    ils: Literal["online", "offline", "unknown"] = Field(
        default="unknown", description="Link to the library system (SIP2)."
    )
    central: Literal["online", "degraded", "offline"] = Field(
        default="online", description="How the central API answered lately."
    )
    latency_ms: float | None = Field(default=None, ge=0)


class OutboxState(BaseModel):
    depth: int = Field(ge=0, description="Actions not yet confirmed by the server or the ILS.")
    oldest_age_s: float | None = Field(default=None, ge=0, description="Age of the oldest one.")


class Peripheral(BaseModel):
    name: ShortText = Field(examples=["rfid"])
    state: Literal["ok", "degraded", "missing", "error", "disabled"]
    detail: Annotated[str, StringConstraints(max_length=500)] = ""


class Heartbeat(BaseModel):
    sent_at: AwareDatetime
    software_version: ShortText
    config_version: int | None = Field(default=None, ge=0, description="Configuration applied.")
    versions: dict[ShortText, ShortText] = Field(
        default_factory=dict,
        max_length=50,
        description="Other versions worth knowing (os, python, kivy, reader firmware).",
    )
    connectivity: Connectivity = Field(default_factory=Connectivity)
    outbox: OutboxState
    peripherals: list[Peripheral] = Field(default_factory=list, max_length=50)
    counters: dict[ShortText, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=200, description="Running counters since start."
    )
    uptime_s: float | None = Field(default=None, ge=0)
    acked_commands: list[int] = Field(
        default_factory=list, max_length=100, description="Ids of commands carried out."
    )


CommandKind = Literal["sync_now", "reload_config", "restart_app", "reboot", "upload_logs"]


class CommandIn(BaseModel):
    kind: CommandKind
    args: dict[str, Any] = Field(default_factory=dict)


class Command(CommandIn):
    id: int
    created_at: AwareDatetime
    acked_at: AwareDatetime | None


class HeartbeatReply(BaseModel):
    server_time: AwareDatetime
    desired_config_version: int = Field(
        description="Fetch the configuration when this differs from the one applied."
    )
    desired_software_version: str | None = Field(description="None: keep what you run.")
    commands: list[Command] = Field(description="Not yet acknowledged, oldest first.")
    heartbeat_interval_s: int


class DeviceConfigIn(BaseModel):
    settings: dict[str, Any] = Field(
        description="Configuration for the device (the kiosk validates it before applying; "
        "the server stores it as given, up to 64 KiB)."
    )


class DeviceConfig(DeviceConfigIn):
    device_id: DeviceId
    version: int = Field(description='Increases by one with every change. ETag: "cfg-N".')
    updated_at: AwareDatetime


class SoftwareTarget(BaseModel):
    version: ShortText | None = Field(description="Version the device should run; None: any.")


# --- receipts and statistics ---------------------------------------------------------------


class ReceiptItem(BaseModel):
    item_id: ShortText
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    due_date: date | None = None
    outcome: ShortText = Field(default="ok", description="ok, or the refusal reason code.")


class ReceiptIn(BaseModel):
    client_id: UUID
    card_token: CardToken
    language: LangCode
    kind: Literal["checkout", "checkin", "renew", "registration"]
    items: list[ReceiptItem] = Field(min_length=1, max_length=200)
    created_at: AwareDatetime


class ReceiptRecord(BaseModel):
    client_id: UUID
    device_id: DeviceId
    status: Literal["recorded"] = Field(
        description="The reference server records the request; it sends no mail."
    )
    language: LangCode
    kind: str
    item_count: int
    created_at: AwareDatetime
    received_at: AwareDatetime


class ReceiptList(BaseModel):
    receipts: list[ReceiptRecord]


CounterName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]{1,64}$")]


class DailyCountersIn(BaseModel):
    counters: dict[CounterName, Annotated[int, Field(ge=0, le=10**9)]] = Field(
        max_length=200, description='Anonymous totals for the day, e.g. {"checkouts": 41}.'
    )


class DailyCounters(DailyCountersIn):
    device_id: DeviceId
    day: date
    updated_at: AwareDatetime


class DayTotals(BaseModel):
    day: date
    devices: int = Field(description="Devices that reported that day.")
    counters: dict[str, int]


class StatisticsReport(BaseModel):
    start: date
    end: date
    days: list[DayTotals]


class Health(BaseModel):
    status: Literal["ok"]
    api_version: str
    database: Literal["sqlite", "postgresql"]
    server_time: AwareDatetime


# Models referring to models defined after them.
Error.model_rebuild()
Device.model_rebuild()
DeviceCreated.model_rebuild()
DeviceList.model_rebuild()
