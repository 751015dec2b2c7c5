"""The values of an EDR request, checked: datetime, parameter-name, coords, within, bbox.

Every function here either returns a value the station-series queries (:mod:`hub.ogcapi.edr`)
can honour exactly or raises a 400 (:class:`ProviderInvalidQueryError` with a message for the
client) saying what is wrong. Nothing a client sent is echoed unless it is a plain name, so
error pages cannot carry markup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pygeoapi.provider.base import ProviderInvalidQueryError
from pyproj import Geod
from shapely import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

UNITS_M: Final = {"m": 1.0, "km": 1000.0, "mi": 1609.344}
_GEOD: Final = Geod(ellps="WGS84")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})"
)
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_LAST_MOMENT: Final = timedelta(days=1) - timedelta(microseconds=1)

# minlon, minlat, maxlon, maxlat in CRS84.
Box = tuple[float, float, float, float]


def bad(message: str) -> ProviderInvalidQueryError:
    """A 400 with ``message`` shown to the client (pygeoapi shows user_msg only)."""
    return ProviderInvalidQueryError(user_msg=message)


# The inclusive bounds on phenomenon_time_start a datetime selects (None: open end).
Window = tuple[datetime | None, datetime | None]


def _moment(text: str, *, end: bool) -> datetime:
    if _DATE.fullmatch(text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day + _LAST_MOMENT if end else day
    if not _DATETIME.fullmatch(text):
        raise bad(
            "datetime: each instant must be an RFC 3339 date-time with Z or an offset "
            "(2025-03-01T00:00:00Z) or a date (2025-03-01)"
        )
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


def parse_datetime(text: str | None) -> Window | None:
    """The phenomenon-start window of an EDR ``datetime`` (None: no filter); 400 when invalid.

    Bounds are inclusive; a bare date is the whole UTC day (as an end, its last microsecond)."""
    if text is None or text == "":
        return None
    try:
        if "/" not in text:
            if text == "..":
                raise bad("datetime: '..' is only an open end of an interval")
            return _moment(text, end=False), _moment(text, end=True)
        first, _, second = text.partition("/")
        if "/" in second:
            raise bad("datetime: an interval has exactly one '/'")
        lo = None if first in ("", "..") else _moment(first, end=False)
        hi = None if second in ("", "..") else _moment(second, end=True)
    except ValueError as exc:  # a calendar-impossible date such as 2025-02-30
        raise bad(f"datetime: {exc}") from None
    if lo is not None and hi is not None and lo > hi:
        raise bad("datetime: the interval ends before it starts")
    return lo, hi


def parse_parameter_names(requested: Sequence[str] | None, known: Iterable[str]) -> set[str] | None:
    """The requested parameter names (None: all), each checked against ``known``; 400 if not.
    Only a plain name is repeated in the message (nothing a client sent can carry markup)."""
    if not requested:
        return None
    names = {name.strip() for name in requested}
    valid = set(known)
    for name in sorted(names):
        if name not in valid:
            shown = f" {name!r}" if _SAFE_NAME.fullmatch(name) else ""
            raise bad(
                f"unknown parameter-name{shown}: the collection's parameter_names lists the "
                "valid ones"
            )
    return names


def _check_lonlat(geometry: BaseGeometry) -> None:
    if geometry.is_empty:
        raise bad("coords: the geometry is empty")
    if geometry.has_z:
        raise bad("coords: give 2D coordinates (lon lat); there is no vertical axis")
    minx, miny, maxx, maxy = geometry.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise bad("coords: coordinates must be finite numbers")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise bad("coords: CRS84 is lon -180..180, lat -90..90 (lon first)")


def parse_points(wkt: Any, query: str) -> list[Point]:
    """The point(s) of a position or radius ``coords`` (already parsed by pygeoapi)."""
    if isinstance(wkt, Point):
        points = [wkt]
    elif isinstance(wkt, MultiPoint):
        points = list(wkt.geoms)
    else:
        raise bad(f"coords: a {query} query takes a POINT or MULTIPOINT")
    _check_lonlat(wkt)
    return points


def parse_polygon(wkt: Any) -> BaseGeometry:
    """The (multi)polygon of an area ``coords``, valid and in CRS84 range."""
    if not isinstance(wkt, (Polygon, MultiPolygon)):
        raise bad("coords: an area query takes a POLYGON or MULTIPOLYGON")
    _check_lonlat(wkt)
    if not wkt.is_valid:
        raise bad("coords: the polygon is not valid (it crosses itself or is not closed)")
    return wkt


def parse_within(within: Any, units: Any) -> float:
    """``within`` in ``within-units`` as metres; 400 unless a finite number >= 0 in m/km/mi."""
    if within is None or units is None:
        raise bad("a radius query needs within and within-units")
    try:
        distance = float(within)
    except (TypeError, ValueError):
        raise bad("within must be a number") from None
    if not math.isfinite(distance) or distance < 0:
        raise bad("within must be a finite number >= 0")
    factor = UNITS_M.get(str(units).strip().lower())
    if factor is None:
        raise bad("within-units must be one of: " + ", ".join(UNITS_M))
    return distance * factor


def near_box(points: Sequence[Point], radius_m: float) -> Box | None:
    """A lon/lat box holding every point within ``radius_m`` of ``points`` (a prefilter; the
    exact test is geodesic), or None when it would wrap the antimeridian or reach a pole."""
    # 110,574 m is the shortest degree of latitude (at the equator); 1% and 1e-6 deg of slack.
    dlat = radius_m / 110_574.0 * 1.01 + 1e-6
    boxes = []
    for p in points:
        reach = abs(p.y) + dlat
        if reach >= 89.0:
            return None
        dlon = radius_m / (111_320.0 * math.cos(math.radians(reach))) * 1.01 + 1e-6
        if p.x - dlon < -180 or p.x + dlon > 180:
            return None
        boxes.append((p.x - dlon, p.y - dlat, p.x + dlon, p.y + dlat))
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def within_any(lon: float, lat: float, points: Sequence[Point], radius_m: float) -> bool:
    """Whether (lon, lat) is at most ``radius_m`` from one of ``points``, geodesic on WGS 84."""
    for p in points:
        _, _, distance = _GEOD.inv(p.x, p.y, lon, lat)
        if distance <= radius_m:
            return True
    return False


def parse_bbox(bbox: Sequence[float] | None) -> Box | None:
    """A locations ``bbox`` (pygeoapi parsed the numbers) as a CRS84 box, or None."""
    if not bbox:
        return None
    if len(bbox) != 4:
        raise bad("bbox: give minlon,minlat,maxlon,maxlat (no heights)")
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise bad("bbox: numbers must be finite")
    if minx > maxx or miny > maxy:
        raise bad("bbox: min must not exceed max (no antimeridian-crossing boxes)")
    return minx, miny, maxx, maxy
