"""The ``latest`` collection on both stores: the newest value of each station datastream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pygeoapi.provider.base import ProviderInvalidQueryError, ProviderItemNotFoundError
from sqlalchemy import select

from hub.ogcapi import registry
from hub.ogcapi.providers import cqlparse
from hub.ogcapi.providers.latest import LatestProvider
from hub.store.schema import observations
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
    with feature_world_at(request.param, tmp_path_factory.mktemp("latest")) as built:
        yield built


@pytest.fixture(scope="module")
def newest(world: FeatureWorld) -> list[Row]:
    """The newest observation of each station datastream, in the collection's default order
    (station, observed property, datastream)."""
    by_stream: dict[int, Row] = {}
    for row in truth(world.store):
        best = by_stream.get(row["datastream"])
        if best is None or (row["start"], row["id"]) > (best["start"], best["id"]):
            by_stream[row["datastream"]] = row
    return sorted(
        by_stream.values(), key=lambda r: (r["station"], r["observed_property"], r["datastream"])
    )


@pytest.fixture
def provider(world: FeatureWorld) -> LatestProvider:
    return LatestProvider(LatestProvider.provider_config(world.key))


def ids(features: list[dict[str, Any]]) -> list[int]:
    return [f["id"] for f in features]


def test_one_feature_per_datastream_with_its_newest_value(
    world: FeatureWorld, provider: LatestProvider, newest: list[Row]
) -> None:
    features = walk(provider, limit=4)
    assert ids(features) == [r["datastream"] for r in newest]
    assert len(features) == 6  # ak-orda has no data; the Thing without a station is not shown
    assert world.foreign_stream not in ids(features)
    for feature, row in zip(features, newest, strict=True):
        assert feature["geometry"]["coordinates"] == [row["lon"], row["lat"]]
        assert feature["properties"] == {
            "station": row["station"],
            "observed_property": row["observed_property"],
            "aggregation": row["aggregation"],
            "unit": row["unit"],
            "value": row["value"],
            "phenomenon_time_start": iso(row["start"]),
            "phenomenon_time_end": iso(row["end"]),
            "result_time": iso(row["result_time"]),
            "quality": row["quality"],
            "datastream": row["datastream"],
        }
    assert provider.query(limit=2)["numberMatched"] == 6


def test_one_item(world: FeatureWorld, provider: LatestProvider, newest: list[Row]) -> None:
    for row in newest:
        feature = provider.get(str(row["datastream"]))
        assert feature["properties"]["value"] == row["value"]
    for missing in (str(world.foreign_stream), "0", "x", "99999", "1;DROP TABLE stations"):
        with pytest.raises(ProviderItemNotFoundError):
            provider.get(missing)


CASES: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
    ({"filterq": "value > 30"}, lambda r: r["value"] > 30),
    (
        {"filterq": "observed_property = 'pm2_5' AND aggregation = 'mean'"},
        lambda r: r["observed_property"] == "pm2_5" and r["aggregation"] == "mean",
    ),
    (
        {"filterq": "T_AFTER(phenomenon_time_start, TIMESTAMP('2025-03-01T15:00:00Z'))"},
        lambda r: r["start"] > T0 + 15 * HOUR,
    ),
    (
        {"filterq": "result_time IS NULL OR station = 'airport'"},
        lambda r: r["result_time"] is None or r["station"] == "airport",
    ),
    ({"datetime_": "2025-03-01T18:00:00Z/.."}, lambda r: r["start"] >= T0 + 18 * HOUR),
    ({"datetime_": "../2025-03-01T15:00:00Z"}, lambda r: r["start"] <= T0 + 15 * HOUR),
    ({"bbox": [71.40, 51.12, 71.44, 51.14]}, lambda r: r["station"] in ("bayterek", "khan-shatyr")),
    ({"properties": [("station", "bayterek")]}, lambda r: r["station"] == "bayterek"),
    ({"properties": [("unit", "pH")]}, lambda r: r["unit"] == "pH"),
]


@pytest.mark.parametrize(("args", "keep"), CASES)
def test_filters(
    provider: LatestProvider, newest: list[Row], args: dict[str, Any], keep: Callable[[Row], bool]
) -> None:
    if "filterq" in args:
        args = {**args, "filterq": cqlparse.parse_text(args["filterq"])}
    want = [r["datastream"] for r in newest if keep(r)]
    assert want
    assert ids(walk(provider, **args)) == want
    assert provider.query(resulttype="hits", **args)["numberMatched"] == len(want)


def test_sortby_value(provider: LatestProvider, newest: list[Row]) -> None:
    features = walk(provider, sortby=[{"property": "value", "order": "-"}])
    assert ids(features) == [r["datastream"] for r in sorted(newest, key=lambda r: -r["value"])]


def test_newer_data_replaces_the_value(store_url: str) -> None:
    built = build_feature_world(store_url)
    try:
        provider = LatestProvider(LatestProvider.provider_config(built.key))
        stream = built.streams["airport/pm10/mean"]
        before = provider.get(str(stream))["properties"]
        from tests.hub.ogcapi.featureworld import _row
        from tests.hub.sta.conftest import frame_record

        with built.store.engine.connect() as conn:
            foi = conn.execute(
                select(observations.c.feature_of_interest_id)
                .where(observations.c.datastream_id == stream)
                .limit(1)
            ).scalar_one()
        later = T0 + 48 * HOUR
        built.store.write_batch(
            [frame_record("n", "airport", [_row((stream, foi), later, 1.25)], later)]
        )
        after = provider.get(str(stream))["properties"]
        assert before["value"] != 1.25 and after["value"] == 1.25
        assert after["phenomenon_time_start"] == iso(later)
    finally:
        registry.unregister(built.key)
        built.store.close()


def test_refusals(provider: LatestProvider) -> None:
    for args in (
        {"q": "x"},
        {"properties": [("nope", "1")]},
        {"filterq": cqlparse.parse_text("value LIKE '1%'")},
        {"sortby": [{"property": "geometry", "order": "+"}]},
    ):
        with pytest.raises(ProviderInvalidQueryError):
            provider.query(**args)
