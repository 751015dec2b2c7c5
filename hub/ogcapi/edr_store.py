"""The store reads behind the EDR station series: stations, their device streams, values.

SQLAlchemy Core on both stores. The registry tables are small (stations, datastreams); the
observation read is one statement over the chosen streams' ranges of ix_observations_stream_time
(datastream_id, phenomenon_time_start, id), so one station-month (~2,200 values per parameter
at a 20-minute cadence) is an index range scan per stream.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pygeoapi.provider.base import ProviderRequestEntityTooLargeError
from sqlalchemy import Connection, Select, and_, exists, func, select

from hub.ogcapi import coveragejson as cj
from hub.ogcapi.edr_params import Box, Window
from hub.sta.idlist import id_in
from hub.store.schema import datastreams, observations, observed_properties, stations, things
from hub.store.types import UTCDateTime

_AGGREGATION_TEXT: Final = {
    "mean": "means",
    "min": "minima",
    "max": "maxima",
    "total": "totals",
}


@dataclass(frozen=True, slots=True)
class Station:
    """A registry station as the EDR queries need it."""

    id: int
    key: str
    names: dict[str, str]
    kind: str
    source: str
    operator: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Stream:
    """A device datastream of a station, under its EDR parameter name."""

    id: int
    station_id: int
    name: str


def parameter_name(key: str, aggregation: str) -> str:
    """The EDR parameter name of a device stream: the key for instants, else key.aggregation."""
    return key if aggregation == "instant" else f"{key}.{aggregation}"


def _device_streams() -> Any:
    """datastreams joined to their station's Thing and keyed ObservedProperty (device streams)."""
    return datastreams.join(
        things, and_(things.c.id == datastreams.c.thing_id, things.c.station_id.is_not(None))
    ).join(
        observed_properties,
        and_(
            observed_properties.c.id == datastreams.c.observed_property_id,
            observed_properties.c.key.is_not(None),
        ),
    )


def _unit_code(unit: Any, properties: Any) -> str | None:
    if isinstance(properties, dict) and isinstance(properties.get("ucum"), str):
        return str(properties["ucum"])
    definition = unit.get("definition") if isinstance(unit, dict) else None
    if isinstance(definition, str) and "#" in definition:
        return definition.rsplit("#", 1)[1] or None
    return None


def read_parameters(conn: Connection) -> dict[str, cj.ParameterInfo]:
    """Every EDR parameter the store has a device stream of, by name (first stream's unit)."""
    rows = conn.execute(
        select(
            observed_properties.c.key,
            datastreams.c.aggregation,
            observed_properties.c.name,
            observed_properties.c.definition,
            observed_properties.c.description,
            datastreams.c.unit,
            datastreams.c.properties,
        )
        .select_from(_device_streams())
        .where(datastreams.c.aggregation.is_not(None))
        .order_by(observed_properties.c.key, datastreams.c.aggregation, datastreams.c.id)
    ).all()
    found: dict[str, cj.ParameterInfo] = {}
    for key, aggregation, name, definition, description, unit, properties in rows:
        param = parameter_name(key, aggregation)
        if param in found:
            continue
        unit = unit if isinstance(unit, dict) else {}
        if aggregation == "instant":
            label, how = str(name), "Instantaneous values."
        else:
            statistic = _AGGREGATION_TEXT.get(aggregation, aggregation)
            label = f"{name} ({aggregation})"
            how = (
                f"Period {statistic}: each value summarises its phenomenon time, "
                "which the t axis bounds give."
            )
        found[param] = cj.ParameterInfo(
            name=param,
            label=label,
            description=f"{description} {how}",
            property_id=str(definition),
            property_label=str(name),
            property_description=str(description),
            ucum=_unit_code(unit, properties),
            unit_label=str(unit.get("name") or unit.get("symbol") or ""),
            unit_symbol=str(unit.get("symbol") or unit.get("name") or ""),
        )
    return found


