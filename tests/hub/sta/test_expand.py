"""Nested ``$expand`` on both stores: shapes, nested options, counts, nextLinks, batching."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.hub.sta.readworld import ROOT, ReadWorld, build_world


@pytest.fixture
def world(store_url: str) -> Iterator[ReadWorld]:
    built = build_world(store_url)
    yield built
    built.store.close()


def things_by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {thing["name"]: thing for thing in body["value"]}


def test_expanded_collection_equals_the_navigation_collection(world: ReadWorld) -> None:
    body = world.get("/v1.1/Things?$expand=Datastreams,Locations")
    for thing in body["value"]:
        own = world.get(f"/v1.1/Things({thing['@iot.id']})/Datastreams")["value"]
        assert thing["Datastreams"] == own
        assert thing["Locations"] == world.get(thing["Locations@iot.navigationLink"])["value"]
        # Expanded navigations keep their navigationLink; nothing is counted unless asked.
        assert "Datastreams@iot.navigationLink" in thing and "Datastreams@iot.count" not in thing
    named = things_by_name(body)
    assert len(named["Air One"]["Datastreams"]) == 2 and named["River Three"]["Datastreams"]
    assert [loc["@iot.id"] for loc in named['Air, "Two"']["Locations"]] == sorted(
        [world.ids["LA"], world.ids["LB"]]
    )


def test_nested_options_count_and_next_link(world: ReadWorld) -> None:
    inner = "$filter=result ge 11;$orderby=phenomenonTime desc;$top=2;$count=true;$select=result"
    body = world.get(f"/v1.1/Datastreams({world.ids['D25a']})?$expand=Observations({quote(inner)})")
    assert body["Observations@iot.count"] == 5  # 11..15 match, 10 does not
    assert body["Observations"] == [{"result": 15.0}, {"result": 14.0}]
    link = body["Observations@iot.nextLink"]
    assert link.startswith(f"{ROOT}/Datastreams({world.ids['D25a']})/Observations?")
    assert "$skip=2" in link and "$top=2" in link and "$count=true" in link
    rest, pages = world.walk(link)
    assert [o["result"] for o in rest] == [13.0, 12.0, 11.0] and pages == 2
    # Keys: the count before the array, the nextLink after it (as at the top level).
    keys = [k for k in body if k.startswith("Observations")]
    assert keys[-3:] == ["Observations@iot.count", "Observations", "Observations@iot.nextLink"]


def test_per_parent_top_and_skip(world: ReadWorld) -> None:
    q = quote("Observations($orderby=result;$skip=1;$top=2;$count=true)")
    body = world.get(f"/v1.1/Datastreams?$expand={q}&$orderby=id")
    got = {d["@iot.id"]: [o["result"] for o in d["Observations"]] for d in body["value"]}
    ids = world.ids
    assert got[ids["D25a"]] == [11.0, 12.0] and got[ids["D10a"]] == [81.0, 82.0]
    assert got[ids["D25b"]] == [21.0, 22.0] and got[ids["D10b"]] == []
    counts = {d["@iot.id"]: d["Observations@iot.count"] for d in body["value"]}
    assert counts == {ids["D25a"]: 6, ids["D10a"]: 3, ids["D25b"]: 4, ids["D10b"]: 0, ids["Dph"]: 5}
    more = {d["@iot.id"] for d in body["value"] if "Observations@iot.nextLink" in d}
    assert more == {ids["D25a"], ids["D25b"], ids["Dph"]}  # D10a: 3 rows, skip 1 + top 2


def test_multi_level_and_merged_items(world: ReadWorld) -> None:
    body = world.get("/v1.1/Things?$expand=Datastreams/ObservedProperty,Datastreams/Sensor")
    for thing in body["value"]:
        for ds in thing["Datastreams"]:
            assert (
                ds["ObservedProperty"]["@iot.id"]
                == world.get(ds["ObservedProperty@iot.navigationLink"])["@iot.id"]
            )
            assert ds["Sensor"]["name"]
    q = quote("Datastreams($top=1;$orderby=id desc),Datastreams/Thing($select=name)")
    body = world.get(f"/v1.1/Things({world.ids['TA']})?$expand={q}")
    (only,) = body["Datastreams"]
    assert only["@iot.id"] == world.ids["D10a"] and only["Thing"] == {"name": "Air One"}
    assert body["Datastreams@iot.nextLink"].endswith("$skip=1")
    assert "$expand=Thing($select=name)" in body["Datastreams@iot.nextLink"]
    follow = world.get(body["Datastreams@iot.nextLink"])
    assert [d["@iot.id"] for d in follow["value"]] == [world.ids["D25a"]]
    assert follow["value"][0]["Thing"] == {"name": "Air One"}


def test_to_one_expansions(world: ReadWorld) -> None:
    q = quote("Datastream($select=name;$expand=Thing($select=id)),FeatureOfInterest")
    body = world.get(f"/v1.1/Observations?$expand={q}&$top=20")
    assert len(body["value"]) == 18
    for obs in body["value"]:
        assert set(obs["Datastream"]) == {"name", "Thing"}
        assert set(obs["Datastream"]["Thing"]) == {"@iot.id", "@iot.selfLink"}
        assert obs["FeatureOfInterest"]["feature"]["type"] == "Point"
    # A to-one expansion whose entity the nested filter excludes is left out.
    q = quote("Datastream($filter=name eq 'nothing')")
    body = world.get(f"/v1.1/Observations?$expand={q}&$top=3")
    assert all("Datastream" not in obs for obs in body["value"])


def test_expanded_items_are_selected_implicitly(world: ReadWorld) -> None:
    body = world.get(
        f"/v1.1/Things({world.ids['TC']})?$select=name&$expand=Datastreams($select=id)"
    )
    assert body == {
        "name": "River Three",
        "Datastreams": [
            {
                "@iot.id": world.ids["Dph"],
                "@iot.selfLink": f"{ROOT}/Datastreams({world.ids['Dph']})",
            }
        ],
    }


def test_through_links_both_ways(world: ReadWorld) -> None:
    body = world.get("/v1.1/Locations?$expand=Things($select=name;$orderby=name;$count=true)")
    by_id = {loc["@iot.id"]: loc for loc in body["value"]}
    assert [t["name"] for t in by_id[world.ids["LA"]]["Things"]] == ["Air One", 'Air, "Two"']
    assert by_id[world.ids["LA"]]["Things@iot.count"] == 2
    assert [t["name"] for t in by_id[world.ids["LC"]]["Things"]] == ["River Three"]


def test_one_query_per_level_whatever_the_page_size(world: ReadWorld) -> None:
    url = "/v1.1/Things?$expand=" + quote(
        "Datastreams($count=true;$expand=Observations($top=2;$count=true),ObservedProperty)"
    )
    with world.capturing() as all_things:
        body = world.get(url)
    with world.capturing() as one_thing:
        world.get(url + "&$top=1")
    assert len(body["value"]) == 3
    # Same statements for 1 Thing or 3 (and their 5 Datastreams): batched per level.
    assert len(all_things) == len(one_thing)
    assert len(all_things) <= 9  # + observedArea, one query per Datastream level


def test_extents_are_read_in_one_query(world: ReadWorld) -> None:
    with world.capturing() as seen:
        body = world.get("/v1.1/Things?$expand=Datastreams")
    stream = next(
        ds for t in body["value"] for ds in t["Datastreams"] if ds["@iot.id"] == world.ids["D25a"]
    )
    assert stream["phenomenonTime"] == "2025-01-14T19:00:00Z/2025-01-15T00:00:00Z"
    assert stream["resultTime"] == "2025-01-14T19:00:00Z/2025-01-15T00:00:00Z"
    empty = next(
        ds for t in body["value"] for ds in t["Datastreams"] if ds["@iot.id"] == world.ids["D10b"]
    )
    assert "phenomenonTime" not in empty and "resultTime" not in empty
    alone = world.get(f"/v1.1/Datastreams({world.ids['D25a']})")
    assert alone["phenomenonTime"] == stream["phenomenonTime"]
    assert len(seen) <= 5  # things, datastreams, extents, observed areas (+ nothing per row)


def test_expand_on_a_navigation_path_and_ref_ignores_it(world: ReadWorld) -> None:
    body = world.get(
        f"/v1.1/Things({world.ids['TA']})/Datastreams?$expand=Observations($top=1)&$orderby=id"
    )
    assert [len(d["Observations"]) for d in body["value"]] == [1, 1]
    refs = world.get(f"/v1.1/Things({world.ids['TA']})/Datastreams/$ref?$expand=Observations")
    assert all(set(r) == {"@iot.selfLink"} for r in refs["value"])


@pytest.mark.parametrize(
    ("expand", "status"),
    [
        ("Datastreams($filter=nothing eq 1)", 400),
        ("Datastreams($orderby=nothing)", 400),
        ("Datastreams($top=1),Datastreams/Sensor,Datastreams($top=1)", 400),
        ("Datastreams($top=1);Datastreams/Sensor", 400),
        ("Datastreams/Sensor,Datastreams($top=2;$expand=Sensor($top=3))", 200),
        ("Datastreams($skiptoken=abc)", 400),
        ("Datastreams($filter=name eq 1)", 400),
        ("Datastreams($expand=MultiDatastreams)", 400),
        ("MultiDatastreams", 200),
        ("Datastreams/Thing/MultiDatastreams", 200),
    ],
)
def test_bad_expansions(world: ReadWorld, expand: str, status: int) -> None:
    world.get(f"/v1.1/Things?$expand={quote(expand)}", status)


def test_conflicting_options_for_one_hop(world: ReadWorld) -> None:
    body = world.get(
        "/v1.1/Things?$expand=" + quote("Datastreams($top=1),Datastreams($top=2)"), 400
    )
    assert "expanded twice" in body["message"]
    body = world.get(
        "/v1.1/Things?$expand=" + quote("Datastreams($top=1;$expand=Sensor),Datastreams/Sensor")
    )
    assert all(
        len(t["Datastreams"]) == 1 and "Sensor" in t["Datastreams"][0] for t in body["value"]
    )


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("Things?$expand=Datastreams($orderby=ObservedProperty/name desc;$top=1)", "Datastreams"),
        ("Things?$expand=Datastreams($filter=Observations/result gt 10)", "Datastreams"),
        ("Things?$expand=Datastreams($orderby=properties/x;$skip=1)", "Datastreams"),
        ("HistoricalLocations?$expand=Thing,Locations", None),
        ("FeaturesOfInterest?$expand=Observations($top=2;$orderby=result desc)", "Observations"),
        ("Sensors?$expand=Datastreams($expand=Thing)", "Datastreams"),
        ("ObservedProperties?$expand=Datastreams($count=true;$top=0)", "Datastreams"),
        ("Things?$expand=Datastreams($top=10000;$skip=9223372036854775807)", "Datastreams"),
        ("Things?$expand=Locations($expand=Things($expand=Datastreams))", "Locations"),
        (
            "Datastreams?$expand=Observations($filter=phenomenonTime gt now() sub "
            "duration'P100000D';$top=1;$orderby=phenomenonTime desc)",
            "Observations",
        ),
    ],
)
def test_expansion_shapes(world: ReadWorld, query: str, key: str | None) -> None:
    path, _, options = query.partition("?")
    pairs = [pair.split("=", 1) for pair in options.split("&")]
    body = world.get(f"/v1.1/{path}?" + "&".join(f"{k}={quote(v)}" for k, v in pairs))
    assert body["value"] or key is None
    for entity in body["value"]:
        if key is not None:
            assert isinstance(entity[key], list)
            assert all("@iot.id" in child for child in entity[key])
