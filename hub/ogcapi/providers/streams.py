"""The datastreams behind the features: those of registry stations, with their newest value.

Every collection of ``/oapi`` is about the station network: a datastream appears when its Thing
belongs to a registry station (``things.station_id``); Things created through the SensorThings
API without a station, and MultiDatastreams, are not part of these collections.

The newest observation of a datastream is one descent of ``ix_observations_stream_time``
(datastream, phenomenon time, id) read backwards, as in :mod:`hub.sta.latest`: a correlated
``ORDER BY ... DESC LIMIT 1`` subquery per datastream, never a window over all observations.
The first phenomenon time is the same seek forwards (``min`` over an index prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from hub.ogcapi.providers.common import in_list, observation_quality, observation_value
from hub.store.schema import datastreams, observations, observed_properties, stations, things
from hub.store.types import UTCDateTime

# The aliases every provider query uses, so that field expressions are shared.
d = datastreams.alias("d")
t = things.alias("t")
s = stations.alias("s")
op = observed_properties.alias("op")
o = observations.alias("o")
newest = observations.alias("newest")

# The observed property's hub key; the name for properties created through the API (no key).
PROPERTY_KEY: ColumnElement[Any] = func.coalesce(op.c.key, op.c.name)
UNIT_SYMBOL: ColumnElement[Any] = d.c.unit["symbol"].as_string()

STREAM_JOIN = (
    d.join(t, t.c.id == d.c.thing_id)
    .join(s, s.c.id == t.c.station_id)
    .join(op, op.c.id == d.c.observed_property_id)
)


def newest_id(stream_id: Any) -> Any:
    """The id of the newest observation of datastream ``stream_id`` (a correlated seek)."""
    inner = observations.alias("seek")
    return (
        select(inner.c.id)
        .where(inner.c.datastream_id == stream_id)
        .order_by(inner.c.phenomenon_time_start.desc(), inner.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def first_time(stream_id: Any) -> Any:
    """The first phenomenon time of datastream ``stream_id`` (a correlated seek)."""
    inner = observations.alias("first")
    return (
        select(func.min(inner.c.phenomenon_time_start))
        .where(inner.c.datastream_id == stream_id)
        .scalar_subquery()
    )


def stream_ids(conn: Connection, conditions: Sequence[ColumnElement[bool]]) -> list[int]:
    """The ids of the station datastreams meeting ``conditions`` (over the stream aliases)."""
    query = select(d.c.id).select_from(STREAM_JOIN).where(*conditions).order_by(d.c.id)
    return [int(row[0]) for row in conn.execute(query)]


def all_streams_are_station_streams(conn: Connection) -> bool:
    """Whether every datastream belongs to a registry station (then "any datastream" needs no
    id list), and there is at least one."""
    total = select(func.count()).select_from(datastreams).scalar_subquery()
    ours = select(func.count()).select_from(STREAM_JOIN).scalar_subquery()
    found = conn.execute(select(total, ours)).one()
    return int(found[0]) == int(found[1]) > 0


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """One datastream of a station: what it measures, its time span and newest value."""

    station_id: int
    datastream: int
    observed_property: str
    name: str
    definition: str
    unit: Any
    aggregation: str | None
    first_time: datetime | None
    last_time: datetime | None
    latest_time: datetime | None
    latest_value: Any
    latest_quality: Any


def summaries(conn: Connection, station_ids: Sequence[int]) -> list[StreamSummary]:
    """The datastreams of ``station_ids`` with time span and newest value (two index seeks
    each), ordered by station, observed property, aggregation and id."""
    if not station_ids:
        return []
    first = first_time(d.c.id).label("first_time")
    query = (
        select(
            s.c.id.label("station_id"),
            d.c.id,
            PROPERTY_KEY.label("property_key"),
            op.c.name,
            op.c.definition,
            d.c.unit,
            d.c.aggregation,
            first,
            newest.c.phenomenon_time_start,
            newest.c.phenomenon_time_end,
            newest.c.result,
            newest.c.result_json,
            newest.c.result_quality,
            newest.c.result_quality_json,
        )
        .select_from(STREAM_JOIN.outerjoin(newest, newest.c.id == newest_id(d.c.id)))
        .where(in_list(s.c.id, list(station_ids), conn.dialect.name))
        .order_by(s.c.id, PROPERTY_KEY, d.c.aggregation, d.c.id)
    )
    convert = UTCDateTime.process_result_value_of  # aggregates lose the column type
    out = []
    for row in conn.execute(query):
        first_value = convert(row.first_time) if row.first_time is not None else None
        out.append(
            StreamSummary(
                station_id=int(row.station_id),
                datastream=int(row.id),
                observed_property=str(row.property_key),
                name=row.name,
                definition=row.definition,
                unit=row.unit,
                aggregation=row.aggregation,
                first_time=first_value,
                last_time=row.phenomenon_time_end,
                latest_time=row.phenomenon_time_start,
                latest_value=observation_value(row.result, row.result_json),
                latest_quality=observation_quality(row.result_quality, row.result_quality_json),
            )
        )
    return out
