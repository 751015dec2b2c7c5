"""Rows of the store as SensorThings API 1.1 JSON (18-088 §8; ``sta.md`` §1.2).

Each entity type has one getter per STA property, reading the columns named in
:mod:`hub.sta.columns` (the store keeps STA names and shapes, so most getters are one column).
Properties the store does not hold (``Datastream/observedArea``, ``Observation/validTime``) and
Datastream time extents that are null are omitted. Times are ISO 8601 in UTC with ``Z``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from hub.sta.columns import TABLES
from hub.sta.entities import EntityType
from hub.store.queries import Extent

# A getter may return ABSENT: the property is left out of the entity.
ABSENT: Any = object()

Row = Mapping[str, Any]
Getter = Callable[[Row, "Extras"], Any]


class Extras:
    """Values that are not columns of the row: the Datastream time extents (read lazily)."""

    def __init__(self, extent: Callable[[int], Extent]) -> None:
        self.extent = extent
        self._cache: dict[int, Extent] = {}

    def extent_of(self, datastream_id: int) -> Extent:
        if datastream_id not in self._cache:
            self._cache[datastream_id] = self.extent(datastream_id)
        return self._cache[datastream_id]


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 instant in UTC with ``Z`` (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def interval(start: datetime | None, end: datetime | None) -> str | None:
    """An instant when start == end, else ``start/end``; None when either is missing."""
    if start is None or end is None:
        return None
    if start == end:
        return iso(start)
    return f"{iso(start)}/{iso(end)}"


def _col(name: str) -> Getter:
    return lambda row, _extras: row[name]


def _time(name: str) -> Getter:
    return lambda row, _extras: iso(row[name])


def _extent(which: str) -> Getter:
    def get(row: Row, extras: Extras) -> Any:
        extent = extras.extent_of(row["id"])
        if which == "phenomenon":
            value = interval(extent.phenomenon_start, extent.phenomenon_end)
        else:
            value = interval(extent.result_start, extent.result_end)
        return ABSENT if value is None else value

    return get


def _phenomenon(row: Row, _extras: Extras) -> Any:
    return interval(row["phenomenon_time_start"], row["phenomenon_time_end"])


_COMMON: dict[str, Getter] = {
    "name": _col("name"),
    "description": _col("description"),
    "properties": _col("properties"),
}
_ENCODED = {**_COMMON, "encodingType": _col("encoding_type")}

GETTERS: dict[str, dict[str, Getter]] = {
    "Thing": _COMMON,
    "Location": {**_ENCODED, "location": _col("location")},
    "HistoricalLocation": {"time": _time("time")},
    "Datastream": {
        **_COMMON,
        "unitOfMeasurement": _col("unit"),
        "observationType": _col("observation_type"),
        "phenomenonTime": _extent("phenomenon"),
        "resultTime": _extent("result"),
    },
    "Sensor": {**_ENCODED, "metadata": _col("metadata")},
    "ObservedProperty": {**_COMMON, "definition": _col("definition")},
    "Observation": {
        "phenomenonTime": _phenomenon,
        "resultTime": _time("result_time"),
        "result": _col("result"),
        "resultQuality": _col("result_quality"),
        "parameters": _col("parameters"),
    },
    "FeatureOfInterest": {**_ENCODED, "feature": _col("feature")},
}


def served(entity: EntityType) -> bool:
    """Whether the store has a table for ``entity`` (MultiDatastreams: not yet)."""
    return entity.name in TABLES


def self_link(root: str, entity: EntityType, entity_id: int) -> str:
    return f"{root}/{entity.set_name}({entity_id})"


def property_value(entity: EntityType, name: str, row: Row, extras: Extras) -> Any:
    """One property of one row; ABSENT when the store does not hold it (or the extent is null)."""
    if name == "id":
        return row["id"]
    getter = GETTERS[entity.name].get(name)
    if getter is None:
        return ABSENT
    return getter(row, extras)


def entity_json(
    entity: EntityType, row: Row, root: str, select: tuple[str, ...], extras: Extras
) -> dict[str, Any]:
    """One entity: control information, then its properties, then its navigation links.

    With ``$select``, only the listed properties and navigation links appear, and ``@iot.id``
    with ``@iot.selfLink`` only when ``id`` is listed (as FROST-Server does).
    """
    wanted = set(select)
    everything = not select
    link = self_link(root, entity, row["id"])
    out: dict[str, Any] = {}
    if everything or "id" in wanted:
        out["@iot.id"] = row["id"]
        out["@iot.selfLink"] = link
    for spec in entity.properties:
        if spec.name == "id" or not (everything or spec.name in wanted):
            continue
        value = property_value(entity, spec.name, row, extras)
        if value is not ABSENT:
            out[spec.name] = value
    for nav in entity.navigations:
        if (everything or nav.name in wanted) and served(nav.target):
            out[f"{nav.name}@iot.navigationLink"] = f"{link}/{nav.name}"
    return out


def raw_value(value: Any) -> str:
    """The text of ``$value``: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
