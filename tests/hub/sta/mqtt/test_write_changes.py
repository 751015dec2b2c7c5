"""The SensorThings write path announces what each commit created and updated (both stores).

The MQTT notifier is a commit observer of the pipeline; here a recording observer stands in
for it, so the test sees exactly what subscribers would be told: every entity created (also the
automatic FeaturesOfInterest and HistoricalLocations, observations of CreateObservations and
``$batch``), every entity updated with the properties that changed, after the commit, and
nothing for a refused request or a rolled-back change set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from hub.ingest.contracts import EntityChange
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    Rig,
    datastream,
    make_rig,
)

Flat = set[tuple[str, str, int]]


class Recorder:
    def __init__(self) -> None:
        self.commits: list[list[EntityChange]] = []

    def committed(self, changes: Sequence[EntityChange]) -> None:
        self.commits.append(list(changes))

    def take(self) -> list[list[EntityChange]]:
        taken, self.commits = self.commits, []
        return taken


@pytest.fixture
def rig(store_url: str) -> Iterator[tuple[Rig, Recorder]]:
    made, pipeline = make_rig(store_url, with_pipeline=True)
    assert pipeline is not None
    recorder = Recorder()
    pipeline.add_observer(recorder)
    try:
        yield made, recorder
    finally:
        pipeline.stop()
        made.store.close()


def flat(commit: list[EntityChange]) -> Flat:
    return {(c.entity_set, c.event, i) for c in commit for i in c.ids}


def one_commit(recorder: Recorder) -> list[EntityChange]:
    commits = recorder.take()
    assert len(commits) == 1, commits
    return commits[0]


def ids_of(rig: Rig, path: str) -> list[int]:
    return [entity["@iot.id"] for entity in rig.get(path)["value"]]


def test_a_deep_insert_announces_every_entity_it_created(rig: tuple[Rig, Recorder]) -> None:
    app, recorder = rig
    body = {
        **THING,
        "Locations": [LOCATION],
        "Datastreams": [datastream(Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY)],
    }
    thing = app.create("Things", body)
    (location,) = ids_of(app, f"Things({thing})/Locations")
    (history,) = ids_of(app, f"Things({thing})/HistoricalLocations")
    (stream,) = ids_of(app, f"Things({thing})/Datastreams")
    sensor = app.get(f"Datastreams({stream})/Sensor")["@iot.id"]
    prop = app.get(f"Datastreams({stream})/ObservedProperty")["@iot.id"]
    assert flat(one_commit(recorder)) == {
        ("Things", "create", thing),
        ("Locations", "create", location),
        ("HistoricalLocations", "create", history),
        ("Datastreams", "create", stream),
        ("Sensors", "create", sensor),
        ("ObservedProperties", "create", prop),
    }


def test_observations_and_their_automatic_feature(rig: tuple[Rig, Recorder]) -> None:
    app, recorder = rig
    thing = app.create("Things", {**THING, "Locations": [LOCATION]})
    stream = app.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )
    recorder.take()
    first = app.create(f"Datastreams({stream})/Observations", {"result": 1.5})
    feature = app.get(f"Observations({first})/FeatureOfInterest")["@iot.id"]
    assert flat(one_commit(recorder)) == {
        ("FeaturesOfInterest", "create", feature),
        ("Observations", "create", first),
    }
    second = app.create(f"Datastreams({stream})/Observations", {"result": 2.5})
    assert flat(one_commit(recorder)) == {("Observations", "create", second)}  # feature reused

    urls = app.send(
        "POST",
        "CreateObservations",
        [
            {
                "Datastream": {"@iot.id": stream},
                "components": ["phenomenonTime", "result"],
                "dataArray": [
                    ["2026-03-01T10:00:00Z", 1],
                    ["bad time", 2],
                    ["2026-03-01T11:00:00Z", 3],
                ],
            }
        ],
        status=201,
    ).get_json()
    created = {int(m) for url in urls for m in re.findall(r"Observations\((\d+)\)", url)}
    assert len(created) == 2 and urls[1] == "error"
    assert flat(one_commit(recorder)) == {("Observations", "create", i) for i in created}


def test_updates_name_what_changed(rig: tuple[Rig, Recorder]) -> None:
    app, recorder = rig
    thing = app.create("Things", THING)
    other = app.create("Things", {**THING, "name": "Other"})
    stream = app.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )
    recorder.take()
    app.send(
        "PATCH",
        f"Things({thing})",
        {"name": "Renamed", "description": THING["description"]},
        status=200,
    )
    (change,) = one_commit(recorder)
    assert (change.entity_set, change.event, change.ids, change.changed) == (
        "Things",
        "update",
        (thing,),
        frozenset({"name"}),
    )
    patch = [{"op": "add", "path": "/properties/district", "value": "Esil"}]
    app.send(
        "PATCH",
        f"Things({thing})",
        content_type="application/json-patch+json",
        data=_json(patch),
        status=200,
    )
    (change,) = one_commit(recorder)
    assert change.changed == frozenset({"properties"})
    # Moving a Datastream to another Thing changes a link, no property.
    app.send("PATCH", f"Datastreams({stream})", {"Thing": {"@iot.id": other}}, status=200)
    (change,) = one_commit(recorder)
    assert (change.entity_set, change.ids, change.changed) == (
        "Datastreams",
        (stream,),
        frozenset(),
    )
    # ... and so does adding it to a Thing's collection, seen from the Thing.
    app.send("PATCH", f"Things({thing})", {"Datastreams": [{"@iot.id": stream}]}, status=200)
    assert {(c.entity_set, c.ids) for c in one_commit(recorder)} == {
        ("Things", (thing,)),
        ("Datastreams", (stream,)),
    }


def test_refused_deleted_and_rolled_back_writes_announce_nothing(
    rig: tuple[Rig, Recorder],
) -> None:
    app, recorder = rig
    thing = app.create("Things", THING)
    recorder.take()
    app.send("POST", "Things", {"name": "no description"}, status=400)
    app.send("POST", "Datastreams", datastream(Thing={"@iot.id": 999_999}), status=404)
    app.send("DELETE", f"Things({thing})", status=200)
    # A JSON $batch atomicity group whose second request fails: the first is rolled back.
    response = app.send(
        "POST",
        "$batch",
        {
            "requests": [
                {
                    "id": "a",
                    "atomicityGroup": "g",
                    "method": "post",
                    "url": "Sensors",
                    "body": SENSOR,
                },
                {"id": "b", "atomicityGroup": "g", "method": "post", "url": "Things", "body": {}},
            ]
        },
        status=200,
    )
    assert [r["status"] for r in response.get_json()["responses"]] == [424, 400]
    assert recorder.take() == []


def test_a_batch_announces_each_committed_change_set(rig: tuple[Rig, Recorder]) -> None:
    app, recorder = rig
    response = app.send(
        "POST",
        "$batch",
        {
            "requests": [
                {
                    "id": "s",
                    "atomicityGroup": "g",
                    "method": "post",
                    "url": "Sensors",
                    "body": SENSOR,
                },
                {
                    "id": "t",
                    "atomicityGroup": "g",
                    "method": "post",
                    "url": "Things",
                    "body": THING,
                },
                {"id": "u", "method": "patch", "url": "$t", "body": {"name": "Later"}},
            ]
        },
        status=200,
    )
    answers = {r["id"]: r for r in response.get_json()["responses"]}
    sensor, thing = (_id(answers[name]) for name in ("s", "t"))
    first, second = recorder.take()
    assert flat(first) == {("Sensors", "create", sensor), ("Things", "create", thing)}
    assert flat(second) == {("Things", "update", thing)}


def _id(answer: dict[str, Any]) -> int:
    location = answer["location"] if "location" in answer else answer["body"]["@iot.selfLink"]
    return int(location[location.rindex("(") + 1 : location.rindex(")")])


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()
