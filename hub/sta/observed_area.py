"""``observedArea`` of many (Multi)Datastreams in one query (18-088 §8.2.4, ``sta.md`` §1.2).

A Datastream's observedArea is "the spatial bounding box of the spatial extent of all
FeaturesOfInterest that belong to the Observations associated with this Datastream". The store
keeps which features each stream has observations of in ``stream_features`` (maintained by every
observation insert, see :mod:`hub.store.migration_v4`), so a page of streams -- the map query's
4,000 expanded Datastreams -- is one statement that reads a few index entries per stream, never
their observations.

The box is computed with shapely from the features' stored GeoJSON, the same way on both stores
(each distinct feature is parsed once per call), and written as GeoJSON the way PostGIS
``ST_Envelope`` shapes a box: a ``Point`` when every feature is the same point, a
``LineString`` when the box has no width or no height (a zero-area polygon is not a valid
geometry), else a ``Polygon`` whose ring runs counterclockwise (RFC 7946 §3.1.6). A stream
without observations, or whose features have no usable coordinates, has none (the property is
left out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import shapely
from shapely.errors import ShapelyError
from sqlalchemy import Connection, Text, cast, select

from hub.sta.idlist import chunks, id_in
from hub.store.schema import features_of_interest, stream_features

Box = tuple[float, float, float, float]
"""min x, min y, max x, max y."""


def observed_areas(
    conn: Connection, ids: Sequence[int], *, multi: bool = False
) -> dict[int, dict[str, Any]]:
    """The observedArea (GeoJSON) of each Datastream (``multi``: MultiDatastream) in ``ids``
    that has one."""
    column = "multi_datastream_id" if multi else "datastream_id"
    pairs: Any = stream_features.c
    features: Any = features_of_interest.c
    boxes: dict[int, Box] = {}
    feature_boxes: dict[int, Box | None] = {}
    for chunk in chunks(list(dict.fromkeys(ids))):
        rows = conn.execute(
            select(
                pairs[column],
                features.id,
                # Text, not decoded JSON: each distinct feature is parsed once, by shapely,
                # however many streams share it.
                cast(features.feature, Text),
            )
            .join(features_of_interest, features.id == pairs.feature_of_interest_id)
            .where(id_in(conn.dialect.name, pairs[column], chunk))
        ).all()
        texts = {int(row[1]): row[2] for row in rows if int(row[1]) not in feature_boxes}
        feature_boxes.update(_feature_boxes(texts))
        for stream, feature, _text in rows:
            found = feature_boxes[int(feature)]
            if found is not None:
                stream = int(stream)
                boxes[stream] = _union(boxes[stream], found) if stream in boxes else found
    return {stream: box_geometry(box) for stream, box in boxes.items()}


def _feature_boxes(texts: dict[int, Any]) -> dict[int, Box | None]:
    """The bounding box of each feature's GeoJSON text; None for one without coordinates
    (empty, or not parseable)."""
    if not texts:
        return {}
    ids = list(texts)
    values = [text if isinstance(text, str) else None for text in texts.values()]
    try:
        # on_invalid="ignore": a feature shapely cannot read is left out, never an error.
        geometries = shapely.from_geojson(values, on_invalid="ignore")
    except ShapelyError:  # one bad text fails the whole array: go one by one
        geometries = [_parse(text) for text in values]
    found: dict[int, Box | None] = {}
    for feature, bounds in zip(ids, shapely.bounds(geometries).tolist(), strict=True):
        min_x, min_y, max_x, max_y = bounds
        usable = all(math.isfinite(value) for value in bounds)
        found[feature] = (min_x, min_y, max_x, max_y) if usable else None
    return found


def _parse(text: str | None) -> Any:
    try:
        return shapely.from_geojson(text, on_invalid="ignore")
    except ShapelyError:
        return None


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def box_geometry(box: Box) -> dict[str, Any]:
    """``box`` as GeoJSON, shaped as PostGIS ``ST_Envelope`` shapes it (see the module)."""
    min_x, min_y, max_x, max_y = box
    if min_x == max_x and min_y == max_y:
        return {"type": "Point", "coordinates": [min_x, min_y]}
    if min_x == max_x or min_y == max_y:
        return {"type": "LineString", "coordinates": [[min_x, min_y], [max_x, max_y]]}
    ring = [[min_x, min_y], [max_x, min_y], [max_x, max_y], [min_x, max_y], [min_x, min_y]]
    return {"type": "Polygon", "coordinates": [ring]}
