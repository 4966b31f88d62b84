"""The watchdog, end to end: the app's side (screens.watchdog.UiWatchdog pinging from the
Kivy clock) under a harness that does what systemd does for kiosk.service (Type=notify,
NotifyAccess=main, WatchdogSec, Restart=always): READY arrives, pings arrive, a hung UI
loop is killed and restarted, a killed process is restarted, and what the kiosk wrote to
its store before either is still there afterwards.

The harness (WatchdogHarness) and the stand-in release (make_release) are also used by
tests/test_updates.py, where the harness is the service the updater stops and starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from kiosk.store import Store
from kiosk.updates import MIN_PINGS, Layout, read_health
from screens.watchdog import TICK_WITHOUT_WATCHDOG_S, UiWatchdog

# --- a stand-in release ---------------------------------------------------------------------

# The body of a release's `venv/bin/kiosk`: the real store and the real UiWatchdog on the
# real Kivy clock; what it does wrong (if anything) is chosen by BEHAVIOUR.
FAKE_KIOSK_BODY = r"""
import os
import sys
import time
from pathlib import Path


def open_store(path):
    from kiosk.store import Store

    return Store.open(path, version_locations=[EXTRA_REVISIONS] if EXTRA_REVISIONS else [])


def migrate(path):
    from kiosk.store import StoreError

    if BEHAVIOUR == "bad-migration":
        print("kiosk: migration 9001 failed: deliberately broken", file=sys.stderr)
        return 1
    try:
        open_store(path).close()
    except StoreError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 1
    return 0


