"""The newest (or oldest) N observations of many Datastreams: one index seek per Datastream.

The map query -- ``Things?$expand=Datastreams($expand=Observations($top=1;$orderby=
phenomenonTime desc))``, FROST issue #1107 -- asks, for every Datastream of a page, for the top
N of its observations by phenomenon time. A window function over the Datastreams' observations
would number every one of them (tens of millions); here each Datastream costs one descent of
ix_observations_stream_time (datastream_id, phenomenon_time_start, id) read in order and stopped
after N rows:

* PostgreSQL: ``datastreams d CROSS JOIN LATERAL (SELECT ... WHERE datastream_id = d.id ...
  ORDER BY phenomenon_time_start DESC, id DESC LIMIT n) o``.
* SQLite (no LATERAL): ``datastreams d JOIN observations o ON o.id IN (SELECT id FROM
  observations WHERE datastream_id = d.id ... ORDER BY ... LIMIT n)``, a correlated list subquery
  that SQLite runs once per Datastream on the covering index, then fetches rows by rowid.

A ``$filter`` stays inside the per-Datastream subquery (the index still delivers the order; the
filter only drops rows on the way). The rows match the generic path exactly: the order is the
one :mod:`hub.sta.ordering` gives (``id`` breaks ties in the same direction).

MultiDatastreams are read the same way, on ix_observations_multi_time (multi_datastream_id,
phenomenon_time_start, id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, select, true

from hub.sta.entities import EntityType, NavigationSpec
from hub.sta.idlist import id_in
from hub.sta.ordering import Ordering
from hub.store.schema import datastreams, multi_datastreams, observations

# The label of the parent's id in expansion rows (not "_parent": Row has an attribute so named).
PARENT = "sta_parent"
# The label of the column saying whether the row's Datastream has a row after this page.
MORE = "sta_more"

# The stream tables and the observation column that refers to each.
_STREAMS: dict[str, tuple[Table, str]] = {
    "Datastream": (datastreams, "datastream_id"),
    "MultiDatastream": (multi_datastreams, "multi_datastream_id"),
}


def applies(parent: EntityType, navigation: NavigationSpec, order: Ordering) -> bool:
    """Whether ``parent``/``navigation`` under ``order`` is "Observations of a (Multi)Datastream
    by phenomenon time" (asc or desc, ``id`` as the tiebreaker), which the index answers."""
    if parent.name not in _STREAMS or navigation.name != "Observations" or order.keys is None:
        return False
    if len(order.keys) != 2:
        return False
    time, tiebreak = order.keys
    return (
        time.column is observations.c.phenomenon_time_start
        and tiebreak.column is observations.c.id
        and time.descending == tiebreak.descending
    )


def statement(
    dialect: str,
    parent: EntityType,
    datastream_ids: Sequence[int],
    order: Ordering,
    conditions: Sequence[ColumnElement[bool]],
    skip: int,
    limit: int,
    more_at: int,
) -> Select[Any]:
    """Observation rows plus :data:`PARENT` (the Datastream id) and :data:`MORE`: for each of
    ``datastream_ids``, its rows meeting ``conditions`` (over the ``observations`` base table)
    in ``order``, after ``skip``, at most ``limit``. Ordered by Datastream, then ``order``.
    ``parent`` is Datastream or MultiDatastream (the ids are of that type). :data:`MORE` says
    whether the Datastream has a row at 0-based position ``more_at`` (a next page): an index
    probe per Datastream inside the same statement, which costs PostgreSQL a fraction of a
    separate semi-join over the same Datastreams."""
    assert order.keys is not None
    table, column = _STREAMS[parent.name]
    stream: Any = table.alias("stream")
    obs: Any = observations.c
    per_stream = [obs[column] == stream.c.id, *conditions]
    more = (
        select(obs.id)
        .where(*per_stream)
        .order_by(*order.terms)
        .limit(1)
        .offset(more_at)
        .exists()
        .label(MORE)
    )
    if dialect == "postgresql":
        newest = (
            select(observations)
            .where(*per_stream)
            .order_by(*order.terms)
            .limit(limit)
            .offset(skip)
            .lateral("newest")
        )
        cols: Any = newest.c
        return (
            select(newest, stream.c.id.label(PARENT), more)
            .select_from(stream.join(newest, true()))
            .where(id_in(dialect, stream.c.id, datastream_ids))
            .order_by(stream.c.id, *(key.term(cols[key.column.name]) for key in order.keys))
        )
    ids = select(obs.id).where(*per_stream).order_by(*order.terms).limit(limit).offset(skip)
    row: Any = observations.alias("newest")
    return (
        select(row, stream.c.id.label(PARENT), more)
        .select_from(stream.join(row, row.c.id.in_(ids)))
        .where(id_in(dialect, stream.c.id, datastream_ids))
        .order_by(stream.c.id, *(key.term(row.c[key.column.name]) for key in order.keys))
    )
