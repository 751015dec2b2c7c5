"""hub.ogcapi.params_gate: every ``/oapi`` route honours its query parameters and answers 400
to any other (pygeoapi alone would ignore it), on both stores.

The HTTP tests use ``oapi_world`` (conftest): the hub's own collections over air-one (PM2.5 and
PM10 means), air-two (PM2.5 means) and river-three (pH), all at 71.42 E 51.17 N.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from hub.ogcapi import params_gate, registry, settings
from hub.ogcapi.params_gate import ITEMS, LANDING, LOCATIONS, refusal
from hub.store.schema import datastreams, observations, stations, things
from tests.hub.ogcapi.conftest import T0, OapiWorld

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
SINCE = T0.isoformat().replace("+00:00", "Z") + "/.."
POINT = "POINT(71.42 51.17)"
BOX = "71,51,72,52"
C = "/oapi/collections"


def _args(query: str) -> MultiDict[str, str]:
    pairs = [part.partition("=") for part in query.split("&") if part]
    return MultiDict([(name, value) for name, _, value in pairs])


# --- the rules, without a hub --------------------------------------------------------------------


def test_a_route_takes_its_parameters_and_refuses_others() -> None:
    assert refusal(LANDING, _args("f=json&lang=kk")) is None
    assert refusal(LANDING, MultiDict()) is None
    message = refusal(LANDING, _args("f=json&limit=3"))
    assert message == "unknown query parameter 'limit': /oapi takes f, lang"
    several = refusal(LANDING, _args("a=1&b=2&c=3&d=4&e=5&g=6&h=7"))
    assert several is not None
    assert several.startswith("unknown query parameters 'a', 'b', 'c', 'd', 'e' and 2 more")


def test_queryables_are_parameters_of_items_only() -> None:
    assert refusal(ITEMS, _args("kind=air&limit=2"), {"kind"}) is None
    assert "'kind'" in (refusal(ITEMS, _args("kind=air"), {"station"}) or "")
    assert refusal(LOCATIONS, _args("kind=air"), {"kind"}) is not None
    assert refusal(LANDING, _args("kind=air"), {"kind"}) is not None


def test_a_parameter_given_twice_is_refused() -> None:
    message = refusal(ITEMS, _args("bbox=1,2,3,4&limit=2&bbox=1,2,3,4"))
    assert message is not None and message.startswith("query parameter 'bbox' is given 2 times")
    assert refusal(ITEMS, _args("kind=air&kind=water"), {"kind"}) is not None
    edr = params_gate.EDR_QUERIES["position"]
    assert refusal(edr, _args("coords=x&parameter-name=ph&parameter-name=pm10.mean")) is not None


def test_known_names_the_hub_does_not_honour_say_why() -> None:
    assert "free-text" in (refusal(ITEMS, _args("q=pm")) or "")
    assert "not paged" in (refusal(params_gate.EDR_QUERIES["area"], _args("limit=5")) or "")
    assert "not paged" in (refusal(LOCATIONS, _args("limit=5")) or "")
    assert "bbox" in (refusal(params_gate.LOCATION, _args("bbox=1,2,3,4")) or "")


def test_only_plain_names_are_repeated() -> None:
    message = refusal(LANDING, _args("<script>alert(1)</script>=1"))
    assert message is not None and "<" not in message and "script" not in message
    assert "not a plain name" in message
    assert "'x'" not in (refusal(LANDING, _args("x" * 65 + "=1")) or "")
    assert "'$filter'" in (refusal(LANDING, _args("$filter=1")) or "")


def test_every_edr_query_route_of_the_blueprint_has_rules() -> None:
    for query_type, route in params_gate.EDR_QUERIES.items():
        assert route.path.endswith("/" + query_type)
        assert {"f", "lang", "datetime", "parameter-name", "crs"} <= route.takes
        assert "limit" not in route.takes
    assert {"within", "within-units"} <= params_gate.EDR_QUERIES["radius"].takes
    assert "within" not in params_gate.EDR_QUERIES["position"].takes


def test_queryable_names_come_from_the_feature_provider(oapi_world: OapiWorld) -> None:
    resources = _resources(oapi_world)
    names = params_gate.queryable_names(resources, "observations")
    listed = _get(oapi_world, f"{C}/observations/queryables")["properties"]
    assert names == frozenset(listed) - {"geometry"}
    assert params_gate.queryable_names(resources, "nope") is None
    broken = {"x": {"type": "collection", "providers": [{"type": "feature", "name": "no.Such"}]}}
    assert params_gate.queryable_names(broken, "x") is None


def _resources(world: OapiWorld) -> dict[str, Any]:
    return settings.resources(world.store, registry.register(world.store)).collections


def _get(world: OapiWorld, path: str) -> Any:
    response = world.client.get(path)
    assert response.status_code == 200, (path, response.get_data(as_text=True)[:500])
    return json.loads(response.get_data(as_text=True))


# --- each route accepts its parameters -----------------------------------------------------------

ITEMS_QUERY = {
    "f": "json",
    "lang": "en",
    "bbox": BOX,
    "bbox-crs": CRS84,
    "datetime": SINCE,
    "limit": "5",
    "offset": "0",
    "properties": "station",
    "sortby": "-station",
    "skipGeometry": "false",
    "resulttype": "results",
    "crs": EPSG4326,
    "filter": "station <> 'nowhere'",
    "filter-lang": "cql2-text",
    "filter-crs": CRS84,
}

ACCEPTED: list[tuple[str, dict[str, str], int]] = [
    ("/oapi/", {"f": "json", "lang": "ru"}, 200),
    ("/oapi/openapi", {"f": "json", "lang": "en"}, 200),
    ("/oapi/openapi", {"f": "html", "ui": "redoc"}, 200),
    ("/oapi/conformance", {"f": "json", "lang": "kk"}, 200),
    (C, {"f": "json", "lang": "ru"}, 200),
    (f"{C}/stations", {"f": "json", "lang": "ru"}, 200),
    (f"{C}/stations/schema", {"f": "json", "lang": "en"}, 200),
    (f"{C}/stations/queryables", {"f": "json", "lang": "en", "properties": "kind"}, 200),
    (f"{C}/stations/items", ITEMS_QUERY, 200),
    (f"{C}/observations/items", ITEMS_QUERY, 200),
    (f"{C}/latest/items", ITEMS_QUERY, 200),
    (f"{C}/stations/items/air-one", {"f": "json", "lang": "ru", "crs": EPSG4326}, 200),
    (
        f"{C}/stations/position",
        {
            "coords": POINT,
            "parameter-name": "ph",
            "datetime": SINCE,
            "crs": CRS84,
            "f": "json",
            "lang": "en",
        },
        200,
    ),
    (
        f"{C}/stations/radius",
        {
            "coords": POINT,
            "within": "1",
            "within-units": "km",
            "parameter-name": "ph",
            "datetime": SINCE,
            "crs": CRS84,
            "f": "json",
        },
        200,
    ),
    (
        f"{C}/stations/area",
        {
            "coords": "POLYGON((71 51, 72 51, 72 52, 71 52, 71 51))",
            "parameter-name": "ph",
            "datetime": SINCE,
            "crs": CRS84,
            "f": "json",
        },
        200,
    ),
    (
        f"{C}/stations/position",
        {"coords": POINT, "datetime": "2020-01-01/2020-12-31"},
        204,
    ),
    (
        f"{C}/stations/locations",
        {"bbox": BOX, "datetime": SINCE, "parameter-name": "ph", "f": "json", "lang": "en"},
        200,
    ),
    (
        f"{C}/stations/locations/air-one",
        {"parameter-name": "pm10.mean", "datetime": SINCE, "crs": CRS84, "f": "json"},
        200,
    ),
]


@pytest.mark.parametrize(("path", "query", "status"), ACCEPTED)
def test_each_route_accepts_its_parameters(
    oapi_world: OapiWorld, path: str, query: dict[str, str], status: int
) -> None:
    response = oapi_world.client.get(path, query_string=query)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:500])
    response.close()


# --- and refuses any other -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "query", "status"), ACCEPTED)
def test_each_route_refuses_an_unknown_parameter(
    oapi_world: OapiWorld, path: str, query: dict[str, str], status: int
) -> None:
    response = oapi_world.client.get(path + "?" + urlencode({**query, "bogus": "1"}))
    assert response.status_code == 400, (path, response.get_data(as_text=True)[:500])
    if query.get("f") == "html":
        assert "&#39;bogus&#39;" in response.get_data(as_text=True)
        return
    body = response.get_json()
    assert body["code"] == "InvalidParameterValue"
    assert body["description"].startswith("unknown query parameter 'bogus': /oapi"), body


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # OWSLib 0.36's name for parameter-name.
        (f"{C}/stations/position?coords={POINT}&parameter_names=ph", "'parameter_names'"),
        # pygeoapi hands the EDR provider a default limit; the client's is what counts.
        (f"{C}/stations/position?coords={POINT}&limit=5", "not paged"),
        (f"{C}/stations/locations?limit=5", "not paged"),
        (f"{C}/stations/locations?coords={POINT}", "coords"),
        (f"{C}/stations/locations/air-one?bbox={BOX}", "bbox"),
        (f"{C}/stations/position?coords={POINT}&within=5&within-units=km", "'within'"),
        (f"{C}/stations/items?q=pm", "free-text"),
        (f"{C}/stations/items?bbox={BOX}&bbox={BOX}", "'bbox' is given 2 times"),
        (f"{C}/stations/items?kind=air&kind=water", "'kind' is given 2 times"),
        (f"{C}/stations/items?value=1", "'value'"),  # a queryable of observations, not here
        (f"{C}/stations/items?F=json", "'F'"),
        (f"{C}/stations/items/air-one?limit=1", "'limit'"),
        (f"{C}/stations/queryables?profile=actual-domain", "'profile'"),
        (f"{C}/stations?limit=1", "'limit'"),
        (f"{C}?bbox={BOX}", "'bbox'"),
        ("/oapi/conformance?x=", "'x'"),
        ("/oapi/openapi?ui=redoc&ui=swagger", "'ui' is given 2 times"),
    ],
)
def test_refusals_name_the_parameter(oapi_world: OapiWorld, path: str, expected: str) -> None:
    response = oapi_world.client.get(path)
    assert response.status_code == 400, (path, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert body["code"] == "InvalidParameterValue" and expected in body["description"], body


def test_markup_in_a_parameter_name_is_not_repeated(oapi_world: OapiWorld) -> None:
    query = urlencode({"<img src=x onerror=alert(1)>": "1"})
    response = oapi_world.client.get(f"{C}/stations/items?{query}")
    assert response.status_code == 400
    assert "not a plain name" in response.get_json()["description"]
    page = oapi_world.client.get(f"{C}/stations/items?f=html&{query}")
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "onerror" not in page.get_data(as_text=True)


def test_unknown_collection_is_404_before_parameters(oapi_world: OapiWorld) -> None:
    for path in (f"{C}/nope?bogus=1", f"{C}/nope/items?bogus=1", f"{C}/nope/items/x?bogus=1"):
        response = oapi_world.client.get(path)
        assert response.status_code == 404 and response.get_json()["code"] == "NotFound", path


def test_query_string_of_a_cql2_json_post_is_checked(oapi_world: OapiWorld) -> None:
    cql = json.dumps({"op": "=", "args": [{"property": "kind"}, "air"]})
    posted = oapi_world.client.post(
        f"{C}/stations/items?limit=10", data=cql, content_type="application/query-cql-json"
    )
    assert posted.status_code == 200, posted.get_data(as_text=True)[:500]
    assert {f["properties"]["kind"] for f in posted.get_json()["features"]} == {"air"}
    refused = oapi_world.client.post(
        f"{C}/stations/items?bogus=1", data=cql, content_type="application/query-cql-json"
    )
    assert refused.status_code == 400 and "'bogus'" in refused.get_json()["description"]


# --- property equality filters still filter -----------------------------------------------------


def test_property_equality_filters_on_stations(oapi_world: OapiWorld) -> None:
    body = _get(oapi_world, f"{C}/stations/items?kind=air&limit=50")
    expected = sorted(s.id for s in oapi_world.store.stations() if s.kind == "air")
    assert sorted(f["id"] for f in body["features"]) == expected == ["air-one", "air-two"]
    one = _get(oapi_world, f"{C}/stations/items?station=river-three")
    assert [f["id"] for f in one["features"]] == ["river-three"]


def test_property_equality_filters_on_observations(oapi_world: OapiWorld) -> None:
    with oapi_world.store.connect() as conn:
        stored = conn.execute(
            select(func.count())
            .select_from(observations)
            .join(datastreams, datastreams.c.id == observations.c.datastream_id)
            .join(things, things.c.id == datastreams.c.thing_id)
            .join(stations, stations.c.id == things.c.station_id)
            .where(stations.c.key == "air-one")
        ).scalar_one()
    body = _get(oapi_world, f"{C}/observations/items?station=air-one&limit=100")
    assert body["numberMatched"] == len(body["features"]) == stored == 9
    assert {f["properties"]["station"] for f in body["features"]} == {"air-one"}
    both = _get(oapi_world, f"{C}/observations/items?station=air-one&aggregation=mean&limit=100")
    assert len(both["features"]) == 9
    latest = _get(oapi_world, f"{C}/latest/items?station=air-two")
    assert {f["properties"]["station"] for f in latest["features"]} == {"air-two"}
    assert latest["features"]
