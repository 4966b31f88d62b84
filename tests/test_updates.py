"""Safe updates (kiosk/updates.py): releases side by side, migrations on a copy, the switch,
and the way back when a new release does not reach its first frame or stops answering
the watchdog. Real folders, real SQLite stores, real subprocesses, real pip for the
installs; the service is tests/test_watchdog_harness.py's systemd stand-in.

The switch tests start and stop kiosk processes and wait for deadlines of a few seconds,
so this file takes about a minute.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk import __version__, updates
from kiosk.store import Store
from kiosk.updates import Layout, Places, Timing, UpdateError
from tests.test_watchdog_harness import FAKE_KIOSK_BODY, WatchdogHarness, make_release

REPO = Path(__file__).resolve().parents[1]
QUICK = Timing(first_frame_s=8.0, probation_s=1.0, poll_s=0.05)


# --- helpers -------------------------------------------------------------------------------


def build_wheel(
    folder: Path,
    version: str,
    *,
    says: str | None = None,
    body: str | None = None,
    paths: tuple[str, ...] = (),
) -> Path:
    """A small but real wheel of library-kiosk whose console script `kiosk` answers
    --version (with `says` instead of the version, to play a broken build), or runs
    `body` (a stand-in kiosk); `paths` go into a .pth so the release can import them."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"library_kiosk-{version}.dist-info"
    module = "fake_kiosk_release"
    script = body or (
        "import sys\n"
        "def main():\n"
        f"    print('kiosk {says or version}') if sys.argv[1:] == ['--version'] else None\n"
        "    return 0\n"
    )
    if body is not None:
        header = f"VERSION = {version!r}\nBEHAVIOUR = 'good'\nEXTRA_REVISIONS = None\n"
        script = header + body.replace("\nsys.exit(main())\n", "\n")
    files = {
        f"{module}/__init__.py": script,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: library-kiosk\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\nkiosk = {module}:main\n",
    }
    if paths:
        files["fake_kiosk_release_paths.pth"] = "".join(f"{p}\n" for p in paths)
    record = [
        f"{name},sha256={_b64(hashlib.sha256(text.encode()).digest())},{len(text.encode())}"
        for name, text in files.items()
    ]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    wheel = folder / f"library_kiosk-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def extra_revision(folder: Path) -> Path:
    """Revision 9001 after this code's head: a table, and a column added to the outbox
    (the table rebuilt), as a real schema change would."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "9001_update_test.py").write_text(
        textwrap.dedent(f'''
            import sqlalchemy as sa
            from alembic import op

            revision = "9001"
            down_revision = "{Store.head_revision()}"
            branch_labels = None
            depends_on = None

            def upgrade():
                op.create_table("update_test", sa.Column("id", sa.Integer, primary_key=True))
                with op.batch_alter_table("outbox", recreate="always") as batch:
                    batch.add_column(sa.Column("note", sa.Text, nullable=True))

            def downgrade():
                pass
        '''),
        encoding="utf-8",
    )
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def revision(database: Path) -> str:
    con = sqlite3.connect(database)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


def outbox(database: Path) -> dict[str, str]:
    """client id -> payload, read with plain sqlite3 (whatever the schema revision)."""
    con = sqlite3.connect(database)
    try:
        return dict(con.execute("SELECT client_id, payload FROM outbox").fetchall())
    finally:
        con.close()


@dataclass
class Device:
    layout: Layout
    places: Places
    service: WatchdogHarness
    extra: Path
    original: str  # the database's bytes before release 1.0 started

    @property
    def database(self) -> Path:
        return self.places.database

    def healthy(self, version: str) -> bool:
        health = updates.read_health(self.places.data_dir)
        return bool(
            health
            and health.version == version
            and health.pings >= updates.MIN_PINGS
            and health.pid == self.service.main_pid()
        )


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    """Release 1.0 running under the harness, with three actions in its store."""
    layout = Layout(tmp_path / "opt")
    data = tmp_path / "data"
    (data / "control").mkdir(parents=True)
    places = Places(data, data / "kiosk.sqlite")
    with Store.open(places.database) as store:
        for item in ("a", "b", "c"):
            store.add_action("checkout", {"item": item})
    make_release(layout, "1.0")
    layout.point(layout.current_link, "1.0")
    command = [str(layout.root / "current/venv/bin/kiosk"), "run", str(data)]
    service = WatchdogHarness(command, watchdog_s=0.6)
    extra = extra_revision(tmp_path / "extra")
    dev = Device(layout, places, service, extra, digest(places.database))
    service.start()
    service.wait_for(lambda: dev.healthy("1.0"))
    yield dev
    service.close()


# --- versions and sources ------------------------------------------------------------------


def test_the_version_of_each_kind_of_source(tmp_path: Path) -> None:
    assert updates.version_of_source(str(REPO)) == __version__
    wheel = build_wheel(tmp_path / "one", "2.1.0")
    assert updates.version_of_source(str(wheel)) == "2.1.0"
    assert updates.version_of_source(str(wheel.parent)) == "2.1.0"
    url = "https://updates.example.org/k/library_kiosk-2.2rc1-py3-none-any.whl?token=x"
    assert updates.version_of_source(url) == "2.2rc1"
    build_wheel(tmp_path / "one", "2.0.0")
    with pytest.raises(UpdateError, match=r"several kiosk releases \(2\.0\.0, 2\.1\.0\)"):
        updates.version_of_source(str(wheel.parent))
    with pytest.raises(UpdateError, match="not a kiosk wheel"):
        updates.version_of_source(str(tmp_path / "nothing-here"))
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(UpdateError, match="not a wheel file name"):
        updates.version_of_source(str(tmp_path / "notes.txt"))


@given(st.text(max_size=80))
def test_a_version_is_always_a_safe_folder_name(text: str) -> None:
    try:
        checked = updates.check_version(text)
    except UpdateError as exc:
        assert "not a release version" in str(exc)
        return
    assert "/" not in checked and "\0" not in checked and not checked.startswith(".")
    assert 1 <= len(checked) <= 64 and checked.isascii()


# --- installing -------------------------------------------------------------------------------


def test_install_a_wheel_beside_the_running_release(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    make_release(layout, "1.0")
    layout.point(layout.current_link, "1.0")
    wheel = build_wheel(tmp_path / "wheels", "2.0")

    assert updates.install_release(layout, wheel, with_pip=False) == "2.0"
    said = subprocess.run(
        [str(layout.kiosk_command("2.0")), "--version"], capture_output=True, text=True
    )
    assert said.stdout.strip() == "kiosk 2.0"
    assert layout.current_version() == "1.0"  # installing switches nothing
    assert layout.installed_versions() == ["1.0", "2.0"]
    stamp = (layout.release_dir("2.0") / "release.json").stat().st_mtime_ns
    assert updates.install_release(layout, wheel, with_pip=False) == "2.0"  # nothing to do
    assert (layout.release_dir("2.0") / "release.json").stat().st_mtime_ns == stamp


def test_a_release_that_is_not_what_it_says_is_removed(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    wheel = build_wheel(tmp_path / "wheels", "3.0", says="2.9")
    with pytest.raises(UpdateError, match=r"release 3\.0 was not installed: .*'kiosk 2\.9'"):
        updates.install_release(layout, wheel, with_pip=False)
    assert not layout.release_dir("3.0").exists()


def test_install_offline_from_a_folder_of_wheels(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    build_wheel(tmp_path / "usb-stick", "4.0")
    assert updates.install_release(layout, tmp_path / "usb-stick", with_pip=False) == "4.0"
    assert layout.is_installed("4.0")


def test_a_broken_wheel_leaves_nothing_behind(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    bad = tmp_path / "library_kiosk-5.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(UpdateError, match=r"release 5\.0 was not installed"):
        updates.install_release(layout, bad, with_pip=False)
    assert not layout.release_dir("5.0").exists()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "web"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def test_download_checks_the_checksum(tmp_path: Path, web: tuple[str, Path]) -> None:
    base, folder = web
    wheel = build_wheel(folder, "6.0")
    url = f"{base}/{wheel.name}"
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with pytest.raises(UpdateError, match="does not match its sha256"):
        updates.download(url, tmp_path / "dl", sha256="0" * 64)
    assert list((tmp_path / "dl").iterdir()) == []
    assert updates.download(url, tmp_path / "dl", sha256=good).read_bytes() == wheel.read_bytes()
    with pytest.raises(UpdateError, match="could not download"):
        updates.download(f"{base}/library_kiosk-6.1-py3-none-any.whl", tmp_path / "dl")


# --- requests from the app ----------------------------------------------------------------------


def test_the_app_asks_once_and_not_for_what_it_runs_or_what_failed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = "https://updates.example.org/k/"
    request = updates.apply_desired_version("2.0", source, data_dir=data, running="1.0")
    assert request == data / updates.REQUEST_FILE
    assert json.loads(request.read_text())["version"] == "2.0"
    stamp = request.stat().st_mtime_ns
    assert updates.apply_desired_version("2.0", source, data_dir=data, running="1.0") == request
    assert request.stat().st_mtime_ns == stamp  # the updater is not woken twice
    assert updates.apply_desired_version("1.0", source, data_dir=data, running="1.0") is None

    (data / updates.RESULT_FILE).write_text(json.dumps({"version": "3.0", "ok": False}))
    assert updates.apply_desired_version("3.0", source, data_dir=data, running="1.0") is None
    with pytest.raises(UpdateError, match="without a source"):
        updates.apply_desired_version("4.0", "", data_dir=data, running="1.0")
    with pytest.raises(UpdateError, match="not a release version"):
        updates.apply_desired_version("../../etc", source, data_dir=data, running="1.0")


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("https://u.example.org/kiosk/library_kiosk-2.0-py3-none-any.whl", True),
        ("https://u.example.org/kiosk-evil/library_kiosk-2.0-py3-none-any.whl", False),
        ("http://u.example.org/kiosk/library_kiosk-2.0-py3-none-any.whl", False),
        ("/media/usb/kiosk/library_kiosk-2.0-py3-none-any.whl", True),
        ("/media/usb/kiosk/../../../etc/x.whl", False),
        ("/media/usbkiosk/x.whl", False),
    ],
)
def test_only_listed_sources_are_installed_from_a_request(source: str, allowed: bool) -> None:
    listed = ["https://u.example.org/kiosk/", "/media/usb/kiosk"]
    assert updates.source_allowed(source, listed) is allowed


def test_allowed_sources_file(tmp_path: Path) -> None:
    listing = tmp_path / "update-sources"
    listing.write_text("# comment\n\nhttps://u.example.org/kiosk/\n  /media/usb  \n")
    assert updates.allowed_sources(listing) == ["https://u.example.org/kiosk/", "/media/usb"]
    assert updates.allowed_sources(tmp_path / "missing") == []


# --- switching, with the harness as the service -------------------------------------------------


def test_a_good_release_with_a_migration_is_switched_to_and_back(device: Device) -> None:
    make_release(device.layout, "2.0", extra_revisions=device.extra)
    before = outbox(device.database)

    outcome = updates.switch(device.layout, "2.0", device.places, device.service, QUICK)

    assert outcome.ok, outcome.message
    assert (device.layout.current_version(), device.layout.previous_version()) == ("2.0", "1.0")
    assert revision(device.database) == "9001"
    assert outbox(device.database) == before
    assert device.healthy("2.0")
    backups = list((device.database.parent / "updates").glob("kiosk.sqlite.before-2.0"))
    assert len(backups) == 1 and revision(backups[0]) == Store.head_revision()
    state = updates.read_state(device.layout)
    assert state["state"] == "committed" and state["to_version"] == "2.0"
    result = json.loads((device.places.data_dir / updates.RESULT_FILE).read_text())
    assert (result["version"], result["ok"]) == ("2.0", True)

    # Release 2.0 lends a book, then a technician goes back: 1.0 cannot read the 9001
    # schema, so the backup returns, with that loan carried over.
    with Store.open(device.database, version_locations=[device.extra]) as store:
        lent = store.add_action("checkout", {"item": "lent by 2.0"}).client_id

    back = updates.rollback(device.layout, device.places, device.service, QUICK)

    assert back.ok, back.message
    assert device.layout.current_version() == "1.0"
    assert revision(device.database) == Store.head_revision()
    assert set(outbox(device.database)) == {*before, lent}
    assert "1 outbox entries recorded meanwhile" in back.message
    device.service.wait_for(lambda: device.healthy("1.0"))


def test_no_rollback_to_a_release_that_would_refuse_the_database(device: Device) -> None:
    make_release(device.layout, "2.0", extra_revisions=device.extra)
    assert updates.switch(device.layout, "2.0", device.places, device.service, QUICK).ok
    for backup in (device.database.parent / "updates").glob("kiosk.sqlite.before-*"):
        backup.unlink()  # lost, say, to a full disk clean-up
    pid = device.service.main_pid()

    with pytest.raises(UpdateError, match=r"release 1\.0 cannot read the database"):
        updates.rollback(device.layout, device.places, device.service, QUICK)

    assert device.layout.current_version() == "2.0"
    assert device.service.main_pid() == pid  # not even stopped
    assert revision(device.database) == "9001"


def test_a_crashing_release_is_rolled_back_with_the_old_database_intact(device: Device) -> None:
    make_release(device.layout, "2.0", behaviour="crash", extra_revisions=device.extra)
    outcome = updates.switch(device.layout, "2.0", device.places, device.service, QUICK)

    assert not outcome.ok
    assert "release 2.0 failed: it was started" in outcome.message
    assert "Rolled back to 1.0." in outcome.message
    assert device.layout.current_version() == "1.0"
    assert device.layout.previous_version() is None
    device.service.wait_for(lambda: device.healthy("1.0"))  # the old release serves again
    device.service.stop()
    assert digest(device.database) == device.original  # the very same bytes
    assert revision(device.database) == Store.head_revision()
    kept = device.database.parent / "updates" / "kiosk.sqlite.failed-2.0"
    assert revision(kept) == "9001"  # what the new release had, for support
    assert updates.failed_versions(device.layout) == ["2.0"]
    # The central API asking again for 2.0 does not start the same failure again.
    data = device.places.data_dir
    assert updates.apply_desired_version("2.0", "/x", data_dir=data, running="1.0") is None


def test_a_release_that_stops_answering_the_watchdog_is_rolled_back_and_loses_nothing(
    device: Device,
) -> None:
    make_release(device.layout, "2.0", behaviour="record-then-hang", extra_revisions=device.extra)
    before = outbox(device.database)
    timing = Timing(first_frame_s=2.0, probation_s=1.0, poll_s=0.05)

    outcome = updates.switch(device.layout, "2.0", device.places, device.service, timing)

    assert not outcome.ok
    assert "release 2.0 failed" in outcome.message and "watchdog" in outcome.message
    assert device.layout.current_version() == "1.0"
    assert revision(device.database) == Store.head_revision()
    # Each start of 2.0 lent a book before its screen froze: all are carried over.
    now = outbox(device.database)
    during = {cid for cid, payload in now.items() if "lent during probation" in payload}
    assert during and set(now) == {*before, *during}
    assert device.service.seen("watchdog")


def test_a_release_that_never_shows_a_frame_is_rolled_back(device: Device) -> None:
    make_release(device.layout, "2.0", behaviour="silent")
    timing = Timing(first_frame_s=1.5, probation_s=1.0, poll_s=0.05)
    outcome = updates.switch(device.layout, "2.0", device.places, device.service, timing)
    assert not outcome.ok
    assert "did not show its first frame within 1.5 s" in outcome.message
    # Same schema: the database stays as it is, nothing to restore.
    assert "The database was kept" in outcome.message
    assert device.layout.current_version() == "1.0"


def test_a_release_whose_core_cannot_start_is_rolled_back(device: Device) -> None:
    # Its screen works and answers the watchdog, but it serves nobody.
    make_release(device.layout, "2.0", behaviour="out-of-service")
    outcome = updates.switch(device.layout, "2.0", device.places, device.service, QUICK)
    assert not outcome.ok
    assert "it is out of service (the library system refused the login)" in outcome.message
    assert device.layout.current_version() == "1.0"


def test_a_failing_migration_changes_nothing(device: Device) -> None:
    make_release(device.layout, "2.0", behaviour="bad-migration")
    outcome = updates.switch(device.layout, "2.0", device.places, device.service, QUICK)

    assert not outcome.ok
    assert "deliberately broken" in outcome.message
    assert "The database was not changed. Release 1.0 keeps running." in outcome.message
    assert device.layout.current_version() == "1.0"
    device.service.wait_for(lambda: device.healthy("1.0"))
    device.service.stop()
    assert digest(device.database) == device.original
    assert list((device.database.parent / "updates").iterdir()) == []


def test_a_switch_interrupted_by_a_power_cut_goes_back_at_the_next_start(
    device: Device,
) -> None:
    make_release(device.layout, "2.0", extra_revisions=device.extra)
    assert updates.switch(device.layout, "2.0", device.places, device.service, QUICK).ok
    device.service.stop()
    # As if the power went during probation: the state file still says so.
    state = updates.read_state(device.layout)
    state["state"] = "probation"
    device.layout.state_file.write_text(json.dumps(state))

    back = updates.recover(device.layout, device.places, updates.NoService(), Timing(0, 0))

    assert back is not None and not back.ok
    assert "the switch to 2.0 was interrupted" in back.message
    assert device.layout.current_version() == "1.0"
    assert revision(device.database) == Store.head_revision()
    assert updates.recover(device.layout, device.places, updates.NoService(), Timing(0, 0)) is None


def test_a_request_from_the_app_is_installed_and_switched_to(
    device: Device, tmp_path: Path
) -> None:
    site = next(p for p in map(Path, sys.path) if p.name == "site-packages")
    wheels = tmp_path / "usb-stick"
    build_wheel(wheels, "2.0", body=FAKE_KIOSK_BODY, paths=(str(site), str(REPO)))
    data = device.places.data_dir
    updates.apply_desired_version("2.0", str(wheels), data_dir=data, running="1.0")

    refused = updates.process_request(
        device.layout, device.places, device.service, QUICK, allowed=["/media/usb"]
    )
    assert refused is not None and not refused.ok and "not allowed" in refused.message
    assert not (data / updates.REQUEST_FILE).exists()  # taken, not retried in a loop

    assert updates.failed_versions(device.layout) == []  # a refusal is not a failure
    (data / updates.RESULT_FILE).unlink()  # the technician listed the source, asked again
    updates.apply_desired_version("2.0", str(wheels), data_dir=data, running="1.0")
    done = updates.process_request(
        device.layout, device.places, device.service, QUICK, allowed=[str(wheels)], with_pip=False
    )
    assert done is not None and done.ok, done and done.message
    assert device.layout.current_version() == "2.0"
    assert device.healthy("2.0")
    assert updates.process_request(device.layout, device.places, device.service, QUICK) is None


def test_switch_refuses_what_is_not_installed(device: Device) -> None:
    with pytest.raises(UpdateError, match=r"release 9\.9 is not installed"):
        updates.switch(device.layout, "9.9", device.places, device.service, QUICK)
    assert device.layout.current_version() == "1.0"
    assert device.service.main_pid() is not None


def test_one_update_at_a_time(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    with layout.locked(), pytest.raises(updates.UpdateBusy, match="another update"):  # noqa: SIM117
        with layout.locked():
            pass  # never reached: the second lock is refused at once


# --- the command ----------------------------------------------------------------------------


def kiosk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screens.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_update_status_and_migrate_commands(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    make_release(layout, "1.0")
    layout.point(layout.current_link, "1.0")
    data = tmp_path / "data"
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[kiosk]\ndata_dir = "{data}"\n[backend]\nkind = "sip2"\n[backend.sip2]\n'
        'host = "ils.example.org"\nport = 6001\nusername = "kiosk"\n'
        'password = { env = "KIOSK_TEST_SECRET_NOT_SET" }\n'
    )
    root = ["--root", str(layout.root), "--config", str(config)]

    shown = kiosk("update", "status", *root, "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert (info["current"], info["installed"]) == ("1.0", ["1.0"])
    assert info["database"] == str(data / "kiosk.sqlite")
    text = kiosk("update", "status", *root)
    assert "running release:  1.0" in text.stdout

    with Store.open(data / "kiosk.sqlite") as store:
        store.add_action("checkin", {"item": "a"})
    copy = tmp_path / "copy.sqlite"
    updates.copy_database(data / "kiosk.sqlite", copy)
    migrated = kiosk("update", "migrate", str(copy))
    assert migrated.returncode == 0, migrated.stderr
    assert f"schema revision {Store.head_revision()}" in migrated.stdout

    missing = kiosk("update", "switch", "9.9", *root)
    assert missing.returncode == 1
    assert "release 9.9 is not installed" in missing.stderr
    assert "Traceback" not in missing.stderr
    nothing = kiosk("update", "recover", *root)
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "no interrupted update")
    bad = kiosk("update", "install", str(tmp_path / "nowhere"), *root)
    assert bad.returncode == 1 and "not a kiosk wheel" in bad.stderr
