"""The SIP2 codec: exact bytes for every message, real captures, checksums, framing, charsets.

The expected bytes below are written by hand from the 3M SIP2 2.00 layouts (fixed
fields in order, then `XXvalue|` fields), not produced by the code under test.
Property-based tests (random and mutated messages) are in test_sip2_codec_properties.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata

import pytest

from kiosk.sip2 import (
    LENIENT_REQUIRED,
    MESSAGES,
    ACSStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    ChecksumError,
    Codec,
    EndPatronSessionRequest,
    EndPatronSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    Frame,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    RequestACSResend,
    RequestSCResend,
    SCStatus,
    Sip2Error,
    checksum,
    format_sip_date,
    parse_sip_date,
    patron_status_string,
    supported_messages_string,
)

T = dt.datetime(2025, 12, 1, 10, 15, 30)  # naive = local time: zone written as 4 blanks
D = b"20251201    101530"
BLANK = b" " * 18
ITEM = "30500012345678"
PATRON = "0105012345"
PLAIN = Codec(checksums=False)  # hand-written vectors without AY/AZ; checksums tested apart


# --------------------------------------------------------------------------- vectors

VECTORS: list[tuple[Message, bytes]] = [
    (
        LoginRequest(login_user_id="kiosk", login_password="kiosk", location_code="MB-01"),
        b"9300CNkiosk|COkiosk|CPMB-01|\r",
    ),
    (LoginResponse(ok=True), b"941\r"),
    (LoginResponse(ok=False), b"940\r"),
    (SCStatus(status_code=0, max_print_width=40, protocol_version="2.00"), b"9900402.00\r"),
    (
        ACSStatus(
            online_status=True,
            checkin_ok=True,
            checkout_ok=True,
            acs_renewal_policy=True,
            status_update_ok=False,
            offline_ok=False,
            timeout_period=100,
            retries_allowed=3,
            date_time_sync=T,
            protocol_version="2.00",
            institution_id="SI-50001",
            library_name="Mariborska knjižnica",
            supported_messages="YYYYYYYYYYYYYYYY",
            terminal_location="Kiosk 1",
            screen_message=("Dobrodošli",),
        ),
        b"98YYYYNN100003" + D + b"2.00AOSI-50001|AMMariborska knji\xc5\xbenica|"
        b"BXYYYYYYYYYYYYYYYY|ANKiosk 1|AFDobrodo\xc5\xa1li|\r",
    ),
    (RequestSCResend(), b"96\r"),
    (RequestACSResend(), b"97\r"),
    (
        BlockPatron(
            card_retained=False,
            transaction_date=T,
            institution_id="MB",
            blocked_card_msg="Card left in kiosk",
            patron_identifier=PATRON,
            terminal_password="",
        ),
        b"01N" + D + b"AOMB|ALCard left in kiosk|AA0105012345|AC|\r",
    ),
    (
        PatronStatusRequest(
            language="000",
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            terminal_password="",
            patron_password="1234",
        ),
        b"23000" + D + b"AOMB|AA0105012345|AC|AD1234|\r",
    ),
    (
        PatronStatusResponse(
            patron_status="Y" + " " * 13,
            language="000",
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            personal_name="Žiga Čuk",
            valid_patron=True,
            valid_patron_password=False,
            currency_type="EUR",
            fee_amount="1.50",
            screen_message=("Napačen PIN",),
        ),
        b"24Y             000" + D + b"AOMB|AA0105012345|AE\xc5\xbdiga \xc4\x8cuk|BLY|CQN|BHEUR|"
        b"BV1.50|AFNapa\xc4\x8den PIN|\r",
    ),
    (
        PatronInformationRequest(
            language="000",
            transaction_date=T,
            summary=PatronInformationRequest.summary_for("charged_items"),
            institution_id="MB",
            patron_identifier=PATRON,
            terminal_password="",
            patron_password="1234",
            start_item="1",
            end_item="10",
        ),
        b"63000" + D + b"  Y       AOMB|AA0105012345|AC|AD1234|BP1|BQ10|\r",
    ),
    (
        PatronInformationResponse(
            patron_status=" " * 14,
            language="000",
            transaction_date=T,
            hold_items_count=1,
            overdue_items_count=0,
            charged_items_count=2,
            fine_items_count=0,
            recall_items_count=0,
            unavailable_holds_count=None,
            institution_id="MB",
            patron_identifier=PATRON,
            personal_name="Ana",
            charged_items_limit="0030",
            valid_patron=True,
            valid_patron_password=True,
            currency_type="EUR",
            fee_amount="0.00",
            charged_items=("30500012345678", "30500087654321"),
            email_address="ana@example.si",
        ),
        b"64              000" + D + b"0001"
        b"0000"
        b"0002"
        b"0000"
        b"0000"
        b"    "
        b"AOMB|AA0105012345|AEAna|CB0030|"
        b"BLY|CQY|BHEUR|BV0.00|AU30500012345678|AU30500087654321|BEana@example.si|\r",
    ),
    (
        PatronEnableRequest(transaction_date=T, institution_id="MB", patron_identifier=PATRON),
        b"25" + D + b"AOMB|AA0105012345|\r",
    ),
    (
        PatronEnableResponse(
            patron_status=" " * 14,
            language="000",
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            personal_name="Ana",
            valid_patron=True,
        ),
        b"26              000" + D + b"AOMB|AA0105012345|AEAna|BLY|\r",
    ),
    (
        EndPatronSessionRequest(
            transaction_date=T, institution_id="MB", patron_identifier=PATRON, terminal_password=""
        ),
        b"35" + D + b"AOMB|AA0105012345|AC|\r",
    ),
    (
        EndPatronSessionResponse(
            end_session=True,
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            screen_message=("Nasvidenje",),
        ),
        b"36Y" + D + b"AOMB|AA0105012345|AFNasvidenje|\r",
    ),
    (
        FeePaidRequest(
            transaction_date=T,
            fee_type="04",
            payment_type="00",
            currency_type="EUR",
            fee_amount="1.50",
            institution_id="MB",
            patron_identifier=PATRON,
            fee_identifier="F-17",
            transaction_id="T-1",
        ),
        b"37" + D + b"0400EURBV1.50|AOMB|AA0105012345|CGF-17|BKT-1|\r",
    ),
    (
        FeePaidResponse(
            payment_accepted=True,
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            transaction_id="T-1",
        ),
        b"38Y" + D + b"AOMB|AA0105012345|BKT-1|\r",
    ),
    (
        ItemInformationRequest(
            transaction_date=T, institution_id="MB", item_identifier=ITEM, terminal_password=""
        ),
        b"17" + D + b"AOMB|AB30500012345678|AC|\r",
    ),
    (
        ItemInformationResponse(
            circulation_status=3,
            security_marker="02",
            fee_type="01",
            transaction_date=T,
            hold_queue_length="0",
            item_identifier=ITEM,
            title_identifier="Pod svobodnim soncem",
            owner="MB",
            media_type="001",
            permanent_location="Odrasli",
            current_location="Odrasli",
        ),
        b"18030201" + D + b"CF0|AB30500012345678|AJPod svobodnim soncem|BGMB|CK001|"
        b"AQOdrasli|APOdrasli|\r",
    ),
    (
        ItemStatusUpdateRequest(
            transaction_date=T, institution_id="MB", item_identifier=ITEM, item_properties="AFI=07"
        ),
        b"19" + D + b"AOMB|AB30500012345678|CHAFI=07|\r",
    ),
    (
        ItemStatusUpdateResponse(
            item_properties_ok=True,
            transaction_date=T,
            item_identifier=ITEM,
            item_properties="AFI=07",
        ),
        b"201" + D + b"AB30500012345678|CHAFI=07|\r",
    ),
    (
        CheckoutRequest(
            sc_renewal_policy=True,
            no_block=False,
            transaction_date=T,
            nb_due_date=None,
            institution_id="MB",
            patron_identifier=PATRON,
            item_identifier=ITEM,
            terminal_password="",
            patron_password="1234",
            fee_acknowledged=False,
        ),
        b"11YN" + D + BLANK + b"AOMB|AA0105012345|AB30500012345678|AC|AD1234|BON|\r",
    ),
    (
        CheckoutResponse(
            ok=True,
            renewal_ok=False,
            magnetic_media=False,
            desensitize=True,
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            item_identifier=ITEM,
            title_identifier="Pod svobodnim soncem",
            due_date="20251222    235959",
            media_type="001",
            screen_message=("Vrnite do 22. 12. 2025",),
        ),
        b"121NNY" + D + b"AOMB|AA0105012345|AB30500012345678|AJPod svobodnim soncem|"
        b"AH20251222    235959|CK001|AFVrnite do 22. 12. 2025|\r",
    ),
    (
        CheckinRequest(
            no_block=True,
            transaction_date=T,
            return_date=dt.datetime(2025, 11, 30, 18, 0, 0),
            current_location="Kiosk 1",
            institution_id="MB",
            item_identifier=ITEM,
            terminal_password="",
        ),
        b"09Y" + D + b"20251130    180000APKiosk 1|AOMB|AB30500012345678|AC|\r",
    ),
    (
        CheckinResponse(
            ok=True,
            resensitize=True,
            magnetic_media=None,
            alert=True,
            transaction_date=T,
            institution_id="MB",
            item_identifier=ITEM,
            permanent_location="Odrasli",
            title_identifier="Pod svobodnim soncem",
            sort_bin="2",
            patron_identifier=PATRON,
            screen_message=("Rezervirano",),
        ),
        b"101YUY" + D + b"AOMB|AB30500012345678|AQOdrasli|AJPod svobodnim soncem|CL2|"
        b"AA0105012345|AFRezervirano|\r",
    ),
    (
        RenewRequest(
            third_party_allowed=False,
            no_block=False,
            transaction_date=T,
            nb_due_date=None,
            institution_id="MB",
            patron_identifier=PATRON,
            patron_password="1234",
            item_identifier=ITEM,
        ),
        b"29NN" + D + BLANK + b"AOMB|AA0105012345|AD1234|AB30500012345678|\r",
    ),
    (
        RenewResponse(
            ok=False,
            renewal_ok=False,
            magnetic_media=None,
            desensitize=None,
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            item_identifier=ITEM,
            title_identifier="Pod svobodnim soncem",
            due_date="",
            screen_message=("Gradivo je rezervirano",),
        ),
        b"300NUU" + D + b"AOMB|AA0105012345|AB30500012345678|AJPod svobodnim soncem|AH|"
        b"AFGradivo je rezervirano|\r",
    ),
    (
        RenewAllRequest(
            transaction_date=T,
            institution_id="MB",
            patron_identifier=PATRON,
            patron_password="1234",
            fee_acknowledged=True,
        ),
        b"65" + D + b"AOMB|AA0105012345|AD1234|BOY|\r",
    ),
    (
        RenewAllResponse(
            ok=True,
            renewed_count=2,
            unrenewed_count=1,
            transaction_date=T,
            institution_id="MB",
            renewed_items=("A1", "A2"),
            unrenewed_items=("A3",),
        ),
        b"66100020001" + D + b"AOMB|BMA1|BMA2|BNA3|\r",
    ),
    (
        HoldRequest(
            hold_mode="+",
            transaction_date=T,
            expiration_date="20260115    000000",
            pickup_location="Glavna",
            hold_type="2",
            institution_id="MB",
            patron_identifier=PATRON,
            title_identifier="Pod svobodnim soncem",
        ),
        b"15+" + D + b"BW20260115    000000|BSGlavna|BY2|AOMB|AA0105012345|"
        b"AJPod svobodnim soncem|\r",
    ),
    (
        HoldResponse(
            ok=True,
            available=False,
            transaction_date=T,
            expiration_date="20260115    000000",
            queue_position="3",
            pickup_location="Glavna",
            institution_id="MB",
            patron_identifier=PATRON,
            title_identifier="Pod svobodnim soncem",
        ),
        b"161N" + D + b"BW20260115    000000|BR3|BSGlavna|AOMB|AA0105012345|"
        b"AJPod svobodnim soncem|\r",
    ),
]


def vector(cls: type[Message]) -> Message:
    """The first vector message of a type (for tests that change one field of it)."""
    return next(message for message, _ in VECTORS if type(message) is cls)


def test_every_message_type_has_a_vector() -> None:
    assert {type(message) for message, _ in VECTORS} == {spec.cls for spec in MESSAGES.values()}
    assert len(MESSAGES) == 31


@pytest.mark.parametrize(
    ("message", "wire"), VECTORS, ids=[f"{m.code}-{type(m).__name__}" for m, _ in VECTORS]
)
def test_known_answer(message: Message, wire: bytes) -> None:
    assert PLAIN.encode(message) == wire
    frame = PLAIN.decode(wire)
    assert frame == Frame(message, None, False)
    assert type(frame.message) is type(message)


@pytest.mark.parametrize(
    ("message", "wire"), VECTORS, ids=[f"{m.code}-{type(m).__name__}" for m, _ in VECTORS]
)
def test_known_answer_with_checksum(message: Message, wire: bytes) -> None:
    sent = Codec().encode(message, sequence=7)
    body = wire[:-1]
    if message.code in ("96", "97"):  # the resend requests never carry a sequence number
        assert sent == body + b"AZ" + reference_checksum(body + b"AZ") + b"\r"
    else:
        prefix = body + b"AY7AZ"
        assert sent == prefix + reference_checksum(prefix) + b"\r"
    frame = Codec().decode(sent)
    assert frame.message == message
    assert frame.checksum_present
    assert frame.sequence == (None if message.code in ("96", "97") else 7)


def reference_checksum(data: bytes) -> bytes:
    """The spec's rule written the plain way: minus the byte sum, low 16 bits, 4 hex digits."""
    return b"%04X" % (-sum(data) & 0xFFFF)


