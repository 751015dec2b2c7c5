"""Conformance: the data array extension (FROST-Server c06 DataArrayTests; ets-sta10 has none).

Requirement class (18-088 Annex A.6, ``sta.md`` §1.7):
``http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array``.

Reading: ``$resultFormat=dataArray`` on Observations and on a (Multi)Datastream's Observations
answers one object per stream -- its navigation link, ``components`` and ``dataArray`` rows in
that order -- with ``$select`` choosing the components and ``@iot.count``/``@iot.nextLink`` at
the top level. Creating: ``POST CreateObservations`` takes the same form (``FeatureOfInterest/id``
among the components, or a FeatureOfInterest made from the Thing's Location), answers 201 with
the new Observations' URLs in input order and ``"error"`` in place of a row that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.hub.sta.conformance.bodies import (
    MEASUREMENT,
    datastream,
    fresh,
    observation,
    observed_property,
    ref,
    same_times,
    stream_world,
)
from tests.hub.sta.conformance.client import MISSING_ID, Sta
from tests.hub.sta.conformance.spec import missing_requirements, parse_time, time_start

COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"


@dataclass(frozen=True)
class Setup:
    ids: dict[str, int]  # a stream_world (its Observation is on Datastreams)
    second: int  # a second Datastream of the same Thing
    multi: int
    observations: dict[int, list[int]]  # datastream -> its Observations, by time


@pytest.fixture(scope="module")
def setup(sta: Sta) -> Setup:
    return sta.keep("setup", lambda: _setup(sta))


def _setup(sta: Sta) -> Setup:
    tag = fresh()
    ids = stream_world(sta, tag)
    second = sta.create(
        "Datastreams",
        datastream(
            tag + "2",
            Thing=ref(ids["Things"]),
            Sensor=ref(ids["Sensors"]),
            ObservedProperty=ref(ids["ObservedProperties"]),
        ),
    )
    feature = ref(ids["FeaturesOfInterest"])
    for day, number in ((1, 2.5), (2, 3)):
        sta.create(f"Datastreams({ids['Datastreams']})/Observations", observation(day, number))
    for day, word in ((3, "high"), (4, "low")):
        body = {**observation(day, word, FeatureOfInterest=feature), "resultTime": None}
        sta.create(f"Datastreams({second})/Observations", body)
    other = sta.create("ObservedProperties", observed_property(tag + "o"))
    multi = sta.create(
        "MultiDatastreams",
        {
            "name": f"{tag} multidatastream",
            "description": "two values",
            "observationType": COMPLEX,
            "unitOfMeasurements": [
                {"name": "a", "symbol": "a", "definition": "http://example.org/a"},
                {"name": "b", "symbol": "b", "definition": "http://example.org/b"},
            ],
            "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
            "Thing": ref(ids["Things"]),
            "Sensor": ref(ids["Sensors"]),
            "ObservedProperties": [ref(ids["ObservedProperties"]), ref(other)],
        },
    )
    observations = {
        stream: sta.ids(f"Datastreams({stream})/Observations?$orderby=phenomenonTime")
        for stream in (ids["Datastreams"], second)
    }
    return Setup(ids, second, multi, observations)


def groups(body: dict[str, Any], link_key: str = "Datastream@iot.navigationLink") -> dict[str, Any]:
    """The dataArray objects of a response by their stream's navigation link."""
    assert isinstance(body.get("value"), list), body
    found = {}
    for group in body["value"]:
        assert isinstance(group.get("components"), list), group
        assert isinstance(group.get("dataArray"), list), group
        for row in group["dataArray"]:
            assert isinstance(row, list) and len(row) == len(group["components"]), group
        if "dataArray@iot.count" in group:
            assert group["dataArray@iot.count"] == len(group["dataArray"]), group
        found[group[link_key]] = group
    return found


def rows_as_entities(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(group["components"], row, strict=True)) for row in group["dataArray"]]


def test_service_root_advertises_data_arrays(sta: Sta) -> None:
    conformance = sta.get("")["serverSettings"]["conformance"]
    assert missing_requirements(conformance, ["data-array/data-array"]) == [], conformance


