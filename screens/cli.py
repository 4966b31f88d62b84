"""The `kiosk` command.

It lives with the screens because it starts them; the commands that need no
window (`check-config`, `doctor`, `--version`) never import Kivy, so they stay
fast and work on a machine without a display.
Exit codes: 0 success, 1 failure at run time, 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from kiosk import __version__
from kiosk.config import ConfigError, KioskConfig, default_config_path, load_config

log = logging.getLogger("kiosk")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk", description="Self-service kiosk for public libraries."
    )
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show details of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the demo kiosk (demo library, simulated devices)")
    demo.add_argument("--config", type=Path, default=None, help=argparse.SUPPRESS)
    demo.add_argument("--data-dir", type=Path, help="keep the demo's data here instead")
    demo.add_argument(
        "--report-first-frame", action="store_true", help=argparse.SUPPRESS
    )  # used by bench/startup.py

    run = sub.add_parser("run", help="run the kiosk with a configuration file")
    run.add_argument("--config", type=Path, required=True, metavar="PATH")

    check = sub.add_parser("check-config", help="validate a configuration file (exit 2 if invalid)")
    check.add_argument("path", type=Path, metavar="PATH")

    tour = sub.add_parser("tour", help="render every screen to PNG files, headless")
    tour.add_argument("--out", type=Path, required=True, metavar="DIR")
    tour.add_argument("--lang", choices=("sl", "en"), help="one language (default: all enabled)")
    tour.add_argument("--config", type=Path, default=None, help=argparse.SUPPRESS)

    doctor = sub.add_parser("doctor", help="check configuration, store, devices and backend")
    doctor.add_argument("--config", type=Path, default=None, metavar="PATH")
    doctor.add_argument("--json", action="store_true", help="one JSON object instead of text")

    demo_ils = sub.add_parser("demo-ils", help="serve the embedded demo library over SIP2")
    demo_ils.add_argument("--port", type=int, default=6001, help="TCP port (default 6001)")
    demo_ils.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo_ils.add_argument("--tls", action="store_true", help="TLS (self-signed unless --cert)")
    demo_ils.add_argument("--cert", type=Path, metavar="PEM", help="server certificate (TLS)")
    demo_ils.add_argument("--key", type=Path, metavar="PEM", help="its private key")
    demo_ils.add_argument("--user", default="kiosk", help="SIP2 login user (default kiosk)")
    demo_ils.add_argument("--password", default="kiosk", help="SIP2 login password")
    demo_ils.add_argument("--data-dir", type=Path, help="keep the demo library's data here")
    demo_ils.add_argument("--charset", default="utf-8", help="SIP2 character set (cp850, ...)")
    demo_ils.add_argument("--config", type=Path, default=None, help=argparse.SUPPRESS)
    _add_sip2_parser(sub)
    _add_rfid_parser(sub)
    _add_devices_parser(sub)
    _add_outbox_parser(sub)
    _add_central_parser(sub)
    _add_update_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Long-running commands log their work; one-shot commands only problems.
    quiet = args.command not in ("demo", "run", "demo-ils")
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_FAILED
    except Exception as exc:  # a plain message, never a traceback, for anything expected
        from drivers.base import DeviceError
        from kiosk.circulation import BackendUnavailable
        from kiosk.store import StoreError

        if args.debug:
            raise
        if isinstance(exc, StoreError | BackendUnavailable | DeviceError):
            print(f"kiosk: {exc}", file=sys.stderr)
        else:
            print(
                f"kiosk: unexpected error ({type(exc).__name__}: {exc}); "
                "run again with --debug for details",
                file=sys.stderr,
            )
        return EXIT_FAILED


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.path)
    print(
        f"{args.path}: valid (backend {config.backend.kind}, RFID {config.devices.rfid}, "
        f"card reader {config.devices.card_reader}, data in {config.data_path()})"
    )
    return EXIT_OK


def _demo_config(args: argparse.Namespace) -> KioskConfig:
    config = load_config(args.config or default_config_path())
    if getattr(args, "data_dir", None):
        kiosk = config.kiosk.model_copy(update={"data_dir": str(args.data_dir.resolve())})
        config = config.model_copy(update={"kiosk": kiosk})
    return config


def _need_display() -> None:
    from screens.launch import has_display

    if not has_display():
        raise SystemExit(
            "kiosk: no display found. Run it in a desktop session, or on the kiosk device "
            "with SDL_VIDEODRIVER=kmsdrm (see README, 'On a real device'). "
            "To see the screens without a display, run: kiosk tour --out DIR"
        )


def cmd_demo(args: argparse.Namespace) -> int:
    config = _demo_config(args)
    if not args.report_first_frame:
        _need_display()
    from screens.launch import run_kiosk

    # With central.url = "" the demo runs the central API's reference server itself; not
    # for the start-up benchmark, which measures the kiosk as a device runs it.
    return run_kiosk(
        config,
        report_first_frame=args.report_first_frame,
        embed_central=not args.report_first_frame,
    )


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _need_display()
    from screens.launch import run_kiosk

    return run_kiosk(config)


def cmd_tour(args: argparse.Namespace) -> int:
    from screens.launch import has_display, reexec_under_xvfb

    config = load_config(args.config or default_config_path())
    if not has_display():
        reexec_under_xvfb()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.lang is None:
        # One process per language: a Kivy app runs once per process.
        for lang in config.kiosk.languages:
            if lang not in ("sl", "en"):
                continue
            cmd = [
                sys.executable,
                "-m",
                "screens.cli",
                "tour",
                "--out",
                str(args.out),
                "--lang",
                lang,
            ]
            if args.config:
                cmd += ["--config", str(args.config)]
            done = subprocess.run(cmd, env=os.environ.copy(), check=False)
            if done.returncode != 0:
                return done.returncode
        return EXIT_OK
    from screens.tour import run_tour

    for path in run_tour(config, args.out, args.lang):
        print(path)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from kiosk.doctor import diagnose, render_json, render_text

    code, checks = diagnose(args.config or default_config_path())
    if args.json:
        print(json.dumps(render_json(code, checks), ensure_ascii=False))
    else:
        print(render_text(code, checks))
    return code


def _demo_ils_certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """The demo's self-signed certificate: kept across runs so clients trust it once."""
    import time

    from kiosk.sip2.server import CertificateError, make_server_ssl_context
    from kiosk.sip2.server_tls import CERT_NAME, KEY_NAME, make_self_signed_certificate

    cert, key = folder / CERT_NAME, folder / KEY_NAME
    try:
        young = time.time() - cert.stat().st_mtime < 800 * 86400  # it is valid for 825 days
        if young and key.exists():
            make_server_ssl_context(cert, key)
            return cert, key
    except (OSError, CertificateError):
        pass  # missing or unusable: make a new one
    return make_self_signed_certificate(folder, host)