# --------------------------------------------------------------------------- real captures


def test_captured_login_requests_match_byte_for_byte() -> None:
    # ThePalaceProject/circulation, tests/api/sip/test_client.py (test_resend): the exact bytes
    # its client sends, checksum included.
    ours = Codec().encode(LoginRequest(login_user_id="user_id", login_password="password"))
    assert ours == b"9300CNuser_id|COpassword|AY0AZF556\r"
    # Its retry is sent without a sequence number: still a valid checksum.
    frame = Codec().decode(b"9300CNuser_id|COpassword|AZF620\r")
    assert frame.sequence is None
    assert frame.checksum_present
    assert frame.message == LoginRequest(login_user_id="user_id", login_password="password")
    # Same file, test_append_checksum: "some data|AY7AZFAAA".
    assert checksum(b"some data|AY7AZ") == "FAAA"


def test_captured_sirsidynix_acs_status() -> None:
    # Edmonton Public Library's "Metro" (mecard) project, src/mecard/sip/SIPMessage.java:
    # ACS status answers of two SirsiDynix Symphony servers, checksums intact.
    frame = Codec().decode(
        b"98YYYYYN60000320130424    1135112.00AOEPLMNA|AMEPLMNA|BXYYYYYYYYYYYNNYYY|"
        b"ANSIPCHK|AY1AZE80C\r"
    )
    status = frame.message
    assert isinstance(status, ACSStatus)
    assert (frame.sequence, frame.checksum_present) == (1, True)
    assert status.online_status and status.checkout_ok and status.status_update_ok
    assert status.offline_ok is False
    assert (status.timeout_period, status.retries_allowed) == (600, 3)
    assert status.date_time_sync == dt.datetime(2013, 4, 24, 11, 35, 11)
    assert status.supported["patron_information"] is True
    assert status.supported["item_status_update"] is False
    assert status.supported["patron_enable"] is False
    assert status.supported["renew_all"] is True
    # St. Albert: 1 s timeout and a vendor field (VN) the spec does not know.
    frame = Codec().decode(
        b"98YYYYNN01000320130808    1509002.00AOst|AMSt. Albert Public Library|"
        b"BXYYYYYYYYYYYYYYYY|ANUnassigned|VNSIP 2.00.106 SirsiDynix Inc. 7.5.074.40|AY1AZD3FA"
    )
    assert frame.message.timeout_period == 10
    assert frame.message.unknown == (("VN", "SIP 2.00.106 SirsiDynix Inc. 7.5.074.40"),)
    assert all(frame.message.supported.values())


