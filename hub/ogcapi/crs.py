"""Coordinate reference systems of ``/oapi`` (OGC API - Features Part 2) and their transformations.

The hub stores station positions as WGS 84 longitude/latitude, i.e. CRS84, the collections'
storage CRS. Clients may ask for output (``crs``), give a ``bbox`` (``bbox-crs``) or filter
geometries (``filter-crs``) in any of :data:`CANDIDATES` that the installed PROJ knows:
CRS84, EPSG:4326, UTM 42N (EPSG:32642), Pulkovo 1942 / Gauss-Krüger zone 12 (EPSG:28412) and
QazTRF-23 (EPSG:10941). Coordinates are in each CRS's own axis order, as Part 2 requires for
``crs=``: EPSG:4326 and EPSG:10941 are latitude, longitude; EPSG:28412 is X (northing),
Y (easting, with the zone prefix 12); EPSG:32642 is easting, northing; CRS84 longitude, latitude.

Transformations are chosen here, never left to PROJ's ranking (astana-geo-time.md §3.2): for
Pulkovo 1942 the one allowed datum shift is EPSG:15865 "Pulkovo 1942 to WGS 84 (16)" (GOST
51794-2001, valid for the whole former USSR including Kazakhstan); PROJ's choice for an area of
interest at Astana is EPSG:5044 "(20)" for the Russian Federation, 2.5 m off. Every transformer
is taken from the candidates of a :class:`~pyproj.transformer.TransformerGroup` and checked for
that operation; without it the CRS is not offered at all.

pygeoapi 0.24 handles the three parameters in different places: it hands ``crs`` to the provider
as a ``CrsTransformSpec`` (the providers transform with :func:`from_crs84`), but it transforms
``bbox`` itself (``pygeoapi.crs.transform_bbox``) and the filter's geometries too
(``pygeoapi.crs.modify_pygeofilter``), both with PROJ's default choice. :func:`install` points
those two names in ``pygeoapi.api.itemtypes`` at :func:`hub_transform_bbox` and
:func:`hub_modify_pygeofilter`, which use the transformations of this module. The
``Content-Crs`` header pygeoapi sets (``<uri>`` of the requested or default CRS) is already what
Part 2 asks for.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy
import pyproj
import shapely
from pyproj.exceptions import CRSError, ProjError
from pyproj.transformer import Transformer, TransformerGroup
from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
# EPSG:15865, Pulkovo 1942 to WGS 84 (16): the only Pulkovo datum shift the hub uses.
PULKOVO_TO_WGS84 = 15865
PULKOVO_1942 = 4284
# Densification of bbox edges: a projected rectangle is not a rectangle in lon/lat.
_BBOX_DENSIFY = 21


@dataclass(frozen=True, slots=True)
class CrsOption:
    """One CRS the hub may offer: its URI, EPSG code (None for CRS84) and a short label."""

    uri: str
    epsg: int | None
    label: str


CANDIDATES: tuple[CrsOption, ...] = (
    CrsOption(CRS84, None, "WGS 84 longitude/latitude (CRS84)"),
    CrsOption(EPSG_URI + "4326", 4326, "WGS 84 latitude/longitude (EPSG:4326)"),
    CrsOption(EPSG_URI + "32642", 32642, "WGS 84 / UTM zone 42N (EPSG:32642)"),
    CrsOption(EPSG_URI + "28412", 28412, "Pulkovo 1942 / Gauss-Kruger zone 12 (EPSG:28412)"),
    CrsOption(EPSG_URI + "10941", 10941, "QazTRF-23 (EPSG:10941)"),
)


class CrsUnavailable(ValueError):
    """A CRS the hub cannot serve (unknown URI, or not known to the installed PROJ)."""


def _crs(option: CrsOption) -> pyproj.CRS:
    if option.epsg is None:
        return pyproj.CRS.from_user_input("OGC:CRS84")
    return pyproj.CRS.from_epsg(option.epsg)


def _uses_pulkovo(crs: pyproj.CRS) -> bool:
    geodetic = crs.geodetic_crs
    return geodetic is not None and geodetic.to_epsg() == PULKOVO_1942


def _operation_codes(transformer: Transformer) -> set[int]:
    codes: set[int] = set()
    for operation in transformer.operations or ():
        identifier = operation.to_json_dict().get("id") or {}
        code = identifier.get("code")
        if isinstance(code, int):
            codes.add(code)
    return codes


@functools.cache
def _transformer(source: CrsOption, target: CrsOption) -> Transformer:
    """The hub's transformation from ``source`` to ``target`` (each CRS's own axis order)."""
    crs_from, crs_to = _crs(source), _crs(target)
    group = TransformerGroup(crs_from, crs_to, always_xy=False)
    candidates = list(group.transformers)
    if _uses_pulkovo(crs_from) != _uses_pulkovo(crs_to):
        # A datum shift to or from Pulkovo 1942: only EPSG:15865, whatever PROJ ranks first.
        candidates = [t for t in candidates if PULKOVO_TO_WGS84 in _operation_codes(t)]
    if not candidates:
        raise CrsUnavailable(f"no transformation from {source.uri} to {target.uri}")
    return candidates[0]


@functools.cache
def _available() -> tuple[tuple[CrsOption, ...], tuple[CrsOption, ...]]:
    offered: list[CrsOption] = []
    missing: list[CrsOption] = []
    crs84 = CANDIDATES[0]
    for option in CANDIDATES:
        try:
            _crs(option)
            _transformer(crs84, option)
            _transformer(option, crs84)
        except (CRSError, ProjError, CrsUnavailable) as exc:
            log.warning(
                "CRS %s is not available with PROJ %s: %s", option.uri, pyproj.proj_version_str, exc
            )
            missing.append(option)
        else:
            offered.append(option)
    return tuple(offered), tuple(missing)


def available() -> tuple[CrsOption, ...]:
    """The CRSs offered (CRS84 first), in :data:`CANDIDATES` order."""
    return _available()[0]


def unavailable() -> tuple[CrsOption, ...]:
    """The candidate CRSs the installed PROJ cannot serve (said in the collection metadata)."""
    return _available()[1]


def supported_uris() -> list[str]:
    """The URIs of :func:`available`: the provider's ``crs`` list."""
    return [option.uri for option in available()]


