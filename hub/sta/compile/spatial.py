"""Spatial ``$filter`` functions: ``geo.distance``, ``geo.length``, ``geo.intersects`` and the
nine OGC ``st_*`` relations, on both backends.

Operands are geometry literals (``geography'POLYGON ((...))'`` or ``geometry'...'``; the lexer
has already rebuilt them as canonical WKT from validated numbers) and the geometry properties
``Location/location`` and ``FeatureOfInterest/feature``, directly or through navigation
(``st_within(Locations/location, ...)`` on Things). ``Datastream/observedArea`` is computed from
the Observations, not stored, and answers 501.

* PostgreSQL: PostGIS on the generated ``geom`` column (``geometry``, SRID 4326, GiST
  indexed, see ``hub/store/migrations.py``), so the relations and ``ST_DWithin`` can use the
  index. A literal is ``ST_GeomFromText(:wkt, 4326)`` with the WKT a bound parameter.
* SQLite: the ``auasu_*`` functions of :mod:`hub.store.sqlite_functions` (shapely, the same
  GEOS algorithms) over the stored GeoJSON text; the WKT is bound the same way.
* Two literals are folded in Python with those same shapely functions.

Units: ``geo.distance`` and ``geo.length`` are planar, in the units of the coordinate
reference system, as OData defines them and as FROST-Server returns them for SRID 4326:
**degrees** of longitude/latitude. Near Astana (51.1° N) one degree of latitude is about
111 km and one degree of longitude about 70 km, so "within about 1 km" is roughly
``geo.distance(location, geography'POINT (71.43 51.13)') lt 0.01``. ``geo.length`` counts
linear parts only (0 for points and polygons), like PostGIS ``ST_Length``. Both literal
prefixes are treated alike (planar, SRID 4326); a literal with another ``SRID=`` is a 501, and a
literal that is not a valid geometry (a self-intersecting ring, ...) a 400, because the OGC
relations are undefined for it and backends would disagree.
"""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import Boolean, ColumnElement, Float, Text, cast, func, literal_column, true

from hub.sta.columns import PerDialect, bind_value
from hub.sta.compile.operand import BOOL, DEC, GEOMETRY, STR, CompileError, Operand, const
from hub.sta.filter import Geometry
from hub.store import sqlite_functions as geo

SRID = 4326
# Filter function → PostGIS function; the SQLite function is "auasu_" + the filter name.
_POSTGIS = {
    "st_equals": "ST_Equals",
    "st_disjoint": "ST_Disjoint",
    "st_touches": "ST_Touches",
    "st_within": "ST_Within",
    "st_overlaps": "ST_Overlaps",
    "st_crosses": "ST_Crosses",
    "st_intersects": "ST_Intersects",
    "st_contains": "ST_Contains",
}
_ALIASES = {"geo.intersects": "st_intersects"}


def literal(node: Geometry) -> Operand:
    """A geometry literal, validated (SRID, geometry validity) and kept as canonical WKT."""
    if node.srid is not None and node.srid != SRID:
        raise CompileError(
            f"geometry literals in SRID {node.srid} are not supported (use WGS 84, SRID 4326)", 501
        )
    parsed = geo.parse_wkt(node.wkt)
    if parsed is None:  # the lexer's canonical WKT always parses; refuse rather than guess
        raise CompileError(f"invalid {node.geometry_type} literal")
    if not shapely.is_valid(parsed):
        reason = shapely.is_valid_reason(parsed)
        raise CompileError(f"{node.geometry_type} literal is not a valid geometry: {reason}")
    return const(node.wkt, GEOMETRY)


def stored(columns: tuple[Any, Any]) -> Operand:
    """A geometry property: (SQLite GeoJSON column, PostgreSQL PostGIS column)."""
    return Operand(geometry=columns, vtype=GEOMETRY)


def _sql(val: Operand) -> tuple[Any, Any]:
    """A geometry operand as (SQLite, PostgreSQL) SQL; literals are bound parameters."""
    if val.is_const:
        pg = func.ST_GeomFromText(
            cast(bind_value(val.const, GEOMETRY), Text), literal_column("4326")
        )
        return bind_value(val.const, GEOMETRY), pg
    assert val.geometry is not None
    return val.geometry


