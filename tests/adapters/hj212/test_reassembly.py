"""Split-packet reassembly: any order, duplicates, bounds, timeouts."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hj212.packet import Packet
from adapters.hj212.reassembly import (
    CompletedSet,
    DuplicatePiece,
    ExpiredSet,
    Reassembler,
    RejectedPiece,
)

T0 = datetime(2025, 6, 15, 5, 0, tzinfo=UTC)


def piece(pno: int, pnum: int = 2, *, data_time: str = "20250615105000", mn: str = "M1") -> Packet:
    """A split piece whose QN differs per piece, as in hj212.md §1.8 example 3."""
    return Packet(
        qn=f"2025061511000000{pno}",
        st="32",
        cn="2051",
        pw="123456",
        mn=mn,
        flag=7,
        pnum=pnum,
        pno=pno,
        cp={"DataTime": data_time, f"w{pno:05d}-Avg": str(pno), f"w{pno:05d}-Flag": "N"},
        header={},
    )


def sha(pno: int, copy: int = 0) -> str:
    return f"{pno:02d}{copy:02d}".ljust(64, "0")


def test_two_pieces_in_either_order() -> None:
    for order in ([1, 2], [2, 1]):
        reassembler = Reassembler()
        first, second = order
        assert reassembler.add(piece(first), sha(first), T0) is None
        done = reassembler.add(piece(second), sha(second), T0)
        assert isinstance(done, CompletedSet)
        assert [p.pno for p in done.packets] == [1, 2]
        assert done.frame_sha256s == (sha(1), sha(2))
        assert done.cp == {
            "DataTime": "20250615105000",
            "w00001-Avg": "1",
            "w00001-Flag": "N",
            "w00002-Avg": "2",
            "w00002-Flag": "N",
        }
        merged = done.merged()
        assert merged.qn == piece(1).qn and merged.cp == done.cp
        assert reassembler.pending_sets == 0


def test_duplicates_are_idempotent_and_re_sent_frames_are_remembered() -> None:
    reassembler = Reassembler()
    assert reassembler.add(piece(1), sha(1), T0) is None
    assert reassembler.add(piece(1), sha(1), T0) is None
    assert reassembler.add(piece(1), sha(1, copy=1), T0) is None  # re-sent with a new QN
    done = reassembler.add(piece(2), sha(2), T0)
    assert isinstance(done, CompletedSet)
    assert done.frame_sha256s == (sha(1), sha(1, copy=1), sha(2))
    late = reassembler.add(piece(1), sha(1, copy=2), T0 + timedelta(minutes=1))
    assert isinstance(late, DuplicatePiece)
    assert late.pno == 1 and reassembler.pending_sets == 0


def test_pieces_are_keyed_by_set_not_qn() -> None:
    reassembler = Reassembler()
    assert reassembler.add(piece(1), sha(1), T0) is None
    assert reassembler.add(piece(2, data_time="20250615110000"), sha(2), T0) is None
    assert reassembler.add(piece(2, mn="M2"), sha(3), T0) is None
    assert reassembler.add(piece(2, pnum=3), sha(4), T0) is None
    assert reassembler.pending_sets == 4


@pytest.mark.parametrize(
    ("pno", "pnum", "reason"),
    [
        (3, 2, "PNO 3 outside 1..PNUM 2"),
        (0, 2, "PNO 0 outside 1..PNUM 2"),
        (1, 0, "PNUM 0 outside 1..64"),
        (1, 999_999_999, "PNUM 999999999 outside 1..64"),
    ],
)
def test_impossible_pieces_are_rejected(pno: int, pnum: int, reason: str) -> None:
    reassembler = Reassembler()
    rejected = reassembler.add(piece(pno, pnum), sha(pno), T0)
    assert rejected == RejectedPiece(reason, sha(pno))
    assert reassembler.pending_sets == 0
    no_numbers = dataclasses.replace(piece(1), pnum=None)
    assert isinstance(reassembler.add(no_numbers, sha(1), T0), RejectedPiece)


def test_expiry_reports_the_pieces() -> None:
    reassembler = Reassembler(timeout=timedelta(minutes=10))
    reassembler.add(piece(1), sha(1), T0)
    assert reassembler.expire(T0 + timedelta(minutes=9)) == []
    (expired,) = reassembler.expire(T0 + timedelta(minutes=10))
    assert isinstance(expired, ExpiredSet)
    assert expired.frame_sha256s == (sha(1),)
    assert expired.reason.startswith("split set incomplete: 1 of 2 pieces after 600 s")
    assert "MN=M1 CN=2051 DataTime=20250615105000 PNUM=2" in expired.reason
    assert reassembler.pending_sets == 0
    assert reassembler.expire(T0 + timedelta(hours=1)) == []


def test_completed_sets_are_forgotten_after_the_timeout() -> None:
    reassembler = Reassembler(timeout=timedelta(minutes=10))
    reassembler.add(piece(1), sha(1), T0)
    assert isinstance(reassembler.add(piece(2), sha(2), T0), CompletedSet)
    reassembler.expire(T0 + timedelta(minutes=11))
    # A new upload of the same set (a backfill) is reassembled again.
    assert reassembler.add(piece(1), sha(1), T0 + timedelta(minutes=12)) is None


def test_oldest_set_is_evicted_beyond_max_sets() -> None:
    reassembler = Reassembler(max_sets=2)
    for minute in range(3):
        time = T0 + timedelta(minutes=minute)
        reassembler.add(piece(1, data_time=f"202506151{minute}0000"), sha(minute), time)
    assert reassembler.pending_sets == 2
    (evicted,) = reassembler.expire(T0 + timedelta(minutes=3))
    assert evicted.frame_sha256s == (sha(0),)
    assert evicted.key.data_time == "20250615100000"
    assert "evicted" in evicted.reason and "more than 2 sets pending" in evicted.reason


def test_memory_stays_bounded_under_a_flood() -> None:
    reassembler = Reassembler(max_sets=16, max_pieces=4)
    for index in range(5000):
        reassembler.add(piece(1, 4, data_time=str(index)), sha(1), T0)
    assert reassembler.pending_sets == 16
    assert len(reassembler.expire(T0)) == 16  # the report buffer's worth of evictions
    assert reassembler.evictions_unreported == 5000 - 16 - 16


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Reassembler(max_sets=0)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda pnum: st.tuples(
            st.just(pnum),
            st.permutations(list(range(1, pnum + 1))),
            st.lists(st.integers(min_value=1, max_value=pnum), max_size=8),
            st.randoms(use_true_random=False),
        )
    )
)
def test_any_order_and_duplication_completes_exactly_once(
    case: tuple[int, list[int], list[int], random.Random],
) -> None:
    pnum, order, extra, rng = case
    arrivals = order + extra
    rng.shuffle(arrivals)
    reassembler = Reassembler()
    outcomes = [reassembler.add(piece(pno, pnum), sha(pno), T0) for pno in arrivals]
    completed = [o for o in outcomes if isinstance(o, CompletedSet)]
    assert len(completed) == 1
    assert [p.pno for p in completed[0].packets] == list(range(1, pnum + 1))
    assert completed[0].frame_sha256s == tuple(sha(pno) for pno in range(1, pnum + 1))
    assert len(completed[0].cp) == 1 + 2 * pnum
    index = outcomes.index(completed[0])
    assert all(o is None for o in outcomes[:index])
    assert all(isinstance(o, DuplicatePiece) for o in outcomes[index + 1 :])
    assert reassembler.pending_sets == 0
