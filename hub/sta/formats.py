"""``$resultFormat``: a page of a collection as dataArray, CSV or GeoJSON instead of STA JSON.

* ``dataArray`` (18-088 §13.2, ``sta.md`` §1.7), Observations only: ``value`` holds one object
  per Datastream or MultiDatastream -- ``Datastream@iot.navigationLink`` (or
  ``MultiDatastream@iot.navigationLink``), ``components`` (the ``$select``ed
  properties, in the client's order) and ``dataArray`` (one row of values per Observation, in
  page order). ``@iot.count``/``@iot.nextLink`` stay at the top level.
* ``csv`` (``text/csv``, RFC 4180 quoting, CRLF): a header row of the selected properties
  (``@iot.id`` for the id), then one row per entity; objects and arrays are written as JSON
  text, null as an empty field. An expanded to-one entity adds ``Nav/property`` columns; a
  to-many expansion has no place in a table (400). The nextLink is a ``Link: <…>; rel="next"``
  header.
* ``geojson`` (``application/geo+json``): a FeatureCollection whose features carry the entity's
  geometry -- a Location's ``location``, a FeatureOfInterest's ``feature``, a Thing's Location(s)
  (several become a GeometryCollection), an Observation's FeatureOfInterest -- and everything
  else of the entity, as STA JSON, in ``properties``. Other entity types have no geometry (400).

:func:`check` refuses what a format cannot hold before any query runs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from hub.sta.entities import EntityType
from hub.sta.errors import ApiError
from hub.sta.expand import ExpandNode
from hub.sta.idlist import chunks, id_in
from hub.sta.options import QueryOptions
from hub.sta.serialize import ABSENT, Extras, property_value
from hub.store.schema import features_of_interest, locations, thing_locations

Row = Mapping[str, Any]

# dataArray components without $select: every Observation property the store holds.
DEFAULT_COMPONENTS = ("id", "phenomenonTime", "resultTime", "result", "resultQuality", "parameters")
# Where an entity's own geometry is (GeoJSON); Things and Observations borrow one.
_OWN_GEOMETRY = {"Location": "location", "FeatureOfInterest": "feature"}
_BORROWED = ("Thing", "Observation")


def check(entity: EntityType, options: QueryOptions, nodes: Sequence[ExpandNode]) -> None:
    """Raise ApiError 400 when ``options.result_format`` cannot represent this request."""
    fmt = options.result_format
    if fmt == "dataArray":
        if options.expand:
            raise ApiError(400, "$resultFormat=dataArray cannot be combined with $expand")
        for name in options.select:
            if entity.has_navigation(name):
                raise ApiError(
                    400, f"$resultFormat=dataArray: {name!r} is a navigation, not a component"
                )
    elif fmt == "csv":
        _check_flat(nodes)
    elif fmt == "geojson" and entity.name not in _OWN_GEOMETRY and entity.name not in _BORROWED:
        raise ApiError(
            400,
            f"$resultFormat=GeoJSON: {entity.set_name} have no geometry; it applies to "
            "Locations, FeaturesOfInterest, Things and Observations",
        )


def _check_flat(nodes: Sequence[ExpandNode]) -> None:
    for node in nodes:
        if node.navigation.to_many:
            raise ApiError(
                400,
                f"$resultFormat=CSV: {node.navigation.name} is a collection and cannot be "
                "expanded into columns; expand to-one navigations only",
            )
        _check_flat(node.children)


# --- dataArray ---------------------------------------------------------------------------------


def data_array(
    rows: Sequence[Row], options: QueryOptions, root: str, extras: Extras
) -> list[dict[str, Any]]:
    """The ``value`` of a dataArray response: one object per (Multi)Datastream, in page order."""
    entity = options.entity
    components = list(options.select) if options.select else list(DEFAULT_COMPONENTS)
    groups: dict[tuple[str, int], list[list[Any]]] = {}
    for row in rows:
        values = []
        for name in components:
            value = property_value(entity, name, row, extras)
            values.append(None if value is ABSENT else value)
        groups.setdefault(_stream_of(row), []).append(values)
    return [
        {
            f"{navigation}@iot.navigationLink": f"{root}/{navigation}s({stream})",
            "components": components,
            "dataArray": values,
        }
        for (navigation, stream), values in groups.items()
    ]


def _stream_of(row: Row) -> tuple[str, int]:
    """The (navigation, id) of the stream an Observation belongs to (18-088 §13.2 groups by
    Datastream; an Observation of a MultiDatastream has no Datastream and is grouped by that)."""
    stream = row["datastream_id"]
    if stream is None and row.get("multi_datastream_id") is not None:
        return "MultiDatastream", row["multi_datastream_id"]
    return "Datastream", stream


# --- CSV -----------------------------------------------------------------------------------------


def csv_text(
    entity: EntityType,
    bodies: Sequence[Mapping[str, Any]],
    select_: Sequence[str],
    nodes: Sequence[ExpandNode],
) -> str:
    """The entities (STA JSON, expansions included) as CSV with a header row."""
    columns = _columns(entity, select_, nodes, ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # QUOTE_MINIMAL: RFC 4180 quoting
    writer.writerow(["/".join(path) for path in columns])
    for body in bodies:
        writer.writerow([_cell(_lookup(body, path)) for path in columns])
    return out.getvalue()


def _columns(
    entity: EntityType,
    select_: Sequence[str],
    nodes: Sequence[ExpandNode],
    prefix: tuple[str, ...],
) -> list[tuple[str, ...]]:
    names = [n for n in select_ if entity.has_property(n)] if select_ else None
    if names is None:
        names = [spec.name for spec in entity.properties]
    columns = [(*prefix, "@iot.id" if name == "id" else name) for name in names]
    for node in nodes:
        options = node.options
        path = (*prefix, node.navigation.name)
        columns += _columns(options.entity, options.select, node.children, path)
    return columns


def _lookup(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- GeoJSON -------------------------------------------------------------------------------------


def features(
    conn: Connection,
    entity: EntityType,
    rows: Sequence[Row],
    bodies: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One GeoJSON Feature per entity (``check`` has accepted the entity type)."""
    own = _OWN_GEOMETRY.get(entity.name)
    if own is not None:
        geometries = [geometry(row[own]) for row in rows]
    elif entity.name == "Thing":
        geometries = _thing_geometries(conn, [row["id"] for row in rows])
    else:
        geometries = _feature_geometries(conn, [row["feature_of_interest_id"] for row in rows])
    out = []
    for row, body, shape in zip(rows, bodies, geometries, strict=True):
        properties = {k: v for k, v in body.items() if k != own}
        out.append(
            {"type": "Feature", "id": row["id"], "geometry": shape, "properties": properties}
        )
    return out


