"""What OGC 18-088 requires of each entity, as data the conformance tests check against.

Mandatory properties and relations are 18-088 §8 (``sta.md`` §1.2); control information is
§8.2 (``@iot.id``, ``@iot.selfLink``, one ``<Nav>@iot.navigationLink`` per relation), checked
absolute as ets-sta10 compares them. :func:`advertised` reads ``serverSettings.conformance`` the
way the spec allows a server to write it: a requirement counts as listed when it, or a class
above it (``req/datamodel`` above ``req/datamodel/thing/properties``), is listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

REQ = "http://www.opengis.net/spec/iot_sensing/1.1/req/"

MANDATORY: dict[str, tuple[str, ...]] = {
    "Things": ("name", "description"),
    "Locations": ("name", "description", "encodingType", "location"),
    "HistoricalLocations": ("time",),
    "Datastreams": ("name", "description", "unitOfMeasurement", "observationType"),
    "Sensors": ("name", "description", "encodingType", "metadata"),
    "ObservedProperties": ("name", "definition", "description"),
    "Observations": ("phenomenonTime", "result", "resultTime"),
    "FeaturesOfInterest": ("name", "description", "encodingType", "feature"),
}
RELATIONS: dict[str, tuple[str, ...]] = {
    "Things": ("Locations", "HistoricalLocations", "Datastreams"),
    "Locations": ("Things", "HistoricalLocations"),
    "HistoricalLocations": ("Thing", "Locations"),
    "Datastreams": ("Thing", "Sensor", "ObservedProperty", "Observations"),
    "Sensors": ("Datastreams",),
    "ObservedProperties": ("Datastreams",),
    "Observations": ("Datastream", "FeatureOfInterest"),
    "FeaturesOfInterest": ("Observations",),
}
TO_ONE = {"Thing", "Sensor", "ObservedProperty", "Datastream", "FeatureOfInterest"}
TARGET_SET = {
    "Thing": "Things",
    "Sensor": "Sensors",
    "ObservedProperty": "ObservedProperties",
    "Datastream": "Datastreams",
    "FeatureOfInterest": "FeaturesOfInterest",
    "MultiDatastream": "MultiDatastreams",
}
SETS = tuple(MANDATORY)


def target_set(navigation: str) -> str:
    """The entity set a navigation property leads to (``Thing`` -> ``Things``)."""
    return TARGET_SET.get(navigation, navigation)


def check_control_information(root: str, set_name: str, entity: dict[str, Any]) -> None:
    """``@iot.id`` a long, ``@iot.selfLink`` and every relation's navigationLink absolute."""
    entity_id = entity.get("@iot.id")
    assert isinstance(entity_id, int) and not isinstance(entity_id, bool), entity
    self_link = f"{root}/{set_name}({entity_id})"
    assert entity.get("@iot.selfLink") == self_link, (self_link, entity)
    for navigation in RELATIONS[set_name]:
        key = f"{navigation}@iot.navigationLink"
        assert entity.get(key) == f"{self_link}/{navigation}", (key, entity)


def check_mandatory(set_name: str, entity: dict[str, Any]) -> None:
    """Every mandatory property is present with a value of the kind 18-088 gives it."""
    missing = [name for name in MANDATORY[set_name] if name not in entity]
    assert not missing, (set_name, missing, entity)
    for name in MANDATORY[set_name]:
        value = entity[name]
        if name in ("name", "description", "encodingType", "observationType", "definition"):
            assert isinstance(value, str), (name, entity)
        elif name in ("location", "feature"):
            assert isinstance(value, dict) and "type" in value, (name, entity)
        elif name == "unitOfMeasurement":
            assert isinstance(value, dict), entity
            assert {"name", "symbol", "definition"} <= set(value), entity
        elif name in ("time", "phenomenonTime"):
            assert isinstance(value, str), entity
            time_start(value)
        elif name == "resultTime" and value is not None:
            assert isinstance(value, str), entity
            parse_time(value)


def parse_time(text: str) -> datetime:
    """An ISO 8601 instant with a UTC offset (``Z`` or ``+hh:mm``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, f"time without offset: {text!r}"
    return moment


def time_start(text: str) -> datetime:
    """The start of an instant or an ``a/b`` interval."""
    return parse_time(text.split("/", 1)[0])


def advertised(conformance: list[str], requirement: str) -> bool:
    """Whether ``requirement`` (below :data:`REQ`) or a class above it is listed."""
    parts = requirement.split("/")
    return any(REQ + "/".join(parts[:depth]) in conformance for depth in range(1, len(parts) + 1))


def missing_requirements(conformance: list[str], requirements: list[str]) -> list[str]:
    """The requirements (below :data:`REQ`) that ``conformance`` does not advertise."""
    return [r for r in requirements if not advertised(conformance, r)]
