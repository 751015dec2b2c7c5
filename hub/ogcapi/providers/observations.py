"""The ``observations`` collection: one point feature per observation of a station datastream.

A feature's id is the observation's id (the same as in the SensorThings API); its properties
are station, observed property, value, unit, phenomenon time start and end, result time,
quality, aggregation and datastream; its ``links`` name the signed provenance record that
binds its value (rel ``http://www.w3.org/ns/prov#has_provenance``,
:func:`hub.ogcapi.providers.params.provenance_links`) when it has one. ``datetime``
applies to the phenomenon time's start (the collection's ``time_field``).

How a page is read, so that it stays an index walk on ten million rows:

1. Conditions only on station-level fields (station, observed property, unit, aggregation,
   datastream, ``bbox``, spatial predicates) select datastreams first, a small query; the
   observation query then has ``datastream_id IN (...)`` (nothing when every datastream
   qualifies).
2. The page's keys come from ``observations`` alone in the default order ``(datastream_id,
   phenomenon_time_start, id)``, which is ``ix_observations_stream_time``: with the datastream
   list and a ``datetime`` range the walk is a few index ranges in order, stopped after
   ``limit`` rows, with no sort. Conditions mixing station and observation fields (an ``OR``
   across both) join the stream tables into this query. Deep offsets become seeks
   (:mod:`hub.ogcapi.providers.paging`).
3. The page's rows are then read by id with the station and datastream columns.

``numberMatched``: exact when the page shows the end of the result, or when counting stops below
:data:`COUNT_CAP` rows; omitted otherwise (it is optional in OGC API - Features). With
``resulttype=hits`` the count is exact, except that an unfiltered count on PostgreSQL is the
planner's estimate, flagged ``numberMatchedEstimated`` (an exact ``count(*)`` of ten million
rows takes seconds there).
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import ProviderItemNotFoundError
from sqlalchemy import ColumnElement, Connection, Select, func, select

from hub.ogcapi.cql import Kind
from hub.ogcapi.providers import paging, streams
from hub.ogcapi.providers.common import (
    FieldSpec,
    HubProvider,
    Item,
    Plan,
    StationPoints,
    in_list,
    iso,
    observation_quality,
    observation_value,
    provenance_links,
)
from hub.ogcapi.providers.stations import collection_metadata
from hub.ogcapi.providers.streams import PROPERTY_KEY, UNIT_SYMBOL, d, o, s
from hub.sta.count import ESTIMATE_THRESHOLD, estimate_rows
from hub.store import Store
from hub.store.schema import observations
from hub.store.timeouts import limited_connection

# A results page counts at most this many rows for numberMatched.
COUNT_CAP = 2_000
DEFAULT_ORDER = (o.c.datastream_id, o.c.phenomenon_time_start, o.c.id)


def _stream(name: str, kind: Kind, title: str, description: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, kind, title, description, stream=True, **kw)


class ObservationsProvider(HubProvider):
    """pygeoapi feature provider of the ``observations`` collection."""

    NAME = "hub.ogcapi.providers.observations.ObservationsProvider"
    TIME_FIELD = "phenomenon_time_start"
    FIELDS = (
        _stream("station", Kind.STRING, "Station", "Key of the station (a stations feature id)"),
        _stream("observed_property", Kind.STRING, "Observed property", "Key, e.g. pm2_5"),
        FieldSpec(
            "value",
            Kind.NUMBER,
            "Value",
            "The result (a number; text results where the SensorThings API stored one)",
            nullable=True,
        ),
        _stream("unit", Kind.STRING, "Unit", "Unit symbol of the value"),
        FieldSpec(
            "phenomenon_time_start",
            Kind.DATETIME,
            "Phenomenon time (start)",
            "When the observed period starts (the instant, for an instant)",
        ),
        FieldSpec(
            "phenomenon_time_end",
            Kind.DATETIME,
            "Phenomenon time (end)",
            "When the observed period ends (the same as the start for an instant)",
        ),
        FieldSpec(
            "result_time",
            Kind.DATETIME,
            "Result time",
            "When the result was produced",
            nullable=True,
        ),
        FieldSpec(
            "quality", Kind.STRING, "Quality", "Result quality flag, e.g. valid", nullable=True
        ),
        _stream(
            "aggregation",
            Kind.STRING,
            "Aggregation",
            "instant, mean, min, max or total over the phenomenon time",
            nullable=True,
        ),
        _stream("datastream", Kind.INTEGER, "Datastream", "SensorThings Datastream id"),
    )
    EXPRESSIONS = {
        "station": s.c.key,
        "observed_property": PROPERTY_KEY,
        "value": o.c.result,
        "unit": UNIT_SYMBOL,
        "phenomenon_time_start": o.c.phenomenon_time_start,
        "phenomenon_time_end": o.c.phenomenon_time_end,
        "result_time": o.c.result_time,
        "quality": o.c.result_quality,
        "aggregation": d.c.aggregation,
        "datastream": d.c.id,
    }

    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]:
        with store.connect() as conn:
            return collection_metadata(
                conn,
                title={"en": "Observations", "ru": "Наблюдения", "kk": "Бақылаулар"},
                description=(
                    "Every observation of the monitoring stations as a point at its station: "
                    "observed property, value, unit, phenomenon and result time, quality, "
                    "aggregation. datetime applies to the phenomenon time (start)."
                ),
                keywords=["observations", "time series", "air quality", "water quality"],
            )

    # --- items ------------------------------------------------------------------------------

    def query(self, offset: int = 0, limit: int = 10, **kwargs: Any) -> dict[str, Any]:
        with limited_connection(self.store) as conn:
            points = StationPoints(conn, s)
            plan = self.plan(conn, points, offset=offset, limit=limit, **kwargs)
            scope = self.scope(conn, plan)
            if scope is None:
                return self.collection(plan, [], 0)
            keys = self.key_query(plan, scope)
            if plan.hits:
                count, estimated = self.count_all(conn, plan, keys)
                return self.collection(plan, [], count, estimated=estimated)
            ids = self.page_ids(conn, plan, keys)
            matched = self.matched(conn, plan, keys, len(ids))
            items = self.items(conn, ids)
        return self.collection(plan, items, matched)

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        plan = self.single_plan(**kwargs)
        try:
            wanted = int(str(identifier))
        except ValueError:
            raise ProviderItemNotFoundError(user_msg=f"no observation {identifier!r}") from None
        if not 0 < wanted < 2**63:
            raise ProviderItemNotFoundError(user_msg=f"no observation {identifier!r}")
        with limited_connection(self.store) as conn:
            items = self.items(conn, [wanted])
        if not items:
            raise ProviderItemNotFoundError(user_msg=f"no observation {identifier!r}")
        return self.feature(plan, items[0])

    def scope(self, conn: Connection, plan: Plan) -> ColumnElement[bool] | None:
        """The condition on ``o.datastream_id`` (None: no datastream qualifies)."""
        if not plan.stream and streams.all_streams_are_station_streams(conn):
            return o.c.datastream_id.is_not(None)
        ids = streams.stream_ids(conn, plan.stream)
        if not ids:
            return None
        return in_list(o.c.datastream_id, ids, conn.dialect.name)

    def key_query(self, plan: Plan, scope: ColumnElement[bool]) -> Select[Any]:
        """The page's keys: observation ids (and the default order's columns) meeting every
        condition, in the requested order, before OFFSET/LIMIT."""
        needs_streams = bool(plan.mixed) or any(self.specs[name].stream for name, _ in plan.order)
        source: Any = o
        if needs_streams:
            source = o.join(streams.STREAM_JOIN, d.c.id == o.c.datastream_id)
        conditions = [scope, *plan.row, *plan.mixed]
        if plan.span is not None:
            conditions += plan.span.conditions(o.c.phenomenon_time_start)
        order = self.order_terms(plan, [c.asc() for c in DEFAULT_ORDER])
        return select(*DEFAULT_ORDER).select_from(source).where(*conditions).order_by(*order)

    def page_ids(self, conn: Connection, plan: Plan, keys: Select[Any]) -> list[int]:
        """The ids of the page, by keyset seek from a checkpoint where one applies."""
        if plan.limit == 0:
            return []
        keyset = not plan.order and plan.offset >= paging.DEEP_OFFSET
        query, skip = keys, plan.offset
        shape = paging.shape_of(self.data, keys) if keyset else None
        if shape is not None:
            found = paging.CHECKPOINTS.nearest(shape, plan.offset)
            if found is not None:
                at, key = found
                query = keys.where(paging.after(DEFAULT_ORDER, key))
                skip = plan.offset - at
        if shape is None or skip == 0:
            rows = conn.execute(query.offset(skip).limit(plan.limit)).all()
        else:
            # One row more, in front: the key before the page, so that the same page asked
            # again (or a client going back to it) is a seek too.
            rows = conn.execute(query.offset(skip - 1).limit(plan.limit + 1)).all()
            if rows:
                paging.CHECKPOINTS.remember(shape, plan.offset, tuple(rows[0]))
            rows = rows[1:]
        if shape is not None and len(rows) == plan.limit:
            paging.CHECKPOINTS.remember(shape, plan.offset + len(rows), tuple(rows[-1]))
        return [int(row.id) for row in rows]

    def matched(self, conn: Connection, plan: Plan, keys: Select[Any], returned: int) -> int | None:
        """numberMatched for a results page, when it is cheap to know (see the module doc)."""
        if returned and returned < plan.limit:
            return plan.offset + returned
        if plan.offset == 0 and returned == 0 and plan.limit > 0:
            return 0
        if plan.offset + plan.limit > COUNT_CAP:
            return None
        bounded = keys.order_by(None).limit(COUNT_CAP + 1).subquery()
        found = int(conn.execute(select(func.count()).select_from(bounded)).scalar_one())
        return found if found <= COUNT_CAP else None

    def count_all(self, conn: Connection, plan: Plan, keys: Select[Any]) -> tuple[int, bool]:
        """resulttype=hits: exact, or PostgreSQL's estimate for the unfiltered collection."""
        if not plan.filtered and conn.dialect.name == "postgresql":
            estimate = estimate_rows(conn, observations)
            if estimate is not None and estimate > ESTIMATE_THRESHOLD:
                return estimate, True
        counted = keys.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
        return int(conn.execute(counted).scalar_one()), False

    # --- rows to features ---------------------------------------------------------------------

    def items(self, conn: Connection, ids: list[int]) -> list[Item]:
        """The observations ``ids`` as items, in the order of ``ids``."""
        if not ids:
            return []
        query = (
            select(
                o.c.id,
                o.c.phenomenon_time_start,
                o.c.phenomenon_time_end,
                o.c.result_time,
                o.c.result,
                o.c.result_json,
                o.c.result_quality,
                o.c.result_quality_json,
                o.c.datastream_id,
                s.c.key.label("station"),
                s.c.lon,
                s.c.lat,
                PROPERTY_KEY.label("property_key"),
                d.c.unit,
                d.c.aggregation,
                o.c.prov_entry,
            )
            .select_from(o.join(streams.STREAM_JOIN, d.c.id == o.c.datastream_id))
            .where(in_list(o.c.id, ids, conn.dialect.name))
        )
        rows = {int(row.id): row for row in conn.execute(query)}
        out = []
        for wanted in ids:
            row = rows.get(wanted)
            if row is None:
                continue
            unit = row.unit if isinstance(row.unit, dict) else {}
            properties = {
                "station": row.station,
                "observed_property": row.property_key,
                "value": observation_value(row.result, row.result_json),
                "unit": unit.get("symbol"),
                "phenomenon_time_start": iso(row.phenomenon_time_start),
                "phenomenon_time_end": iso(row.phenomenon_time_end),
                "result_time": iso(row.result_time),
                "quality": observation_quality(row.result_quality, row.result_quality_json),
                "aggregation": row.aggregation,
                "datastream": int(row.datastream_id),
            }
            identifier = int(row.id)
            out.append(
                Item(
                    identifier,
                    properties,
                    float(row.lon),
                    float(row.lat),
                    provenance_links(row.prov_entry),
                )
            )
        return out
