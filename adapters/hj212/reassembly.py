"""Bounded, time-limited reassembly of split HJ 212 packets (Flag bit D, PNUM/PNO).

Each piece of a split set carries its own QN, so pieces are grouped by (MN, CN, DataTime, PNUM)
(hj212.md §1.5). Pieces may arrive in any order and more than once. Memory is bounded: at most
``max_sets`` sets are pending (the oldest is evicted beyond that), a set has at most
``max_pieces`` pieces, and sets older than ``timeout`` are given up by :meth:`Reassembler.expire`.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.hj212.packet import Packet

__all__ = [
    "DEFAULT_TIMEOUT",
    "CompletedSet",
    "DuplicatePiece",
    "ExpiredSet",
    "Reassembler",
    "RejectedPiece",
    "SetKey",
]

DEFAULT_TIMEOUT = timedelta(minutes=10)
_MAX_COPIES = 8  # frames remembered per piece: re-sends must not grow a set without bound


@dataclass(frozen=True, slots=True)
class SetKey:
    """What the pieces of one split set share."""

    mn: str
    cn: str | None
    data_time: str | None
    pnum: int

    def describe(self) -> str:
        """The key as one line of text for reasons."""
        return f"MN={self.mn} CN={self.cn} DataTime={self.data_time} PNUM={self.pnum}"


@dataclass(frozen=True, slots=True)
class CompletedSet:
    """All pieces of a set: ``packets`` and ``frame_sha256s`` in PNO order, ``cp`` merged."""

    key: SetKey
    packets: tuple[Packet, ...]
    frame_sha256s: tuple[str, ...]  # every frame that delivered a piece, re-sends included
    cp: dict[str, str]  # DataTime once, then every piece's items in PNO order
    warnings: tuple[str, ...] = ()

    def merged(self) -> Packet:
        """The set as one packet: the first piece's header with the merged CP."""
        first = self.packets[0]
        return dataclasses.replace(first, cp=self.cp, warnings=first.warnings + self.warnings)


@dataclass(frozen=True, slots=True)
class RejectedPiece:
    """A piece that can never complete a set (PNO out of range, PNUM over the limit, ...)."""

    reason: str
    frame_sha256: str


@dataclass(frozen=True, slots=True)
class DuplicatePiece:
    """A piece of a set that already completed recently (a re-send after a lost ack)."""

    key: SetKey
    pno: int
    frame_sha256: str


@dataclass(frozen=True, slots=True)
class ExpiredSet:
    """A set given up before completion, with the frames it had received and why."""

    key: SetKey
    frame_sha256s: tuple[str, ...]
    reason: str


class _Pending:
    """A set still waiting for pieces (mutable, private to the reassembler)."""

    __slots__ = ("first_seen", "pieces")

    def __init__(self, first_seen: datetime) -> None:
        self.first_seen = first_seen
        self.pieces: dict[int, tuple[Packet, list[str]]] = {}

    def frame_sha256s(self) -> tuple[str, ...]:
        return tuple(sha for pno in sorted(self.pieces) for sha in self.pieces[pno][1])