def test_observations_as_data_arrays(sta: Sta, setup: Setup) -> None:
    """FROST testGetDataArray: one object per Datastream, each row the Observation as served."""
    thing = setup.ids["Things"]
    body = sta.get(
        f"Observations?$resultFormat=dataArray&$filter=Datastream/Thing/id eq {thing}"
        "&$orderby=phenomenonTime"
    )
    found = groups(body)
    streams = {setup.ids["Datastreams"], setup.second}
    assert set(found) == {f"{sta.root}/Datastreams({s})" for s in streams}, list(found)
    for stream in streams:
        group = found[f"{sta.root}/Datastreams({stream})"]
        assert {"id", "phenomenonTime", "result"} <= set(group["components"]), group
        rows = rows_as_entities(group)
        assert [row["id"] for row in rows] == setup.observations[stream]
        for row in rows:
            served = sta.get(f"Observations({row['id']})")
            for component, cell in row.items():
                if component == "id":
                    continue
                if component in ("phenomenonTime", "resultTime", "validTime"):
                    assert same_times(cell, served.get(component)), (component, cell, served)
                else:
                    assert cell == served.get(component), (component, cell, served)


def test_a_datastreams_observations_as_a_data_array(sta: Sta, setup: Setup) -> None:
    stream = setup.ids["Datastreams"]
    body = sta.get(f"Datastreams({stream})/Observations?$resultFormat=dataArray&$count=true")
    assert body["@iot.count"] == len(setup.observations[stream]), body
    (group,) = groups(body).values()
    assert group["Datastream@iot.navigationLink"] == f"{sta.root}/Datastreams({stream})"
    assert sorted(row["id"] for row in rows_as_entities(group)) == sorted(
        setup.observations[stream]
    )


def test_select_chooses_the_components(sta: Sta, setup: Setup) -> None:
    """FROST testGetDataArraySelect: ``$select`` picks the components, in the order given."""
    stream = setup.second
    path = f"Datastreams({stream})/Observations?$resultFormat=dataArray&$orderby=phenomenonTime"
    (group,) = groups(sta.get(f"{path}&$select=result,phenomenonTime")).values()
    assert group["components"] == ["result", "phenomenonTime"], group
    assert [row[0] for row in group["dataArray"]] == ["high", "low"]
    assert [parse_time(row[1]).day for row in group["dataArray"]] == [4, 5]
    (group,) = groups(sta.get(f"{path}&$select=id,result")).values()
    assert group["components"] == ["id", "result"], group
    assert group["dataArray"] == [
        [setup.observations[stream][0], "high"],
        [setup.observations[stream][1], "low"],
    ]


def test_paging_stays_at_the_top_level(sta: Sta, setup: Setup) -> None:
    stream = setup.ids["Datastreams"]
    total = len(setup.observations[stream])
    path = f"Datastreams({stream})/Observations?$resultFormat=dataArray&$top=1&$count=true"
    first = sta.get(path)
    assert first["@iot.count"] == total
    assert len(first["value"]) == 1 and len(first["value"][0]["dataArray"]) == 1, first
    seen = [rows_as_entities(first["value"][0])[0]["id"]]
    url = first.get("@iot.nextLink")
    while url is not None:
        page = sta.get(url)
        for group in groups(page).values():
            seen.extend(row["id"] for row in rows_as_entities(group))
        url = page.get("@iot.nextLink")
    assert sorted(seen) == sorted(setup.observations[stream])


def create_observations(sta: Sta, body: Any) -> list[Any]:
    answer = sta.request("POST", "CreateObservations", body, status=201).json()
    assert isinstance(answer, list), answer
    return answer


def observation_id(sta: Sta, url: Any) -> int:
    assert isinstance(url, str) and url.startswith(f"{sta.root}/Observations("), url
    return int(url[url.rindex("(") + 1 : -1])


def test_create_observations(sta: Sta, setup: Setup) -> None:
    """FROST testPostDataArray: two Datastreams, ``FeatureOfInterest/id`` in the components
    of one, a FeatureOfInterest made from the Thing's Location for the other; 201 with the
    new Observations' URLs in input order."""
    feature = setup.ids["FeaturesOfInterest"]
    body = [
        {
            "Datastream": ref(setup.ids["Datastreams"]),
            "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
            "dataArray": [
                ["2017-01-13T10:20:00.000Z", 90, feature],
                ["2017-01-14T10:20:00.000Z", 91, feature],
            ],
        },
        {
            "Datastream": ref(setup.second),
            "components": ["phenomenonTime", "result", "resultTime"],
            "dataArray": [
                ["2017-01-15T10:20:00.000Z", 92, "2017-01-15T10:21:00.000Z"],
                ["2017-01-16T10:20:00.000Z/2017-01-16T11:20:00.000Z", 93, None],
            ],
        },
    ]
    urls = create_observations(sta, body)
    assert len(urls) == 4, urls
    made = [sta.get(f"Observations({observation_id(sta, url)})") for url in urls]
    assert [m["result"] for m in made] == [90, 91, 92, 93]
    assert same_times(made[2]["resultTime"], "2017-01-15T10:21:00Z")
    assert made[3]["phenomenonTime"].count("/") == 1
    ids = [observation_id(sta, url) for url in urls]
    for observation_id_, stream in zip(
        ids, [setup.ids["Datastreams"]] * 2 + [setup.second] * 2, strict=True
    ):
        assert sta.get(f"Observations({observation_id_})/Datastream")["@iot.id"] == stream
    assert sta.get(f"Observations({ids[0]})/FeatureOfInterest")["@iot.id"] == feature
    made_feature = sta.get(f"Observations({ids[2]})/FeatureOfInterest")
    place = sta.get(f"Locations({setup.ids['Locations']})")
    assert made_feature["feature"] == place["location"]


