"""CQL2 filters of ``/oapi`` (OGC API - Features Part 3) as SQLAlchemy Core conditions.

pygeoapi parses ``filter`` (CQL2 text, or CQL2 JSON) into a pygeofilter AST and hands it to the
provider as ``filterq``. :func:`translate` turns that AST into a condition over the provider's
own columns by whitelisting: every property must be one of the collection's queryables, every
operator one of those below, every literal is a bound parameter of the queryable's type
(pygeofilter's SQL backend, which writes literals into the SQL text, is not used). Anything else
raises :class:`CqlError`, which the providers answer with 400.

Operators: ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``; ``AND``, ``OR``, ``NOT``; ``LIKE`` (CQL2
semantics on both stores: case-sensitive, ``%`` and ``_`` wildcards, ``\\`` escapes; SQLite's
own LIKE ignores case, so there it becomes ``GLOB``); ``IN``; ``BETWEEN``; ``IS NULL``;
``INCLUDE``/``EXCLUDE``; spatial ``S_INTERSECTS``, ``S_WITHIN``, ``S_CONTAINS``, ``S_DISJOINT``,
``S_EQUALS``, ``S_TOUCHES``, ``S_CROSSES``, ``S_OVERLAPS``, ``BBOX`` and ``S_DWITHIN`` (distance
in metres, or with a unit ``meters``/``kilometers``); temporal ``T_INTERSECTS``, ``T_BEFORE``,
``T_AFTER``, ``T_DISJOINT`` on instant properties against ``TIMESTAMP``, ``DATE`` and
``INTERVAL`` literals (open ends ``'..'``). A ``DATE`` is its whole day, ``[d, d + 1 day)``.

Spatial predicates are not SQL here: each collection's geometry is its station's point, so the
caller's :data:`SpatialResolver` evaluates the predicate against the station registry and returns
a condition on station ids. Geometry literals are transformed to CRS84 first when they carry a
CRS (``filter-crs``, EWKT ``SRID=``) with the hub's transformations (:mod:`hub.ogcapi.crs`).

The parsing side (``S_DWITHIN``, ``T_INTERSECTS`` as its own node, ``INTERVAL`` with ``'..'``,
``''`` inside strings) lives in :mod:`hub.ogcapi.providers.cqlparse`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import pygeofilter.ast as ast
import pygeofilter.values as values
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    String,
    and_,
    bindparam,
    false,
    not_,
    or_,
    true,
)
from sqlalchemy.types import TypeEngine

from hub.ogcapi import crs
from hub.store.types import UTCDateTime

# Bounds on a filter's size: pygeoapi's parsers accept any nesting, the translator need not.
MAX_NODES = 2000
MAX_DEPTH = 100
MAX_IN_VALUES = 1000
# S_DWITHIN units, in metres.
DISTANCE_UNITS = {
    "meters": 1.0,
    "metres": 1.0,
    "m": 1.0,
    "kilometers": 1000.0,
    "kilometres": 1000.0,
    "km": 1000.0,
}
_INT64 = 2**63
MAX_DISTANCE_M = 20_037_509.0  # half the Earth's circumference: anything beyond is everything


class CqlError(ValueError):
    """A filter the hub refuses: unknown property, unsupported operator, wrong literal type."""


class Kind(StrEnum):
    """The value type of a queryable (its JSON Schema type in ``/queryables``)."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    DATETIME = "date-time"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class Queryable:
    """A property a filter may name: its SQL expression and value type."""

    expr: ColumnElement[Any]
    kind: Kind


@dataclass(frozen=True, slots=True)
class SpatialTest:
    """A spatial predicate on the feature's (point) geometry: ``relation`` is one of
    ``intersects within contains disjoint equals touches crosses overlaps dwithin``, read as
    "feature <relation> geometry"; ``distance_m`` is set for ``dwithin`` only."""

    relation: str
    geometry: BaseGeometry
    distance_m: float | None = None


