"""Schema step 4: ``stream_features``, the FeaturesOfInterest of each (Multi)Datastream (see
:func:`apply`).

A (Multi)Datastream's ``observedArea`` is the bounding box of the features of its observations.
Reading it from the observations means a scan of each stream's rows; ``stream_features`` keeps
the distinct (stream, feature) pairs instead, so that a page of streams reads a few rows each
(:mod:`hub.sta.observed_area`). Every observation insert maintains it from this version on; this
step fills it once from the observations an older hub stored. ``stream_feature_prunes`` counts
the prunes of pairs, so that device ingest may cache the pairs it knows (see
:func:`hub.store.feature_pairs.record_stream_features`).
"""

from __future__ import annotations

from sqlalchemy import Connection, select, true

from hub.store.batches import dialect_insert
from hub.store.schema import observations, stream_feature_prunes, stream_features


def apply(conn: Connection) -> None:
    """Bring a version-3 database to version 4. Idempotent: a fresh database already has the
    tables from ``metadata.create_all`` in step 1, and the backfill skips pairs it holds."""
    stream_features.create(conn, checkfirst=True)  # with its indexes
    stream_feature_prunes.create(conn, checkfirst=True)
    conn.execute(
        dialect_insert(conn, stream_feature_prunes)
        .values(id=1, prunes=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    backfill(conn)


def backfill(conn: Connection) -> None:
    """Add the (stream, feature) pair of every stored observation: one DISTINCT pass."""
    obs = observations.c
    pairs = (
        select(obs.datastream_id, obs.multi_datastream_id, obs.feature_of_interest_id)
        .distinct()
        # SQLite parses "INSERT … SELECT … FROM t ON CONFLICT" as a join constraint unless a
        # WHERE comes between.
        .where(true())
    )
    stmt = (
        dialect_insert(conn, stream_features)
        .from_select(["datastream_id", "multi_datastream_id", "feature_of_interest_id"], pairs)
        .on_conflict_do_nothing()
    )
    conn.execute(stmt)
