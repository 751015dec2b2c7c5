"""The entities ets-sta10's Capability3Tests create before querying, made through the API.

Two Things, each deep-inserted with one Location and two Datastreams (four Sensors, three
ObservedProperties: the fourth Datastream links the second one); each Thing then moves to the
other Thing's Location (a PATCH, so two HistoricalLocations per Thing); twelve Observations with
results 1..12 on 2015-03-01..12, three per Datastream. Where ets-sta10 lets the server generate
FeaturesOfInterest, this world names two (the first six Observations share one, the last six
the other), so that queries can be scoped to them.

Every name starts with the world's tag and a space, and names sort the same in every collation
(lower-case ASCII, digits, single spaces): ``World.scope`` selects exactly the world's entities,
leaving out the pilot stations a hub imports at start. ``World.links`` is what each navigation
property of each entity must lead to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.hub.sta.conformance.client import Sta

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
LUMEN = {
    "name": "Lumen",
    "symbol": "lm",
    "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html/Lumen",
}
CENTIGRADE = {
    "name": "Centigrade",
    "symbol": "C",
    "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html/Lumen",
}
POINTS = {1: (-117.05, 51.05), 2: (-100.05, 50.05)}
DAY0 = datetime(2015, 3, 1, tzinfo=UTC)
PAGING_ROWS = 120


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def phenomenon_time(result: int) -> str:
    """ets-sta10's times: result n was observed on 2015-03-n at midnight."""
    return iso(DAY0 + timedelta(days=result - 1))


def result_time(result: int) -> str:
    return iso(DAY0 + timedelta(days=result - 1, hours=1))


def point(number: int) -> dict[str, object]:
    return {"type": "Point", "coordinates": list(POINTS[number])}


@dataclass
class World:
    """Ids of everything built, in ets-sta10's numbering (index 0 is its id 1)."""

    tag: str
    things: list[int] = field(default_factory=list)
    locations: list[int] = field(default_factory=list)
    historical_locations: list[int] = field(default_factory=list)
    datastreams: list[int] = field(default_factory=list)
    sensors: list[int] = field(default_factory=list)
    observed_properties: list[int] = field(default_factory=list)
    observations: list[int] = field(default_factory=list)  # index i has result i + 1
    features: list[int] = field(default_factory=list)
    # (entity set, id, navigation property) -> the ids it must lead to
    links: dict[tuple[str, int, str], list[int]] = field(default_factory=dict)
    paging_datastream: int | None = None

    def ids_of(self, set_name: str) -> list[int]:
        return {
            "Things": self.things,
            "Locations": self.locations,
            "HistoricalLocations": self.historical_locations,
            "Datastreams": self.datastreams,
            "Sensors": self.sensors,
            "ObservedProperties": self.observed_properties,
            "Observations": self.observations,
            "FeaturesOfInterest": self.features,
        }[set_name]

    def scope(self, set_name: str) -> str:
        """A ``$filter`` expression true for exactly this world's entities of ``set_name``."""
        prefix = f"'{self.tag} '"
        if set_name == "HistoricalLocations":
            return f"startswith(Thing/name,{prefix})"
        if set_name == "Observations":
            return f"startswith(Datastream/name,{prefix})"
        return f"startswith(name,{prefix})"


def _datastream(
    tag: str, number: int, unit: dict[str, str], links: dict[str, object]
) -> dict[str, object]:
    return {
        "unitOfMeasurement": unit,
        "name": f"{tag} datastream {number}",
        "description": f"datastream {number}",
        "observationType": MEASUREMENT,
        **links,
    }


def _sensor(tag: str, number: int, what: str) -> dict[str, str]:
    return {
        "name": f"{tag} sensor {number}",
        "description": f"sensor {number}",
        "encodingType": "application/pdf",
        "metadata": f"{what} sensor",
    }


def _observed_property(tag: str, name: str, number: int, quantity: str) -> dict[str, str]:
    return {
        "name": f"{tag} {name}",
        "definition": f"http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html/{quantity}",
        "description": f"observedProperty {number}",
    }


