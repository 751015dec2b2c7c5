"""Server-driven paging on both stores: $skiptoken nextLinks over keyset paging, strict tokens,
the $skip fallback, and a deep page that is an index range rather than an OFFSET."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from hub.sta import paging
from hub.sta.entities import OBSERVATION
from hub.sta.errors import ApiError
from hub.sta.options import QueryOptions
from hub.sta.ordering import ordering
from tests.hub.sta.readworld import ReadWorld, add_observations, build_world


@pytest.fixture
def world(store_url: str) -> Iterator[ReadWorld]:
    built = build_world(store_url)
    yield built
    built.store.close()


def token_of(link: str) -> str:
    (token,) = parse_qs(urlsplit(link).query)["$skiptoken"]
    return token


ORDERS = [
    None,
    "result desc",
    "phenomenonTime desc",
    "phenomenonTime",
    "resultTime",  # nullable: two rows without a resultTime sort last
    "resultTime desc",  # ... and first
    "resultTime desc,result",
    "id desc",
]


@pytest.mark.parametrize("orderby", ORDERS)
def test_keyset_pages_walk_the_same_rows_as_one_page(world: ReadWorld, orderby: str | None) -> None:
    query = "" if orderby is None else "&$orderby=" + quote(orderby)
    whole = world.get(f"/v1.1/Observations?$top=1000{query}")["value"]
    first = world.get(f"/v1.1/Observations?$top=4&$count=true{query}")
    assert "$skiptoken=" in first["@iot.nextLink"] and "$skip=" not in first["@iot.nextLink"]
    walked, pages = world.walk(f"/v1.1/Observations?$top=4&$count=true{query}")
    assert walked == whole and len(whole) == 18 and pages == 5


def test_unkeyed_orders_fall_back_to_skip(world: ReadWorld) -> None:
    for orderby in ("parameters/received/value desc", "result mul 2", "Datastream/name"):
        query = "$orderby=" + quote(orderby)
        whole = world.get(f"/v1.1/Observations?$top=1000&{query}")["value"]
        first = world.get(f"/v1.1/Observations?$top=5&{query}")
        assert first["@iot.nextLink"].endswith("$skip=5"), orderby
        assert world.walk(f"/v1.1/Observations?$top=5&{query}")[0] == whole
        token = token_of(world.get("/v1.1/Observations?$top=5")["@iot.nextLink"])
        body = world.get(f"/v1.1/Observations?$top=5&{query}&$skiptoken={token}", 400)
        assert "pages with $skip" in body["message"]


def test_client_skip_still_works(world: ReadWorld) -> None:
    whole = world.get("/v1.1/Things?$orderby=name")["value"]
    body = world.get("/v1.1/Things?$orderby=name&$skip=1&$top=1")
    assert body["value"] == whole[1:2]
    link = body["@iot.nextLink"]
    assert "$skip" not in link.replace("$skiptoken", "") and "$top=1" in link
    assert world.get(link)["value"] == whole[2:3]
    # A token and a $skip together: the skip counts from the token's position.
    assert world.get(link + "&$skip=1")["value"] == []
    assert world.get("/v1.1/Things?$top=0")["value"] == []
    assert "@iot.nextLink" not in world.get("/v1.1/Things?$top=0")


def test_navigation_collections_page_by_token(world: ReadWorld) -> None:
    path = f"/v1.1/Datastreams({world.ids['D25a']})/Observations"
    walked, pages = world.walk(path + "?$top=4&$orderby=phenomenonTime%20desc")
    assert [o["result"] for o in walked] == [15.0, 14.0, 13.0, 12.0, 11.0, 10.0] and pages == 2


def test_token_is_bound_to_path_filter_and_order(world: ReadWorld) -> None:
    link = world.get("/v1.1/Observations?$top=2&$filter=result%20gt%2012")["@iot.nextLink"]
    token = token_of(link)
    world.get(f"/v1.1/Observations?$top=5&$filter=result%20gt%2012&$skiptoken={token}")
    for other in (
        "/v1.1/Observations?$filter=result%20gt%2013",
        "/v1.1/Observations?$filter=result%20gt%2012&$orderby=id%20desc",
        f"/v1.1/Datastreams({world.ids['D25a']})/Observations?$filter=result%20gt%2012",
    ):
        body = world.get(f"{other}&$skiptoken={token}", 400)
        assert "different path, filter or order" in body["message"]


@pytest.mark.parametrize(
    "bad",
    ["abc", "abc.def", ".", "A" * 3000, "%00", "WzEsIngiLFsxXV0", "e30.AAAAAAAAAAAAAAAA", "a..b"],
)
def test_garbled_tokens_are_400(world: ReadWorld, bad: str) -> None:
    body = world.get(f"/v1.1/Observations?$skiptoken={quote(bad)}", 400)
    assert "$skiptoken" in body["message"]


def test_altered_token_is_400(world: ReadWorld) -> None:
    token = token_of(world.get("/v1.1/Observations?$top=2")["@iot.nextLink"])
    body, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[2] = [1]
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    reply = world.get(f"/v1.1/Observations?$skiptoken={forged}.{mac}", 400)
    assert "altered" in reply["message"]
    flipped = ("B" if token[3] != "B" else "C").join((token[:3], token[4:]))
    world.get(f"/v1.1/Observations?$skiptoken={flipped}", 400)
    world.get(f"/v1.1/Observations(1)?$skiptoken={token}", 400)
    world.get("/v1.1/Observations?$expand=" + quote(f"Datastream($skiptoken={token})"), 400)


def _signed(payload: Any) -> str:
    data = json.dumps(payload).encode()
    return paging._b64(data) + "." + paging._b64(paging._mac(data))


@pytest.mark.parametrize(
    "values",
    [
        ["2025-01-14T19:00:00+00:00"],  # too few
        ["2025-01-14T19:00:00+00:00", 1, 2],  # too many
        [1, 1],  # a number for a time
        ["2025-01-14T19:00:00", 1],  # naive time
        ["yesterday", 1],
        ["2025-01-14T19:00:00+00:00", "1"],  # text for an id
        ["2025-01-14T19:00:00+00:00", True],
        ["2025-01-14T19:00:00+00:00", 1.5],
        ["2025-01-14T19:00:00+00:00", 2**64],
        [None, 1],  # phenomenon time is never null
        "not a list",
    ],
)
def test_signed_but_malformed_values_are_400(values: Any) -> None:
    options = QueryOptions(entity=OBSERVATION, top=10, orderby_text="phenomenonTime desc")
    keys = ordering(OBSERVATION, options.orderby_text).keys
    assert keys is not None
    bound = paging.binding("Observations", options)
    good = paging.decode_token(_signed([1, bound, ["2025-01-14T19:00:00+00:00", 1]]), keys, bound)
    assert good == [datetime.fromisoformat("2025-01-14T19:00:00+00:00"), 1]
    with pytest.raises(ApiError) as caught:
        paging.decode_token(_signed([1, bound, values]), keys, bound)
    assert caught.value.status == 400
    with pytest.raises(ApiError):
        paging.decode_token(_signed([2, bound, ["2025-01-14T19:00:00+00:00", 1]]), keys, bound)
    with pytest.raises(ApiError):
        paging.decode_token(_signed({"a": 1, "b": 2, "c": 3}), keys, bound)
    deep = ("[" * 5000 + "]" * 5000).encode()
    with pytest.raises(ApiError):
        paging.decode_token(paging._b64(deep) + "." + paging._b64(paging._mac(deep)), keys, bound)


@pytest.mark.parametrize("value", [10**400, "1", [1], None, True])
def test_signed_but_malformed_float_key_is_400(value: Any) -> None:
    options = QueryOptions(entity=OBSERVATION, top=10, orderby_text="result")
    keys = ordering(OBSERVATION, options.orderby_text).keys
    assert keys is not None and keys[0].column.name == "result"
    bound = paging.binding("Observations", options)
    assert paging.decode_token(_signed([1, bound, [2, 7]]), keys, bound) == [2.0, 7]
    if value is None and keys[0].nullable:
        assert paging.decode_token(_signed([1, bound, [None, 7]]), keys, bound) == [None, 7]
        return
    with pytest.raises(ApiError):
        paging.decode_token(_signed([1, bound, [value, 7]]), keys, bound)


def test_deep_page_is_an_index_range_not_an_offset(world: ReadWorld) -> None:
    ids = world.ids
    add_observations(world.store, [(ids["D25a"], ids["FA"])], 5000)
    world.analyze()
    path = f"/v1.1/Datastreams({ids['D25a']})/Observations?$top=100&$orderby=phenomenonTime%20desc"
    link = world.get(path)["@iot.nextLink"]
    for _ in range(30):  # page 31: 3,000 rows in
        link = world.get(link)["@iot.nextLink"]
    with world.capturing() as seen:
        page = world.get(link)
    assert len(page["value"]) == 100
    (sql, params), *_ = [(s, p) for s, p in seen if "ORDER BY" in s]
    plan = world.plan(sql, params)
    if world.store.backend == "sqlite":
        assert sql.endswith("LIMIT ? OFFSET ?") and params[-1] == 0  # SQLite always says OFFSET
        assert "ix_observations_stream_time (datastream_id=? AND phenomenon_time_start<?)" in plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "OFFSET" not in sql.upper()
        assert "Index Scan Backward using ix_observations_stream_time" in plan, plan
        assert "phenomenon_time_start <=" in plan and "Sort" not in plan, plan
