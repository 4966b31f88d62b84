"""The device side in systemd/: the units pass `systemd-analyze verify` and carry the
watchdog and hardening they promise, the udev rules parse and name the right devices,
and install.sh is idempotent, never overwrites a configuration and uninstalls cleanly.

The install test really creates a venv with pip (about ten seconds)."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kiosk import updates
from tests.test_updates import build_wheel

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = REPO / "systemd"
UNIT = SYSTEMD / "kiosk.service"
UNITS = ("kiosk.service", "kiosk-update.service", "kiosk-update.path")
RULES = SYSTEMD / "99-library-kiosk.rules"
INSTALL = SYSTEMD / "install.sh"
DATA_DIR = "/var/lib/library-kiosk"


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """[section] -> (key, value) in order; keys repeat (DeviceAllow=, ExecStartPre=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [v for k, v in unit_entries(path)[section] if k == key]


def one(path: Path, section: str, key: str) -> str:
    found = values(path, section, key)
    assert len(found) == 1, f"{key}= appears {len(found)} times in [{section}]"
    return found[0]


# --- what the kiosk unit promises ---------------------------------------------------------


def test_the_kiosk_unit_is_a_notify_service_with_a_watchdog_that_never_gives_up() -> None:
    assert one(UNIT, "Service", "Type") == "notify"
    assert one(UNIT, "Service", "NotifyAccess") == "main"
    assert int(one(UNIT, "Service", "WatchdogSec")) >= 10
    assert one(UNIT, "Service", "Restart") == "always"
    assert int(one(UNIT, "Service", "RestartSec")) > 0
    assert one(UNIT, "Unit", "StartLimitIntervalSec") == "0"  # no start limit: retries forever


def test_the_kiosk_unit_runs_the_current_release_unprivileged() -> None:
    assert one(UNIT, "Service", "User") == "kiosk"
    groups = one(UNIT, "Service", "SupplementaryGroups").split()
    assert set(groups) == {"input", "video", "render", "dialout", "plugdev", "audio"}
    run = "/opt/library-kiosk/current/venv/bin/kiosk"
    assert one(UNIT, "Service", "ExecStart") == (
        f"{run} run --config /etc/library-kiosk/kiosk.toml"
    )
    pre = values(UNIT, "Service", "ExecStartPre")
    # First the updater's check (as root, never blocking), then the configuration check.
    assert pre == [
        f"-+{run} update recover",
        f"{run} check-config /etc/library-kiosk/kiosk.toml",
    ]
    env = values(UNIT, "Service", "Environment")
    assert "SDL_VIDEODRIVER=kmsdrm" in env
    assert one(UNIT, "Service", "EnvironmentFile") == "-/etc/library-kiosk/environment"
    assert one(UNIT, "Service", "StandardError") == "journal"


def test_the_kiosk_unit_writes_only_its_data_folder() -> None:
    assert one(UNIT, "Service", "ProtectSystem") == "strict"
    assert one(UNIT, "Service", "ReadWritePaths") == DATA_DIR
    assert one(UNIT, "Service", "StateDirectory") == "library-kiosk"
    # The example configuration and the updater agree on where that is.
    example = tomllib.loads((REPO / "config" / "example-branch.toml").read_text())
    assert example["kiosk"]["data_dir"] == DATA_DIR
    watched = one(SYSTEMD / "kiosk-update.path", "Path", "PathExists")
    assert watched == f"{DATA_DIR}/{updates.REQUEST_FILE}"


def test_the_kiosk_unit_is_hardened_without_losing_its_devices() -> None:
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "RestrictRealtime": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "DevicePolicy": "closed",
        "PrivateDevices": "no",  # =yes would hide the GPU, input, serial ports and sound
    }
    for key, value in expected.items():
        assert one(UNIT, "Service", key) == value, key
    allowed = {v.split()[0] for v in values(UNIT, "Service", "DeviceAllow")}
    assert {
        "char-drm",
        "char-input",
        "char-usb_device",
        "char-ttyUSB",
        "char-ttyACM",
        "char-alsa",
    } <= allowed
    assert all(v.split()[1] == "rw" for v in values(UNIT, "Service", "DeviceAllow"))