def _thing(
    tag: str, number: int, reference: str, datastreams: list[dict[str, object]]
) -> dict[str, object]:
    return {
        "name": f"{tag} thing {number}",
        "description": f"thing {number}",
        "properties": {"reference": reference, "tag": tag, "rank": number},
        "Locations": [
            {
                "name": f"{tag} location {number}",
                "description": f"location {number}",
                "encodingType": GEOJSON,
                "location": point(number),
            }
        ],
        "Datastreams": datastreams,
    }


def _first(sta: Sta, path: str) -> int:
    return int(sta.get(path)["@iot.id"])


def build_world(sta: Sta, tag: str, *, paging: bool = False) -> World:
    """Create the world through the API; ``paging`` adds a Datastream (outside the world's
    scope and links) with :data:`PAGING_ROWS` Observations (results 100, 101, ...) for
    server-driven paging."""
    world = World(tag)
    thing1 = sta.create(
        "Things",
        _thing(
            tag,
            1,
            "first",
            [
                _datastream(
                    tag,
                    1,
                    LUMEN,
                    {
                        "ObservedProperty": _observed_property(tag, "luminous flux", 1, "Flux"),
                        "Sensor": _sensor(tag, 1, "light flux"),
                    },
                ),
                _datastream(
                    tag,
                    2,
                    CENTIGRADE,
                    {
                        "ObservedProperty": _observed_property(tag, "temperature", 2, "Temp"),
                        "Sensor": _sensor(tag, 2, "temperature"),
                    },
                ),
            ],
        ),
    )
    streams1 = sta.ids(f"Things({thing1})/Datastreams?$orderby=name asc")
    assert len(streams1) == 2, streams1
    op2 = _first(sta, f"Datastreams({streams1[1]})/ObservedProperty")
    thing2 = sta.create(
        "Things",
        _thing(
            tag,
            2,
            "second",
            [
                _datastream(
                    tag,
                    3,
                    LUMEN,
                    {
                        "ObservedProperty": _observed_property(tag, "second flux", 3, "Flux"),
                        "Sensor": _sensor(tag, 3, "second light flux"),
                    },
                ),
                _datastream(
                    tag,
                    4,
                    CENTIGRADE,
                    {"ObservedProperty": {"@iot.id": op2}, "Sensor": _sensor(tag, 4, "second")},
                ),
            ],
        ),
    )
    streams2 = sta.ids(f"Things({thing2})/Datastreams?$orderby=name asc")
    assert len(streams2) == 2, streams2
    world.things = [thing1, thing2]
    world.datastreams = streams1 + streams2
    world.locations = [
        _first_of(sta, f"Things({thing1})/Locations"),
        _first_of(sta, f"Things({thing2})/Locations"),
    ]
    world.sensors = [_first(sta, f"Datastreams({ds})/Sensor") for ds in world.datastreams]
    world.observed_properties = [
        _first(sta, f"Datastreams({world.datastreams[0]})/ObservedProperty"),
        op2,
        _first(sta, f"Datastreams({world.datastreams[2]})/ObservedProperty"),
    ]
    # Each Thing moves to the other's Location: a second HistoricalLocation each.
    for thing, location in ((thing1, world.locations[1]), (thing2, world.locations[0])):
        sta.request("PATCH", f"Things({thing})", {"Locations": [{"@iot.id": location}]}, status=200)
    history = {
        thing: sta.ids(f"Things({thing})/HistoricalLocations?$orderby=time asc")
        for thing in world.things
    }
    for thing, found in history.items():
        assert len(found) == 2, (thing, found)
    world.historical_locations = history[thing1] + history[thing2]
    _observe(sta, world)
    _record_links(world)
    if paging:
        world.paging_datastream = _paging_datastream(sta, world)
    return world


def _first_of(sta: Sta, path: str) -> int:
    found = sta.ids(path)
    assert len(found) == 1, (path, found)
    return found[0]


