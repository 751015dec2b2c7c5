"""The station registry as the geometry behind every feature of ``/oapi``.

Every feature is a point at its station, and the stations are few (a city's network), so
spatial predicates (``bbox``, CQL2 ``S_*``) are evaluated on the stations' coordinates with
shapely and pyproj and become a bound list of station ids; no geometry reaches the SQL, and both
stores answer alike (distances are geodesic metres on WGS 84 on both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, Connection, and_, bindparam, false, or_, select

from hub.ogcapi.cql import SpatialTest
from hub.ogcapi.providers.params import BadQuery
from hub.sta.idlist import id_in
from hub.store.schema import stations

GEOD = pyproj.Geod(ellps="WGS84")


class StationPoints:
    """Resolves spatial predicates (bbox, CQL2 ``S_*``) against the stations' points: the
    stations are few (a city's network), so the predicate is evaluated with shapely/pyproj on
    their coordinates and becomes a bound list of station ids; no geometry reaches SQL."""

    def __init__(self, conn: Connection, table: Any = stations) -> None:
        self.conn = conn
        self.table = table  # the stations table or the alias the query uses
        self._points: tuple[list[int], Any, list[float], list[float]] | None = None

    def _load(self) -> tuple[list[int], Any, list[float], list[float]]:
        if self._points is None:
            rows = self.conn.execute(select(stations.c.id, stations.c.lon, stations.c.lat)).all()
            ids = [int(r[0]) for r in rows]
            lons = [float(r[1]) for r in rows]
            lats = [float(r[2]) for r in rows]
            self._points = (ids, shapely.points(lons, lats), lons, lats)
        return self._points

    def ids(self, test: SpatialTest) -> list[int]:
        """The ids of the stations whose point meets ``test``."""
        ids, points, lons, lats = self._load()
        if not ids:
            return []
        geometry = test.geometry
        if test.relation == "dwithin":
            assert test.distance_m is not None
            distances = geodesic_distances(lons, lats, geometry)
            return [i for i, d in zip(ids, distances, strict=True) if d <= test.distance_m]
        shapely.prepare(geometry)
        relation = getattr(shapely, test.relation)
        hits = relation(points, geometry)
        return [i for i, hit in zip(ids, hits, strict=True) if bool(hit)]

    def condition(self, test: SpatialTest) -> ColumnElement[bool]:
        return in_list(self.table.c.id, self.ids(test), self.conn.dialect.name)

    def bbox(self, box: Sequence[float]) -> ColumnElement[bool]:
        """``bbox`` (CRS84, min lon, min lat, max lon, max lat; across the antimeridian when
        min lon > max lon) as a condition on the stations' coordinates (bound values)."""
        if len(box) != 4:
            raise BadQuery("bbox: only a 2D bbox (4 numbers) is supported")
        west, south, east, north = (float(v) for v in box)
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise BadQuery("bbox values must be finite numbers")
        table = self.table
        lat = table.c.lat.between(_bound(south), _bound(north))
        if west <= east:
            return and_(lat, table.c.lon.between(_bound(west), _bound(east)))
        return and_(lat, or_(table.c.lon >= _bound(west), table.c.lon <= _bound(east)))


def _bound(value: float) -> Any:
    return bindparam(None, value, type_=stations.c.lat.type)


def geodesic_distances(
    lons: Sequence[float], lats: Sequence[float], geometry: BaseGeometry
) -> list[float]:
    """Distances in metres on the WGS 84 ellipsoid from each point to ``geometry``: exact for a
    point; for lines and areas measured in an azimuthal equidistant projection centred on the
    geometry (exact through the centre, well under 0.5 % off within a few hundred km)."""
    if geometry.geom_type == "Point":
        n = len(lons)
        _, _, found = GEOD.inv(lons, lats, [geometry.x] * n, [geometry.y] * n)
        return [float(d) for d in found]
    centre = geometry.centroid
    local = pyproj.Transformer.from_crs(
        "OGC:CRS84",
        pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84"),
        always_xy=True,
    )
    shape = shapely.transform(geometry, lambda c: _columns(local.transform(c[:, 0], c[:, 1])))
    xs, ys = local.transform(list(lons), list(lats))
    return [float(d) for d in shapely.distance(shapely.points(xs, ys), shape)]


def _columns(pair: tuple[Any, Any]) -> Any:
    return numpy.column_stack(pair)


# SQLite binds at most 32,766 parameters per statement; longer id lists go as one JSON array.
_SQLITE_LIST_MAX = 5000


def in_list(column: Any, ids: Sequence[int], dialect: str = "sqlite") -> ColumnElement[bool]:
    """``column IN (ids)``, false when empty. On PostgreSQL one array parameter (``= ANY``):
    the statement text stays the same whatever the number of ids, so psycopg's prepared
    statements save the planning (several ms for the provider joins); on SQLite an expanding
    list, which its planner walks in sorted order on an index (one JSON parameter beyond
    :data:`_SQLITE_LIST_MAX` ids)."""
    if not ids:
        return false()
    if dialect == "postgresql" or len(ids) > _SQLITE_LIST_MAX:
        return id_in(dialect, column, ids)
    return column.in_(bindparam(None, list(ids), expanding=True))  # type: ignore[no-any-return]
