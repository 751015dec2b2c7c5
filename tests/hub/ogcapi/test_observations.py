"""The ``observations`` collection on both stores: every parameter checked against the store.

The provider is driven directly (``query``/``get`` with the arguments pygeoapi passes) and the
answers compared with :func:`tests.hub.ogcapi.featureworld.truth`, a plain read of the store;
a few requests go through the hub's app to check what pygeoapi adds (400s, CSV).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pygeoapi.provider.base import ProviderInvalidQueryError, ProviderItemNotFoundError
from sqlalchemy import event, func, select

from hub.ogcapi import registry
from hub.ogcapi.providers import cqlparse, paging
from hub.ogcapi.providers.observations import ObservationsProvider
from hub.store.schema import datastreams, observations, stations
from tests.hub.ogcapi.conftest import STORES
from tests.hub.ogcapi.featureworld import (
    HOUR,
    T0,
    FeatureWorld,
    build_feature_world,
    feature_world_at,
    iso,
    truth,
    walk,
)

Row = dict[str, Any]


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeatureWorld]:
    with feature_world_at(request.param, tmp_path_factory.mktemp("observations")) as built:
        yield built


@pytest.fixture(scope="module")
def rows(world: FeatureWorld) -> list[Row]:
    return truth(world.store)


@pytest.fixture
def provider(world: FeatureWorld) -> ObservationsProvider:
    return ObservationsProvider(ObservationsProvider.provider_config(world.key))


def ids(features: list[dict[str, Any]]) -> list[int]:
    return [f["id"] for f in features]


def expected(rows: list[Row], keep: Callable[[Row], bool]) -> list[int]:
    return [r["id"] for r in rows if keep(r)]


def test_every_page_matches_the_store(provider: ObservationsProvider, rows: list[Row]) -> None:
    features = walk(provider, limit=9)
    assert ids(features) == [r["id"] for r in rows]
    assert len(rows) == 70
    for feature, row in zip(features, rows, strict=True):
        assert feature["geometry"] == {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
        assert feature["properties"] == {
            "station": row["station"],
            "observed_property": row["observed_property"],
            "value": row["value"],
            "unit": row["unit"],
            "phenomenon_time_start": iso(row["start"]),
            "phenomenon_time_end": iso(row["end"]),
            "result_time": iso(row["result_time"]),
            "quality": row["quality"],
            "aggregation": row["aggregation"],
            "datastream": row["datastream"],
        }
        assert "links" not in feature  # no provenance records yet


def test_number_matched(provider: ObservationsProvider, rows: list[Row]) -> None:
    first = provider.query(offset=0, limit=10)
    assert first["numberMatched"] == len(rows) and first["numberReturned"] == 10
    last = provider.query(offset=65, limit=10)
    assert last["numberMatched"] == len(rows) and ids(last["features"]) == expected(
        rows[65:], lambda r: True
    )
    assert provider.query(offset=100, limit=10)["features"] == []
    hits = provider.query(resulttype="hits", properties=[("station", "bayterek")])
    assert hits["features"] == [] and hits["numberMatched"] == 42


def test_station_datastreams_only(world: FeatureWorld, provider: ObservationsProvider) -> None:
    everything = walk(provider, limit=50)
    assert world.foreign_stream not in {f["properties"]["datastream"] for f in everything}
    found = provider.query(properties=[("datastream", str(world.foreign_stream))])
    assert found["features"] == [] and found["numberMatched"] == 0
    with world.store.engine.connect() as conn:
        foreign = conn.execute(
            select(observations.c.id).where(observations.c.datastream_id == world.foreign_stream)
        ).scalars()
        for observation in foreign:
            with pytest.raises(ProviderItemNotFoundError):
                provider.get(str(observation))


def test_one_item(provider: ObservationsProvider, rows: list[Row]) -> None:
    for row in (rows[0], rows[40], rows[-1]):
        feature = provider.get(str(row["id"]))
        assert feature["id"] == row["id"]
        assert feature["properties"]["value"] == row["value"]
        assert feature["geometry"]["coordinates"] == [row["lon"], row["lat"]]
    for missing in ("0", "-1", "abc", "999999999", "1.5", "9" * 30, "1 OR 1=1"):
        with pytest.raises(ProviderItemNotFoundError):
            provider.get(missing)


START: Callable[[Row], datetime] = lambda r: r["start"]  # noqa: E731

DATETIMES: list[tuple[str, Callable[[Row], bool]]] = [
    ("2025-03-01T05:00:00Z", lambda r: START(r) == T0 + 5 * HOUR),
    ("2025-03-01T10:00:00+05:00", lambda r: START(r) == T0 + 5 * HOUR),
    (
        "2025-03-01T05:00:00Z/2025-03-01T08:00:00Z",
        lambda r: T0 + 5 * HOUR <= START(r) <= T0 + 8 * HOUR,
    ),
    ("../2025-03-01T03:00:00Z", lambda r: START(r) <= T0 + 3 * HOUR),
    ("/2025-03-01T03:00:00Z", lambda r: START(r) <= T0 + 3 * HOUR),
    ("2025-03-01T20:00:00Z/..", lambda r: START(r) >= T0 + 20 * HOUR),
    ("2025-03-01T20:00:00Z/", lambda r: START(r) >= T0 + 20 * HOUR),
    ("../..", lambda r: True),
    ("2025-03-01", lambda r: T0 <= START(r) < T0 + 24 * HOUR),
    ("2025-03-02", lambda r: False),
    ("2025-02-20/2025-03-01", lambda r: START(r) < T0 + 24 * HOUR),
]


@pytest.mark.parametrize(("text", "keep"), DATETIMES, ids=[d[0] for d in DATETIMES])
def test_datetime(
    provider: ObservationsProvider, rows: list[Row], text: str, keep: Callable[[Row], bool]
) -> None:
    assert ids(walk(provider, datetime_=text)) == expected(rows, keep)
    assert provider.query(datetime_=text, resulttype="hits")["numberMatched"] == len(
        expected(rows, keep)
    )


@pytest.mark.parametrize(
    "text", ["yesterday", "2025-13-01T00:00:00Z", "a/b/c", "..", "", "2025-03-03/2025-03-01"]
)
def test_bad_datetime_is_refused(provider: ObservationsProvider, text: str) -> None:
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(datetime_=text)


BOXES: list[tuple[list[float], set[str]]] = [
    ([71.40, 51.12, 71.44, 51.14], {"bayterek", "khan-shatyr"}),
    ([71.0, 50.0, 72.0, 52.0], {"bayterek", "khan-shatyr", "airport", "yesil-central"}),
    ([10.0, 10.0, 11.0, 11.0], set()),
    ([170.0, 51.0, 71.41, 52.0], {"khan-shatyr"}),  # across the antimeridian
]


@pytest.mark.parametrize(("box", "stations"), BOXES)
def test_bbox(
    provider: ObservationsProvider, rows: list[Row], box: list[float], stations: set[str]
) -> None:
    found = walk(provider, bbox=box)
    assert ids(found) == expected(rows, lambda r: r["station"] in stations)


def test_bbox_in_3d_is_refused(provider: ObservationsProvider) -> None:
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(bbox=[71.0, 50.0, 0.0, 72.0, 52.0, 10.0])


PROPERTY_FILTERS: list[tuple[str, str, Callable[[Row], bool]]] = [
    ("station", "airport", lambda r: r["station"] == "airport"),
    ("observed_property", "pm10", lambda r: r["observed_property"] == "pm10"),
    ("aggregation", "instant", lambda r: r["aggregation"] == "instant"),
    ("quality", "invalid:maintenance", lambda r: r["quality"] == "invalid:maintenance"),
    ("value", "55", lambda r: r["value"] == 55.0),
    ("unit", "pH", lambda r: r["unit"] == "pH"),
    ("result_time", "2025-03-01T00:00:00Z", lambda r: r["result_time"] == T0),
    ("phenomenon_time_end", "2025-03-01T03:00:00Z", lambda r: r["end"] == T0 + 3 * HOUR),
]


@pytest.mark.parametrize(("name", "value", "keep"), PROPERTY_FILTERS)
def test_property_equality_filters(
    provider: ObservationsProvider,
    rows: list[Row],
    name: str,
    value: str,
    keep: Callable[[Row], bool],
) -> None:
    want = expected(rows, keep)
    assert want, "the case must select something"
    assert ids(walk(provider, properties=[(name, value)])) == want


def test_property_filters_combine(provider: ObservationsProvider, rows: list[Row]) -> None:
    found = walk(provider, properties=[("station", "bayterek"), ("aggregation", "mean")])
    assert ids(found) == expected(
        rows, lambda r: r["station"] == "bayterek" and r["aggregation"] == "mean"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("nonsense", "1"),
        ("value", "abc"),
        ("datastream", "1.5"),
        ("result_time", "x"),
        ("value", "nan"),
        ("station", "a\x00b"),
    ],
)
def test_bad_property_filters_are_refused(
    provider: ObservationsProvider, name: str, value: str
) -> None:
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(properties=[(name, value)])


def _sorted(rows: list[Row], key: str, descending: bool) -> list[int]:
    present = [r for r in rows if r[key] is not None]
    absent = [r for r in rows if r[key] is None]
    # Python's sort is stable: ties keep the default order, as the SQL tiebreak does.
    # reverse=True keeps ties in their original order too
    ordered = sorted(present, key=lambda r: r[key], reverse=descending)
    return [r["id"] for r in ordered + absent]


@pytest.mark.parametrize(
    ("field", "key", "descending"),
    [
        ("value", "value", True),
        ("value", "value", False),
        ("result_time", "result_time", False),
        ("result_time", "result_time", True),
        ("phenomenon_time_start", "start", True),
        ("station", "station", False),
        ("observed_property", "observed_property", True),
    ],
)
def test_sortby(
    provider: ObservationsProvider, rows: list[Row], field: str, key: str, descending: bool
) -> None:
    sortby = [{"property": field, "order": "-" if descending else "+"}]
    assert ids(walk(provider, sortby=sortby, limit=11)) == _sorted(rows, key, descending)


def test_sortby_two_keys(provider: ObservationsProvider, rows: list[Row]) -> None:
    sortby = [{"property": "station", "order": "-"}, {"property": "value", "order": "+"}]
    want = sorted(rows, key=lambda r: r["value"])
    want = sorted(want, key=lambda r: r["station"], reverse=True)
    assert ids(walk(provider, sortby=sortby)) == [r["id"] for r in want]


def test_unknown_sortby_is_refused(provider: ObservationsProvider) -> None:
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(sortby=[{"property": "nope", "order": "+"}])


def test_properties_and_skip_geometry(provider: ObservationsProvider, rows: list[Row]) -> None:
    page = provider.query(limit=5, select_properties=["value", "station"], skip_geometry=True)
    for feature, row in zip(page["features"], rows, strict=False):
        assert feature["geometry"] is None
        assert feature["properties"] == {"station": row["station"], "value": row["value"]}
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(select_properties=["value", "nope"])


@pytest.mark.parametrize(
    "args",
    [
        {"q": "pm"},
        {"resulttype": "everything"},
        {"offset": -1},
        {"limit": -5},
    ],
)
def test_unsupported_arguments_are_refused(provider: ObservationsProvider, args: Any) -> None:
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(**args)


# --- CQL2 filters against the store --------------------------------------------------------------

T = T0.isoformat().replace("+00:00", "Z")

FILTERS: list[tuple[str, Callable[[Row], bool]]] = [
    ("value > 20", lambda r: r["value"] > 20),
    ("value >= 20 AND value < 30", lambda r: 20 <= r["value"] < 30),
    ("20 < value", lambda r: r["value"] > 20),
    ("value <> 55", lambda r: r["value"] != 55),
    (
        "station = 'airport' OR observed_property = 'ph'",
        lambda r: r["station"] in ("airport", "yesil-central"),
    ),
    ("NOT (station = 'bayterek')", lambda r: r["station"] != "bayterek"),
    ("station IN ('airport', 'khan-shatyr')", lambda r: r["station"] in ("airport", "khan-shatyr")),
    (
        "station NOT IN ('airport', 'khan-shatyr')",
        lambda r: r["station"] not in ("airport", "khan-shatyr"),
    ),
    ("value BETWEEN 10 AND 12", lambda r: 10 <= r["value"] <= 12),
    ("value NOT BETWEEN 10 AND 60", lambda r: not 10 <= r["value"] <= 60),
    ("station LIKE 'kh%'", lambda r: r["station"].startswith("kh")),
    ("station LIKE 'KH%'", lambda r: False),  # case-sensitive on both stores
    ("station LIKE '_irport'", lambda r: r["station"] == "airport"),
    ("quality LIKE 'invalid:%'", lambda r: r["quality"].startswith("invalid:")),
    ("station NOT LIKE '%e%'", lambda r: "e" not in r["station"]),
    ("result_time IS NULL", lambda r: r["result_time"] is None),
    (
        "result_time IS NOT NULL AND aggregation = 'instant'",
        lambda r: r["result_time"] is not None and r["aggregation"] == "instant",
    ),
    (f"phenomenon_time_start > TIMESTAMP('{T}')", lambda r: r["start"] > T0),
    ("phenomenon_time_start < DATE('2025-03-02')", lambda r: True),
    ("phenomenon_time_start = DATE('2025-03-01')", lambda r: True),
    ("phenomenon_time_start > DATE('2025-03-01')", lambda r: False),
    (
        "T_AFTER(phenomenon_time_start, TIMESTAMP('2025-03-01T20:00:00Z'))",
        lambda r: r["start"] > T0 + 20 * HOUR,
    ),
    (
        "T_BEFORE(phenomenon_time_start, TIMESTAMP('2025-03-01T02:00:00Z'))",
        lambda r: r["start"] < T0 + 2 * HOUR,
    ),
    (
        "T_BEFORE(TIMESTAMP('2025-03-01T20:00:00Z'), phenomenon_time_start)",
        lambda r: r["start"] > T0 + 20 * HOUR,
    ),
    (
        "T_INTERSECTS(phenomenon_time_start,"
        " INTERVAL('2025-03-01T04:00:00Z', '2025-03-01T06:00:00Z'))",
        lambda r: T0 + 4 * HOUR <= r["start"] <= T0 + 6 * HOUR,
    ),
    (
        "T_INTERSECTS(phenomenon_time_end, INTERVAL('2025-03-01T22:00:00Z', '..'))",
        lambda r: r["end"] >= T0 + 22 * HOUR,
    ),
    (
        "T_INTERSECTS(phenomenon_time_start, INTERVAL('..', '2025-03-01T01:00:00Z'))",
        lambda r: r["start"] <= T0 + HOUR,
    ),
    ("T_INTERSECTS(result_time, INTERVAL('..', '..'))", lambda r: r["result_time"] is not None),
    (
        "T_DISJOINT(phenomenon_time_start,"
        " INTERVAL('2025-03-01T01:00:00Z', '2025-03-01T22:00:00Z'))",
        lambda r: not T0 + HOUR <= r["start"] <= T0 + 22 * HOUR,
    ),
    (
        "T_AFTER(phenomenon_time_start, INTERVAL('2025-03-01T00:00:00Z', '2025-03-01T21:00:00Z'))",
        lambda r: r["start"] > T0 + 21 * HOUR,
    ),
    (
        "S_INTERSECTS(geometry,"
        " POLYGON((71.40 51.12, 71.44 51.12, 71.44 51.14, 71.40 51.14, 71.40 51.12)))",
        lambda r: r["station"] in ("bayterek", "khan-shatyr"),
    ),
    (
        "S_WITHIN(geometry,"
        " POLYGON((71.42 51.12, 71.44 51.12, 71.44 51.14, 71.42 51.14, 71.42 51.12)))",
        lambda r: r["station"] == "bayterek",
    ),
    ("S_INTERSECTS(geometry, POINT(71.4669 51.0222))", lambda r: r["station"] == "airport"),
    (
        "S_DWITHIN(geometry, POINT(71.4305 51.1283), 2000, meters)",
        lambda r: r["station"] in ("bayterek", "khan-shatyr"),
    ),
    (
        "S_DWITHIN(geometry, POINT(71.4305 51.1283), 1, kilometers)",
        lambda r: r["station"] == "bayterek",
    ),
    (
        "S_DWITHIN(geometry, LINESTRING(71.40 51.02, 71.50 51.02), 600, meters)",
        lambda r: r["station"] == "airport",
    ),
    (
        "NOT S_INTERSECTS(geometry, POINT(71.4669 51.0222)) AND value > 50",
        lambda r: r["station"] != "airport" and r["value"] > 50,
    ),
    (
        "S_INTERSECTS(geometry, POINT(71.4669 51.0222)) OR value < 8",
        lambda r: r["station"] == "airport" or r["value"] < 8,
    ),
    (
        "BBOX(geometry, 71.40, 51.12, 71.44, 51.14)",
        lambda r: r["station"] in ("bayterek", "khan-shatyr"),
    ),
    (
        "(station = 'bayterek' OR value > 60) AND observed_property = 'pm10'",
        lambda r: (
            (r["station"] == "bayterek" or r["value"] > 60) and r["observed_property"] == "pm10"
        ),
    ),
    ("INCLUDE", lambda r: True),
    ("EXCLUDE", lambda r: False),
]


@pytest.mark.parametrize(("text", "keep"), FILTERS, ids=[f[0][:60] for f in FILTERS])
def test_cql2_text_filters(
    provider: ObservationsProvider, rows: list[Row], text: str, keep: Callable[[Row], bool]
) -> None:
    filterq = cqlparse.parse_text(text)
    assert ids(walk(provider, filterq=filterq)) == expected(rows, keep)


JSON_FILTERS: list[tuple[str, Callable[[Row], bool]]] = [
    (
        '{"op": "and", "args": [{"op": ">", "args": [{"property": "value"}, 20]},'
        ' {"op": "=", "args": [{"property": "observed_property"}, "pm2_5"]}]}',
        lambda r: r["value"] > 20 and r["observed_property"] == "pm2_5",
    ),
    (
        '{"op": "like", "args": [{"property": "station"}, "%port"]}',
        lambda r: r["station"] == "airport",
    ),
    (
        '{"op": "in", "args": [{"property": "aggregation"}, ["instant"]]}',
        lambda r: r["aggregation"] == "instant",
    ),
    (
        '{"op": "between", "args": [{"property": "value"}, [7.0, 7.5]]}',
        lambda r: 7.0 <= r["value"] <= 7.5,
    ),
    ('{"op": "isNull", "args": [{"property": "result_time"}]}', lambda r: r["result_time"] is None),
    (
        '{"op": "not", "args": [{"op": "isNull", "args": [{"property": "result_time"}]}]}',
        lambda r: r["result_time"] is not None,
    ),
    (
        '{"op": "t_intersects", "args": [{"property": "phenomenon_time_start"},'
        ' {"interval": ["2025-03-01T20:00:00Z", ".."]}]}',
        lambda r: r["start"] >= T0 + 20 * HOUR,
    ),
    (
        '{"op": "t_before", "args": [{"property": "phenomenon_time_start"},'
        ' {"timestamp": "2025-03-01T01:00:00Z"}]}',
        lambda r: r["start"] < T0 + HOUR,
    ),
    (
        '{"op": "s_intersects", "args": [{"property": "geometry"},'
        ' {"type": "Polygon", "coordinates": [[[71.40, 51.12], [71.44, 51.12], [71.44, 51.14],'
        " [71.40, 51.14], [71.40, 51.12]]]}]}",
        lambda r: r["station"] in ("bayterek", "khan-shatyr"),
    ),
    (
        '{"op": "s_dwithin", "args": [{"property": "geometry"},'
        ' {"type": "Point", "coordinates": [71.4305, 51.1283]}, 2, "kilometers"]}',
        lambda r: r["station"] in ("bayterek", "khan-shatyr"),
    ),
]


@pytest.mark.parametrize(("text", "keep"), JSON_FILTERS)
def test_cql2_json_filters(
    provider: ObservationsProvider, rows: list[Row], text: str, keep: Callable[[Row], bool]
) -> None:
    assert ids(walk(provider, filterq=cqlparse.parse_json(text))) == expected(rows, keep)


def test_filter_with_every_other_parameter(provider: ObservationsProvider, rows: list[Row]) -> None:
    filterq = cqlparse.parse_text("value > 12 AND quality = 'valid'")
    found = walk(
        provider,
        filterq=filterq,
        bbox=[71.40, 51.12, 71.44, 51.14],
        datetime_="2025-03-01T03:00:00Z/2025-03-01T18:00:00Z",
        properties=[("aggregation", "mean")],
        limit=3,
    )
    assert ids(found) == expected(
        rows,
        lambda r: (
            r["value"] > 12
            and r["quality"] == "valid"
            and r["station"] in ("bayterek", "khan-shatyr")
            and T0 + 3 * HOUR <= r["start"] <= T0 + 18 * HOUR
            and r["aggregation"] == "mean"
        ),
    )


@pytest.mark.parametrize(
    "text",
    [
        "nope = 1",
        "station = 5",
        "value = 'x'",
        "value LIKE 'a%'",
        "lower(station) = 'x'",
        "value + 1 > 3",
        "T_OVERLAPS(phenomenon_time_start, INTERVAL('2025-03-01', '2025-03-02'))",
        "S_DWITHIN(geometry, POINT(71 51), 10, parsecs)",
        "S_INTERSECTS(station, POINT(71 51))",
        "station = POINT(71 51)",
        "T_AFTER(station, TIMESTAMP('2025-03-01T00:00:00Z'))",
        "value BETWEEN 'a' AND 'b'",
        "station LIKE 'abc\\'",
        "S_INTERSECTS(geometry, SRID=3857;POINT(0 0))",
        "1 = 1",
    ],
)
def test_refused_filters(provider: ObservationsProvider, text: str) -> None:
    try:
        filterq = cqlparse.parse_text(text)
    except Exception:  # a parse error is pygeoapi's 400 already
        return
    with pytest.raises(ProviderInvalidQueryError):
        provider.query(filterq=filterq)


# --- deep offsets ------------------------------------------------------------------------------


def test_deep_offsets_become_seeks(
    world: FeatureWorld,
    provider: ObservationsProvider,
    rows: list[Row],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "DEEP_OFFSET", 5)
    paging.CHECKPOINTS.clear()
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(world.store.engine, "before_cursor_execute", record)
    try:
        assert ids(walk(provider, limit=4)) == [r["id"] for r in rows]
        # The same deep pages again, and one between checkpoints: same rows, found by seeks.
        seen.clear()
        for offset in (12, 12, 13, 41, 66):
            page = provider.query(offset=offset, limit=4)
            assert ids(page["features"]) == [r["id"] for r in rows[offset : offset + 4]]
        seeks = [s for s in seen if "phenomenon_time_start, o.id) >" in s]
        assert len(seeks) == 5, seen
        # With a filter the checkpoints are the filter's own.
        filterq = cqlparse.parse_text("observed_property = 'pm2_5'")
        want = expected(rows, lambda r: r["observed_property"] == "pm2_5")
        assert ids(walk(provider, limit=3, filterq=filterq)) == want
        assert ids(provider.query(offset=9, limit=3, filterq=filterq)["features"]) == want[9:12]
    finally:
        event.remove(world.store.engine, "before_cursor_execute", record)
        paging.CHECKPOINTS.clear()


# --- through the hub's app -----------------------------------------------------------------------


def test_http_items_and_refusals(world: FeatureWorld, rows: list[Row]) -> None:
    base = "/oapi/collections/observations/items"
    body = world.get(base + "?limit=5&station=airport&sortby=-value")
    want = sorted((r for r in rows if r["station"] == "airport"), key=lambda r: -r["value"])
    assert ids(body["features"]) == [r["id"] for r in want[:5]]
    assert body["numberMatched"] == len(want)
    assert any(link["rel"] == "next" for link in body["links"])
    for query in (
        "?unknown=1",
        "?filter=nope%3D1",
        "?sortby=nope",
        "?properties=nope",
        "?bbox=1,2,3",
        "?datetime=soon",
        "?resulttype=all",
        "?q=pm",
        "?crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        "?bbox=1,2,3,4&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        "?filter-lang=sql&filter=value>1",
    ):
        error = world.get(base + query, status=400)
        assert error["code"] and error["description"], query
    world.get(base + "/123456789", status=404)
    world.get(base + "/abc", status=404)


def test_csv(world: FeatureWorld, rows: list[Row]) -> None:
    text = world.get("/oapi/collections/observations/items?f=csv&limit=100&station=khan-shatyr")
    table = list(csv.DictReader(io.StringIO(text)))
    want = [r for r in rows if r["station"] == "khan-shatyr"]
    assert [float(t["value"]) for t in table] == [r["value"] for r in want]
    assert [t["phenomenon_time_start"] for t in table] == [iso(r["start"]) for r in want]
    assert set(table[0]) >= {"station", "observed_property", "value", "unit", "quality"}


# --- the plan on a bigger store ----------------------------------------------------------------


def test_filtered_page_walks_the_stream_index(store_url: str) -> None:
    """bbox + datetime + filter: index ranges of ix_observations_stream_time in order, no sort
    of the matching rows (so the page costs about ``limit`` rows however many match)."""
    built = build_feature_world(store_url)
    try:
        streams = list(built.streams.values())
        _bulk(built, streams, 2000)
        provider = ObservationsProvider(ObservationsProvider.provider_config(built.key))
        seen: list[tuple[str, Any]] = []

        def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            seen.append((statement, parameters))

        event.listen(built.store.engine, "before_cursor_execute", record)
        try:
            page = provider.query(
                limit=50,
                bbox=[71.40, 51.12, 71.44, 51.14],
                datetime_="2025-03-20T00:00:00Z/2025-03-25T00:00:00Z",
                filterq=cqlparse.parse_text("value > 0 AND observed_property = 'pm2_5'"),
            )
        finally:
            event.remove(built.store.engine, "before_cursor_execute", record)
        assert page["numberReturned"] == 50
        statement, parameters = next(
            (s, p)
            for s, p in seen
            if s.startswith("SELECT o.datastream_id, o.phenomenon_time_start, o.id")
        )
        plan = _plan(built, statement, parameters)
        assert "ix_observations_stream_time" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    finally:
        registry.unregister(built.key)
        built.store.close()


def _bulk(world: FeatureWorld, streams: list[int], per_stream: int) -> None:
    from hub.store.schema import raw_frames, things

    with world.store.engine.begin() as conn:
        frame = conn.execute(select(raw_frames.c.id).limit(1)).scalar_one()
        foi = dict(
            conn.execute(
                select(datastreams.c.id, observations.c.feature_of_interest_id)
                .join(observations, observations.c.datastream_id == datastreams.c.id)
                .join(things, things.c.id == datastreams.c.thing_id)
                .distinct()
            ).all()
        )
        start = T0 + timedelta(days=2)
        conn.execute(
            observations.insert(),
            [
                {
                    "datastream_id": ds,
                    "feature_of_interest_id": foi[ds],
                    "phenomenon_time_start": start + i * timedelta(minutes=20),
                    "phenomenon_time_end": start + i * timedelta(minutes=20),
                    "result_time": None,
                    "result": float(i % 50),
                    "result_quality": "valid",
                    "parameters": {},
                    "frame_id": frame,
                }
                for i in range(per_stream)
                for ds in streams
            ],
        )
    with world.store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def _plan(world: FeatureWorld, statement: str, parameters: Any) -> str:
    sqlite = world.store.backend == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with world.store.engine.connect() as conn:
        found = conn.exec_driver_sql(prefix + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in found)


# --- injection corpus ----------------------------------------------------------------------------

BAD_FILTERS = [
    "1=1; DROP TABLE observations",
    "station = 'a' OR 1=1--",
    "value > 1); DELETE FROM stations; --",
    "station = 'x' UNION SELECT * FROM users",
    "value > (SELECT 1)",
    "S_INTERSECTS(geometry, POINT(1 2)); DROP TABLE observations",
    "station LIKE '%' ESCAPE '!'",
    "station = 'a\\' OR 1=1 --",
    "observations.id > 0",
    "pg_sleep(5) = 1",
    "value > 1 /* comment */",
    "station IN (SELECT key FROM stations)",
    "'",
    "station = 'unterminated",
    "value > 1e999",
]
QUOTED_LITERALS = [
    "station = ''' OR ''1''=''1'",
    "station = '; DROP TABLE observations; --'",
    "station LIKE '%'' OR 1=1 --'",
]
BAD_SORTS = [
    "value;DROP TABLE observations",
    "id desc",
    "1",
    "(SELECT 1)",
    "value,--",
    "station' --",
    "-",
    "+",
    "",
    "random()",
    "value ASC",
    "geometry",
]
BAD_PROPERTIES = ["value;--", "*", "station,(select 1)", "", ",,", "value AS x", "o.result"]
BAD_IDS = [
    "1 OR 1=1",
    "1;DROP TABLE stations",
    "%27",
    "bayterek'--",
    "-1",
    "0x10",
    "1e3",
    "9" * 40,
    "1 UNION SELECT 1",
    "%00",
]
COLLECTIONS = ["observations", "stations", "latest"]


def _counts(world: FeatureWorld) -> tuple[int, ...]:
    with world.store.engine.connect() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (observations, stations, datastreams)
        )


def test_injection_corpus(world: FeatureWorld) -> None:
    before = _counts(world)
    for collection in COLLECTIONS:
        base = f"/oapi/collections/{collection}/items"
        for text in BAD_FILTERS:
            response = world.client.get(base, query_string={"filter": text})
            assert 400 <= response.status_code < 500, (collection, text, response.status_code)
        for text in QUOTED_LITERALS:
            # Valid CQL2 whose text literal looks like SQL: matched as text, nothing found.
            response = world.client.get(base, query_string={"filter": text})
            assert response.status_code == 200, (collection, text)
            assert response.get_json()["features"] == []
        for text in BAD_SORTS:
            response = world.client.get(base, query_string={"sortby": text})
            assert 400 <= response.status_code < 500, (collection, text, response.status_code)
        for text in BAD_PROPERTIES:
            response = world.client.get(base, query_string={"properties": text})
            assert 400 <= response.status_code < 500, (collection, text, response.status_code)
        for text in BAD_IDS:
            response = world.client.get(f"{base}/{text}")
            assert 400 <= response.status_code < 500, (collection, text, response.status_code)
        response = world.client.post(
            base,
            data='{"op": "=", "args": [{"property": "station; DROP TABLE x"}, 1]}',
            content_type="application/query-cql-json",
        )
        assert 400 <= response.status_code < 500
    assert _counts(world) == before


# --- counting and the unrestricted scope ----------------------------------------------------------


def test_every_datastream_a_station_stream(store_url: str) -> None:
    """Without Things outside the registry, "any datastream" is ``datastream_id IS NOT NULL``
    (no id list), with the same answers."""
    built = build_feature_world(store_url, foreign=False)
    try:
        provider = ObservationsProvider(ObservationsProvider.provider_config(built.key))
        seen: list[str] = []

        def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(built.store.engine, "before_cursor_execute", record)
        try:
            found = walk(provider, limit=30)
        finally:
            event.remove(built.store.engine, "before_cursor_execute", record)
        assert ids(found) == [r["id"] for r in truth(built.store)]
        assert any("o.datastream_id IS NOT NULL" in s for s in seen)
    finally:
        registry.unregister(built.key)
        built.store.close()


def test_hits_of_the_unfiltered_collection(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact on SQLite; PostgreSQL's planner estimate (flagged) above the threshold."""
    from hub.ogcapi.providers import observations as module

    built = build_feature_world(store_url)
    try:
        with built.store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        provider = ObservationsProvider(ObservationsProvider.provider_config(built.key))
        exact = provider.query(resulttype="hits")
        assert exact["numberMatched"] == 70 and "numberMatchedEstimated" not in exact
        monkeypatch.setattr(module, "ESTIMATE_THRESHOLD", 10)
        hits = provider.query(resulttype="hits")
        if built.store.backend == "postgresql":
            assert hits["numberMatchedEstimated"] is True
            assert 50 <= hits["numberMatched"] <= 100  # all 73 rows, estimated
        else:
            assert hits["numberMatched"] == 70 and "numberMatchedEstimated" not in hits
        filtered = provider.query(resulttype="hits", properties=[("station", "airport")])
        assert filtered["numberMatched"] == 8 and "numberMatchedEstimated" not in filtered
    finally:
        registry.unregister(built.key)
        built.store.close()
