"""What the three feature providers of ``/oapi`` share: their fields, the reading of pygeoapi's
query arguments into SQL conditions, and the assembly of GeoJSON features.

pygeoapi validates part of a request (``limit``, ``offset``, ``bbox`` syntax, that ``sortby`` and
``properties`` name fields) and passes the rest through; the providers honour every argument or
refuse it with :class:`ProviderInvalidQueryError`, which pygeoapi answers with 400:

* ``bbox``: already in CRS84 (pygeoapi transforms a ``bbox-crs`` with
  :func:`hub.ogcapi.crs.hub_transform_bbox`); a 3D bbox is refused (the stations have no height);
* ``datetime``: an instant, an interval, open ends ``..`` (or empty); a date alone is that day;
* property equality filters (``?station=air-one``): any queryable, the value read as its type.
  The provider config sets ``include_extra_query_parameters`` so that pygeoapi hands over every
  parameter it does not know itself, and a name that is not a queryable is refused (OGC API -
  Features Part 1, /req/core/query-param-unknown) instead of silently ignored;
* ``filter``: CQL2 through :mod:`hub.ogcapi.cql`; ``q`` (no free-text search here) is refused;
* ``sortby`` on the sortable fields; ``properties``; ``skipGeometry``; ``crs`` (the hub's
  transformations, :mod:`hub.ogcapi.crs`); ``resulttype`` ``results`` or ``hits``.

A field is "stream-level" when its value depends only on the station or datastream (station,
observed property, unit, geometry): conditions on those alone are resolved first to a list of
datastream ids, so the observation query becomes index ranges on
``ix_observations_stream_time`` (see :mod:`hub.ogcapi.providers.observations`).

Importing this module installs the hub's CQL2 parsers and CRS handling into pygeoapi's items
handler (:func:`hub.ogcapi.providers.cqlparse.install`, :func:`hub.ogcapi.crs.install`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyproj
from pygeoapi.provider.base import BaseProvider, ProviderConnectionError
from sqlalchemy import ColumnElement, Connection
from sqlalchemy.sql.elements import UnaryExpression

from hub.ogcapi import cql, crs
from hub.ogcapi.cql import CqlError, Queryable
from hub.ogcapi.providers import cqlparse
from hub.ogcapi.providers.params import (
    BadQuery,
    FieldSpec,
    Span,
    coerce_parameter,
    iso,
    localized_names,
    observation_quality,
    observation_value,
    parse_datetime,
    provenance_links,
)
from hub.ogcapi.providers.spatial import StationPoints, in_list
from hub.ogcapi.registry import UnknownStore, store_for
from hub.store import Store

cqlparse.install()
crs.install()

__all__ = [
    "BadQuery",
    "FieldSpec",
    "HubProvider",
    "Item",
    "Plan",
    "Span",
    "StationPoints",
    "in_list",
    "iso",
    "localized_names",
    "observation_quality",
    "observation_value",
    "provenance_links",
]


@dataclass(frozen=True, slots=True)
class Item:
    """One feature before output shaping: id, properties, CRS84 position, extra links."""

    id: Any
    properties: dict[str, Any]
    lon: float
    lat: float
    links: tuple[dict[str, Any], ...] = ()


# --- the request, read ------------------------------------------------------------------------


@dataclass
class Plan:
    """A request's conditions by the level of the fields they use, and its output options."""

    stream: list[ColumnElement[bool]] = field(default_factory=list)
    row: list[ColumnElement[bool]] = field(default_factory=list)
    mixed: list[ColumnElement[bool]] = field(default_factory=list)
    span: Span | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    offset: int = 0
    limit: int = 10
    hits: bool = False
    select: list[str] = field(default_factory=list)
    skip_geometry: bool = False
    out_crs: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.stream or self.row or self.mixed or self.span)


