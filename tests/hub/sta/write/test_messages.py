"""Observations created from messages (the entry the MQTT bridge calls), outside any request."""

from __future__ import annotations

import json

from hub.sta.write.messages import create_observation
from hub.store.schema import observations, raw_frames
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    ROOT,
    SENSOR,
    THING,
    Rig,
    datastream,
)


def test_a_message_creates_an_observation_like_a_post(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    stream = rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )
    payload = json.dumps({"result": 3.5, "phenomenonTime": "2025-01-15T10:00:00Z"}).encode()
    path = f"Datastreams({stream})/Observations"
    result = create_observation(
        rig.store, rig.pipeline, path, payload, root=ROOT, peer="mqtt-client-7"
    )
    assert result.status == 201 and len(result.ids) == 1
    assert rig.get(f"Observations({result.ids[0]})")["result"] == 3.5
    with rig.store.connect() as conn:
        frame = conn.execute(raw_frames.select()).mappings().one()
    assert (frame["channel"], frame["peer"]) == ("mqtt", "mqtt-client-7")
    assert bytes(frame["content"]).startswith(f"PUBLISH v1.1/{path} MQTT/3.1.1".encode())

    assert (
        create_observation(rig.store, rig.pipeline, path, b"{", root=ROOT, peer="p").status == 400
    )
    missing = create_observation(
        rig.store, rig.pipeline, "Datastreams(987654)/Observations", payload, root=ROOT, peer="p"
    )
    assert missing.status == 404 and "987654" in missing.message
    thing_payload = json.dumps(THING).encode()
    refused = create_observation(
        rig.store, rig.pipeline, "Things", thing_payload, root=ROOT, peer="p"
    )
    assert refused.status == 400
    assert rig.count(observations) == 1