def option_for(uri: str) -> CrsOption:
    """The offered CRS named by ``uri`` (exact URI, as listed in ``crs``)."""
    for option in available():
        if option.uri == uri:
            return option
    raise CrsUnavailable(f"CRS {uri!r} is not offered; use one of {', '.join(supported_uris())}")


def metadata_note() -> str:
    """A sentence for collection descriptions when a candidate CRS is missing ('' otherwise)."""
    missing = unavailable()
    if not missing:
        return ""
    names = ", ".join(option.label for option in missing)
    return f" Not offered because the installed PROJ ({pyproj.proj_version_str}) lacks it: {names}."


def is_crs84(uri: str | None) -> bool:
    return uri is None or uri == CRS84


def from_crs84(uri: str) -> Transformer:
    """CRS84 (lon, lat) to the CRS ``uri`` in its own axis order."""
    option = option_for(uri)
    return _transformer(CANDIDATES[0], option)


def to_crs84(uri: str) -> Transformer:
    """The CRS ``uri`` (its own axis order) to CRS84 (lon, lat)."""
    option = option_for(uri)
    return _transformer(option, CANDIDATES[0])


def transform_points(
    lons: Sequence[float], lats: Sequence[float], uri: str | None
) -> list[tuple[float, float]]:
    """CRS84 points as coordinate pairs in ``uri`` (None or CRS84: unchanged)."""
    if is_crs84(uri) or not lons:
        return list(zip(lons, lats, strict=True))
    assert uri is not None
    first, second = from_crs84(uri).transform(list(lons), list(lats), errcheck=True)
    return list(zip(_floats(first), _floats(second), strict=True))


def _floats(values: Any) -> list[float]:
    return [float(v) for v in (values if isinstance(values, (list, tuple)) else list(values))]


def bbox_to_crs84(bbox: Sequence[float], uri: str) -> list[float]:
    """A 2D bbox given in ``uri`` (first-axis min, second-axis min, first max, second max, in
    that CRS's axis order) as a CRS84 bbox (min lon, min lat, max lon, max lat) that covers
    it: the edges are densified, so a projected rectangle is covered, not just its corners."""
    if len(bbox) != 4:
        raise CrsUnavailable("only a 2D bbox (4 numbers) can be given in another CRS")
    if is_crs84(uri):
        return [float(v) for v in bbox]
    left, bottom, right, top = (float(v) for v in bbox)
    try:
        found = to_crs84(uri).transform_bounds(
            left, bottom, right, top, densify_pts=_BBOX_DENSIFY, errcheck=True
        )
    except ProjError as exc:
        raise CrsUnavailable(f"the bbox cannot be transformed from {uri}: {exc}") from exc
    values = [float(v) for v in found]
    if not all(math.isfinite(v) for v in values):
        raise CrsUnavailable(f"the bbox lies outside the area of {uri}")
    return values


def geometry_to_crs84(geometry: BaseGeometry, uri: str) -> BaseGeometry:
    """A geometry given in ``uri`` (its axis order) in CRS84."""
    if is_crs84(uri):
        return geometry
    transformer = to_crs84(uri)

    def convert(coords: Any) -> Any:
        first, second = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
        return numpy.column_stack([first, second])

    try:
        return shapely.transform(geometry, convert)
    except ProjError as exc:
        raise CrsUnavailable(f"a filter geometry cannot be transformed from {uri}") from exc


