"""SQL functions the hub registers on every SQLite connection (PostgreSQL has them built in).

PostgreSQL answers the SensorThings spatial filters with PostGIS and does date arithmetic on
``timestamptz``; SQLite has neither, so :func:`register` adds Python functions that give the same
answers (the ``$filter`` compiler spells each operation once per backend):

* ``auasu_st_<relation>(a, b)`` for the nine OGC simple-features relations (``st_relate`` takes
  the DE-9IM pattern as a third argument), ``auasu_geo_distance(a, b)`` and
  ``auasu_geo_length(a)``. A geometry argument is either GeoJSON text as stored in a JSON column
  (``locations.location``, ``features_of_interest.feature``) or WKT text (a bound filter
  literal); the first non-blank character tells which. Distances and lengths are planar, in the
  units of the coordinates (degrees for WGS 84 lon/lat), exactly as PostGIS ``ST_Distance`` /
  ``ST_Length`` compute them on ``geometry(…, 4326)``.
* ``auasu_time_add(t, micros)`` and ``auasu_time_diff(a, b)`` over the store's UTC text
  (``YYYY-MM-DD HH:MM:SS.ffffff``, see :class:`hub.store.types.UTCDateTime`), exact to the
  microsecond (SQLite's own ``julianday`` arithmetic is not).
* ``auasu_fmod(a, b)``: the remainder of a division of reals (SQLite's ``%`` truncates both
  operands to integers first).

Every function returns NULL for NULL or malformed input and never raises: an exception inside a
user function aborts the whole statement, and one bad stored row must not turn a query into an
error. Parsed WKT literals (one per filter, used for every row) and small stored GeoJSON values
are cached.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache, wraps
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

# GeoJSON geometry objects, as PostGIS ST_GeomFromGeoJSON accepts them (a Feature is refused
# there, so it is refused here too: both stores must see the same value).
GEOJSON_TYPES = frozenset(
    {
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    }
)
# Stored values longer than this are parsed on every call rather than kept in the cache, so a
# few huge polygons cannot pin megabytes of memory.
_CACHED_TEXT_LIMIT = 16_384

# The OGC relations by filter-function name; the SQL name is "auasu_" + key.
RELATIONS: dict[str, Callable[[BaseGeometry, BaseGeometry], Any]] = {
    "st_equals": shapely.equals,
    "st_disjoint": shapely.disjoint,
    "st_touches": shapely.touches,
    "st_within": shapely.within,
    "st_overlaps": shapely.overlaps,
    "st_crosses": shapely.crosses,
    "st_intersects": shapely.intersects,
    "st_contains": shapely.contains,
}


@lru_cache(maxsize=256)
def parse_wkt(text: str) -> BaseGeometry | None:
    """A WKT literal as a (prepared) geometry, or None when it does not parse."""
    geometry = shapely.from_wkt(text, on_invalid="ignore")
    if geometry is None:
        return None
    shapely.prepare(geometry)  # a literal is tested against every row: prepare it once
    return geometry


def _parse_geojson(text: str) -> BaseGeometry | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("type") not in GEOJSON_TYPES:
        return None
    geometry: BaseGeometry | None = shapely.from_geojson(text, on_invalid="ignore")
    return geometry


_parse_geojson_cached = lru_cache(maxsize=4096)(_parse_geojson)


def parse_geometry(value: object) -> BaseGeometry | None:
    """A geometry argument (GeoJSON or WKT text) as a shapely geometry, None if unusable."""
    if not isinstance(value, str):
        return None
    head = value.lstrip()[:1]
    if head.isascii() and head.isalpha():
        return parse_wkt(value)
    if len(value) > _CACHED_TEXT_LIMIT:
        return _parse_geojson(value)
    return _parse_geojson_cached(value)


def linear_length(geometry: BaseGeometry) -> float:
    """Total length of the linear parts, as PostGIS ST_Length: points and polygons count 0."""
    kind = geometry.geom_type
    if kind in ("LineString", "LinearRing", "MultiLineString"):
        return float(geometry.length)
    if kind == "GeometryCollection":
        return sum(linear_length(part) for part in getattr(geometry, "geoms", ()))
    return 0.0


def relation(name: str, a: BaseGeometry, b: BaseGeometry) -> bool:
    """The OGC relation ``name`` (a key of :data:`RELATIONS`) between two geometries."""
    return bool(RELATIONS[name](a, b))


def relate_pattern(a: BaseGeometry, b: BaseGeometry, pattern: str) -> bool:
    """Whether the DE-9IM matrix of ``a`` and ``b`` matches ``pattern``."""
    return bool(shapely.relate_pattern(a, b, pattern))


def distance(a: BaseGeometry, b: BaseGeometry) -> float | None:
    """Planar distance in coordinate units; None when a geometry is empty (PostGIS: NULL)."""
    found = float(shapely.distance(a, b))
    return None if math.isnan(found) else found


# --- the SQL-facing wrappers ----------------------------------------------------------------


def _never_raises[**P, R](function: Callable[P, R]) -> Callable[P, R | None]:
    @wraps(function)
    def safe(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return function(*args, **kwargs)
        except Exception:  # any failure is "no value" for this row, never a statement error
            return None

    return safe


def _relation_function(name: str) -> Callable[[object, object], int | None]:
    def sql_function(a: object, b: object) -> int | None:
        left, right = parse_geometry(a), parse_geometry(b)
        if left is None or right is None:
            return None
        return int(relation(name, left, right))

    return sql_function


def _relate(a: object, b: object, pattern: object) -> int | None:
    left, right = parse_geometry(a), parse_geometry(b)
    if left is None or right is None or not isinstance(pattern, str):
        return None
    return int(relate_pattern(left, right, pattern))


def _distance(a: object, b: object) -> float | None:
    left, right = parse_geometry(a), parse_geometry(b)
    if left is None or right is None:
        return None
    return distance(left, right)


def _length(a: object) -> float | None:
    geometry = parse_geometry(a)
    return None if geometry is None else linear_length(geometry)


def _utc_text(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def _time_add(value: object, micros: object) -> str | None:
    moment = _utc_text(value)
    if moment is None or not isinstance(micros, int):
        return None
    return (moment + timedelta(microseconds=micros)).isoformat(" ", "microseconds")[:26]


def _time_diff(a: object, b: object) -> int | None:
    left, right = _utc_text(a), _utc_text(b)
    if left is None or right is None:
        return None
    delta = left - right
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _fmod(a: object, b: object) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or b == 0:
        return None
    found = math.fmod(a, b)
    return found if math.isfinite(found) else None


FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    **{f"auasu_{name}": (2, _relation_function(name)) for name in RELATIONS},
    "auasu_st_relate": (3, _relate),
    "auasu_geo_distance": (2, _distance),
    "auasu_geo_length": (1, _length),
    "auasu_time_add": (2, _time_add),
    "auasu_time_diff": (2, _time_diff),
    "auasu_fmod": (2, _fmod),
}


def register(dbapi_connection: Any) -> None:
    """Register the hub's SQL functions on one raw ``sqlite3`` connection."""
    for name, (arity, function) in FUNCTIONS.items():
        dbapi_connection.create_function(name, arity, _never_raises(function), deterministic=True)
