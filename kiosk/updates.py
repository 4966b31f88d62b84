"""Safe software updates: a new release beside the old one, its migrations tried on a
copy of the database, an atomic switch, and an automatic way back.

On a device (`root` is /opt/library-kiosk, made by systemd/install.sh):

    root/releases/<version>/venv/bin/kiosk   one virtual environment per release
    root/releases/<version>/release.json     written last: the release is complete
    root/current -> releases/<version>       what kiosk.service runs (ExecStart goes through it)
    root/previous -> releases/<version>      where a rollback goes
    root/update-state.json                   the last switch: from, to, state, reason
    data_dir/health.json                     the running app's health marker (screens/watchdog.py)
    data_dir/update-request.json             the version the central API wants (from the app)
    data_dir/update-result.json              what became of the last request (for the app)
    <database folder>/updates/               migrated copies, backups, failed releases' databases

A switch stops the service, copies the database (SQLite backup API) and migrates the
copy with the NEW release's code in a subprocess (`<release>/venv/bin/kiosk update
migrate COPY`), so the original is never touched by new code. The original stays as
the backup (a hard link: the very same file), the migrated copy takes its name, `current`
is replaced atomically and the service started. The new release must then show its
first frame and answer the watchdog (its health marker names its version and process)
within a deadline, and keep that same process through a probation period. Otherwise the
updater stops it, points `current` back, gives the old release a database it accepts
(the current one when the schema did not change, else the backup with the outbox
entries recorded meanwhile carried over, so no action is lost), and starts it again.

The app itself runs unprivileged and cannot do this: `apply_desired_version` only
writes a request, which `kiosk-update.path` hands to `kiosk-update.service` (root).
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kiosk import __version__

DEFAULT_ROOT = Path("/opt/library-kiosk")
DEFAULT_UNIT = "kiosk.service"
DEFAULT_SOURCES_FILE = Path("/etc/library-kiosk/update-sources")
DIST_NAME = "library-kiosk"
RELEASE_FILE = "release.json"
STATE_FILE = "update-state.json"
HEALTH_FILE = "health.json"
REQUEST_FILE = "update-request.json"
RESULT_FILE = "update-result.json"
WORK_DIR = "updates"
# The health marker counts as "answering the watchdog" after this many pings.
MIN_PINGS = 2
# A release whose process was started more often than this while on trial is crash-looping.
MAX_STARTS = 3
KEEP_RELEASES = 3
KEEP_BACKUPS = 2
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024

_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
_WHEEL_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$"
)


class UpdateError(Exception):
    """An update step failed; `str(err)` is the plain message for a technician."""


class UpdateBusy(UpdateError):
    """Another updater holds the lock."""


def check_version(version: str) -> str:
    """A version is also a folder name: letters, digits and . + _ - only."""
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise UpdateError(f"{version!r} is not a release version (letters, digits, . + _ -)")
    return version


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- where things are ----------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The releases folder of a device (`/opt/library-kiosk`, or a test's folder)."""

    root: Path

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    @property
    def previous_link(self) -> Path:
        return self.root / "previous"

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    def release_dir(self, version: str) -> Path:
        return self.releases / check_version(version)

    def kiosk_command(self, version: str) -> Path:
        return self.release_dir(version) / "venv" / "bin" / "kiosk"

    def is_installed(self, version: str) -> bool:
        return (self.release_dir(version) / RELEASE_FILE).is_file()

    def installed_versions(self) -> list[str]:
        """Complete releases, oldest install first."""
        found = [p.parent for p in self.releases.glob(f"*/{RELEASE_FILE}")]
        return [p.name for p in sorted(found, key=lambda p: (p / RELEASE_FILE).stat().st_mtime)]

    def current_version(self) -> str | None:
        return _link_version(self.current_link)

    def previous_version(self) -> str | None:
        return _link_version(self.previous_link)

    def point(self, link: Path, version: str | None) -> None:
        """Make `link` name a release, atomically (a new link renamed over the old);
        None removes it. Relative targets keep the tree movable (tests, --root installs)."""
        if version is None:
            link.unlink(missing_ok=True)
            return
        fresh = link.with_name(f".{link.name}.{os.getpid()}")
        fresh.unlink(missing_ok=True)
        os.symlink(f"releases/{check_version(version)}", fresh)
        os.replace(fresh, link)
        _fsync_dir(link.parent)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One update at a time (flock: released by the kernel if the updater dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".update.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UpdateBusy(
                    "another update is running on this kiosk; wait for it to finish "
                    "(kiosk update status)"
                ) from None
            yield
        finally:
            os.close(fd)


