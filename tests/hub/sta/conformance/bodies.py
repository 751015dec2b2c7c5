"""Entity bodies and small worlds the write-side conformance modules build through the API.

Every name carries a tag from :func:`fresh`, so a test can prove what it did (or did not)
create by looking the name up.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.hub.sta.conformance.client import Sta
from tests.hub.sta.conformance.spec import parse_time

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
UNIT = {"name": "Celsius", "symbol": "degC", "definition": "http://qudt.org/vocab/unit#DegC"}


def fresh() -> str:
    """A tag no other test uses, for names that prove what was (not) created."""
    return "cud" + uuid.uuid4().hex[:10]


def thing(tag: str, **extra: Any) -> dict[str, Any]:
    return {"name": f"{tag} thing", "description": "a thing", "properties": {"floor": 3}, **extra}


def location(tag: str, lon: float = 71.43, lat: float = 51.13) -> dict[str, Any]:
    return {
        "name": f"{tag} location",
        "description": "a place",
        "encodingType": GEOJSON,
        "location": {"type": "Point", "coordinates": [lon, lat]},
    }


def sensor(tag: str) -> dict[str, Any]:
    return {
        "name": f"{tag} sensor",
        "description": "a sensor",
        "encodingType": "application/pdf",
        "metadata": "https://example.org/sensor.pdf",
    }


def observed_property(tag: str) -> dict[str, Any]:
    return {
        "name": f"{tag} property",
        "definition": "http://example.org/air_temperature",
        "description": "air temperature",
    }


def feature(tag: str, lon: float = 71.5, lat: float = 51.2) -> dict[str, Any]:
    return {
        "name": f"{tag} foi",
        "description": "a feature",
        "encodingType": GEOJSON,
        "feature": {"type": "Point", "coordinates": [lon, lat]},
    }


def datastream(tag: str, **links: Any) -> dict[str, Any]:
    return {
        "name": f"{tag} datastream",
        "description": "a datastream",
        "unitOfMeasurement": UNIT,
        "observationType": MEASUREMENT,
        **links,
    }


def ref(entity_id: int) -> dict[str, int]:
    return {"@iot.id": entity_id}


def observation(day: int, result: Any = 1, **links: Any) -> dict[str, Any]:
    moment = datetime(2015, 3, 1, tzinfo=UTC) + timedelta(days=day)
    return {"phenomenonTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "result": result, **links}


def stream_world(sta: Sta, tag: str) -> dict[str, int]:
    """A Thing at a Location with one Datastream (new Sensor and ObservedProperty), a
    FeatureOfInterest and one Observation: the ids by role."""
    ids = {"Things": sta.create("Things", thing(tag, Locations=[location(tag)]))}
    ids["Locations"] = sta.ids(f"Things({ids['Things']})/Locations")[0]
    ids["Sensors"] = sta.create("Sensors", sensor(tag))
    ids["ObservedProperties"] = sta.create("ObservedProperties", observed_property(tag))
    ids["Datastreams"] = sta.create(
        "Datastreams",
        datastream(
            tag,
            Thing=ref(ids["Things"]),
            Sensor=ref(ids["Sensors"]),
            ObservedProperty=ref(ids["ObservedProperties"]),
        ),
    )
    ids["FeaturesOfInterest"] = sta.create("FeaturesOfInterest", feature(tag))
    ids["Observations"] = sta.create(
        "Observations",
        observation(
            0, Datastream=ref(ids["Datastreams"]), FeatureOfInterest=ref(ids["FeaturesOfInterest"])
        ),
    )
    ids["HistoricalLocations"] = sta.ids(f"Things({ids['Things']})/HistoricalLocations")[0]
    return ids


def properties_of(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity without control information and navigation links."""
    return {k: v for k, v in entity.items() if "@iot." not in k}


def assert_holds(served: dict[str, Any], posted: dict[str, Any]) -> None:
    """Every non-navigation property posted is served with the same value."""
    for key, wanted in posted.items():
        if key[:1].isupper() or key.startswith("@iot."):
            continue
        assert key in served, (key, served)
        if key in ("time", "phenomenonTime", "resultTime", "validTime"):
            assert same_times(served[key], wanted), (key, served[key], wanted)
        else:
            assert served[key] == wanted, (key, served[key], wanted)


def same_times(served: Any, wanted: Any) -> bool:
    """Whether two instants or ``a/b`` intervals are the same, however each is written."""
    if served is None or wanted is None:
        return served is wanted
    ends = [str(t).split("/") for t in (served, wanted)]
    return len(ends[0]) == len(ends[1]) and all(
        parse_time(a) == parse_time(b) for a, b in zip(*ends, strict=True)
    )


def absent(sta: Sta, set_name: str, name: str) -> bool:
    return sta.count(f"{set_name}?$filter=name eq '{name}'") == 0


# The name each builder above gives an entity of each set, after the tag.
NAMED = {
    "Things": "thing",
    "Locations": "location",
    "Datastreams": "datastream",
    "Sensors": "sensor",
    "ObservedProperties": "property",
    "FeaturesOfInterest": "foi",
}


def made_with(sta: Sta, tag: str) -> list[str]:
    """The entity sets holding an entity the builders named with ``tag`` (none, after a
    request that had to create nothing)."""
    return [s for s, suffix in NAMED.items() if not absent(sta, s, f"{tag} {suffix}")]


def creatable(sta: Sta, tag: str) -> dict[str, dict[str, Any]]:
    """A valid POST body for every entity set, linked to a new :func:`stream_world`."""
    base = stream_world(sta, tag + "b")
    extra = {"properties": {"origin": "conformance", "rank": 2}}
    return {
        "Things": thing(tag),
        "Locations": {**location(tag), **extra},
        "HistoricalLocations": {
            "time": "2015-06-01T00:00:00Z",
            "Thing": ref(base["Things"]),
            "Locations": [ref(base["Locations"])],
        },
        "Datastreams": datastream(
            tag,
            Thing=ref(base["Things"]),
            Sensor=ref(base["Sensors"]),
            ObservedProperty=ref(base["ObservedProperties"]),
            **extra,
        ),
        "Sensors": {**sensor(tag), **extra},
        "ObservedProperties": {**observed_property(tag), **extra},
        "Observations": {
            **observation(5, 21.5),
            "resultTime": "2015-03-06T00:05:00Z",
            "validTime": "2015-03-06T00:00:00Z/2015-03-07T00:00:00Z",
            "resultQuality": "good",
            "parameters": {"method": "gravimetric"},
            "Datastream": ref(base["Datastreams"]),
            "FeatureOfInterest": ref(base["FeaturesOfInterest"]),
        },
        "FeaturesOfInterest": {**feature(tag), **extra},
    }