class HubProvider(BaseProvider):  # type: ignore[misc]
    """A read-only feature collection over the hub's store (see the module docstring)."""

    NAME: ClassVar[str]
    FIELDS: ClassVar[tuple[FieldSpec, ...]]
    EXPRESSIONS: ClassVar[Mapping[str, ColumnElement[Any]]]
    ID_FIELD: ClassVar[str] = "id"
    TIME_FIELD: ClassVar[str | None] = None
    TITLE_FIELD: ClassVar[str | None] = None

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        try:
            self.store: Store = store_for(self.data)
        except UnknownStore as exc:
            raise ProviderConnectionError(
                str(exc), user_msg="the collection is not available"
            ) from exc
        self._fields = self.get_fields()
        # Which fields /queryables lists and the OpenAPI document offers as parameters.
        self.properties = [spec.name for spec in self.FIELDS if spec.queryable]
        self.specs = {spec.name: spec for spec in self.FIELDS}

    @classmethod
    def provider_config(cls, store_key: str) -> dict[str, Any]:
        """This provider's entry in pygeoapi's configuration (``data`` is the store's key)."""
        entry: dict[str, Any] = {
            "type": "feature",
            "name": cls.NAME,
            "data": store_key,
            "id_field": cls.ID_FIELD,
            "editable": False,
            "storage_crs": crs.CRS84,
            "crs": crs.supported_uris(),
            # Every parameter pygeoapi does not consume reaches the provider, which refuses the
            # unknown ones rather than ignoring them.
            "include_extra_query_parameters": True,
        }
        if cls.TIME_FIELD:
            entry["time_field"] = cls.TIME_FIELD
        if cls.TITLE_FIELD:
            entry["title_field"] = cls.TITLE_FIELD
        return entry

    def get_fields(self) -> dict[str, Any]:
        return {spec.name: spec.json_schema() for spec in self.FIELDS}

    # --- reading the arguments ------------------------------------------------------------------

    def queryables(self) -> dict[str, Queryable]:
        return {
            spec.name: Queryable(self.EXPRESSIONS[spec.name], spec.kind)
            for spec in self.FIELDS
            if spec.queryable and spec.kind is not None
        }

    def plan(self, conn: Connection, points: StationPoints, **args: Any) -> Plan:
        """The query arguments pygeoapi passes, read and checked."""
        plan = Plan()
        if args.get("q"):
            raise BadQuery("q (free-text search) is not supported by this collection")
        resulttype = args.get("resulttype") or "results"
        if resulttype not in ("results", "hits"):
            raise BadQuery("resulttype must be 'results' or 'hits'")
        plan.hits = resulttype == "hits"
        plan.offset = int(args.get("offset") or 0)
        limit = args.get("limit")
        plan.limit = 10 if limit is None else int(limit)
        if plan.offset < 0 or plan.limit < 0:
            raise BadQuery("offset and limit must not be negative")
        bbox = args.get("bbox") or []
        if bbox:
            plan.stream.append(points.bbox(bbox))
        datetime_ = args.get("datetime_")
        if datetime_ is not None:
            plan.span = parse_datetime(str(datetime_))
        for name, raw in args.get("properties") or []:
            spec = self.specs.get(name)
            if spec is None or not spec.queryable or spec.kind is None:
                raise BadQuery(f"unknown query parameter {name!r}")
            condition = self.EXPRESSIONS[name] == coerce_parameter(spec, raw)
            (plan.stream if spec.stream else plan.row).append(condition)
        filterq = args.get("filterq")
        if filterq is not None:
            self.add_filter(plan, filterq, points, conn.dialect.name)
        for item in args.get("sortby") or []:
            name = item.get("property")
            spec = self.specs.get(name) if isinstance(name, str) else None
            if spec is None or not spec.sortable:
                raise BadQuery(f"cannot sort by {name!r}")
            plan.order.append((name, item.get("order") == "-"))
        selected = [p for p in args.get("select_properties") or [] if p]
        unknown = [p for p in selected if p not in self.specs]
        if unknown:
            raise BadQuery(f"unknown properties: {', '.join(unknown)}")
        plan.select = selected
        plan.skip_geometry = bool(args.get("skip_geometry"))
        spec_ = args.get("crs_transform_spec")
        if spec_ is not None:
            target = getattr(spec_, "target_crs_uri", None)
            try:
                plan.out_crs = crs.option_for(str(target)).uri
            except crs.CrsUnavailable as exc:
                raise BadQuery(str(exc)) from exc
        return plan

    def add_filter(self, plan: Plan, filterq: Any, points: StationPoints, dialect: str) -> None:
        stream_names = {spec.name for spec in self.FIELDS if spec.stream} | {cql.GEOMETRY}
        row_names = {spec.name for spec in self.FIELDS if not spec.stream}
        queryables = self.queryables()
        try:
            for part in cql.conjuncts(filterq):
                names = cql.properties_of(part)
                condition = cql.translate(part, queryables, points.condition, dialect=dialect)
                if names and names <= stream_names:
                    plan.stream.append(condition)
                elif names <= row_names:
                    plan.row.append(condition)
                else:
                    plan.mixed.append(condition)
        except CqlError as exc:
            raise BadQuery(f"filter: {exc}") from exc

    def order_terms(self, plan: Plan, defaults: Sequence[UnaryExpression[Any]]) -> list[Any]:
        """ORDER BY terms: the requested keys (NULLs last on both stores), then ``defaults``."""
        terms: list[Any] = []
        for name, descending in plan.order:
            expr = self.EXPRESSIONS[name]
            term = expr.desc() if descending else expr.asc()
            terms.append(term.nulls_last() if self.specs[name].nullable else term)
        return terms + list(defaults)

    # --- writing the answer ---------------------------------------------------------------------

    def collection(
        self,
        plan: Plan,
        items: Sequence[Item],
        matched: int | None,
        *,
        estimated: bool = False,
    ) -> dict[str, Any]:
        """A FeatureCollection of ``items`` shaped by ``plan``."""
        features = self.features(plan, items)
        out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
        if matched is not None:
            out["numberMatched"] = matched
            if estimated:
                # Not an OGC member: says numberMatched is the planner's estimate.
                out["numberMatchedEstimated"] = True
        out["numberReturned"] = len(features)
        return out

    def features(self, plan: Plan, items: Sequence[Item]) -> list[dict[str, Any]]:
        coordinates: list[tuple[float, float]] = []
        if not plan.skip_geometry:
            try:
                coordinates = crs.transform_points(
                    [i.lon for i in items], [i.lat for i in items], plan.out_crs
                )
            except pyproj.exceptions.ProjError as exc:
                raise BadQuery(f"coordinates cannot be given in {plan.out_crs}: {exc}") from exc
        out = []
        for index, item in enumerate(items):
            properties = item.properties
            if plan.select:
                properties = {k: v for k, v in properties.items() if k in plan.select}
            geometry = None
            if not plan.skip_geometry:
                x, y = coordinates[index]
                geometry = {"type": "Point", "coordinates": [x, y]}
            feature: dict[str, Any] = {
                "type": "Feature",
                "id": item.id,
                "geometry": geometry,
                "properties": properties,
            }
            if item.links:
                feature["links"] = [dict(link) for link in item.links]
            out.append(feature)
        return out

    def feature(self, plan: Plan, item: Item) -> dict[str, Any]:
        return self.features(plan, [item])[0]

    def single_plan(self, **kwargs: Any) -> Plan:
        """The output options of a one-item request (only ``crs`` applies)."""
        plan = Plan()
        spec_ = kwargs.get("crs_transform_spec")
        if spec_ is not None:
            try:
                plan.out_crs = crs.option_for(str(getattr(spec_, "target_crs_uri", ""))).uri
            except crs.CrsUnavailable as exc:
                raise BadQuery(str(exc)) from exc
        return plan
