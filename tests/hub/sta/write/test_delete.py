"""DELETE and its cascades; entities the station registry maintains are refused (409)."""

from __future__ import annotations

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.store.schema import (
    datastreams,
    historical_location_locations,
    historical_locations,
    locations,
    multi_datastreams,
    observations,
    raw_frames,
    sensors,
    thing_locations,
    things,
)
from tests.hub.sta.conftest import station_record
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    UNIT,
    Rig,
    datastream,
)

COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def _world(rig: Rig) -> dict[str, int]:
    """A Thing at a Location with a Datastream (2 Observations) and a MultiDatastream (1)."""
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    sensor = rig.create("Sensors", SENSOR)
    prop = rig.create("ObservedProperties", OBSERVED_PROPERTY)
    stream = rig.create(
        "Datastreams",
        datastream(
            Thing={"@iot.id": thing},
            Sensor={"@iot.id": sensor},
            ObservedProperty={"@iot.id": prop},
            Observations=[
                {"result": 1, "phenomenonTime": "2025-01-15T10:00:00Z"},
                {"result": 2, "phenomenonTime": "2025-01-15T11:00:00Z"},
            ],
        ),
    )
    multi = rig.create(
        "MultiDatastreams",
        {
            "name": "m",
            "description": "d",
            "unitOfMeasurements": [UNIT],
            "observationType": COMPLEX,
            "multiObservationDataTypes": [MEASUREMENT],
            "Thing": {"@iot.id": thing},
            "Sensor": {"@iot.id": sensor},
            "ObservedProperties": [{"@iot.id": prop}],
            "Observations": [{"result": [3], "phenomenonTime": "2025-01-15T10:00:00Z"}],
        },
    )
    (location,) = [v["@iot.id"] for v in rig.get(f"Things({thing})/Locations")["value"]]
    return {
        "thing": thing,
        "sensor": sensor,
        "property": prop,
        "datastream": stream,
        "multi": multi,
        "location": location,
    }


def test_deleting_a_thing_takes_its_streams_observations_and_history(rig: Rig) -> None:
    ids = _world(rig)
    frames = rig.count(raw_frames)
    response = rig.send("DELETE", f"Things({ids['thing']})", status=200)
    assert response.get_data() == b""
    rig.get(f"Things({ids['thing']})", status=404)
    for table in (
        things, datastreams, multi_datastreams, observations, historical_locations, thing_locations
    ):  # fmt: skip
        assert rig.count(table) == 0, table.name
    # The Location, Sensor and ObservedProperty stay; the archive keeps every input.
    assert rig.count(locations) == 1 and rig.count(sensors) == 1
    assert rig.count(raw_frames) == frames
    rig.send("DELETE", f"Things({ids['thing']})", status=404)


def test_deleting_a_datastream_takes_its_observations(rig: Rig) -> None:
    ids = _world(rig)
    rig.send("DELETE", f"Datastreams({ids['datastream']})", status=200)
    assert rig.count(datastreams) == 0 and rig.count(observations) == 1  # the multi one
    rig.send("DELETE", f"MultiDatastreams({ids['multi']})", status=200)
    assert rig.count(observations) == 0 and rig.count(multi_datastreams) == 0


def test_deleting_a_sensor_or_property_takes_their_streams(rig: Rig) -> None:
    ids = _world(rig)
    rig.send("DELETE", f"ObservedProperties({ids['property']})", status=200)
    assert rig.count(datastreams) == 0 and rig.count(multi_datastreams) == 0
    assert rig.count(observations) == 0
    rig.send("DELETE", f"Sensors({ids['sensor']})", status=200)
    assert rig.count(sensors) == 0 and rig.count(things) == 1


def test_deleting_a_location_unlinks_it_and_drops_empty_history(rig: Rig) -> None:
    ids = _world(rig)
    rig.send("DELETE", f"Locations({ids['location']})", status=200)
    assert rig.count(thing_locations) == 0 and rig.count(historical_location_locations) == 0
    assert rig.count(historical_locations) == 0 and rig.count(things) == 1


def test_deleting_a_feature_takes_its_observations(rig: Rig) -> None:
    ids = _world(rig)
    observation = rig.get(f"Datastreams({ids['datastream']})/Observations")["value"][0]
    feature = rig.get(f"Observations({observation['@iot.id']})/FeatureOfInterest")["@iot.id"]
    rig.send("DELETE", f"FeaturesOfInterest({feature})", status=200)
    assert rig.count(observations) == 0  # all three shared the derived feature


def test_deleting_one_observation_or_history(rig: Rig) -> None:
    ids = _world(rig)
    first = rig.get(f"Datastreams({ids['datastream']})/Observations")["value"][0]["@iot.id"]
    rig.send("DELETE", f"Observations({first})", status=200)
    assert rig.count(observations) == 2
    (history,) = rig.get(f"Things({ids['thing']})/HistoricalLocations")["value"]
    rig.send("DELETE", f"HistoricalLocations({history['@iot.id']})", status=200)
    assert rig.count(historical_location_locations) == 0 and rig.count(thing_locations) == 1


def test_delete_needs_an_entity_url(rig: Rig) -> None:
    rig.send("DELETE", "Things", status=405)
    rig.send("DELETE", "Things(1)/name", status=405)
    rig.send("DELETE", "Things(0)", status=404)


def test_what_the_registry_maintains_is_not_deleted(rig: Rig) -> None:
    (station,) = rig.store.import_stations([station_record("air-one", "air", "Air One")])
    pm25 = MappingSet.load().observed_property("pm2_5")
    assert pm25 is not None
    device_stream, _feature = rig.store.ensure_datastream(
        "air-one", pm25, Aggregation.MEAN, "a34004"
    )
    with rig.store.connect() as conn:
        property_id = conn.execute(
            datastreams.select().where(datastreams.c.id == device_stream)
        ).mappings().one()["observed_property_id"]  # fmt: skip
    for path in (
        f"Things({station.thing_id})",
        f"Locations({station.location_id})",
        f"Sensors({station.sensor_id})",
        f"FeaturesOfInterest({station.feature_of_interest_id})",
        f"Datastreams({device_stream})",
        f"ObservedProperties({property_id})",
    ):
        message = rig.send("DELETE", path, status=409).get_json()["message"]
        assert "station registry" in message
    assert rig.count(datastreams) == 1
    # Updates are allowed (the registry reasserts its own values on its next import).
    rig.send("PATCH", f"Things({station.thing_id})", {"description": "noted"}, status=200)
