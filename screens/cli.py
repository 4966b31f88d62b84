"""The `kiosk` command.

It lives with the screens because it starts them; the commands that need no
window (`check-config`, `doctor`, `--version`) never import Kivy, so they stay
fast and work on a machine without a display.
Exit codes: 0 success, 1 failure at run time, 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
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

    return run_kiosk(config, report_first_frame=args.report_first_frame)


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


COMMANDS = {
    "demo": cmd_demo,
    "run": cmd_run,
    "check-config": cmd_check_config,
    "tour": cmd_tour,
    "doctor": cmd_doctor,
}

if __name__ == "__main__":
    sys.exit(main())
