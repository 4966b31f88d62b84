"""Start the Kivy app for a configuration: `kiosk run`, `kiosk demo`, `kiosk tour`."""

from __future__ import annotations

import json
import os
import shutil
import sys

from kiosk.config import KioskConfig

XVFB_SCREEN = "-screen 0 1920x1200x24"


def has_display() -> bool:
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("SDL_VIDEODRIVER") in ("kmsdrm", "offscreen", "wayland", "x11")
    )


def reexec_under_xvfb() -> None:
    """Run this same command again on a virtual screen (for headless screenshots)."""
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        raise SystemExit(
            "kiosk: no display, and xvfb-run is not installed to make one.\n"
            "Install it with: sudo apt-get install xvfb xauth libgl1-mesa-dri"
        )
    argv = [xvfb_run, "-a", "-s", XVFB_SCREEN, sys.executable, "-m", "screens.cli", *sys.argv[1:]]
    os.execv(xvfb_run, argv)


def _prepare(config: KioskConfig, *, width: int | None = None, height: int | None = None) -> None:
    from screens.boot import prepare_kivy

    prepare_kivy(
        kivy_home=config.data_path() / "kivy",
        width=width or config.display.width,
        height=height or config.display.height,
        fullscreen=config.display.fullscreen,
        show_cursor=config.display.show_cursor,
    )


def run_kiosk(
    config: KioskConfig, *, report_first_frame: bool = False, embed_central: bool = False
) -> int:
    """Run the kiosk until it is stopped. With `report_first_frame`, print start-up
    figures as one JSON line once the first frame is on screen, then quit (benchmark).
    With `embed_central` (the demo) and no central API configured, the reference server
    runs on loopback with the sample events (screens/central_embed.py)."""
    _prepare(config)
    from screens.app import KioskApp

    stops: list = []

    def open_runtime():  # on the worker thread, after the first frame
        from kiosk.runtime import Runtime

        used = config
        if embed_central and not config.central.url:
            from screens.central_embed import start_embedded_central, with_central

            central = start_embedded_central(config.data_path())
            stops.append(central.stop)
            used = with_central(config, central)
        return Runtime.open(used)

    app = KioskApp(config, open_runtime)
    try:
        if report_first_frame:
            _report_start_up(app)
        app.run()
    finally:
        if app.runtime is not None:
            app.runtime.close()
        for stop in stops:
            stop()
    return 0 if not app.fault else 1


def _report_start_up(app) -> None:
    """For bench/startup.py: time to the first frame, time until the core is up
    (store, library system, devices) and the memory then; one JSON line, then quit."""
    from kivy.clock import Clock

    figures: dict[str, float] = {}

    def first_frame() -> None:
        figures["first_frame_s"] = round(_seconds_since_process_start(), 3)
        app.bind(ready=ready, fault=ready)

    def ready(*_args: object) -> None:
        figures["ready_s"] = round(_seconds_since_process_start(), 3)
        figures["rss_mib"] = round(_rss_mib(), 1)
        figures["software_gl_mib"] = round(_software_gl_mib(), 1)
        print(json.dumps(figures), flush=True)
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    app.on_first_frame = first_frame


def _seconds_since_process_start() -> float:
    """Wall time since this process was created (exec included), from /proc."""
    with open("/proc/self/stat") as fh:
        start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as fh:
        uptime = float(fh.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def _software_gl_mib() -> float:
    """Resident memory of Mesa's software renderer (llvmpipe/swrast), loaded only
    on machines without a GPU driver, such as a virtual screen."""
    total_kib, counting = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                name = fields[5] if len(fields) > 5 else ""
                counting = any(k in name for k in ("libLLVM", "swrast_dri", "libz3", "llvmpipe"))
            elif counting and fields[0] == "Rss:":
                total_kib += int(fields[1])
    return total_kib / 1024


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
