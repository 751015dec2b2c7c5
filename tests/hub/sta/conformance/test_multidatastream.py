"""Conformance: the MultiDatastream extension (FROST-Server c05; ets-sta10 has none).

Requirement class (18-088 Annex A.5, ``sta.md`` §1.2):
``http://www.opengis.net/spec/iot_sensing/1.1/req/multi-datastream`` (properties, relations,
constraints).

A MultiDatastream is created (plainly, by deep insert inside a Thing, through a Thing's
navigation link) and read back with its properties, its control information and every
relation -- Thing, Sensor, the ObservedProperties in order, Observations -- and the inverse
relations from Things, Sensors, ObservedProperties and Observations. The constraints of
18-088 §12.2: ``unitOfMeasurements``, ``multiObservationDataTypes`` and the ObservedProperties
match one to one, the observationType is ``OM_ComplexObservation``, each Observation's result
is an array of that length, and an Observation belongs to a Datastream or a MultiDatastream,
never both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.hub.sta.conformance.bodies import (
    MEASUREMENT,
    assert_holds,
    fresh,
    location,
    observation,
    observed_property,
    ref,
    sensor,
    stream_world,
    thing,
)
from tests.hub.sta.conformance.client import Sta
from tests.hub.sta.conformance.spec import (
    check_control_information,
    check_mandatory,
    missing_requirements,
)

COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
UNITS = [
    {"name": "degree Celsius", "symbol": "degC", "definition": "http://qudt.org/vocab/unit#DegC"},
    {"name": "percent", "symbol": "%", "definition": "http://qudt.org/vocab/unit#Percent"},
]
MD_RELATIONS = ("Thing", "Sensor", "ObservedProperties", "Observations")
MD_MANDATORY = (
    "name",
    "description",
    "unitOfMeasurements",
    "observationType",
    "multiObservationDataTypes",
)


def multi(tag: str, **links: Any) -> dict[str, Any]:
    return {
        "name": f"{tag} multidatastream",
        "description": "temperature and humidity",
        "observationType": COMPLEX,
        "unitOfMeasurements": UNITS,
        "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
        "properties": {"mounted": "roof"},
        **links,
    }


@dataclass(frozen=True)
class Setup:
    tag: str
    ids: dict[str, int]  # a stream_world: Things, Sensors, ObservedProperties, ...
    second_property: int
    multi: int
    observations: list[int]


@pytest.fixture(scope="module")
def setup(sta: Sta) -> Setup:
    return sta.keep("setup", lambda: _setup(sta))


def _setup(sta: Sta) -> Setup:
    tag = fresh()
    ids = stream_world(sta, tag)
    second = sta.create("ObservedProperties", observed_property(tag + "h"))
    response = sta.request(
        "POST",
        "MultiDatastreams",
        multi(
            tag,
            Thing=ref(ids["Things"]),
            Sensor=ref(ids["Sensors"]),
            ObservedProperties=[ref(ids["ObservedProperties"]), ref(second)],
        ),
        status=201,
    )
    location_header = response.headers["Location"]
    md = int(location_header[location_header.rindex("(") + 1 : -1])
    assert location_header == f"{sta.root}/MultiDatastreams({md})"
    made = []
    for day, result in enumerate(([21.5, 40], [22.0, 42], [19.25, 55])):
        posted = sta.request(
            "POST",
            f"MultiDatastreams({md})/Observations",
            observation(day, result, FeatureOfInterest=ref(ids["FeaturesOfInterest"])),
            status=201,
        )
        header = posted.headers["Location"]
        made.append(int(header[header.rindex("(") + 1 : -1]))
    return Setup(tag, ids, second, md, made)


def test_service_root_advertises_multi_datastreams(sta: Sta) -> None:
    conformance = sta.get("")["serverSettings"]["conformance"]
    wanted = ["multi-datastream/properties", "multi-datastream/relations"]
    wanted.append("multi-datastream/constraints")
    assert missing_requirements(conformance, wanted) == [], conformance


def test_service_root_lists_multi_datastreams(sta: Sta) -> None:
    urls = {entry["name"]: entry["url"] for entry in sta.get("")["value"]}
    assert urls.get("MultiDatastreams") == f"{sta.root}/MultiDatastreams", urls


def test_a_multi_datastream_reads_back_complete(sta: Sta, setup: Setup) -> None:
    served = sta.get(f"MultiDatastreams({setup.multi})")
    assert_holds(served, multi(setup.tag))
    assert all(name in served for name in MD_MANDATORY), served
    assert served["@iot.selfLink"] == f"{sta.root}/MultiDatastreams({setup.multi})"
    for navigation in MD_RELATIONS:
        assert served[f"{navigation}@iot.navigationLink"] == (
            f"{sta.root}/MultiDatastreams({setup.multi})/{navigation}"
        ), navigation
    every = sta.collect("MultiDatastreams")
    assert setup.multi in [e["@iot.id"] for e in every]


def test_relations_of_a_multi_datastream(sta: Sta, setup: Setup) -> None:
    """Thing, Sensor, the ObservedProperties in the order of the units, the Observations."""
    path = f"MultiDatastreams({setup.multi})"
    assert sta.get(f"{path}/Thing")["@iot.id"] == setup.ids["Things"]
    assert sta.get(f"{path}/Sensor")["@iot.id"] == setup.ids["Sensors"]
    properties = sta.collect(f"{path}/ObservedProperties")
    assert [p["@iot.id"] for p in properties] == [
        setup.ids["ObservedProperties"],
        setup.second_property,
    ]
    for entity in properties:
        check_mandatory("ObservedProperties", entity)
    assert sorted(sta.ids(f"{path}/Observations")) == sorted(setup.observations)
    expanded = sta.get(f"{path}?$expand=ObservedProperties,Observations($orderby=phenomenonTime)")
    assert [p["@iot.id"] for p in expanded["ObservedProperties"]] == [
        setup.ids["ObservedProperties"],
        setup.second_property,
    ]
    assert [o["result"] for o in expanded["Observations"]] == [[21.5, 40], [22.0, 42], [19.25, 55]]


def test_inverse_relations(sta: Sta, setup: Setup) -> None:
    """Things, Sensors and ObservedProperties lead to their MultiDatastreams; Observations to
    theirs, with a navigation link for it."""
    for set_name, key in (("Things", "Things"), ("Sensors", "Sensors")):
        entity = sta.get(f"{set_name}({setup.ids[key]})")
        link = f"{sta.root}/{set_name}({setup.ids[key]})/MultiDatastreams"
        assert entity.get("MultiDatastreams@iot.navigationLink") == link, entity
        assert sta.ids(f"{set_name}({setup.ids[key]})/MultiDatastreams") == [setup.multi]
    for prop in (setup.ids["ObservedProperties"], setup.second_property):
        assert sta.ids(f"ObservedProperties({prop})/MultiDatastreams") == [setup.multi]
    observation_id = setup.observations[0]
    served = sta.get(f"Observations({observation_id})")
    assert served["MultiDatastream@iot.navigationLink"] == (
        f"{sta.root}/Observations({observation_id})/MultiDatastream"
    )
    assert sta.get(f"Observations({observation_id})/MultiDatastream")["@iot.id"] == setup.multi
    check_control_information(sta.root, "Things", sta.get(f"Things({setup.ids['Things']})"))


def test_observations_hold_array_results(sta: Sta, setup: Setup) -> None:
    found = sta.collect(f"MultiDatastreams({setup.multi})/Observations?$orderby=phenomenonTime")
    assert [o["result"] for o in found] == [[21.5, 40], [22.0, 42], [19.25, 55]]
    made = sta.create(
        "Observations",
        observation(
            7,
            [18.0, 61],
            MultiDatastream=ref(setup.multi),
            FeatureOfInterest=ref(setup.ids["FeaturesOfInterest"]),
        ),
    )
    assert sta.get(f"Observations({made})")["result"] == [18.0, 61]


def test_query_options_on_multi_datastreams(sta: Sta, setup: Setup) -> None:
    name = sta.get(f"MultiDatastreams({setup.multi})/name")["name"]
    assert sta.ids(f"MultiDatastreams?$filter=name eq '{name}'") == [setup.multi]
    selected = sta.get(f"MultiDatastreams({setup.multi})?$select=unitOfMeasurements")
    assert selected["unitOfMeasurements"] == UNITS
    things = sta.get(f"Things({setup.ids['Things']})?$expand=MultiDatastreams($select=name)")
    assert [m["name"] for m in things["MultiDatastreams"]] == [name]


def test_deep_insert_and_navigation_creation(sta: Sta, setup: Setup) -> None:
    tag = fresh()
    thing_id = sta.create(
        "Things",
        thing(
            tag,
            Locations=[location(tag)],
            MultiDatastreams=[
                multi(
                    tag,
                    Sensor=sensor(tag),
                    ObservedProperties=[observed_property(tag + "a"), observed_property(tag + "b")],
                )
            ],
        ),
    )
    (md,) = sta.ids(f"Things({thing_id})/MultiDatastreams")
    names = [p["name"] for p in sta.collect(f"MultiDatastreams({md})/ObservedProperties")]
    assert names == [f"{tag}a property", f"{tag}b property"]
    second = sta.create(
        f"Things({thing_id})/MultiDatastreams",
        multi(
            tag + "n",
            Sensor=ref(setup.ids["Sensors"]),
            ObservedProperties=[ref(setup.ids["ObservedProperties"]), ref(setup.second_property)],
        ),
    )
    assert sorted(sta.ids(f"Things({thing_id})/MultiDatastreams")) == sorted([md, second])


def _broken(setup: Setup, tag: str, **changes: Any) -> dict[str, Any]:
    body = multi(
        tag,
        Thing=ref(setup.ids["Things"]),
        Sensor=ref(setup.ids["Sensors"]),
        ObservedProperties=[ref(setup.ids["ObservedProperties"]), ref(setup.second_property)],
    )
    body.update(changes)
    return body


CONSTRAINTS: dict[str, dict[str, Any]] = {
    "one unit for two ObservedProperties": {"unitOfMeasurements": UNITS[:1]},
    "three data types for two ObservedProperties": {
        "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT, MEASUREMENT]
    },
    "an observationType other than OM_ComplexObservation": {"observationType": MEASUREMENT},
    "no multiObservationDataTypes": {"multiObservationDataTypes": None},
}


@pytest.mark.parametrize("case", list(CONSTRAINTS))
def test_multi_datastream_constraints(sta: Sta, setup: Setup, case: str) -> None:
    tag = fresh()
    body = {k: v for k, v in _broken(setup, tag, **CONSTRAINTS[case]).items() if v is not None}
    sta.request("POST", "MultiDatastreams", body, status=400)
    response = sta.request("GET", f"MultiDatastreams?$filter=name eq '{tag} multidatastream'")
    assert response.status_code == 200 and response.json()["value"] == [], response.text


OBSERVATION_CONSTRAINTS: dict[str, Any] = {
    "a scalar result": 21.5,
    "a result array too short": [21.5],
    "a result array too long": [21.5, 40, 3],
}


@pytest.mark.parametrize("case", list(OBSERVATION_CONSTRAINTS))
def test_observation_results_must_match_the_units(sta: Sta, setup: Setup, case: str) -> None:
    before = sta.count(f"MultiDatastreams({setup.multi})/Observations")
    body = observation(
        20, OBSERVATION_CONSTRAINTS[case], FeatureOfInterest=ref(setup.ids["FeaturesOfInterest"])
    )
    sta.request("POST", f"MultiDatastreams({setup.multi})/Observations", body, status=400)
    assert sta.count(f"MultiDatastreams({setup.multi})/Observations") == before


def test_an_observation_belongs_to_one_stream_only(sta: Sta, setup: Setup) -> None:
    body = observation(
        21,
        [1.0, 2],
        MultiDatastream=ref(setup.multi),
        Datastream=ref(setup.ids["Datastreams"]),
        FeatureOfInterest=ref(setup.ids["FeaturesOfInterest"]),
    )
    before = sta.count("Observations")
    sta.request("POST", "Observations", body, status=400)
    assert sta.count("Observations") == before


def test_delete_takes_the_observations_along(sta: Sta, setup: Setup) -> None:
    tag = fresh()
    md = sta.create("MultiDatastreams", _broken(setup, tag))
    made = sta.create(
        f"MultiDatastreams({md})/Observations",
        observation(30, [1.0, 2], FeatureOfInterest=ref(setup.ids["FeaturesOfInterest"])),
    )
    sta.request("DELETE", f"MultiDatastreams({md})", status=200)
    sta.request("GET", f"MultiDatastreams({md})", status=404)
    sta.request("GET", f"Observations({made})", status=404)