class Reassembler:
    """Collects split pieces until their set is complete. Not thread-safe: callers lock."""

    def __init__(
        self,
        max_sets: int = 1024,
        max_pieces: int = 64,
        timeout: timedelta = DEFAULT_TIMEOUT,
    ) -> None:
        if max_sets < 1 or max_pieces < 1 or timeout <= timedelta(0):
            raise ValueError("max_sets, max_pieces and timeout must be positive")
        self.max_sets = max_sets
        self.max_pieces = max_pieces
        self.timeout = timeout
        self._pending: OrderedDict[SetKey, _Pending] = OrderedDict()
        # Recently completed sets, so a re-sent piece is recognised instead of opening a new
        # set that could only expire; bounded like _pending and dropped after the timeout.
        self._completed: OrderedDict[SetKey, datetime] = OrderedDict()
        self._evicted: list[ExpiredSet] = []
        self.evictions_unreported = 0  # evicted sets beyond the report buffer (under attack)

    @property
    def pending_sets(self) -> int:
        """Number of sets waiting for pieces."""
        return len(self._pending)

    def add(
        self, packet: Packet, frame_sha256: str, now: datetime
    ) -> CompletedSet | RejectedPiece | DuplicatePiece | None:
        """Take one piece; ``None`` means its set is still incomplete."""
        pnum, pno = packet.pnum, packet.pno
        if pnum is None or pno is None:
            return RejectedPiece("split piece without PNUM/PNO", frame_sha256)
        if pnum < 1 or pnum > self.max_pieces:
            return RejectedPiece(f"PNUM {pnum} outside 1..{self.max_pieces}", frame_sha256)
        if pno < 1 or pno > pnum:
            return RejectedPiece(f"PNO {pno} outside 1..PNUM {pnum}", frame_sha256)
        key = SetKey(packet.mn or "", packet.cn, packet.data_time, pnum)
        if key in self._completed:
            return DuplicatePiece(key, pno, frame_sha256)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_sets:
                self._evict_oldest(now)
            pending = self._pending[key] = _Pending(now)
        piece = pending.pieces.get(pno)
        if piece is None:
            pending.pieces[pno] = (packet, [frame_sha256])
        elif frame_sha256 not in piece[1] and len(piece[1]) < _MAX_COPIES:
            # Same piece re-sent as a different frame (new QN): keep the first copy's content
            # but remember the frame, so the hub can link or quarantine it with the set.
            piece[1].append(frame_sha256)
        if len(pending.pieces) < pnum:
            return None
        del self._pending[key]
        self._remember_completed(key, now)
        return _complete(key, pending)

    def expire(self, now: datetime) -> list[ExpiredSet]:
        """Give up sets whose first piece arrived ``timeout`` or more ago (plus evicted ones)."""
        expired, self._evicted = self._evicted, []
        for key, pending in list(self._pending.items()):
            age = now - pending.first_seen
            if age >= self.timeout:
                del self._pending[key]
                expired.append(
                    _expired(
                        key,
                        pending,
                        f"split set incomplete: {len(pending.pieces)} of "
                        f"{key.pnum} pieces after {int(age.total_seconds())} s",
                    )
                )
        for key, completed_at in list(self._completed.items()):
            if now - completed_at >= self.timeout:
                del self._completed[key]
        return expired

    def _evict_oldest(self, now: datetime) -> None:
        key, pending = self._pending.popitem(last=False)
        age = int((now - pending.first_seen).total_seconds())
        self._evicted.append(
            _expired(
                key,
                pending,
                f"split set evicted with {len(pending.pieces)} of {key.pnum} "
                f"pieces after {age} s: more than {self.max_sets} sets pending",
            )
        )
        if len(self._evicted) > self.max_sets:
            del self._evicted[0]
            self.evictions_unreported += 1

    def _remember_completed(self, key: SetKey, now: datetime) -> None:
        self._completed[key] = now
        self._completed.move_to_end(key)
        if len(self._completed) > self.max_sets:
            self._completed.popitem(last=False)


def _expired(key: SetKey, pending: _Pending, reason: str) -> ExpiredSet:
    return ExpiredSet(key, pending.frame_sha256s(), f"{reason} ({key.describe()})")


def _complete(key: SetKey, pending: _Pending) -> CompletedSet:
    pnos = sorted(pending.pieces)
    packets = tuple(pending.pieces[pno][0] for pno in pnos)
    cp: dict[str, str] = {}
    warnings: list[str] = []
    for pno, packet in zip(pnos, packets, strict=True):
        for name, value in packet.cp.items():
            if name in cp:
                if name == "DataTime":
                    continue  # part of the key, so equal in every piece
                warnings.append(f"CP key {name!r} repeated in piece {pno}, last kept")
            cp[name] = value
    return CompletedSet(key, packets, pending.frame_sha256s(), cp, tuple(warnings))
