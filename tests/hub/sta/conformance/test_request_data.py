"""Conformance: requesting data -- query options (ets-sta10 Capability3Tests).

Requirement class (18-088 Annex A.2, ``sta.md`` §1.4):
``http://www.opengis.net/spec/iot_sensing/1.1/req/request-data`` (order, expand, select,
status-code, query-status-code, orderby, top, skip, count, filter, built-in-filter-operations,
built-in-query-functions, pagination).

The world is ets-sta10's own (:mod:`tests.hub.sta.conformance.seed`), and so is each check:
``$select`` of every property, ``$expand`` of every relation (also several levels deep and with
nested options), ``$top``, ``$skip``, ``$orderby`` ascending and descending per property,
``$count``, ``$filter`` with lt/le/eq/ne/ge/gt per property -- on entity sets and on
relations -- the evaluation-order query expecting a count of 6, server-driven paging through
``@iot.nextLink``, and the status codes of malformed queries. Expected answers are computed from
the world, so every assertion compares exact sets of ids.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest

from tests.hub.sta.conformance.client import Sta
from tests.hub.sta.conformance.queries import (
    BAD_QUERIES,
    LOCATION_FUNCTIONS,
    OBSERVATION_FUNCTIONS,
    THING_FUNCTIONS,
)
from tests.hub.sta.conformance.seed import PAGING_ROWS, World, build_world
from tests.hub.sta.conformance.spec import (
    MANDATORY,
    RELATIONS,
    SETS,
    TO_ONE,
    check_control_information,
    check_mandatory,
    missing_requirements,
    target_set,
    time_start,
)

REQUEST_DATA = [
    f"request-data/{name}"
    for name in (
        "order",
        "expand",
        "select",
        "status-code",
        "query-status-code",
        "orderby",
        "top",
        "skip",
        "count",
        "filter",
        "built-in-filter-operations",
        "built-in-query-functions",
        "pagination",
    )
]
# Properties with a total order, per set ("id" is @iot.id).
COMPARABLE: dict[str, tuple[str, ...]] = {
    "Things": ("id", "name", "description"),
    "Locations": ("id", "name", "description", "encodingType"),
    "HistoricalLocations": ("id", "time"),
    "Datastreams": ("id", "name", "description", "observationType"),
    "Sensors": ("id", "name", "description", "encodingType", "metadata"),
    "ObservedProperties": ("id", "name", "definition", "description"),
    "Observations": ("id", "phenomenonTime", "result", "resultTime"),
    "FeaturesOfInterest": ("id", "name", "description", "encodingType"),
}
TIMES = {"time", "phenomenonTime", "resultTime"}
NUMBERS = {"id", "result"}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
    "ge": operator.ge,
    "gt": operator.gt,
}
SORTED = [(s, p) for s in SETS for p in COMPARABLE[s]]
NAVIGATIONS = [(s, n) for s in SETS for n in RELATIONS[s]]
MULTILEVEL = {
    "Things": ("Datastreams", "Sensor"),
    "Locations": ("Things", "Datastreams"),
    "HistoricalLocations": ("Thing", "Datastreams"),
    "Datastreams": ("Observations", "FeatureOfInterest"),
    "Sensors": ("Datastreams", "Observations"),
    "ObservedProperties": ("Datastreams", "Thing"),
    "Observations": ("Datastream", "ObservedProperty"),
    "FeaturesOfInterest": ("Observations", "Datastream"),
}


@pytest.fixture(scope="module")
def world(sta: Sta) -> World:
    return sta.keep("world", lambda: build_world(sta, "cnfreq", paging=True))


@pytest.fixture(scope="module")
def scoped(sta: Sta, world: World) -> dict[str, list[dict[str, Any]]]:
    """Every entity of the world, per set, as served (ordered by id)."""
    return sta.keep(
        "scoped",
        lambda: {s: sta.collect(f"{s}?$filter={world.scope(s)}&$orderby=id") for s in SETS},
    )


def value(entity: dict[str, Any], name: str) -> Any:
    """The comparable value of a property: ``@iot.id`` for id, the start of a time."""
    if name == "id":
        return entity["@iot.id"]
    if name in TIMES:
        return time_start(entity[name])
    return entity[name]


def literal(entity: dict[str, Any], name: str) -> str:
    """The ``$filter`` literal of that property's value, written as 18-088 writes them."""
    if name in NUMBERS:
        return str(value(entity, name))
    if name in TIMES:
        return str(entity[name]).split("/", 1)[0]
    return "'" + str(entity[name]).replace("'", "''") + "'"