def test_a_bad_row_is_an_error_in_its_place(sta: Sta, setup: Setup) -> None:
    """18-088 §13.2: the answer holds ``"error"`` for each row that failed, the rows around it
    are created."""
    body = [
        {
            "Datastream": ref(setup.ids["Datastreams"]),
            "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
            "dataArray": [
                ["2018-02-01T00:00:00Z", 1, setup.ids["FeaturesOfInterest"]],
                ["2018-02-02T00:00:00Z", 2, MISSING_ID],
                ["2018-02-03T00:00:00Z", 3],
                ["not a time", 4, setup.ids["FeaturesOfInterest"]],
                ["2018-02-05T00:00:00Z", 5, setup.ids["FeaturesOfInterest"]],
            ],
        }
    ]
    urls = create_observations(sta, body)
    assert [url == "error" for url in urls] == [False, True, True, True, False], urls
    results = [sta.get(f"Observations({observation_id(sta, urls[i])})")["result"] for i in (0, 4)]
    assert results == [1, 5]


def test_time_offsets_without_a_colon(sta: Sta, setup: Setup) -> None:
    """The spec's own CreateObservations example writes offsets as ``-0700``."""
    body = [
        {
            "Datastream": ref(setup.second),
            "components": ["phenomenonTime", "result"],
            "dataArray": [["2019-03-01T10:00:00-0700", 7]],
        }
    ]
    (url,) = create_observations(sta, body)
    served = sta.get(f"Observations({observation_id(sta, url)})")
    assert time_start(served["phenomenonTime"]) == parse_time("2019-03-01T17:00:00Z")


def test_create_observations_of_a_multi_datastream(sta: Sta, setup: Setup) -> None:
    """FROST testPostDataArrayMultiDatastream, then read back as a data array."""
    body = [
        {
            "MultiDatastream": ref(setup.multi),
            "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
            "dataArray": [
                ["2017-02-01T00:00:00Z", [1.5, 2], setup.ids["FeaturesOfInterest"]],
                ["2017-02-02T00:00:00Z", [2.5, 3], setup.ids["FeaturesOfInterest"]],
            ],
        }
    ]
    urls = create_observations(sta, body)
    assert "error" not in urls, urls
    page = sta.get(
        f"MultiDatastreams({setup.multi})/Observations?$resultFormat=dataArray"
        "&$select=result&$orderby=phenomenonTime"
    )
    (group,) = groups(page, "MultiDatastream@iot.navigationLink").values()
    assert (
        group["MultiDatastream@iot.navigationLink"] == f"{sta.root}/MultiDatastreams({setup.multi})"
    )
    assert group["dataArray"] == [[[1.5, 2]], [[2.5, 3]]]


@pytest.mark.parametrize(
    "body",
    [
        {"Datastream": {"@iot.id": 1}, "components": ["result"], "dataArray": [[1]]},
        [{"Datastream": {"@iot.id": 1}, "components": "result", "dataArray": [[1]]}],
        [{"components": ["result"], "dataArray": [[1]]}],
        [{"Datastream": {"@iot.id": 1}, "components": ["nosuch"], "dataArray": [[1]]}],
    ],
    ids=["not an array", "components not a list", "no stream", "unknown component"],
)
def test_a_malformed_body_is_400(sta: Sta, setup: Setup, body: Any) -> None:
    before = sta.count("Observations")
    sta.request("POST", "CreateObservations", body, status=400)
    assert sta.count("Observations") == before


def test_create_observations_needs_credentials(sta: Sta, setup: Setup) -> None:
    body = [{"Datastream": ref(setup.second), "components": ["result"], "dataArray": [[1]]}]
    response = sta.request("POST", "CreateObservations", body, anonymous=True, status=401)
    assert response.headers.get("WWW-Authenticate"), response.headers
