"""The STA entity model: every set and relation of 18-088 §8, and the property-path whitelist."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sta.entities import (
    DATASTREAM,
    ENTITY_TYPES,
    MULTI_DATASTREAM,
    OBSERVATION,
    THING,
    EntityType,
    UnknownEntity,
    UnknownProperty,
    entity_by_name,
    entity_by_set,
    resolve_path,
)

# name -> (set, {property: required_on_create}, {navigation: (target set, to_many)})
SPEC: dict[str, tuple[str, dict[str, bool], dict[str, tuple[str, bool]]]] = {
    "Thing": (
        "Things",
        {"name": True, "description": True, "properties": False},
        {
            "Locations": ("Locations", True),
            "HistoricalLocations": ("HistoricalLocations", True),
            "Datastreams": ("Datastreams", True),
            "MultiDatastreams": ("MultiDatastreams", True),
        },
    ),
    "Location": (
        "Locations",
        {
            "name": True,
            "description": True,
            "encodingType": True,
            "location": True,
            "properties": False,
        },
        {"Things": ("Things", True), "HistoricalLocations": ("HistoricalLocations", True)},
    ),
    "HistoricalLocation": (
        "HistoricalLocations",
        {"time": True},
        {"Thing": ("Things", False), "Locations": ("Locations", True)},
    ),
    "Datastream": (
        "Datastreams",
        {
            "name": True,
            "description": True,
            "unitOfMeasurement": True,
            "observationType": True,
            "observedArea": False,
            "phenomenonTime": False,
            "resultTime": False,
            "properties": False,
        },
        {
            "Thing": ("Things", False),
            "Sensor": ("Sensors", False),
            "ObservedProperty": ("ObservedProperties", False),
            "Observations": ("Observations", True),
        },
    ),
    "MultiDatastream": (
        "MultiDatastreams",
        {
            "name": True,
            "description": True,
            "unitOfMeasurements": True,
            "observationType": True,
            "multiObservationDataTypes": True,
            "observedArea": False,
            "phenomenonTime": False,
            "resultTime": False,
            "properties": False,
        },
        {
            "Thing": ("Things", False),
            "Sensor": ("Sensors", False),
            "ObservedProperties": ("ObservedProperties", True),
            "Observations": ("Observations", True),
        },
    ),
    "Sensor": (
        "Sensors",
        {
            "name": True,
            "description": True,
            "encodingType": True,
            "metadata": True,
            "properties": False,
        },
        {"Datastreams": ("Datastreams", True), "MultiDatastreams": ("MultiDatastreams", True)},
    ),
    "ObservedProperty": (
        "ObservedProperties",
        {"name": True, "definition": True, "description": True, "properties": False},
        {"Datastreams": ("Datastreams", True), "MultiDatastreams": ("MultiDatastreams", True)},
    ),
    "Observation": (
        "Observations",
        {
            "phenomenonTime": False,
            "result": True,
            "resultTime": False,
            "resultQuality": False,
            "validTime": False,
            "parameters": False,
        },
        {
            "Datastream": ("Datastreams", False),
            "MultiDatastream": ("MultiDatastreams", False),
            "FeatureOfInterest": ("FeaturesOfInterest", False),
        },
    ),
    "FeatureOfInterest": (
        "FeaturesOfInterest",
        {
            "name": True,
            "description": True,
            "encodingType": True,
            "feature": True,
            "properties": False,
        },
        {"Observations": ("Observations", True)},
    ),
}


def test_the_model_lists_exactly_the_nine_entity_types() -> None:
    assert {entity.name for entity in ENTITY_TYPES} == set(SPEC)
    assert len({entity.set_name for entity in ENTITY_TYPES}) == 9


@pytest.mark.parametrize("name", sorted(SPEC))
def test_entity_matches_the_spec(name: str) -> None:
    set_name, properties, navigations = SPEC[name]
    entity = entity_by_name(name)
    assert entity is entity_by_set(set_name)
    assert entity.set_name == set_name
    assert [p.name for p in entity.properties] == ["id", *properties]
    for prop, required in properties.items():
        assert entity.property(prop).required_on_create is required, prop
    assert {n.name: (n.target_set, n.to_many) for n in entity.navigations} == navigations
    for nav in entity.navigations:
        assert nav.target.set_name == nav.target_set
        assert entity.navigation(nav.name) is nav


def test_property_kinds_drive_what_a_path_may_do() -> None:
    assert OBSERVATION.property("result").kind == "any"
    assert OBSERVATION.property("resultTime").kind == "time-instant"
    assert OBSERVATION.property("parameters").kind == "json"
    assert DATASTREAM.property("unitOfMeasurement").kind == "unit"
    assert DATASTREAM.property("observedArea").kind == "geometry"
    assert DATASTREAM.property("observationType").kind == "uri"
    assert not THING.property("properties").sortable
    assert THING.property("name").sortable


def test_iot_id_is_an_alias_of_id() -> None:
    assert THING.property("@iot.id") is THING.property("id")
    assert THING.has_property("@iot.id")


@pytest.mark.parametrize("name", ["Thingz", "things", "", "Thing\n"])
def test_unknown_entity_names(name: str) -> None:
    with pytest.raises(UnknownEntity):
        entity_by_set(name)
    with pytest.raises(UnknownEntity) as info:
        entity_by_name(name)
    assert "\n" not in str(info.value)


def test_unknown_property_message_is_one_line() -> None:
    with pytest.raises(UnknownProperty, match=r"^Datastream has no property 'nmae'$"):
        DATASTREAM.property("nmae")
    with pytest.raises(UnknownProperty, match="no navigation property"):
        DATASTREAM.navigation("Things")
    with pytest.raises(UnknownProperty) as info:
        DATASTREAM.property("x\ny" * 100)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 120


# --- resolve_path ------------------------------------------------------------------------------


def test_a_plain_property() -> None:
    path = resolve_path(DATASTREAM, ("name",))
    assert path.hops == () and path.entity is DATASTREAM
    assert path.property is DATASTREAM.property("name") and path.json_keys == ()
    assert path.sortable and path.filterable and not path.crosses_to_many


def test_navigation_then_property() -> None:
    path = resolve_path(OBSERVATION, ("Datastream", "Thing", "name"))
    assert [hop.name for hop in path.hops] == ["Datastream", "Thing"]
    assert path.entity is THING and path.property is not None
    assert path.property.name == "name"


def test_path_ending_on_an_entity() -> None:
    path = resolve_path(THING, ("Datastreams", "Sensor"))
    assert path.property is None and path.entity.name == "Sensor"
    assert path.crosses_to_many and not path.filterable and not path.sortable


def test_json_members() -> None:
    path = resolve_path(THING, ("properties", "owner", "address-1", "zip_code.v2"))
    assert path.json_keys == ("owner", "address-1", "zip_code.v2")
    assert path.sortable
    obs = resolve_path(OBSERVATION, ("parameters", "0"))
    assert obs.json_keys == ("0",)
    multi = resolve_path(MULTI_DATASTREAM, ("unitOfMeasurements", "0", "symbol"))
    assert multi.json_keys == ("0", "symbol")


def test_unit_members() -> None:
    assert resolve_path(DATASTREAM, ("unitOfMeasurement", "symbol")).json_keys == ("symbol",)
    for bad in (("unitOfMeasurement", "colour"), ("unitOfMeasurement", "name", "x")):
        with pytest.raises(UnknownProperty):
            resolve_path(DATASTREAM, bad)


@pytest.mark.parametrize(
    "segments",
    [
        ("properties", "..", "x"),
        ("properties", "."),
        ("properties", "a'b"),
        ("properties", "a b"),
        ("properties", ""),
        ("properties", "k" * 65),
        ("properties", "ключ"),
        ("properties", "a\n"),
        ("properties", *["k"] * 9),
        ("name", "x"),
        ("nmae",),
        ("Datastreams",),  # Thing's navigation, not Datastream's
        ("Thing", "Datastreams", "Thing", "Datastreams", "Thing", "Datastreams", "name"),
        ("Thing", "Locations", "Things", "Datastreams", "Sensor", "Datastreams") * 4,
        ("Datastream",),
        (),
    ],
)
def test_bad_paths_are_unknown_property(segments: tuple[str, ...]) -> None:
    start = THING if segments[:1] == ("properties",) else DATASTREAM
    with pytest.raises(UnknownProperty) as info:
        resolve_path(start, segments)
    assert "\n" not in str(info.value)


def test_five_hops_is_the_limit() -> None:
    five = ("Thing", "Datastreams", "Thing", "Datastreams", "Thing")
    assert len(resolve_path(DATASTREAM, (*five, "name")).hops) == 5
    with pytest.raises(UnknownProperty, match="more than 5"):
        resolve_path(DATASTREAM, (*five, "Datastreams"))


def test_json_depth_of_eight_is_allowed() -> None:
    assert len(resolve_path(THING, ("properties", *"abcdefgh")).json_keys) == 8


SEGMENTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["properties", "parameters", "unitOfMeasurement", "name", "symbol", ".."]),
    st.sampled_from([nav.name for entity in ENTITY_TYPES for nav in entity.navigations]),
)


@given(st.lists(SEGMENTS, max_size=16), st.sampled_from(ENTITY_TYPES))
def test_arbitrary_segments_resolve_or_raise_unknown_property(
    segments: list[str], entity: EntityType
) -> None:
    try:
        path = resolve_path(entity, tuple(segments))
    except UnknownProperty as exc:
        assert "\n" not in str(exc)
    else:
        assert len(path.hops) <= 5 and len(path.json_keys) <= 8
