"""``phenomenonTime``/``resultTime`` extents of many (Multi)Datastreams in one query.

The store keeps no extents (``hub.store.schema``: maintaining them is FROST's ingest bottleneck);
:func:`hub.store.queries.datastream_extent` reads one Datastream's from two index seeks. A page
of 4,000 expanded Datastreams (the map query) would make that 8,000 statements, so this module
asks for a whole page at once: per Datastream, the first and the last observation by
(phenomenon time, id) -- two correlated ``LIMIT 1`` seeks on ix_observations_stream_time -- and
their times, with the same meaning as ``datastream_extent``. MultiDatastreams are read the same
way from their observations (``multi_datastream_id``) on ix_observations_multi_time.

PostgreSQL takes the two seeks as ``LEFT JOIN LATERAL (... LIMIT 1)`` that return the times
directly (about a third faster than scalar subplans followed by joins on id); SQLite, which
has no LATERAL, seeks ids on the covering index and joins by rowid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, select, true

from hub.sta.idlist import chunks, id_in
from hub.store.queries import Extent
from hub.store.schema import datastreams, multi_datastreams, observations


def datastream_extents(conn: Connection, ids: Sequence[int]) -> dict[int, Extent]:
    """The extent of each Datastream in ``ids`` (all-None for one without observations)."""
    return _extents(conn, datastreams, "datastream_id", ids)


def multi_datastream_extents(conn: Connection, ids: Sequence[int]) -> dict[int, Extent]:
    """The extent of each MultiDatastream in ``ids`` (none for one without observations)."""
    return _extents(conn, multi_datastreams, "multi_datastream_id", ids)


def multi_datastream_extent(conn: Connection, multi_datastream_id: int) -> Extent:
    """The extent of one MultiDatastream (all-None without observations)."""
    found = multi_datastream_extents(conn, [multi_datastream_id])
    return found.get(multi_datastream_id, Extent(None, None, None, None))


def _extents(conn: Connection, table: Table, column: str, ids: Sequence[int]) -> dict[int, Extent]:
    found: dict[int, Extent] = {}
    for chunk in chunks(list(dict.fromkeys(ids))):
        found.update(_chunk(conn, table, column, chunk))
    return found


def _edge_order(*, latest: bool) -> tuple[Any, Any]:
    """A stream's observations by phenomenon time, then id: newest first with ``latest``."""
    obs: Any = observations.c
    if latest:
        return obs.phenomenon_time_start.desc(), obs.id.desc()
    return obs.phenomenon_time_start.asc(), obs.id.asc()


def _edge(stream: Any, column: str, *, latest: bool) -> Any:
    """The id of ``stream``'s first (or last) observation by phenomenon time, then id."""
    obs: Any = observations.c
    return (
        select(obs.id)
        .where(obs[column] == stream.c.id)
        .order_by(*_edge_order(latest=latest))
        .limit(1)
        .scalar_subquery()
    )


def _by_stream(rows: Sequence[Any]) -> dict[int, Extent]:
    """Rows of (stream id, first start, last end, first result time, last result time)."""
    return {row[0]: Extent(row[1], row[2], row[3], row[4]) for row in rows}


def _chunk(conn: Connection, table: Table, column: str, ids: Sequence[int]) -> dict[int, Extent]:
    if conn.dialect.name == "postgresql":
        return _chunk_lateral(conn, table, column, ids)
    stream: Any = table.alias("stream")
    edges = (
        select(
            stream.c.id.label("stream_id"),
            _edge(stream, column, latest=False).label("first_id"),
            _edge(stream, column, latest=True).label("last_id"),
        )
        .where(id_in(conn.dialect.name, stream.c.id, ids))
        .subquery("edges")
    )
    first: Any = observations.alias("first_obs")
    last: Any = observations.alias("last_obs")
    rows = conn.execute(
        select(
            edges.c.stream_id,
            first.c.phenomenon_time_start,
            last.c.phenomenon_time_end,
            first.c.result_time.label("first_result"),
            last.c.result_time.label("last_result"),
        ).select_from(
            edges.outerjoin(first, first.c.id == edges.c.first_id).outerjoin(
                last, last.c.id == edges.c.last_id
            )
        )
    ).all()
    return _by_stream(rows)


def _chunk_lateral(
    conn: Connection, table: Table, column: str, ids: Sequence[int]
) -> dict[int, Extent]:
    stream: Any = table.alias("stream")
    obs: Any = observations.c
    own = obs[column] == stream.c.id
    first = (
        select(obs.phenomenon_time_start, obs.result_time)
        .where(own)
        .order_by(*_edge_order(latest=False))
        .limit(1)
        .lateral("first_obs")
    )
    last = (
        select(obs.phenomenon_time_end, obs.result_time)
        .where(own)
        .order_by(*_edge_order(latest=True))
        .limit(1)
        .lateral("last_obs")
    )
    firsts: Any = first.c
    lasts: Any = last.c
    rows = conn.execute(
        select(
            stream.c.id,
            firsts.phenomenon_time_start,
            lasts.phenomenon_time_end,
            firsts.result_time.label("first_result"),
            lasts.result_time.label("last_result"),
        )
        .select_from(stream.outerjoin(first, true()).outerjoin(last, true()))
        .where(id_in(conn.dialect.name, stream.c.id, ids))
    ).all()
    return _by_stream(rows)
