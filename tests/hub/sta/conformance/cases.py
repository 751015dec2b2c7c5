"""The create-update-delete cases ets-sta10 (Capability2Tests) and FROST's c02 tests send, as
data: invalid deep inserts, entities that break the integrity rules, the PATCH of each entity
type, invalid PATCHes, and what a DELETE takes with it.

Builders take a fresh tag (names that prove what was or was not created) and the ids of a
:func:`tests.hub.sta.conformance.bodies.stream_world`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.hub.sta.conformance.bodies import (
    datastream,
    feature,
    location,
    observation,
    observed_property,
    ref,
    sensor,
    thing,
)
from tests.hub.sta.conformance.client import MISSING_ID

Case = Callable[[str, dict[str, int]], tuple[str, Any]]

INVALID_DEEP_INSERTS: dict[str, Case] = {
    "datastream without ObservedProperty": lambda tag, base: (
        "Things",
        thing(tag, Locations=[location(tag)], Datastreams=[datastream(tag, Sensor=sensor(tag))]),
    ),
    "observation without result": lambda tag, base: (
        "Things",
        thing(
            tag,
            Locations=[location(tag)],
            Datastreams=[
                datastream(
                    tag,
                    Sensor=sensor(tag),
                    ObservedProperty=observed_property(tag),
                    Observations=[{"phenomenonTime": "2015-03-01T00:00:00Z"}],
                )
            ],
        ),
    ),
    "observed property without definition": lambda tag, base: (
        "Datastreams",
        datastream(
            tag,
            Thing=ref(base["Things"]),
            Sensor=sensor(tag),
            ObservedProperty={"name": f"{tag} property", "description": "no definition"},
        ),
    ),
    "observation of a missing datastream": lambda tag, base: (
        "Observations",
        observation(0, 5, Datastream=ref(MISSING_ID), FeatureOfInterest=feature(tag)),
    ),
    "location without its geometry": lambda tag, base: (
        "Things",
        thing(tag, Locations=[{**location(tag), "location": None}]),
    ),
}


INVALID_ENTITIES: dict[str, Case] = {
    "thing without name": lambda tag, b: ("Things", {"description": "no name"}),
    "location without location": lambda tag, b: (
        "Locations",
        {k: v for k, v in location(tag).items() if k != "location"},
    ),
    "sensor without encodingType": lambda tag, b: (
        "Sensors",
        {k: v for k, v in sensor(tag).items() if k != "encodingType"},
    ),
    "observed property without definition": lambda tag, b: (
        "ObservedProperties",
        {k: v for k, v in observed_property(tag).items() if k != "definition"},
    ),
    "feature without feature": lambda tag, b: (
        "FeaturesOfInterest",
        {k: v for k, v in feature(tag).items() if k != "feature"},
    ),
    "historical location without time": lambda tag, b: (
        "HistoricalLocations",
        {"Thing": ref(b["Things"]), "Locations": [ref(b["Locations"])]},
    ),
    "datastream without Sensor": lambda tag, b: (
        "Datastreams",
        datastream(tag, Thing=ref(b["Things"]), ObservedProperty=ref(b["ObservedProperties"])),
    ),
    "datastream without ObservedProperty": lambda tag, b: (
        "Datastreams",
        datastream(tag, Thing=ref(b["Things"]), Sensor=ref(b["Sensors"])),
    ),
    "datastream without Thing": lambda tag, b: (
        "Datastreams",
        datastream(tag, Sensor=ref(b["Sensors"]), ObservedProperty=ref(b["ObservedProperties"])),
    ),
    "datastream without unitOfMeasurement": lambda tag, b: (
        "Datastreams",
        {
            k: v
            for k, v in datastream(
                tag,
                Thing=ref(b["Things"]),
                Sensor=ref(b["Sensors"]),
                ObservedProperty=ref(b["ObservedProperties"]),
            ).items()
            if k != "unitOfMeasurement"
        },
    ),
    "observation without Datastream": lambda tag, b: (
        "Observations",
        observation(0, 8, FeatureOfInterest=ref(b["FeaturesOfInterest"])),
    ),
    "observation without result": lambda tag, b: (
        "Observations",
        {
            "phenomenonTime": "2015-03-01T00:00:00Z",
            "Datastream": ref(b["Datastreams"]),
            "FeatureOfInterest": ref(b["FeaturesOfInterest"]),
        },
    ),
    "observation without FeatureOfInterest of a Thing without Location": lambda tag, b: (
        "Observations",
        observation(0, 100, Datastream=ref(b["Unplaced"])),
    ),
    "a JSON array": lambda tag, b: ("Things", [thing(tag)]),
    "a wrong type": lambda tag, b: ("Things", {"name": 5, "description": "numeric name"}),
}


# ets-sta10 patchEntities: per entity type, what it changes.
PATCHES: dict[str, list[dict[str, Any]]] = {
    "Things": [{"description": "This is a PATCHED Test Thing"}],
    "Locations": [{"location": {"type": "Point", "coordinates": [114.05, -50]}}],
    "HistoricalLocations": [{"time": "2015-07-01T00:00:00.000Z"}],
    "Datastreams": [
        {"description": "Patched Description"},
        {
            "unitOfMeasurement": {
                "name": "Entropy2",
                "symbol": "S2",
                "definition": "http://e.org/S2",
            }
        },
    ],
    "Sensors": [{"metadata": "PATCHED"}],
    "ObservedProperties": [{"description": "PATCHED"}],
    "Observations": [{"phenomenonTime": "2015-07-01T00:40:00.000Z"}, {"result": 99}],
    "FeaturesOfInterest": [{"feature": {"type": "Point", "coordinates": [114.05, -51.05]}}],
}


INVALID_PATCHES: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "a Thing with a new inline Location": ("Things", lambda tag: {"Locations": [location(tag)]}),
    "a Datastream with a new inline Sensor": ("Datastreams", lambda tag: {"Sensor": sensor(tag)}),
    "a Datastream with a new inline ObservedProperty": (
        "Datastreams",
        lambda tag: {"ObservedProperty": observed_property(tag)},
    ),
    "an Observation with a new inline FeatureOfInterest": (
        "Observations",
        lambda tag: {"FeatureOfInterest": feature(tag)},
    ),
    "an Observation with a new inline Datastream": (
        "Observations",
        lambda tag: {"Datastream": datastream(tag)},
    ),
    "a Thing's name set to null": ("Things", lambda tag: {"name": None}),
    "a Datastream's unitOfMeasurement set to a string": (
        "Datastreams",
        lambda tag: {"unitOfMeasurement": "degC"},
    ),
}


# What deleting an entity of the key's set takes with it (gone) and leaves (kept).
CASCADES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Things": (
        ("Datastreams", "Observations", "HistoricalLocations"),
        ("Locations", "Sensors", "ObservedProperties", "FeaturesOfInterest"),
    ),
    "Locations": (("HistoricalLocations",), ("Things", "Datastreams", "Observations")),
    "HistoricalLocations": ((), ("Things", "Locations")),
    "Datastreams": (("Observations",), ("Things", "Sensors", "ObservedProperties")),
    "Sensors": (("Datastreams", "Observations"), ("Things", "ObservedProperties")),
    "ObservedProperties": (("Datastreams", "Observations"), ("Things", "Sensors")),
    "Observations": ((), ("Datastreams", "FeaturesOfInterest")),
    "FeaturesOfInterest": (("Observations",), ("Datastreams",)),
}