def run(data):
    if BEHAVIOUR == "crash":
        print("crashing on purpose", file=sys.stderr)
        return 3
    if BEHAVIOUR == "silent":
        time.sleep(3600)  # never shows a first frame
    os.environ.update(KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1")
    os.environ["KIVY_HOME"] = str(data / "kivy")
    from kivy.clock import Clock

    from screens.watchdog import UiWatchdog

    store = open_store(data / "kiosk.sqlite")
    watchdog = UiWatchdog(Clock.schedule_interval, data_dir=data, version=VERSION)
    watchdog.first_frame(f"fake kiosk {VERSION}")
    if BEHAVIOUR == "record-then-hang":
        store.add_action("checkout", {"item": "lent during probation"})
        time.sleep(3600)
    if BEHAVIOUR == "hang":
        time.sleep(3600)  # first frame, then the UI loop never turns again
    if BEHAVIOUR == "out-of-service":
        watchdog.out_of_service("the library system refused the login")
    control = data / "control"
    while True:
        Clock.tick()
        hang = control / "hang"
        if hang.exists() and hang.read_text().strip() in (str(os.getpid()), "all"):
            time.sleep(3600)  # the UI loop stops, and with it the pings
        if (control / "write").exists():
            entry = store.add_action("checkout", {"item": "x", "by": os.getpid()})
            # Logged only once the store has committed it: what the patron was promised.
            with (data / "written.log").open("a") as log:
                log.write(f"{os.getpid()} {entry.client_id}\n")
                log.flush()
                os.fsync(log.fileno())


def main():
    args = sys.argv[1:]
    if args == ["--version"]:
        print(f"kiosk {VERSION}")
        return 0
    if args[:2] == ["update", "migrate"]:
        return migrate(Path(args[2]))
    if args[:1] == ["run"]:
        return run(Path(args[1]))
    print("usage: kiosk --version | update migrate PATH | run DATA", file=sys.stderr)
    return 2


sys.exit(main())
"""


def make_release(
    layout: Layout,
    version: str,
    *,
    behaviour: str = "good",
    extra_revisions: Path | None = None,
) -> Path:
    """An installed release whose `kiosk` command is the stand-in above."""
    release = layout.release_dir(version)
    command = layout.kiosk_command(version)
    command.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"#!{sys.executable}\n"
        f"VERSION = {version!r}\n"
        f"BEHAVIOUR = {behaviour!r}\n"
        f"EXTRA_REVISIONS = {str(extra_revisions) if extra_revisions else None!r}\n"
    )
    command.write_text(header + FAKE_KIOSK_BODY, encoding="utf-8")
    command.chmod(0o755)
    (release / "release.json").write_text(json.dumps({"version": version}), encoding="utf-8")
    return release


# --- what systemd does for kiosk.service ----------------------------------------------------


class WatchdogHarness:
    """Runs one command like a Type=notify service with NotifyAccess=main, WatchdogSec and
    Restart=always: waits for READY=1, expects WATCHDOG=1 within `watchdog_s` after it,
    aborts (SIGABRT, then SIGKILL) a process whose pings stopped, and starts the command
    again `restart_s` after any exit. Also the updater's ServiceControl (stop, start,
    main_pid). The command is resolved at each start, as systemd resolves ExecStart."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        watchdog_s: float = 1.0,
        restart_s: float = 0.2,
        start_timeout_s: float = 8.0,
    ) -> None:
        self.command = list(command)
        self.watchdog_s, self.restart_s, self.start_timeout_s = (
            watchdog_s,
            restart_s,
            start_timeout_s,
        )
        self.events: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._name = f"kiosk-harness-{uuid.uuid4().hex}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(b"\0" + self._name.encode())
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.settimeout(0.05)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ServiceControl ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(20)
            self._thread = None

    def main_pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # for the tests ----------------------------------------------------------------------
    def seen(self, kind: str) -> list[tuple[str, int, str]]:
        with self._lock:
            return [e for e in self.events if e[0] == kind]

    def wait_for(self, what: Callable[[], Any], timeout_s: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.02)
        with self._lock:
            happened = list(self.events)
        pytest.fail(f"not seen within {timeout_s} s; events: {happened}")

    def close(self) -> None:
        self.stop()
        self._sock.close()

    # the supervisor -----------------------------------------------------------------------
    def _event(self, kind: str, pid: int, detail: str = "") -> None:
        with self._lock:
            self.events.append((kind, pid, detail))

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "NOTIFY_SOCKET": "@" + self._name,
            "WATCHDOG_USEC": str(int(self.watchdog_s * 1_000_000)),
        }
        # WATCHDOG_PID is the main process's own PID, as systemd sets it after forking;
        # no core files from the SIGABRT.
        wrapper = 'ulimit -c 0; WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"'
        return subprocess.Popen(
            ["sh", "-c", wrapper, "kiosk", *self.command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _messages(self) -> Iterator[tuple[int, str]]:
        try:
            data, ancillary, _flags, _addr = self._sock.recvmsg(
                4096, socket.CMSG_SPACE(struct.calcsize("3i"))
            )
        except TimeoutError:
            return
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", raw[:12])[0]
                yield from ((pid, line) for line in data.decode().split("\n"))

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self._spawn()
            self._proc = proc
            self._event("start", proc.pid)
            self._watch(proc)
            self._event("exit", proc.pid, str(proc.returncode))
            if self._stopping.wait(self.restart_s):
                break
        self._proc = None

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        started = time.monotonic()
        last_ping: float | None = None
        while True:
            for pid, line in self._messages():
                if pid != proc.pid:
                    continue  # NotifyAccess=main: anyone else is ignored
                if line == "READY=1":
                    self._event("ready", pid)
                    last_ping = time.monotonic()
                elif line == "WATCHDOG=1":
                    self._event("ping", pid)
                    last_ping = time.monotonic()
                elif line.startswith("STATUS="):
                    self._event("status", pid, line.removeprefix("STATUS="))
                elif line == "STOPPING=1":
                    self._event("stopping", pid)
            if proc.poll() is not None:
                return
            if self._stopping.is_set():
                proc.terminate()
                self._reap(proc)
                return
            now = time.monotonic()
            if last_ping is None and now - started > self.start_timeout_s:
                self._event("start-timeout", proc.pid)
                proc.kill()
                self._reap(proc)
                return
            if last_ping is not None and now - last_ping > self.watchdog_s:
                self._event("watchdog", proc.pid)
                proc.send_signal(signal.SIGABRT)
                self._reap(proc)
                return

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> None:
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "control").mkdir(parents=True)
    return data


@pytest.fixture
def running_kiosk(tmp_path: Path, data_dir: Path) -> Iterator[WatchdogHarness]:
    layout = Layout(tmp_path / "opt")
    make_release(layout, "1.0")
    layout.point(layout.current_link, "1.0")
    harness = WatchdogHarness([str(layout.root / "current/venv/bin/kiosk"), "run", str(data_dir)])
    harness.start()
    yield harness
    harness.close()


def written(data_dir: Path) -> list[tuple[int, str]]:
    log = data_dir / "written.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(int(pid), client_id) for pid, client_id in (line.split() for line in lines)]


def client_ids_in_store(data_dir: Path) -> set[str]:
    with Store.open(data_dir / "kiosk.sqlite") as store:
        return {entry.client_id for entry in store.entries(limit=100_000)}


# --- the app's side, driven directly -----------------------------------------------------------


class FakeClock:
    """Stands in for Kivy's Clock.schedule_interval; the test turns the "loop" by hand."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[Callable[[float], Any], float]] = []
        self.cancelled = 0

    def schedule_interval(self, callback: Callable[[float], Any], interval: float) -> FakeClock:
        self.scheduled.append((callback, interval))
        return self

    def cancel(self) -> None:
        self.cancelled += 1

    def tick(self) -> None:
        for callback, interval in self.scheduled:
            callback(interval)


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    name = f"kiosk-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    yield sock, "@" + name
    sock.close()


def test_first_frame_sends_ready_then_the_clock_pings(
    notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, address = notify_socket
    clock = FakeClock()
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000"}
    watchdog = UiWatchdog(clock.schedule_interval, data_dir=tmp_path, environ=env, version="7.1")

    watchdog.first_frame("Kiosk is on screen")
    assert sock.recv(4096) == b"READY=1\nSTATUS=Kiosk is on screen"
    assert [interval for _cb, interval in clock.scheduled] == [15.0]  # half of WatchdogSec
    health = read_health(tmp_path)
    assert health is not None and (health.version, health.pid, health.pings) == (
        "7.1",
        os.getpid(),
        0,
    )

    watchdog.first_frame("again")  # the first frame happens once
    assert len(clock.scheduled) == 1
    for _ in range(MIN_PINGS + 1):
        clock.tick()
        assert sock.recv(4096) == b"WATCHDOG=1"
    assert read_health(tmp_path).pings == MIN_PINGS  # type: ignore[union-attr]

    watchdog.status("Serving")
    assert sock.recv(4096) == b"STATUS=Serving"
    watchdog.out_of_service("the store is damaged")
    assert sock.recv(4096) == b"STATUS=Out of service: the store is damaged"
    health = read_health(tmp_path)
    assert health is not None and (health.state, health.reason) == (
        "out-of-service",
        "the store is damaged",
    )
    watchdog.stop()
    assert clock.cancelled == 1
    assert sock.recv(4096) == b"STOPPING=1"


def test_without_systemd_nothing_is_scheduled_or_written(tmp_path: Path) -> None:
    clock = FakeClock()
    watchdog = UiWatchdog(clock.schedule_interval, data_dir=tmp_path, environ={})
    watchdog.first_frame()
    watchdog.stop()
    assert clock.scheduled == [] and not watchdog.started
    assert list(tmp_path.iterdir()) == []


def test_without_a_watchdog_the_loop_still_proves_it_turns(
    notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    _sock, address = notify_socket
    clock = FakeClock()
    watchdog = UiWatchdog(
        clock.schedule_interval, data_dir=tmp_path, environ={"NOTIFY_SOCKET": address}
    )
    watchdog.first_frame()
    assert [interval for _cb, interval in clock.scheduled] == [TICK_WITHOUT_WATCHDOG_S]


def test_a_health_marker_that_cannot_be_written_does_not_stop_the_kiosk(
    notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, address = notify_socket
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    clock = FakeClock()
    watchdog = UiWatchdog(
        clock.schedule_interval, data_dir=not_a_folder, environ={"NOTIFY_SOCKET": address}
    )
    watchdog.first_frame()
    assert sock.recv(4096).startswith(b"READY=1")


def test_the_module_imports_without_kivy() -> None:
    code = "import sys, screens.watchdog; sys.exit('kivy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- under the harness: READY, pings, hangs and kills ------------------------------------------


def test_ready_and_pings_arrive_from_the_kivy_clock(running_kiosk: WatchdogHarness) -> None:
    harness = running_kiosk
    ready = harness.wait_for(lambda: harness.seen("ready"))
    pid = ready[0][1]
    assert harness.seen("status")[0] == ("status", pid, "fake kiosk 1.0")
    harness.wait_for(lambda: len(harness.seen("ping")) >= 3)
    pings = [t for kind, p, t in harness.events if kind == "ping" and p == pid]
    assert len(pings) >= 3
    assert harness.seen("watchdog") == [] and len(harness.seen("start")) == 1


def test_a_hung_ui_loop_is_killed_restarted_and_loses_nothing(
    running_kiosk: WatchdogHarness, data_dir: Path
) -> None:
    harness = running_kiosk
    first = harness.wait_for(lambda: harness.seen("ready"))[0][1]
    (data_dir / "control" / "write").touch()
    harness.wait_for(lambda: len(written(data_dir)) >= 10)

    (data_dir / "control" / "hang").write_text(str(first))  # this process's loop stops
    assert harness.wait_for(lambda: harness.seen("watchdog"))[0][1] == first
    second = harness.wait_for(lambda: [e for e in harness.seen("ready") if e[1] != first])[0][1]
    harness.wait_for(lambda: any(pid == second for pid, _ in written(data_dir)))
    harness.wait_for(
        lambda: len(harness.seen("ping")) > 0 and harness.seen("ping")[-1][1] == second
    )
    harness.stop()

    log = written(data_dir)
    assert {pid for pid, _ in log} == {first, second}
    assert {cid for _, cid in log} <= client_ids_in_store(data_dir)
    assert [e for e in harness.seen("exit") if e[1] == first] == [("exit", first, "-6")]


def test_a_killed_kiosk_is_restarted_and_resumes_with_nothing_lost(
    running_kiosk: WatchdogHarness, data_dir: Path
) -> None:
    harness = running_kiosk
    first = harness.wait_for(lambda: harness.seen("ready"))[0][1]
    (data_dir / "control" / "write").touch()
    harness.wait_for(lambda: len(written(data_dir)) >= 20)

    os.kill(first, signal.SIGKILL)  # a power cut, as far as the process can tell
    second = harness.wait_for(lambda: [e for e in harness.seen("ready") if e[1] != first])[0][1]
    harness.wait_for(lambda: sum(pid == second for pid, _ in written(data_dir)) >= 5)
    harness.stop()

    log = written(data_dir)
    before = [cid for pid, cid in log if pid == first]
    stored = client_ids_in_store(data_dir)
    assert len(before) >= 20 and set(before) <= stored
    assert {cid for _, cid in log} <= stored
    assert ("exit", first, "-9") in harness.seen("exit")
    assert harness.seen("watchdog") == []
