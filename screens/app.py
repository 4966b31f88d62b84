"""The Kivy application: shows the core's session, forwards touches to it.

All calls into the core go through one worker thread, so the UI thread never
waits on the library system or a device. The core publishes immutable views;
a Clock trigger coalesces them and applies the newest on the UI thread.
Import only after `screens.boot.prepare_kivy`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Keyboard, Window
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition

from kiosk.config import KioskConfig
from kiosk.i18n import Localizer
from kiosk.presenter import (
    Texts,
    join_notices,
    present,
    present_account,
    receipt_tone,
    renewable_keys,
)
from kiosk.session import SessionView
from screens import widgets  # noqa: F401  (registers the shared widget classes)
from screens.account import account_items
from screens.views import SCREENS
from screens.watchdog import UiWatchdog

if TYPE_CHECKING:
    from kiosk.runtime import Runtime

log = logging.getLogger(__name__)
KV_DIR = Path(__file__).parent
POLL_INTERVAL_S = 0.2
# The core's actions a touch may trigger (nothing else is reachable from the screen).
ACTIONS = frozenset(
    {
        "begin_borrow",
        "begin_return",
        "begin_account",
        "show_account",
        "back_to_borrowing",
        "renew",
        "renew_all",
        "choose_receipt",
        "keypad_digit",
        "keypad_delete",
        "keypad_ok",
        "finish",
        "logout",
        "extend",
        "set_language",
    }
)

# Texts shown as they are; the rows and the receipt choices become lists for the screens.
TEXT_FIELDS = tuple(f for f in Texts.__dataclass_fields__ if f not in ("rows", "receipt_choices"))


def _is_plain(exc: BaseException) -> bool:
    """Errors whose message already says everything (no traceback needed in the log)."""
    from drivers.base import DeviceError
    from kiosk.circulation import BackendUnavailable
    from kiosk.store import StoreError

    return isinstance(exc, StoreError | BackendUnavailable | DeviceError)


class WarningOverlay(FloatLayout):
    """The 'are you still there?' dialog; shown while the core counts down to logout.

    While shown it takes every touch (the screen behind must not react); while
    hidden it takes none (a disabled Kivy widget would swallow them)."""

    def on_touch_down(self, touch: Any) -> bool:
        if self.opacity == 0:
            return False
        super().on_touch_down(touch)
        return True


class KioskRoot(FloatLayout):
    pass


class KioskApp(App):
    title = "Library kiosk"
    # Kivy re-evaluates kv expressions only through properties of event dispatchers,
    # so every text a screen shows is a flat property here, set from the presenter.
    view = ObjectProperty(SessionView())
    language = StringProperty("")
    greeting = StringProperty("")
    instruction = StringProperty("")
    notice = StringProperty("")
    summary_headline = StringProperty("")
    summary_detail = StringProperty("")
    keypad_label = StringProperty("")
    keypad_display = StringProperty("")
    warning = StringProperty("")
    device_notice = StringProperty("")
    offline_notice = StringProperty("")
    rows = ListProperty()
    session_state = StringProperty("idle")  # the session's state, for what a shared screen shows
    # The summary's receipt choice: [(kind, label)] until chosen, then what became of it.
    receipt_prompt = StringProperty("")
    receipt_choices = ListProperty()
    receipt_status = StringProperty("")
    receipt_tone = StringProperty("neutral")
    # The account screen.
    account_heading = StringProperty("")
    account_unavailable = StringProperty("")
    account_can_renew_all = BooleanProperty(False)
    account_items = ListProperty()  # RecycleView data: headings, loans, holds, fees
    library_name = StringProperty("")
    dev_tray_open = BooleanProperty(False)
    keypad_stage = StringProperty("card")
    typed_card_number = BooleanProperty(True)
    ready = BooleanProperty(False)  # the core is up
    fault = StringProperty("")  # why the kiosk is out of service (patron's words)

    def __init__(
        self,
        config: KioskConfig,
        open_runtime: Callable[[], Runtime],
        *,
        dev_tray: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """`open_runtime` runs on the worker thread once the first frame is shown:
        the store, the library system and the devices open while the patron
        already sees the kiosk, and touches made meanwhile wait in line."""
        self.config_ = config
        self._open_runtime = open_runtime
        self.runtime: Runtime | None = None
        self.loc = Localizer(config.kiosk.default_language)
        super().__init__(**kwargs)
        self._show_texts(SessionView(language=config.kiosk.default_language))
        self.library_name = config.kiosk.library
        self.typed_card_number = "keypad" in config.identify.methods
        self._dev_tray_enabled = config.display.dev_tray if dev_tray is None else dev_tray
        self._tray_key = config.display.dev_tray_key
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-core")
        self._outstanding = 0  # jobs submitted to the worker and not finished yet
        self._outstanding_lock = threading.Lock()
        self._latest_view: SessionView | None = None
        self._apply_trigger = Clock.create_trigger(self._apply_view)
        self._heartbeat_job: Future[Any] | None = None
        self._loaded_kv: set[str] = set()
        # systemd's watchdog: READY at the first frame, pings from this UI loop's clock.
        self.watchdog = UiWatchdog(Clock.schedule_interval, data_dir=config.data_path())
        self.first_frame = threading.Event()
        self.on_first_frame: Any = None

    # --- building --------------------------------------------------------------------
    def build(self) -> KioskRoot:
        Builder.load_file(str(KV_DIR / "widgets.kv"))
        Builder.load_file(str(KV_DIR / "root.kv"))
        root = KioskRoot()
        root.ids.sm.transition = NoTransition()
        for lang in self.config_.kiosk.languages:
            button = Factory.LanguageButton()
            button.lang = lang
            root.ids.languages.add_widget(button)
        self._show_screen(root, "idle")
        Window.bind(on_key_down=self._on_key_down)
        Window.bind(on_flip=self._on_flip)
        return root

    def _on_flip(self, *_args: Any) -> None:
        # The first complete frame, about to be swapped onto the screen.
        Window.unbind(on_flip=self._on_flip)
        self.first_frame.set()
        self.watchdog.first_frame()
        if self.on_first_frame is not None:
            self.on_first_frame()
        self._submit(self._start_core)

    def _start_core(self) -> None:
        """Worker thread: open everything, then let the UI follow the core."""
        try:
            runtime = self._open_runtime()
        except Exception as exc:
            log.error("the kiosk cannot start: %s", exc, exc_info=not _is_plain(exc))
            Clock.schedule_once(lambda _dt: self._out_of_service(), 0)
            return
        self.runtime = runtime
        runtime.start_central_sync()
        self._unsubscribe = runtime.core.subscribe(self._on_view)
        Clock.schedule_once(lambda _dt: self._core_ready(), 0)

    def _core_ready(self) -> None:
        self.ready = True
        if self._dev_tray_enabled:
            self._setup_dev_tray(self.root)
        Clock.schedule_interval(self._heartbeat, POLL_INTERVAL_S)

    def _out_of_service(self) -> None:
        self.watchdog.out_of_service("the kiosk could not start; see journalctl -u kiosk")
        self.fault = self.loc._("This kiosk is out of service. Please use the desk; we are sorry.")

    def on_stop(self) -> None:
        self.watchdog.stop()
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._unsubscribe()

    _unsubscribe: Callable[[], None] = staticmethod(lambda: None)

    # --- talking to the core (never on the UI thread) ----------------------------------------
    def act(self, action: str, *args: Any) -> Future[Any]:
        """Run one of the core's patron actions on the worker thread."""
        if action not in ACTIONS:
            raise ValueError(f"not a patron action: {action}")
        return self._submit(self._call_core, action, *args)

    def _call_core(self, action: str, *args: Any) -> None:
        # Resolved on the worker: a touch made while the core starts waits for it.
        if self.runtime is not None:
            getattr(self.runtime.core, action)(*args)

    def choose_language(self, lang: str) -> None:
        self.act("set_language", lang)

    def _submit(self, fn: Any, *args: Any) -> Future[Any]:
        with self._outstanding_lock:
            self._outstanding += 1
        future = self._worker.submit(fn, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._outstanding_lock:
            self._outstanding -= 1
        if not future.cancelled() and future.exception() is not None:
            # Logged for technicians; the patron sees the screen carry on, never a traceback.
            log.error("core action failed", exc_info=future.exception())

    def is_settled(self) -> bool:
        """The core is up (or failed), no work is queued for it and no view is waiting
        to be shown (for the harness)."""
        with self._outstanding_lock:
            busy = self._outstanding > 0
        return (self.ready or bool(self.fault)) and not busy and self._latest_view is None

    def _heartbeat(self, _dt: float) -> None:
        # One poll at a time: a slow device must not pile up work behind it.
        if self._heartbeat_job is None or self._heartbeat_job.done():
            self._heartbeat_job = self._submit(self._poll_and_tick)

    def _poll_and_tick(self) -> None:
        if self.runtime is not None:
            self.runtime.core.poll_devices()
            self.runtime.core.tick()
            self.runtime.core.sync()

    # --- showing the core's state (UI thread) --------------------------------------------
    def _on_view(self, view: SessionView) -> None:
        self._latest_view = view
        self._apply_trigger()

    def _apply_view(self, _dt: float) -> None:
        view, self._latest_view = self._latest_view, None
        if view is None:
            return
        self._show_texts(view)
        self.view = view
        if self.root is not None:
            self._show_screen(self.root, view.state)

    def _show_texts(self, view: SessionView) -> None:
        if view.language != self.loc.lang:
            self.loc = Localizer(view.language)
        texts = present(view, self.loc)
        for name in TEXT_FIELDS:
            setattr(self, name, getattr(texts, name))
        renewable = renewable_keys(view)
        self.rows = [
            {
                "key": r.key,
                "title": r.title,
                "status": r.status,
                "detail": r.detail,
                "tone": r.tone,
                "can_renew": r.key in renewable,
            }
            for r in texts.rows
        ]
        self.receipt_choices = [list(choice) for choice in texts.receipt_choices]
        self.receipt_tone = receipt_tone(view.receipt)
        account = present_account(view.account, self.loc)
        self.account_heading = account.heading
        self.account_unavailable = account.unavailable
        self.account_can_renew_all = account.can_renew_all and not account.unavailable
        self.account_items = account_items(account) if view.account is not None else []
        self.language = view.language
        self.keypad_stage = view.keypad.stage
        self.session_state = str(view.state)

    @staticmethod
    def notices(*parts: str) -> str:
        """The one banner a screen shows: kv passes the texts so a change re-renders it."""
        return join_notices(*parts)

    @staticmethod
    def notice_tone(*alarming: str) -> str:
        """Red when something needs the patron now; amber when the library system is away."""
        return "bad" if any(alarming) else "attention"

    def tr(self, message: str, _language: str) -> str:
        """Translate a fixed text; kv passes `app.language` so a switch re-renders it."""
        return self.loc._(message)

    def _show_screen(self, root: KioskRoot, state: str) -> None:
        name, cls, kv = SCREENS[state]
        sm = root.ids.sm
        if not sm.has_screen(name):
            if kv not in self._loaded_kv:  # kv files load on first use: a faster first frame
                Builder.load_file(str(KV_DIR / kv))
                self._loaded_kv.add(kv)
            sm.add_widget(cls(name=name))
        if sm.current != name:
            sm.current = name

    # --- developer tray (demo only; its code loads on first use) -----------------------
    _tray: Any = None

    def _setup_dev_tray(self, root: KioskRoot) -> None:
        assert self.runtime is not None
        from screens.devtray import DevTray, simulated_devices

        devices = simulated_devices(self.runtime)
        if devices is None:
            log.warning("developer tray needs the sim: reader and card reader; not shown")
            return
        Builder.load_file(str(KV_DIR / "devtray.kv"))
        self._tray = DevTray(devices=devices, on_close=self.toggle_dev_tray)
        root.add_widget(self._tray)
        toggle = Factory.TrayButton(text="Demo", size_hint=(None, None), width=110)
        toggle.tid = "tray-toggle"
        toggle.bind(on_release=lambda *_: self.toggle_dev_tray())
        root.ids.topbar.add_widget(toggle, index=1)  # before the language buttons

    def toggle_dev_tray(self) -> None:
        if self._tray is not None:
            self._tray.fill_once()  # built on first use: a kiosk rarely needs it
            self.dev_tray_open = not self.dev_tray_open

    def _on_key_down(self, _window: Any, key: int, *_args: Any) -> bool:
        if key == Keyboard.keycodes.get(self._tray_key):
            self.toggle_dev_tray()
            return True
        return False
