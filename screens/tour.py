"""`kiosk tour`: every screen in representative states, one PNG each.

The tour runs the real app on a fresh copy of the demo library, touches it
like a patron (the developer tray's simulated devices stand in for cards and
books) and photographs each state. Tests and the README use its pictures.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Generator
from pathlib import Path

from kiosk.backends.demo_data import SAMPLE_ITEMS, SAMPLE_PATRONS, SampleItem, SamplePatron
from kiosk.circulation import BackendStatus, BackendUnavailable, Reason
from kiosk.config import KioskConfig
from kiosk.demo import demo_tags
from kiosk.runtime import Runtime
from screens.launch import _prepare

TOUR_SIZE = (1280, 800)


class OffsetClock:
    """A monotonic clock the tour can move forward, to show the logout warning now."""

    def __init__(self) -> None:
        import time

        self._monotonic = time.monotonic
        self.offset = 0.0

    def __call__(self) -> float:
        return self._monotonic() + self.offset


def sample_patron(**wanted: object) -> SamplePatron:
    return next(p for p in SAMPLE_PATRONS if all(getattr(p, k) == v for k, v in wanted.items()))


def borrower() -> SamplePatron:
    return sample_patron(is_child=False, blocked=False, expired=False, fees_cents=0)


def plain_items(n: int) -> list[SampleItem]:
    plain = [
        i
        for i in SAMPLE_ITEMS
        if i.parts == 1 and not i.reference_only and not i.hold_for and not i.on_loan_to
    ]
    return plain[:n]


def two_part_item() -> SampleItem:
    return next(i for i in SAMPLE_ITEMS if i.parts == 2)


def reserved_item() -> SampleItem:
    return next(i for i in SAMPLE_ITEMS if i.hold_for)


def renewable_loan(patron: SamplePatron) -> SampleItem:
    """Already lent to `patron` at seed time, nobody waiting for it: it can be renewed."""
    return next(i for i in SAMPLE_ITEMS if i.on_loan_to == patron.card and not i.hold_for)


def reserved_loan(patron: SamplePatron) -> SampleItem:
    """Lent to `patron`, overdue and reserved by someone else: no renewal."""
    return next(i for i in SAMPLE_ITEMS if i.on_loan_to == patron.card and i.hold_for)


def tags_of(item: SampleItem) -> list:
    return [t for t in demo_tags() if t.item_id == item.item_id]


def foreign_tag():
    return next(t for t in demo_tags() if not t.item_id and "not a library" in t.label)


def run_tour(config: KioskConfig, out_dir: Path, lang: str) -> list[Path]:
    """Render the tour in one language; returns the PNG files written."""
    with tempfile.TemporaryDirectory(prefix="kiosk-tour-") as tmp:
        config = with_data_dir(config, Path(tmp))
        _prepare(config, width=TOUR_SIZE[0], height=TOUR_SIZE[1])
        from screens.app import KioskApp
        from screens.harness import run_script

        clock = OffsetClock()
        runtime = Runtime.open(config, clock=clock)
        written: list[Path] = []
        try:
            app = KioskApp(config, lambda: runtime, dev_tray=True)
            harness = run_script(
                app, lambda h: _tour_script(h, runtime, clock, out_dir, lang, written)
            )
        finally:
            runtime.close()
        if harness.failure:
            raise RuntimeError(f"the tour stopped:\n{harness.failure}")
        return written


class UnreachableLibrary:
    """The library system with its network cable pulled: every call fails as a dead
    link does, and the status says offline. The tour swaps it in to show offline mode."""

    def __init__(self, detail: str = "the tour pulled the cable") -> None:
        self.detail = detail

    def status(self) -> BackendStatus:
        return BackendStatus(online=False, detail=self.detail)

    def __getattr__(self, name: str) -> Callable[..., object]:
        def unreachable(*_args: object, **_kwargs: object) -> object:
            raise BackendUnavailable(f"{name}: {self.detail}")

        return unreachable


def with_data_dir(config: KioskConfig, data_dir: Path) -> KioskConfig:
    kiosk = config.kiosk.model_copy(update={"data_dir": str(data_dir)})
    display = config.display.model_copy(
        update={"width": TOUR_SIZE[0], "height": TOUR_SIZE[1], "fullscreen": False}
    )
    return config.model_copy(update={"kiosk": kiosk, "display": display})


def expect(h, state: str, **texts: str) -> None:
    """The tour checks it shows what it means to show, so a broken screen fails it."""
    view = h.app.view
    if view.state != state:
        raise AssertionError(f"expected the {state} screen, the kiosk is in {view.state}")
    for name, wanted in texts.items():
        shown = getattr(h.app, name)
        if shown != wanted:
            raise AssertionError(f"{name}: expected {wanted!r}, shown {shown!r}")


def _tour_script(
    h, runtime: Runtime, clock: OffsetClock, out: Path, lang: str, written: list[Path]
) -> Generator[float | None, None, None]:
    pad = runtime.tag_reader
    patron = borrower()

    def shot(name: str) -> Generator[None, None, None]:
        # The picture is taken at the next frame: wait for it before touching anything.
        written.append(h.screenshot(out / f"{lang}-{len(written) + 1:02d}-{name}.png"))
        yield

    def type_digits(digits: str) -> Generator[None, None, None]:
        # One key per frame, as a finger would; a burst in one frame is not a patron.
        for digit in digits:
            h.tap(f"key-{digit}")
            yield

    def choose_language() -> None:
        if h.app.view.language != lang:
            h.tap(f"lang-{lang}")

    def place(item: SampleItem) -> None:
        for tag in tags_of(item):
            pad.place(tag.uid, tag.data)

    def log_in(who: SamplePatron) -> Generator[None, None, None]:
        choose_language()
        yield
        yield from type_digits(who.card)
        h.tap("key-ok")
        yield
        yield from type_digits(who.pin)
        h.tap("key-ok")
        yield

    choose_language()
    yield
    yield from shot("attract")
    # Identify by typing the card number, then the PIN.
    h.tap("borrow")
    yield
    choose_language()
    yield
    yield from type_digits(patron.card[:6])
    expect(h, "identify", keypad_display=patron.card[:6])
    yield from shot("identify-typing")
    yield from type_digits(patron.card[6:])
    h.tap("key-ok")
    yield
    yield from type_digits("12")
    h.tap("key-ok")
    yield
    yield from shot("identify-pin-too-short")
    yield from type_digits(patron.pin)
    h.tap("key-ok")
    yield
    yield from shot("checkout-empty")
    # A stack: two books, one part of a two-part set, a reserved book, a ski pass.
    for item in plain_items(2):
        for tag in tags_of(item):
            pad.place(tag.uid, tag.data)
    first_part = tags_of(two_part_item())
    pad.place(first_part[0].uid, first_part[0].data)
    for tag in tags_of(reserved_item()):
        pad.place(tag.uid, tag.data)
    ski = foreign_tag()
    pad.place(ski.uid, ski.data)
    yield 0.5
    yield from shot("checkout-items")
    pad.place(first_part[1].uid, first_part[1].data)
    yield 0.5
    # Nobody touches the screen: the warning comes with time to extend.
    clock.offset += runtime.config.session.timeout_s - runtime.config.session.warning_s + 2
    yield 1.2
    yield from shot("timeout-warning")
    h.tap("extend")
    yield
    h.tap("finish")
    yield
    expect(h, "summary")
    if not h.app.receipt_choices:
        raise AssertionError("the summary offers no receipt after a loan")
    yield from shot("summary")
    h.tap("receipt-print")
    yield
    expect(h, "summary", receipt_choices=[])
    if h.app.view.receipt.status != "printed":
        raise AssertionError(f"receipt not printed: {h.app.view.receipt}")
    yield from shot("summary-receipt-printed")
    h.tap("done")
    pad.clear()
    yield
    # Someone taps a card the library does not know.
    runtime.card_reader.tap("9999999999")
    yield 0.5
    choose_language()
    yield
    yield from shot("identify-unknown-card")
    h.tap("cancel")
    yield
    # Returning needs no card.
    choose_language()
    yield
    h.tap("return")
    yield
    for item in plain_items(2):
        for tag in tags_of(item):
            pad.place(tag.uid, tag.data)
    for tag in tags_of(two_part_item()):
        pad.place(tag.uid, tag.data)
    yield 0.5
    yield from shot("return-items")
    h.tap("finish")
    yield
    yield from shot("return-summary")
    h.tap("done")
    pad.clear()
    yield
    choose_language()
    h.app.toggle_dev_tray()
    yield 0.3
    yield from shot("developer-tray")
    h.app.toggle_dev_tray()
    yield 0.3
    yield from _account_tour(h, runtime, clock, shot, place, log_in)


def _account_tour(h, runtime: Runtime, clock: OffsetClock, shot, place, log_in):
    """My account: loans (one overdue), renewals, renewing from the pad, holds, fees;
    then the library system goes away."""
    pad = runtime.tag_reader
    patron = borrower()
    renewable, reserved = renewable_loan(patron), reserved_loan(patron)
    holder = sample_patron(card=reserved.hold_for)
    # "My account" on the start screen: identify, then the account.
    h.tap("account")
    yield
    yield from log_in(patron)
    expect(h, "account")
    if not any(loan.overdue for loan in h.app.view.account.loans):
        raise AssertionError("the account shows no overdue loan")
    yield from shot("account-loans")
    h.tap("renew-all")
    yield
    renewals = {loan.title: loan.renewal for loan in h.app.view.account.loans}
    if set(renewals.values()) != {Reason.OK, Reason.RESERVED_FOR_OTHER}:
        raise AssertionError(f"expected one renewed and one refused: {renewals}")
    yield from shot("account-renewed")
    # Back to borrowing; a book she already has is on the pad: renew it from there.
    h.tap("back-to-borrowing")
    yield
    place(renewable)
    yield 0.5
    expect(h, "checkout")
    if not h.find_all(f"renew-{renewable.item_id}"):
        raise AssertionError("no Renew button on the line of a book already lent to her")
    yield from shot("checkout-renewable")
    h.tap(f"renew-{renewable.item_id}")
    yield
    yield from shot("checkout-renewed")
    h.tap("logout")
    pad.clear()
    yield
    # The overdue book comes back: a fine for her, and it waits for the reader who reserved it.
    h.tap("return")
    yield
    place(reserved)
    yield 0.5
    h.tap("logout")
    pad.clear()
    yield
    h.tap("account")
    yield
    yield from log_in(holder)
    expect(h, "account")
    if not h.app.view.account.holds:
        raise AssertionError("no hold ready for pickup")
    yield from shot("account-holds")
    h.tap("account-finish")
    yield
    h.tap("done")
    yield
    h.tap("account")
    yield
    yield from log_in(patron)
    expect(h, "account")
    if not h.app.view.account.fees_cents:
        raise AssertionError("no fees after an overdue return")
    yield from shot("account-fees")
    h.tap("back-to-borrowing")
    yield
    # The library system stops answering: the kiosk says so and keeps lending.
    runtime.core.backend = UnreachableLibrary()
    clock.offset += runtime.config.offline.check_interval_s + 1
    yield 1.0
    expect(h, "checkout")
    if not h.app.offline_notice:
        raise AssertionError("offline, but no offline notice")
    place(plain_items(1)[0])
    yield 0.5
    yield from shot("offline-checkout")
    h.tap("my-account")
    yield
    expect(h, "account")
    yield from shot("offline-account")
