"""What channels hand to the pipeline and what they get back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

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
