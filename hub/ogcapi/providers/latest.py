"""The ``latest`` collection: the newest value of every station datastream.

One point feature per station and observed property (and aggregation, when a station reports a
property both as instants and as, say, hourly means: those are different series). The feature
id is the datastream's id (the same as in the SensorThings API); the properties are station,
observed property, aggregation, unit, and the newest observation's value, phenomenon time start
and end, result time and quality. Datastreams without observations have no feature.

Each datastream's newest observation is one backwards index seek (:func:`streams.newest_id`),
joined by id; filters on the value or its time apply to that row. ``datetime`` selects the
features whose newest value's phenomenon time (start) is in it.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import ProviderItemNotFoundError
from sqlalchemy import ColumnElement, Select, exists, func, select

from hub.ogcapi.cql import Kind
from hub.ogcapi.providers import streams
from hub.ogcapi.providers.common import (
    FieldSpec,
    HubProvider,
    Item,
    Plan,
    StationPoints,
    iso,
    observation_quality,
    observation_value,
)
from hub.ogcapi.providers.stations import collection_metadata
from hub.ogcapi.providers.streams import PROPERTY_KEY, UNIT_SYMBOL, d, newest, s
from hub.store import Store
from hub.store.schema import observations
from hub.store.timeouts import limited_connection

SOURCE = streams.STREAM_JOIN.join(newest, newest.c.id == streams.newest_id(d.c.id))


def _stream(name: str, kind: Kind, title: str, description: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, kind, title, description, stream=True, **kw)


class LatestProvider(HubProvider):
    """pygeoapi feature provider of the ``latest`` collection."""

    NAME = "hub.ogcapi.providers.latest.LatestProvider"
    TIME_FIELD = "phenomenon_time_start"
    FIELDS = (
        _stream("station", Kind.STRING, "Station", "Key of the station (a stations feature id)"),
        _stream("observed_property", Kind.STRING, "Observed property", "Key, e.g. pm2_5"),
        _stream(
            "aggregation",
            Kind.STRING,
            "Aggregation",
            "instant, mean, min, max or total over the phenomenon time",
            nullable=True,
        ),
        _stream("unit", Kind.STRING, "Unit", "Unit symbol of the value"),
        FieldSpec("value", Kind.NUMBER, "Value", "The newest result", nullable=True),
        FieldSpec(
            "phenomenon_time_start",
            Kind.DATETIME,
            "Phenomenon time (start)",
            "When the newest value's period starts",
        ),
        FieldSpec(
            "phenomenon_time_end",
            Kind.DATETIME,
            "Phenomenon time (end)",
            "When the newest value's period ends",
        ),
        FieldSpec(
            "result_time",
            Kind.DATETIME,
            "Result time",
            "When the newest result was produced",
            nullable=True,
        ),
        FieldSpec(
            "quality", Kind.STRING, "Quality", "Result quality flag, e.g. valid", nullable=True
        ),
        _stream(
            "datastream",
            Kind.INTEGER,
            "Datastream",
            "SensorThings Datastream id (also the feature id)",
        ),
    )
    EXPRESSIONS = {
        "station": s.c.key,
        "observed_property": PROPERTY_KEY,
        "aggregation": d.c.aggregation,
        "unit": UNIT_SYMBOL,
        "value": newest.c.result,
        "phenomenon_time_start": newest.c.phenomenon_time_start,
        "phenomenon_time_end": newest.c.phenomenon_time_end,
        "result_time": newest.c.result_time,
        "quality": newest.c.result_quality,
        "datastream": d.c.id,
    }

    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]:
        with store.connect() as conn:
            return collection_metadata(
                conn,
                title={"en": "Latest values", "ru": "Последние значения", "kk": "Соңғы мәндер"},
                description=(
                    "The newest value of every observed property at every station, as a "
                    "point at the station. datetime applies to that value's phenomenon time."
                ),
                keywords=["latest", "current values", "air quality", "water quality"],
            )

    def query(self, offset: int = 0, limit: int = 10, **kwargs: Any) -> dict[str, Any]:
        with limited_connection(self.store) as conn:
            points = StationPoints(conn, s)
            plan = self.plan(conn, points, offset=offset, limit=limit, **kwargs)
            base = self.base(plan)
            matched = int(conn.execute(self.count_query(plan, base)).scalar_one())
            if plan.hits:
                return self.collection(plan, [], matched)
            order = self.order_terms(plan, [s.c.key.asc(), PROPERTY_KEY.asc(), d.c.id.asc()])
            rows = conn.execute(base.order_by(*order).offset(plan.offset).limit(plan.limit)).all()
        return self.collection(plan, [self.item(row) for row in rows], matched)

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        plan = self.single_plan(**kwargs)
        try:
            wanted = int(str(identifier))
        except ValueError:
            raise ProviderItemNotFoundError(user_msg=f"no latest value {identifier!r}") from None
        if not 0 < wanted < 2**63:
            raise ProviderItemNotFoundError(user_msg=f"no latest value {identifier!r}")
        with limited_connection(self.store) as conn:
            row = conn.execute(self.base(Plan()).where(d.c.id == wanted)).first()
        if row is None:
            raise ProviderItemNotFoundError(user_msg=f"no latest value {identifier!r}")
        return self.feature(plan, self.item(row))

    def count_query(self, plan: Plan, base: Select[Any]) -> Select[Any]:
        """The count of ``base``. Without conditions on the newest value it is the datastreams
        that have an observation: an index-only probe each, not a fetch of the newest row."""
        if plan.row or plan.mixed or plan.span is not None:
            return base.with_only_columns(func.count(), maintain_column_froms=True)
        probe = observations.alias("probe")
        has_data = exists(select(probe.c.id).where(probe.c.datastream_id == d.c.id))
        return select(func.count()).select_from(streams.STREAM_JOIN).where(*plan.stream, has_data)

    def base(self, plan: Plan) -> Select[Any]:
        conditions: list[ColumnElement[bool]] = [*plan.stream, *plan.row, *plan.mixed]
        if plan.span is not None:
            conditions += plan.span.conditions(newest.c.phenomenon_time_start)
        return (
            select(
                d.c.id,
                s.c.key.label("station"),
                s.c.lon,
                s.c.lat,
                PROPERTY_KEY.label("property_key"),
                d.c.unit,
                d.c.aggregation,
                newest.c.phenomenon_time_start,
                newest.c.phenomenon_time_end,
                newest.c.result_time,
                newest.c.result,
                newest.c.result_json,
                newest.c.result_quality,
                newest.c.result_quality_json,
            )
            .select_from(SOURCE)
            .where(*conditions)
        )

    def item(self, row: Any) -> Item:
        unit = row.unit if isinstance(row.unit, dict) else {}
        properties = {
            "station": row.station,
            "observed_property": row.property_key,
            "aggregation": row.aggregation,
            "unit": unit.get("symbol"),
            "value": observation_value(row.result, row.result_json),
            "phenomenon_time_start": iso(row.phenomenon_time_start),
            "phenomenon_time_end": iso(row.phenomenon_time_end),
            "result_time": iso(row.result_time),
            "quality": observation_quality(row.result_quality, row.result_quality_json),
            "datastream": int(row.id),
        }
        return Item(int(row.id), properties, float(row.lon), float(row.lat))