# --- the CRS names of requests and of pygeofilter's geometries -----------------------------------


def uri_from_name(name: str) -> str:
    """An offered CRS's URI from the names clients and pygeofilter use: the URI itself, an
    ``urn:ogc:def:crs:EPSG::4326`` URN (EWKT ``SRID=`` literals), ``EPSG:4326`` or CRS84."""
    text = name.strip()
    for option in available():
        if text == option.uri:
            return option.uri
    lowered = text.lower()
    if lowered in (
        "crs84",
        "ogc:crs84",
        "urn:ogc:def:crs:ogc::crs84",
        "urn:ogc:def:crs:ogc:1.3:crs84",
    ):
        return CRS84
    code: str | None = None
    if lowered.startswith("urn:ogc:def:crs:epsg:"):
        code = lowered.rsplit(":", 1)[-1]
    elif lowered.startswith("epsg:"):
        code = lowered.split(":", 1)[1]
    if code is not None and code.isdigit():
        return option_for(EPSG_URI + str(int(code))).uri
    raise CrsUnavailable(f"CRS {name!r} is not offered; use one of {', '.join(supported_uris())}")


# --- pygeoapi's own bbox-crs and filter-crs handling, replaced -----------------------------------


def hub_transform_bbox(
    bbox: list[float], from_crs: Any, to_crs: Any, always_xy: bool = False
) -> list[float]:
    """Stands in for ``pygeoapi.crs.transform_bbox`` in the items handler: a ``bbox`` in
    ``bbox-crs`` to the storage CRS (CRS84) with the hub's transformation. Raises ``CRSError``
    (pygeoapi answers 400) for what the hub cannot do."""
    if not isinstance(from_crs, str) or (isinstance(to_crs, str) and to_crs != CRS84):
        return _pygeoapi_transform_bbox(bbox, from_crs, to_crs, always_xy)
    try:
        return bbox_to_crs84(bbox, uri_from_name(from_crs))
    except CrsUnavailable as exc:
        raise CRSError(str(exc)) from exc


def hub_modify_pygeofilter(
    ast_tree: Any,
    *,
    filter_crs_uri: str,
    storage_crs_uri: str | None = None,
    geometry_column_name: str | None = None,
) -> Any:
    """Stands in for ``pygeoapi.crs.modify_pygeofilter``: tags every geometry literal of the
    filter that names no CRS of its own (EWKT ``SRID=``) with ``filter-crs``, leaving the
    coordinates alone; :mod:`hub.ogcapi.cql` transforms them with this module. An unknown
    ``filter-crs`` raises (pygeoapi answers 400 "Bad CQL")."""
    if storage_crs_uri not in (None, CRS84) or geometry_column_name:
        return _pygeoapi_modify_pygeofilter(
            ast_tree,
            filter_crs_uri=filter_crs_uri,
            storage_crs_uri=storage_crs_uri,
            geometry_column_name=geometry_column_name,
        )
    uri = uri_from_name(filter_crs_uri)
    if uri != CRS84:
        _tag_geometries(ast_tree, uri, depth=0)
    return ast_tree


def _tag_geometries(node: Any, uri: str, depth: int) -> None:
    import pygeofilter.values as values

    if depth > 200:
        raise ValueError("the filter is nested too deeply")
    if isinstance(node, values.Geometry):
        crs = node.geometry.get("crs") if isinstance(node.geometry, dict) else None
        if crs is None:
            node.geometry["crs"] = {"type": "name", "properties": {"name": uri}}
        return
    if isinstance(node, (list, tuple)):
        children: Sequence[Any] = node
    else:
        getter: Callable[[], Sequence[Any]] | None = getattr(node, "get_sub_nodes", None)
        children = getter() if getter is not None else ()
    for child in children:
        if isinstance(child, values.Envelope):
            raise ValueError("ENVELOPE literals are CRS84 only; give a POLYGON with filter-crs")
        _tag_geometries(child, uri, depth + 1)


_pygeoapi_transform_bbox: Callable[..., list[float]]
_pygeoapi_modify_pygeofilter: Callable[..., Any]


def install() -> None:
    """Route pygeoapi's items handler through :func:`hub_transform_bbox` and
    :func:`hub_modify_pygeofilter` (process-wide, idempotent)."""
    global _pygeoapi_transform_bbox, _pygeoapi_modify_pygeofilter
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.crs as pygeoapi_crs

    _pygeoapi_transform_bbox = pygeoapi_crs.transform_bbox
    _pygeoapi_modify_pygeofilter = pygeoapi_crs.modify_pygeofilter
    itemtypes.transform_bbox = hub_transform_bbox
    itemtypes.modify_pygeofilter = hub_modify_pygeofilter
