"""``POST /v1.1/CreateObservations`` (18-088 §13.2, ``sta.md`` §1.7)."""

from __future__ import annotations

from typing import Any

from hub.store.schema import observations, raw_frames
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    ROOT,
    SENSOR,
    THING,
    UNIT,
    Rig,
    datastream,
)

COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
FEATURE = {
    "name": "Well",
    "description": "Groundwater well",
    "encodingType": "application/geo+json",
    "feature": {"type": "Point", "coordinates": [71.0, 51.0]},
}


def _stream(rig: Rig) -> int:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    return rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )


def _post(rig: Rig, body: Any, status: int = 201) -> Any:
    return rig.send("POST", "CreateObservations", body, status=status).get_json()


def test_rows_become_observations_in_input_order(rig: Rig) -> None:
    stream = _stream(rig)
    feature = rig.create("FeaturesOfInterest", FEATURE)
    urls = _post(
        rig,
        [
            {
                "Datastream": {"@iot.id": stream},
                "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
                "dataArray": [
                    ["2025-01-15T10:00:00-0700", 20, feature],
                    ["2025-01-15T11:00:00-07:00", 30, feature],
                    ["2025-01-15T12:00:00Z", 40, None],
                ],
            }
        ],
    )
    assert len(urls) == 3 and all(url.startswith(f"{ROOT}/Observations(") for url in urls)
    ids = [int(url[url.index("(") + 1 : -1]) for url in urls]
    first = rig.get(f"Observations({ids[0]})")
    assert first["phenomenonTime"] == "2025-01-15T17:00:00Z" and first["result"] == 20
    assert rig.get(f"Observations({ids[1]})")["phenomenonTime"] == "2025-01-15T18:00:00Z"
    assert rig.get(f"Observations({ids[0]})/FeatureOfInterest")["@iot.id"] == feature
    derived = rig.get(f"Observations({ids[2]})/FeatureOfInterest")
    assert derived["@iot.id"] != feature and derived["name"] == LOCATION["name"]


def test_bad_rows_are_errors_and_the_rest_is_created(rig: Rig) -> None:
    stream = _stream(rig)
    urls = _post(
        rig,
        [
            {
                "Datastream": {"@iot.id": stream},
                "components": ["phenomenonTime", "result", "resultTime", "FeatureOfInterest/id"],
                "dataArray": [
                    ["2025-01-15T10:00:00Z", 1, "2025-01-15T10:00:01Z", None],
                    ["not a time", 2, None, None],
                    ["2025-01-15T11:00:00Z", 3],  # too short
                    ["2025-01-15T12:00:00Z", 4, None, 987654],  # no such feature
                    ["2025-01-15T13:00:00Z", 5, None, "x"],
                    "not a row",
                    ["2025-01-15T14:00:00Z", {"any": "json"}, None, None],
                ],
            },
            {"Datastream": {"@iot.id": 987654}, "components": ["result"], "dataArray": [[1]]},
        ],
    )
    assert [url == "error" for url in urls] == [False, True, True, True, True, True, False, True]
    assert rig.count(observations) == 2
    assert rig.get(urls[6].removeprefix(ROOT + "/"))["result"] == {"any": "json"}


def test_one_archive_row_for_the_request(rig: Rig) -> None:
    stream = _stream(rig)
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["result", "phenomenonTime"],
            "dataArray": [[1, "2025-01-15T10:00:00Z"], [2, "2025-01-15T10:10:00Z"]],
        }
    ]
    frames = rig.count(raw_frames)
    first = _post(rig, body)
    assert rig.count(raw_frames) == frames + 1
    again = _post(rig, body)  # the same request again: the same observations, one archive row
    assert again == first and rig.count(raw_frames) == frames + 1
    with rig.store.connect() as conn:
        frame = conn.execute(
            raw_frames.select().where(raw_frames.c.adapter == "sta")
        ).mappings().one()  # fmt: skip
    assert frame["receive_count"] == 2 and frame["observations"] == 2


def test_multi_datastream_rows(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    multi = rig.create(
        "MultiDatastreams",
        {
            "name": "m",
            "description": "d",
            "unitOfMeasurements": [UNIT, UNIT],
            "observationType": COMPLEX,
            "multiObservationDataTypes": [COMPLEX, COMPLEX],
            "Thing": {"@iot.id": thing},
            "Sensor": SENSOR,
            "ObservedProperties": [OBSERVED_PROPERTY, {**OBSERVED_PROPERTY, "name": "p2"}],
        },
    )
    urls = _post(
        rig,
        [
            {
                "MultiDatastream": {"@iot.id": multi},
                "components": ["phenomenonTime", "result"],
                "dataArray": [["2025-01-15T10:00:00Z", [1, 2]], ["2025-01-15T11:00:00Z", [1]]],
            }
        ],
    )
    assert urls[1] == "error" and urls[0] != "error"


def test_malformed_requests_are_refused_whole(rig: Rig) -> None:
    stream = _stream(rig)
    for body in (
        {"Datastream": {"@iot.id": stream}},
        [{"components": ["result"], "dataArray": [[1]]}],
        [{"Datastream": {"@iot.id": stream}, "components": ["result", "colour"], "dataArray": []}],
        [{"Datastream": {"@iot.id": stream}, "components": ["phenomenonTime"], "dataArray": []}],
        [{"Datastream": {"@iot.id": stream}, "components": ["result", "result"], "dataArray": []}],
        [{"Datastream": {"@iot.id": stream}, "components": ["result"], "dataArray": {}}],
        [{"Datastream": {"@iot.id": "one"}, "components": ["result"], "dataArray": [[1]]}],
        [{"Datastream": 5, "components": ["result"], "dataArray": [[1]]}],
    ):
        _post(rig, body, status=400)
    rig.send("PATCH", "CreateObservations", [], status=405)
    assert rig.count(observations) == 0
