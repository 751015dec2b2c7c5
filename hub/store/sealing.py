"""The store's side of provenance: what a batch hands to whoever seals it.

The store knows nothing of signatures or logs (data flows one way: store, then provenance);
it only offers a hook. When :func:`hub.store.batches.write_batch` is given a :class:`BatchSealer`
it asks it for the log position of the batch's record before writing the observations (so each
row is stored with its ``prov_entry`` and ``prov_leaf`` in the same INSERT), and, once the rows
are written, hands it the batch to sign and append to the log -- all in the caller's
transaction, so a batch's observations and its record commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection

if TYPE_CHECKING:
    from hub.store.batches import FrameRecord, ObservationRow


@dataclass(frozen=True, slots=True)
class SealedRow:
    """One observation of a batch, in leaf order: its row and the frame it came from."""

    row: ObservationRow
    frame_sha256: str


@dataclass(frozen=True, slots=True)
class BatchToSeal:
    """What one batch stored: its frames (each once, in arrival order), every observation row it
    carried in leaf order (leaf ``i`` is ``rows[i]``; exact replays included: the raw message did
    produce them), and the log entries of the records whose observations it corrected."""

    frames: Sequence[FrameRecord]
    rows: Sequence[SealedRow]
    supersedes: tuple[int, ...]


class BatchSealer(Protocol):
    """Signs a batch and appends its record to the provenance log, inside the batch's
    transaction (implemented by :class:`hub.provenance.sealer.Sealer`)."""

    def reserve(self, conn: Connection) -> int:
        """Lock the log for this transaction and return the entry the record will take."""
        ...

    def seal(self, conn: Connection, entry: int, batch: BatchToSeal) -> None:
        """Write the batch's signed record as log entry ``entry``."""
        ...
