"""``$batch`` in the OData multipart form and the JSON form (18-088 §11, ``sta.md`` §1.6)."""

from __future__ import annotations

import json
import re
from typing import Any

from hub.store.schema import datastreams, observations, things
from hub.store.users import add_user, issue_token
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    ROOT,
    SENSOR,
    THING,
    Rig,
    datastream,
)

BOUNDARY = "batch_36522ad7-fc75-4b56-8c71-56071383e77b"
CHANGESET = "changeset_77162fcd-b8da-41ac-a9f8-9357efbbd"


def _request(method: str, url: str, body: Any = None, content_id: str | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    text = f"{head}\r\n{method} {url} HTTP/1.1\r\nHost: localhost\r\n"
    if body is not None:
        payload = json.dumps(body)
        text += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n{payload}"
    else:
        text += "\r\n"
    return text


def _multipart(*parts: str | list[str]) -> bytes:
    chunks = []
    for part in parts:
        if isinstance(part, list):
            inner = "".join(f"--{CHANGESET}\r\n{p}\r\n" for p in part) + f"--{CHANGESET}--\r\n"
            chunks.append(f"Content-Type: multipart/mixed; boundary={CHANGESET}\r\n\r\n{inner}")
        else:
            chunks.append(part)
    body = "".join(f"--{BOUNDARY}\r\n{chunk}\r\n" for chunk in chunks) + f"--{BOUNDARY}--\r\n"
    return body.encode()


def _send_multipart(rig: Rig, body: bytes, headers: dict[str, str] | None = None) -> list[Any]:
    response = rig.send(
        "POST",
        "$batch",
        data=body,
        content_type=f"multipart/mixed; boundary={BOUNDARY}",
        headers=headers,
        status=200,
    )
    assert response.mimetype == "multipart/mixed"
    return _responses(response.get_data(as_text=True), response.headers["Content-Type"])


def _responses(text: str, content_type: str) -> list[Any]:
    """(status, headers, body) per part; a change set's answers as a nested list."""
    boundary = content_type.split("boundary=")[1]
    out: list[Any] = []
    for section in text.split(f"--{boundary}")[1:-1]:
        head, _, rest = section.strip("\r\n").partition("\r\n\r\n")
        if "multipart/mixed" in head:
            out.append(_responses(rest, head))
            continue
        status_line, _, after = rest.partition("\r\n")
        headers_text, _, body = after.partition("\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in headers_text.split("\r\n") if line)
        status = int(status_line.split()[1])
        out.append((status, headers, json.loads(body) if body.strip() else None))
    return out


def test_multipart_reads_creates_and_references(rig: Rig) -> None:
    thing = rig.create("Things", THING)
    body = _multipart(
        _request("GET", f"Things({thing})?$select=name"),
        [
            _request("POST", "/v1.1/Things", {**THING, "name": "Batch thing"}, content_id="1"),
            _request("POST", "$1/Locations", LOCATION, content_id="2"),
            _request(
                "POST",
                f"{ROOT}/Datastreams",
                datastream(
                    Thing={"@iot.id": "$1"}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY
                ),
                content_id="3",
            ),
            _request("POST", "$3/Observations", {"result": 7}),
        ],
        _request("PATCH", "$1", {"description": "patched after the change set"}),
        _request("GET", "Things?$filter=name%20eq%20'Batch%20thing'"),
    )
    read, change_set, patched, found = _send_multipart(rig, body)
    assert isinstance(change_set, list), change_set
    assert read[0] == 200 and read[2] == {"name": THING["name"]}
    statuses = [answer[0] for answer in change_set]
    assert statuses == [201, 201, 201, 201]
    new_thing = change_set[0][2]["@iot.id"]
    assert change_set[0][1]["Location"] == f"{ROOT}/Things({new_thing})"
    assert rig.get(f"Things({new_thing})/Locations")["value"][0]["name"] == LOCATION["name"]
    stream = change_set[2][2]["@iot.id"]
    assert rig.get(f"Datastreams({stream})/Thing")["@iot.id"] == new_thing
    assert change_set[3][2]["result"] == 7
    assert patched[0] == 200 and patched[2]["description"] == "patched after the change set"
    assert [t["@iot.id"] for t in found[2]["value"]] == [new_thing]


def test_a_failing_change_set_rolls_back_whole(rig: Rig) -> None:
    before = (rig.count(things), rig.count(datastreams), rig.count(observations))
    body = _multipart(
        [
            _request("POST", "Things", THING, content_id="1"),
            _request("POST", "$1/Datastreams", datastream(Sensor=SENSOR)),  # no ObservedProperty
        ],
        _request("POST", "Things", {**THING, "name": "Outside the change set"}),
        _request("POST", "$1/Locations", LOCATION),  # $1 was rolled back: names nothing
    )
    failed, outside, dangling = _send_multipart(rig, body)
    assert failed[0] == 400 and "ObservedProperty" in failed[2]["message"]
    assert outside[0] == 201 and dangling[0] == 404
    assert (rig.count(things), rig.count(datastreams), rig.count(observations)) == (
        before[0] + 1,
        before[1],
        before[2],
    )


def test_json_batch_with_an_atomicity_group(rig: Rig) -> None:
    body = {
        "requests": [
            {
                "id": "t",
                "method": "post",
                "url": "Things",
                "body": {**THING, "Locations": [LOCATION]},
            },
            {
                "id": "d",
                "atomicityGroup": "g1",
                "method": "post",
                "url": "$t/Datastreams",
                "body": datastream(Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
            },
            {
                "id": "o",
                "atomicityGroup": "g1",
                "method": "post",
                "url": "$d/Observations",
                "body": {"result": 1, "phenomenonTime": "2025-01-15T10:00:00Z"},
            },
            {"id": "r", "method": "get", "url": "$d/Observations"},
            {
                "id": "bad1",
                "atomicityGroup": "g2",
                "method": "post",
                "url": "Things",
                "body": THING,
            },
            {"id": "bad2", "atomicityGroup": "g2", "method": "post", "url": "Things", "body": {}},
        ]
    }
    response = rig.send("POST", "$batch", body, status=200)
    answers = {item["id"]: item for item in response.get_json()["responses"]}
    assert [answers[k]["status"] for k in ("t", "d", "o", "r")] == [201, 201, 201, 200]
    assert answers["t"]["headers"]["location"].startswith(f"{ROOT}/Things(")
    assert [v["result"] for v in answers["r"]["body"]["value"]] == [1]
    assert answers["bad2"]["status"] == 400 and answers["bad1"]["status"] == 424
    assert rig.count(things) == 1


def test_json_batch_groups_must_be_adjacent_and_names_well_formed(rig: Rig) -> None:
    split = {
        "requests": [
            {"id": "a", "atomicityGroup": "g", "method": "post", "url": "Things", "body": THING},
            {"id": "b", "method": "post", "url": "Things", "body": THING},
            {"id": "c", "atomicityGroup": "g", "method": "post", "url": "Things", "body": THING},
        ]
    }
    rig.send("POST", "$batch", split, status=400)
    rig.send("POST", "$batch", {"requests": [{"id": "a b", "method": "get", "url": "Things"}]},
             status=400)  # fmt: skip
    rig.send("POST", "$batch", {"requests": "all"}, status=400)
    assert rig.count(things) == 0


def test_each_part_needs_its_role(rig: Rig) -> None:
    thing = rig.create("Things", THING)
    add_user(rig.store, "maker", "create", "correct horse battery")
    maker = {"Authorization": f"Bearer {issue_token(rig.store, 'maker')}"}
    body = _multipart(
        _request("POST", "Things", THING),
        _request("DELETE", f"Things({thing})"),
        [_request("POST", "Things", THING), _request("PATCH", f"Things({thing})", {"name": "x"})],
        _request("GET", f"Things({thing})"),
    )
    created, deleted, change_set, read = _send_multipart(rig, body, headers=maker)
    assert created[0] == 201 and deleted[0] == 403 and change_set[0] == 403 and read[0] == 200
    assert rig.count(things) == 2
    anonymous = rig.client.post(
        "/v1.1/$batch", data=body, content_type=f"multipart/mixed; boundary={BOUNDARY}"
    )
    assert anonymous.status_code == 401


def test_malformed_batches_are_400(rig: Rig) -> None:
    for body, content_type in (
        (b"no delimiters at all", f"multipart/mixed; boundary={BOUNDARY}"),
        (_multipart(_request("GET", "Things")), "multipart/mixed"),  # no boundary parameter
        (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nhi\r\n--{BOUNDARY}--".encode(),
         f"multipart/mixed; boundary={BOUNDARY}"),
        (f"--{BOUNDARY}\r\nContent-Type: application/http\r\n\r\nnot a request line\r\n"
         f"--{BOUNDARY}--".encode(), f"multipart/mixed; boundary={BOUNDARY}"),
        (b"{", "application/json"),
    ):  # fmt: skip
        rig.send("POST", "$batch", data=body, content_type=content_type, status=400)
    rig.send("POST", "$batch", data=b"x", content_type="text/csv", status=415)
    body = _multipart(_request("GET", "http://elsewhere.example/other/Things"))
    ((status, _headers, _body),) = _send_multipart(rig, body)
    assert status == 404


def test_a_get_inside_a_change_set_fails_it(rig: Rig) -> None:
    body = _multipart([_request("POST", "Things", THING), _request("GET", "Things")])
    ((status, _headers, error),) = _send_multipart(rig, body)
    assert status == 400 and re.search("only POST", error["message"])
    assert rig.count(things) == 0
