"""The store's offline parts on real SQLite: the card cache, offline counts, staff states,
and the 0001 → 0002 migration of a database that already holds actions."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine

from kiosk.store import Store, StoreError, migrate


def test_a_0001_database_with_actions_migrates_and_keeps_them(tmp_path: Path) -> None:
    db = tmp_path / "kiosk.sqlite"
    # Build a revision-0001 database the way an older kiosk left it.
    engine = create_engine(f"sqlite:///{db}")
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT INTO outbox (client_id, kind, payload, state, attempts, created_at,"
            " updated_at) VALUES ('6f1c2a52-6c43-4a54-9a6e-2d8c0f1b7e11', 'checkout',"
            " '{\"item_id\": \"1\"}', 'pending', 0, '2026-01-01 10:00:00',"
            " '2026-01-01 10:00:00')"
        )
    con.close()
    with Store.open(db) as store:
        assert store.revision() == Store.head_revision()
        [entry] = store.unfinished()
        assert entry.payload == {"item_id": "1"} and entry.state == "pending"
        store.mark_sending(entry.client_id)
        store.mark_done(entry.client_id, "conflict", result={"conflicts": ["card_blocked"]})
        assert store.get(entry.client_id).state == "conflict"
    con = sqlite3.connect(db)
    # The CHECK constraint survived the table copy.
    with pytest.raises(sqlite3.IntegrityError), con:
        con.execute("UPDATE outbox SET state = 'lost'")
    con.close()


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "kiosk.sqlite") as opened:
        yield opened


def test_card_cache_learns_and_the_blocked_list_replaces(store: Store) -> None:
    assert store.card_status("p:aaa") is None
    store.remember_card("p:aaa", "adult")
    store.remember_card("p:bbb", "child")
    assert store.card_status("p:aaa") == (False, "adult")
    store.replace_blocked_cards(["p:bbb", "p:ccc"])
    assert store.card_status("p:bbb") == (True, "child")
    assert store.card_status("p:ccc") == (True, "")
    store.replace_blocked_cards(["p:ccc"])  # bbb was unblocked in the library system
    assert store.card_status("p:bbb") == (False, "child")


def test_offline_counts_per_patron_and_per_day(store: Store) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    store.add_action("checkout", {"patron_id": "A", "offline": True})
    store.add_action("checkout", {"patron_id": "A", "offline": True})
    store.add_action("checkout", {"patron_id": "B", "offline": True})
    store.add_action("checkout", {"patron_id": "A"})  # online: not counted
    store.add_action("checkin", {"offline": True})
    assert store.count_since("checkout", start, offline=True) == 3
    assert store.count_since("checkout", start, offline=True, patron_id="A") == 2
    assert store.count_since("checkout", start, offline=False) == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert store.count_since("checkout", later, offline=True) == 0


def test_an_action_taken_offline_keeps_its_state_and_gains_details(store: Store) -> None:
    entry = store.add_action("checkout", {"item_id": "1"})
    store.mark_sending(entry.client_id)
    offline = store.mark_offline(entry.client_id, {"offline": True, "due": "2026-12-18"})
    assert offline.state == "sending"  # may have reached the library system: look first
    assert offline.payload == {"item_id": "1", "offline": True, "due": "2026-12-18"}
    store.mark_done(entry.client_id, "confirmed")
    with pytest.raises(StoreError, match="already confirmed"):
        store.mark_offline(entry.client_id, {"offline": True})


def test_staff_requeue_and_resolve_only_what_needs_staff(store: Store) -> None:
    failed = store.add_action("checkout", {"item_id": "1"})
    store.mark_done(failed.client_id, "failed", error="unreachable")
    conflict = store.add_action("checkout", {"item_id": "2"})
    store.mark_done(conflict.client_id, "conflict", result={"conflicts": ["loan_limit"]})
    fine = store.add_action("checkout", {"item_id": "3"})
    store.mark_done(fine.client_id, "confirmed")

    assert [e.client_id for e in store.entries_in(["failed", "conflict"])] == [
        failed.client_id,
        conflict.client_id,
    ]
    assert store.requeue(failed.client_id).state == "pending"
    settled = store.resolve(conflict.client_id, "lent at the desk, hold moved")
    assert settled.state == "confirmed"
    assert settled.result == {
        "conflicts": ["loan_limit"],
        "settled_by_staff": "lent at the desk, hold moved",
    }
    for action in (store.requeue, lambda cid: store.resolve(cid, "")):
        with pytest.raises(StoreError, match="is confirmed"):
            action(fine.client_id)
    with pytest.raises(ValueError, match="unknown outbox state"):
        store.entries_in(["lost"])
    # Staff states are never purged by retention.
    store.mark_sending(failed.client_id)
    store.mark_done(failed.client_id, "failed")
    assert store.purge_finished(dt.timedelta(0)) == 2
    assert store.get(failed.client_id) is not None
