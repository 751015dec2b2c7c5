"""Observations written through the API go the way of device data: the raw request archived
as a frame (adapter ``sta``), the rows committed by the pipeline's writer, attributed to it."""

from __future__ import annotations

from typing import Any

from hub.store.schema import observations, raw_frames
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    Rig,
    datastream,
)


def _stream(rig: Rig) -> int:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    return rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )


def _frames(rig: Rig) -> list[Any]:
    with rig.store.connect() as conn:
        return list(conn.execute(raw_frames.select().order_by(raw_frames.c.id)).mappings())


def _sta_frames_metric(rig: Rig) -> float:
    value = rig.metrics.registry.get_sample_value(
        "auasu_frames_total", {"adapter": "sta", "outcome": "stored"}
    )
    return value or 0.0


def _check_archive(rig: Rig) -> None:
    stream = _stream(rig)
    assert _frames(rig) == []  # Things, Sensors, ... are not archived: they carry no data
    observation = rig.create(
        f"Datastreams({stream})/Observations",
        {"result": 21.5, "phenomenonTime": "2025-01-15T10:00:00Z"},
    )
    (frame,) = _frames(rig)
    assert (frame["adapter"], frame["adapter_version"], frame["channel"]) == ("sta", "1.1", "http")
    assert frame["peer"] == "127.0.0.1" and frame["outcome"] == "stored"
    assert frame["observations"] == 1 and frame["receive_count"] == 1
    content = bytes(frame["content"])
    assert content.startswith(f"POST /v1.1/Datastreams({stream})/Observations HTTP/1.1".encode())
    assert b'"result": 21.5' in content
    assert b"Bearer" not in content and b"Authorization" not in content
    with rig.store.connect() as conn:
        frame_id = conn.execute(
            observations.select().where(observations.c.id == observation)
        ).mappings().one()["frame_id"]  # fmt: skip
    assert frame_id == frame["id"]


def test_observations_are_archived_and_committed_by_the_pipeline(rig: Rig) -> None:
    _check_archive(rig)
    assert _sta_frames_metric(rig) == 1.0  # the writer thread committed it


def test_without_a_pipeline_the_same_store_functions_write(direct_rig: Rig) -> None:
    _check_archive(direct_rig)
    assert _sta_frames_metric(direct_rig) == 0.0


def test_a_stopped_pipeline_means_503_and_nothing_stored(rig: Rig) -> None:
    stream = _stream(rig)
    assert rig.pipeline is not None
    rig.pipeline.stop()
    response = rig.send("POST", f"Datastreams({stream})/Observations", {"result": 1}, status=503)
    assert "stopping" in response.get_json()["message"]
    assert rig.count(observations) == 0 and _frames(rig) == []
