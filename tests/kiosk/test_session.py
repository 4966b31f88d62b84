"""The session state machine on its own: transitions, timers, wiping."""

from __future__ import annotations

import pytest

from kiosk.circulation import Reason
from kiosk.session import InvalidTransition, Line, LineStatus, Session, SessionView, State, Timing


def make(now: float = 0.0, **timing: float) -> tuple[Session, list[SessionView]]:
    session = Session(Timing(**timing), "sl", now)
    seen: list[SessionView] = []
    session.subscribe(seen.append)
    return session, seen


def test_timing_refuses_a_warning_under_20_seconds() -> None:
    with pytest.raises(ValueError, match="20 s"):
        Timing(timeout_s=60, warning_s=10)
    with pytest.raises(ValueError, match="shorter"):
        Timing(timeout_s=60, warning_s=60)


def test_only_allowed_transitions() -> None:
    session, _ = make()
    session.go(State.IDENTIFY, 0)
    session.go(State.CHECKOUT, 1)
    with pytest.raises(InvalidTransition):
        session.go(State.RETURN, 2)
    session.go(State.SUMMARY, 3)
    with pytest.raises(InvalidTransition):
        session.go(State.CHECKOUT, 4)


def test_warning_counts_down_then_logout_wipes_everything() -> None:
    session, seen = make(timeout_s=60, warning_s=20)
    session.go(State.IDENTIFY, 0)
    session.go(State.CHECKOUT, 0, patron_name="Ana Novak")
    session.set_line(Line("1", "Martin Krpan", LineStatus.LENT), 0)
    session.update(0, language="en")
    assert not session.tick(39.0)
    assert session.view.warning_s is None
    assert not session.tick(40.5)
    assert session.view.warning_s == 20  # 19.5 s left, shown rounded up
    assert not session.tick(50.0)
    assert session.view.warning_s == 10
    assert session.tick(60.0)
    view = session.view
    assert view.state is State.IDLE
    assert (view.patron_name, view.lines, view.language, view.warning_s) == ("", (), "sl", None)
    assert view.session_no == 1
    assert seen[-1] is view


def test_touch_extends_and_hides_the_warning() -> None:
    session, _ = make(timeout_s=60, warning_s=20)
    session.go(State.RETURN, 0)
    session.tick(45)
    assert session.view.warning_s == 15
    session.touch(45)
    assert session.view.warning_s is None
    assert not session.tick(100)  # 55 s after the touch: still in time
    assert session.view.warning_s == 5
    assert session.tick(105)


def test_summary_has_its_own_timeout_and_idle_never_times_out() -> None:
    session, _ = make(timeout_s=120, warning_s=20, summary_timeout_s=30)
    assert not session.tick(10_000)
    session.go(State.RETURN, 0)
    session.go(State.SUMMARY, 0)
    assert not session.tick(29)
    assert session.view.warning_s == 1
    assert session.tick(30)


def test_busy_session_does_not_time_out_mid_transaction() -> None:
    session, _ = make(timeout_s=60, warning_s=20)
    session.go(State.RETURN, 0)
    session.update(busy=True)
    assert not session.tick(500)
    session.update(busy=False)
    assert session.tick(500)


def test_notices_repeat_and_lines_update_in_place() -> None:
    session, _ = make()
    session.go(State.IDENTIFY, 0)
    session.notify(Reason.WRONG_PIN, 1)
    first = session.view.notice
    session.notify(Reason.WRONG_PIN, 2)
    assert session.view.notice != first  # the same reason again is a new notice
    session.go(State.CHECKOUT, 3)
    session.set_line(Line("1", status=LineStatus.READING), 3)
    session.set_line(Line("1", "Alamut", LineStatus.LENT), 4)
    assert [(line.key, line.status) for line in session.view.lines] == [("1", LineStatus.LENT)]