SpatialResolver = Callable[[SpatialTest], ColumnElement[bool]]


class TimeIntersects(ast.TemporalPredicate):  # type: ignore[misc]
    """``T_INTERSECTS``: pygeofilter parses it as ``TimeOverlaps``, a different relation, so
    the hub's parsers (:mod:`hub.ogcapi.providers.cqlparse`) make this node instead."""

    op = ast.TemporalComparisonOp.TOVERLAPS


class DistanceWithin(ast.Predicate):  # type: ignore[misc]
    """``S_DWITHIN(a, b, distance[, units])``, which pygeofilter's CQL2 parsers lack."""

    def __init__(self, lhs: Any, rhs: Any, distance: Any, units: str) -> None:
        self.lhs, self.rhs, self.distance, self.units = lhs, rhs, distance, units

    def get_sub_nodes(self) -> list[Any]:
        return [self.lhs, self.rhs]

    def __repr__(self) -> str:
        return f"DistanceWithin({self.lhs!r}, {self.rhs!r}, {self.distance!r}, {self.units!r})"


_COMPARISONS: dict[type, Callable[[Any, Any], ColumnElement[bool]]] = {
    ast.Equal: lambda a, b: a == b,
    ast.NotEqual: lambda a, b: a != b,
    ast.LessThan: lambda a, b: a < b,
    ast.LessEqual: lambda a, b: a <= b,
    ast.GreaterThan: lambda a, b: a > b,
    ast.GreaterEqual: lambda a, b: a >= b,
}
# The comparison read from the other side ("5 < value" is "value > 5").
_MIRRORED: dict[type, type] = {
    ast.Equal: ast.Equal,
    ast.NotEqual: ast.NotEqual,
    ast.LessThan: ast.GreaterThan,
    ast.LessEqual: ast.GreaterEqual,
    ast.GreaterThan: ast.LessThan,
    ast.GreaterEqual: ast.LessEqual,
}
_SPATIAL: dict[type, str] = {
    ast.GeometryIntersects: "intersects",
    ast.GeometryWithin: "within",
    ast.GeometryContains: "contains",
    ast.GeometryDisjoint: "disjoint",
    ast.GeometryEquals: "equals",
    ast.GeometryTouches: "touches",
    ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps",
}
_SPATIAL_MIRRORED = {"within": "contains", "contains": "within"}
GEOMETRY = "geometry"


def conjuncts(node: Any) -> list[Any]:
    """The operands of the filter's top-level ``AND`` chain (the filter itself if none)."""
    if isinstance(node, ast.And):
        return conjuncts(node.lhs) + conjuncts(node.rhs)
    return [node]


def properties_of(node: Any) -> set[str]:
    """The property names a filter (sub)tree refers to (``geometry`` included)."""
    found: set[str] = set()
    _walk(node, lambda n: found.add(n.name) if isinstance(n, ast.Attribute) else None)
    return found