def ids(entities: list[dict[str, Any]]) -> list[int]:
    return [e["@iot.id"] for e in entities]


def related(world: World, set_name: str, entity_id: int, navigation: str) -> list[int]:
    return sorted(world.links[(set_name, entity_id, navigation)])


def collections_of(world: World, set_name: str) -> list[tuple[str, str, list[int]]]:
    """(path, navigation, related ids) of each collection of the set's first entity, the
    relation paths ets-sta10 queries (``Things(1)/Datastreams``)."""
    entity_id = world.ids_of(set_name)[0]
    return [
        (f"{set_name}({entity_id})/{n}", n, related(world, set_name, entity_id, n))
        for n in RELATIONS[set_name]
        if n not in TO_ONE
    ]


def inline_ids(entity: dict[str, Any], navigation: str) -> list[int]:
    """The ids of an expanded navigation property of ``entity``."""
    assert navigation in entity, (navigation, sorted(entity))
    inline = entity[navigation]
    if navigation in TO_ONE:
        assert isinstance(inline, dict), (navigation, inline)
        return [inline["@iot.id"]]
    assert isinstance(inline, list), (navigation, inline)
    return sorted(e["@iot.id"] for e in inline)


def check_selected(entity: dict[str, Any], selected: set[str], set_name: str) -> None:
    """Only the selected properties and navigation links (control information may stay)."""
    keys = {k for k in entity if k not in ("@iot.id", "@iot.selfLink")}
    wanted = {f"{s}@iot.navigationLink" if s in RELATIONS[set_name] else s for s in selected}
    wanted.discard("id")
    assert keys == wanted, (set_name, sorted(selected), entity)
    if "id" in selected:
        assert isinstance(entity.get("@iot.id"), int), entity


def test_service_root_advertises_request_data(sta: Sta) -> None:
    conformance = sta.get("")["serverSettings"]["conformance"]
    assert missing_requirements(conformance, REQUEST_DATA) == [], conformance


