"""``stream_features`` rows: the (stream, feature of interest) pairs of stored observations.

Every observation insert adds the pairs of its rows here, in its own transaction: device ingest
through :func:`record_stream_features` (with a per-process cache of the pairs known to be
stored, so that a batch of known pairs costs one point read), API writes and the bulk loader
through :func:`insert_stream_features`. :func:`hub.store.api_writes.prune_stream_features`
removes pairs that lost their observations and counts the prune
(:func:`stream_features_pruned`), which empties every process's cache.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from hub.store.schema import stream_feature_prunes

StreamFeature = tuple[int, int]
"""A (stream id, feature-of-interest id) pair of ``stream_features``."""

# Pairs kept per database before the cache starts over (a few per device stream).
_KNOWN_LIMIT = 200_000
_WRITTEN_KEY = "auasu_stream_features_written"


@dataclass(slots=True)
class _KnownPairs:
    """(Datastream, feature) pairs that device ingest found committed in ``stream_features``,
    valid while the store's prune count (``stream_feature_prunes``) is ``prunes``."""

    prunes: int = -1
    pairs: set[StreamFeature] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


# Per connection pool, i.e. per database this process writes (a Store and its option engines
# share one pool); gone with the pool.
_KNOWN: weakref.WeakKeyDictionary[Any, _KnownPairs] = weakref.WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def record_stream_features(conn: Connection, pairs: set[StreamFeature]) -> None:
    """Note in ``stream_features`` that Datastream ``d`` has observations of feature ``f``, for
    each (d, f) in ``pairs``, in the caller's transaction (idempotent).

    Call it after inserting the observations: their foreign-key checks lock the Datastreams'
    rows (PostgreSQL), so a concurrent :func:`hub.store.api_writes.prune_stream_features` of
    those streams either finished before (and its prune count is seen here) or waits for this
    transaction (and then sees its observations).

    Most batches bring pairs that are stored already; a per-process cache skips them. The
    cache holds only pairs seen *conflicting* with a stored row that this transaction did not
    write, i.e. committed by an earlier one, so a rollback never leaves a pair in it that the
    database lacks; and it starts over whenever the prune count has changed.
    """
    if not pairs:
        return
    known = _known_pairs(conn)
    if known is not None:
        with known.lock:
            pairs = pairs - known.pairs
        if not pairs:
            return
    inserted = insert_stream_features(conn, pairs)
    if known is not None:
        confirmed = pairs - inserted - _written_here(conn)
        with known.lock:
            known.pairs.update(confirmed)


# Like the observation insert, driver-level constants (every value bound, one statement for
# thousands of pairs, no per-row parameter processing): a PostgreSQL pair of arrays, a SQLite
# JSON array of [stream, feature] arrays. Each returns the pairs it inserted (RETURNING skips the
# conflicting ones).
_INSERT_STREAM_FEATURES: dict[tuple[str, bool], str] = {
    ("postgresql", False): (
        "INSERT INTO stream_features (datastream_id, feature_of_interest_id) "
        "SELECT * FROM unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[])) "
        "ON CONFLICT DO NOTHING RETURNING datastream_id, feature_of_interest_id"
    ),
    ("postgresql", True): (
        "INSERT INTO stream_features (multi_datastream_id, feature_of_interest_id) "
        "SELECT * FROM unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[])) "
        "ON CONFLICT DO NOTHING RETURNING multi_datastream_id, feature_of_interest_id"
    ),
    # "WHERE true": without it SQLite reads the ON CONFLICT as a join constraint.
    ("sqlite", False): (
        "INSERT INTO stream_features (datastream_id, feature_of_interest_id) "
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) "
        "WHERE true ON CONFLICT DO NOTHING RETURNING datastream_id, feature_of_interest_id"
    ),
    ("sqlite", True): (
        "INSERT INTO stream_features (multi_datastream_id, feature_of_interest_id) "
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) "
        "WHERE true ON CONFLICT DO NOTHING RETURNING multi_datastream_id, feature_of_interest_id"
    ),
}


def insert_stream_features(
    conn: Connection, pairs: Iterable[StreamFeature], *, multi: bool = False
) -> set[StreamFeature]:
    """Add (stream, feature) ``pairs`` (MultiDatastreams with ``multi``) that are missing from
    ``stream_features``; return the ones this call added."""
    # One order for every writer: two transactions never wait on each other's pairs crosswise.
    ordered = sorted(pairs)
    if not ordered:
        return set()
    sql = _INSERT_STREAM_FEATURES[(conn.dialect.name, multi)]
    if conn.dialect.name == "postgresql":
        params: Any = ([pair[0] for pair in ordered], [pair[1] for pair in ordered])
    else:
        params = (json.dumps(ordered),)
    inserted = {(int(row[0]), int(row[1])) for row in conn.exec_driver_sql(sql, params)}
    if not multi:
        _written_here(conn).update(inserted)
    return inserted


def stream_features_pruned(conn: Connection) -> None:
    """Count a prune of ``stream_features`` (in the caller's transaction): every process's
    cache of known pairs for this database starts over at its next batch."""
    conn.execute(
        update(stream_feature_prunes)
        .where(stream_feature_prunes.c.id == 1)
        .values(prunes=stream_feature_prunes.c.prunes + 1)
    )


def _known_pairs(conn: Connection) -> _KnownPairs | None:
    """This database's cache of known pairs, emptied if a prune happened since it was filled;
    None when the database has no prune count (a development build's schema)."""
    prunes = conn.execute(
        select(stream_feature_prunes.c.prunes).where(stream_feature_prunes.c.id == 1)
    ).scalar()
    if prunes is None:
        return None
    pool = conn.engine.pool
    with _KNOWN_LOCK:
        known = _KNOWN.get(pool)
        if known is None:
            known = _KNOWN[pool] = _KnownPairs()
    with known.lock:
        if known.prunes != prunes or len(known.pairs) > _KNOWN_LIMIT:
            known.pairs.clear()
            known.prunes = int(prunes)
    return known


def _written_here(conn: Connection) -> set[StreamFeature]:
    """The Datastream pairs this connection's current transaction inserted: seen conflicting
    later in the same transaction, they prove nothing about what is committed."""
    transaction = conn.get_transaction()
    held = conn.info.get(_WRITTEN_KEY)
    if held is None or held[0] is not transaction:
        # Holding the transaction object keeps it alive, so a new one can never be mistaken
        # for it (as an id() could be).
        held = conn.info[_WRITTEN_KEY] = (transaction, set())
    written: set[StreamFeature] = held[1]
    return written
