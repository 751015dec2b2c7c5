"""The ``stations`` collection: every registry station as a point feature.

A feature's id is the station's key; its properties are the names in Kazakh, Russian and
English, source, kind, operator, the time span of its data, and ``observed_properties``: one
entry per datastream (observed property, unit, aggregation, first and last phenomenon time,
newest value and its time and quality). Queryables are the station's own fields; ``datetime``
selects the stations with an observation whose phenomenon time (start) falls in it.

The registry is small (a city network), so queries over it are plain SQL with OFFSET; the
per-datastream details of a page cost two index seeks per datastream
(:func:`hub.ogcapi.providers.streams.summaries`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pygeoapi.provider.base import ProviderItemNotFoundError
from sqlalchemy import ColumnElement, Connection, exists, func, select

from hub.ogcapi import crs
from hub.ogcapi.cql import Kind
from hub.ogcapi.providers import streams
from hub.ogcapi.providers.common import (
    FieldSpec,
    HubProvider,
    Item,
    Plan,
    StationPoints,
    iso,
    localized_names,
)
from hub.ogcapi.providers.streams import StreamSummary
from hub.store import Store
from hub.store.schema import datastreams, observations, stations, things
from hub.store.timeouts import limited_connection

_OBSERVED = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "observed_property": {"type": "string"},
            "name": {"type": "string"},
            "definition": {"type": "string"},
            "unit": {"type": "string"},
            "aggregation": {"type": ["string", "null"]},
            "datastream": {"type": "integer"},
            "first_time": {"type": ["string", "null"], "format": "date-time"},
            "last_time": {"type": ["string", "null"], "format": "date-time"},
            "latest_value": {},
            "latest_time": {"type": ["string", "null"], "format": "date-time"},
            "latest_quality": {},
        },
    },
}


def _station(name: str, title: str, description: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, Kind.STRING, title, description, stream=True, **kw)


class StationsProvider(HubProvider):
    """pygeoapi feature provider of the ``stations`` collection."""

    NAME = "hub.ogcapi.providers.stations.StationsProvider"
    ID_FIELD = "station"
    TITLE_FIELD = "name_en"
    FIELDS = (
        _station("station", "Station", "The station's key (also the feature id)"),
        _station("name_en", "Name (English)", "The station's name in English"),
        _station("name_ru", "Name (Russian)", "The station's name in Russian", nullable=True),
        _station("name_kk", "Name (Kazakh)", "The station's name in Kazakh", nullable=True),
        _station("source", "Source", "Where the data come from, e.g. lihe-hj212"),
        _station("kind", "Kind", "What the station monitors: air, water, effluent, ..."),
        _station("operator", "Operator", "Who runs the station"),
        FieldSpec(
            "first_time",
            Kind.DATETIME,
            "First observation",
            "Phenomenon time (start) of the station's first observation",
            queryable=False,
            sortable=False,
            nullable=True,
        ),
        FieldSpec(
            "last_time",
            Kind.DATETIME,
            "Last observation",
            "Phenomenon time (end) of the station's newest observation",
            queryable=False,
            sortable=False,
            nullable=True,
        ),
        FieldSpec(
            "observed_properties",
            None,
            "Observed properties",
            "Per datastream: observed property, unit, aggregation, time span, newest value",
            queryable=False,
            sortable=False,
            schema=_OBSERVED,
        ),
    )
    EXPRESSIONS = {
        "station": stations.c.key,
        "name_en": stations.c.name["en"].as_string(),
        "name_ru": stations.c.name["ru"].as_string(),
        "name_kk": stations.c.name["kk"].as_string(),
        "source": stations.c.source,
        "kind": stations.c.kind,
        "operator": stations.c.operator,
    }

    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]:
        """Title, description, keywords and extents (stations' bbox, data time span)."""
        with store.connect() as conn:
            return collection_metadata(
                conn,
                title={
                    "en": "Monitoring stations",
                    "ru": "Станции мониторинга",
                    "kk": "Мониторинг станциялары",
                },
                description=(
                    "Every air and water quality monitoring station of the hub as a point: "
                    "names (kk/ru/en), source, kind, operator, observed properties with units, "
                    "time span of the data and the newest value of each property."
                ),
                keywords=["stations", "monitoring", "air quality", "water quality", "Astana"],
            )

    def query(self, offset: int = 0, limit: int = 10, **kwargs: Any) -> dict[str, Any]:
        with limited_connection(self.store) as conn:
            points = StationPoints(conn)
            plan = self.plan(conn, points, offset=offset, limit=limit, **kwargs)
            conditions = self.conditions(plan)
            matched = conn.execute(
                select(func.count()).select_from(stations).where(*conditions)
            ).scalar_one()
            if plan.hits:
                return self.collection(plan, [], int(matched))
            order = self.order_terms(plan, [stations.c.key.asc()])
            rows = conn.execute(
                select(stations)
                .where(*conditions)
                .order_by(*order)
                .offset(plan.offset)
                .limit(plan.limit)
            ).all()
            items = self.items(conn, rows)
        return self.collection(plan, items, int(matched))

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        plan = self.single_plan(**kwargs)
        key = str(identifier)
        if "\x00" in key or len(key) > 64:  # no such key (and PostgreSQL refuses NUL text)
            raise ProviderItemNotFoundError(user_msg=f"no station {identifier!r}")
        with limited_connection(self.store) as conn:
            row = conn.execute(select(stations).where(stations.c.key == key)).first()
            if row is None:
                raise ProviderItemNotFoundError(user_msg=f"no station {identifier!r}")
            (item,) = self.items(conn, [row])
        return self.feature(plan, item)

    def conditions(self, plan: Plan) -> list[ColumnElement[bool]]:
        found = [*plan.stream, *plan.row, *plan.mixed]
        if plan.span is not None:
            found.append(has_observation_in(plan))
        return found

    def items(self, conn: Connection, rows: Any) -> list[Item]:
        by_station: dict[int, list[StreamSummary]] = defaultdict(list)
        for summary in streams.summaries(conn, [int(row.id) for row in rows]):
            by_station[summary.station_id].append(summary)
        out = []
        for row in rows:
            summaries = by_station.get(int(row.id), [])
            firsts = [x.first_time for x in summaries if x.first_time is not None]
            lasts = [x.last_time for x in summaries if x.last_time is not None]
            properties = {
                "station": row.key,
                **localized_names(row.name),
                "source": row.source,
                "kind": row.kind,
                "operator": row.operator,
                "first_time": iso(min(firsts)) if firsts else None,
                "last_time": iso(max(lasts)) if lasts else None,
                "observed_properties": [observed(x) for x in summaries],
            }
            out.append(Item(row.key, properties, float(row.lon), float(row.lat)))
        return out


def observed(summary: StreamSummary) -> dict[str, Any]:
    """One entry of a station's ``observed_properties``."""
    unit = summary.unit if isinstance(summary.unit, dict) else {}
    return {
        "observed_property": summary.observed_property,
        "name": summary.name,
        "definition": summary.definition,
        "unit": unit.get("symbol"),
        "aggregation": summary.aggregation,
        "datastream": summary.datastream,
        "first_time": iso(summary.first_time),
        "last_time": iso(summary.last_time),
        "latest_value": summary.latest_value,
        "latest_time": iso(summary.latest_time),
        "latest_quality": summary.latest_quality,
    }


def has_observation_in(plan: Plan) -> ColumnElement[bool]:
    """The station has an observation whose phenomenon time (start) is in ``plan.span``: per
    datastream an index range on (datastream, phenomenon time), stopped at the first row."""
    assert plan.span is not None
    obs = observations.alias("inside")
    ds = datastreams.alias("ds")
    th = things.alias("th")
    return exists(
        select(obs.c.id)
        .select_from(
            ds.join(th, th.c.id == ds.c.thing_id).join(obs, obs.c.datastream_id == ds.c.id)
        )
        .where(th.c.station_id == stations.c.id, *plan.span.conditions(obs.c.phenomenon_time_start))
    )


def collection_metadata(
    conn: Connection, *, title: dict[str, str], description: str, keywords: list[str]
) -> dict[str, Any]:
    """A collection's metadata over the station network: bbox of the stations, time span of
    the station datastreams' data (two seeks per datastream), CRS note."""
    box = conn.execute(
        select(
            func.min(stations.c.lon),
            func.min(stations.c.lat),
            func.max(stations.c.lon),
            func.max(stations.c.lat),
        )
    ).one()
    first = streams.first_time(streams.d.c.id)
    span = conn.execute(
        select(func.min(first), func.max(streams.newest.c.phenomenon_time_end)).select_from(
            streams.STREAM_JOIN.outerjoin(
                streams.newest, streams.newest.c.id == streams.newest_id(streams.d.c.id)
            )
        )
    ).one()
    convert = observations.c.phenomenon_time_start.type.result_processor(conn.dialect, None)
    begin, end = (convert(v) if convert is not None and v is not None else v for v in span)
    extents: dict[str, Any] = {}
    if box[0] is not None:
        extents["spatial"] = {"bbox": [float(v) for v in box], "crs": crs.CRS84}
    extents["temporal"] = {
        "begin": iso(begin),
        "end": iso(end),
        "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
    }
    return {
        "title": title,
        "description": description + crs.metadata_note(),
        "keywords": keywords,
        "extents": extents,
    }
