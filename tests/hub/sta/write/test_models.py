"""The write models and value readers on their own (no store)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.sta.write import values
from hub.sta.write.models import LENGTHS, column_length


@pytest.mark.parametrize(("table", "column", "length"), LENGTHS)
def test_model_lengths_are_the_schema_lengths(table: object, column: str, length: int) -> None:
    assert column_length(table, column) == length  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-03-01T00:00:00-0700", datetime(2015, 3, 1, 7, tzinfo=UTC)),
        ("2015-03-01T00:00:00-07:00", datetime(2015, 3, 1, 7, tzinfo=UTC)),
        ("2015-03-01T00:00:00Z", datetime(2015, 3, 1, tzinfo=UTC)),
        ("2015-03-01T00:00:00.123456789Z", datetime(2015, 3, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2015-03-01T06:00:00", datetime(2015, 3, 1, 6, tzinfo=UTC)),
    ],
)
def test_instants(text: str, expected: datetime) -> None:
    assert values.instant(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2015-02-30T00:00:00Z", "2015-03-01T00:00:00+25:00", "1" * 5000]
)
def test_bad_instants(text: str) -> None:
    with pytest.raises(ValueError):
        values.instant(text)


def test_results_split_between_the_columns() -> None:
    assert values.split_result(1.5) == values.StoredResult(1.5, None)
    assert values.split_result(42) == values.StoredResult(42.0, 42)
    assert values.split_result(2**60) == values.StoredResult(None, 2**60)
    assert values.split_result(True) == values.StoredResult(None, True)
    assert values.split_result("x") == values.StoredResult(None, "x")
    assert values.split_quality("ok", 64) == values.StoredQuality("ok", None)
    assert values.split_quality("x" * 65, 64) == values.StoredQuality(None, "x" * 65)
    assert values.split_quality({"a": 1}, 64) == values.StoredQuality(None, {"a": 1})


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [1, 2]},
        {"type": "Point", "coordinates": [1, 2, 3]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
        {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]},
    ],
)
def test_geometries(geometry: dict[str, object]) -> None:
    assert values.geometry(geometry) == geometry


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {"type": "Point", "coordinates": [1, float("inf")]},
        {"type": "Point", "coordinates": [True, 2]},
        {"type": "Point", "coordinates": "1 2"},
        {"type": "Circle", "coordinates": [1, 2]},
        {"type": "Point", "coordinates": [1, 2], "properties": {}},
        {"type": "GeometryCollection"},
        {"type": "Polygon", "coordinates": []},
    ],
)
def test_bad_geometries(geometry: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        values.geometry(geometry)
