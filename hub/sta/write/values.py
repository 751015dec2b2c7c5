"""Readers for the values of SensorThings write payloads: times, intervals, geometries, results.

Each reader raises :class:`ValueError` with a short message (the models turn it into a 400 that
names the property). Time parsing is lenient where clients are known to differ and strict
where a guess could store a wrong instant:

* offsets with or without a colon (``-07:00`` and ``-0700``, FROST issue #1924), ``Z``, and
  fractions beyond microseconds (truncated);
* a time without an offset is taken as UTC (the hub keeps UTC; FROST issue #1485 shows clients
  omit the ``Z``), stated in the README;
* an interval is ``start/end`` with start <= end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import shape

GEOJSON_TYPES = ("application/geo+json", "application/vnd.geo+json")
GEOJSON = GEOJSON_TYPES[0]
OM_COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
GEOMETRY_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
_GEOMETRY_MEMBERS = frozenset({"type", "coordinates", "geometries", "bbox", "crs"})
MAX_VERTICES = 100_000
# Floats hold integers exactly up to 2^53; beyond that the float column would round them.
_EXACT_INT = 2**53
# A date, then optionally a time: what datetime.fromisoformat reads, kept to sane lengths.
_INSTANT_RE = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}([T ][0-9:.,]{2,30}(Z|[+-][0-9:]{2,5})?)?")


def instant(text: Any) -> datetime:
    """An ISO 8601 instant as an aware UTC datetime."""
    if not isinstance(text, str):
        raise ValueError("expected an ISO 8601 time as a string")
    if _INSTANT_RE.fullmatch(text) is None:
        raise ValueError(f"not an ISO 8601 time: {_short(text)}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {_short(text)}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Interval:
    """A time interval; an instant is the interval with start == end."""

    start: datetime
    end: datetime


def interval(text: Any) -> Interval:
    """``start/end`` or a single instant."""
    if not isinstance(text, str):
        raise ValueError("expected an ISO 8601 time or start/end interval as a string")
    start_text, slash, end_text = text.partition("/")
    start = instant(start_text)
    if not slash:
        return Interval(start, start)
    end = instant(end_text)
    if end < start:
        raise ValueError(f"interval ends before it starts: {_short(text)}")
    return Interval(start, end)


def geometry(value: Any) -> dict[str, Any]:
    """A GeoJSON geometry object, checked so that both stores (and PostGIS's
    ``ST_GeomFromGeoJSON``) read it: no Features, finite coordinates, valid shape."""
    if not isinstance(value, dict):
        raise ValueError("expected a GeoJSON geometry object")
    kind = value.get("type")
    if kind in ("Feature", "FeatureCollection"):
        raise ValueError(f"expected a GeoJSON geometry, not a {kind}: send its geometry")
    if kind not in GEOMETRY_TYPES:
        raise ValueError(f"not a GeoJSON geometry type: {_short(str(kind))}")
    unknown = set(value) - _GEOMETRY_MEMBERS
    if unknown:
        raise ValueError(f"unknown GeoJSON geometry member {_short(sorted(unknown)[0])}")
    _check_coordinates(value, [0])
    try:
        shape(value)  # a last check by the library the spatial functions use
    except Exception as exc:  # shapely raises several types for malformed input
        raise ValueError(f"invalid {kind}: {_short(str(exc))}") from None
    return value


def _check_coordinates(value: dict[str, Any], count: list[int], depth: int = 0) -> None:
    """RFC 7946 §3.1 shapes: lines of two or more positions, closed rings of four or more."""
    kind = value.get("type")
    if kind == "GeometryCollection":
        members = value.get("geometries")
        if not isinstance(members, list):
            raise ValueError("a GeometryCollection needs a 'geometries' array")
        if depth > 4:
            raise ValueError("GeoJSON geometry collections nested too deeply")
        for member in members:
            if not isinstance(member, dict) or member.get("type") not in GEOMETRY_TYPES:
                raise ValueError("GeometryCollection members must be GeoJSON geometries")
            _check_coordinates(member, count, depth + 1)
        return
    coordinates = value.get("coordinates")
    if kind == "Point":
        _position(coordinates, count)
    elif kind == "MultiPoint":
        for position in _array(coordinates):
            _position(position, count)
    elif kind == "LineString":
        _line(coordinates, count)
    elif kind == "MultiLineString":
        for line in _array(coordinates):
            _line(line, count)
    elif kind == "Polygon":
        _polygon(coordinates, count)
    else:
        for polygon in _array(coordinates):
            _polygon(polygon, count)


def _array(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("GeoJSON coordinates must be nested arrays of positions")
    return value


def _position(value: Any, count: list[int]) -> None:
    if not isinstance(value, list) or not 2 <= len(value) <= 4 or not all(map(_finite, value)):
        raise ValueError("a GeoJSON position is 2 to 4 finite numbers")
    count[0] += 1
    if count[0] > MAX_VERTICES:
        raise ValueError(f"geometry has more than {MAX_VERTICES} positions")


def _line(value: Any, count: list[int]) -> None:
    positions = _array(value)
    if len(positions) < 2:
        raise ValueError("a LineString needs at least two positions")
    for position in positions:
        _position(position, count)


def _polygon(value: Any, count: list[int]) -> None:
    rings = _array(value)
    if not rings:
        raise ValueError("a Polygon needs at least one ring")
    for ring in rings:
        positions = _array(ring)
        if len(positions) < 4 or positions[0] != positions[-1]:
            raise ValueError("a Polygon ring is closed and has at least four positions")
        for position in positions:
            _position(position, count)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A result split over the float column and the JSON column (see the schema)."""

    number: float | None
    json: Any


def split_result(value: Any) -> StoredResult:
    """Where a posted result goes: floats in ``result``; integers in both (the float for
    filters and order, the JSON for an exact read-back); anything else in ``result_json``."""
    if isinstance(value, bool) or value is None:
        return StoredResult(None, value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("result must be a finite number")
        return StoredResult(value, None)
    if isinstance(value, int):
        return StoredResult(float(value) if abs(value) <= _EXACT_INT else None, value)
    return StoredResult(None, value)


@dataclass(frozen=True, slots=True)
class StoredQuality:
    """A resultQuality split over the string column and the JSON column."""

    text: str | None
    json: Any


def split_quality(value: Any, limit: int) -> StoredQuality:
    """Short strings (like the device quality flags) in the string column, the rest as JSON."""
    if value is None:
        return StoredQuality(None, None)
    if isinstance(value, str) and len(value) <= limit:
        return StoredQuality(value, None)
    return StoredQuality(None, value)


def check_array_result(value: Any, units: Sequence[Any]) -> None:
    """A MultiDatastream result: an array with one element per unit of measurement."""
    if not isinstance(value, list):
        raise ValueError("a MultiDatastream observation's result must be an array")
    if len(value) != len(units):
        raise ValueError(
            f"result has {len(value)} elements; the MultiDatastream has {len(units)} "
            "unitOfMeasurements"
        )


def _short(text: str, limit: int = 48) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