def _station_names(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def read_stations(
    conn: Connection,
    *,
    key: str | None = None,
    box: Box | None = None,
) -> list[Station]:
    """Registry stations in key order: one by ``key``, or those in the lon/lat ``box``."""
    query = select(
        stations.c.id,
        stations.c.key,
        stations.c.name,
        stations.c.kind,
        stations.c.source,
        stations.c.operator,
        stations.c.lon,
        stations.c.lat,
    ).order_by(stations.c.key)
    if key is not None:
        query = query.where(stations.c.key == key)
    if box is not None:
        minx, miny, maxx, maxy = box
        query = query.where(stations.c.lon.between(minx, maxx), stations.c.lat.between(miny, maxy))
    return [
        Station(
            int(r.id), r.key, _station_names(r.name), r.kind, r.source, r.operator, r.lon, r.lat
        )
        for r in conn.execute(query)
    ]


def read_streams(
    conn: Connection, station_ids: Sequence[int], names: set[str] | None
) -> list[Stream]:
    """The device streams of ``station_ids`` that serve ``names`` (None: all)."""
    if not station_ids:
        return []
    rows = conn.execute(
        select(
            datastreams.c.id,
            things.c.station_id,
            observed_properties.c.key,
            datastreams.c.aggregation,
        )
        .select_from(_device_streams())
        .where(
            datastreams.c.aggregation.is_not(None),
            id_in(conn.dialect.name, things.c.station_id, station_ids),
        )
        .order_by(datastreams.c.id)
    ).all()
    streams = [Stream(int(r[0]), int(r[1]), parameter_name(r[2], r[3])) for r in rows]
    return [s for s in streams if names is None or s.name in names]


def _time_conditions(window: Window | None) -> list[Any]:
    start = observations.c.phenomenon_time_start
    if window is None:
        return []
    lo, hi = window
    conditions = []
    if lo is not None:
        conditions.append(start >= lo)
    if hi is not None:
        conditions.append(start <= hi)
    return conditions


def streams_with_data(conn: Connection, streams: Sequence[Stream], window: Window) -> set[int]:
    """Ids of ``streams`` with an observation starting in ``window``: an index probe each."""
    if not streams:
        return set()
    probe = exists(
        select(observations.c.id).where(
            observations.c.datastream_id == datastreams.c.id, *_time_conditions(window)
        )
    )
    ids = [s.id for s in streams]
    query = select(datastreams.c.id).where(id_in(conn.dialect.name, datastreams.c.id, ids), probe)
    return {int(r[0]) for r in conn.execute(query)}


def _numeric(result: float | None, result_json: Any) -> float | None:
    if result is not None:
        return float(result)
    if isinstance(result_json, (int, float)) and not isinstance(result_json, bool):
        return float(result_json)
    return None


def values_statement(
    dialect: str, stream_ids: Sequence[int], window: Window | None, cap: int
) -> Select[Any]:
    """The observations of ``stream_ids`` starting in ``window``, at most ``cap`` + 1 rows (the
    extra row tells "too many"). No ORDER BY: (datastream, start, end) is unique
    (uq_observation), so the rows are keyed exactly without one."""
    return (
        select(
            observations.c.datastream_id,
            observations.c.phenomenon_time_start,
            observations.c.phenomenon_time_end,
            observations.c.result,
            observations.c.result_json,
        )
        .where(
            id_in(dialect, observations.c.datastream_id, stream_ids),
            *_time_conditions(window),
        )
        .limit(cap + 1)
    )


def read_values(
    conn: Connection, streams: Sequence[Stream], window: Window | None, cap: int
) -> dict[int, dict[cj.TimeKey, float]]:
    """Finite numeric values of ``streams`` starting in ``window`` by stream id and (start,
    end); 413 past ``cap`` rows. Non-numeric results are left out, and so are NaN and
    infinities (SQLite cannot store NaN at all, so leaving them out answers alike on both)."""
    if not streams:
        return {}
    query = values_statement(conn.dialect.name, [s.id for s in streams], window, cap)
    values: dict[int, dict[cj.TimeKey, float]] = defaultdict(dict)
    rows = conn.execute(query).all()
    if len(rows) > cap:
        raise ProviderRequestEntityTooLargeError(
            f"more than {cap} values: narrow datetime or parameter-name"
        )
    for stream_id, start, end, result, result_json in rows:
        number = _numeric(result, result_json)
        if number is not None and math.isfinite(number):
            values[stream_id][(start, end)] = number
    return values


def extent(conn: Connection) -> tuple[Box | None, datetime | None]:
    """The stations' lon/lat box and the first phenomenon start of any device stream (None
    when there is none): a min over each stream's first index entry, not a scan."""
    box = conn.execute(
        select(
            func.min(stations.c.lon),
            func.min(stations.c.lat),
            func.max(stations.c.lon),
            func.max(stations.c.lat),
        )
    ).one()
    first = (
        select(func.min(observations.c.phenomenon_time_start))
        .where(observations.c.datastream_id == datastreams.c.id)
        .scalar_subquery()
    )
    begin = conn.execute(
        select(func.min(first, type_=UTCDateTime()))
        .select_from(_device_streams())
        .where(datastreams.c.aggregation.is_not(None))
    ).scalar()
    found = None if box[0] is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    return found, begin if isinstance(begin, datetime) else None