def _observe(sta: Sta, world: World) -> None:
    for result in range(1, 13):
        stream = world.datastreams[(result - 1) // 3]
        body: dict[str, object] = {
            "phenomenonTime": phenomenon_time(result),
            "resultTime": result_time(result),
            "result": result,
        }
        feature = 0 if result <= 6 else 1
        if result in (1, 7):
            body["FeatureOfInterest"] = {
                "name": f"{world.tag} foi {feature + 1}",
                "description": f"feature of interest {feature + 1}",
                "encodingType": GEOJSON,
                "feature": point(feature + 1),
            }
        else:
            body["FeatureOfInterest"] = {"@iot.id": world.features[feature]}
        observation = sta.create(f"Datastreams({stream})/Observations", body)
        world.observations.append(observation)
        if result in (1, 7):
            world.features.append(_first(sta, f"Observations({observation})/FeatureOfInterest"))


def _record_links(world: World) -> None:
    t, loc, hl = world.things, world.locations, world.historical_locations
    ds, s, op, obs, foi = (
        world.datastreams,
        world.sensors,
        world.observed_properties,
        world.observations,
        world.features,
    )
    links = world.links
    # HistoricalLocations: hl[0], hl[1] of thing 1 (location 1, then 2); hl[2], hl[3] of
    # thing 2 (location 2, then 1).
    links[("Things", t[0], "Locations")] = [loc[1]]
    links[("Things", t[1], "Locations")] = [loc[0]]
    links[("Things", t[0], "HistoricalLocations")] = [hl[0], hl[1]]
    links[("Things", t[1], "HistoricalLocations")] = [hl[2], hl[3]]
    links[("Things", t[0], "Datastreams")] = [ds[0], ds[1]]
    links[("Things", t[1], "Datastreams")] = [ds[2], ds[3]]
    links[("Locations", loc[0], "Things")] = [t[1]]
    links[("Locations", loc[1], "Things")] = [t[0]]
    links[("Locations", loc[0], "HistoricalLocations")] = [hl[0], hl[3]]
    links[("Locations", loc[1], "HistoricalLocations")] = [hl[1], hl[2]]
    for index, where in enumerate((0, 1, 1, 0)):
        links[("HistoricalLocations", hl[index], "Thing")] = [t[index // 2]]
        links[("HistoricalLocations", hl[index], "Locations")] = [loc[where]]
    for index in range(4):
        links[("Datastreams", ds[index], "Thing")] = [t[index // 2]]
        links[("Datastreams", ds[index], "Sensor")] = [s[index]]
        links[("Datastreams", ds[index], "ObservedProperty")] = [op[(0, 1, 2, 1)[index]]]
        links[("Datastreams", ds[index], "Observations")] = obs[3 * index : 3 * index + 3]
        links[("Sensors", s[index], "Datastreams")] = [ds[index]]
    links[("ObservedProperties", op[0], "Datastreams")] = [ds[0]]
    links[("ObservedProperties", op[1], "Datastreams")] = [ds[1], ds[3]]
    links[("ObservedProperties", op[2], "Datastreams")] = [ds[2]]
    for index, observation in enumerate(obs):
        links[("Observations", observation, "Datastream")] = [ds[index // 3]]
        links[("Observations", observation, "FeatureOfInterest")] = [foi[index // 6]]
    links[("FeaturesOfInterest", foi[0], "Observations")] = obs[:6]
    links[("FeaturesOfInterest", foi[1], "Observations")] = obs[6:]


def _paging_datastream(sta: Sta, world: World) -> int:
    """A Datastream of its own Thing, Sensor, ObservedProperty and FeatureOfInterest, all
    named outside the scope, deep-inserted with its Observations."""
    tag = f"{world.tag}p"
    feature = sta.create(
        "FeaturesOfInterest",
        {
            "name": f"{tag} foi",
            "description": "where the paging observations were made",
            "encodingType": GEOJSON,
            "feature": point(1),
        },
    )
    thing = sta.create("Things", {"name": f"{tag} thing", "description": "paging"})
    start = datetime(2016, 1, 1, tzinfo=UTC)
    observations = [
        {
            "phenomenonTime": iso(start + timedelta(minutes=row)),
            "result": 100 + row,
            "FeatureOfInterest": {"@iot.id": feature},
        }
        for row in range(PAGING_ROWS)
    ]
    body = _datastream(
        tag,
        1,
        LUMEN,
        {
            "Sensor": _sensor(tag, 1, "paging"),
            "ObservedProperty": _observed_property(tag, "paging", 1, "Paging"),
            "Observations": observations,
        },
    )
    return sta.create(f"Things({thing})/Datastreams", body)