# --- systemd-analyze verify ----------------------------------------------------------------

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def verify_root(tmp_path: Path, sources: dict[str, str]) -> Path:
    """A root where the units' programs exist, so verify checks everything: the units in
    /etc/systemd/system, systemd's own units beside them, an executable kiosk."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for name, text in sources.items():
        (units / name).write_text(text)
    program = root / "opt/library-kiosk/current/venv/bin/kiosk"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return root


def analyze(root: Path, names: tuple[str, ...] = UNITS) -> subprocess.CompletedProcess[str]:
    units = [str(root / "etc/systemd/system" / name) for name in names]
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "--man=no", *units],
        capture_output=True,
        text=True,
        check=False,
    )


@needs_systemd
def test_systemd_analyze_verify_passes_on_every_unit(tmp_path: Path) -> None:
    root = verify_root(tmp_path, {name: (SYSTEMD / name).read_text() for name in UNITS})
    done = analyze(root)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_systemd
@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("Restart=always", "Restartt=always"), "Unknown key"),
        (("WatchdogSec=30", "WatchdogSec=thirty"), "Failed to parse sec value"),
        (("DeviceAllow=char-drm rw", "DeviceAllow=char-drm rwz"), "Invalid device rights"),
        (("Type=notify", "Type=notifyy"), "Failed to parse service type"),
    ],
)
def test_verify_would_notice_a_broken_unit(
    tmp_path: Path, change: tuple[str, str], complaint: str
) -> None:
    broken = UNIT.read_text().replace(*change)
    assert broken != UNIT.read_text()
    done = analyze(verify_root(tmp_path, {"kiosk.service": broken}), ("kiosk.service",))
    assert complaint in done.stderr


# --- udev rules ----------------------------------------------------------------------------

MATCH_ONLY = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER"}
MATCH_ONLY |= {"DRIVERS", "ATTRS", "TAGS", "TEST", "PROGRAM", "RESULT", "CONST"}
ASSIGN_ONLY = {"OWNER", "GROUP", "MODE", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS", "SECLABEL"}
BOTH = {"NAME", "SYMLINK", "ATTR", "ENV", "TAG", "SYSCTL"}
TAKES_ATTRIBUTE = {"ATTR", "ATTRS", "ENV", "TEST", "IMPORT", "SYSCTL", "SECLABEL", "CONST"}
PARENT_KEYS = {"KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS"}
PAIR = re.compile(
    r"\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"
    r'"(?P<value>(?:[^"\\]|\\.)*)"\s*(?P<sep>,|$)'
)


@dataclass(frozen=True)
class Pair:
    key: str
    attr: str | None
    op: str
    value: str


def parse_rules(text: str) -> list[list[Pair]]:
    """udev's rules syntax, checked: KEY[{attr}]OP"value" pairs, comma separated, each key
    with an operator it accepts. Raises ValueError naming the line."""
    rules = []
    for number, line in enumerate(text.replace("\\\n", "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            found = PAIR.match(line, pos)
            if found is None:
                raise ValueError(f"line {number}: cannot parse at {line[pos:]!r}")
            key, attr, op = found["key"], found["attr"], found["op"]
            if key not in MATCH_ONLY | ASSIGN_ONLY | BOTH:
                raise ValueError(f"line {number}: unknown key {key}")
            if (attr is not None) != (key in TAKES_ATTRIBUTE) and key != "RUN":
                raise ValueError(f"line {number}: {key} and its {{attribute}} do not fit")
            matching = op in ("==", "!=")
            if (matching and key in ASSIGN_ONLY) or (not matching and key in MATCH_ONLY):
                raise ValueError(f"line {number}: {key} cannot take {op}")
            pairs.append(Pair(key, attr, op, found["value"]))
            pos = found.end()
        rules.append(pairs)
    labels = {p.value for rule in rules for p in rule if p.key == "LABEL"}
    gotos = {p.value for rule in rules for p in rule if p.key == "GOTO"}
    if gotos - labels:
        raise ValueError(f"GOTO without LABEL: {sorted(gotos - labels)}")
    return rules


@dataclass
class Device:
    subsystem: str
    kernel: str
    attrs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    parents: list[dict[str, str]] = field(default_factory=list)  # USB device attributes
    action: str = "add"


@dataclass
class Outcome:
    symlinks: list[str] = field(default_factory=list)
    group: str | None = None
    mode: str | None = None


def _matches(pattern: str, value: str | None) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in pattern.split("|"))


def apply_rules(rules: list[list[Pair]], device: Device) -> Outcome:
    """What udev would do with the device: enough of its semantics for these rules."""
    result, skip_to = Outcome(), None
    for rule in rules:
        if skip_to is not None:
            if any(p.key == "LABEL" and p.value == skip_to for p in rule):
                skip_to = None
            continue
        own = {
            "ACTION": device.action,
            "SUBSYSTEM": device.subsystem,
            "KERNEL": device.kernel,
        }
        ok = True
        for p in rule:
            if p.op not in ("==", "!=") or p.key in PARENT_KEYS:
                continue
            value = {"ATTR": device.attrs, "ENV": device.env}.get(p.key, own)
            found = value.get(p.attr or p.key)
            if _matches(p.value, found) != (p.op == "=="):
                ok = False
        parent_keys = [p for p in rule if p.key in PARENT_KEYS]
        if parent_keys:  # all of them on one device up the chain
            chain = [device.attrs, *device.parents]
            ok = ok and any(
                all(
                    _matches(p.value, node.get(p.attr or "")) == (p.op == "==") for p in parent_keys
                )
                for node in chain
            )
        if not ok:
            continue
        for p in rule:
            if p.key == "SYMLINK" and p.op == "+=":
                result.symlinks += p.value.split()
            elif p.key == "GROUP":
                result.group = p.value
            elif p.key == "MODE":
                result.mode = p.value
            elif p.key == "GOTO":
                skip_to = p.value
    return result


@pytest.fixture(scope="module")
def rules() -> list[list[Pair]]:
    return parse_rules(RULES.read_text())


def usb(vendor: str, product: str, **more: str) -> dict[str, str]:
    return {"idVendor": vendor, "idProduct": product, **more}


@pytest.mark.parametrize(
    ("device", "symlinks", "group"),
    [
        (Device("tty", "ttyUSB0", parents=[usb("0ab1", "0002")]), ["kiosk-rfid"], "dialout"),
        (
            Device("tty", "ttyUSB1", parents=[usb("0403", "6001", manufacturer="FEIG ELECTRONIC")]),
            ["kiosk-rfid"],
            "dialout",
        ),
        (Device("tty", "ttyUSB0", parents=[usb("0403", "6001", manufacturer="FTDI")]), [], None),
        (Device("tty", "ttyUSB0", parents=[usb("10c4", "ea60")]), [], None),
        (Device("tty", "ttyACM0", parents=[usb("0c2e", "0b61")]), ["kiosk-scanner"], "dialout"),
        (Device("tty", "ttyACM0", parents=[usb("05e0", "1701")]), ["kiosk-scanner"], "dialout"),
        (Device("tty", "ttyACM1", parents=[usb("080c", "0300")]), ["kiosk-scanner"], "dialout"),
        (Device("tty", "ttyUSB0", parents=[usb("05e0", "1701")]), [], None),  # not CDC-ACM
        (
            Device(
                "input",
                "event5",
                env={"ID_INPUT_KEYBOARD": "1"},
                parents=[usb("0536", "02e1")],
            ),
            ["input/kiosk-scanner"],
            "input",
        ),
        (
            Device(
                "input", "event2", env={"ID_INPUT_KEYBOARD": "1"}, parents=[usb("046d", "c31c")]
            ),
            [],
            None,
        ),
        (Device("usbmisc", "lp0", parents=[usb("04b8", "0e28")]), ["kiosk-printer"], "plugdev"),
        (Device("usbmisc", "lp0", parents=[usb("0416", "5011")]), ["kiosk-printer"], "plugdev"),
        (Device("usbmisc", "lp0", parents=[usb("0416", "5012")]), [], None),
        (Device("tty", "ttyACM0", parents=[usb("0416", "5011")]), ["kiosk-printer"], "dialout"),
        (
            Device("usb", "1-1.2", attrs=usb("072f", "2200"), env={"DEVTYPE": "usb_device"}),
            ["kiosk-nfc"],
            "plugdev",
        ),
        (
            Device("usb", "1-1.2", attrs=usb("054c", "06c1"), env={"DEVTYPE": "usb_device"}),
            ["kiosk-nfc"],
            "plugdev",
        ),
        (
            Device("usb", "1-1.2:1.0", attrs=usb("072f", "2200"), env={"DEVTYPE": "usb_interface"}),
            [],
            None,
        ),
        (
            Device("usb", "1-1.4", attrs=usb("0ab1", "0002"), env={"DEVTYPE": "usb_device"}),
            [],
            "plugdev",
        ),
        (Device("tty", "ttyUSB0", parents=[usb("0ab1", "0002")], action="remove"), [], None),
    ],
)
def test_udev_rules_name_the_right_devices(
    rules: list[list[Pair]], device: Device, symlinks: list[str], group: str | None
) -> None:
    outcome = apply_rules(rules, device)
    assert outcome.symlinks == symlinks
    assert outcome.group == group
    assert outcome.mode == ("0660" if group else None)


def test_the_pinning_examples_in_the_rules_file_are_valid_rules() -> None:
    examples = [
        line.lstrip("# ").strip()
        for line in RULES.read_text().splitlines()
        if re.match(r"#\s+(SUBSYSTEM|KERNEL)", line)
    ]
    assert len(examples) >= 3
    pinned = parse_rules("\n".join(examples))
    serial = Device("tty", "ttyUSB3", parents=[usb("0403", "6001", serial="A10KXYZ1")])
    assert apply_rules(pinned, serial).symlinks == ["kiosk-rfid"]
    other = Device("tty", "ttyUSB3", parents=[usb("0403", "6001", serial="B20")])
    assert apply_rules(pinned, other).symlinks == []


@pytest.mark.parametrize(
    "bad",
    [
        'SUBSYSTEM="tty", SYMLINK+="x"',  # assignment to a match-only key
        'GROUP=="dialout"',  # comparison on an assign-only key
        'SUBSYSTEM=="tty" SYMLINK+="x"',  # missing comma
        'ATTRS=="0ab1"',  # ATTRS without {attribute}
        'SUBSYTEM=="tty"',  # misspelt key
        'SUBSYSTEM=="tty", GOTO="nowhere"',  # no such LABEL
        'SUBSYSTEM=="tty, SYMLINK+="x"',  # unbalanced quotes
    ],
)
def test_the_rules_check_can_fail(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(bad)


def _udevadm_verifies() -> bool:
    if shutil.which("udevadm") is None:
        return False
    done = subprocess.run(["udevadm", "verify", "--help"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _udevadm_verifies(), reason="udevadm verify needs systemd 253 or newer")
def test_udevadm_verify_accepts_the_rules() -> None:
    done = subprocess.run(
        ["udevadm", "verify", "--resolve-names=never", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- install.sh ------------------------------------------------------------------------------


def run_install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(INSTALL), *args], capture_output=True, text=True, timeout=600, check=False
    )


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root with its kind, mode and content (or link target)."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                what = "-> " + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                what = "dir"
            else:
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            seen[str(path.relative_to(root))] = f"{stat.S_IMODE(info.st_mode):o} {what}"
    return seen


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_install_script_is_clean_posix_sh() -> None:
    done = subprocess.run(
        ["shellcheck", "-s", "sh", str(INSTALL)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_install_script_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    done = run_install("--frobnicate")
    assert done.returncode == 2 and "unknown option --frobnicate" in done.stderr
    done = run_install("--root", str(tmp_path / "missing"))
    assert done.returncode == 2 and "--root: no such folder" in done.stderr
    done = run_install("--purge")
    assert done.returncode == 2 and "--purge goes with --uninstall" in done.stderr
    assert run_install("--help").returncode == 0


def test_a_dry_run_says_everything_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    wheel = build_wheel(tmp_path / "wheels", "9.9.9")
    done = run_install("--root", str(root), "--source", str(wheel), "--dry-run")
    assert done.returncode == 0, done.stderr
    for action in (
        "would install release 9.9.9 into /opt/library-kiosk/releases/9.9.9",
        "would point /opt/library-kiosk/current at releases/9.9.9",
        "would create /etc/library-kiosk/kiosk.toml",
        "would create /etc/library-kiosk/environment",
        "would create folder /var/lib/library-kiosk",
        "would install /etc/systemd/system/kiosk.service",
        "would install /etc/udev/rules.d/99-library-kiosk.rules",
        "would enable kiosk.service",
        "would enable kiosk-update.path",
        "changes to make (dry run: nothing was changed)",
    ):
        assert action in done.stdout, action
    assert list(root.iterdir()) == []


@pytest.fixture(scope="module")
def installed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One real install into a throwaway root (the venv takes its time)."""
    base = tmp_path_factory.mktemp("install")
    root = base / "root"
    root.mkdir()
    wheels = base / "wheels"
    wheel = build_wheel(wheels, "9.9.9")
    args = ["--root", str(root), "--source", str(wheel), "--wheelhouse", str(wheels)]
    first = run_install(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "install release 9.9.9" in first.stdout
    return root, args


@pytest.fixture
def installed(installed_once: tuple[Path, list[str]], tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of that install for one test to change as it likes."""
    root, args = installed_once
    copy = tmp_path / "root"
    shutil.copytree(root, copy, symlinks=True)
    return copy, [*args[:1], str(copy), *args[2:]]


def test_install_lays_out_a_kiosk_and_a_second_run_changes_nothing(
    installed: tuple[Path, list[str]],
) -> None:
    root, args = installed
    release = root / "opt/library-kiosk/releases/9.9.9"
    said = subprocess.run([str(release / "venv/bin/kiosk"), "--version"], capture_output=True)
    assert said.stdout.decode().strip() == "kiosk 9.9.9"
    assert updates.Layout(root / "opt/library-kiosk").current_version() == "9.9.9"
    assert updates.Layout(root / "opt/library-kiosk").is_installed("9.9.9")
    etc = root / "etc/library-kiosk"
    assert (etc / "kiosk.toml").read_text() == (REPO / "config/example-branch.toml").read_text()
    assert stat.S_IMODE((etc / "environment").stat().st_mode) == 0o600
    assert stat.S_IMODE((etc / "kiosk.toml").stat().st_mode) == 0o640
    assert updates.allowed_sources(etc / "update-sources") == []  # nothing allowed yet
    assert stat.S_IMODE((root / DATA_DIR.lstrip("/")).stat().st_mode) == 0o750
    for name in UNITS:
        assert (root / "etc/systemd/system" / name).read_text() == (SYSTEMD / name).read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == ["kiosk-update.path", "kiosk.service"]
    assert (root / "etc/udev/rules.d/99-library-kiosk.rules").read_text() == RULES.read_text()
    assert "blacklist pn533_usb" in (root / "etc/modprobe.d/library-kiosk-nfc.conf").read_text()

    before = snapshot(root)
    (etc / "kiosk.toml").write_text("# the technician's own configuration\n")
    (etc / "kiosk.toml").chmod(0o640)
    before["etc/library-kiosk/kiosk.toml"] = snapshot(root)["etc/library-kiosk/kiosk.toml"]
    again = run_install(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 changes made"
    assert snapshot(root) == before  # idempotent, and kiosk.toml was left alone


def test_uninstall_keeps_data_and_configuration_unless_purged(
    installed: tuple[Path, list[str]],
) -> None:
    root, _ = installed
    (root / DATA_DIR.lstrip("/") / "kiosk.sqlite").write_bytes(b"patrons' loans")
    done = run_install("--root", str(root), "--uninstall")
    assert done.returncode == 0, done.stderr
    assert not (root / "opt/library-kiosk").exists()
    assert not any((root / "etc/systemd/system").rglob("kiosk*"))
    assert not (root / "etc/udev/rules.d/99-library-kiosk.rules").exists()
    assert not (root / "etc/modprobe.d/library-kiosk-nfc.conf").exists()
    assert (root / DATA_DIR.lstrip("/") / "kiosk.sqlite").read_bytes() == b"patrons' loans"
    assert (root / "etc/library-kiosk/kiosk.toml").exists()
    assert "kept /var/lib/library-kiosk (--purge removes it)" in done.stdout

    again = run_install("--root", str(root), "--uninstall")
    assert again.stdout.splitlines()[-1] == "0 changes made"
    dry = run_install("--root", str(root), "--uninstall", "--purge", "--dry-run")
    assert "would remove /var/lib/library-kiosk" in dry.stdout
    assert (root / DATA_DIR.lstrip("/")).exists()
    purged = run_install("--root", str(root), "--uninstall", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not (root / "etc/library-kiosk").exists()
    assert not (root / DATA_DIR.lstrip("/")).exists()
