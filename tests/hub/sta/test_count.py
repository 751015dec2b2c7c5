"""``$count`` on both stores: exact where it is cheap, a said-so estimate for a whole big set on
PostgreSQL, counts inside expansions."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from hub.sta import count
from tests.hub.sta.readworld import HOUR, T0, ReadWorld, add_observations, build_world


@pytest.fixture
def world(store_url: str) -> Iterator[ReadWorld]:
    built = build_world(store_url)
    yield built
    built.store.close()


def test_exact_counts(world: ReadWorld) -> None:
    assert world.get("/v1.1/Observations?$count=true&$top=1")["@iot.count"] == 18
    body = world.get("/v1.1/Observations?$count=true&$top=0&$filter=" + quote("result ge 20"))
    assert body["@iot.count"] == 7 and body["value"] == [] and "@auasu.countEstimated" not in body
    path = f"/v1.1/Things({world.ids['TA']})/Datastreams?$count=true"
    assert world.get(path)["@iot.count"] == 2
    assert world.get("/v1.1/Locations?$count=true")["@iot.count"] == 3


def _streams(world: ReadWorld) -> list[tuple[int, int]]:
    ids = world.ids
    return [(ids["D25a"], ids["FA"]), (ids["D10a"], ids["FA"]), (ids["Dph"], ids["FC"])]


def test_big_whole_set_is_estimated_on_postgresql(
    world: ReadWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(count, "ESTIMATE_THRESHOLD", 1000)
    total = 18 + add_observations(world.store, _streams(world), 1000)
    in_dph = 5 + 1000
    world.analyze()
    body = world.get("/v1.1/Observations?$count=true&$top=1")
    if world.store.backend == "postgresql":
        assert body["@auasu.countEstimated"] is True
        assert abs(body["@iot.count"] - total) <= total * 0.1
        assert list(body)[:2] == ["@iot.count", "@auasu.countEstimated"]
        # The estimate follows growth since the last ANALYZE (it scales with the pages).
        total += add_observations(world.store, _streams(world), 1000, start=T0 + 5000 * HOUR)
        in_dph += 1000
        grown = world.get("/v1.1/Observations?$count=true&$top=1")
        assert grown["@auasu.countEstimated"] is True
        assert abs(grown["@iot.count"] - total) <= total * 0.15
    else:
        assert body["@iot.count"] == total and "@auasu.countEstimated" not in body
    # A filter or a navigation path: always exact.
    body = world.get("/v1.1/Observations?$count=true&$top=1&$filter=" + quote("result ge 0"))
    assert body["@iot.count"] == total and "@auasu.countEstimated" not in body
    stream = f"/v1.1/Datastreams({world.ids['Dph']})/Observations?$count=true&$top=1"
    assert world.get(stream)["@iot.count"] == in_dph


def test_small_whole_set_is_exact(world: ReadWorld) -> None:
    # Below the threshold PostgreSQL counts too, even with statistics.
    world.analyze()
    body = world.get("/v1.1/Things?$count=true")
    assert body["@iot.count"] == 3 and "@auasu.countEstimated" not in body


def test_counts_inside_expansions(world: ReadWorld) -> None:
    body = world.get(
        "/v1.1/Things?$orderby=name&$expand="
        + quote("Datastreams($count=true;$top=1;$expand=Observations($count=true;$top=0))")
    )
    assert [t["Datastreams@iot.count"] for t in body["value"]] == [2, 2, 1]
    counts = sorted(ds["Observations@iot.count"] for t in body["value"] for ds in t["Datastreams"])
    assert counts == [4, 5, 6]  # the first Datastream by id of each Thing
    assert all(ds["Observations"] == [] for t in body["value"] for ds in t["Datastreams"])