def _link_version(link: Path) -> str | None:
    try:
        target = Path(os.readlink(link))
    except OSError:
        return None
    return target.name if target.parent.name == "releases" else None


def default_root() -> Path:
    """The releases folder this program runs from (…/releases/<v>/venv), else /opt/library-kiosk."""
    prefix = Path(sys.prefix)
    if prefix.name == "venv" and prefix.parent.parent.name == "releases":
        return prefix.parent.parent.parent
    return DEFAULT_ROOT


# --- the app's health marker -----------------------------------------------------------------


OUT_OF_SERVICE = "out-of-service"


@dataclass(frozen=True)
class Health:
    """Written by the running app: its first frame is shown and the UI loop pinged; or
    it is out of service (its core could not start), which no watchdog would notice."""

    version: str
    pid: int
    pings: int
    first_frame_at: str
    state: str = "running"  # or OUT_OF_SERVICE
    reason: str = ""


def health_path(data_dir: Path) -> Path:
    return Path(data_dir) / HEALTH_FILE


def write_health(data_dir: Path, health: Health) -> None:
    # Not synced to disk: it is written on the UI thread, and after a power cut the
    # process it describes is gone anyway.
    _write_json(health_path(data_dir), asdict(health), durable=False)


def read_health(data_dir: Path) -> Health | None:
    data = _read_json(health_path(data_dir))
    try:
        return Health(
            version=str(data["version"]),
            pid=int(data["pid"]),
            pings=int(data["pings"]),
            first_frame_at=str(data["first_frame_at"]),
            state=str(data.get("state", "running")),
            reason=str(data.get("reason", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


# --- installing a release ----------------------------------------------------------------------


def version_of_source(source: str) -> str:
    """The version a wheel (file or URL), a source folder or a folder of wheels holds."""
    if _is_url(source):
        return _wheel_version(Path(urllib.parse.urlsplit(source).path).name, source)
    path = Path(source)
    if path.is_file():
        return _wheel_version(path.name, source)
    init = path / "kiosk" / "__init__.py"
    if init.is_file():
        return _version_in_init(init)
    if path.is_dir():
        wheels = sorted(path.glob(f"{DIST_NAME.replace('-', '_')}-*.whl"))
        if len(wheels) == 1:
            return _wheel_version(wheels[0].name, source)
        if wheels:
            shown = ", ".join(_wheel_version(w.name, source) for w in wheels)
            raise UpdateError(f"{source} holds several kiosk releases ({shown}); name one")
    raise UpdateError(
        f"{source}: not a kiosk wheel, a kiosk source folder or a folder with a kiosk wheel"
    )


def _wheel_version(name: str, source: str) -> str:
    match = _WHEEL_RE.match(name)
    if match is None:
        raise UpdateError(f"{source}: not a wheel file name (name-version-…-any.whl)")
    return check_version(match["version"])


def _version_in_init(init: Path) -> str:
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return check_version(node.value.value)
    raise UpdateError(f"{init} sets no __version__")


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def install_release(
    layout: Layout,
    source: str | os.PathLike[str],
    *,
    version: str | None = None,
    sha256: str | None = None,
    pip_options: Sequence[str] = (),
    with_pip: bool = True,
    timeout_s: float = 1800.0,
) -> str:
    """Install a release into `releases/<version>` with its own virtual environment and
    return its version; nothing to do when it is already complete. Sources: a wheel (path
    or http(s) URL), a kiosk source folder, or a folder of wheels (installed offline, for
    a USB stick). pip runs from this program's environment (`pip --python`), so a new
    environment needs no pip of its own; `with_pip` gives it one for the updates after it."""
    source = os.fspath(source)
    found = check_version(version) if version else version_of_source(source)
    if layout.is_installed(found):
        return found
    with layout.locked():
        release = layout.release_dir(found)
        if layout.current_version() == found:
            raise UpdateError(f"release {found} is running but incomplete; reinstall the kiosk")
        if release.exists():
            shutil.rmtree(release)  # left half-done by an interrupted install
        release.mkdir(parents=True)
        try:
            target, extra = _pip_target(source, found, layout.root / "downloads", sha256)
            venv = [sys.executable, "-m", "venv", str(release / "venv")]
            _run([*venv] if with_pip else [*venv, "--without-pip"], "creating its venv", timeout_s)
            python = str(release / "venv" / "bin" / "python")
            pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-input"]
            pip += ["--disable-pip-version-check", "--quiet"]
            _run([*pip, *extra, *pip_options, target], f"installing {source}", timeout_s)
            said = _run([str(layout.kiosk_command(found)), "--version"], "starting it", 60)
            if said.strip() != f"kiosk {found}":
                raise UpdateError(f"it says {said.strip()!r}, not 'kiosk {found}'")
            _write_json(
                release / RELEASE_FILE,
                {"version": found, "source": _shown(source), "installed_at": _now()},
            )
        except BaseException as exc:
            shutil.rmtree(release, ignore_errors=True)
            if isinstance(exc, UpdateError):
                raise UpdateError(f"release {found} was not installed: {exc}") from None
            raise
    return found


def _pip_target(
    source: str, version: str, downloads: Path, sha256: str | None
) -> tuple[str, list[str]]:
    """What to hand to pip, and the options that go with it."""
    if _is_url(source):
        return str(download(source, downloads, sha256=sha256)), []
    path = Path(source).resolve()
    if path.is_file():
        _check_sha256(path, sha256)
        # Dependencies may travel in the same folder (a USB stick); PyPI is still asked.
        return str(path), ["--find-links", str(path.parent)]
    if (path / "kiosk" / "__init__.py").is_file():
        return str(path), []
    # A folder of wheels: everything must be in it (a bibliobus may have no network).
    return f"{DIST_NAME}=={version}", ["--no-index", "--find-links", str(path)]


def download(url: str, folder: Path, *, sha256: str | None = None) -> Path:
    """Fetch a wheel over http(s) into `folder`; checked against `sha256` when given."""
    import urllib.request  # only here: the app imports this module at start-up

    name = Path(urllib.parse.urlsplit(url).path).name
    _wheel_version(name, url)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{name}.part"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as answer, part.open("wb") as out:
            size = 0
            while chunk := answer.read(1 << 16):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise UpdateError(f"{url} is larger than {MAX_DOWNLOAD_BYTES >> 20} MiB")
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:  # URLError, HTTPError and socket errors are all OSErrors
        part.unlink(missing_ok=True)
        raise UpdateError(f"could not download {url}: {getattr(exc, 'reason', exc)}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if sha256 and digest.hexdigest() != sha256.lower():
        part.unlink(missing_ok=True)
        raise UpdateError(f"{url} does not match its sha256 checksum; it was not installed")
    target = folder / name
    os.replace(part, target)
    return target


def _check_sha256(path: Path, sha256: str | None) -> None:
    if sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != sha256.lower():
        raise UpdateError(f"{path} does not match its sha256 checksum")


def _shown(source: str) -> str:
    """A source as it may be recorded: a URL without credentials or query."""
    if not _is_url(source):
        return source
    parts = urllib.parse.urlsplit(source)
    return urllib.parse.urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))


def _run(cmd: Sequence[str], what: str, timeout_s: float) -> str:
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise UpdateError(f"{what} failed: {_last_line(done.stderr or done.stdout)}")
    return done.stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


# --- the database ------------------------------------------------------------------------------


def migrate_database_file(path: Path) -> str:
    """`kiosk update migrate PATH`: bring a database file (a copy) to this release's schema;
    returns the revision. Refuses, unchanged, a database newer than this release."""
    from kiosk.store import Store

    if not Path(path).is_file():
        raise UpdateError(f"{path}: no such database file")
    with Store.open(path) as store:
        return store.revision() or ""


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy, even of a database in use (SQLite's online backup)."""
    _remove_database(target)
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        _remove_database(target)
        raise UpdateError(f"could not copy the database {source}: {exc}") from None
    finally:
        src.close()


def settle_database(path: Path) -> None:
    """Fold the write-ahead log into the file (after the app was stopped, or killed) so
    the file alone holds everything and may be linked, renamed or replaced."""
    try:
        con = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                busy = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if busy:
                    raise UpdateError(f"the database {path} is still in use by another program")
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise UpdateError(f"the database {path} cannot be read: {exc}") from None
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise UpdateError(f"the database {path} is still in use by another program")


def migrate_copy(layout: Layout, version: str, database: Path, timeout_s: float = 600) -> Path:
    """Copy the database and migrate the copy with release `version`'s own code (in a
    subprocess); the original is not touched. Returns the migrated copy."""
    work = _work_dir(database)
    copy = work / f"kiosk.sqlite.{version}.migrating"
    copy_database(database, copy)
    cmd = [str(layout.kiosk_command(version)), "update", "migrate", str(copy)]
    try:
        _run(cmd, f"release {version} migrating a copy of the database", timeout_s)
        settle_database(copy)
    except UpdateError as exc:
        _remove_database(copy)
        raise UpdateError(f"{exc}. The database was not changed.") from None
    _fsync(copy)
    _same_owner(copy, database)
    return copy


def try_migration(layout: Layout, version: str, database: Path) -> None:
    """Migrate a throwaway copy of the live database with a new release (while the
    kiosk keeps serving), to find a failing migration before any switch."""
    if database.is_file():
        _remove_database(migrate_copy(layout, version, database))


def carry_over_outbox(source: Path, into: Path) -> int:
    """Outbox entries `source` has that `into` lacks, or has in an older state, copied into
    `into` (columns both schemas share). Returns how many rows were added or updated.
    Each entry keeps its client id, so one already sent is recognised, never lent twice."""
    con = sqlite3.connect(into, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS failed", (str(source),))
        mine, theirs = _columns(con, "main"), _columns(con, "failed")
        common = [c for c in mine if c in theirs and c != "seq"]
        if "client_id" not in common:
            return 0
        cols = ", ".join(f'"{c}"' for c in common)
        order = " ORDER BY seq" if "seq" in theirs else ""
        con.execute("BEGIN IMMEDIATE")
        added = con.execute(
            f"INSERT INTO main.outbox ({cols}) SELECT {cols} FROM failed.outbox "
            f"WHERE client_id NOT IN (SELECT client_id FROM main.outbox){order}"
        ).rowcount
        updated = 0
        rest = [c for c in common if c != "client_id"]
        if "updated_at" in rest:
            names = ", ".join(f'"{c}"' for c in rest)
            picked = ", ".join(f'f."{c}"' for c in rest)
            updated = con.execute(
                f"UPDATE main.outbox SET ({names}) = (SELECT {picked} FROM failed.outbox AS f "
                "WHERE f.client_id = outbox.client_id) WHERE EXISTS (SELECT 1 FROM failed.outbox "
                "AS f WHERE f.client_id = outbox.client_id AND f.updated_at > outbox.updated_at)"
            ).rowcount
        con.execute("COMMIT")
        return added + updated
    except sqlite3.Error as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise UpdateError(
            f"the outbox entries recorded by the new release could not be carried over ({exc}); "
            f"they are kept in {source}"
        ) from None
    finally:
        con.close()


def _columns(con: sqlite3.Connection, schema: str) -> list[str]:
    return [row[1] for row in con.execute(f"PRAGMA {schema}.table_info(outbox)")]


def _work_dir(database: Path) -> Path:
    # Beside the database: renames and hard links need the same file system.
    work = database.parent / WORK_DIR
    work.mkdir(mode=0o750, exist_ok=True)
    return work


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _keep_as(database: Path, name: str) -> Path:
    """The database file kept under another name in the work folder: a hard link (the very
    same bytes, instantly), or a copy where links are not possible."""
    target = _work_dir(database) / name
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{name}.{n}")
    try:
        os.link(database, target)
    except OSError:
        shutil.copy2(database, target)
        _fsync(target)
    _fsync_dir(target.parent)
    return target


def _same_owner(path: Path, like: Path) -> None:
    # The updater runs as root; the app (user kiosk) must still own what it writes to.
    info = like.stat()
    if os.geteuid() == 0:
        os.chown(path, info.st_uid, info.st_gid)
    os.chmod(path, stat.S_IMODE(info.st_mode))


# --- the service -------------------------------------------------------------------------------


class ServiceControl(Protocol):
    """What the updater needs of the service manager (systemd on a device, a harness in tests)."""

    def stop(self) -> None: ...

    def start(self) -> None: ...

    def main_pid(self) -> int | None: ...


class SystemdService:
    """kiosk.service through systemctl."""

    def __init__(self, unit: str = DEFAULT_UNIT, systemctl: str = "systemctl") -> None:
        self.unit, self._systemctl = unit, systemctl

    def stop(self) -> None:
        self._ctl("stop", self.unit)

    def start(self) -> None:
        # A unit that hit its start limit stays failed until reset; --no-block: the
        # updater watches the health marker itself, with its own deadline.
        self._ctl("reset-failed", self.unit, check=False)
        self._ctl("start", "--no-block", self.unit)

    def main_pid(self) -> int | None:
        text = self._ctl("show", "--property=MainPID", "--value", self.unit).strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

    def _ctl(self, *args: str, check: bool = True) -> str:
        try:
            done = subprocess.run(
                [self._systemctl, *args], capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UpdateError(f"systemctl {args[0]} {self.unit} failed: {exc}") from None
        if check and done.returncode != 0:
            raise UpdateError(
                f"systemctl {args[0]} {self.unit} failed: {_last_line(done.stderr or done.stdout)}"
            )
        return done.stdout


class NoService:
    """For the check kiosk.service runs before it starts (ExecStartPre): the kiosk is not
    running yet and starts by itself afterwards, so there is nothing to stop or watch."""

    def stop(self) -> None:
        pass

    def start(self) -> None:
        pass

    def main_pid(self) -> int | None:
        return None


@dataclass(frozen=True)
class Timing:
    """How long a new release has to prove itself."""

    first_frame_s: float = 180.0  # from start to first frame and MIN_PINGS watchdog pings
    probation_s: float = 60.0  # then the same process must keep running this long
    poll_s: float = 0.5


@dataclass(frozen=True)
class Outcome:
    ok: bool
    running: str | None  # the release `current` names now
    message: str


def wait_healthy(
    service: ServiceControl,
    data_dir: Path,
    version: str,
    timing: Timing,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """None when `version` showed its first frame, answered the watchdog and kept the same
    process through probation; otherwise the reason, in words."""
    deadline = clock() + timing.first_frame_s
    pids: set[int] = set()
    seen_frame = False
    healthy_pid = None
    while healthy_pid is None:
        pid = service.main_pid()
        if pid:
            pids.add(pid)
        health = read_health(data_dir)
        if health and pid and health.version == version and health.pid == pid:
            seen_frame = True
            if health.state == OUT_OF_SERVICE:
                return f"it is out of service ({health.reason or 'no reason given'})"
            if health.pings >= MIN_PINGS:
                healthy_pid = pid
                break
        if len(pids) > MAX_STARTS:
            return f"it was started {len(pids)} times without staying up (crashes or watchdog)"
        if clock() >= deadline:
            if seen_frame:
                return (
                    f"it showed its first frame but did not answer the watchdog "
                    f"within {timing.first_frame_s:g} s"
                )
            return f"it did not show its first frame within {timing.first_frame_s:g} s"
        sleep(timing.poll_s)
    end = clock() + timing.probation_s
    while clock() < end:
        if service.main_pid() != healthy_pid:
            return (
                f"it stopped during the {timing.probation_s:g} s probation "
                "(a crash, or the watchdog found its screen hung)"
            )
        health = read_health(data_dir)
        if health and health.pid == healthy_pid and health.state == OUT_OF_SERVICE:
            return f"it is out of service ({health.reason or 'no reason given'})"
        sleep(timing.poll_s)
    return None


# --- switching and rolling back ------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """The kiosk's data: its data folder (health marker, requests) and database file."""

    data_dir: Path
    database: Path


def switch(
    layout: Layout,
    version: str,
    places: Places,
    service: ServiceControl,
    timing: Timing = Timing(),
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Switch the kiosk to an installed release; roll back by itself if it fails."""
    check_version(version)
    with layout.locked():
        recovered = _recover_locked(layout, places, service, timing, sleep)
        if not layout.is_installed(version):
            raise UpdateError(
                f"release {version} is not installed; first run: kiosk update install SOURCE"
            )
        old = layout.current_version()
        if old == version:
            note = f" ({recovered.message})" if recovered else ""
            return Outcome(True, version, f"{version} is already the running release{note}")
        service.stop()
        try:
            return _switch_stopped(layout, version, old, places, service, timing, sleep)
        except BaseException:
            # Unexpected (a full disk, a bug): never leave the kiosk stopped.
            with contextlib.suppress(Exception):
                if _recover_locked(layout, places, service, timing, sleep) is None:
                    service.start()
            raise


def _switch_stopped(
    layout: Layout,
    version: str,
    old: str | None,
    places: Places,
    service: ServiceControl,
    timing: Timing,
    sleep: Callable[[float], None],
) -> Outcome:
    database = places.database
    try:
        if database.is_file():
            settle_database(database)
            migrated: Path | None = migrate_copy(layout, version, database)
        else:
            migrated = None  # a kiosk that never ran: the new release makes its own
    except UpdateError as exc:
        service.start()
        _record_failure(layout, places, version, str(exc))
        return Outcome(False, old, f"{exc} Release {old} keeps running.")
    _record_switch(
        layout, state="switching", from_version=old, to_version=version, backup=None, reason=""
    )
    backup = None
    if migrated is not None:
        backup = _keep_as(database, f"kiosk.sqlite.before-{version}")
        _record_switch(layout, backup=str(backup))
        os.replace(migrated, database)
        _fsync_dir(database.parent)
    layout.point(layout.previous_link, old)
    layout.point(layout.current_link, version)
    _record_switch(layout, state="probation")
    health_path(places.data_dir).unlink(missing_ok=True)
    service.start()
    problem = wait_healthy(service, places.data_dir, version, timing, sleep=sleep)
    if problem is None:
        _record_switch(layout, state="committed", reason="")
        _write_result(places, version, ok=True, message=f"switched from {old} to {version}")
        _prune(layout, database)
        return Outcome(True, version, f"switched from {old} to {version}")
    if old is None:
        _record_switch(layout, state="failed", reason=problem)
        _record_failure(layout, places, version, f"release {version} failed: {problem}")
        return Outcome(False, version, f"release {version} failed: {problem}")
    message = _roll_back_locked(
        layout, places, service, timing, sleep, to=old, failed=version, backup=backup,
        reason=f"release {version} failed: {problem}",
    )  # fmt: skip
    return Outcome(False, layout.current_version(), message)


def rollback(
    layout: Layout,
    places: Places,
    service: ServiceControl,
    timing: Timing = Timing(),
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Back to the previous release, by hand (`kiosk update rollback`)."""
    with layout.locked():
        recovered = _recover_locked(layout, places, service, timing, sleep)
        if recovered is not None:
            return recovered
        current, previous = layout.current_version(), layout.previous_version()
        if previous is None or not layout.is_installed(previous):
            raise UpdateError("there is no previous release to go back to")
        state = read_state(layout)
        backup = None
        if state.get("from_version") == previous and state.get("to_version") == current:
            backup = Path(state["backup"]) if state.get("backup") else None
        database = places.database
        no_backup = backup is None or not backup.is_file()
        if database.is_file() and no_backup and not _release_accepts(layout, previous, database):
            # Going back would leave the kiosk with a database it refuses: a dead screen.
            raise UpdateError(
                f"release {previous} cannot read the database as release {current} left it, "
                f"and there is no backup from before the update; {current} keeps running"
            )
        message = _roll_back_locked(
            layout, places, service, timing, sleep, to=previous, failed=current, backup=backup,
            reason=f"rolled back by hand from {current}",
        )  # fmt: skip
        return Outcome(layout.current_version() == previous, layout.current_version(), message)


def recover(
    layout: Layout,
    places: Places,
    service: ServiceControl,
    timing: Timing = Timing(),
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome | None:
    """Finish a switch the updater could not (power cut, killed): back to the old release."""
    with layout.locked():
        return _recover_locked(layout, places, service, timing, sleep)


def _recover_locked(
    layout: Layout,
    places: Places,
    service: ServiceControl,
    timing: Timing,
    sleep: Callable[[float], None],
) -> Outcome | None:
    # Holding the lock, a switch still "in progress" has lost its updater.
    state = read_state(layout)
    if state.get("state") not in ("switching", "probation"):
        return None
    old, new = state.get("from_version"), state.get("to_version")
    if not old or not layout.is_installed(old):
        _record_switch(layout, state="failed", reason="interrupted; no release to go back to")
        return None
    message = _roll_back_locked(
        layout, places, service, timing, sleep, to=old, failed=new,
        backup=Path(state["backup"]) if state.get("backup") else None,
        reason=f"the switch to {new} was interrupted (power cut, or the updater stopped)",
    )  # fmt: skip
    return Outcome(False, layout.current_version(), message)


def _roll_back_locked(
    layout: Layout,
    places: Places,
    service: ServiceControl,
    timing: Timing,
    sleep: Callable[[float], None],
    *,
    to: str,
    failed: str | None,
    backup: Path | None,
    reason: str,
) -> str:
    service.stop()
    layout.point(layout.current_link, to)
    layout.point(layout.previous_link, None)
    try:
        db_note = restore_database(layout, to, places.database, backup, failed or "unknown")
    except UpdateError as exc:
        db_note = f"The database could not be put back: {exc}"
    _record_switch(layout, state="rolled-back", reason=f"{reason}. {db_note}")
    _record_failure(layout, places, failed, f"{reason}. {db_note}")
    health_path(places.data_dir).unlink(missing_ok=True)
    service.start()
    # The old release should come back; say so if it does not (probation is not repeated).
    again = None
    if timing.first_frame_s > 0:
        once = Timing(timing.first_frame_s, 0, timing.poll_s)
        again = wait_healthy(service, places.data_dir, to, once, sleep=sleep)
    back = f"Rolled back to {to}." if again is None else f"Rolled back to {to}, but {again}."
    return f"{reason}. {back} {db_note}"


def restore_database(
    layout: Layout, release: str, database: Path, backup: Path | None, failed: str
) -> str:
    """Give `release` a database it accepts: the current one when it reads it as it is
    (the update changed no schema), else the backup from before the update, with the
    outbox entries recorded meanwhile carried over. Returns what was done, in words."""
    if database.is_file():
        settle_database(database)
        if _release_accepts(layout, release, database):
            if backup is not None and backup.exists():
                backup.unlink()  # the same schema: the current file has everything
            return f"The database was kept (release {release} reads it as it is)."
    if backup is None or not backup.is_file():
        raise UpdateError(
            f"release {release} refuses the current database and there is no backup from "
            "before the update"
        )
    if not database.is_file():
        os.replace(backup, database)
        return "The database from before the update was put back."
    kept = _keep_as(database, f"kiosk.sqlite.failed-{failed}")
    carried = carry_over_outbox(database, backup)
    os.replace(backup, database)
    _fsync_dir(database.parent)
    meanwhile = f" with {carried} outbox entries recorded meanwhile" if carried else ""
    return (
        f"The database from before the update was put back{meanwhile}; release {failed}'s "
        f"database is kept at {kept}."
    )


def _release_accepts(layout: Layout, release: str, database: Path) -> bool:
    try:
        _remove_database(migrate_copy(layout, release, database))
    except UpdateError:
        return False
    return True


def _prune(layout: Layout, database: Path) -> None:
    """Old releases and backups go; the running and previous ones (and failed releases'
    databases, which may hold actions) stay."""
    keep = {layout.current_version(), layout.previous_version()}
    old = [v for v in layout.installed_versions() if v not in keep]
    for version in old[: max(0, len(old) - (KEEP_RELEASES - len(keep - {None})))]:
        shutil.rmtree(layout.release_dir(version), ignore_errors=True)
    work = database.parent / WORK_DIR
    backups = sorted(work.glob("kiosk.sqlite.before-*"), key=lambda p: p.stat().st_mtime)
    for path in backups[: max(0, len(backups) - KEEP_BACKUPS)]:
        _remove_database(path)


# --- state, requests and status ------------------------------------------------------------


def read_state(layout: Layout) -> dict[str, Any]:
    return _read_json(layout.state_file)


def failed_versions(layout: Layout) -> list[str]:
    return list(read_state(layout).get("failed_versions", []))


def _record_switch(layout: Layout, **fields: Any) -> None:
    """The switch in progress or last made (durably: a power cut must find it)."""
    state = read_state(layout)
    state.update(fields, at=_now())
    _write_json(layout.state_file, state)


def _record_failure(layout: Layout, places: Places, version: str | None, reason: str) -> None:
    """A release that failed here is remembered, so the central API's wish does not
    start the same failure again in a loop (a technician still can, by hand)."""
    state = read_state(layout)
    failed = list(state.get("failed_versions", []))
    if version and version not in failed:
        failed.append(version)
    state.update(failed_versions=failed, last_failure={"version": version, "reason": reason})
    _write_json(layout.state_file, state)
    _write_result(places, version, ok=False, message=reason)


def _write_result(places: Places, version: str | None, *, ok: bool, message: str) -> None:
    """What became of the last update, for the app (and the central API) to read."""
    result = {"version": version, "ok": ok, "message": message, "at": _now()}
    _write_json(places.data_dir / RESULT_FILE, result, mode=0o644)


def apply_desired_version(
    version: str,
    source: str,
    *,
    data_dir: Path,
    sha256: str | None = None,
    running: str = __version__,
) -> Path | None:
    """The central API wants `version` (heartbeat reply): ask the updater for it. Runs in
    the unprivileged app, so it only writes a request for kiosk-update.service. Returns
    the request file, or None when there is nothing to ask (already running it, or that
    version failed here before: a technician decides then)."""
    check_version(version)
    if not source or not isinstance(source, str):
        raise UpdateError("the desired version comes without a source to install it from")
    request = Path(data_dir) / REQUEST_FILE
    if version == running:
        return None
    result = _read_json(Path(data_dir) / RESULT_FILE)
    if result.get("version") == version and result.get("ok") is False:
        return None
    wanted = {"version": version, "source": source, "sha256": sha256}
    if all(_read_json(request).get(k) == v for k, v in wanted.items()):
        return request  # asked already: do not wake the updater again
    _write_json(request, {**wanted, "requested_at": _now()})
    return request


def allowed_sources(path: Path = DEFAULT_SOURCES_FILE) -> list[str]:
    """Where requested updates may come from: URL prefixes or folders, one a line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def source_allowed(source: str, allowed: Sequence[str]) -> bool:
    for prefix in allowed:
        if _is_url(prefix):
            if _is_url(source) and source.startswith(prefix.rstrip("/") + "/"):
                return True
        elif not _is_url(source):
            folder = Path(prefix).resolve()
            if Path(source).resolve().is_relative_to(folder):
                return True
    return False


def process_request(
    layout: Layout,
    places: Places,
    service: ServiceControl,
    timing: Timing = Timing(),
    *,
    allowed: Sequence[str] = (),
    pip_options: Sequence[str] = (),
    with_pip: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome | None:
    """`kiosk update apply-request` (kiosk-update.service, root): finish an interrupted
    switch, then carry out the app's request, if any. None when there was nothing to do."""
    outcome = recover(layout, places, service, timing, sleep=sleep)
    request = places.data_dir / REQUEST_FILE
    if not request.exists():
        return outcome
    taken = request.with_name(REQUEST_FILE + ".taken")
    os.replace(request, taken)  # the path unit fires again only for a new request
    wanted = _read_json(taken)
    version, source = str(wanted.get("version", "")), str(wanted.get("source", ""))
    try:
        refusal = _refusal(layout, version, source, allowed)
        if refusal:
            # Not a failure of the release: nothing is remembered against it.
            _write_result(places, version or None, ok=False, message=refusal)
            return Outcome(False, layout.current_version(), refusal)
        if layout.current_version() == version:
            outcome = Outcome(True, version, f"{version} is already the running release")
        else:
            install_release(
                layout,
                source,
                version=version,
                sha256=wanted.get("sha256") or None,
                pip_options=pip_options,
                with_pip=with_pip,
            )
            outcome = switch(layout, version, places, service, timing, sleep=sleep)
    except UpdateError as exc:
        outcome = Outcome(False, layout.current_version(), str(exc))
        if not isinstance(exc, UpdateBusy):
            _record_failure(layout, places, version, str(exc))
    finally:
        taken.unlink(missing_ok=True)
    return outcome


def _refusal(layout: Layout, version: str, source: str, allowed: Sequence[str]) -> str | None:
    """Why a request is not even tried, or None."""
    try:
        check_version(version)
    except UpdateError as exc:
        return str(exc)
    if version in failed_versions(layout):
        return (
            f"release {version} failed on this kiosk before; a technician can still "
            f"switch to it by hand: kiosk update install SOURCE, kiosk update switch {version}"
        )
    if not source_allowed(source, allowed):
        return (
            f"updates from {_shown(source)} are not allowed on this kiosk; a technician "
            f"lists allowed places in {DEFAULT_SOURCES_FILE}"
        )
    return None


def status(layout: Layout, places: Places) -> dict[str, Any]:
    """Everything `kiosk update status` shows."""
    health = read_health(places.data_dir)
    work = places.database.parent / WORK_DIR
    return {
        "root": str(layout.root),
        "current": layout.current_version(),
        "previous": layout.previous_version(),
        "installed": layout.installed_versions(),
        "last_switch": read_state(layout),
        "health": asdict(health) if health else None,
        "request": _read_json(places.data_dir / REQUEST_FILE) or None,
        "database": str(places.database),
        "kept_databases": sorted(p.name for p in work.glob("kiosk.sqlite.*")),
    }


def render_status(info: Mapping[str, Any]) -> str:
    last = info["last_switch"]
    lines = [
        f"running release:  {info['current'] or 'none'} (in {info['root']})",
        f"previous release: {info['previous'] or 'none'}",
        f"installed:        {', '.join(info['installed']) or 'none'}",
    ]
    if last:
        lines.append(
            f"last switch:      {last.get('from_version')} -> {last.get('to_version')}: "
            f"{last.get('state')} at {last.get('at')}"
        )
        if last.get("reason"):
            lines.append(f"                  {last['reason']}")
        if last.get("failed_versions"):
            lines.append(f"failed here:      {', '.join(last['failed_versions'])}")
    health = info["health"]
    lines.append(
        "health marker:    none"
        if not health
        else f"health marker:    {health['version']} pid {health['pid']}, first frame "
        f"{health['first_frame_at']}, {health['pings']} pings"
    )
    if info["request"]:
        lines.append(f"requested:        {info['request'].get('version')}")
    if info["kept_databases"]:
        lines.append(f"kept databases:   {', '.join(info['kept_databases'])}")
    return "\n".join(lines)


class PathsOnlyEnviron(Mapping[str, str]):
    """An environment in which every variable is set: the updater reads only paths from
    the configuration, so it must not fail on a secret kept in the service's environment."""

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name) or "unused"

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)

    def __contains__(self, name: object) -> bool:
        return True


# --- small file helpers ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(
    path: Path, data: Mapping[str, Any], mode: int | None = None, *, durable: bool = True
) -> None:
    """Atomically (a temporary file renamed over) and, unless told otherwise, durably."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}")
    with part.open("w", encoding="utf-8") as out:
        json.dump(data, out, indent=1, sort_keys=True)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    if mode is not None:
        os.chmod(part, mode)
    os.replace(part, path)
    if durable:
        _fsync_dir(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder
        _fsync(path)
