"""OGC API - EDR over the hub's stations: station time series as CoverageJSON.

:class:`StationSeriesEDRProvider` is the pygeoapi EDR provider behind the station-series
collection. It reads the hub's store (found with :func:`hub.ogcapi.registry.store_for`) and
answers four query types; every parameter a query takes is honoured or refused with 400:

* ``locations``: every registered station as a GeoJSON Point feature (id = station key), filtered
  by ``bbox`` (CRS84), ``parameter-name`` (stations that have one of them) and ``datetime``
  (stations with an observation of those parameters then). ``locations/{id}``: that station's
  series as one PointSeries Coverage (404 for an unknown station).
* ``position`` (``coords=POINT(lon lat)`` or MULTIPOINT): the stations within
  :data:`POSITION_TOLERANCE_M` (50 m, geodesic on WGS 84; provider option
  ``position_tolerance_m``) of a point. pygeoapi passes ``within`` to radius queries only.
* ``radius`` (``coords`` POINT/MULTIPOINT + ``within`` + ``within-units`` m, km or mi): the
  stations whose geodesic (WGS 84 ellipsoid, pyproj.Geod) distance to a point is at most that.
* ``area`` (``coords=POLYGON(...)`` or MULTIPOLYGON, CRS84): the stations inside or on the edge.

Geometry queries answer a CoverageCollection (even of one station) so the shape does not depend
on how many stations matched; no station or no value in the window is 204 No Content (EDR
"no data"). Coordinates are CRS84 only (``crs`` anything else is 400); there is no vertical axis
(``z`` is 400) and no instances.

Parameters are per observed property and aggregation: ``pm2_5`` is the instantaneous values of
the property with mapping key ``pm2_5``, ``pm2_5.mean`` (``.min``, ``.max``, ``.total``) its
period statistics (the key grammar ``[a-z][a-z0-9_]*`` has no dot, so names cannot clash).
Only the registry's device streams are served (a station's Thing, a mapping key, an aggregation);
streams created through the SensorThings API stay in the SensorThings API. An unknown
``parameter-name`` is 400 (stricter than EDR's "return the ones that exist": a typo must show).

``datetime`` selects observations whose phenomenon time STARTS in it (instant: equal; interval:
inclusive bounds, ``..`` or empty for an open end), like the ``observations`` collection's
``time_field``; an index range on (datastream, phenomenon_time_start, id). Date-times need
``Z`` or an offset (a naive time is ambiguous between UTC and Astana time: 400); a bare date is
that whole UTC day. Only finite numeric results are series values: a string/boolean/object
result (posted through the SensorThings API) is left out, and so are NaN and infinities.
Values are reported whatever their quality flag (quality is in the ``observations`` collection
and the SensorThings API). A request that would return more than ``max_values`` values
(option, default :data:`MAX_VALUES`) is 413.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pygeoapi.provider.base import ProviderItemNotFoundError, ProviderNoDataError
from pygeoapi.provider.base_edr import BaseEDRProvider
from shapely import Point
from sqlalchemy import Connection

from hub.ogcapi import coveragejson as cj
from hub.ogcapi.edr_params import (
    Box,
    Window,
    bad,
    near_box,
    parse_bbox,
    parse_datetime,
    parse_parameter_names,
    parse_points,
    parse_polygon,
    parse_within,
    within_any,
)
from hub.ogcapi.edr_store import (
    Station,
    extent,
    read_parameters,
    read_stations,
    read_streams,
    read_values,
    streams_with_data,
)
from hub.ogcapi.registry import store_for
from hub.store import Store

POSITION_TOLERANCE_M: Final = 50.0
MAX_VALUES: Final = 200_000
TRS: Final = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"

# --- the provider -----------------------------------------------------------------------------


class StationSeriesEDRProvider(BaseEDRProvider):  # type: ignore[misc]
    """pygeoapi EDR provider: the hub's station time series (see the module docstring)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        options = self.options or {}
        self.tolerance_m = float(options.get("position_tolerance_m", POSITION_TOLERANCE_M))
        self.max_values = int(options.get("max_values", MAX_VALUES))
        self._parameters: dict[str, cj.ParameterInfo] | None = None

    # pygeoapi builds a provider per request; the store and its pool are the hub's.
    @property
    def store(self) -> Store:
        return store_for(self.data)

    @classmethod
    def provider_config(cls, store_key: str) -> dict[str, Any]:
        """This provider's pygeoapi provider entry, reading the store registered as
        ``store_key``."""
        return {
            "type": "edr",
            "name": f"{cls.__module__}.{cls.__qualname__}",
            "data": store_key,
            "crs": [cj.CRS84],
            "storage_crs": cj.CRS84,
            "options": {"position_tolerance_m": POSITION_TOLERANCE_M, "max_values": MAX_VALUES},
        }

    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]:
        """Title, description, keywords and extents of the station-series collection.

        The temporal extent is open-ended (data keep arriving after start-up; pygeoapi refuses a
        ``datetime`` outside a closed configured extent) and starts at the first observation."""
        with store.connect() as conn:
            box, begin = extent(conn)
        bbox = [-180.0, -90.0, 180.0, 90.0] if box is None else list(box)
        return {
            "title": "Station time series",
            "description": (
                "Time series of the hub's monitoring stations through OGC API - EDR, answered "
                "as CoverageJSON: one PointSeries per station, a parameter per observed "
                "property and aggregation (pm2_5 = instantaneous values, pm2_5.mean = period "
                "means), units in UCUM. Times are UTC; datetime selects observations by the "
                "start of their phenomenon time. position finds the stations within "
                f"{POSITION_TOLERANCE_M:g} m of the point; radius uses geodesic distance on "
                "WGS 84 (within-units m, km or mi); area takes CRS84 polygons."
            ),
            "keywords": ["air quality", "water quality", "time series", "EDR", "Astana"],
            "extents": {
                "spatial": {"bbox": bbox, "crs": cj.CRS84},
                "temporal": {"begin": begin, "end": None, "trs": TRS},
            },
        }

    # --- pygeoapi hooks ---

    def parameter_infos(self, conn: Connection | None = None) -> dict[str, cj.ParameterInfo]:
        """The collection's parameters (read once per provider, i.e. per request), on ``conn``
        when given (a query reads everything on one pooled connection)."""
        if self._parameters is None:
            if conn is not None:
                self._parameters = read_parameters(conn)
            else:
                with self.store.connect() as own:
                    self._parameters = read_parameters(own)
        return self._parameters

    @property
    def fields(self) -> dict[str, Any]:
        return self.get_fields()

    def get_fields(self) -> dict[str, Any]:
        return {
            name: {
                "type": "number",
                "title": info.label,
                "description": info.description,
                "x-ogc-unit": info.ucum or info.unit_symbol,
            }
            for name, info in sorted(self.parameter_infos().items())
        }

    def get_parameters(
        self, parameters: set[str] | list[str] | None = None, as_list: bool = False
    ) -> dict[str, Any] | list[dict[str, Any]]:
        infos = self.parameter_infos()
        chosen = [infos[n] for n in (parameters or infos) if n in infos]
        found = cj.parameters(chosen)
        return list(found.values()) if as_list else found

    def get_query_types(self) -> list[str]:
        # ``instances`` is defined only so pygeoapi's /instances page lists none instead of
        # failing; it is not a query this provider offers.
        return [q for q in self.query_types if q != "instances"]

    def instances(self) -> list[str]:
        return []

    def instance(self, instance: str) -> bool:
        return False

    # --- queries ---

    def locations(
        self,
        select_properties: Sequence[str] | None = None,
        bbox: Sequence[float] | None = None,
        datetime_: str | None = None,
        location_id: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The stations as GeoJSON, or (``location_id``) one station's series."""
        self._common(kwargs)
        if kwargs.get("wkt") is not None:
            raise bad("coords is not a parameter of locations queries")
        window = parse_datetime(datetime_)
        box = parse_bbox(bbox)
        if location_id is not None and box is not None:
            raise bad("bbox is not a parameter of locations/{locId}")
        with self.store.connect() as conn:
            names = parse_parameter_names(select_properties, self.parameter_infos(conn))
            if location_id is None:
                return self._features(conn, box, names, window)
            found = read_stations(conn, key=location_id)
            if not found:
                raise ProviderItemNotFoundError(user_msg="no station with this id")
            coverages = self._coverages(conn, found, names, window)
            if not coverages:
                raise ProviderNoDataError(
                    user_msg="no values for this station, datetime and parameters"
                )
        coverage = coverages[0]
        coverage["parameters"] = self.get_parameters(list(coverage["ranges"]))
        return coverage

    def position(
        self,
        wkt: Any = None,
        select_properties: Sequence[str] | None = None,
        datetime_: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The series of the stations within the position tolerance of ``coords``."""
        self._common(kwargs)
        points = parse_points(wkt, "position")
        return self._near_query(points, self.tolerance_m, select_properties, datetime_)

    def radius(
        self,
        wkt: Any = None,
        select_properties: Sequence[str] | None = None,
        datetime_: str | None = None,
        within: Any = None,
        within_units: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The series of the stations within ``within`` ``within_units`` of ``coords``."""
        self._common(kwargs)
        points = parse_points(wkt, "radius")
        radius_m = parse_within(within, within_units)
        return self._near_query(points, radius_m, select_properties, datetime_)

    def area(
        self,
        wkt: Any = None,
        select_properties: Sequence[str] | None = None,
        datetime_: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The series of the stations inside (or on the edge of) the ``coords`` polygon."""
        self._common(kwargs)
        polygon = parse_polygon(wkt)
        window = parse_datetime(datetime_)
        with self.store.connect() as conn:
            names = parse_parameter_names(select_properties, self.parameter_infos(conn))
            candidates = read_stations(conn, box=polygon.bounds)
            chosen = [s for s in candidates if polygon.covers(Point(s.lon, s.lat))]
            return self._collection(conn, chosen, names, window)

    # --- helpers ---

    @staticmethod
    def _common(kwargs: dict[str, Any]) -> None:
        """Refuse what every query type cannot honour: z, instances, another CRS."""
        if kwargs.get("z") is not None:
            raise bad("z: the stations have no vertical axis")
        if kwargs.get("instance") is not None:
            raise bad("this collection has no instances")
        if kwargs.get("crs_transform_spec") is not None:
            raise bad("crs: only CRS84 is offered for EDR queries")

    def _near_query(
        self,
        points: Sequence[Point],
        radius_m: float,
        select_properties: Sequence[str] | None,
        datetime_: str | None,
    ) -> dict[str, Any]:
        window = parse_datetime(datetime_)
        with self.store.connect() as conn:
            names = parse_parameter_names(select_properties, self.parameter_infos(conn))
            candidates = read_stations(conn, box=near_box(points, radius_m))
            chosen = [s for s in candidates if within_any(s.lon, s.lat, points, radius_m)]
            return self._collection(conn, chosen, names, window)

    def _collection(
        self,
        conn: Connection,
        chosen: Sequence[Station],
        names: set[str] | None,
        window: Window | None,
    ) -> dict[str, Any]:
        coverages = self._coverages(conn, chosen, names, window)
        if not coverages:
            raise ProviderNoDataError(user_msg="no station with values matches the query")
        params = self.get_parameters()
        assert isinstance(params, dict)
        return cj.coverage_collection(coverages, params)

    def _coverages(
        self,
        conn: Connection,
        chosen: Sequence[Station],
        names: set[str] | None,
        window: Window | None,
    ) -> list[dict[str, Any]]:
        """One PointSeries per station of ``chosen`` that has values (no ``parameters``)."""
        streams = read_streams(conn, [s.id for s in chosen], names)
        values = read_values(conn, streams, window, self.max_values)
        per_station: dict[int, dict[str, Mapping[cj.TimeKey, float | None]]] = defaultdict(dict)
        for stream in streams:
            if values.get(stream.id):
                per_station[stream.station_id][stream.name] = values[stream.id]
        coverages = []
        for station in chosen:
            series = per_station.get(station.id)
            if not series:
                continue
            coverages.append(
                cj.point_series(
                    coverage_id=station.key,
                    lon=station.lon,
                    lat=station.lat,
                    aligned=cj.align(series),
                    params=None,
                    extra={"station": {"id": station.key, "name": station.names}},
                )
            )
        return coverages

    @staticmethod
    def _features(
        conn: Connection,
        box: Box | None,
        names: set[str] | None,
        window: Window | None,
    ) -> dict[str, Any]:
        found = read_stations(conn, box=box)
        streams = read_streams(conn, [s.id for s in found], names)
        if window is not None:
            live = streams_with_data(conn, streams, window)
            streams = [s for s in streams if s.id in live]
        params: dict[int, set[str]] = defaultdict(set)
        for stream in streams:
            params[stream.station_id].add(stream.name)
        if names is not None or window is not None:
            found = [s for s in found if params.get(s.id)]
        features = [
            {
                "type": "Feature",
                "id": s.key,
                "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
                "properties": {
                    "name": s.names.get("en", s.key),
                    "names": s.names,
                    "kind": s.kind,
                    "source": s.source,
                    "operator": s.operator,
                    "parameter-name": sorted(params.get(s.id, ())),
                },
            }
            for s in found
        ]
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": len(features),
            "numberReturned": len(features),
        }
