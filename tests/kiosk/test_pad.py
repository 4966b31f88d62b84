"""The pad tracker: a steady set of tags out of flickering inventories."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import TagRead
from kiosk.pad import PadRules, PadTracker

A = TagRead(uid=b"\xe0\x04\x01\x00\x00\x00\x00\x01", data=b"book A")
B = TagRead(uid=b"\xe0\x04\x01\x00\x00\x00\x00\x02", data=b"book B")


def test_a_tag_counts_after_min_reads_inventories_in_a_row() -> None:
    pad = PadTracker(PadRules(min_reads=2))
    assert pad.update([A]).new == ()
    assert pad.update([A]).new == (A,)
    assert pad.update([A]).new == ()  # read once, not again


def test_a_flickering_tag_starts_again() -> None:
    pad = PadTracker(PadRules(min_reads=3))
    pad.update([A])
    pad.update([A])
    pad.update([])  # slid off for a moment: it was never reported, so nothing is gone
    assert pad.update([A]).new == ()
    assert pad.update([A]).new == ()
    assert pad.update([A]).new == (A,)


def test_gone_only_for_tags_that_were_reported() -> None:
    pad = PadTracker(PadRules(min_reads=1))
    pad.update([A, B])
    change = pad.update([B])
    assert change.gone == (A.uid,)
    assert pad.update([A, B]).new == (A,)  # put back: read again


def test_faint_tags_are_ignored_when_the_reader_reports_signal() -> None:
    pad = PadTracker(PadRules(min_reads=1, min_rssi=40))
    near = TagRead(uid=A.uid, data=A.data, rssi=70)
    far = TagRead(uid=B.uid, data=B.data, rssi=12)
    unknown = TagRead(uid=b"\xe0" + bytes(7), data=b"x")  # a reader without signal figures
    assert pad.update([near, far, unknown]).new == (near, unknown)


def test_a_tag_whose_memory_fails_is_retried_then_reported_unreadable() -> None:
    pad = PadTracker(PadRules(min_reads=1, read_retries=3))
    blank_read = TagRead(uid=A.uid, data=b"")
    assert pad.update([blank_read]).unreadable == ()
    assert pad.update([blank_read]).unreadable == ()
    assert pad.update([blank_read]).unreadable == (A.uid,)
    assert pad.update([blank_read]).unreadable == ()  # said once
    assert pad.update([A]).new == (A,)  # the patron moved it: read at last


def test_reset_forgets_the_pad() -> None:
    pad = PadTracker(PadRules(min_reads=1))
    pad.update([A])
    pad.reset()
    assert pad.update([A]).new == (A,)


def test_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        PadRules(min_reads=0)


@given(
    st.lists(
        st.lists(st.sampled_from([A, B, TagRead(uid=A.uid, data=b"")]), max_size=3), max_size=12
    ),
    st.integers(1, 4),
)
def test_each_tag_is_reported_new_at_most_once_per_stay(
    inventories: list[list[TagRead]], min_reads: int
) -> None:
    pad = PadTracker(PadRules(min_reads=min_reads))
    reported: set[bytes] = set()
    for reads in inventories:
        change = pad.update(reads)
        for uid in change.gone:
            reported.discard(uid)
        present = {r.uid for r in reads}
        for read in change.new:
            assert read.uid not in reported and read.uid in present and read.data
            reported.add(read.uid)
        reported &= present