# --- $select ------------------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", SETS)
def test_select_on_a_set(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkSelectForEntityType: each property alone, then all of them, then a
    navigation property; on the collection and on one entity."""
    scope = world.scope(set_name)
    entity_id = world.ids_of(set_name)[0]
    choices = [["id"]] + [[p] for p in MANDATORY[set_name]]
    choices += [["id", *MANDATORY[set_name]], [RELATIONS[set_name][0]]]
    for selected in choices:
        text = ",".join(selected)
        page = sta.get(f"{set_name}?$filter={scope}&$select={text}")
        assert len(page["value"]) == len(world.ids_of(set_name)), page
        for entity in page["value"]:
            check_selected(entity, set(selected), set_name)
        check_selected(sta.get(f"{set_name}({entity_id})?$select={text}"), set(selected), set_name)


@pytest.mark.parametrize("set_name", SETS)
def test_select_on_relations(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkSelectForEntityTypeRelations: ``/Set(id)/Nav?$select=...``."""
    entity_id = world.ids_of(set_name)[0]
    for navigation in RELATIONS[set_name]:
        related_set = target_set(navigation)
        selected = set(MANDATORY[related_set][:2])
        body = sta.get(f"{set_name}({entity_id})/{navigation}?$select={','.join(selected)}")
        for entity in [body] if navigation in TO_ONE else body["value"]:
            check_selected(entity, selected, related_set)


# --- $expand ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("set_name", "navigation"), NAVIGATIONS)
def test_expand_each_relation(sta: Sta, world: World, set_name: str, navigation: str) -> None:
    """ets-sta10 checkExpandtForEntityType: inline entities are exactly the related ones,
    complete, on one entity and on every entity of the collection."""
    related_set = target_set(navigation)
    for entity_id in world.ids_of(set_name):
        entity = sta.get(f"{set_name}({entity_id})?$expand={navigation}")
        assert inline_ids(entity, navigation) == related(world, set_name, entity_id, navigation)
        inline = entity[navigation]
        for item in [inline] if navigation in TO_ONE else inline:
            check_mandatory(related_set, item)
            check_control_information(sta.root, related_set, item)
    for entity in sta.collect(f"{set_name}?$filter={world.scope(set_name)}&$expand={navigation}"):
        entity_id = entity["@iot.id"]
        assert inline_ids(entity, navigation) == related(world, set_name, entity_id, navigation)


@pytest.mark.parametrize("set_name", SETS)
def test_expand_on_relations(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkExpandtForEntityTypeRelations: ``/Set(id)/Nav?$expand=Nav2``."""
    entity_id = world.ids_of(set_name)[0]
    for navigation in RELATIONS[set_name]:
        related_set = target_set(navigation)
        second = RELATIONS[related_set][0]
        body = sta.get(f"{set_name}({entity_id})/{navigation}?$expand={second}")
        for entity in [body] if navigation in TO_ONE else body["value"]:
            expected = related(world, related_set, entity["@iot.id"], second)
            assert inline_ids(entity, second) == expected, (navigation, second, entity)


@pytest.mark.parametrize("set_name", SETS)
def test_expand_multilevel(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkExpandtForEntityTypeMultilevel: ``$expand=Nav/Nav2``."""
    first, second = MULTILEVEL[set_name]
    middle_set = target_set(first)
    for entity in sta.collect(
        f"{set_name}?$filter={world.scope(set_name)}&$expand={first}/{second}"
    ):
        assert inline_ids(entity, first) == related(world, set_name, entity["@iot.id"], first)
        inline = entity[first]
        for item in [inline] if first in TO_ONE else inline:
            expected = related(world, middle_set, item["@iot.id"], second)
            assert inline_ids(item, second) == expected, (first, second, item)


def test_expand_several_relations_and_levels_at_once(sta: Sta, world: World) -> None:
    path = (
        f"Things?$filter={world.scope('Things')}"
        "&$expand=Locations,Datastreams/ObservedProperty,Datastreams/Sensor"
    )
    for thing in sta.collect(path):
        thing_id = thing["@iot.id"]
        assert inline_ids(thing, "Locations") == related(world, "Things", thing_id, "Locations")
        assert inline_ids(thing, "Datastreams") == related(world, "Things", thing_id, "Datastreams")
        for stream in thing["Datastreams"]:
            for navigation in ("ObservedProperty", "Sensor"):
                expected = related(world, "Datastreams", stream["@iot.id"], navigation)
                assert inline_ids(stream, navigation) == expected, stream
    observation = sta.get(
        f"Observations({world.observations[0]})"
        "?$expand=Datastream/Thing/Locations,FeatureOfInterest"
    )
    assert observation["Datastream"]["Thing"]["@iot.id"] == world.things[0]
    assert inline_ids(observation["Datastream"]["Thing"], "Locations") == [world.locations[1]]
    assert observation["FeatureOfInterest"]["@iot.id"] == world.features[0]


def test_expand_with_nested_options(sta: Sta, world: World) -> None:
    """``$expand=Nav($select;$orderby;$top;$count;$filter;$expand)`` (18-088 §9.3.2.1)."""
    thing = sta.get(
        f"Things({world.things[0]})?$expand=Datastreams($select=name;$orderby=name desc;"
        "$top=1;$count=true;$expand=Observations($filter=result gt 4;$orderby=result desc;"
        "$select=result))"
    )
    assert thing["Datastreams@iot.count"] == 2, thing
    (stream,) = thing["Datastreams"]
    assert stream["name"] == "cnfreq datastream 2", stream
    assert {k for k in stream if not k.startswith("Observations")} <= {
        "name",
        "@iot.id",
        "@iot.selfLink",
    }, stream
    assert [o["result"] for o in stream["Observations"]] == [6, 5], stream
    assert all(set(o) <= {"result", "@iot.id", "@iot.selfLink"} for o in stream["Observations"])
    # A nextLink inside an expansion is optional; when given, it leads to the rest.
    link = thing.get("Datastreams@iot.nextLink")
    if link is not None:
        assert [e["name"] for e in sta.get(link)["value"]] == ["cnfreq datastream 1"]
    # Nested options apply to the expansion of every entity of a collection.
    for entity in sta.collect(
        f"Things?$filter={world.scope('Things')}&$expand=Datastreams($count=true;$top=1)"
    ):
        assert entity["Datastreams@iot.count"] == 2, entity
        assert len(entity["Datastreams"]) == 1, entity


def test_expanded_entities_are_selected_implicitly(sta: Sta, world: World) -> None:
    for thing in sta.collect(
        f"Things?$filter={world.scope('Things')}&$select=name&$expand=Datastreams"
    ):
        assert {k for k in thing if not k.startswith("@iot.")} == {"name", "Datastreams"}, thing
        assert len(thing["Datastreams"]) == 2


# --- $top, $skip, $count ------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", SETS)
def test_top(sta: Sta, world: World, scoped: dict[str, list[Any]], set_name: str) -> None:
    """ets-sta10 checkTopForEntityType: ``$top`` caps the page and a nextLink leads on."""
    everything = ids(scoped[set_name])
    base = f"{set_name}?$filter={world.scope(set_name)}&$orderby=id"
    page = sta.get(f"{base}&$top=1")
    assert ids(page["value"]) == everything[:1]
    assert "@iot.nextLink" in page, page
    following = sta.get(page["@iot.nextLink"])
    assert ids(following["value"]) == everything[1:2]
    whole = sta.get(f"{base}&$top={len(everything)}")
    assert ids(whole["value"]) == everything
    assert "@iot.nextLink" not in whole, whole


@pytest.mark.parametrize("set_name", SETS)
def test_top_on_relations(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkTopForEntityTypeRelation."""
    for path, navigation, everything in collections_of(world, set_name):
        page = sta.get(f"{path}?$top=1&$orderby=id")
        assert ids(page["value"]) == everything[:1], (navigation, page)
        assert ("@iot.nextLink" in page) == (len(everything) > 1), (navigation, page)


@pytest.mark.parametrize("set_name", SETS)
def test_skip(sta: Sta, world: World, scoped: dict[str, list[Any]], set_name: str) -> None:
    """ets-sta10 checkSkipForEntityType: ``$skip=k`` drops the first k of the order."""
    everything = ids(scoped[set_name])
    base = f"{set_name}?$filter={world.scope(set_name)}&$orderby=id"
    for skip in (1, 2, len(everything) - 1, len(everything)):
        assert ids(sta.collect(f"{base}&$skip={skip}")) == everything[skip:], skip
    assert ids(sta.get(f"{base}&$skip=1&$top=1")["value"]) == everything[1:2]


@pytest.mark.parametrize("set_name", SETS)
def test_skip_on_relations(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkSkipForEntityTypeRelation."""
    for path, navigation, everything in collections_of(world, set_name):
        found = ids(sta.collect(f"{path}?$skip=1&$orderby=id"))
        assert found == everything[1:], (navigation, found)


@pytest.mark.parametrize("set_name", SETS)
def test_count(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkCountForEntityType: ``$count=true`` counts the filtered set before
    paging and is written before ``value``; ``$count=false`` writes no count."""
    base = f"{set_name}?$filter={world.scope(set_name)}"
    total = len(world.ids_of(set_name))
    page = sta.get(f"{base}&$count=true")
    assert page["@iot.count"] == total, page
    keys = list(page)
    assert keys.index("@iot.count") < keys.index("value"), keys
    assert sta.get(f"{base}&$count=true&$top=1")["@iot.count"] == total
    assert "@iot.count" not in sta.get(f"{base}&$count=false")


@pytest.mark.parametrize("set_name", SETS)
def test_count_on_relations(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkCountForEntityTypeRelations."""
    for path, navigation, everything in collections_of(world, set_name):
        assert sta.get(f"{path}?$count=true")["@iot.count"] == len(everything), navigation
        assert "@iot.count" not in sta.get(f"{path}?$count=false"), navigation


# --- $orderby -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("set_name", "name"), SORTED)
def test_orderby(
    sta: Sta, world: World, scoped: dict[str, list[Any]], set_name: str, name: str
) -> None:
    """ets-sta10 checkOrderbyForEntityType: ascending (also by default) and descending."""
    base = f"{set_name}?$filter={world.scope(set_name)}"
    expected = sorted(value(e, name) for e in scoped[set_name])
    for suffix, wanted in (("", expected), (" asc", expected), (" desc", expected[::-1])):
        found = sta.collect(f"{base}&$orderby={name}{suffix}")
        assert [value(e, name) for e in found] == wanted, (name + suffix, ids(found))


def test_orderby_several_expressions(sta: Sta, world: World) -> None:
    base = f"Observations?$filter={world.scope('Observations')}"
    found = sta.collect(f"{base}&$orderby=Datastream/name desc,result asc")
    expected = sorted(range(1, 13), key=lambda r: (-((r - 1) // 3), r))
    assert [e["result"] for e in found] == expected


@pytest.mark.parametrize("set_name", SETS)
def test_orderby_on_relations(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 checkOrderbyForEntityTypeRelations."""
    for path, navigation, _ids in collections_of(world, set_name):
        everything = sta.collect(path)
        for name in COMPARABLE[target_set(navigation)]:
            expected = sorted(value(e, name) for e in everything)
            for suffix, wanted in ((" asc", expected), (" desc", expected[::-1])):
                found = sta.collect(f"{path}?$orderby={name}{suffix}")
                assert [value(e, name) for e in found] == wanted, (navigation, name + suffix)


# --- $filter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("set_name", "name"), SORTED)
def test_filter_comparisons(
    sta: Sta, world: World, scoped: dict[str, list[Any]], set_name: str, name: str
) -> None:
    """ets-sta10 checkFilterForEntityType: lt, le, eq, ne, ge, gt against a value the set
    holds; the answer is exactly the world's entities that compare so."""
    entities = scoped[set_name]
    sample = entities[len(entities) // 2]
    mismatches = []
    for op, compare in OPERATORS.items():
        expected = [e["@iot.id"] for e in entities if compare(value(e, name), value(sample, name))]
        path = f"{set_name}?$filter={world.scope(set_name)} and {name} {op} {literal(sample, name)}"
        found = sorted(ids(sta.collect(path)))
        if found != expected:
            mismatches.append((op, literal(sample, name), found, expected))
    assert mismatches == [], mismatches


RELATION_FILTERS = [
    ("Things", 0, "Datastreams", "name"),
    ("Things", 0, "HistoricalLocations", "time"),
    ("Locations", 0, "Things", "name"),
    ("Locations", 0, "HistoricalLocations", "time"),
    ("HistoricalLocations", 0, "Locations", "name"),
    ("Datastreams", 1, "Observations", "result"),
    ("Datastreams", 1, "Observations", "phenomenonTime"),
    ("Sensors", 0, "Datastreams", "name"),
    ("ObservedProperties", 1, "Datastreams", "name"),
    ("FeaturesOfInterest", 0, "Observations", "resultTime"),
]


@pytest.mark.parametrize(("set_name", "index", "navigation", "name"), RELATION_FILTERS)
def test_filter_on_relations(
    sta: Sta, world: World, set_name: str, index: int, navigation: str, name: str
) -> None:
    """ets-sta10 checkFilterForEntityTypeRelations: ``/Set(id)/Nav?$filter=prop op value``."""
    path = f"{set_name}({world.ids_of(set_name)[index]})/{navigation}"
    entities = sta.collect(f"{path}?$orderby=id")
    sample = entities[len(entities) // 2]
    mismatches = []
    for op, compare in OPERATORS.items():
        expected = [e["@iot.id"] for e in entities if compare(value(e, name), value(sample, name))]
        found = sorted(ids(sta.collect(f"{path}?$filter={name} {op} {literal(sample, name)}")))
        if found != expected:
            mismatches.append((op, found, expected))
    assert mismatches == [], mismatches


@pytest.mark.parametrize(("expression", "results"), OBSERVATION_FUNCTIONS)
def test_built_in_operators_and_functions_on_observations(
    sta: Sta, world: World, expression: str, results: list[int]
) -> None:
    """18-088 §9.3.3.5.2 table 24/25, on the world's twelve Observations."""
    path = f"Observations?$filter={world.scope('Observations')} and ({expression})"
    found = sorted(e["result"] for e in sta.collect(path))
    assert found == results, expression


@pytest.mark.parametrize(("expression", "numbers"), THING_FUNCTIONS)
def test_built_in_functions_on_things(
    sta: Sta, world: World, expression: str, numbers: list[int]
) -> None:
    """String functions (0-based ``indexof``/``substring``, as OData and FROST-Server 2.5; the
    hub documents the choice), JSON properties and navigation in filters."""
    path = f"Things?$filter={world.scope('Things')} and ({expression})"
    assert sorted(ids(sta.collect(path))) == [world.things[n - 1] for n in numbers], expression


@pytest.mark.parametrize(("expression", "numbers"), LOCATION_FUNCTIONS)
def test_built_in_spatial_functions(
    sta: Sta, world: World, expression: str, numbers: list[int]
) -> None:
    path = f"Locations?$filter={world.scope('Locations')} and ({expression})"
    assert sorted(ids(sta.collect(path))) == [world.locations[n - 1] for n in numbers], expression


# --- evaluation order, paging, status codes -----------------------------------------------------


def test_query_options_are_evaluated_in_the_specified_order(sta: Sta, world: World) -> None:
    """ets-sta10 checkQueriesPriorityOrdering, verbatim: $filter, then $count, $orderby,
    $skip and $top. ``result gt '3'`` compares as strings, so 4..9 match (not 10..12, nor
    the paging Datastream's 100..219): a count of 6, and the third of them is 6."""
    page = sta.get(
        "Observations?$count=true&$top=1&$skip=2&$orderby=phenomenonTime%20asc"
        "&$filter=result%20gt%20'3'"
    )
    assert page["@iot.count"] == 6, page
    assert len(page["value"]) == 1, page
    assert page["value"][0]["result"] == 6, page


def test_server_driven_paging(sta: Sta, world: World) -> None:
    """Without ``$top`` a page holds at most 100 entities (the hub's documented default) and
    ``@iot.nextLink`` leads, absolute and opaque, through every entity once."""
    path = f"Datastreams({world.paging_datastream})/Observations?$count=true"
    seen: list[int] = []
    url: str | None = path
    pages = 0
    while url is not None:
        page = sta.get(url)
        pages += 1
        assert page["@iot.count"] == PAGING_ROWS, page.get("@iot.count")
        assert 0 < len(page["value"]) <= 100
        seen.extend(ids(page["value"]))
        url = page.get("@iot.nextLink")
        if url is not None:
            assert url.startswith(sta.root + "/"), url
        assert pages <= PAGING_ROWS
    assert pages >= 2
    assert len(seen) == PAGING_ROWS == len(set(seen))


def test_next_links_keep_the_other_options(sta: Sta, world: World) -> None:
    path = (
        f"Datastreams({world.paging_datastream})/Observations"
        "?$orderby=result desc&$top=50&$select=result&$filter=result ge 110"
    )
    results: list[int] = []
    url: str | None = path
    sizes = []
    while url is not None:
        page = sta.get(url)
        sizes.append(len(page["value"]))
        for entity in page["value"]:
            assert {k for k in entity if not k.startswith("@iot.")} == {"result"}, entity
            results.append(entity["result"])
        url = page.get("@iot.nextLink")
    assert results == list(range(100 + PAGING_ROWS - 1, 109, -1))
    assert sizes == [50, 50, PAGING_ROWS - 110]


def test_successful_queries_answer_200(sta: Sta, world: World) -> None:
    """req/request-data/status-code."""
    for query in (
        f"Things?$filter={world.scope('Things')}&$select=name&$orderby=name&$top=1&$skip=1",
        f"Things({world.things[0]})?$expand=Datastreams($top=1)",
        "Observations?$count=true&$top=0",
    ):
        sta.request("GET", query, status=200)


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_a_malformed_query_is_400(sta: Sta, query: str) -> None:
    """req/request-data/query-status-code: a query the service cannot parse is a 400 with
    a JSON message, never a 500."""
    sta.request("GET", query, status=400)


def test_literals_with_quotes_and_non_ascii_characters(sta: Sta, world: World) -> None:
    """Names as Astana writes them (Kazakh and Russian), and a doubled quote in a literal."""
    names = ["Астана, Сарыарқа ауданы", "O'Brien's station", "Есіл — 2"]
    made = [sta.create("Things", {"name": n, "description": "non-ASCII"}) for n in names]
    for name, thing_id in zip(names, made, strict=True):
        literal_text = name.replace("'", "''")
        assert sta.ids(f"Things?$filter=name eq '{literal_text}'") == [thing_id], name
        assert sta.get(f"Things({thing_id})/name") == {"name": name}
    found = sta.ids("Things?$filter=startswith(name, 'Астана')")
    assert found == [made[0]]