def geometry(value: Any) -> Any:
    """The GeoJSON geometry in a stored location: a geometry, a Feature's, or a collection's."""
    if not isinstance(value, Mapping):
        return None
    kind = value.get("type")
    if kind == "Feature":
        return geometry(value.get("geometry"))
    if kind == "FeatureCollection":
        parts = [geometry(f) for f in value.get("features") or ()]
        return _collection([p for p in parts if p is not None])
    return value if isinstance(kind, str) else None


def _collection(parts: list[Any]) -> Any:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return {"type": "GeometryCollection", "geometries": parts}


def _thing_geometries(conn: Connection, things: list[int]) -> list[Any]:
    found: dict[int, list[Any]] = {}
    for chunk in chunks(list(dict.fromkeys(things))):
        stmt = (
            select(thing_locations.c.thing_id, locations.c.location)
            .join(locations, locations.c.id == thing_locations.c.location_id)
            .where(id_in(conn.dialect.name, thing_locations.c.thing_id, chunk))
            .order_by(thing_locations.c.thing_id, locations.c.id)
        )
        for thing, location in conn.execute(stmt):
            shape = geometry(location)
            if shape is not None:
                found.setdefault(thing, []).append(shape)
    return [_collection(found.get(thing, [])) for thing in things]


def _feature_geometries(conn: Connection, feature_ids: list[int]) -> list[Any]:
    found: dict[int, Any] = {}
    for chunk in chunks(list(dict.fromkeys(feature_ids))):
        stmt = select(features_of_interest.c.id, features_of_interest.c.feature).where(
            id_in(conn.dialect.name, features_of_interest.c.id, chunk)
        )
        found.update((fid, geometry(feature)) for fid, feature in conn.execute(stmt))
    return [found.get(fid) for fid in feature_ids]
