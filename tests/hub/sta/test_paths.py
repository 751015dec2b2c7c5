"""STA resource paths: every form of 18-088 §9.2, and ids that must never be confused with 1."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sta.entities import ENTITY_TYPES, EntityType
from hub.sta.paths import MAX_ID, PathError, ResourcePath, parse_id, parse_resource_path


def shape(path: ResourcePath) -> list[tuple[str, int | None]]:
    return [(segment.name, segment.id) for segment in path.segments]


def test_service_root() -> None:
    for text in ("", "/"):
        path = parse_resource_path(text)
        assert path.kind == "root" and path.segments == () and path.entity is None


@pytest.mark.parametrize("entity", ENTITY_TYPES, ids=lambda e: e.set_name)
def test_every_entity_set_is_a_collection(entity: EntityType) -> None:
    set_name = entity.set_name
    path = parse_resource_path(set_name)
    assert path.kind == "collection" and path.entity is entity and path.is_collection
    assert parse_resource_path(f"/{set_name}(7)").kind == "entity"


@pytest.mark.parametrize(
    ("text", "kind", "segments", "prop"),
    [
        ("Things", "collection", [("Things", None)], None),
        ("Things(1)", "entity", [("Things", 1)], None),
        ("Things(1)/name", "property", [("Things", 1)], "name"),
        ("Things(1)/name/$value", "value", [("Things", 1)], "name"),
        ("Things(1)/properties", "property", [("Things", 1)], "properties"),
        ("Datastreams(1)/Observations", "collection", [("Datastreams", 1), ("Observations", None)],
         None),
        ("Datastreams(1)/Observations/$ref", "ref", [("Datastreams", 1), ("Observations", None)],
         None),
        ("Datastreams(1)/Thing/$ref", "ref", [("Datastreams", 1), ("Thing", None)], None),
        ("Things/$ref", "ref", [("Things", None)], None),
        (
            "Datastreams(1)/Sensor/Datastreams",
            "collection",
            [("Datastreams", 1), ("Sensor", None), ("Datastreams", None)],
            None,
        ),
        ("Datastreams(1)/Thing", "entity", [("Datastreams", 1), ("Thing", None)], None),
        ("Things(1)/Datastreams(2)", "entity", [("Things", 1), ("Datastreams", 2)], None),
        ("Observations(5)/Datastream/unitOfMeasurement", "property",
         [("Observations", 5), ("Datastream", None)], "unitOfMeasurement"),
        ("Things(1)/@iot.id", None, None, None),
        (f"Things({MAX_ID})", "entity", [("Things", MAX_ID)], None),
        ("Things(1)/id", "property", [("Things", 1)], "id"),
    ],
)  # fmt: skip
def test_path_forms(
    text: str, kind: str | None, segments: list[tuple[str, int | None]] | None, prop: str | None
) -> None:
    if kind is None:
        with pytest.raises(PathError):
            parse_resource_path(text)
        return
    path = parse_resource_path(text)
    assert path.kind == kind
    assert shape(path) == segments
    assert (path.property.name if path.property else None) == prop


def test_navigation_segments_know_their_types() -> None:
    path = parse_resource_path("Datastreams(1)/Sensor/Datastreams")
    assert [s.entity.name for s in path.segments] == ["Datastream", "Sensor", "Datastream"]
    assert path.segments[0].navigation is None
    sensor = path.segments[1].navigation
    assert sensor is not None and not sensor.to_many


# Identifier confusion (reliability.md §6 row 16) and other malformed ids: always 400.
CONFUSING_IDS = [
    "'1abc'",
    "'1'",
    "1abc",
    "1 or 1 eq 1",
    "1.0",
    "1e0",
    "99999999999999999999",
    str(MAX_ID + 1),
    "+1",
    "-1",
    " 1",
    "1 ",
    "01",
    "0x1",
    "1_0",
    "\u0661",  # Arabic-Indic digit one: str.isdigit() says yes, we say no
    "",
    "1)(1",
    "1,2",
    "Id=1",
    "1;",
    "1%20",
]


@pytest.mark.parametrize("key", CONFUSING_IDS)
def test_confusing_ids_are_400_and_never_1(key: str) -> None:
    for text in (f"Things({key})", f"Things(1)/Datastreams({key})"):
        with pytest.raises(PathError) as info:
            parse_resource_path(text)
        assert info.value.status == 400, text
        assert "\n" not in str(info.value)


def test_id_zero_is_well_formed_but_absent() -> None:
    with pytest.raises(PathError) as info:
        parse_resource_path("Things(0)")
    assert info.value.status == 404


def test_parse_id() -> None:
    assert parse_id("1") == 1
    assert parse_id(str(MAX_ID)) == MAX_ID
    with pytest.raises(PathError):
        parse_id("1.0")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Thingz", 404),
        ("things", 404),
        ("Things(1)/nmae", 404),
        ("Things(1)/name/first", 404),
        ("Things(1)/properties/owner", 404),
        ("Things(1)/Sensors", 404),
        ("$batch", 400),
        ("Things/Datastreams", 400),  # a collection cannot be navigated
        ("Things/name", 400),
        ("Things(1)/Datastreams/Thing", 400),
        ("Datastreams(1)/Thing(1)", 400),  # to-one navigation takes no id
        ("Things(1)/name(1)", 400),
        ("Things(1)(2)", 400),
        ("Things(1)/$value", 400),
        ("Things(1)/name/$ref", 400),
        ("Things(1)/$ref/name", 400),
        ("Things(1)/name/$value/x", 400),
        ("$ref", 400),
        ("$value", 400),
        ("Things(1)/$count", 400),
        ("Things//Datastreams", 400),
        ("Things/", 400),
        ("//Things", 400),
        ("Things/../Things", 400),
        ("./Things", 400),
        ("Things(1)/..", 400),
        ("T" * 129, 400),
        ("Things(1)/" + "x" * 200, 400),
        ("Things (1)", 400),
        ("Things(1)\n", 400),
        ("Things(1)/Datastreams/" * 100, 400),
        ("x" * 5000, 400),
    ],
)
def test_bad_paths(text: str, status: int) -> None:
    with pytest.raises(PathError) as info:
        parse_resource_path(text)
    assert info.value.status == status, str(info.value)
    assert "\n" not in str(info.value)


def test_navigation_depth_is_capped() -> None:
    five = "Datastreams(1)" + "/Thing/Datastreams(1)" * 2 + "/Thing"
    assert len(parse_resource_path(five).segments) == 6
    with pytest.raises(PathError) as info:
        parse_resource_path(five + "/Datastreams")
    assert info.value.status == 400
    twenty = "Datastreams(1)" + "/Thing/Locations(1)/Things(1)/Datastreams(1)" * 5
    with pytest.raises(PathError):
        parse_resource_path(twenty)


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_path_error(text: str) -> None:
    try:
        path = parse_resource_path(text)
    except PathError as exc:
        assert exc.status in (400, 404)
        assert "\n" not in str(exc)
    else:
        assert path.kind in ("root", "collection", "entity", "property", "value", "ref")


ALPHABET = st.sampled_from(
    ["Things", "Datastreams", "Observations", "Sensor", "Thing", "name", "properties", "$value",
     "$ref", "(1)", "(0)", "('1')", "(1.0)", "/", "/", "/", "(", ")", "..", " ", "1"]
)  # fmt: skip


@given(st.lists(ALPHABET, max_size=12).map("".join))
def test_path_like_text_parses_or_raises_path_error(text: str) -> None:
    try:
        path = parse_resource_path(text)
    except PathError as exc:
        assert exc.status in (400, 404)
    else:
        for segment in path.segments:
            assert segment.id is None or segment.id == 1
            assert segment.id is None or "(1)" in text