def _walk(node: Any, visit: Callable[[Any], None], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise CqlError(f"the filter is nested more than {MAX_DEPTH} levels deep")
    visit(node)
    if isinstance(node, (list, tuple)):
        children: Sequence[Any] = node
    elif isinstance(node, ast.Node):
        children = node.get_sub_nodes() or ()
    else:
        return
    for child in children:
        _walk(child, visit, depth + 1)


@dataclass
class Translator:
    """Translates one filter for one collection (see :func:`translate`)."""

    queryables: Mapping[str, Queryable]
    spatial: SpatialResolver | None
    dialect: str
    nodes: int = 0

    def condition(self, node: Any, depth: int = 0) -> ColumnElement[bool]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CqlError(f"the filter has more than {MAX_NODES} terms")
        if depth > MAX_DEPTH:
            raise CqlError(f"the filter is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.And):
            return and_(self.condition(node.lhs, depth + 1), self.condition(node.rhs, depth + 1))
        if isinstance(node, ast.Or):
            return or_(self.condition(node.lhs, depth + 1), self.condition(node.rhs, depth + 1))
        if isinstance(node, ast.Not):
            return not_(self.condition(node.sub_node, depth + 1))
        if isinstance(node, ast.Include):
            return false() if node.not_ else true()
        if type(node) in _COMPARISONS:
            return self.comparison(node)
        if isinstance(node, ast.Between):
            return self.between(node)
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.In):
            return self.in_(node)
        if isinstance(node, ast.IsNull):
            expr = self.queryable(node.lhs).expr
            return expr.is_not(None) if node.not_ else expr.is_(None)
        if type(node) in _SPATIAL or isinstance(node, (ast.BBox, DistanceWithin)):
            return self.spatial_predicate(node)
        if isinstance(node, (TimeIntersects, ast.TimeBefore, ast.TimeAfter, ast.TimeDisjoint)):
            return self.temporal(node)
        if isinstance(node, ast.TemporalPredicate):
            raise CqlError(
                "unsupported temporal operator: use T_INTERSECTS, T_BEFORE, T_AFTER or T_DISJOINT"
            )
        if isinstance(node, ast.Node):
            raise CqlError(f"unsupported filter operator {type(node).__name__}")
        raise CqlError("a filter must be a condition, not a bare value")

    # --- operands -----------------------------------------------------------------------------

    def queryable(self, node: Any) -> Queryable:
        if not isinstance(node, ast.Attribute):
            if isinstance(node, ast.Node):
                raise CqlError(f"unsupported expression {type(node).__name__} in the filter")
            raise CqlError("this operator needs a property on its left")
        if node.name == GEOMETRY:
            raise CqlError("'geometry' can only be used in spatial predicates")
        found = self.queryables.get(node.name)
        if found is None:
            known = ", ".join(sorted(self.queryables))
            raise CqlError(f"unknown property {node.name!r} (queryables: {known})")
        return found

    def value(self, raw: Any, target: Queryable) -> ColumnElement[Any]:
        """``raw`` (a literal) as a bound parameter of ``target``'s type."""
        return bindparam(None, coerce(raw, target.kind), type_=_bind_type(target))

    def operands(self, lhs: Any, rhs: Any) -> tuple[Queryable, Any, bool]:
        """(property, other operand, whether they were swapped) of a binary predicate."""
        if isinstance(lhs, ast.Attribute):
            return self.queryable(lhs), rhs, False
        if isinstance(rhs, ast.Attribute):
            return self.queryable(rhs), lhs, True
        if isinstance(lhs, ast.Node) or isinstance(rhs, ast.Node):
            raise CqlError("functions and arithmetic are not supported in filters")
        raise CqlError("a comparison needs a queryable property on one side")

    # --- predicates ---------------------------------------------------------------------------

    def comparison(self, node: Any) -> ColumnElement[bool]:
        prop, other, swapped = self.operands(node.lhs, node.rhs)
        op = _MIRRORED[type(node)] if swapped else type(node)
        compare = _COMPARISONS[op]
        if isinstance(other, ast.Attribute):
            peer = self.queryable(other)
            if _family(peer.kind) != _family(prop.kind):
                raise CqlError("the two properties of a comparison have different types")
            return compare(prop.expr, peer.expr)
        if (
            prop.kind is Kind.DATETIME
            and isinstance(other, date)
            and not isinstance(other, datetime)
        ):
            return self.day_comparison(prop, op, other)
        return compare(prop.expr, self.value(other, prop))

    def day_comparison(self, prop: Queryable, op: type, day: date) -> ColumnElement[bool]:
        """A date-time property against a ``DATE``: the date is the day ``[d, d + 1)``."""
        start, end = _day_bounds(day)
        lo, hi = self.bound(start, prop), self.bound(end, prop)
        expr = prop.expr
        rules: dict[type, ColumnElement[bool]] = {
            ast.Equal: and_(expr >= lo, expr < hi),
            ast.NotEqual: or_(expr < lo, expr >= hi),
            ast.LessThan: expr < lo,
            ast.LessEqual: expr < hi,
            ast.GreaterThan: expr >= hi,
            ast.GreaterEqual: expr >= lo,
        }
        return rules[op]

    def bound(self, moment: datetime, prop: Queryable) -> ColumnElement[Any]:
        return bindparam(None, moment, type_=_bind_type(prop))

    def between(self, node: Any) -> ColumnElement[bool]:
        prop = self.queryable(node.lhs)
        if prop.kind is Kind.DATETIME:
            low = _interval_of(node.low).start
            high = _interval_of(node.high)
            if low is None or high.end is None:
                raise CqlError("BETWEEN needs two time values")
            hi = self.bound(high.end, prop)
            upper = prop.expr <= hi if high.end_inclusive else prop.expr < hi
            found = and_(prop.expr >= self.bound(low, prop), upper)
        else:
            if prop.kind not in (Kind.NUMBER, Kind.INTEGER):
                raise CqlError("BETWEEN applies to numbers and times")
            found = prop.expr.between(self.value(node.low, prop), self.value(node.high, prop))
        return not_(found) if node.not_ else found

    def like(self, node: Any) -> ColumnElement[bool]:
        prop = self.queryable(node.lhs)
        if prop.kind is not Kind.STRING:
            raise CqlError("LIKE applies to text properties")
        if node.nocase:
            raise CqlError("case-insensitive LIKE is not supported")
        pattern = node.pattern
        if not isinstance(pattern, str):
            raise CqlError("the LIKE pattern must be a text literal")
        coerce(pattern, Kind.STRING)
        if _ends_in_escape(pattern):
            raise CqlError("the LIKE pattern ends with an unfinished escape ('\\')")
        if self.dialect == "sqlite":
            # SQLite's LIKE ignores ASCII case; GLOB does not, and takes the same pattern
            # rewritten (CQL2's LIKE is case-sensitive, as PostgreSQL's is).
            glob = bindparam(None, like_to_glob(pattern), type_=String())
            found = prop.expr.op("GLOB", is_comparison=True)(glob)
        else:
            found = prop.expr.like(bindparam(None, pattern, type_=String()), escape="\\")
        return not_(found) if node.not_ else found

    def in_(self, node: Any) -> ColumnElement[bool]:
        prop = self.queryable(node.lhs)
        options = node.sub_nodes
        if not isinstance(options, list) or not options:
            raise CqlError("IN needs a list of values")
        if len(options) > MAX_IN_VALUES:
            raise CqlError(f"IN takes at most {MAX_IN_VALUES} values")
        if prop.kind is Kind.DATETIME and any(
            isinstance(v, date) and not isinstance(v, datetime) for v in options
        ):
            raise CqlError("IN on a time property takes TIMESTAMP values")
        bound = [coerce(v, prop.kind) for v in options]
        found = prop.expr.in_(bindparam(None, bound, expanding=True, type_=_bind_type(prop)))
        return not_(found) if node.not_ else found

    def spatial_predicate(self, node: Any) -> ColumnElement[bool]:
        if self.spatial is None:
            raise CqlError("this collection has no geometry to filter on")
        if isinstance(node, ast.BBox):
            _geometry_property(node.lhs)
            box = shapely.box(*(_number(v) for v in (node.minx, node.miny, node.maxx, node.maxy)))
            if node.crs:
                box = _to_crs84(box, str(node.crs))
            return self.spatial(SpatialTest("intersects", box))
        lhs, rhs = node.lhs, node.rhs
        swapped = not _is_geometry_property(lhs)
        if swapped:
            lhs, rhs = rhs, lhs
        _geometry_property(lhs)
        geometry = geometry_literal(rhs)
        if isinstance(node, DistanceWithin):
            factor = DISTANCE_UNITS.get(str(node.units).lower())
            if factor is None:
                raise CqlError("S_DWITHIN units must be meters or kilometers")
            distance = _number(node.distance) * factor
            if distance < 0:
                raise CqlError("S_DWITHIN needs a distance of zero or more")
            return self.spatial(SpatialTest("dwithin", geometry, min(distance, MAX_DISTANCE_M)))
        relation = _SPATIAL[type(node)]
        if swapped:
            relation = _SPATIAL_MIRRORED.get(relation, relation)
        return self.spatial(SpatialTest(relation, geometry))

    def temporal(self, node: Any) -> ColumnElement[bool]:
        lhs, rhs = node.lhs, node.rhs
        if isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            a, b = self.time_property(lhs), self.time_property(rhs)
            if isinstance(node, TimeIntersects):
                return a.expr == b.expr
            if isinstance(node, ast.TimeDisjoint):
                return a.expr != b.expr
            return a.expr < b.expr if isinstance(node, ast.TimeBefore) else a.expr > b.expr
        kind = type(node)
        if not isinstance(lhs, ast.Attribute):
            lhs, rhs = rhs, lhs
            kind = {ast.TimeBefore: ast.TimeAfter, ast.TimeAfter: ast.TimeBefore}.get(kind, kind)
        prop = self.time_property(lhs)
        span = _interval_of(rhs)
        expr = prop.expr
        lo = None if span.start is None else self.bound(span.start, prop)
        hi = None if span.end is None else self.bound(span.end, prop)
        if kind is ast.TimeBefore:
            return false() if lo is None else expr < lo
        if kind is ast.TimeAfter:
            if hi is None:
                return false()
            return expr > hi if span.end_inclusive else expr >= hi
        parts: list[ColumnElement[bool]] = [expr.is_not(None)]
        if lo is not None:
            parts.append(expr >= lo)
        if hi is not None:
            parts.append(expr <= hi if span.end_inclusive else expr < hi)
        inside = and_(*parts)
        return not_(inside) if kind is ast.TimeDisjoint else inside

    def time_property(self, node: Any) -> Queryable:
        prop = self.queryable(node)
        if prop.kind is not Kind.DATETIME:
            raise CqlError(f"property {node.name!r} is not a time")
        return prop


def translate(
    node: Any,
    queryables: Mapping[str, Queryable],
    spatial: SpatialResolver | None,
    *,
    dialect: str,
) -> ColumnElement[bool]:
    """The filter ``node`` (a pygeofilter AST) as a condition over ``queryables``' expressions,
    every literal bound; raises :class:`CqlError` for anything not whitelisted."""
    return Translator(queryables, spatial, dialect).condition(node)


# --- literals -----------------------------------------------------------------------------------


def _family(kind: Kind) -> str:
    return "number" if kind in (Kind.NUMBER, Kind.INTEGER) else kind.value


def _bind_type(prop: Queryable) -> TypeEngine[Any]:
    if prop.kind is Kind.DATETIME:
        return UTCDateTime()
    if prop.kind is Kind.BOOLEAN:
        return Boolean()
    if prop.kind is Kind.STRING:
        return String()
    return Float() if prop.kind is Kind.NUMBER else prop.expr.type


def coerce(raw: Any, kind: Kind) -> Any:
    """A literal as a value of ``kind``; :class:`CqlError` when it is not one."""
    if isinstance(raw, (ast.Node, values.Geometry, values.Envelope)):
        raise CqlError("expected a literal value")
    if kind is Kind.STRING:
        if isinstance(raw, str):
            if "\x00" in raw:
                raise CqlError("text literals must not contain NUL characters")
            return raw
        raise CqlError("a text property compares with a text literal ('...')")
    if kind in (Kind.NUMBER, Kind.INTEGER):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            if raw != raw or raw in (float("inf"), float("-inf")):
                raise CqlError("numbers must be finite")
            if kind is Kind.NUMBER:
                return float(raw)
            if float(raw) != int(raw):
                raise CqlError("an integer property compares with an integer")
            if not -_INT64 <= int(raw) < _INT64:
                raise CqlError("the integer is out of range")
            return int(raw)
        raise CqlError("a numeric property compares with a number")
    if kind is Kind.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        raise CqlError("a boolean property compares with TRUE or FALSE")
    return _instant(raw)


def _instant(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    if isinstance(raw, date):
        return datetime.combine(raw, time(0), tzinfo=UTC)
    if isinstance(raw, str):
        try:
            return _instant(datetime.fromisoformat(raw.strip()))
        except ValueError:
            pass
    raise CqlError("a time property compares with TIMESTAMP('...') or DATE('...')")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Span:
    """A temporal literal as bounds (None: open); ``end`` is inclusive unless a DATE ended it."""

    start: datetime | None
    end: datetime | None
    end_inclusive: bool = True


def _interval_of(raw: Any) -> Span:
    if isinstance(raw, values.Interval):
        start = _bound_of(raw.start, end=False)
        end = _bound_of(raw.end, end=True)
        inclusive = not (isinstance(raw.end, date) and not isinstance(raw.end, datetime))
        if start is not None and end is not None and end < start:
            raise CqlError("an INTERVAL must not end before it starts")
        return Span(start, end, inclusive)
    if isinstance(raw, date) and not isinstance(raw, datetime):
        start, end = _day_bounds(raw)
        return Span(start, end, end_inclusive=False)
    if isinstance(raw, (ast.Node, list, dict)):
        raise CqlError("a temporal operator compares a time property with a time literal")
    moment = _instant(raw)
    return Span(moment, moment)


def _bound_of(raw: Any, *, end: bool) -> datetime | None:
    if raw is None or raw == "..":
        return None
    if isinstance(raw, timedelta):
        raise CqlError("durations in INTERVAL are not supported")
    if isinstance(raw, date) and not isinstance(raw, datetime):
        start, after = _day_bounds(raw)
        return after if end else start
    return _instant(raw)


def _number(raw: Any) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw == raw:
        return float(raw)
    raise CqlError("expected a number")


def _is_geometry_property(node: Any) -> bool:
    return isinstance(node, ast.Attribute) and node.name == GEOMETRY


def _geometry_property(node: Any) -> None:
    if not _is_geometry_property(node):
        raise CqlError("spatial predicates compare the property 'geometry' with a geometry")


def geometry_literal(raw: Any) -> BaseGeometry:
    """A geometry literal (pygeofilter Geometry/Envelope) as a CRS84 shapely geometry."""
    if isinstance(raw, values.Envelope):
        return shapely.box(raw.x1, raw.y1, raw.x2, raw.y2)
    if not isinstance(raw, values.Geometry) or not isinstance(raw.geometry, dict):
        raise CqlError("spatial predicates compare 'geometry' with a geometry literal")
    geojson = {k: v for k, v in raw.geometry.items() if k != "crs"}
    try:
        geometry = shapely.geometry.shape(geojson)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise CqlError("the filter's geometry is not valid") from exc
    if geometry.is_empty:
        raise CqlError("the filter's geometry is empty")
    if not shapely.is_valid(geometry):
        # A self-intersecting polygon, say: its valid repair covers the same area.
        geometry = shapely.make_valid(geometry)
    crs_name = ((raw.geometry.get("crs") or {}).get("properties") or {}).get("name")
    if crs_name:
        geometry = _to_crs84(geometry, str(crs_name))
    return geometry


def _to_crs84(geometry: BaseGeometry, name: str) -> BaseGeometry:
    try:
        return crs.geometry_to_crs84(geometry, crs.uri_from_name(name))
    except crs.CrsUnavailable as exc:
        raise CqlError(str(exc)) from exc


def like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, ``\\`` escapes) as the equivalent SQLite GLOB."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "\\")
            out.append(_glob_literal(escaped))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
    return "".join(out)


def _ends_in_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char
