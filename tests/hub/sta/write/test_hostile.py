"""Malformed writes are answered 4xx with a one-line message, never 5xx, and store nothing."""

from __future__ import annotations

import pytest

from hub.store.schema import datastreams, observations, raw_frames, things
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    Rig,
    datastream,
)

J = "application/json"
NAMED = b'{"name": "x", "description": "d", '
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("Things", b"{", J),
    ("Things", b"", J),
    ("Things", b"[]", J),
    ("Things", b"null", J),
    ("Things", b"\xff\xfe{}", J),
    ("Things", b'{"name": NaN, "description": "d"}', J),
    ("Things", NAMED + b'"properties": {"v": 1e400}}', J),
    ("Things", NAMED + b'"properties": ' + b"[" * 5000 + b"]" * 5000 + b"}", J),
    ("Things", b'{"name": "x", "description": "d"}', "text/plain"),
    ("Things", b"name=x", "application/x-www-form-urlencoded"),
    ("Things(99999999999999999999)", b'{"name": "x"}', J),
    ("Things('1abc')/Datastreams", b"{}", J),
    ("Things(1.0)", b"{}", J),
    ("Nothings", b"{}", J),
    ("Things(1)/name", b'{"name": "x"}', J),
    ("Things(1)/Datastreams/$ref", b'{"@iot.id": 1}', J),
    ("Datastreams", NAMED + b'"unitOfMeasurement": {"x": 1}, "observationType": "t"}', J),
    ("Datastreams", b'{"Thing": {"@iot.id": 99999999999999999999999}}', J),
    ("Datastreams", b'{"Thing": {"@iot.id": -1}}', J),
    ("Datastreams", b'{"Thing": {"@iot.id": true}}', J),
    ("Observations", b'{"result": 1, "phenomenonTime": "2025-13-45T99:00Z"}', J),
    ("Observations", b'{"result": 1, "phenomenonTime": 12}', J),
    ("Things", NAMED + b'"Datastreams": {"@iot.id": 1}}', J),
    ("Things", NAMED + b'"Datastreams": ["x"]}', J),
    ("Things", NAMED + b'"Datastream": []}', J),
    ("", b"{}", J),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "content_type"), BAD_BODIES)
def test_bad_writes_are_4xx(rig: Rig, path: str, body: bytes, content_type: str) -> None:
    response = rig.send("POST", path, data=body, content_type=content_type)
    assert 400 <= response.status_code < 500, (path, response.get_data(as_text=True)[:300])
    assert rig.count(things) == 0 and rig.count(raw_frames) == 0


def test_bad_updates_are_4xx(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    stream = rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )
    observation = rig.create(f"Datastreams({stream})/Observations", {"result": 1})
    for method, path, body, content_type in (
        ("PATCH", f"Things({thing})", b"[1]", J),
        ("PATCH", f"Things({thing})", b"{}", "application/json-patch+json"),
        ("PATCH", f"Things({thing})", b'[{"op": "move", "from": "/x", "path": "/name"}]',
         "application/json-patch+json"),
        ("PUT", f"Things({thing})", b"[]", "application/json-patch+json"),
        ("PATCH", f"Observations({observation})", b'{"result": 1, "phenomenonTime": "x"}',
         J),
        ("PATCH", f"Observations({observation})", b'{"MultiDatastream": {"@iot.id": 1}}',
         J),
        ("PATCH", f"Datastreams({stream})", b'{"Observations": {"@iot.id": 1}}', J),
        ("PATCH", f"Datastreams({stream})", b'{"Thing": [{"@iot.id": 1}]}', J),
        ("PATCH", f"Things({thing})", b'{"name": "' + b"x" * 300 + b'"}', J),
        ("DELETE", f"Things({thing})/Datastreams", b"", J),
        ("PUT", f"Things({thing})/HistoricalLocations", b"{}", J),
    ):  # fmt: skip
        response = rig.send(method, path, data=body, content_type=content_type)
        assert 400 <= response.status_code < 500, (method, path, response.get_data(as_text=True))
    assert rig.get(f"Things({thing})")["name"] == THING["name"]
    assert rig.count(datastreams) == 1 and rig.count(observations) == 1


def test_writes_need_credentials(rig: Rig) -> None:
    response = rig.client.post("/v1.1/Things", json=THING)
    assert response.status_code == 401
    assert rig.count(things) == 0
