"""Every SIP2 2.00 message as a frozen dataclass.

Fixed fields come first, in the order and width the spec gives them, typed:
Y/N and 1/0 flags are bool, Y/N/U flags bool | None, dates datetime | None
(blank = None), counts int (blank = None). Variable fields follow with the
names of `fields.VARIABLE_FIELDS`: text as str (None when an optional field is
absent; required ones have no default and are always sent, empty if need be),
repeated fields as tuples, Y/N flags as bool | None. Every message keeps the
fields it did not know in `unknown`, in the order received, and sends them back.
All constructors take keyword arguments only.

The `@_message` decorator reads the field declarations into a `MessageSpec`,
the table the codec works from, so the layout is written down once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kiosk.sip2.fields import (
    ANY1,
    ANY3,
    COUNT4,
    DATE,
    DIGIT,
    HOLD_MODE,
    ONE_OR_OTHER,
    ONE_ZERO,
    PATRON_STATUS,
    PATRON_STATUS_FLAGS,
    SUMMARY,
    SUMMARY_CATEGORIES,
    SUPPORTED_MESSAGES,
    THREE_DIGITS,
    TWO_DIGIT_CODE,
    VARIABLE_FIELDS,
    VERSION,
    YES_NO,
    YES_NO_UNKNOWN,
    FixedFormat,
    Kind,
    _digits,
    summary_string,
)

Unknown = tuple[tuple[str, str], ...]

# Fields the spec calls required that real peers leave out. Decoding fills them with
# "" instead of refusing the message. Deliberate: each one was seen in the wild.
# ("**" = in every message that has the field as required.)
LENIENT_REQUIRED: tuple[tuple[str, str, str], ...] = (
    ("**", "AO", "institution id: left out by some servers and self-check units"),
    ("**", "AC", "terminal password: self-check units without one leave it out"),
    ("23", "AD", "patron password: left out when a unit asks without a PIN"),
    ("09", "AP", "current location: many self-check units leave it out"),
    ("01", "AL", "blocked card message: some units leave it out"),
    ("12", "AJ", "title: left out when the checkout is refused (e.g. unknown item)"),
    ("12", "AH", "due date: left out when the checkout is refused"),
    ("30", "AJ", "title: left out when the renewal is refused"),
    ("30", "AH", "due date: left out when the renewal is refused"),
    ("18", "AJ", "title: left out for an unknown item"),
    ("10", "AQ", "permanent location: left out for an unknown item or a refused checkin"),
    ("24", "AE", "personal name: left out for an unknown patron"),
    ("64", "AE", "personal name: left out for an unknown patron"),
    ("26", "AE", "personal name: left out for an unknown patron"),
    ("98", "BX", "supported messages: SIP 1.00 servers do not send it"),
)


def _is_lenient(message_code: str, field_code: str) -> bool:
    return any(field_code == f and m in (message_code, "**") for m, f, _why in LENIENT_REQUIRED)


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """The layout of one message type, as the codec uses it."""

    cls: type[Message]
    code: str
    fixed: tuple[tuple[str, FixedFormat], ...]  # (attribute, format) in wire order
    fixed_length: int  # characters after the two-digit code
    # (field code, attribute, kind, required) in the order the codec writes them
    variable: tuple[tuple[str, str, Kind, bool], ...]
    required: tuple[tuple[str, str, bool], ...]  # (field code, attribute, lenient)
    # For the decoder's inner loop: (attribute, start, stop, parse) of each fixed field,
    # all of them read by `parse_fixed(text, values)`, and field code -> attribute for
    # each kind of variable field.
    fixed_plan: tuple[tuple[str, int, int, Any], ...]
    parse_fixed: Callable[[str, dict[str, Any]], None]
    required_values: Callable[[dict[str, Any]], Any]  # the required attributes' values
    text_fields: dict[str, str]
    repeated_fields: dict[str, str]
    flag_fields: dict[str, str]
    defaults: dict[str, Any]  # starting values when decoding (required text fields: None)


MESSAGES: dict[str, MessageSpec] = {}  # by message code
SPECS: dict[type, MessageSpec] = {}  # by message class


class Message:
    """Base of all SIP2 messages. `code` is the two-digit message identifier."""

    code: ClassVar[str]
    # Fields this codec does not know (extensions), in the order received.
    unknown: Unknown

    @property
    def name(self) -> str:
        return f"{type(self).__name__} ({self.code})"


def fixed(fmt: FixedFormat, default: Any = dataclasses.MISSING) -> Any:
    """A fixed-position field (declaration order = wire order)."""
    return field(default=default, metadata={"sip2_fixed": fmt})


def var(code: str, *, required: bool = False) -> Any:
    """A variable field `XX...|`; optional ones default to None, or () when repeated."""
    if required:
        return field(metadata={"sip2_code": code, "sip2_required": True})
    default = () if VARIABLE_FIELDS[code].kind is Kind.REPEATED else None
    return field(default=default, metadata={"sip2_code": code, "sip2_required": False})


def _message(code: str) -> Any:
    def build(cls: type) -> type:
        annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 - not inherited ones
        if annotations is None:
            annotations = {}
            cls.__annotations__ = annotations
        # Added here rather than in the base class so it comes last in repr and signature.
        annotations["unknown"] = "Unknown"
        cls.unknown = field(default=(), repr=True)  # type: ignore[attr-defined]
        cls.code = code  # type: ignore[attr-defined]
        cls = dataclass(frozen=True, kw_only=True)(cls)
        spec = _spec_of(cls, code)
        MESSAGES[code] = spec
        SPECS[cls] = spec
        return cls

    return build


def _spec_of(cls: type, code: str) -> MessageSpec:
    fixed_fields: list[tuple[str, FixedFormat]] = []
    variable: list[tuple[str, str, Kind, bool]] = []
    defaults: dict[str, Any] = {"unknown": ()}
    for f in dataclasses.fields(cls):
        if "sip2_fixed" in f.metadata:
            fixed_fields.append((f.name, f.metadata["sip2_fixed"]))
        elif "sip2_code" in f.metadata:
            info = VARIABLE_FIELDS[f.metadata["sip2_code"]]
            if info.attr != f.name:  # keep names the same in every message
                raise TypeError(f"{cls.__name__}.{f.name}: field {info.code} is {info.attr}")
            required = f.metadata["sip2_required"]
            variable.append((info.code, info.attr, info.kind, required))
            defaults[f.name] = None if required else f.default
        elif f.name != "unknown":
            raise TypeError(f"{cls.__name__}.{f.name} is neither fixed nor variable")
    plan = []
    position = 2
    for name, fmt in fixed_fields:
        plan.append((name, position, position + fmt.width, fmt.parse))
        position += fmt.width
    return MessageSpec(
        cls=cls,
        code=code,
        fixed=tuple(fixed_fields),
        fixed_length=position - 2,
        variable=tuple(variable),
        required=tuple((c, attr, _is_lenient(code, c)) for c, attr, _k, req in variable if req),
        fixed_plan=tuple(plan),
        parse_fixed=_compile_fixed_parser(cls.__name__, fixed_fields),
        required_values=_values_getter([attr for _c, attr, _k, req in variable if req]),
        text_fields={c: attr for c, attr, kind, _r in variable if kind is Kind.TEXT},
        repeated_fields={c: attr for c, attr, kind, _r in variable if kind is Kind.REPEATED},
        flag_fields={c: attr for c, attr, kind, _r in variable if kind is Kind.FLAG},
        defaults=defaults,
    )


def _values_getter(attrs: list[str]) -> Callable[[dict[str, Any]], Any]:
    """A function returning the values of `attrs` as a tuple (checked for None at once)."""
    if not attrs:
        return lambda values: ()
    if len(attrs) == 1:
        attr = attrs[0]
        return lambda values: (values[attr],)
    return operator.itemgetter(*attrs)


def _compile_fixed_parser(
    name: str, fixed_fields: list[tuple[str, FixedFormat]]
) -> Callable[[str, dict[str, Any]], None]:
    """One straight-line function per message reading all its fixed fields into `values`.

    Generated (as dataclasses and namedtuple do) because a loop over the layout costs
    as much as the parsing itself; one-character flags are looked up by index. Raises
    what the formats raise (KeyError, ValueError); the decoder then names the field.
    """
    lines = [f"def parse_{name}_fixed(text, values):"]
    scope: dict[str, Any] = {}
    position = 2
    for i, (attr, fmt) in enumerate(fixed_fields):
        if fmt.table is not None:
            scope[f"table{i}"] = fmt.table
            lines.append(f"    values[{attr!r}] = table{i}[text[{position}]]")
        else:
            scope[f"parse{i}"] = fmt.parse
            stop = position + fmt.width
            lines.append(f"    values[{attr!r}] = parse{i}(text[{position}:{stop}])")
        position += fmt.width
    lines.append("    return None")
    exec("\n".join(lines), scope)  # the source is built above from our own layout only
    return scope[f"parse_{name}_fixed"]


class _PatronStatusMixin:
    patron_status: str

    @property
    def status_flags(self) -> frozenset[str]:
        """The names (PATRON_STATUS_FLAGS) of the positions set to Y in `patron_status`."""
        status = self.patron_status
        return frozenset(
            name for i, name in enumerate(PATRON_STATUS_FLAGS) if status[i : i + 1] == "Y"
        )


_NO_STATUS = " " * 14
_NO_SUMMARY = " " * 10
_TWO_DIGITS = _digits(2)
Date = dt.datetime | None

# --------------------------------------------------------------------------- login and status


@_message("93")
class LoginRequest(Message):
    uid_algorithm: str = fixed(ANY1, "0")
    pwd_algorithm: str = fixed(ANY1, "0")
    login_user_id: str = var("CN", required=True)
    login_password: str = var("CO", required=True)
    location_code: str | None = var("CP")


@_message("94")
class LoginResponse(Message):
    ok: bool = fixed(ONE_ZERO)


@_message("99")
class SCStatus(Message):
    status_code: int = fixed(DIGIT, 0)  # 0 ok, 1 printer out of paper, 2 shutting down
    max_print_width: int = fixed(THREE_DIGITS, 80)
    protocol_version: str = fixed(VERSION, "2.00")


@_message("98")
class ACSStatus(Message):
    online_status: bool = fixed(YES_NO)
    checkin_ok: bool = fixed(YES_NO)
    checkout_ok: bool = fixed(YES_NO)
    acs_renewal_policy: bool = fixed(YES_NO)
    status_update_ok: bool = fixed(YES_NO)
    offline_ok: bool = fixed(YES_NO)
    timeout_period: int = fixed(THREE_DIGITS)  # tenths of a second; 0 offline, 999 unknown
    retries_allowed: int = fixed(THREE_DIGITS)  # 999 unknown
    date_time_sync: Date = fixed(DATE)
    protocol_version: str = fixed(VERSION, "2.00")
    institution_id: str = var("AO", required=True)
    library_name: str | None = var("AM")
    supported_messages: str = var("BX", required=True)
    terminal_location: str | None = var("AN")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")

    @property
    def supported(self) -> dict[str, bool]:
        """Message name (SUPPORTED_MESSAGES) -> whether BX has a Y at its position."""
        bx = self.supported_messages.upper()
        return {name: bx[i : i + 1] == "Y" for i, name in enumerate(SUPPORTED_MESSAGES)}


@_message("96")
class RequestSCResend(Message):
    pass


@_message("97")
class RequestACSResend(Message):
    pass


# --------------------------------------------------------------------------- patrons


@_message("01")
class BlockPatron(Message):
    card_retained: bool = fixed(YES_NO)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    blocked_card_msg: str = var("AL", required=True)
    patron_identifier: str = var("AA", required=True)
    terminal_password: str = var("AC", required=True)


@_message("23")
class PatronStatusRequest(Message):
    language: str = fixed(ANY3, "000")
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    terminal_password: str = var("AC", required=True)
    patron_password: str = var("AD", required=True)


@_message("24")
class PatronStatusResponse(_PatronStatusMixin, Message):
    patron_status: str = fixed(PATRON_STATUS, _NO_STATUS)
    language: str = fixed(ANY3, "000")
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    personal_name: str = var("AE", required=True)
    valid_patron: bool | None = var("BL")
    valid_patron_password: bool | None = var("CQ")
    currency_type: str | None = var("BH")
    fee_amount: str | None = var("BV")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("63")
class PatronInformationRequest(Message):
    language: str = fixed(ANY3, "000")
    transaction_date: Date = fixed(DATE)
    summary: str = fixed(SUMMARY, _NO_SUMMARY)  # see summary_for()
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    terminal_password: str | None = var("AC")
    patron_password: str | None = var("AD")
    start_item: str | None = var("BP")
    end_item: str | None = var("BQ")

    @staticmethod
    def summary_for(category: str | None) -> str:
        """The summary asking for the item list of one category (SUMMARY_CATEGORIES) or none."""
        return summary_string(category)

    @property
    def summary_category(self) -> str | None:
        """The first category whose details are asked for (one at a time, says the spec)."""
        for name, char in zip(SUMMARY_CATEGORIES, self.summary, strict=False):
            if char == "Y":
                return name
        return None


@_message("64")
class PatronInformationResponse(_PatronStatusMixin, Message):
    patron_status: str = fixed(PATRON_STATUS, _NO_STATUS)
    language: str = fixed(ANY3, "000")
    transaction_date: Date = fixed(DATE)
    hold_items_count: int | None = fixed(COUNT4, None)
    overdue_items_count: int | None = fixed(COUNT4, None)
    charged_items_count: int | None = fixed(COUNT4, None)
    fine_items_count: int | None = fixed(COUNT4, None)
    recall_items_count: int | None = fixed(COUNT4, None)
    unavailable_holds_count: int | None = fixed(COUNT4, None)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    personal_name: str = var("AE", required=True)
    hold_items_limit: str | None = var("BZ")
    overdue_items_limit: str | None = var("CA")
    charged_items_limit: str | None = var("CB")
    valid_patron: bool | None = var("BL")
    valid_patron_password: bool | None = var("CQ")
    currency_type: str | None = var("BH")
    fee_amount: str | None = var("BV")
    fee_limit: str | None = var("CC")
    hold_items: tuple[str, ...] = var("AS")
    overdue_items: tuple[str, ...] = var("AT")
    charged_items: tuple[str, ...] = var("AU")
    fine_items: tuple[str, ...] = var("AV")
    recall_items: tuple[str, ...] = var("BU")
    unavailable_hold_items: tuple[str, ...] = var("CD")
    home_address: str | None = var("BD")
    email_address: str | None = var("BE")
    home_phone_number: str | None = var("BF")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("25")
class PatronEnableRequest(Message):
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    terminal_password: str | None = var("AC")
    patron_password: str | None = var("AD")


@_message("26")
class PatronEnableResponse(_PatronStatusMixin, Message):
    patron_status: str = fixed(PATRON_STATUS, _NO_STATUS)
    language: str = fixed(ANY3, "000")
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    personal_name: str = var("AE", required=True)
    valid_patron: bool | None = var("BL")
    valid_patron_password: bool | None = var("CQ")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("35")
class EndPatronSessionRequest(Message):
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    terminal_password: str | None = var("AC")
    patron_password: str | None = var("AD")


@_message("36")
class EndPatronSessionResponse(Message):
    end_session: bool = fixed(YES_NO)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("37")
class FeePaidRequest(Message):
    transaction_date: Date = fixed(DATE)
    fee_type: str = fixed(TWO_DIGIT_CODE)  # 01 other/unknown ... 09 hold fee
    payment_type: str = fixed(TWO_DIGIT_CODE)  # 00 cash, 01 VISA, 02 credit card
    currency_type: str = fixed(ANY3)  # ISO 4217, e.g. EUR
    fee_amount: str = var("BV", required=True)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    terminal_password: str | None = var("AC")
    patron_password: str | None = var("AD")
    fee_identifier: str | None = var("CG")
    transaction_id: str | None = var("BK")


@_message("38")
class FeePaidResponse(Message):
    payment_accepted: bool = fixed(YES_NO)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    transaction_id: str | None = var("BK")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


# --------------------------------------------------------------------------- items


@_message("17")
class ItemInformationRequest(Message):
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    item_identifier: str = var("AB", required=True)
    terminal_password: str | None = var("AC")


@_message("18")
class ItemInformationResponse(Message):
    circulation_status: int = fixed(_TWO_DIGITS)  # 1 other ... 3 available, 4 charged ... 13
    security_marker: str = fixed(TWO_DIGIT_CODE)  # 00 other, 01 none, 02 tattle-tape, 03 whisper
    fee_type: str = fixed(TWO_DIGIT_CODE)
    transaction_date: Date = fixed(DATE)
    hold_queue_length: str | None = var("CF")
    due_date: str | None = var("AH")
    recall_date: str | None = var("CJ")
    hold_pickup_date: str | None = var("CM")
    item_identifier: str = var("AB", required=True)
    title_identifier: str = var("AJ", required=True)
    owner: str | None = var("BG")
    currency_type: str | None = var("BH")
    fee_amount: str | None = var("BV")
    media_type: str | None = var("CK")
    permanent_location: str | None = var("AQ")
    current_location: str | None = var("AP")
    item_properties: str | None = var("CH")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("19")
class ItemStatusUpdateRequest(Message):
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    item_identifier: str = var("AB", required=True)
    terminal_password: str | None = var("AC")
    item_properties: str = var("CH", required=True)


@_message("20")
class ItemStatusUpdateResponse(Message):
    item_properties_ok: bool = fixed(ONE_OR_OTHER)
    transaction_date: Date = fixed(DATE)
    item_identifier: str = var("AB", required=True)
    title_identifier: str | None = var("AJ")
    item_properties: str | None = var("CH")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


# --------------------------------------------------------------------------- circulation


@_message("11")
class CheckoutRequest(Message):
    sc_renewal_policy: bool = fixed(YES_NO)
    no_block: bool = fixed(YES_NO, False)
    transaction_date: Date = fixed(DATE)
    nb_due_date: Date = fixed(DATE, None)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    item_identifier: str = var("AB", required=True)
    terminal_password: str = var("AC", required=True)
    patron_password: str | None = var("AD")
    item_properties: str | None = var("CH")
    fee_acknowledged: bool | None = var("BO")
    cancel: bool | None = var("BI")


@_message("12")
class CheckoutResponse(Message):
    ok: bool = fixed(ONE_ZERO)
    renewal_ok: bool = fixed(YES_NO)
    magnetic_media: bool | None = fixed(YES_NO_UNKNOWN)
    desensitize: bool | None = fixed(YES_NO_UNKNOWN)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    item_identifier: str = var("AB", required=True)
    title_identifier: str = var("AJ", required=True)
    due_date: str = var("AH", required=True)  # free text; see parse_sip_date
    fee_type: str | None = var("BT")
    security_inhibit: bool | None = var("CI")
    currency_type: str | None = var("BH")
    fee_amount: str | None = var("BV")
    media_type: str | None = var("CK")
    item_properties: str | None = var("CH")
    transaction_id: str | None = var("BK")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("09")
class CheckinRequest(Message):
    no_block: bool = fixed(YES_NO, False)
    transaction_date: Date = fixed(DATE)
    return_date: Date = fixed(DATE)
    current_location: str = var("AP", required=True)
    institution_id: str = var("AO", required=True)
    item_identifier: str = var("AB", required=True)
    terminal_password: str = var("AC", required=True)
    item_properties: str | None = var("CH")
    cancel: bool | None = var("BI")


@_message("10")
class CheckinResponse(Message):
    ok: bool = fixed(ONE_ZERO)
    resensitize: bool | None = fixed(YES_NO_UNKNOWN)
    magnetic_media: bool | None = fixed(YES_NO_UNKNOWN)
    alert: bool = fixed(YES_NO)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    item_identifier: str = var("AB", required=True)
    permanent_location: str = var("AQ", required=True)
    title_identifier: str | None = var("AJ")
    sort_bin: str | None = var("CL")
    patron_identifier: str | None = var("AA")
    media_type: str | None = var("CK")
    item_properties: str | None = var("CH")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("29")
class RenewRequest(Message):
    third_party_allowed: bool = fixed(YES_NO)
    no_block: bool = fixed(YES_NO, False)
    transaction_date: Date = fixed(DATE)
    nb_due_date: Date = fixed(DATE, None)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    patron_password: str | None = var("AD")
    item_identifier: str | None = var("AB")
    title_identifier: str | None = var("AJ")
    terminal_password: str | None = var("AC")
    item_properties: str | None = var("CH")
    fee_acknowledged: bool | None = var("BO")


@_message("30")
class RenewResponse(Message):
    ok: bool = fixed(ONE_ZERO)
    renewal_ok: bool = fixed(YES_NO)
    magnetic_media: bool | None = fixed(YES_NO_UNKNOWN)
    desensitize: bool | None = fixed(YES_NO_UNKNOWN)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    item_identifier: str = var("AB", required=True)
    title_identifier: str = var("AJ", required=True)
    due_date: str = var("AH", required=True)
    fee_type: str | None = var("BT")
    security_inhibit: bool | None = var("CI")
    currency_type: str | None = var("BH")
    fee_amount: str | None = var("BV")
    media_type: str | None = var("CK")
    item_properties: str | None = var("CH")
    transaction_id: str | None = var("BK")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("65")
class RenewAllRequest(Message):
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    patron_password: str | None = var("AD")
    terminal_password: str | None = var("AC")
    fee_acknowledged: bool | None = var("BO")


@_message("66")
class RenewAllResponse(Message):
    ok: bool = fixed(ONE_ZERO)
    renewed_count: int | None = fixed(COUNT4)  # leniency: blank read as None
    unrenewed_count: int | None = fixed(COUNT4)
    transaction_date: Date = fixed(DATE)
    institution_id: str = var("AO", required=True)
    renewed_items: tuple[str, ...] = var("BM")
    unrenewed_items: tuple[str, ...] = var("BN")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")


@_message("15")
class HoldRequest(Message):
    hold_mode: str = fixed(HOLD_MODE)  # + add, - delete, * change
    transaction_date: Date = fixed(DATE)
    expiration_date: str | None = var("BW")
    pickup_location: str | None = var("BS")
    hold_type: str | None = var("BY")
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    patron_password: str | None = var("AD")
    item_identifier: str | None = var("AB")
    title_identifier: str | None = var("AJ")
    terminal_password: str | None = var("AC")
    fee_acknowledged: bool | None = var("BO")


@_message("16")
class HoldResponse(Message):
    ok: bool = fixed(ONE_ZERO)
    available: bool = fixed(YES_NO)
    transaction_date: Date = fixed(DATE)
    expiration_date: str | None = var("BW")
    queue_position: str | None = var("BR")
    pickup_location: str | None = var("BS")
    institution_id: str = var("AO", required=True)
    patron_identifier: str = var("AA", required=True)
    item_identifier: str | None = var("AB")
    title_identifier: str | None = var("AJ")
    screen_message: tuple[str, ...] = var("AF")
    print_line: tuple[str, ...] = var("AG")
