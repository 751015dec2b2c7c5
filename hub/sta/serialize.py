"""Rows of the store as SensorThings API 1.1 JSON (18-088 §8; ``sta.md`` §1.2).

Each entity type has one getter per STA property, reading the columns named in
:mod:`hub.sta.columns` (the store keeps STA names and shapes, so most getters are one column).
Properties the store does not hold (``Observation/validTime``), (Multi)Datastream time extents
that are null and observed areas of streams without located features are omitted. Times are
ISO 8601 in UTC with ``Z``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.sta.entities import EntityType, entity_by_name
from hub.store.queries import Extent

# A getter may return ABSENT: the property is left out of the entity.
ABSENT: Any = object()

Row = Mapping[str, Any]
Getter = Callable[[Row, "Extras"], Any]


class Extras:
    """Values that are not columns of the row: the (Multi)Datastream time extents and
    observed areas.

    ``extent`` reads one Datastream's; ``batch`` (optional) reads many in one query, and
    :meth:`prefetch` uses it before a page of Datastreams is written, so a page costs one query
    rather than one per row. ``multi_extent``/``multi_batch`` do the same for MultiDatastreams;
    without ``multi_extent`` their extents are left out. ``observed_areas(ids, multi)``
    (optional, :func:`hub.sta.observed_area.observed_areas`) reads the observedArea of many
    streams; without it observedArea is left out.

    :meth:`note_page` announces a page: the first extent or area asked of one of its streams
    is read for the whole page, and what ``$select`` leaves out is never read.
    """

    def __init__(
        self,
        extent: Callable[[int], Extent],
        batch: Callable[[Sequence[int]], Mapping[int, Extent]] | None = None,
        multi_extent: Callable[[int], Extent] | None = None,
        multi_batch: Callable[[Sequence[int]], Mapping[int, Extent]] | None = None,
        *,
        observed_areas: Callable[[Sequence[int], bool], Mapping[int, Any]] | None = None,
        hub_root: str = "",
    ) -> None:
        # The hub's base URL (the service root without "/v1.1"): provenance links start there.
        self.hub_root = hub_root
        self.extent = extent
        self.batch = batch
        self.multi_extent = multi_extent
        self.multi_batch = multi_batch
        self.observed_areas = observed_areas
        self._cache: dict[tuple[bool, int], Extent] = {}
        self._areas: dict[tuple[bool, int], Any] = {}
        # The streams of the page being written, per kind (see note_page); dicts for order.
        self._page: dict[bool, dict[int, None]] = {False: {}, True: {}}
        self._area_page: dict[bool, dict[int, None]] = {False: {}, True: {}}

    def extent_of(self, stream_id: int, *, multi: bool = False) -> Extent:
        """The extent of Datastream (``multi``: MultiDatastream) ``stream_id``."""
        key = (multi, stream_id)
        if key not in self._cache and stream_id in self._page[multi]:
            self.prefetch(self._page[multi], multi=multi)
            self._page[multi] = {}
        if key not in self._cache:
            read = self.multi_extent if multi else self.extent
            self._cache[key] = _EMPTY if read is None else read(stream_id)
        return self._cache[key]

    def prefetch(self, stream_ids: Iterable[int], *, multi: bool = False) -> None:
        """Read the extents of ``stream_ids`` not read yet, in one go when possible."""
        missing = [s for s in dict.fromkeys(stream_ids) if (multi, s) not in self._cache]
        batch = self.multi_batch if multi else self.batch
        if not missing or batch is None:
            return
        found = batch(missing)
        for stream in missing:
            self._cache[(multi, stream)] = found.get(stream, _EMPTY)

    def note_page(self, stream_ids: Iterable[int], *, multi: bool = False) -> None:
        """Announce the streams of a page about to be written (see the class)."""
        page = dict.fromkeys(stream_ids)
        self._page[multi] = page
        self._area_page[multi] = page

    def area_of(self, stream_id: int, *, multi: bool = False) -> Any:
        """The observedArea (GeoJSON) of Datastream (``multi``: MultiDatastream)
        ``stream_id``; None when it has none or no reader was given."""
        key = (multi, stream_id)
        if key not in self._areas:
            if self.observed_areas is None:
                return None
            page = self._area_page[multi]
            wanted = [s for s in page if (multi, s) not in self._areas]
            if stream_id in page:
                self._area_page[multi] = {}
            else:
                wanted = [stream_id]
            found = self.observed_areas(wanted, multi)
            for stream in wanted:
                self._areas[(multi, stream)] = found.get(stream)
        return self._areas[key]


_EMPTY = Extent(None, None, None, None)


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 instant in UTC with ``Z`` (None stays None)."""
    if value is None:
        return None
    return _iso(value)


