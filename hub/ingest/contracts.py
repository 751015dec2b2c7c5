"""What channels hand to the pipeline and what they get back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from sqlalchemy import Connection

from adapters.base import ChannelContext


class Outcome(StrEnum):
    """What became of one unit of raw input."""

    STORED = "stored"  # decoded and durably committed (possibly nothing new: a replay)
    PENDING = "pending"  # archived, held back (split piece waiting for its siblings)
    REJECTED = "rejected"  # quarantined with a reason
    FAILED = "failed"  # the hub could not commit (shutdown, store down): no acknowledgement


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The pipeline's answer for one unit of raw input, given only after the commit."""

    outcome: Outcome
    reply: bytes | None  # protocol reply to send to the device, if any
    observations_new: int = 0
    reason: str | None = None


class IngestSink(Protocol):
    """Where channels submit raw input. ``submit`` resolves only after a durable commit."""

    async def submit(
        self, adapter: str, raw: bytes, context: ChannelContext, junk_reason: str | None = None
    ) -> IngestResult:
        """Archive and decode ``raw``; ``junk_reason`` marks bytes the framer already refused."""
        ...


@dataclass(frozen=True, slots=True)
class PreparedWrite[T]:
    """Input a channel has decoded and resolved itself (a SensorThings write), committed by the
    pipeline's writer like device data: same thread, same durability, group commit.

    ``apply`` runs in the writer thread inside a transaction shared with the other prepared
    writes of its batch (one commit, one fsync for all), in a savepoint of its own: whatever it
    writes commits with the batch or not at all, and whatever it raises rolls back only its own
    work and comes back through the future. It archives its raw input itself
    (:func:`hub.store.api_writes.write_observations`), so the archive row and the observations
    it carries commit together. ``adapter`` labels the metrics (``auasu_frames_total``).

    A prepared write is attempted once: when the store is unavailable the future fails with
    :class:`WriteFailed` at once rather than waiting, because an API client, unlike a data
    logger, is answered and can retry.
    """

    adapter: str
    context: ChannelContext
    apply: Callable[[Connection], T]


class WriteFailed(Exception):
    """The pipeline could not commit a prepared write (store unavailable, hub stopping);
    nothing of it was stored."""


ChangeEvent = Literal["create", "update"]


@dataclass(frozen=True, slots=True)
class EntityChange:
    """Entities of one SensorThings entity set that one commit created or updated.

    ``entity_set`` is the set's name (``"Observations"``, ``"Things"``); ``changed`` names the
    properties an update changed (``None``: unknown, treat all as changed; empty: only links).
    """

    entity_set: str
    ids: tuple[int, ...]
    event: ChangeEvent
    changed: frozenset[str] | None = None


class CommitObserver(Protocol):
    """Told what every commit created or updated, after the commit (never before, never for a
    rollback): device batches, and the Datastreams and ObservedProperties created when a device
    first reports a factor, by the pipeline's writer; API writes by the write path; a station
    registry import by ``auasu stations import`` (:mod:`hub.sta.mqtt.oneshot`).

    Called on the committing thread (the ingest writer for device data), so it must return at
    once: queue the work, never wait for I/O. An exception is logged and otherwise ignored.
    """

    def committed(self, changes: Sequence[EntityChange]) -> None: ...