def test_captured_sirsidynix_patron_information_with_extensions() -> None:
    # Same project, ChinookArch (SirsiDynix) answer: empty institution id, blank optional
    # extension fields (PD|) and vendor fields, kept in order.
    wire = (
        b"64              00020140624    153614000000000000000000000000AO|AA00000003161957|"
        b"AEBibliocommons, Adult1 ***TEST ACCT***|AQDOWNTOWN|BZ0025|CA0050|CB0050|BLY|CQY|"
        b"BV0.00|BD353 Primary Way Red Deer AB T4N 1T9|BEitsg@rdpl.org|BF403-555-0178|BHUSD|"
        b"PA20150311    235900|PD|PCPRIMARY|DB$0.00|DM$0.00|AFOK|AY1AZB0A0"
    )
    frame = Codec(charset="cp850").decode(wire)
    info = frame.message
    assert isinstance(info, PatronInformationResponse)
    assert info.institution_id == ""
    assert info.personal_name == "Bibliocommons, Adult1 ***TEST ACCT***"
    assert info.charged_items_count == 0 and info.valid_patron is True
    assert info.home_phone_number == "403-555-0178"
    assert info.unknown == (
        ("AQ", "DOWNTOWN"),  # permanent location is not a field of message 64
        ("PA", "20150311    235900"),
        ("PD", ""),
        ("PC", "PRIMARY"),
        ("DB", "$0.00"),
        ("DM", "$0.00"),
    )
    assert info.status_flags == frozenset()


