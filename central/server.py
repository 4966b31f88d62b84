"""Running the reference server: opening the database, demo credentials, serving.

``serve`` is what ``kiosk central serve`` runs in the foreground; ``ServerThread``
runs the same app on loopback in a thread, for tests, benchmarks and the demo.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from central.app import create_app
from central.auth import add_token, new_token, principal_in, token_principal
from central.database import describe, make_engine, writing
from central.fleet import create_device
from central.idempotency import Hooks
from central.migrate import prepare
from central.models import DeviceIn
from central.tables import devices, utcnow

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEMO_DEVICE = DeviceIn(id="demo-kiosk", branch="rotovz", description="Demo kiosk, Rotovž")


class ServeError(RuntimeError):
    """The server cannot start; the message says why in plain words."""


def open_database(url: str | Path) -> Engine:
    """An engine on a database migrated to this server's schema. Raises DatabaseUrlError,
    MigrationError, ServeError."""
    try:
        engine = make_engine(url)
    except OSError as exc:
        raise ServeError(f"the database folder cannot be made: {exc.strerror or exc}") from exc
    try:
        prepare(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@dataclass(frozen=True)
class DemoCredentials:
    admin_token: str
    device_id: str
    device_token: str


def demo_credentials(
    engine: Engine, saved_in: Path | None, admin_token: str | None = None
) -> DemoCredentials:
    """Tokens for the demo: the ones saved in `saved_in` if this database knows them,
    else new ones (an admin token, and the demo kiosk with its token), saved there."""
    saved = _read_saved(saved_in)
    if saved is not None and (admin_token is None or admin_token == saved.admin_token):
        admin = token_principal(engine, saved.admin_token)
        kiosk = token_principal(engine, saved.device_token)
        if admin is not None and admin.is_admin and kiosk is not None:
            return saved
    with writing(engine) as conn:
        admin_token = admin_token or new_token()
        if principal_in(conn, admin_token) is None:
            add_token(conn, admin_token, "admin", None, "demo admin")
        exists = conn.execute(select(devices.c.id).where(devices.c.id == DEMO_DEVICE.id)).first()
        if exists is None:
            device_token = create_device(conn, DEMO_DEVICE, utcnow()).token
        else:
            device_token = new_token()
            add_token(conn, device_token, "device", DEMO_DEVICE.id, f"device {DEMO_DEVICE.id}")
    credentials = DemoCredentials(admin_token, DEMO_DEVICE.id, device_token)
    if saved_in is not None:
        _save(saved_in, credentials)
    return credentials


def _read_saved(path: Path | None) -> DemoCredentials | None:
    if path is None:
        return None
    try:
        return DemoCredentials(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _save(path: Path, credentials: DemoCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # Tokens are secrets: readable by the owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(credentials), out, indent=2)
    os.replace(tmp, path)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: any free one); OSError when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle plus delayed ACKs add 40 ms to every small answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def serve(
    database: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    seed: bool = False,
    credentials_file: Path | None = None,
    admin_token: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM). Raises DatabaseUrlError, MigrationError,
    ServeError."""
    import uvicorn

    from central.sample_data import seed_sample_data

    engine = open_database(database)
    try:
        if seed:
            added = seed_sample_data(engine)
            say(
                f"sample data: {added} events added"
                if added
                else "sample data: the database already has events, nothing added"
            )
        try:
            credentials = demo_credentials(engine, credentials_file, admin_token)
        except OSError as exc:
            raise ServeError(
                f"the demo tokens cannot be saved in {credentials_file}: {exc.strerror or exc}"
            ) from exc
        try:
            sock = bind(host, port)
        except OSError as exc:
            reason = (
                "is already in use"
                if exc.errno == errno.EADDRINUSE
                else f"cannot be used: {exc.strerror or exc}"
            )
            raise ServeError(f"{host}:{port} {reason}") from exc
        url = base_url(sock)
        say(f"central API serving on {url}/api/v1 (contract: {url}/openapi.json)")
        say(f"database: {describe(engine.url)}")
        say(f"admin token: {credentials.admin_token}")
        say(f"device {credentials.device_id} token: {credentials.device_token}")
        if credentials_file is not None:
            say(f"tokens saved in {credentials_file}")
        config = uvicorn.Config(
            create_app(engine), log_level="info", lifespan="off", server_header=False
        )
        server = _quietly_stopping_server()(config)
        server.run(sockets=[sock])
        say("central API stopped")
    finally:
        engine.dispose()


def _quietly_stopping_server() -> type:
    import uvicorn

    class QuietlyStopping(uvicorn.Server):
        """Stops gracefully on SIGINT or SIGTERM and returns (exit status 0), where
        uvicorn's own handling raises the signal again after shutting down. A second
        signal stops at once."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            def stop(_signum: int, _frame: object) -> None:
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return QuietlyStopping


class ServerThread:
    """The app served by uvicorn on a loopback port, in a background thread."""

    def __init__(
        self, engine: Engine, *, host: str = "127.0.0.1", port: int = 0, hooks: Hooks | None = None
    ) -> None:
        import uvicorn

        self.hooks = hooks or Hooks()
        self._sock = bind(host, port)
        self.url = base_url(self._sock)
        config = uvicorn.Config(
            create_app(engine, self.hooks),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout_s: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the central server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
