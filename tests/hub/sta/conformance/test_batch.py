"""Conformance: batch requests (FROST-Server c04 BatchTests; ets-sta10 has none).

Requirement class (18-088 Annex A.4, ``sta.md`` §1.6):
``http://www.opengis.net/spec/iot_sensing/1.1/req/batch-request/batch-request``.

``POST /v1.1/$batch`` in the OData 4.0 ``multipart/mixed`` form of 18-088 §11: reads and change
sets in one request, ``Content-ID`` names referenced later as ``$name`` (in a body's
``@iot.id`` and at the start of a URL), request URLs absolute (scheme, host and path), absolute
paths and paths relative to the batch; a change set that fails changes nothing. And the
OData 4.01 JSON form FROST-Server added (``requests``/``responses``, ``atomicityGroup``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.hub.sta.conformance.bodies import (
    absent,
    datastream,
    fresh,
    made_with,
    ref,
    sensor,
    thing,
)
from tests.hub.sta.conformance.client import MISSING_ID, Sta, describe
from tests.hub.sta.conformance.spec import missing_requirements

BATCH = "batch_36522ad7-fc75-4b56-8c71-56071383e77b"
CHANGESET = "changeset_77162fcd-b8da-41ac-a9f8-9357efbbd"
TAG = "cnfbatch"


@dataclass(frozen=True)
class Answer:
    """One response part of a multipart batch response."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: Any
    content_id: str | None


@dataclass(frozen=True)
class Setup:
    things: list[int]  # properties/int of things[i] is i + 8
    names: list[str]
    observed_property: int


@pytest.fixture(scope="module")
def setup(sta: Sta) -> Setup:
    return sta.keep("setup", lambda: _setup(sta))


def _setup(sta: Sta) -> Setup:
    """FROST BatchTests.createEntities: six Things and an ObservedProperty."""
    names = [f"{TAG} thing {i}" for i in range(6)]
    things = [
        sta.create(
            "Things", {"name": n, "description": "It's a thing.", "properties": {"int": i + 8}}
        )
        for i, n in enumerate(names)
    ]
    prop = sta.create(
        "ObservedProperties",
        {
            "name": f"{TAG} observed property 1",
            "definition": "http://ucom.org/temperature",
            "description": "The temperature of the thing.",
        },
    )
    return Setup(things, names, prop)


def request_part(
    method: str, url: str, body: Any = None, *, content_id: str | None = None, binary: bool = True
) -> str:
    """One ``application/http`` part (with 18-088's ``Content-Transfer-Encoding: binary``)."""
    head = "Content-Type: application/http\r\n"
    if binary:
        head += "Content-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    text = f"{head}\r\n{method} {url} HTTP/1.1\r\nHost: localhost\r\n"
    if body is None:
        return text + "\r\n"
    payload = json.dumps(body)
    length = len(payload.encode("utf-8"))
    return text + f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{payload}"


def multipart(*parts: str | list[str]) -> bytes:
    """A batch body; a list of parts is a change set."""
    chunks = []
    for part in parts:
        if isinstance(part, list):
            inner = "".join(f"--{CHANGESET}\r\n{p}\r\n" for p in part) + f"--{CHANGESET}--"
            chunks.append(f"Content-Type: multipart/mixed;boundary={CHANGESET}\r\n\r\n{inner}")
        else:
            chunks.append(part)
    return ("".join(f"--{BATCH}\r\n{c}\r\n" for c in chunks) + f"--{BATCH}--").encode()


def post_multipart(sta: Sta, body: bytes, *, anonymous: bool = False) -> requests.Response:
    return sta.request(
        "POST",
        "$batch",
        data=body,
        content_type=f"multipart/mixed;boundary={BATCH}",
        anonymous=anonymous,
    )


def answers(response: requests.Response) -> list[Any]:
    """The response parts in order; a change set's parts as a nested list."""
    assert response.status_code == 200, describe(response, "200 for the batch")
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("multipart/mixed"), describe(response, "multipart/mixed")
    return _parse(content_type, response.text)