def test_captured_tlc_unknown_patron() -> None:
    # ThePalaceProject/circulation, tests/api/sip/test_authentication_provider.py
    # (tlc_no_such_patron): The Library Corporation's answer for an unknown card.
    frame = Codec(charset="cp850").decode(
        b"64YYYY          00020171031    092000000000000000000000000000AOhq|AA2642|AE|BLN|"
        b"AF#Unknown borrower barcode - please refer to the circulation desk.|AY1AZD46E"
    )
    info = frame.message
    assert isinstance(info, PatronInformationResponse)
    assert info.personal_name == "" and info.valid_patron is False
    assert info.status_flags == {
        "charge_privileges_denied",
        "renewal_privileges_denied",
        "recall_privileges_denied",
        "hold_privileges_denied",
    }
    assert info.screen_message == (
        "#Unknown borrower barcode - please refer to the circulation desk.",
    )


# These captures were redacted by their authors, which broke their checksums: the trailers
# are cut off here and the bodies read without one.
SIERRA_UNKNOWN_CARD = (  # ThePalaceProject/circulation, tests/api/sip/test_client.py
    b"64Y                201610050000114734                        AOnypl |AA12345|AENo Name|"
    b"BLN|AFYour library card number cannot be located.  Please see a staff member for "
    b"assistance.|"
)
POLARIS_VALID_PIN = (  # ThePalaceProject/circulation, test_authentication_provider.py
    b"64              00120161121    143327000000000000000000000000AO3|AA25891000331441|"
    b"AEFalk, Jen|BZ0050|CA0075|CB0075|BLY|CQY|BHUSD|BV9.25|CC9.99|BD123 Charlotte Hall, MD "
    b"20622|BEfoo@bar.com|BF501-555-1212|BC19710101    000000|PA1|PEHALL|PSSt. Mary's|U1|U2|"
    b"U3|U4|U5|PZ20622|PX20180609    235959|PYN|FA0.00|AFPatron status is ok.|"
    b"AGPatron status is ok.|"
)
EVERGREEN_INACTIVE = (  # same file: the institution id comes last, no personal name value
    b"64YYYY          00020161021    143028000000000000000000000000AE|AA12345|BLN|AOBiblioTest|"
)


def test_captured_sierra_blank_language_counts_and_zone() -> None:
    info = Codec(charset="cp850").decode(SIERRA_UNKNOWN_CARD).message
    assert isinstance(info, PatronInformationResponse)
    assert info.language == "   "
    assert info.transaction_date == dt.datetime(2016, 10, 5, 11, 47, 34)  # zone "0000": local
    assert info.hold_items_count is None and info.unavailable_holds_count is None
    assert info.institution_id == "nypl "  # kept as sent, trailing blank included
    assert info.status_flags == {"charge_privileges_denied"}


def test_captured_polaris_vendor_fields_kept_in_order() -> None:
    info = Codec(charset="cp850").decode(POLARIS_VALID_PIN).message
    assert isinstance(info, PatronInformationResponse)
    assert info.language == "001"
    assert info.fee_amount == "9.25" and info.fee_limit == "9.99"
    assert info.screen_message == ("Patron status is ok.",)
    assert info.print_line == ("Patron status is ok.",)
    codes = [code for code, _ in info.unknown]
    assert codes == ["BC", "PA", "PE", "PS", "U1", "U2", "U3", "U4", "U5", "PZ", "PX", "PY", "FA"]
    assert PLAIN.decode(PLAIN.encode(info)).message == info


def test_captured_evergreen_fields_in_any_order() -> None:
    info = Codec().decode(EVERGREEN_INACTIVE).message
    assert isinstance(info, PatronInformationResponse)
    assert info.institution_id == "BiblioTest" and info.personal_name == ""
    assert "card_reported_lost" not in info.status_flags
    assert len(info.status_flags) == 4


def test_captured_end_session_without_last_delimiter() -> None:
    # ThePalaceProject/circulation, test_client.py (test_dialect): "...|AF|AG" with no "|" after
    # the last field and "0000" in the zone. Read leniently: the last field runs to the end.
    frame = Codec().decode(b"36Y201610210000142637AO3|AA25891000331441|AF|AG")
    answer = frame.message
    assert isinstance(answer, EndPatronSessionResponse)
    assert answer.end_session is True
    assert answer.screen_message == ("",) and answer.print_line == ("",)


def test_captured_pipe_inside_a_value_is_glued_back() -> None:
    # ThePalaceProject/circulation, test_client.py (test_embedded_pipe): a server that did not
    # keep "|" out of an e-mail address. A fragment that cannot start a field belongs to the
    # value before it: the patron is read, with the address as the server had it.
    wire = (
        b"64              000201610050000134405000000000000000000000000AOnypl |AA12345|"
        b"AERICHARDSON, LEONARD|BZ0030|CA0050|CB0050|BLY|CQY|BV0|CC15.00|BEleona|rdr@|bar.com|"
    )
    answer = Codec().decode(wire).message
    assert answer.email_address == "leona|rdr@|bar.com"
    assert answer.personal_name == "RICHARDSON, LEONARD" and answer.fee_limit == "15.00"


def test_a_message_starting_with_a_stray_fragment_is_still_an_error() -> None:
    wire = b"64              000201610050000134405000000000000000000000000rd|AOx|AA1|AEy|"
    with pytest.raises(Sip2Error, match=r"'rd' is not a field identifier"):
        Codec().decode(wire)