def cmd_demo_ils(args: argparse.Namespace) -> int:
    from kiosk.backends.demo import DemoLibrary
    from kiosk.sip2 import Codec, Sip2Error
    from kiosk.sip2.server import CertificateError, Sip2Server, make_server_ssl_context

    if args.key is not None and args.cert is None:
        print("kiosk: --key needs --cert", file=sys.stderr)
        return EXIT_CONFIG
    if not 0 <= args.port <= 65535:
        print(f"kiosk: --port must be 0 to 65535, not {args.port}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        Codec(charset=args.charset)
    except Sip2Error as exc:
        print(f"kiosk: --charset: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.data_dir is not None:
        data_dir = args.data_dir.resolve()
        database = data_dir / "demo-ils.sqlite"
    else:
        config = _demo_config(args)
        data_dir, database = config.data_path(), config.demo_database_path()
    context = None
    try:
        if args.cert is not None:
            context = make_server_ssl_context(args.cert, args.key)
        elif args.tls:
            cert, key = _demo_ils_certificate(data_dir / "tls", args.host)
            context = make_server_ssl_context(cert, key)
            print(f"self-signed certificate (trust it in the client): {cert}")
    except CertificateError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_FAILED
    library = DemoLibrary(database)
    try:
        server = Sip2Server(
            library,
            host=args.host,
            port=args.port,
            users={args.user: args.password},
            ssl_context=context,
            charset=args.charset,
        )
        try:
            server.start()
        except OSError as exc:
            reason = (
                "is already in use"
                if exc.errno == errno.EADDRINUSE
                else f"cannot be used: {exc.strerror or exc}"
            )
            print(f"kiosk: {args.host}:{args.port} {reason}", file=sys.stderr)
            return EXIT_FAILED
        host, port = server.address
        shown_password = args.password if args.password == "kiosk" else "***"
        print(
            f"demo library serving SIP2 on {host}:{port} ({'TLS' if context else 'plain'}), "
            f"login {args.user}/{shown_password}",
            flush=True,
        )
        server.serve_forever()
    finally:
        library.close()
    return EXIT_OK


def _add_sip2_parser(sub: argparse._SubParsersAction) -> None:
    """`kiosk sip2 ACTION`: the technician's checks of a SIP2 library system."""
    # Named here, not imported from kiosk.sip2.tool: building the parser must stay cheap.
    PASSWORD_ENV, PIN_ENV = "KIOSK_SIP2_PASSWORD", "KIOSK_SIP2_PIN"

    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("server (one of --url, --config)")
    where.add_argument(
        "--url",
        metavar="URL",
        help="sip2://USER@HOST:PORT, or sip2s://... for TLS; "
        f"the password comes from {PASSWORD_ENV} or a prompt",
    )
    where.add_argument(
        "--config", type=Path, metavar="PATH", help="use the [backend.sip2] section of this file"
    )
    how = common.add_argument_group("how to talk (override the URL's or the file's settings)")
    how.add_argument("--charset", help="utf-8, cp850, cp1250, latin-1, ascii")
    how.add_argument("--tls", action="store_true", help="connect with TLS (as sip2s://)")
    how.add_argument("--ca-file", type=Path, metavar="PEM", help="CA certificate(s) to trust")
    how.add_argument("--crlf", action="store_true", help="end messages with CR LF (not CR)")
    how.add_argument(
        "--no-checksums", action="store_true", help="send no sequence numbers and checksums"
    )
    how.add_argument("--timeout", type=float, metavar="S", help="seconds to wait (connect, answer)")
    how.add_argument("--institution", metavar="AO", help="institution id sent in requests")
    how.add_argument("--location", metavar="CP", help="location code sent at login")
    common.add_argument("--json", action="store_true", help="one JSON object instead of text")

    sip2 = sub.add_parser(
        "sip2",
        help="technician checks of a SIP2 library system",
        description="Talk to a SIP2 server as the kiosk would. Exit 0 when it worked, 1 when "
        "the server refused or could not be reached, 2 for a usage error. Card numbers are "
        f"shown masked; a PIN comes from {PIN_ENV} or a prompt, never the command line.",
    )
    actions = sip2.add_subparsers(dest="sip2_action", metavar="ACTION", required=True)
    actions.add_parser(
        "test", parents=[common], help="login, SC status, round-trip time, supported messages"
    )
    patron = actions.add_parser(
        "patron", parents=[common], help="identify a card: name, loans, holds ready, fees"
    )
    patron.add_argument("card", metavar="CARD")
    patron.add_argument(
        "--pin-prompt", action="store_true", help=f"ask for the PIN (or set {PIN_ENV})"
    )
    item = actions.add_parser("item", parents=[common], help="item status")
    item.add_argument("item", metavar="ITEM")
    checkout = actions.add_parser("checkout", parents=[common], help="lend ITEM to CARD")
    checkout.add_argument("card", metavar="CARD")
    checkout.add_argument("item", metavar="ITEM")
    checkin = actions.add_parser("checkin", parents=[common], help="return ITEM")
    checkin.add_argument("item", metavar="ITEM")
    renew = actions.add_parser("renew", parents=[common], help="renew CARD's loan of ITEM")
    renew.add_argument("card", metavar="CARD")
    renew.add_argument("item", metavar="ITEM")


def cmd_sip2(args: argparse.Namespace) -> int:
    import getpass
    import io

    from kiosk.sip2 import tool

    if not args.debug:
        # The client logs each failed attempt; here the one-line reason says it all.
        logging.getLogger("kiosk").setLevel(logging.ERROR)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")  # "•" and "č" on a terminal that lacks them
    ask = getpass.getpass if sys.stdin.isatty() else None
    options = tool.ConnectionOptions(
        url=args.url,
        config=args.config,
        charset=args.charset,
        tls=args.tls,
        ca_file=args.ca_file,
        crlf=args.crlf,
        no_checksums=args.no_checksums,
        timeout_s=args.timeout,
        institution=args.institution,
        location=args.location,
    )
    action = args.sip2_action
    try:
        card = tool.check_argument("CARD", args.card) if hasattr(args, "card") else ""
        item = tool.check_argument("ITEM", args.item) if hasattr(args, "item") else ""
        pin = None
        if action == "patron":
            pin = tool.obtain_secret(
                tool.PIN_ENV, "PIN: ", environ=os.environ, ask=ask if args.pin_prompt else None
            )
            if pin is None and args.pin_prompt:
                raise tool.UsageError(
                    f"--pin-prompt needs a terminal to ask on (or set {tool.PIN_ENV})"
                )
            if pin is not None:
                pin = tool.check_argument("the PIN", pin)
        target = tool.resolve_target(options, environ=os.environ, ask=ask)
    except tool.UsageError as exc:
        print(f"kiosk sip2: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if action == "test":
        outcome = tool.run_test(target)
    elif action == "patron":
        outcome = tool.run_patron(target, card, pin)
    elif action == "item":
        outcome = tool.run_item(target, item)
    elif action == "checkout":
        outcome = tool.run_checkout(target, card, item)
    elif action == "checkin":
        outcome = tool.run_checkin(target, item)
    else:
        outcome = tool.run_renew(target, card, item)
    if args.json:
        print(json.dumps(outcome.data, ensure_ascii=False), flush=True)
    elif outcome.text:
        print(outcome.text, flush=True)
    if outcome.error:
        print(f"kiosk sip2: {outcome.error}", file=sys.stderr)
    return outcome.exit_code


def _add_rfid_parser(sub: argparse._SubParsersAction) -> None:
    """`kiosk rfid decode|encode`: the technician's look at library tag data (ISO 28560)."""
    rfid = sub.add_parser(
        "rfid",
        help="decode or encode library RFID tag data (ISO 28560)",
        description='Exit 0 when it worked (a blank tag too: standard "blank"), 1 for a tag '
        "that cannot be decoded (reason on stderr), 2 for bad hex or arguments.",
    )
    actions = rfid.add_subparsers(dest="rfid_action", metavar="ACTION", required=True)
    decode = actions.add_parser("decode", help="print one JSON object describing the tag")
    decode.add_argument("hex", metavar="HEX", help="the tag's user memory, from block 0")
    decode.add_argument(
        "--dsfid", default="0", metavar="N", help="the tag's DSFID (0x06 for ISO 28560-2)"
    )
    encode = actions.add_parser("encode", help="print the user memory for an item, as hex")
    encode.add_argument("--item-id", required=True, metavar="ID")
    encode.add_argument("--country", metavar="CC", help="country of the owner library (SI)")
    encode.add_argument("--isil", metavar="ISIL", help="owner library: SI-50100 or 50100")
    encode.add_argument("--parts", type=int, default=1, metavar="N", help="parts in the item")
    encode.add_argument("--part", type=int, default=1, metavar="K", help="this part's number")
    encode.add_argument("--part2", action="store_true", help="ISO 28560-2 instead of part 3")
    scan = actions.add_parser(
        "scan",
        help="show the tags on a reader's pad, decoded, with their security state",
        description="Refreshes until Ctrl-C (printing changes), or once with --once. Exit 1 "
        "when the reader cannot be opened or does not answer, 2 for a usage error.",
    )
    scan.add_argument("--reader", required=True, metavar="URL", help="e.g. feig:/dev/ttyUSB0")
    scan.add_argument("--once", action="store_true", help="one inventory, then exit")
    scan.add_argument("--json", action="store_true", help="one JSON object per inventory")
    scan.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="seconds between inventories"
    )
    scan.add_argument("--afi-on-loan", default="0xC2", metavar="AFI", help="default 0xC2")
    scan.add_argument("--afi-in-library", default="0x07", metavar="AFI", help="default 0x07")


def cmd_rfid(args: argparse.Namespace) -> int:
    from kiosk import rfid_tool

    if args.rfid_action == "scan":
        return _rfid_scan(args)
    if args.rfid_action == "decode":
        outcome = rfid_tool.run_decode(args.hex, args.dsfid)
    else:
        outcome = rfid_tool.run_encode(
            args.item_id,
            country=args.country,
            isil=args.isil,
            parts=args.parts,
            part=args.part,
            part2=args.part2,
        )
    if outcome.data is not None:
        text = outcome.data["hex"] if args.rfid_action == "encode" else json.dumps(outcome.data)
        print(text, flush=True)
    if outcome.error:
        print(f"kiosk rfid: {outcome.error}", file=sys.stderr)
    return outcome.exit_code


def _rfid_scan(args: argparse.Namespace) -> int:
    from kiosk import rfid_tool

    if not args.debug:
        # The driver logs each failed attempt; the one-line reason says it all.
        logging.getLogger("drivers").setLevel(logging.ERROR)
    try:
        options = rfid_tool.check_scan_options(
            args.reader,
            interval_s=args.interval,
            afi_on_loan=args.afi_on_loan,
            afi_in_library=args.afi_in_library,
            once=args.once,
            as_json=args.json,
        )
    except rfid_tool.UsageError as exc:
        print(f"kiosk rfid: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        outcome = rfid_tool.run_scan(options, sys.stdout)
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is how a live scan ends
    if outcome.error:
        print(f"kiosk rfid: {outcome.error}", file=sys.stderr)
    return outcome.exit_code


def _add_devices_parser(sub: argparse._SubParsersAction) -> None:
    devices = sub.add_parser(
        "devices",
        help="list attached serial ports, USB, NFC readers, scanners and printers",
        description="Lists what is attached and which configured device URL matches each. "
        "Exit 0 when the listing worked, 2 for a bad configuration file.",
    )
    devices.add_argument("--config", type=Path, default=None, metavar="PATH")
    devices.add_argument("--json", action="store_true", help="one JSON object instead of text")


def cmd_devices(args: argparse.Namespace) -> int:
    from kiosk import devices_tool

    config = devices_tool.load_devices_config(args.config or default_config_path())
    listing = devices_tool.list_devices(config.devices)
    if args.json:
        print(json.dumps(listing, ensure_ascii=False))
    else:
        print(devices_tool.render_text(listing))
    return EXIT_OK


def _add_outbox_parser(sub: argparse._SubParsersAction) -> None:
    from kiosk.store.outbox import OUTBOX_STATES

    outbox = sub.add_parser(
        "outbox",
        help="what the kiosk still has to send, and the reconciliation report for staff",
        description="Reads the kiosk's store (safe while the kiosk runs). Exit 0 when done; "
        "report exits 1 when entries need staff; 2 for a bad configuration.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=None, metavar="PATH")
    common.add_argument("--json", action="store_true", help="JSON instead of text")
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="entries, oldest first")
    listing.add_argument(
        "--state", action="append", choices=OUTBOX_STATES, help="only these (repeatable)"
    )
    listing.add_argument("--limit", type=int, default=100)
    actions.add_parser("report", parents=[common], help="reconciliation report: conflicts, failed")
    retry = actions.add_parser(
        "retry", parents=[common], help="send failed or conflicting entries again"
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="client ids from list or report")
    retry.add_argument("--all", action="store_true", help="every failed or conflicting entry")
    resolve = actions.add_parser(
        "resolve", parents=[common], help="mark entries settled by hand in the library system"
    )
    resolve.add_argument("ids", nargs="+", metavar="ID")
    resolve.add_argument("--note", default="", help="what was done (kept with the entry)")


def cmd_outbox(args: argparse.Namespace) -> int:
    from kiosk import outbox_tool
    from kiosk.store import Store

    config = load_config(args.config or default_config_path())
    with Store.open(config.store_path()) as store:
        action = args.outbox_command
        if action == "list":
            rows = outbox_tool.list_entries(store, args.state, args.limit)
            out = json.dumps(rows, ensure_ascii=False) if args.json else None
            print(out or outbox_tool.render_list(rows))
            return EXIT_OK
        if action == "report":
            data = outbox_tool.report(store)
            print(
                json.dumps(data, ensure_ascii=False)
                if args.json
                else outbox_tool.render_report(data)
            )
            return EXIT_FAILED if data["needs_staff"] else EXIT_OK
        if action == "retry":
            if not args.ids and not args.all:
                print("kiosk outbox retry: give entry ids, or --all", file=sys.stderr)
                return EXIT_CONFIG
            done = outbox_tool.retry(store, args.ids, all_staff=args.all)
            records = [outbox_tool.entry_record(entry) for entry in done]
            if args.json:
                print(json.dumps(records, ensure_ascii=False))
            else:
                print(
                    f"{len(done)} entr{'y' if len(done) == 1 else 'ies'} queued again; "
                    "the kiosk sends them at its next check of the library system."
                )
            return EXIT_OK
        done = outbox_tool.resolve(store, args.ids, args.note)
        if args.json:
            print(json.dumps([outbox_tool.entry_record(e) for e in done], ensure_ascii=False))
        else:
            print(f"{len(done)} entr{'y' if len(done) == 1 else 'ies'} marked as settled.")
        return EXIT_OK


def _add_central_parser(sub: argparse._SubParsersAction) -> None:
    """`kiosk central serve|openapi`: the reference server of the central API."""
    central = sub.add_parser(
        "central",
        help="the central API's reference server (events, registrations, devices)",
        description="Exit 0 when done, 1 when the server cannot start or the contract "
        "differs (--check), 2 for a usage error.",
    )
    actions = central.add_subparsers(dest="central_action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve the central API (SQLite by default, PostgreSQL by URL)",
        description="Serves until Ctrl-C. Prints its address and the demo's admin and device "
        "tokens (kept in central-tokens.json in the data folder). Set "
        f"{CENTRAL_ADMIN_TOKEN_ENV} to choose the admin token.",
    )
    serve.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--db",
        metavar="URL",
        help="database: a SQLite file path, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
        "(default: central.sqlite in the data folder)",
    )
    serve.add_argument("--seed", action="store_true", help="load the Slovenian sample events")
    serve.add_argument("--data-dir", type=Path, help="keep the database and tokens here")
    serve.add_argument("--config", type=Path, default=None, help=argparse.SUPPRESS)
    openapi = actions.add_parser("openapi", help="print or write the OpenAPI contract")
    openapi.add_argument("--out", type=Path, metavar="PATH", help="write it to this file")
    openapi.add_argument(
        "--check", action="store_true", help="exit 1 if central/openapi.json is not up to date"
    )


CENTRAL_ADMIN_TOKEN_ENV = "KIOSK_CENTRAL_ADMIN_TOKEN"


def cmd_central(args: argparse.Namespace) -> int:
    if args.central_action == "openapi":
        from central.contract import CONTRACT_PATH, committed, render

        text = render()
        if args.check:
            if committed() != text:
                print(
                    f"kiosk central: {CONTRACT_PATH} is not up to date; "
                    f"run: kiosk central openapi --out {CONTRACT_PATH}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            print(f"{CONTRACT_PATH} is up to date")
            return EXIT_OK
        if args.out:
            args.out.write_text(text, encoding="utf-8")
            print(f"wrote {args.out}")
        else:
            sys.stdout.write(text)
        return EXIT_OK

    from central.database import DatabaseUrlError
    from central.migrate import MigrationError
    from central.server import ServeError, serve

    if not 0 <= args.port <= 65535:
        print(f"kiosk central: --port must be 0 to 65535, not {args.port}", file=sys.stderr)
        return EXIT_CONFIG
    if args.data_dir is not None:
        data_dir = args.data_dir.resolve()
    else:
        data_dir = _demo_config(args).data_path()
    database = args.db or str(data_dir / "central.sqlite")
    try:
        serve(
            database,
            host=args.host,
            port=args.port,
            seed=args.seed,
            credentials_file=data_dir / "central-tokens.json",
            admin_token=os.environ.get(CENTRAL_ADMIN_TOKEN_ENV) or None,
            say=lambda line: print(line, flush=True),
        )
    except DatabaseUrlError as exc:
        print(f"kiosk central: --db: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (MigrationError, ServeError) as exc:
        print(f"kiosk central: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _add_update_parser(sub: argparse._SubParsersAction) -> None:
    """`kiosk update ACTION`: releases side by side, switched safely (run as root)."""
    update = sub.add_parser(
        "update",
        help="install, switch to and roll back kiosk releases (as root)",
        description="Releases live side by side in /opt/library-kiosk/releases; a switch "
        "migrates a copy of the database, restarts the kiosk and rolls back by itself when "
        "the new release does not show its first frame and answer the watchdog in time. "
        "Exit 0 when done, 1 when it failed or was rolled back, 2 for a usage error.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="releases folder (default: the one this kiosk runs from, else /opt/library-kiosk)",
    )
    common.add_argument("--config", type=Path, default=UPDATE_CONFIG, metavar="PATH")
    service = argparse.ArgumentParser(add_help=False)
    service.add_argument("--unit", default="kiosk.service", help="the kiosk's systemd unit")
    service.add_argument(
        "--deadline",
        type=float,
        default=180.0,
        metavar="S",
        help="seconds a release has to show its first frame and answer the watchdog",
    )
    service.add_argument(
        "--probation", type=float, default=60.0, metavar="S", help="then to keep running"
    )
    actions = update.add_subparsers(dest="update_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", parents=[common], help="releases, last switch, health")
    status.add_argument("--json", action="store_true", help="one JSON object instead of text")
    install = actions.add_parser(
        "install",
        parents=[common],
        help="install a release beside the running one; its migrations are tried on a copy",
    )
    install.add_argument("source", metavar="SOURCE", help="wheel, URL, source or wheel folder")
    install.add_argument("--version", help="the release version (default: from the source)")
    install.add_argument("--sha256", help="checksum the wheel must have")
    switch = actions.add_parser(
        "switch", parents=[common, service], help="switch to an installed release"
    )
    switch.add_argument("version", metavar="VERSION")
    actions.add_parser(
        "rollback", parents=[common, service], help="go back to the previous release"
    )
    actions.add_parser(
        "recover",
        parents=[common],
        help="finish a switch a power cut interrupted (kiosk.service runs it before starting)",
    )
    actions.add_parser(
        "apply-request",
        parents=[common, service],
        help="carry out the version the central API asked for (kiosk-update.service)",
    )
    migrate = actions.add_parser(
        "migrate", help="migrate a database file (a copy) to this release's schema (updater)"
    )
    migrate.add_argument("database", type=Path, metavar="PATH")


UPDATE_CONFIG = Path("/etc/library-kiosk/kiosk.toml")


def cmd_update(args: argparse.Namespace) -> int:
    from kiosk import updates

    action = args.update_action
    try:
        if action == "migrate":
            revision = updates.migrate_database_file(args.database)
            print(f"{args.database}: schema revision {revision}")
            return EXIT_OK
        layout = updates.Layout(args.root or updates.default_root())
        # Only paths are read: secrets may live in the service's environment alone.
        config = load_config(args.config, environ=updates.PathsOnlyEnviron(), remote=False)
        places = updates.Places(config.data_path(), config.store_path())
        if action == "status":
            info = updates.status(layout, places)
            print(
                json.dumps(info, ensure_ascii=False) if args.json else updates.render_status(info)
            )
            return EXIT_OK
        if action == "install":
            version = updates.install_release(
                layout, args.source, version=args.version, sha256=args.sha256
            )
            updates.try_migration(layout, version, places.database)
            print(
                f"release {version} is installed in {layout.release_dir(version)} (its "
                f"migrations worked on a copy of the database); switch with: "
                f"kiosk update switch {version}"
            )
            return EXIT_OK
        if action == "recover":
            try:
                back = updates.recover(layout, places, updates.NoService(), updates.Timing(0, 0))
            except updates.UpdateBusy:
                print("an update is in progress; its updater watches this start")
                return EXIT_OK
            print(back.message if back else "no interrupted update")
            return EXIT_OK
        service = updates.SystemdService(args.unit)
        timing = updates.Timing(first_frame_s=args.deadline, probation_s=args.probation)
        if action == "switch":
            outcome = updates.switch(layout, args.version, places, service, timing)
        elif action == "rollback":
            outcome = updates.rollback(layout, places, service, timing)
        else:
            allowed = updates.allowed_sources()
            done = updates.process_request(layout, places, service, timing, allowed=allowed)
            if done is None:
                print("no update was asked for")
                return EXIT_OK
            outcome = done
    except updates.UpdateError as exc:
        print(f"kiosk update: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(outcome.message, file=sys.stdout if outcome.ok else sys.stderr)
    return EXIT_OK if outcome.ok else EXIT_FAILED


COMMANDS = {
    "demo": cmd_demo,
    "run": cmd_run,
    "check-config": cmd_check_config,
    "tour": cmd_tour,
    "doctor": cmd_doctor,
    "demo-ils": cmd_demo_ils,
    "sip2": cmd_sip2,
    "rfid": cmd_rfid,
    "devices": cmd_devices,
    "outbox": cmd_outbox,
    "central": cmd_central,
    "update": cmd_update,
}

if __name__ == "__main__":
    sys.exit(main())
