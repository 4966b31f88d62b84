"""The parts of the central API's contract (central/openapi.json) the kiosk reads.

The kiosk never imports the server's package: these are its own pydantic models of
the answers, checked strictly (no "5" for 5, times must carry an offset) so a
garbled answer is refused in one place with a clear message. Unknown fields are
ignored, as the contract asks of clients (answers may gain fields in a minor
version); unknown category or audience words are kept, the screens show them as
"other".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

REQUIRED_LANGUAGES = ("sl", "en")
CARD_TOKEN_PATTERN = r"^[0-9a-f]{64}$"
# The contract's CounterName (daily statistics).
COUNTER_NAME_PATTERN = r"^[a-z0-9_.]{1,64}$"

# Registration statuses the server answers with; pending_sync is the kiosk's own.
REGISTRATION_STATUSES = (
    "pending_sync",
    "confirmed",
    "waitlisted",
    "cancelled",
    "rejected",
    "attended",
    "no_show",
)
REJECT_REASONS = (
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
)


class _Answer(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _needs_required_languages(value: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in REQUIRED_LANGUAGES if lang not in value]
    if missing:
        raise ValueError(f"needs a text in {' and '.join(missing)}")
    return value


LangCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Localized = Annotated[dict[LangCode, Text], AfterValidator(_needs_required_languages)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Word = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Age = Annotated[int, Field(ge=0, le=120)]


class Location(_Answer):
    kind: Literal["branch", "bibliobus_stop"]
    branch: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
    name: Localized
    room: ShortText | None = None
    stop: ShortText | None = None
    address: ShortText | None = None


class Picture(_Answer):
    url: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    alt: Localized
    width: int | None = None
    height: int | None = None


class RegistrationWindow(_Answer):
    required: bool = True
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None


class Event(_Answer):
    id: EventId
    revision: int = Field(ge=0)
    status: Literal["scheduled", "cancelled"]
    title: Localized
    description: Localized
    speech: Localized
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    time_zone: str = "Europe/Ljubljana"
    location: Location
    audience: list[Word] = Field(min_length=1, max_length=8)
    min_age: Age | None = None
    max_age: Age | None = None
    adult_required: bool = False
    categories: list[Word] = Field(min_length=1, max_length=5)
    picture: Picture | None = None
    registration: RegistrationWindow
    capacity: int = Field(ge=0, le=10000)
    seats_left: int = Field(ge=0)
    seats_left_as_of: AwareDatetime
    waitlist_enabled: bool
    waitlist_length: int = Field(ge=0)
    offline_seats: int = Field(ge=0)
    max_party_size: int = Field(ge=1, le=10)

    @model_validator(mode="after")
    def _consistent(self) -> Event:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age must not be below min_age")
        return self


class EventPage(_Answer):
    """A page's frame; its events are checked one by one (a bad one is skipped)."""

    events: list[Any]
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    has_more: bool
    reset: bool = False


class Registration(_Answer):
    client_id: str
    event_id: EventId
    party_size: int = Field(ge=1, le=10)
    attendees: list[dict[str, Any]] = Field(default_factory=list)
    status: Literal[
        "pending_sync", "confirmed", "waitlisted", "cancelled", "rejected", "attended", "no_show"
    ]
    waitlist_position: int | None = None
    reason: str | None = None
    message: str | None = None
    via_offline_grant: bool = False
    created_at: AwareDatetime
    seats_left: int | None = None


class RegistrationList(_Answer):
    registrations: list[Registration]


class CheckInResult(_Answer):
    event_id: EventId
    checked_in: int = Field(ge=0)
    registrations: list[Registration]


class Command(_Answer):
    id: int
    kind: str
    args: dict[str, Any] = Field(default_factory=dict)


class HeartbeatReply(_Answer):
    server_time: AwareDatetime | None = None  # None from a server that leaves it out
    desired_config_version: int = Field(ge=0)
    desired_software_version: str | None = None
    commands: list[Command] = Field(default_factory=list)
    heartbeat_interval_s: int = Field(ge=1, le=86400)


class DeviceConfig(_Answer):
    version: int = Field(ge=0)
    settings: dict[str, Any]


class Error(_Answer):
    code: str
    message: str = ""


def problem(exc: ValidationError) -> str:
    """The first few validation problems in one line, for logs (never a traceback)."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
