"""CoverageJSON documents for the EDR station series (OGC 21-069r2, CoverageJSON 1.0).

What the hub answers to EDR ``locations/{id}``, ``position``, ``radius`` and ``area`` queries
(:mod:`hub.ogcapi.edr`): one ``PointSeries`` Coverage per station, several of them in a
``CoverageCollection``. The builders return plain JSON-ready dicts rather than pydantic models
because one station-month is ~2,200 values per parameter and a model per value would cost more
than the query; ``tests/hub/ogcapi/test_coveragejson.py`` checks the structure against the
specification's rules and the ``covjson-pydantic`` models instead.

Conventions (also stated in the collection's description):

* x/y are WGS 84 longitude/latitude (CRS84); t values are ISO 8601 UTC instants ending in ``Z``.
* An observation sits on the t axis at the START of its phenomenon time; when any observation of
  the coverage covers an interval (an hourly mean), the t axis carries ``bounds`` [start, end]
  for every point (an instant's bounds are [t, t]). A stream that mixes period lengths (HJ 212
  minute, hourly and daily means share one mean stream) gives one domain point per distinct
  (start, end): the axis is then non-decreasing rather than strictly increasing, and the bounds
  tell the points apart.
* Ranges are float NdArrays over ``t``; ``null`` where a parameter has no value at a point and
  where a stored value is NaN or infinite (JSON has no such numbers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
UCUM_TYPE: Final = "http://www.opengis.net/def/uom/UCUM/"
MEDIA_TYPE: Final = "application/vnd.cov+json"

# The referencing every domain carries: lon/lat in CRS84, t on the Gregorian calendar (UTC).
REFERENCING: Final[tuple[dict[str, Any], ...]] = (
    {"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}},
    {"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": "Gregorian"}},
)

# A domain point: the (start, end) of an observation's phenomenon time (end == start: instant).
TimeKey = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class ParameterInfo:
    """What a CoverageJSON Parameter says about one EDR parameter (a station-series quantity)."""

    name: str  # the EDR parameter-name, e.g. 'pm2_5' or 'pm2_5.mean'
    label: str  # short, e.g. 'PM2.5 (hourly ... mean)'
    description: str
    property_id: str  # the observed property's definition URI
    property_label: str
    property_description: str
    ucum: str | None  # the unit's UCUM code, e.g. 'ug/m3'
    unit_label: str  # e.g. 'microgram per cubic metre'
    unit_symbol: str  # human symbol, e.g. 'µg/m³'


def parameter(info: ParameterInfo) -> dict[str, Any]:
    """The CoverageJSON Parameter object for ``info`` (spec §6.3 / "Parameter Objects")."""
    unit: dict[str, Any] = {"label": {"en": info.unit_label}}
    if info.ucum:
        unit["symbol"] = {"value": info.ucum, "type": UCUM_TYPE}
    else:
        unit["symbol"] = info.unit_symbol
    return {
        "type": "Parameter",
        "id": info.name,
        "label": {"en": info.label},
        "description": {"en": info.description},
        "observedProperty": {
            "id": info.property_id,
            "label": {"en": info.property_label},
            "description": {"en": info.property_description},
        },
        "unit": unit,
    }


def parameters(infos: Iterable[ParameterInfo]) -> dict[str, dict[str, Any]]:
    """A ``parameters`` member: Parameter objects by parameter name, in name order."""
    return {info.name: parameter(info) for info in sorted(infos, key=lambda i: i.name)}


def format_time(moment: datetime) -> str:
    """``moment`` as an ISO 8601 UTC instant ending in ``Z`` (microseconds only when set)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    text = moment.isoformat()
    # isoformat() of a UTC datetime always ends in "+00:00"; slicing is cheaper than strftime.
    return text[:-6] + "Z"


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class Aligned:
    """Several parameters' series on one shared t axis (one station's domain)."""

    times: list[str]
    bounds: list[str] | None  # 2 per time when any point is an interval, else None
    ranges: dict[str, list[float | None]]


def align(series: Mapping[str, Mapping[TimeKey, float | None]]) -> Aligned:
    """Put each parameter's values (by (start, end)) on the union of their time keys, sorted by
    (start, end); a parameter without a value at a key gets ``None`` there, as do NaN/inf."""
    keys = sorted({key for values in series.values() for key in values})
    ranges = {
        name: [_number(values.get(key)) for key in keys] for name, values in sorted(series.items())
    }
    starts = [format_time(start) for start, _ in keys]
    bounds: list[str] | None = None
    if any(start != end for start, end in keys):
        bounds = []
        for (start, end), text in zip(keys, starts, strict=True):
            bounds.append(text)
            bounds.append(text if end == start else format_time(end))
    return Aligned(starts, bounds, ranges)


def point_series(
    *,
    coverage_id: str,
    lon: float,
    lat: float,
    aligned: Aligned,
    params: Mapping[str, dict[str, Any]] | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``PointSeries`` Coverage at (lon, lat). ``params`` is its ``parameters`` member, or
    None inside a collection that carries them; ``extra`` adds members (spec: a coverage MAY
    have any members), e.g. the station's name."""
    if not aligned.times:
        raise ValueError("a PointSeries needs at least one time (an axis is never empty)")
    t_axis: dict[str, Any] = {"values": aligned.times}
    if aligned.bounds is not None:
        t_axis["bounds"] = aligned.bounds
    count = len(aligned.times)
    coverage: dict[str, Any] = {
        "type": "Coverage",
        "id": coverage_id,
        "domain": {
            "type": "Domain",
            "domainType": "PointSeries",
            "axes": {"x": {"values": [lon]}, "y": {"values": [lat]}, "t": t_axis},
            "referencing": [dict(ref) for ref in REFERENCING],
        },
    }
    if params is not None:
        coverage["parameters"] = {name: params[name] for name in aligned.ranges}
    coverage["ranges"] = {
        name: {
            "type": "NdArray",
            "dataType": "float",
            "axisNames": ["t"],
            "shape": [count],
            "values": values,
        }
        for name, values in aligned.ranges.items()
    }
    if extra:
        coverage.update(extra)
    return coverage


def coverage_collection(
    coverages: Sequence[dict[str, Any]], params: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """A CoverageCollection of PointSeries coverages built with ``params=None``; its
    ``parameters`` are those of ``params`` that some coverage has a range for."""
    used = {name for coverage in coverages for name in coverage["ranges"]}
    return {
        "type": "CoverageCollection",
        "domainType": "PointSeries",
        "parameters": {name: params[name] for name in sorted(used)},
        "referencing": [dict(ref) for ref in REFERENCING],
        "coverages": list(coverages),
    }
