"""When the kiosk cannot start (store damaged, library system not configured…),
the patron sees a plain out-of-service message and no buttons that cannot work;
the technician's detail goes to the log, never a traceback on screen."""

from __future__ import annotations

from pathlib import Path

from kiosk.i18n import Localizer
from kiosk.store import StoreError
from tests.helpers import demo_config_in


def test_out_of_service_screen(tmp_path: Path) -> None:
    config = demo_config_in(tmp_path / "data")
    from screens.launch import _prepare

    _prepare(config, width=1280, height=800)
    from screens.app import KioskApp
    from screens.harness import run_script

    def broken_runtime():
        raise StoreError("The kiosk database /x is damaged. It was not changed.")

    seen: dict[str, str] = {}

    def script(h):
        yield
        seen["fault"] = h.text("fault")
        seen["screen"] = h.screen_text()
        seen["borrow_visible"] = str(bool(h.find_all("borrow")))
        h.screenshot(tmp_path / "out-of-service.png")
        yield

    harness = run_script(KioskApp(config, broken_runtime), script)
    assert harness.failure is None, harness.failure
    sl = Localizer("sl")
    assert seen["fault"] == sl._("This kiosk is out of service. Please use the desk; we are sorry.")
    assert seen["borrow_visible"] == "False"
    assert sl._("Tap your library card to borrow, or choose below.") not in seen["screen"]
    assert "database" not in seen["screen"] and "Traceback" not in seen["screen"]
    assert (tmp_path / "out-of-service.png").stat().st_size > 10_000
