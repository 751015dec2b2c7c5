"""The latest-values map query (FROST #1107) on both stores: same answer as the generic window
path, and a plan that seeks ix_observations_stream_time per Datastream instead of scanning."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from hub.sta import expand
from tests.hub.sta.readworld import ReadWorld, add_observations, build_world

PER_STREAM = 3000  # 15,000 observations: enough that a scan would cost more than the seeks


@pytest.fixture
def world(store_url: str) -> Iterator[ReadWorld]:
    built = build_world(store_url)
    ids = built.ids
    foi = {"A": ids["FA"], "C": ids["FC"]}
    streams = [
        (ids["D25a"], foi["A"]),
        (ids["D10a"], foi["A"]),
        (ids["D25b"], foi["A"]),
        (ids["D10b"], foi["A"]),
        (ids["Dph"], foi["C"]),
    ]
    add_observations(built.store, streams, PER_STREAM)
    built.analyze()
    yield built
    built.store.close()


MAP_QUERIES = [
    "Observations($top=1;$orderby=phenomenonTime desc)",
    "Observations($top=3;$skip=2;$orderby=phenomenonTime asc;$count=true)",
    "Observations($top=2;$orderby=phenomenonTime desc,id desc;$select=result,phenomenonTime)",
    "Observations($top=2;$orderby=phenomenonTime desc;"
    "$filter=phenomenonTime lt 2025-02-26T00:00:00Z and result gt 0)",
    "Observations($top=1;$orderby=phenomenonTime desc;$filter=result lt 0)",
]


def map_url(inner: str) -> str:
    return "/v1.1/Things?$expand=" + quote(f"Datastreams($orderby=id;$expand={inner})")


@pytest.mark.parametrize("inner", MAP_QUERIES)
def test_fast_path_equals_generic_path(
    world: ReadWorld, inner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = world.get(map_url(inner))
    monkeypatch.setattr(expand, "USE_LATEST", False)
    generic = world.get(map_url(inner))
    assert fast == generic
    streams = [ds for thing in fast["value"] for ds in thing["Datastreams"]]
    assert len(streams) == 5


def test_latest_values_are_the_newest(world: ReadWorld) -> None:
    body = world.get(map_url(MAP_QUERIES[0]))
    for thing in body["value"]:
        for ds in thing["Datastreams"]:
            (newest,) = ds["Observations"]
            own = world.get(
                f"/v1.1/Datastreams({ds['@iot.id']})/Observations?$top=1"
                "&$orderby=phenomenonTime%20desc"
            )
            assert own["value"] == [newest]
            assert newest["result"] == float(ds["@iot.id"] * 1000 + PER_STREAM - 1)
            assert "Observations@iot.nextLink" in ds


def _statement(seen: list[tuple[str, Any]], marker: str) -> tuple[str, Any]:
    found = [(sql, params) for sql, params in seen if marker in sql]
    assert len(found) == 1, [sql for sql, _ in seen]
    return found[0]


@pytest.mark.parametrize("inner", [MAP_QUERIES[0], MAP_QUERIES[3]])
def test_plan_seeks_the_index_per_datastream(world: ReadWorld, inner: str) -> None:
    with world.capturing() as seen:
        world.get(map_url(inner))
    sql, params = _statement(seen, "newest")
    plan = world.plan(sql, params)
    if world.store.backend == "postgresql":
        assert "LATERAL" in sql.upper(), sql
        # One index descent per Datastream (the stream's id is the index condition); with a
        # time filter the planner may pick the unique (datastream, start, end) index instead.
        assert re.search(
            r"Index Scan( Backward)? using (ix_observations_stream_time|uq_observation) on "
            r"observations[^\n]*\n\s*Index Cond: \(+datastream_id = stream\.id",
            plan,
        ), plan
        assert "Seq Scan on observations" not in plan and "WindowAgg" not in plan, plan
        if inner == MAP_QUERIES[0]:
            assert "Index Scan Backward using ix_observations_stream_time" in plan, plan
    else:
        # One correlated list subquery per Datastream on the index, rows fetched by rowid.
        assert "CORRELATED LIST SUBQUERY" in plan, plan
        assert re.search(
            r"SEARCH observations USING (COVERING )?INDEX ix_observations_stream_time "
            r"\(datastream_id=\?",
            plan,
        ), plan
        assert not re.search(r"\bSCAN (newest|observations)\b", plan), plan


def test_collection_newest_first_reads_the_index_in_order(world: ReadWorld) -> None:
    path = f"/v1.1/Datastreams({world.ids['D25a']})/Observations"
    with world.capturing() as seen:
        body = world.get(path + "?$top=100&$orderby=phenomenonTime%20desc")
    assert len(body["value"]) == 100
    sql, params = _statement(seen, "ORDER BY")
    plan = world.plan(sql, params)
    assert "ix_observations_stream_time" in plan, plan
    # No sort step: the index delivers phenomenon time, then id, both descending.
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