# --------------------------------------------------------------------------- checksums


def test_checksum_of_the_spec_example() -> None:
    assert checksum(b"9900302.00AY1AZ") == "FCA5"
    frame = Codec().decode(b"9900302.00AY1AZFCA5\r")
    assert frame == Frame(SCStatus(max_print_width=30), 1, True)


def test_checksum_matches_the_plain_rule_on_long_messages() -> None:
    for size in (0, 1, 255, 256, 257, 511, 512, 513, 4000, 16384):
        data = bytes((i * 37 + 11) % 256 for i in range(size))
        assert checksum(data).encode() == reference_checksum(data), size


def test_resend_requests() -> None:
    assert Codec().decode(b"96AZFEF6\r") == Frame(RequestSCResend(), None, True)
    assert Codec().decode(b"97AZFEF5") == Frame(RequestACSResend(), None, True)
    assert Codec().encode(RequestACSResend(), sequence=3) == b"97AZFEF5\r"
    assert Codec().encode(RequestSCResend()) == b"96AZFEF6\r"


def test_wrong_checksum_raises_checksum_error() -> None:
    with pytest.raises(ChecksumError, match="wrong checksum FCA6, expected FCA5") as caught:
        Codec().decode(b"9900302.00AY1AZFCA6\r")
    assert isinstance(caught.value, Sip2Error)
    with pytest.raises(ChecksumError):
        Codec().decode(b"96AZFEF7")


def test_checksum_with_lowercase_hex_is_accepted() -> None:
    assert Codec().decode(b"9900302.00AY1AZfca5\r").checksum_present


def test_message_without_checksum_or_sequence_parses() -> None:
    assert Codec().decode(b"9900302.00\r") == Frame(SCStatus(max_print_width=30), None, False)
    assert Codec().decode(b"9900302.00AY4") == Frame(SCStatus(max_print_width=30), 4, False)


def test_a_last_field_ending_like_a_checksum_is_not_one() -> None:
    # "AZ" then four characters that are not hex digits: a field value, not a checksum.
    message = ItemStatusUpdateResponse(
        item_properties_ok=True, transaction_date=None, item_identifier="AZ123"
    )
    wire = PLAIN.encode(message)
    assert wire.endswith(b"ABAZ123|\r")
    assert PLAIN.decode(wire).message == message


def test_checksums_off_sends_none() -> None:
    assert PLAIN.encode(SCStatus(max_print_width=30), sequence=5) == b"9900302.00\r"


def test_sequence_number_must_be_a_digit() -> None:
    for sequence in (-1, 10, "1", 1.0):
        with pytest.raises(Sip2Error, match="sequence number must be 0 to 9"):
            Codec().encode(LoginResponse(ok=True), sequence=sequence)  # type: ignore[arg-type]


def test_ay_or_az_in_the_middle_is_refused() -> None:
    with pytest.raises(Sip2Error, match="AY may only come at the end"):
        PLAIN.decode(b"941AY1|")
    with pytest.raises(Sip2Error, match="AZ may only come at the end"):
        PLAIN.decode(b"36Y" + D + b"AZ1234|AOMB|AA1|")


# --------------------------------------------------------------------------- line endings


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n", b"", b"\r\x00", b"\r\n\x00"], ids=repr)
def test_any_line_ending_is_accepted(ending: bytes) -> None:
    wire = b"941AY2AZ" + reference_checksum(b"941AY2AZ") + ending
    assert Codec().decode(wire) == Frame(LoginResponse(ok=True), 2, True)


def test_stray_line_feed_before_a_message_is_ignored() -> None:
    assert Codec().decode(b"\n941\r").message == LoginResponse(ok=True)


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"], ids=repr)
def test_encode_uses_the_configured_line_ending(ending: bytes) -> None:
    assert Codec(checksums=False, line_ending=ending).encode(LoginResponse(ok=True)) == (
        b"941" + ending
    )


def test_cr_or_lf_inside_a_message_is_refused() -> None:
    with pytest.raises(Sip2Error, match="CR, LF or NUL in the middle"):
        Codec().decode(b"941\r940\r")
    with pytest.raises(Sip2Error, match="CR, LF or NUL in the middle"):
        Codec().decode(b"36Y" + D + b"AOMB|AA1|AFa\x00b|")


def test_split_finds_complete_messages_and_keeps_the_rest() -> None:
    codec = Codec()
    messages, rest = codec.split(b"941\r9900302.00AY1AZFCA5\r\n96AZFEF6\n\n98YYYY")
    assert messages == [b"941", b"9900302.00AY1AZFCA5", b"96AZFEF6"]
    assert rest == b"98YYYY"
    assert codec.split(b"") == ([], b"")
    assert codec.split(b"94") == ([], b"94")


def test_split_over_a_stream_read_in_pieces() -> None:
    codec = Codec()
    info, status = vector(PatronInformationResponse), vector(ACSStatus)
    stream = b"941\r\n" + codec.encode(info) + b"\n" + codec.encode(status)
    for piece_size in (1, 2, 3, 7, 64, len(stream)):
        buffer = b""
        found: list[bytes] = []
        for start in range(0, len(stream), piece_size):
            messages, buffer = codec.split(buffer + stream[start : start + piece_size])
            found += messages
        assert buffer == b""
        assert [codec.decode(m).message for m in found] == [
            LoginResponse(ok=True),
            info,
            status,
        ], piece_size


def test_split_refuses_to_buffer_without_end() -> None:
    codec = Codec(max_length=64)
    assert codec.split(b"9" * 64) == ([], b"9" * 64)
    with pytest.raises(Sip2Error, match="no end of message within 64 bytes"):
        codec.split(b"9" * 65)


# --------------------------------------------------------------------------- charsets

