"""Deep ``offset`` pages of ``observations`` as keyset seeks.

OGC API - Features pages with ``offset``, and pygeoapi writes ``next`` links as
``offset=N+limit``. An SQL ``OFFSET`` of a million rows walks a million index entries (about
0.1-0.3 s on PostgreSQL, 10-40 ms on SQLite for the 10-million-observation benchmark). So, for
the default order (``datastream_id, phenomenon_time_start, id``, every key non-NULL, the order of
``ix_observations_stream_time``), each page served at a deep offset leaves a checkpoint: "for
this query, the row at position ``offset + limit`` comes after key K". The next request for that
position, which is what a client following ``next`` sends, becomes ``WHERE (datastream_id,
phenomenon_time_start, id) > K ... LIMIT limit``: a seek, whatever the depth. A request for some
other deep position starts from the nearest checkpoint below it and skips only the difference.

Checkpoints describe the data as it was when they were made: observations inserted or deleted
before a checkpoint since then move the true offsets but not the continuation, which is the
keyset behaviour a client walking ``next`` links wants (no row twice, none skipped). They expire
after :data:`TTL_S` and apply only at offsets of :data:`DEEP_OFFSET` and more; shallower pages
are plain ``OFFSET`` and always exact.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, tuple_

# Offsets below this are plain OFFSET: cheap, and exact under concurrent writes.
DEEP_OFFSET = 10_000
TTL_S = 300.0
MAX_SHAPES = 256
MAX_CHECKPOINTS = 64


@dataclass
class _Shape:
    created: float
    offsets: list[int] = field(default_factory=list)
    keys: dict[int, tuple[Any, ...]] = field(default_factory=dict)


class Checkpoints:
    """Checkpoints by query shape (the statement and its bound values), least recently used
    shapes dropped first. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shapes: OrderedDict[Hashable, _Shape] = OrderedDict()

    def nearest(self, shape: Hashable, offset: int) -> tuple[int, tuple[Any, ...]] | None:
        """The checkpoint at or below ``offset`` closest to it: (its offset, its key)."""
        now = time.monotonic()
        with self._lock:
            found = self._shapes.get(shape)
            if found is None:
                return None
            if now - found.created > TTL_S:
                del self._shapes[shape]
                return None
            self._shapes.move_to_end(shape)
            index = bisect_right(found.offsets, offset) - 1
            if index < 0:
                return None
            at = found.offsets[index]
            return at, found.keys[at]

    def remember(self, shape: Hashable, offset: int, key: tuple[Any, ...]) -> None:
        """The row at ``offset`` follows ``key`` (the last row before it)."""
        now = time.monotonic()
        with self._lock:
            found = self._shapes.get(shape)
            if found is None or now - found.created > TTL_S:
                found = _Shape(now)
                self._shapes[shape] = found
            self._shapes.move_to_end(shape)
            if offset not in found.keys:
                index = bisect_right(found.offsets, offset)
                found.offsets.insert(index, offset)
                if len(found.offsets) > MAX_CHECKPOINTS:
                    # Keep the deepest ones: shallow positions are cheap to reach again.
                    dropped = found.offsets.pop(0)
                    found.keys.pop(dropped, None)
            found.keys[offset] = key
            while len(self._shapes) > MAX_SHAPES:
                self._shapes.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._shapes.clear()


CHECKPOINTS = Checkpoints()


def shape_of(store_key: str, statement: Select[Any]) -> Hashable:
    """A hashable identity of ``statement`` (without its OFFSET/LIMIT) and bound values."""
    compiled = statement.compile()
    params = tuple(sorted((k, _hashable(v)) for k, v in compiled.params.items()))
    return (store_key, str(compiled), params)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value  # type: ignore[no-any-return]


def after(columns: Sequence[Any], key: tuple[Any, ...]) -> ColumnElement[bool]:
    """``(columns) > key`` as a row-value comparison: both stores seek the index with it."""
    bound = [
        bindparam(None, value, type_=column.type)
        for column, value in zip(columns, key, strict=True)
    ]
    return tuple_(*columns) > tuple_(*bound)