def _boundary(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match is not None, content_type
    return match.group(1)


def _headers(text: str) -> dict[str, str]:
    found = {}
    for line in text.split("\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
    return found


def _parse(content_type: str, text: str) -> list[Any]:
    delimiter = re.compile(rf"^--{re.escape(_boundary(content_type))}(--)?[ \t]*$", re.M)
    pieces = delimiter.split(text.replace("\r\n", "\n"))
    # re.split yields [preamble, group, part, group, part, ..., group, epilogue]
    parts = [p for i, p in enumerate(pieces[:-1]) if i % 2 == 0][1:]
    result: list[Any] = []
    for part in parts:
        head, _, rest = part.strip("\n").partition("\n\n")
        mime = _headers(head)
        if mime.get("content-type", "").startswith("multipart/mixed"):
            result.append(_parse(mime["content-type"], rest))
            continue
        status_line, _, after = rest.partition("\n")
        inner_head, _, body = after.partition("\n\n")
        status = int(status_line.split()[1])
        text_body = body.strip()
        payload = json.loads(text_body) if text_body else None
        result.append(Answer(status, _headers(inner_head), payload, mime.get("content-id")))
    return result


def location_id(sta: Sta, answer: Answer, set_name: str) -> int:
    location = answer.headers.get("location", "")
    match = re.fullmatch(re.escape(f"{sta.root}/{set_name}(") + r"([0-9]+)\)", location)
    assert match is not None, (set_name, answer)
    return int(match.group(1))


def test_service_root_advertises_batch_requests(sta: Sta) -> None:
    conformance = sta.get("")["serverSettings"]["conformance"]
    assert missing_requirements(conformance, ["batch-request/batch-request"]) == [], conformance


def test_reads_and_a_change_set(sta: Sta, setup: Setup) -> None:
    """FROST test01 (18-088 §11.2.1): a GET, a change set with a POST and a PATCH, a GET of
    a missing entity -- one answer each, the change set's answers carrying their Content-ID."""
    first = setup.things[0]
    new_name = fresh()
    body = multipart(
        request_part("GET", f"/v1.1/Things({first})?$select=name", binary=False),
        [
            request_part(
                "POST", "/v1.1/Things", {"name": new_name, "description": "Thing"}, content_id="1"
            ),
            request_part("PATCH", f"/v1.1/Things({first})", {"name": "Patched"}, content_id="2"),
        ],
        request_part("GET", f"/v1.1/Things({MISSING_ID})"),
    )
    read, change_set, missing = answers(post_multipart(sta, body))
    assert read.status == 200 and read.body == {"name": setup.names[0]}, read
    assert isinstance(change_set, list) and len(change_set) == 2, change_set
    created, patched = change_set
    assert (created.status, created.content_id) == (201, "1"), created
    new_id = location_id(sta, created, "Things")
    assert sta.get(f"Things({new_id})")["name"] == new_name
    assert (patched.status, patched.content_id) == (200, "2"), patched
    assert sta.get(f"Things({first})")["name"] == "Patched"
    assert missing.status == 404, missing
    sta.request("PATCH", f"Things({first})", {"name": setup.names[0]}, status=200)


def test_a_change_set_references_new_entities(sta: Sta, setup: Setup) -> None:
    """FROST test02 (18-088 §11.2.2): ``$sensor1`` in a body, ``$1`` at the start of a URL."""
    tag = fresh()
    stream = datastream(tag, ObservedProperty=ref(setup.observed_property))
    stream["Sensor"] = {"@iot.id": "$sensor1"}
    body = multipart(
        [
            request_part("POST", "/v1.1/Sensors", sensor(tag), content_id="sensor1"),
            request_part(
                "POST", f"/v1.1/Things({setup.things[1]})/Datastreams", stream, content_id="any"
            ),
            request_part("POST", "Things", thing(tag), content_id="1"),
            request_part(
                "POST",
                "$1/Datastreams",
                {
                    **datastream(tag + "x", ObservedProperty=ref(setup.observed_property)),
                    "Sensor": {"@iot.id": "$sensor1"},
                },
                content_id="2",
            ),
        ]
    )
    (change_set,) = answers(post_multipart(sta, body))
    assert [a.status for a in change_set] == [201, 201, 201, 201], change_set
    assert [a.content_id for a in change_set] == ["sensor1", "any", "1", "2"]
    sensor_id = location_id(sta, change_set[0], "Sensors")
    stream_id = location_id(sta, change_set[1], "Datastreams")
    assert sta.get(f"Datastreams({stream_id})/Sensor")["@iot.id"] == sensor_id
    assert sta.get(f"Datastreams({stream_id})/Thing")["@iot.id"] == setup.things[1]
    thing_id = location_id(sta, change_set[2], "Things")
    second = location_id(sta, change_set[3], "Datastreams")
    assert sta.get(f"Datastreams({second})/Thing")["@iot.id"] == thing_id
    assert sta.get(f"Datastreams({second})/Sensor")["@iot.id"] == sensor_id


@pytest.mark.parametrize("form", ["relative", "absolute path", "absolute URI"])
def test_request_urls(sta: Sta, setup: Setup, form: str) -> None:
    """FROST test03-05: percent-encoded query characters; URLs relative to the batch, absolute
    paths, and absolute URIs with scheme, host and port."""
    prefix = {"relative": "", "absolute path": "/v1.1/", "absolute URI": sta.root + "/"}[form]
    query = f"$filter=properties/int%20eq%20{{}}%20and%20startswith(name,'{TAG}')&$select=name"
    body = multipart(
        request_part("GET", prefix + "Things?" + query.format(10), binary=False),
        request_part("GET", prefix + "Things?" + query.format(11), binary=False),
    )
    first, second = answers(post_multipart(sta, body))
    assert (first.status, first.body["value"]) == (200, [{"name": setup.names[2]}]), first
    assert (second.status, second.body["value"]) == (200, [{"name": setup.names[3]}]), second


def test_a_failing_change_set_changes_nothing(sta: Sta, setup: Setup) -> None:
    """A change set is atomic: the Thing its first request created is rolled back when the
    second fails (a Datastream without ObservedProperty); requests outside it still run."""
    tag = fresh()
    body = multipart(
        [
            request_part("POST", "Things", thing(tag), content_id="1"),
            request_part(
                "POST", "$1/Datastreams", datastream(tag, Sensor=sensor(tag)), content_id="2"
            ),
        ],
        request_part("GET", f"Things({setup.things[0]})?$select=name"),
    )
    change_set, read = answers(post_multipart(sta, body))
    statuses = [a.status for a in (change_set if isinstance(change_set, list) else [change_set])]
    assert not any(200 <= s < 300 for s in statuses), statuses
    assert any(400 <= s < 500 for s in statuses), statuses
    assert read.status == 200, read
    assert made_with(sta, tag) == []


def test_a_batch_of_writes_needs_credentials(sta: Sta) -> None:
    tag = fresh()
    response = post_multipart(
        sta, multipart([request_part("POST", "Things", thing(tag), content_id="1")]), anonymous=True
    )
    if response.status_code != 401:
        (change_set,) = answers(response)
        parts = change_set if isinstance(change_set, list) else [change_set]
        assert all(a.status == 401 for a in parts), parts
    assert absent(sta, "Things", f"{tag} thing")


def post_json(sta: Sta, requests_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = sta.request("POST", "$batch", {"requests": requests_}, status=200)
    body = response.json()
    answers: list[dict[str, Any]] = body.get("responses")
    assert isinstance(answers, list), body
    return answers


def json_location(answer: dict[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    return answer.get("location") or headers.get("location")


def test_json_batch(sta: Sta, setup: Setup) -> None:
    """FROST test06: methods in lower case, one atomicity group, a 404 for a missing entity."""
    first = setup.things[4]
    new_name = fresh()
    responses = post_json(
        sta,
        [
            {"id": "0", "method": "get", "url": f"Things({first})?$select=name"},
            {
                "id": "1",
                "atomicityGroup": "group1",
                "method": "post",
                "url": "Things",
                "body": {"name": new_name, "description": "Thing"},
            },
            {
                "id": "2",
                "atomicityGroup": "group1",
                "method": "patch",
                "url": f"Things({first})",
                "body": {"name": "Json Patched"},
            },
            {"id": "3", "method": "get", "url": f"Things({MISSING_ID})"},
        ],
    )
    by_id = {r["id"]: r for r in responses}
    assert set(by_id) == {"0", "1", "2", "3"}, responses
    assert (by_id["0"]["status"], by_id["0"]["body"]) == (200, {"name": setup.names[4]})
    assert by_id["1"]["status"] == 201, by_id["1"]
    location = json_location(by_id["1"]) or ""
    assert re.fullmatch(re.escape(sta.root) + r"/Things\([0-9]+\)", location), by_id["1"]
    assert sta.get(location)["name"] == new_name
    assert by_id["2"]["status"] == 200, by_id["2"]
    assert sta.get(f"Things({first})")["name"] == "Json Patched"
    assert by_id["3"]["status"] == 404, by_id["3"]


def test_json_batch_references_new_entities(sta: Sta, setup: Setup) -> None:
    """FROST test07: ``$sensor1`` names the Sensor the request with id ``sensor1`` created."""
    tag = fresh()
    stream = datastream(tag, ObservedProperty=ref(setup.observed_property))
    stream["Sensor"] = {"@iot.id": "$sensor1"}
    responses = post_json(
        sta,
        [
            {
                "id": "sensor1",
                "atomicityGroup": "g",
                "method": "post",
                "url": "Sensors",
                "body": sensor(tag),
            },
            {
                "id": "any",
                "atomicityGroup": "g",
                "method": "post",
                "url": f"Things({setup.things[5]})/Datastreams",
                "body": stream,
            },
        ],
    )
    assert [(r["id"], r["status"]) for r in responses] == [("sensor1", 201), ("any", 201)]
    sensor_id = int(re.findall(r"\(([0-9]+)\)", json_location(responses[0]) or "")[0])
    stream_id = int(re.findall(r"\(([0-9]+)\)", json_location(responses[1]) or "")[0])
    assert sta.get(f"Datastreams({stream_id})/Sensor")["@iot.id"] == sensor_id


def test_a_failing_atomicity_group_changes_nothing(sta: Sta, setup: Setup) -> None:
    tag = fresh()
    responses = post_json(
        sta,
        [
            {
                "id": "t",
                "atomicityGroup": "g",
                "method": "post",
                "url": "Things",
                "body": thing(tag),
            },
            {
                "id": "o",
                "atomicityGroup": "g",
                "method": "post",
                "url": "ObservedProperties",
                "body": {"name": f"{tag} property"},
            },
            {"id": "r", "method": "get", "url": f"Things({setup.things[0]})"},
        ],
    )
    by_id = {r["id"]: r["status"] for r in responses}
    assert by_id.get("r") == 200, responses
    assert not any(200 <= by_id.get(k, 0) < 300 for k in ("t", "o")), responses
    assert absent(sta, "Things", f"{tag} thing")
    assert absent(sta, "ObservedProperties", f"{tag} property")