NAME = "Žiga Čuk Šešlja"


def patron_status_answer(name: str) -> PatronStatusResponse:
    return PatronStatusResponse(
        transaction_date=T, institution_id="MB", patron_identifier=PATRON, personal_name=name
    )


@pytest.mark.parametrize("charset", ["utf-8", "cp1250"])
def test_slovenian_letters_round_trip(charset: str) -> None:
    codec = Codec(charset=charset)
    wire = codec.encode(patron_status_answer(NAME))
    assert NAME.encode(charset) in wire
    assert codec.decode(wire).message.personal_name == NAME


@pytest.mark.parametrize("charset", ["cp850", "latin-1", "ascii"])
def test_charset_without_the_letter_says_which_field_and_character(charset: str) -> None:
    with pytest.raises(Sip2Error) as caught:
        Codec(charset=charset).encode(patron_status_answer(NAME))
    text = str(caught.value)
    assert "AE (personal_name)" in text
    assert "'Ž' (U+017D)" in text
    assert "cannot carry" in text


@pytest.mark.parametrize("charset", ["cp850", "latin-1", "ascii"])
def test_unencodable_replace_transliterates(charset: str) -> None:
    codec = Codec(charset=charset, unencodable="replace")
    wire = codec.encode(patron_status_answer(NAME + " €"))
    assert codec.decode(wire).message.personal_name == "Ziga Cuk Seslja ?"  # no euro sign there


def test_unencodable_secret_is_not_shown() -> None:
    request = PatronStatusRequest(
        transaction_date=T,
        institution_id="MB",
        patron_identifier=PATRON,
        terminal_password="",
        patron_password="12č4",
    )
    with pytest.raises(Sip2Error) as caught:
        Codec(charset="cp850").encode(request)
    assert "AD (patron_password) holds a character" in str(caught.value)
    assert "č" not in str(caught.value) and "12" not in str(caught.value)


def test_cp850_name_from_a_server_decodes() -> None:
    wire = b"24              000" + D + "AOMB|AA1|AELE CARRÉ, JOHN|".encode("cp850")
    assert Codec(charset="cp850").decode(wire).message.personal_name == "LE CARRÉ, JOHN"
    # The same bytes read as UTF-8 do not fail: the odd byte becomes U+FFFD.
    assert Codec().decode(wire).message.personal_name == "LE CARR\ufffd, JOHN"


def test_decomposed_utf8_is_read_as_composed() -> None:
    decomposed = unicodedata.normalize("NFD", NAME)
    assert decomposed != NAME
    wire = b"24              000" + D + b"AOMB|AA1|AE" + decomposed.encode() + b"|"
    assert Codec().decode(wire).message.personal_name == NAME


def test_unknown_or_unsuitable_charset_is_refused() -> None:
    with pytest.raises(Sip2Error, match="unknown character set 'klingon'"):
        Codec(charset="klingon")
    with pytest.raises(Sip2Error, match="not ASCII-based"):
        Codec(charset="utf-16")


# --------------------------------------------------------------------------- outgoing values


@pytest.mark.parametrize("bad", ["a|b", "a\rb", "a\nb", "a\x00b"], ids=repr)
def test_delimiters_in_a_value_are_never_sent(bad: str) -> None:
    message = patron_status_answer(bad)
    with pytest.raises(Sip2Error, match=r"field AE \(personal_name\) contains"):
        Codec().encode(message)
    wire = Codec(sanitize=True).encode(message)
    assert Codec().decode(wire).message.personal_name == "a b"


def test_delimiters_in_repeated_and_unknown_values_are_caught_too() -> None:
    message = dataclasses.replace(
        patron_status_answer("Ana"), screen_message=("ok", "x|y"), unknown=(("ZZ", "p\rq"),)
    )
    with pytest.raises(Sip2Error, match=r"field AF \(screen_message\) contains '\|'"):
        Codec().encode(message)
    decoded = Codec().decode(Codec(sanitize=True).encode(message)).message
    assert decoded.screen_message == ("ok", "x y") and decoded.unknown == (("ZZ", "p q"),)


def test_oversized_messages_are_refused_both_ways() -> None:
    big = patron_status_answer("A" * 20000)
    with pytest.raises(Sip2Error, match="over the limit of 16384"):
        Codec().encode(big)
    wire = Codec(max_length=100000).encode(big)
    with pytest.raises(Sip2Error, match="over the limit of 16384"):
        Codec().decode(wire)
    assert Codec(max_length=100000).decode(wire).message == big


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"transaction_date": dt.date(2025, 1, 1)}, "transaction_date must be YYYYMMDD"),
        ({"patron_status": "Y"}, "patron_status must be 14 of ' NY'"),
        ({"language": "sl"}, "language must be 3 printable ASCII"),
        ({"language": "0|0"}, "language must be 3 printable ASCII"),
        ({"personal_name": None}, r"personal_name \(AE\) is required"),
        ({"personal_name": 5}, r"personal_name \(AE\) must be str, not 5"),
        ({"valid_patron": "Y"}, r"valid_patron \(BL\) must be True, False or None"),
        ({"screen_message": ["a"]}, r"screen_message \(AF\) must be a tuple of str"),
        ({"unknown": (("zz", "a"),)}, "unknown fields must be"),
        ({"unknown": (("AY", "1"),)}, "unknown fields must be"),
    ],
)
def test_encode_checks_every_value(change: dict[str, object], expected: str) -> None:
    message = dataclasses.replace(patron_status_answer("Ana"), **change)
    with pytest.raises(Sip2Error, match=expected):
        Codec().encode(message)


