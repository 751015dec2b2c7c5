"""PATCH (merge), PUT (replace) and JSON Patch, with binding links (18-088 §10.3)."""

from __future__ import annotations

import json

from hub.store.schema import observations, raw_frames
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    UNIT,
    Rig,
    datastream,
)

PATCH = "application/json-patch+json"


def _world(rig: Rig) -> dict[str, int]:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    stream = rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )
    observation = rig.create(
        f"Datastreams({stream})/Observations",
        {"result": 1.5, "phenomenonTime": "2025-01-15T10:00:00Z"},
    )
    return {"thing": thing, "datastream": stream, "observation": observation}


def test_patch_merges_and_answers_with_the_entity(rig: Rig) -> None:
    ids = _world(rig)
    response = rig.send("PATCH", f"Things({ids['thing']})", {"name": "Renamed"}, status=200)
    body = response.get_json()
    assert body["name"] == "Renamed" and body["description"] == THING["description"]
    assert body["properties"] == THING["properties"]
    rig.send("PATCH", f"Things({ids['thing']})", {"properties": {"new": 1}}, status=200)
    assert rig.get(f"Things({ids['thing']})")["properties"] == {"new": 1}
    rig.send(
        "PATCH",
        f"Datastreams({ids['datastream']})",
        {"unitOfMeasurement": {**UNIT, "symbol": "K"}},
        content_type="application/merge-patch+json",
        status=200,
    )
    assert rig.get(f"Datastreams({ids['datastream']})")["unitOfMeasurement"]["symbol"] == "K"


def test_patch_refuses_what_a_create_would(rig: Rig) -> None:
    ids = _world(rig)
    rig.send("PATCH", f"Things({ids['thing']})", {"name": None}, status=400)
    rig.send("PATCH", f"Things({ids['thing']})", {"colour": "red"}, status=400)
    inline = {"Locations": [{**LOCATION, "name": "Somewhere new"}]}
    message = rig.send("PATCH", f"Things({ids['thing']})", inline, status=400).get_json()["message"]
    assert "inline" in message
    rig.send("PATCH", "Things(987654)", {"name": "x"}, status=404)
    rig.send("PATCH", "Things", {"name": "x"}, status=405)


def test_put_replaces_and_needs_every_mandatory_property(rig: Rig) -> None:
    ids = _world(rig)
    rig.send("PUT", f"Things({ids['thing']})", {"name": "Only a name"}, status=400)
    rig.send("PUT", f"Things({ids['thing']})", {"name": "New", "description": "Fresh"}, status=200)
    body = rig.get(f"Things({ids['thing']})")
    assert (body["name"], body["description"], body["properties"]) == ("New", "Fresh", {})
    rig.send("PUT", f"Observations({ids['observation']})", {"result": 3}, status=400)
    rig.send("PUT", "Things(987654)", {"name": "New", "description": "Fresh"}, status=404)


def test_json_patch(rig: Rig) -> None:
    ids = _world(rig)
    operations = [
        {"op": "replace", "path": "/name", "value": "Patched"},
        {"op": "add", "path": "/properties/owner", "value": "city"},
        {"op": "remove", "path": "/properties/floor"},
    ]
    rig.send("PATCH", f"Things({ids['thing']})", data=json.dumps(operations).encode(),
             content_type=PATCH, status=200)  # fmt: skip
    body = rig.get(f"Things({ids['thing']})")
    assert body["name"] == "Patched" and body["properties"] == {"owner": "city"}
    for bad in (
        [{"op": "remove", "path": "/name"}],  # leaves no name
        [{"op": "replace", "path": "/nothing/here", "value": 1}],
        [{"op": "test", "path": "/name", "value": "not it"}],
        [{"op": "add", "path": "/Datastreams", "value": []}],
        [{"op": "bogus", "path": "/name"}],
        [{"path": "/name"}],
        {"op": "replace"},
    ):
        rig.send("PATCH", f"Things({ids['thing']})", data=json.dumps(bad).encode(),
                 content_type=PATCH, status=400)  # fmt: skip


