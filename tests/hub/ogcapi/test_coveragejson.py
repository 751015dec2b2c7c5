"""The CoverageJSON builders against the CoverageJSON 1.0 rules (OGC 21-069r2) and the
``covjson-pydantic`` models; :func:`check_document` is also what the EDR tests run on every
answer."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from covjson_pydantic.coverage import Coverage, CoverageCollection
from covjson_pydantic.parameter import Parameter

from hub.ogcapi import coveragejson as cj

T0 = datetime(2025, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)

PM25 = cj.ParameterInfo(
    name="pm2_5",
    label="PM2.5",
    description="PM2.5, instantaneous values.",
    property_id="http://dd.eionet.europa.eu/vocabulary/aq/pollutant/6001",
    property_label="PM2.5",
    property_description="Particulate matter up to 2.5 µm.",
    ucum="ug/m3",
    unit_label="microgram per cubic metre",
    unit_symbol="µg/m³",
)
INDEX = cj.ParameterInfo(
    name="aqi.mean",
    label="AQI (mean)",
    description="An index without a UCUM unit.",
    property_id="urn:auasu:def:observed-property:aqi",
    property_label="AQI",
    property_description="Air quality index.",
    ucum=None,
    unit_label="index",
    unit_symbol="{index}",
)


def _parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0)
    return moment


def check_parameter(param: dict[str, Any]) -> None:
    """Spec "Parameter Objects": type, observedProperty with an i18n label, unit with a label
    and/or symbol (UCUM type URI when an object)."""
    assert param["type"] == "Parameter"
    observed = param["observedProperty"]
    assert isinstance(observed["label"], dict) and observed["label"]["en"]
    assert isinstance(observed["id"], str) and observed["id"]
    unit = param["unit"]
    assert "label" in unit or "symbol" in unit
    if isinstance(unit.get("symbol"), dict):
        assert unit["symbol"]["type"] == cj.UCUM_TYPE
        assert unit["symbol"]["value"]
    Parameter.model_validate(param)


def check_coverage(coverage: dict[str, Any], params: dict[str, Any]) -> None:
    """A PointSeries Coverage by the spec's rules: single-valued x/y, a non-empty t axis of
    UTC instants in non-decreasing order, bounds of 2n, referencing for x/y and t, one float
    NdArray over t per range with shape [n], every range named in ``params``."""
    assert coverage["type"] == "Coverage"
    domain = coverage["domain"]
    assert domain["type"] == "Domain" and domain["domainType"] == "PointSeries"
    axes = domain["axes"]
    assert set(axes) == {"x", "y", "t"}
    assert len(axes["x"]["values"]) == 1 and len(axes["y"]["values"]) == 1
    assert -180 <= axes["x"]["values"][0] <= 180 and -90 <= axes["y"]["values"][0] <= 90
    times = [_parse_time(t) for t in axes["t"]["values"]]
    assert times, "an axis is never empty"
    assert times == sorted(times), "t values must be ordered monotonically"
    if "bounds" in axes["t"]:
        bounds = [_parse_time(t) for t in axes["t"]["bounds"]]
        assert len(bounds) == 2 * len(times)
        for i, start in enumerate(times):
            assert bounds[2 * i] == start and bounds[2 * i + 1] >= start
    referenced = {c for ref in domain["referencing"] for c in ref["coordinates"]}
    assert referenced == {"x", "y", "t"}
    systems = {ref["system"]["type"] for ref in domain["referencing"]}
    assert systems == {"GeographicCRS", "TemporalRS"}
    assert coverage["ranges"]
    for name, array in coverage["ranges"].items():
        assert name in params
        assert array["type"] == "NdArray" and array["dataType"] == "float"
        assert array["axisNames"] == ["t"] and array["shape"] == [len(times)]
        assert len(array["values"]) == len(times)
        for value in array["values"]:
            assert value is None or (isinstance(value, float) and math.isfinite(value))


def check_document(doc: dict[str, Any]) -> None:
    """Any Coverage or CoverageCollection the EDR provider answers: the spec's rules above, a
    JSON round trip (no NaN), and the covjson-pydantic models."""
    text = json.dumps(doc, allow_nan=False)
    if doc["type"] == "Coverage":
        for param in doc["parameters"].values():
            check_parameter(param)
        check_coverage(doc, doc["parameters"])
        Coverage.model_validate_json(text)
        return
    assert doc["type"] == "CoverageCollection"
    assert doc["domainType"] == "PointSeries"
    for param in doc["parameters"].values():
        check_parameter(param)
    used = set()
    for coverage in doc["coverages"]:
        assert "parameters" not in coverage
        check_coverage(coverage, doc["parameters"])
        used |= set(coverage["ranges"])
    assert used == set(doc["parameters"])
    CoverageCollection.model_validate_json(text)


def test_parameter_with_ucum_symbol() -> None:
    param = cj.parameter(PM25)
    check_parameter(param)
    assert param["id"] == "pm2_5"
    assert param["observedProperty"]["id"] == PM25.property_id
    assert param["observedProperty"]["label"] == {"en": "PM2.5"}
    assert param["unit"] == {
        "label": {"en": "microgram per cubic metre"},
        "symbol": {"value": "ug/m3", "type": "http://www.opengis.net/def/uom/UCUM/"},
    }


def test_parameter_without_ucum_code_keeps_the_plain_symbol() -> None:
    param = cj.parameter(INDEX)
    check_parameter(param)
    assert param["unit"]["symbol"] == "{index}"


def test_parameters_are_keyed_by_name_in_order() -> None:
    assert list(cj.parameters([PM25, INDEX])) == ["aqi.mean", "pm2_5"]


def test_format_time_is_utc_with_z() -> None:
    assert cj.format_time(T0) == "2025-03-01T00:00:00Z"
    assert cj.format_time(T0 + timedelta(microseconds=5)) == "2025-03-01T00:00:00.000005Z"
    astana = timezone(timedelta(hours=5))
    assert cj.format_time(datetime(2025, 3, 1, 5, tzinfo=astana)) == "2025-03-01T00:00:00Z"


def test_align_puts_parameters_on_the_union_of_times() -> None:
    aligned = cj.align(
        {
            "pm2_5": {(T0, T0): 1.0, (T0 + 2 * H, T0 + 2 * H): 3.0},
            "pm10": {(T0 + H, T0 + H): 20.0, (T0 + 2 * H, T0 + 2 * H): float("nan")},
        }
    )
    assert aligned.times == [
        "2025-03-01T00:00:00Z",
        "2025-03-01T01:00:00Z",
        "2025-03-01T02:00:00Z",
    ]
    assert aligned.bounds is None
    assert aligned.ranges == {"pm10": [None, 20.0, None], "pm2_5": [1.0, None, 3.0]}


def test_align_gives_bounds_when_an_observation_covers_a_period() -> None:
    day = timedelta(days=1)
    aligned = cj.align(
        {"pm2_5.mean": {(T0, T0 + H): 5.0, (T0, T0 + day): 7.0}, "pm2_5": {(T0, T0): 6.0}}
    )
    # (T0, T0) < (T0, T0 + H) < (T0, T0 + day): three points at the same start.
    assert aligned.times == ["2025-03-01T00:00:00Z"] * 3
    assert aligned.bounds == [
        "2025-03-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
        "2025-03-01T01:00:00Z",
        "2025-03-01T00:00:00Z",
        "2025-03-02T00:00:00Z",
    ]
    assert aligned.ranges == {"pm2_5": [6.0, None, None], "pm2_5.mean": [None, 5.0, 7.0]}


def _coverage(params: dict[str, Any] | None) -> dict[str, Any]:
    aligned = cj.align(
        {
            "pm2_5": {(T0 + i * H, T0 + i * H): float(i) for i in range(4)},
            "aqi.mean": {(T0 + H, T0 + 2 * H): 42.0},
        }
    )
    return cj.point_series(
        coverage_id="air-one",
        lon=71.43,
        lat=51.13,
        aligned=aligned,
        params=params,
        extra={"station": {"id": "air-one"}},
    )


def test_point_series_coverage_is_valid() -> None:
    params = cj.parameters([PM25, INDEX])
    coverage = _coverage(params)
    check_document(coverage)
    assert coverage["id"] == "air-one"
    assert coverage["domain"]["axes"]["x"] == {"values": [71.43]}
    assert coverage["ranges"]["pm2_5"]["values"] == [0.0, 1.0, None, 2.0, 3.0]
    assert coverage["ranges"]["aqi.mean"]["values"] == [None, None, 42.0, None, None]
    t_axis = coverage["domain"]["axes"]["t"]
    assert t_axis["values"][1:3] == ["2025-03-01T01:00:00Z"] * 2
    assert t_axis["bounds"][2:6] == [
        "2025-03-01T01:00:00Z",
        "2025-03-01T01:00:00Z",
        "2025-03-01T01:00:00Z",
        "2025-03-01T02:00:00Z",
    ]
    assert coverage["station"] == {"id": "air-one"}


def test_point_series_needs_a_time() -> None:
    with pytest.raises(ValueError, match="at least one time"):
        cj.point_series(
            coverage_id="x", lon=0, lat=0, aligned=cj.align({}), params=cj.parameters([PM25])
        )


def test_collection_carries_only_the_parameters_in_use() -> None:
    params = cj.parameters([PM25, INDEX])
    only_pm = cj.point_series(
        coverage_id="air-two",
        lon=71.44,
        lat=51.14,
        aligned=cj.align({"pm2_5": {(T0, T0): 9.5}}),
        params=None,
    )
    collection = cj.coverage_collection([only_pm], params)
    check_document(collection)
    assert list(collection["parameters"]) == ["pm2_5"]
    both = cj.coverage_collection([_coverage(None), only_pm], params)
    check_document(both)
    assert [c["id"] for c in both["coverages"]] == ["air-one", "air-two"]
    assert set(both["parameters"]) == {"pm2_5", "aqi.mean"}


def test_checker_rejects_broken_documents() -> None:
    """The checker itself bites: a shape mismatch and a decreasing t axis are refused."""
    params = cj.parameters([PM25, INDEX])
    broken = _coverage(params)
    broken["ranges"]["pm2_5"]["shape"] = [3]
    with pytest.raises(AssertionError):
        check_document(broken)
    backwards = _coverage(params)
    backwards["domain"]["axes"]["t"]["values"].reverse()
    with pytest.raises(AssertionError):
        check_document(backwards)