def test_encode_checks_counts_and_summary() -> None:
    info = dataclasses.replace(vector(PatronInformationResponse), charged_items_count=10000)
    with pytest.raises(Sip2Error, match="charged_items_count must be 4 digits or blanks"):
        Codec().encode(info)
    request = dataclasses.replace(vector(PatronInformationRequest), summary="YY        ")
    with pytest.raises(Sip2Error, match="more than one category"):
        Codec().encode(request)
    with pytest.raises(Sip2Error, match="not a SIP2 message"):
        Codec().encode(object())  # type: ignore[arg-type]


def test_secret_of_the_wrong_type_is_not_shown() -> None:
    request = dataclasses.replace(vector(PatronStatusRequest), patron_password=1234)
    with pytest.raises(Sip2Error, match=r"patron_password \(AD\) must be str, not a int"):
        Codec().encode(request)


# --------------------------------------------------------------------------- variable fields


def test_unknown_fields_kept_in_order_and_sent_back_exactly() -> None:
    wire = (
        b"121NNY" + D + b"AOMB|AA0105012345|AB30500012345678|AJPod svobodnim soncem|"
        b"AH20251222    235959|CK001|AFVrnite pravo\xc4\x8dasno|ZZfirst|XIsecond||Z9|\r"
    )
    answer = PLAIN.decode(wire).message
    assert answer.unknown == (("ZZ", "first"), ("XI", "second"), ("Z9", ""))
    assert PLAIN.encode(answer) == wire.replace(b"||", b"|")  # the stray "||" is not kept


def test_fields_in_any_order_and_repeated_ones_in_order() -> None:
    wire = (
        b"64              000"
        + D
        + b"0000" * 6
        + (b"AUc1|AFfirst|AEAna|AUc2|AAP1|AOMB|AFsecond|AUc3|ASh1|")
    )
    info = PLAIN.decode(wire).message
    assert info.charged_items == ("c1", "c2", "c3")
    assert info.hold_items == ("h1",)
    assert info.screen_message == ("first", "second")
    assert (info.institution_id, info.patron_identifier, info.personal_name) == ("MB", "P1", "Ana")


def test_a_single_field_sent_twice_keeps_the_first_and_the_rest_in_unknown() -> None:
    info = PLAIN.decode(b"24              000" + D + b"AOMB|AA1|AEAna|AEBob|BLY|BLN|").message
    assert info.personal_name == "Ana" and info.valid_patron is True
    assert info.unknown == (("AE", "Bob"), ("BL", "N"))


def test_lenient_required_fields_read_as_empty() -> None:
    # A refused checkout as Koha and Evergreen send it: no title, no due date.
    answer = PLAIN.decode(b"120NUN" + D + b"AOMB|AA1|AB2|AFItem not found|").message
    assert isinstance(answer, CheckoutResponse)
    assert answer.title_identifier == "" and answer.due_date == ""
    # A self-check unit that sends neither institution nor terminal password.
    request = PLAIN.decode(b"11YN" + D + BLANK + b"AA1|AB2|").message
    assert (request.institution_id, request.terminal_password) == ("", "")
    assert {(m, f) for m, f, _ in LENIENT_REQUIRED} >= {("12", "AJ"), ("12", "AH"), ("**", "AO")}


def test_required_field_missing_is_refused() -> None:
    with pytest.raises(Sip2Error, match=r"required field AB \(item_identifier\) is missing"):
        PLAIN.decode(b"121NNY" + D + b"AOMB|AA1|AJt|AHd|")
    with pytest.raises(Sip2Error, match=r"required field CN \(login_user_id\) is missing"):
        PLAIN.decode(b"9300")


def test_flag_fields_must_be_y_or_n() -> None:
    answer = PLAIN.decode(b"24              000" + D + b"AOMB|AA1|AE|BL|").message
    assert answer.valid_patron is None
    with pytest.raises(Sip2Error, match=r"field BL \(valid_patron\) must be Y or N, got 'X'"):
        PLAIN.decode(b"24              000" + D + b"AOMB|AA1|AE|BLX|")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b"", "message too short"),
        (b"9", "message too short"),
        (b"XX", "unknown message code 'XX'"),
        (b"02N", "unknown message code '02'"),
        (b"94", r"LoginResponse \(94\) needs 1 characters of fixed fields, got 0"),
        (b"94Y", r"fixed field ok at position 2 must be 1 or 0, got 'Y'"),
        (b"12XNNY" + D + b"AOa|", "fixed field ok at position 2"),
        (b"121NXY" + D + b"AOa|", "fixed field magnetic_media at position 4 must be Y, N or U"),
        (b"121NNY20251301    101530AOa|", "transaction_date at position 6 must be YYYYMMDDZZZZ"),
        (b"121NNY2025120x    101530AOa|", "transaction_date at position 6"),
        (b"98YYYYNNabc003" + D + b"2.00AOa|BX|", "timeout_period at position 8 must be 3 digits"),
        (b"98YYYYNN100003" + D + b"200AOa|BX|", "protocol_version at position 32 must be x.xx"),
        (b"64" + b" " * 14 + b"000" + D + b"00x1" + b" " * 20, "hold_items_count at position"),
        (b"15?" + D + b"AOa|AA1|", r"hold_mode at position 2 must be 1 of '\*\+-'"),
        (b"24\xc3\xa9             000" + D + b"AOa|AA1|AE|", "fixed fields must be printable"),
        (b"93|0CNa|COb|", "fixed fields must be printable ASCII without '|', position 2"),
        (b"941ab|", "'ab' is not a field identifier"),
        (b"941A|", "'A' is not a field identifier"),
    ],
)
def test_bad_input_gives_one_clear_error(wire: bytes, expected: str) -> None:
    with pytest.raises(Sip2Error, match=expected):
        PLAIN.decode(wire)