def test_binding_links_replace_to_one_and_add_to_many(rig: Rig) -> None:
    ids = _world(rig)
    other = rig.create("Things", {**THING, "name": "Other"})
    rig.send(
        "PATCH", f"Datastreams({ids['datastream']})", {"Thing": {"@iot.id": other}}, status=200
    )
    assert rig.get(f"Datastreams({ids['datastream']})/Thing")["@iot.id"] == other
    rig.send("PATCH", f"Things({ids['thing']})",
             {"Datastreams": [{"@iot.id": ids["datastream"]}]}, status=200)  # fmt: skip
    assert rig.get(f"Datastreams({ids['datastream']})/Thing")["@iot.id"] == ids["thing"]
    rig.send(
        "PATCH", f"Datastreams({ids['datastream']})", {"Thing": {"@iot.id": 987654}}, status=404
    )


def test_an_observation_update_is_archived_as_its_new_raw_frame(rig: Rig) -> None:
    ids = _world(rig)
    frames = rig.count(raw_frames)
    rig.send("PATCH", f"Observations({ids['observation']})", {"result": "corrected"}, status=200)
    assert rig.get(f"Observations({ids['observation']})")["result"] == "corrected"
    assert rig.count(raw_frames) == frames + 1
    with rig.store.connect() as conn:
        frame_id = conn.execute(
            observations.select().where(observations.c.id == ids["observation"])
        ).mappings().one()["frame_id"]  # fmt: skip
        frame = (
            conn.execute(raw_frames.select().where(raw_frames.c.id == frame_id)).mappings().one()
        )
    assert frame["adapter"] == "sta" and frame["channel"] == "http"
    assert bytes(frame["content"]).startswith(b"PATCH /v1.1/Observations(")
    assert b'"corrected"' in bytes(frame["content"])


def test_an_update_to_an_existing_key_is_a_conflict(rig: Rig) -> None:
    ids = _world(rig)
    second = rig.create(
        f"Datastreams({ids['datastream']})/Observations",
        {"result": 2, "phenomenonTime": "2025-01-15T11:00:00Z"},
    )
    rig.send("PATCH", f"Observations({second})", {"phenomenonTime": "2025-01-15T10:00:00Z"},
             status=409)  # fmt: skip
    assert rig.get(f"Observations({second})")["phenomenonTime"] == "2025-01-15T11:00:00Z"


def test_updates_through_a_navigation_path(rig: Rig) -> None:
    ids = _world(rig)
    path = f"Things({ids['thing']})/Datastreams({ids['datastream']})"
    rig.send("PATCH", path, {"name": "Via the Thing"}, status=200)
    assert rig.get(f"Datastreams({ids['datastream']})")["name"] == "Via the Thing"
    rig.send("PATCH", f"Things({ids['thing'] + 100})/Datastreams({ids['datastream']})",
             {"name": "x"}, status=404)  # fmt: skip


def test_a_multi_datastream_keeps_one_unit_per_property(rig: Rig) -> None:
    ids = _world(rig)
    complex_type = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
    multi = rig.create(
        "MultiDatastreams",
        {
            "name": "m",
            "description": "d",
            "unitOfMeasurements": [UNIT],
            "observationType": complex_type,
            "multiObservationDataTypes": [complex_type],
            "Thing": {"@iot.id": ids["thing"]},
            "Sensor": SENSOR,
            "ObservedProperties": [OBSERVED_PROPERTY],
        },
    )
    wider = {"unitOfMeasurements": [UNIT, UNIT], "multiObservationDataTypes": [complex_type] * 2}
    rig.send("PATCH", f"MultiDatastreams({multi})", wider, status=400)
    rig.send("PATCH", f"MultiDatastreams({multi})", {"name": "renamed"}, status=200)
    observation = rig.create(f"MultiDatastreams({multi})/Observations", {"result": [1]})
    rig.send("PATCH", f"Observations({observation})", {"result": [1, 2]}, status=400)
    rig.send("PATCH", f"Observations({observation})", {"result": [2]}, status=200)
    rig.send("PATCH", f"Observations({observation})",
             {"Datastream": {"@iot.id": ids["datastream"]}}, status=400)  # fmt: skip