# Observations of many Datastreams share their times (a page in time order holds each instant
# once per stream), and formatting costs more than a cache lookup.
@functools.lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    if value.tzinfo is not UTC:  # the store hands out UTC already; others are converted
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def interval(start: datetime | None, end: datetime | None) -> str | None:
    """An instant when start == end, else ``start/end``; None when either is missing."""
    if start is None or end is None:
        return None
    if start is end or start == end:  # the store hands out one object for equal stored text
        return _iso(start)
    return f"{_iso(start)}/{_iso(end)}"


def _absent(_row: Row, _extras: Extras) -> Any:
    return ABSENT


def _col(name: str) -> Getter:
    return lambda row, _extras: row[name]


def _time(name: str) -> Getter:
    return lambda row, _extras: iso(row[name])


PROV_PARAMETER = "auasu:prov"


def _observation_parameters(row: Row, extras: Extras) -> Any:
    """An Observation's parameters, with a pointer to the signed provenance record that binds
    its current value (provenance.md §5.5) when it has one: the record's URL, its index in the
    hub's log and the observation's leaf in the record's batch tree."""
    parameters = row["parameters"]
    entry = row.get("prov_entry")
    if entry is None:
        return parameters
    pointer = {
        "record": f"{extras.hub_root}/prov/records/{entry}",
        "log_index": entry,
        "batch_index": row["prov_leaf"],
    }
    return {**(parameters or {}), PROV_PARAMETER: pointer}


def _extent(which: str, *, multi: bool = False) -> Getter:
    def get(row: Row, extras: Extras) -> Any:
        extent = extras.extent_of(row["id"], multi=multi)
        if which == "phenomenon":
            value = interval(extent.phenomenon_start, extent.phenomenon_end)
        else:
            value = interval(extent.result_start, extent.result_end)
        return ABSENT if value is None else value

    return get


def _observed_area(*, multi: bool = False) -> Getter:
    def get(row: Row, extras: Extras) -> Any:
        area = extras.area_of(row["id"], multi=multi)
        return ABSENT if area is None else area

    return get


def _phenomenon(row: Row, _extras: Extras) -> Any:
    return interval(row["phenomenon_time_start"], row["phenomenon_time_end"])


def _preferring(json_column: str, column: str) -> Getter:
    """``json_column`` when the row has it and it is not null, else ``column``.

    Results and quality flags the float/short-string columns cannot hold (text, booleans,
    objects, arrays) live in JSON twins; rows from a store without the twin read ``column``.
    """

    def get(row: Row, _extras: Extras) -> Any:
        # try/[] rather than .get: a row mapping's .get is the slow generic Mapping one, and
        # this runs for every observation written.
        try:
            value = row[json_column]
        except KeyError:
            value = None
        return row[column] if value is None else value

    return get


def _valid_time(row: Row, _extras: Extras) -> Any:
    # Held only by stores with the valid_time columns; left out when absent or null.
    try:
        start = row["valid_time_start"]
    except KeyError:
        return ABSENT
    if start is None:  # the common case: no valid time, and no second lookup
        return ABSENT
    value = interval(start, row.get("valid_time_end"))
    return ABSENT if value is None else value


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
        "observedArea": _observed_area(),
    },
    "MultiDatastream": {
        **_COMMON,
        "unitOfMeasurements": _col("unit_of_measurements"),
        "observationType": _col("observation_type"),
        "multiObservationDataTypes": _col("multi_observation_data_types"),
        "phenomenonTime": _extent("phenomenon", multi=True),
        "resultTime": _extent("result", multi=True),
        "observedArea": _observed_area(multi=True),
    },
    "Sensor": {**_ENCODED, "metadata": _col("metadata")},
    "ObservedProperty": {**_COMMON, "definition": _col("definition")},
    "Observation": {
        "phenomenonTime": _phenomenon,
        "resultTime": _time("result_time"),
        "result": _preferring("result_json", "result"),
        "resultQuality": _preferring("result_quality_json", "result_quality"),
        "validTime": _valid_time,
        "parameters": _observation_parameters,
    },
    "FeatureOfInterest": {**_ENCODED, "feature": _col("feature")},
}