def test_errors_never_show_pins_passwords_or_patron_ids() -> None:
    secrets = [
        b"11YN20251399    101530" + BLANK + b"AOMB|AA0105012345|AB1|ACterm-pw|AD9876|",
        b"9300CNkiosk|COsecret-pw|AY1|ZZx|",
        b"23000" + D + b"AD9876|AOMB|AA0105012345|AC|AD9876|AZ12|AOx|",
    ]
    for wire in secrets:
        with pytest.raises(Sip2Error) as caught:
            PLAIN.decode(wire)
        text = str(caught.value)
        for secret in ("9876", "secret-pw", "term-pw", "0105012345"):
            assert secret not in text, text
        assert "****" in text


def test_error_messages_name_the_message() -> None:
    with pytest.raises(Sip2Error) as caught:
        PLAIN.decode(b"121NNY" + D + b"AOMB|AA1|AJt|AHd|")
    assert str(caught.value).startswith("CheckoutResponse (12): required field AB")


# --------------------------------------------------------------------------- dates


def test_format_sip_date() -> None:
    assert format_sip_date(None) == " " * 18
    assert format_sip_date(T) == D.decode()
    cet = dt.timezone(dt.timedelta(hours=1))
    assert format_sip_date(dt.datetime(2025, 12, 1, 10, 15, 30, tzinfo=cet)) == (
        "20251201   Z091530"
    )
    assert format_sip_date(dt.datetime(9, 1, 2, 3, 4, 5)) == "00090102    030405"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b"   Z", dt.datetime(2025, 12, 1, 10, 15, 30, tzinfo=dt.UTC)),
        (b"UTC ", dt.datetime(2025, 12, 1, 10, 15, 30, tzinfo=dt.UTC)),
        (b"    ", T),
        (b"0000", T),  # Sierra, Polaris: read as local time
        (b"   Q", T),  # another zone letter: local time (documented leniency)
    ],
)
def test_fixed_date_zones(wire: bytes, expected: dt.datetime) -> None:
    frame = PLAIN.decode(b"36Y20251201" + wire + b"101530AOMB|AA1|")
    assert frame.message.transaction_date == expected
    assert frame.message.transaction_date.tzinfo == expected.tzinfo


def test_blank_and_zero_fixed_dates_are_none() -> None:
    assert PLAIN.decode(b"36Y" + BLANK + b"AOMB|AA1|").message.transaction_date is None
    status = PLAIN.decode(b"98YYYYNN100003" + b"0" * 18 + b"2.00AOa|BXYYYY|").message
    assert status.date_time_sync is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20251224    235900", dt.datetime(2025, 12, 24, 23, 59)),
        ("20251224   Z235900", dt.datetime(2025, 12, 24, 23, 59, tzinfo=dt.UTC)),
        ("20251224UTC235900", dt.datetime(2025, 12, 24, 23, 59, tzinfo=dt.UTC)),
        ("20251224", dt.datetime(2025, 12, 24)),
        ("20251224235900", dt.datetime(2025, 12, 24, 23, 59)),
        ("2025-12-24", dt.datetime(2025, 12, 24)),
        ("2025-12-24T23:59:00Z", dt.datetime(2025, 12, 24, 23, 59, tzinfo=dt.UTC)),
        ("2025-12-24 23:59", dt.datetime(2025, 12, 24, 23, 59)),
        ("12/24/2025", dt.datetime(2025, 12, 24)),
        ("24/12/2025", dt.datetime(2025, 12, 24)),
        ("12/24/2025 11:59 PM", dt.datetime(2025, 12, 24, 23, 59)),
        ("12/24/2025 12:30 AM", dt.datetime(2025, 12, 24, 0, 30)),
        ("2025/12/24", dt.datetime(2025, 12, 24)),
        ("24.12.2025", dt.datetime(2025, 12, 24)),
        ("24. 12. 2025", dt.datetime(2025, 12, 24)),
        ("24. 12. 2025 18:30", dt.datetime(2025, 12, 24, 18, 30)),
        ("  ", None),
        ("", None),
        (None, None),
        ("000000000000000000", None),
        ("soon", None),
        ("13/13/2025", None),
        ("20251324", None),
        ("12/24/2025 13:00 PM", None),
    ],
)
def test_parse_sip_date_tolerates_what_servers_send(
    text: str | None, expected: dt.datetime | None
) -> None:
    assert parse_sip_date(text) == expected


# --------------------------------------------------------------------------- helpers


def test_patron_status_flags_both_ways() -> None:
    status = patron_status_string({"card_reported_lost", "too_many_items_billed"})
    assert status == "    Y        Y"
    answer = dataclasses.replace(patron_status_answer("Ana"), patron_status=status)
    assert answer.status_flags == {"card_reported_lost", "too_many_items_billed"}
    with pytest.raises(ValueError, match="unknown patron status flag: lost"):
        patron_status_string({"lost"})


def test_supported_messages_both_ways() -> None:
    bx = supported_messages_string({"checkout", "checkin", "status", "login"})
    assert bx == "NYYNYNYNNNNNNNNN"
    status = dataclasses.replace(vector(ACSStatus), supported_messages=bx[:10])  # short BX: N
    assert [name for name, yes in status.supported.items() if yes] == [
        "checkout",
        "checkin",
        "status",
        "login",
    ]


def test_summary_helpers() -> None:
    assert PatronInformationRequest.summary_for(None) == " " * 10
    assert PatronInformationRequest.summary_for("unavailable_holds") == "     Y    "
    request = dataclasses.replace(vector(PatronInformationRequest), summary="   Y      ")
    assert request.summary_category == "fine_items"
    with pytest.raises(ValueError, match="unknown summary"):
        PatronInformationRequest.summary_for("loans")


def test_messages_are_frozen_keyword_only_and_hashable() -> None:
    message = vector(CheckoutResponse)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.ok = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        LoginResponse(True)  # type: ignore[misc]
    assert hash(PLAIN.decode(PLAIN.encode(message)).message) == hash(message)
    assert repr(message).startswith("CheckoutResponse(ok=True, renewal_ok=False")
    assert repr(message).endswith("unknown=())")
