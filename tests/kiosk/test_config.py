"""Tests for kiosk/config.py: the shipped files load, and every mistake gets one plain message."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError

from kiosk.config import (
    ConfigError,
    KioskConfig,
    config_reference_markdown,
    default_config_path,
    load_config,
    main,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_BRANCH = REPO / "config" / "example-branch.toml"
BRANCH_ENV = {
    "KIOSK_SIP2_PASSWORD": "s3cret-sip2",
    "KIOSK_CENTRAL_TOKEN": "tok-central-42",
    "KIOSK_CENTRAL_CARD_KEY": "card-key-of-the-library-0042",
}
# Words that show a message was written for programmers, not technicians.
JARGON = ("Traceback", "pydantic", "validation error for", "Input should", "errors.pydantic.dev")

MINIMAL_SIP2 = """
[backend]
kind = "sip2"
[backend.sip2]
host = "sip2.example.org"
username = "kiosk1"
"""


def write(folder: Path, text: str, name: str = "kiosk.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(folder: Path, text: str, environ: dict[str, str] | None = None) -> str:
    path = write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    message = str(caught.value)
    assert message.startswith(str(path) + ": "), message
    for word in JARGON:
        assert word not in message, message
    return message


# --- the shipped files ------------------------------------------------------------------------


def test_default_path_is_the_repo_demo_file() -> None:
    assert default_config_path() == REPO / "config" / "kiosk.toml"
    assert default_config_path().is_file()


def test_demo_file_loads_as_a_demo() -> None:
    config = load_config(default_config_path(), environ={})
    assert config.backend.kind == "demo"
    assert config.devices.rfid == "sim:"
    assert config.devices.card_reader == "sim:"
    assert config.display.dev_tray is True
    assert config.session.timeout_s == 90
    assert config.security.afi_in_library == 0x07
    assert config.security.afi_on_loan == 0xC2
    assert config.kiosk.languages == ("sl", "en")
    assert config.source == default_config_path()
    expected_data = Path(platformdirs.user_data_dir("library-kiosk"))
    assert config.data_path() == expected_data
    assert config.store_path() == expected_data / "kiosk.sqlite"
    assert config.demo_database_path() == expected_data / "demo-ils.sqlite"


def test_example_branch_loads_with_secrets_from_the_environment() -> None:
    config = load_config(EXAMPLE_BRANCH, environ=BRANCH_ENV)
    sip2 = config.backend.sip2
    assert config.backend.kind == "sip2"
    assert sip2 is not None and sip2.tls and sip2.verify_tls
    assert sip2.password is not None
    assert sip2.password.get_secret_value() == "s3cret-sip2"
    assert config.central.token is not None
    assert config.central.token.get_secret_value() == "tok-central-42"
    assert config.devices.rfid == "feig:/dev/kiosk-rfid"
    assert config.devices.card_reader == "nfc:usb"
    assert config.devices.printer == "escpos-usb:0x0416:0x5011"
    assert (config.display.fullscreen, config.display.show_cursor) == (True, False)
    assert config.display.dev_tray is False
    assert config.kiosk.library == "Mariborska knjižnica"


def test_example_branch_without_its_variables_names_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLE_BRANCH, environ={})
    message = str(caught.value)
    assert "backend.sip2.password" in message and "KIOSK_SIP2_PASSWORD" in message
    assert "central.token" in message and "KIOSK_CENTRAL_TOKEN" in message


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})
    assert config.backend.kind == "demo"
    assert config.identify.methods == ("card", "keypad")
    assert config.backend.sip2 is None


# --- paths ------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(
        folder,
        '[kiosk]\ndata_dir = "state"\n[store]\npath = "db/store.sqlite"\n'
        '[backend.demo]\ndatabase = "/srv/ils.sqlite"\n',
    )
    monkeypatch.chdir(tmp_path)  # the working folder must not matter
    config = load_config(Path("etc") / "kiosk.toml", environ={})
    assert config.source == path
    assert config.data_path() == folder / "state"
    assert config.store_path() == folder / "db" / "store.sqlite"
    assert config.demo_database_path() == Path("/srv/ils.sqlite")


def test_derived_files_live_in_the_data_dir(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f'[kiosk]\ndata_dir = "{tmp_path}/d"\n'), environ={})
    assert config.store_path() == tmp_path / "d" / "kiosk.sqlite"
    assert config.demo_database_path() == tmp_path / "d" / "demo-ils.sqlite"


# --- immutability and secrets -----------------------------------------------------------------


def test_config_is_frozen() -> None:
    config = load_config(default_config_path(), environ={})
    with pytest.raises(ValidationError):
        config.session.timeout_s = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.session = config.session  # type: ignore[misc]
    assert isinstance(config.kiosk.languages, tuple)
    assert config.session.timeout_s == 90


def test_secrets_never_appear_in_repr_or_str() -> None:
    config = load_config(EXAMPLE_BRANCH, environ=BRANCH_ENV)
    for text in (repr(config), str(config), repr(config.backend.sip2), str(config.central)):
        assert "s3cret-sip2" not in text
        assert "tok-central-42" not in text
    assert isinstance(config.central.token, SecretStr)


def test_secret_from_a_private_file(tmp_path: Path) -> None:
    secret = tmp_path / "sip2-password"
    secret.write_text("  from-file \n", encoding="utf-8")
    secret.chmod(0o600)
    text = MINIMAL_SIP2 + 'password = { file = "sip2-password" }\n'  # relative to the config
    config = load_config(write(tmp_path, text), environ={})
    assert config.backend.sip2 is not None and config.backend.sip2.password is not None
    assert config.backend.sip2.password.get_secret_value() == "from-file"


def test_plain_text_secret_is_allowed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL_SIP2 + 'password = "demo"\n'), environ={})
    assert config.backend.sip2 is not None and config.backend.sip2.password is not None
    assert config.backend.sip2.password.get_secret_value() == "demo"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_world_readable_secret_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("tok", encoding="utf-8")
    secret.chmod(0o644)
    text = f'[central]\nurl = "https://c.example.org"\ntoken = {{ file = "{secret}" }}\n'
    message = config_error(tmp_path, text)
    assert "central.token" in message
    assert f"chmod 600 {secret}" in message
    assert "tok\n" not in message and "0644" in message


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL_SIP2 + 'password = { file = "nope" }\n')
    assert "backend.sip2.password" in message
    assert str(tmp_path / "nope") in message and "does not exist" in message


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL_SIP2 + 'password = { env = "KIOSK_PW" }\n')
    assert "backend.sip2.password: environment variable KIOSK_PW is not set" in message


def test_secret_table_of_the_wrong_shape(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL_SIP2 + 'password = { env = "A", file = "b" }\n')
    assert "backend.sip2.password" in message and "{ env =" in message


def test_secret_value_is_not_echoed_in_errors(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL_SIP2 + 'password = "pa|ss"\n')
    assert "backend.sip2.password" in message and '"|"' in message
    assert "pa|ss" not in message


# --- one clear message per kind of mistake ----------------------------------------------------


def test_out_of_range_example_from_the_issue(tmp_path: Path) -> None:
    path = write(tmp_path, "[session]\nwarning_s = 5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        f"{path}: session.warning_s: must be at least 20 (seconds of warning before logout), got 5"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown keys: typo, nested, section
        ("[session]\ntimout_s = 90\n", ["session.timout_s: unknown key", 'mean "timeout_s"']),
        ("[backend.sip2]\nhost = 'h'\nprot = 1\n", ["backend.sip2.prot: unknown key", '"port"']),
        ("[sesion]\ntimeout_s = 90\n", ["sesion: unknown section", 'mean "session"']),
        ("colour = 1\n", ["colour: unknown key", "[kiosk]"]),
        # wrong types: no quiet conversion
        ('[session]\ntimeout_s = "90"\n', ["session.timeout_s: must be a whole number", '"90"']),
        ("[session]\ntimeout_s = 90.0\n", ["session.timeout_s: must be a whole number"]),
        ('[display]\nfullscreen = "yes"\n', ["display.fullscreen: must be true or false"]),
        ("[display]\nfullscreen = 1\n", ["display.fullscreen: must be true or false", "got 1"]),
        ("[kiosk]\nname = 5\n", ["kiosk.name: must be text in quotes", "got 5"]),
        ('[kiosk]\nlanguages = "sl"\n', ["kiosk.languages: must be a list"]),
        ("session = 5\n", ["session: must be a table"]),
        ("[security]\nafi_on_loan = 1979-05-27\n", ["security.afi_on_loan", "date"]),
        ("[backend.sip2]\nhost='h'\ntimeout_s = nan\n", ["backend.sip2.timeout_s", "finite"]),
        # out of range and choices
        ("[session]\ntimeout_s = 5\n", ["session.timeout_s: must be between 30 and 1800"]),
        ("[security]\nafi_in_library = 256\n", ["security.afi_in_library", "0 and 255"]),
        ("[backend.sip2]\nhost='h'\ntimeout_s = 0.1\n", ["between 0.5 and 120", "got 0.1"]),
        ('[backend]\nkind = "koha"\n', ['backend.kind: must be one of "demo", "sip2"']),
        ('[kiosk]\nlanguages = ["sl", "de"]\n', ["kiosk.languages[1]", '"hu"', '"de"']),
        ("[identify]\nmethods = []\n", ["identify.methods: must list at least 1 value"]),
        ('[kiosk]\nname = ""\n', ["kiosk.name: must not be empty"]),
        ('[display]\ndev_tray_key = "F 12"\n', ["display.dev_tray_key", "lowercase key"]),
        ('[devices]\nrfid = "feigg:/dev/x"\n', ["devices.rfid", '"feigg:"', '"feig:"']),
        ('[devices]\nprinter = "usb"\n', ["devices.printer", '"escpos-usb:"']),
        ('[devices]\ncard_reader = ""\n', ["devices.card_reader", "scheme:details"]),
        ('[central]\nurl = "ftp://x"\n', ["central.url", "http(s) URL"]),
        ('[backend.sip2]\nhost = "sip2://h:6001"\n', ["backend.sip2.host", "without scheme"]),
        ('[backend.sip2]\nhost = "h"\nlocation_code = "A|B"\n', ["location_code", '"|"']),
        ("[backend.sip2]\nport = 1\n", ["backend.sip2.host: is required"]),
        # rules across fields
        ("[session]\ntimeout_s = 60\nwarning_s = 60\n", ["session.warning_s", "less than"]),
        ("[session]\nwarning_s = 50\n", ["session.summary_timeout_s", "more than"]),
        ("[identify]\npin_length_min = 6\npin_length_max = 5\n", ["identify.pin_length_max"]),
        ('[kiosk]\nlanguages = ["en"]\n', ["kiosk.default_language", "kiosk.languages"]),
        ('[kiosk]\nlanguages = ["en", "en"]\ndefault_language = "en"\n', ["kiosk.languages"]),
        ('[identify]\nmethods = ["card", "card"]\n', ['identify.methods: lists "card" twice']),
        ("[security]\nafi_on_loan = 7\n", ["security.afi_on_loan", "differ"]),
        ('[backend]\nkind = "sip2"\n', ['backend.sip2: is required when backend.kind = "sip2"']),
        ("[backend.sip2]\nhost = 'h'\nusername = 'u'\n", ["backend.sip2.password: is required"]),
        (
            '[central]\nurl = "http://c.example.org"\ntoken = "t"\n',
            ["central.url", "https://"],
        ),
    ],
)
def test_each_mistake_names_key_and_expectation(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    message = config_error(tmp_path, text)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_several_mistakes_are_listed_one_per_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[session]\ntimeout_s = 5\n[display]\nwidth = 1\n")
    lines = message.splitlines()
    assert len(lines) == 2
    assert "session.timeout_s" in lines[0] and "display.width" in lines[1]


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[kiosk]\nname = "ok"\nbranch = = "x"\n')
    assert "line 3, column" in message and "not valid TOML" in message


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[session]\ntimeout_s = 90\ntimeout_s = 91\n")
    assert "line 3" in message


def test_unterminated_file_says_end_of_file(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[kiosk]\nlanguages = ["sl",')
    assert "end of file" in message


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_bytes(b'[kiosk]\nname = "Knji\x9enica"\n')
    with pytest.raises(ConfigError, match=r"line 2: not UTF-8"):
        load_config(path, environ={})


def test_bom_from_windows_editors_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_bytes(b'\xef\xbb\xbf[kiosk]\nname = "x"\n')
    assert load_config(path, environ={}).kiosk.name == "x"


def test_missing_file_is_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: configuration file not found")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_module_prints_the_reference(capsys) -> None:
    assert main(["--reference"]) == 0
    assert capsys.readouterr().out == config_reference_markdown()
    assert main(["something.toml"]) == 2


# --- the reference stays in step with the models ----------------------------------------------


def _sections(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        candidates = getattr(annotation, "__args__", (annotation,))
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                section = f"{prefix}{name}"
                found.append((section, candidate))
                found += _sections(candidate, section + ".")
    return found


def test_reference_mentions_every_key_of_every_section() -> None:
    reference = config_reference_markdown()
    sections = _sections(KioskConfig)
    assert {s for s, _ in sections} >= {"kiosk", "session", "backend.sip2", "store"}
    for section, model in sections:
        heading = f"### `[{section}]`"
        assert heading in reference, heading
        block = reference.split(heading, 1)[1].split("### ", 1)[0]
        for name, info in model.model_fields.items():
            if f"### `[{section}.{name}]`" in reference:
                continue  # a sub-table, documented under its own heading
            row = next((r for r in block.splitlines() if r.startswith(f"| `{name}` |")), None)
            assert row is not None, f"{section}.{name} missing from the reference"
            assert info.description and info.description in row


def test_reference_shows_ranges_and_defaults() -> None:
    reference = config_reference_markdown()
    assert "| `timeout_s` | integer | `90` | 30 to 1800 |" in reference
    assert "| `host` | text | *required* |" in reference
    assert "| `afi_on_loan` | integer | `0xC2` | 0 to 255; differs from `afi_in_library` |" in (
        reference
    )
    assert "scheme one of `bibliotheca:`, `feig:`, `none:`, `sim:`" in reference


# --- hypothesis: nothing but ConfigError ever escapes ----------------------------------------

toml_scalars = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "sim:", "none", "feig:/dev/x", "sl", "card", "sip2", "demo", "utf-8"]),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-5, max_value=2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.fixed_dictionaries({"env": st.sampled_from(["PW", "MISSING", ""])}),
        st.fixed_dictionaries({"file": st.text(max_size=10)}),
    ),
    max_leaves=8,
)


def _known_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        keys.append((*prefix, name))
        for candidate in getattr(info.annotation, "__args__", (info.annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys += _known_keys(candidate, (*prefix, name))
    return keys


KNOWN_KEYS = _known_keys(KioskConfig)
key_paths = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.tuples(st.sampled_from([k[0] for k in KNOWN_KEYS]), st.text(min_size=1, max_size=8)),
)


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = {}
            data[part] = child
        data = child
    data[path[-1]] = value


def _check_outcome(data: dict[str, Any]) -> None:
    try:
        config = parse_config(data, source="/tmp/fuzz/kiosk.toml", environ={"PW": "x"})
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("/tmp/fuzz/kiosk.toml: ")
        for word in JARGON:
            assert word not in message
    else:
        assert isinstance(config, KioskConfig)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(key_paths, toml_values), max_size=4))
def test_mutated_configs_only_raise_config_error(changes: list) -> None:
    data: dict[str, Any] = {
        "backend": {"kind": "sip2", "sip2": {"host": "h", "username": "u", "password": "p"}}
    }
    for path, value in changes:
        _put(data, path, value)
    _check_outcome(data)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), toml_values, max_size=5))
def test_random_tables_only_raise_config_error(data: dict[str, Any]) -> None:
    _check_outcome(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("[]=.\"'{},\n #abc0x1_-")), max_size=60))
def test_random_toml_text_only_raises_config_error(text: str) -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        path = write(folder, text)
        try:
            load_config(path, environ={})
        except ConfigError as exc:
            assert str(exc).startswith(str(path))
    finally:
        shutil.rmtree(folder)


@settings(max_examples=200, deadline=None)
@given(
    timeout=st.integers(0, 2000),
    warning=st.integers(0, 2000),
    summary=st.integers(0, 700),
    walkaway=st.integers(0, 2000),
)
def test_session_rules_hold_exactly(
    timeout: int, warning: int, summary: int, walkaway: int
) -> None:
    data = {
        "session": {
            "timeout_s": timeout,
            "warning_s": warning,
            "summary_timeout_s": summary,
            "walkaway_s": walkaway,
        }
    }
    valid = (
        30 <= timeout <= 1800
        and 20 <= warning < timeout
        and 25 <= summary <= 600
        and summary > warning
        and 25 <= walkaway <= 1800
        and walkaway > warning
    )
    try:
        config = parse_config(data, source="k.toml", environ={})
    except ConfigError as exc:
        assert not valid, str(exc)
        assert "session." in str(exc)
    else:
        assert valid
        assert (config.session.timeout_s, config.session.warning_s) == (timeout, warning)


@settings(max_examples=100, deadline=None)
@given(low=st.integers(0, 15), high=st.integers(0, 15))
def test_pin_length_rules_hold_exactly(low: int, high: int) -> None:
    data = {"identify": {"pin_length_min": low, "pin_length_max": high}}
    valid = 3 <= low <= high <= 12
    try:
        parse_config(data, source="k.toml", environ={})
    except ConfigError as exc:
        assert not valid, str(exc)
        assert "identify.pin_length_m" in str(exc)
    else:
        assert valid


def test_odd_key_names_are_quoted_in_messages(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[kiosk]\n"my key" = 1\n')
    assert 'kiosk."my key": unknown key' in message


def test_quoted_number_gets_a_hint_but_other_text_does_not(tmp_path: Path) -> None:
    assert "without quotes" in config_error(tmp_path, '[store]\nretention_days = "30"\n')
    assert "without quotes" not in config_error(tmp_path, '[store]\nretention_days = "a"\n')


def test_date_values_are_shown_plainly(tmp_path: Path) -> None:
    data = {"kiosk": {"name": dt.date(2025, 6, 28)}}
    with pytest.raises(ConfigError, match=r"kiosk\.name: must be text in quotes.*2025-06-28"):
        parse_config(data, source=tmp_path / "k.toml", environ={})


def test_misspelt_secret_key_does_not_echo_the_secret(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL_SIP2 + 'pasword = "hunter2"\n')
    assert 'backend.sip2.pasword: unknown key (did you mean "password"?)' in message
    assert "hunter2" not in message


# --- [identify.card]: how card numbers reach the library system ------------------------------


def test_card_rules_default_to_passing_cards_unchanged(tmp_path: Path) -> None:
    from kiosk.cardid import CardRules, normalise

    card = load_config(write(tmp_path, ""), environ={}).identify.card
    rules = CardRules(**card.model_dump())
    assert rules == CardRules()
    assert normalise("0100123456", "sim", rules) == "0100123456"
    assert normalise("04A1B2C3", "nfc", rules) == "04A1B2C3"


def test_card_rules_table_is_read(tmp_path: Path) -> None:
    text = (
        "[identify.card]\n"
        'prefix = "MB"\nrequire_prefix = true\nkeep_prefix = false\nremove = " -"\n'
        'check_digit = "luhn"\nuid_order = "reversed"\nuid_format = "decimal"\n'
        "pad_to = 10\nmin_length = 4\nmax_length = 12\n"
    )
    card = load_config(write(tmp_path, text), environ={}).identify.card
    assert (card.prefix, card.require_prefix, card.keep_prefix, card.remove) == (
        "MB",
        True,
        False,
        " -",
    )
    assert (card.check_digit, card.uid_order, card.uid_format) == ("luhn", "reversed", "decimal")
    assert (card.pad_to, card.min_length, card.max_length) == (10, 4, 12)


def test_the_commented_card_rules_example_is_valid() -> None:
    """The example in example-branch.toml works when a technician uncomments it."""
    lines = EXAMPLE_BRANCH.read_text(encoding="utf-8").splitlines()
    start = lines.index("# [identify.card]")
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    data = tomllib.loads("\n".join(block))
    config = parse_config(data, source=EXAMPLE_BRANCH, environ={})
    assert config.identify.card.prefix == "MB" and config.identify.card.pad_to == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('prefix = "M-B"\n', ["identify.card.prefix: must be up to 8 letters", '"M-B"']),
        ('prefix = "MARIBOR12"\n', ["identify.card.prefix: must be up to 8 letters"]),
        ("require_prefix = true\n", ["identify.card.require_prefix: needs identify.card.prefix"]),
        ("keep_prefix = true\n", ["identify.card.keep_prefix: needs identify.card.prefix"]),
        ('prefix = "MB"\nkeep_prefix = "yes"\n', ["identify.card.keep_prefix: must be true or"]),
        ('remove = " 0"\n', ["identify.card.remove: may hold only spaces and punctuation"]),
        ('remove = "\\t"\n', ["identify.card.remove: may hold only spaces and punctuation"]),
        ('check_digit = "crc"\n', ['identify.card.check_digit: must be one of "none", "luhn"']),
        ('uid_order = "lsb"\n', ['identify.card.uid_order: must be one of "as_read"']),
        ('uid_format = "dec"\n', ['identify.card.uid_format: must be one of "hex", "decimal"']),
        ("pad_to = 65\n", ["identify.card.pad_to: must be between 0 and 64", "got 65"]),
        ('pad_to = "10"\n', ["identify.card.pad_to: must be a whole number", "without quotes"]),
        ("pad_to = 40\n", ["identify.card.pad_to: must be at most identify.card.max_length"]),
        ("min_length = 0\n", ["identify.card.min_length: must be between 1 and 64"]),
        (
            "min_length = 12\nmax_length = 10\n",
            ["identify.card.max_length: must be at least identify.card.min_length = 12"],
        ),
        ('prefx = "MB"\n', ["identify.card.prefx: unknown key", 'mean "prefix"', "uid_order"]),
    ],
)
def test_card_rules_mistakes_name_key_and_expectation(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    message = config_error(tmp_path, "[identify.card]\n" + text)
    assert len(message.splitlines()) == 1, message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_card_rules_must_be_a_table(tmp_path: Path) -> None:
    assert "identify.card: must be a table" in config_error(tmp_path, "[identify]\ncard = 5\n")