# Read per page of streams (Extras.note_page), each only when written.
_EXTENT_PROPERTIES = frozenset({"phenomenonTime", "resultTime", "observedArea"})
_STREAMS = frozenset({"Datastream", "MultiDatastream"})

# An Observation belongs to a Datastream or to a MultiDatastream, never both
# (ck_observation_stream): only the navigation link that leads somewhere is written. FROST
# writes both, and the other one answers an empty result; a link that is known to be dead
# tells a client nothing and makes generic crawlers follow it for every observation.
_LINK_KEYS = {
    ("Observation", "Datastream"): "datastream_id",
    ("Observation", "MultiDatastream"): "multi_datastream_id",
}


def needs_extents(entity: EntityType, select: Sequence[str]) -> bool:
    """Whether writing ``entity`` rows under ``$select`` reads (Multi)Datastream extents or
    observed areas."""
    return entity.name in _STREAMS and (not select or not _EXTENT_PROPERTIES.isdisjoint(select))


def prefetch_extents(extras: Extras, entity: EntityType, ids: Iterable[int]) -> None:
    """Announce a page of ``entity`` rows (Datastreams or MultiDatastreams): the extents and
    observed areas its rows ask for are read for the whole page at once."""
    extras.note_page(ids, multi=entity.name == "MultiDatastream")


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


@dataclass(frozen=True, slots=True)
class _Shape:
    """What ``entity_json`` writes for one entity type under one ``$select``, worked out once:
    whether the control information appears, the property getters, the navigation names."""

    control: bool
    getters: tuple[tuple[str, Getter], ...]
    # ("<name>@iot.navigationLink", the row's key column that must be non-NULL for the link
    # to be written or "", the text after the selfLink: "/<name>"): built once, not per row.
    navigations: tuple[tuple[str, str, str], ...]


@functools.lru_cache(maxsize=512)
def _shape(entity_name: str, select: tuple[str, ...]) -> _Shape:
    # Keyed by name: hashing a whole EntityType on every row would cost more than it saves.
    entity = entity_by_name(entity_name)
    wanted = set(select)
    everything = not select
    getters = tuple(
        (spec.name, GETTERS[entity.name].get(spec.name, _absent))
        for spec in entity.properties
        if spec.name != "id" and (everything or spec.name in wanted)
    )
    navigations = tuple(
        (
            nav.name + "@iot.navigationLink",
            _LINK_KEYS.get((entity.name, nav.name), ""),
            "/" + nav.name,
        )
        for nav in entity.navigations
        if everything or nav.name in wanted
    )
    return _Shape(everything or "id" in wanted, getters, navigations)


def entity_json(
    entity: EntityType, row: Row, root: str, select: tuple[str, ...], extras: Extras
) -> dict[str, Any]:
    """One entity: control information, then its properties, then its navigation links.

    With ``$select``, only the listed properties and navigation links appear, and ``@iot.id``
    with ``@iot.selfLink`` only when ``id`` is listed (as FROST-Server does).
    """
    shape = _shape(entity.name, select)
    link = f"{root}/{entity.set_name}({row['id']})"
    out: dict[str, Any] = {}
    if shape.control:
        out["@iot.id"] = row["id"]
        out["@iot.selfLink"] = link
    for name, getter in shape.getters:
        value = getter(row, extras)
        if value is not ABSENT:
            out[name] = value
    for field, key, suffix in shape.navigations:
        if key:
            try:
                if row[key] is None:
                    continue
            except KeyError:
                continue
        out[field] = link + suffix
    return out


def raw_value(value: Any) -> str:
    """The text of ``$value``: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