def _check(name: str, args: list[Operand]) -> None:
    for index, arg in enumerate(args[:2], start=1):
        if arg.vtype is not GEOMETRY or arg.json is not None:
            found = arg.vtype or ("a JSON member" if arg.json is not None else "null")
            raise CompileError(f"argument {index} of {name!r} must be a geometry, got {found}")


def call(name: str, args: list[Operand]) -> Operand:
    """One spatial function of compiled arguments (st_relate: the pattern is argument 3)."""
    _check(name, args)
    relation = _ALIASES.get(name, name)
    if all(arg.is_const for arg in args):
        return _fold(relation, args)
    if relation == "geo.length":
        lite, pg = _sql(args[0])
        expr = PerDialect(func.auasu_geo_length(lite, type_=Float), func.ST_Length(pg, type_=Float))
        return Operand(expr=expr, vtype=DEC)
    (lite_a, pg_a), (lite_b, pg_b) = _sql(args[0]), _sql(args[1])
    if relation == "geo.distance":
        expr = PerDialect(
            func.auasu_geo_distance(lite_a, lite_b, type_=Float),
            func.ST_Distance(pg_a, pg_b, type_=Float),
        )
        return Operand(expr=expr, vtype=DEC, distance=(pg_a, pg_b))
    if relation == "st_relate":
        pattern = args[2]
        if not pattern.is_const or pattern.vtype is not STR:
            raise CompileError("argument 3 of 'st_relate' must be a DE-9IM pattern literal")
        expr = PerDialect(
            func.auasu_st_relate(lite_a, lite_b, bind_value(pattern.const, STR), type_=Boolean),
            func.ST_Relate(pg_a, pg_b, cast(bind_value(pattern.const, STR), Text), type_=Boolean),
        )
        return Operand(expr=expr, vtype=BOOL)
    lite = getattr(func, f"auasu_{relation}")(lite_a, lite_b, type_=Boolean)
    pg = getattr(func, _POSTGIS[relation])(pg_a, pg_b, type_=Boolean)
    return Operand(expr=PerDialect(lite, pg), vtype=BOOL)


def _fold(relation: str, args: list[Operand]) -> Operand:
    shapes = [geo.parse_wkt(arg.const) for arg in args[:2]]
    if any(shape is None for shape in shapes):
        raise CompileError("invalid geometry literal")
    first = shapes[0]
    assert first is not None
    if relation == "geo.length":
        return const(geo.linear_length(first), DEC)
    second = shapes[1]
    assert second is not None
    if relation == "geo.distance":
        found = geo.distance(first, second)
        return const(found, None if found is None else DEC)
    if relation == "st_relate":
        return const(geo.relate_pattern(first, second, args[2].const), BOOL)
    return const(geo.relation(relation, first, second), BOOL)


def within_distance(distance: tuple[Any, Any], op: str, limit: Operand) -> ColumnElement[bool]:
    """An index-assisted prefilter for ``geo.distance(a, b) lt|le limit`` on PostgreSQL.

    ``ST_DWithin`` (distance ≤ limit, answered from the GiST index) is implied by the
    comparison, so adding it changes no result; SQLite has no index to help and gets ``1``.
    """
    assert op in ("lt", "le") and limit.is_const
    pg_a, pg_b = distance
    prefilter: ColumnElement[bool] = PerDialect(
        true(), func.ST_DWithin(pg_a, pg_b, bind_value(limit.const, DEC), type_=Boolean)
    )
    return prefilter


def null_check(val: Operand, op: str) -> ColumnElement[bool]:
    """``location eq null`` / ``ne null`` on both backends."""
    assert val.geometry is not None
    lite, pg = val.geometry
    if op == "eq":
        return PerDialect(lite.is_(None), pg.is_(None))
    return PerDialect(lite.is_not(None), pg.is_not(None))
