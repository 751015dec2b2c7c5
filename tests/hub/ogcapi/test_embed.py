"""hub.ogcapi.embed: pygeoapi at ``/oapi`` inside the hub's app.

The collections here are the tests' placeholder stations provider (conftest), so these tests
are about the embedding -- links, errors, escaping, CORS, logging, several apps in one process
-- not about the real providers, which have their own tests.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from owslib.ogcapi.features import Features
from pygeoapi.provider.base import ProviderQueryError
from pygeofilter import ast

from hub.config import load_config
from hub.metrics import HubMetrics
from hub.ogcapi import registry
from hub.ogcapi import settings as oapi_settings
from hub.ogcapi.settings import CollectionSpec
from hub.store import Store
from hub.store.timeouts import StatementTimeout
from hub.web import create_app
from tests.hub.ogcapi.conftest import (
    PLACEHOLDER_COLLECTIONS,
    STORES,
    OapiWorld,
    PlaceholderStationsProvider,
    build_oapi_world,
    live_server,
    module_store_url,
)
from tests.hub.sta.conftest import station_record

BASE = "http://localhost/oapi"
XSS = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OapiWorld]:
    """Three stations plus ``xss-four`` (named with markup) behind an app whose only
    collection is the placeholder ``stations``."""
    with module_store_url(request.param, tmp_path_factory.mktemp("embed")) as url:
        with pytest.MonkeyPatch.context() as patch:
            built = build_oapi_world(url, collections=PLACEHOLDER_COLLECTIONS, monkeypatch=patch)
        built.store.import_stations([station_record("xss-four", "air", XSS, lat=51.25, lon=71.35)])
        try:
            yield built
        finally:
            built.store.close()


def _app(store: Store, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Flask:
    """Another app over ``store`` with the placeholder collections and ``settings``."""
    monkeypatch.setattr("hub.ogcapi.settings.COLLECTIONS", PLACEHOLDER_COLLECTIONS)
    config = load_config(None, {"rate_limits.read": "off", **settings})
    app = create_app(store, HubMetrics(), lambda: True, config=config)
    app.testing = True
    return app


def _under(href: str, base: str) -> bool:
    """Whether ``href`` is ``base`` or below it (a path or a query after it)."""
    return href == base or href.startswith((base + "/", base + "?"))


def _hrefs(body: Any) -> list[str]:
    """Every ``href`` anywhere in a JSON document."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "href" and isinstance(value, str):
                found.append(value)
            else:
                found += _hrefs(value)
    elif isinstance(body, list):
        for item in body:
            found += _hrefs(item)
    return found


# --- landing page, conformance, collections ---------------------------------------------------


def test_landing_page_links_are_absolute(world: OapiWorld) -> None:
    body = world.get("/oapi")
    assert "Astana" in body["title"]
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    hrefs = _hrefs(body)
    assert hrefs and all(_under(href, BASE) for href in hrefs), hrefs
    assert world.get("/oapi/") == body


def test_conformance(world: OapiWorld) -> None:
    classes = world.get("/oapi/conformance")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30" in classes


def test_collections_describe_the_store(world: OapiWorld) -> None:
    body = world.get("/oapi/collections")
    assert [c["id"] for c in body["collections"]] == ["stations"]
    stations = world.get("/oapi/collections/stations")
    lons = [s.lon for s in world.store.stations()]
    lats = [s.lat for s in world.store.stations()]
    assert stations["extent"]["spatial"]["bbox"] == [[min(lons), min(lats), max(lons), max(lats)]]
    assert all(_under(href, BASE) for href in _hrefs(stations))
    items = [link["href"] for link in stations["links"] if link["rel"] == "items"]
    assert f"{BASE}/collections/stations/items?f=json" in items
    assert world.get("/oapi/collections/stations?lang=ru")["title"] == "Станции"


def test_items_queryables_and_one_item(world: OapiWorld) -> None:
    page = world.get("/oapi/collections/stations/items?limit=2")
    assert [f["id"] for f in page["features"]] == ["air-one", "air-two"]
    assert page["numberMatched"] == 4 and page["numberReturned"] == 2
    (after,) = [link["href"] for link in page["links"] if link["rel"] == "next"]
    assert after.startswith(f"{BASE}/collections/stations/items?") and "offset=2" in after
    assert [f["id"] for f in world.get(after)["features"]] == ["river-three", "xss-four"]
    item = world.get("/oapi/collections/stations/items/air-two")
    assert item["properties"] == {"name": 'Air, "Two"', "kind": "air"}
    queryables = world.get("/oapi/collections/stations/queryables")
    assert {"name", "kind"} <= set(queryables["properties"])
    schema = world.get("/oapi/collections/stations/schema")
    assert schema["$id"] == f"{BASE}/collections/stations/schema"
    assert world.client.head("/oapi/collections/stations/items").status_code == 200


def test_json_keeps_markup_characters_as_data(world: OapiWorld) -> None:
    response = world.client.get("/oapi/collections/stations/items/xss-four")
    assert response.status_code == 200
    assert json.loads(response.get_data(as_text=True))["properties"]["name"] == XSS
    # pygeoapi would have written &lt;script&gt; into the JSON; the hub writes \u003c.
    assert "&lt;" not in response.get_data(as_text=True)
    assert "<" not in response.get_data(as_text=True)


def test_static_assets_of_the_html_pages(world: OapiWorld) -> None:
    response = world.client.get("/oapi/static/css/default.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    response.close()


# --- HTML ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/oapi/collections/stations/items?f=html",
        "/oapi/collections/stations/items/xss-four?f=html",
    ],
)
def test_html_pages_escape_station_names(world: OapiWorld, path: str) -> None:
    page = world.get(path)
    assert page.lstrip().lower().startswith("<!doctype html>")
    for raw in ("<script>alert(1)", "</script><script>alert", "<img src=x", "onerror=alert(2)>"):
        assert raw not in page, (raw, page[page.find(raw) - 200 : page.find(raw) + 200])
    # The map script gets the name HTML-escaped, so its pop-ups show it as text.
    assert "\\u0026lt;/script\\u0026gt;" in page
    # The name is there, as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.replace("&#34;", '"')


def test_html_landing_and_collection_pages(world: OapiWorld) -> None:
    landing = world.get("/oapi/?f=html")
    assert f'href="{BASE}/collections?f=html"' in landing
    assert "Stations" in world.get("/oapi/collections/stations?f=html")
    assert world.client.get("/oapi/", headers={"Accept": "text/html"}).mimetype == "text/html"


# --- errors ------------------------------------------------------------------------------------


def test_unknown_collection_and_item_are_404_json(world: OapiWorld) -> None:
    for path in (
        "/oapi/collections/nope",
        "/oapi/collections/nope/items",
        "/oapi/collections/nope/items/1",
        "/oapi/collections/nope/queryables",
        "/oapi/collections/stations/items/no-such-station",
    ):
        body = world.get(path, 404)
        assert body["code"] == "NotFound" and body["description"], (path, body)
    assert world.get("/oapi/no/such/path", 404)["code"] == 404


def test_bad_parameters_are_400_json(world: OapiWorld) -> None:
    for path in (
        "/oapi/?f=xml",
        "/oapi/collections/stations/items?limit=0",
        "/oapi/collections/stations/items?offset=-1",
        "/oapi/collections/stations/items?sortby=nope",
        "/oapi/collections/stations/items?filter=name%20%3D",
        "/oapi/collections/stations/position?coords=POINT(71.4%2051.1)",
        "/oapi/?bogus=1",
        "/oapi/collections/stations/items?limit=1&limit=2",
    ):
        body = world.get(path, 400)
        assert isinstance(body["code"], str) and body["description"], (path, body)


def test_parameters_are_checked_before_pygeoapi_sees_them(world: OapiWorld) -> None:
    # The placeholder's fields (name, kind) are its equality filters; nothing else is.
    world.get("/oapi/collections/stations/items?kind=air&name=x&limit=1")
    body = world.get("/oapi/collections/stations/items?station=air-one", 400)
    assert body == {
        "code": "InvalidParameterValue",
        "type": "InvalidParameterValue",
        "description": body["description"],
    }
    assert body["description"].startswith("unknown query parameter 'station': ")
    page = world.get("/oapi/collections/stations?f=html&bogus=1", 400)
    assert page.lstrip().lower().startswith("<!doctype html>") and "&#39;bogus&#39;" in page


class _Unbuildable(PlaceholderStationsProvider):
    """A provider that cannot be made (its store is gone, say)."""

    @classmethod
    def provider_config(cls, store_key: str) -> dict[str, Any]:
        return {**super().provider_config(store_key), "name": f"{__name__}._Unbuildable"}

    def __init__(self, provider_def: dict[str, Any]) -> None:
        raise RuntimeError("no provider today")


def test_a_provider_that_cannot_be_made_is_answered_by_pygeoapi(
    world: OapiWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The gate needs the provider's fields for items; without them it steps aside and the
    # request fails as it would have (503), rather than a 400 blaming the parameters.
    monkeypatch.setattr(
        "hub.ogcapi.settings.COLLECTIONS",
        (CollectionSpec("gone", (f"{__name__}._Unbuildable",)),),
    )
    client = create_app(world.store, HubMetrics(), lambda: True).test_client()
    with caplog.at_level(logging.ERROR):
        response = client.get("/oapi/collections/gone/items?kind=air")
    assert response.status_code == 503 and response.get_json()["code"] == "NoApplicableCode"
    assert "no provider today" in caplog.text
    assert client.get("/oapi/collections/gone?bogus=1").status_code == 400


def test_post_of_features_is_refused(world: OapiWorld) -> None:
    response = world.client.post(
        "/oapi/collections/stations/items",
        data=json.dumps({"type": "Feature", "geometry": None, "properties": {}}),
        content_type="application/geo+json",
    )
    assert response.status_code == 405 and response.is_json


class _Broken(PlaceholderStationsProvider):
    """Fails on purpose, by item id."""

    @classmethod
    def provider_config(cls, store_key: str) -> dict[str, Any]:
        return {**super().provider_config(store_key), "name": f"{__name__}._Broken"}

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        if identifier == "crash":
            raise RuntimeError("a bug in a provider")
        if identifier == "query-error":
            raise ProviderQueryError("the query failed")
        if identifier == "timeout":
            raise StatementTimeout(1.5)
        return super().get(identifier, **kwargs)


def test_provider_failures_are_503_never_500(
    world: OapiWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        "hub.ogcapi.settings.COLLECTIONS",
        (CollectionSpec("broken", (f"{__name__}._Broken",)),),
    )
    client = create_app(world.store, HubMetrics(), lambda: True).test_client()
    with caplog.at_level(logging.ERROR):
        crash = client.get("/oapi/collections/broken/items/crash")
        failed = client.get("/oapi/collections/broken/items/query-error")
        slow = client.get("/oapi/collections/broken/items/timeout")
        html = client.get("/oapi/collections/broken/items/crash?f=html")
    assert crash.status_code == 503 and crash.get_json()["code"] == "NoApplicableCode"
    assert failed.status_code == 503 and failed.get_json()["description"].startswith("query error")
    assert slow.status_code == 503 and slow.headers["Retry-After"] == "1"
    assert slow.get_json()["code"] == 503  # the hub's own time-limit answer
    assert html.status_code == 503
    assert "a bug in a provider" in caplog.text  # logged with its traceback, not shown
    assert "a bug in a provider" not in crash.get_data(as_text=True)


def test_unusable_host_header_is_refused(world: OapiWorld) -> None:
    response = world.client.get("/oapi/", headers={"Host": 'evil"><script>'})
    assert response.status_code == 400 and response.get_json()["code"] == 400


# --- links: request host or public URL ---------------------------------------------------------


def test_links_follow_the_request_host(world: OapiWorld) -> None:
    for root in ("http://hub.lan:8080", "https://127.0.0.1"):
        body = world.client.get("/oapi/collections", base_url=root).get_json()
        hrefs = _hrefs(body)
        assert hrefs and all(_under(href, root + "/oapi") for href in hrefs), hrefs
    # The default host is served as before (one API object per base URL).
    assert all(_under(href, BASE) for href in _hrefs(world.get("/oapi/collections")))
    # HTML pages too (pygeoapi would keep the first page's address for the whole process).
    for root in ("http://hub.lan:8080", "http://localhost", "http://10.1.1.1"):
        page = world.client.get("/oapi/?f=html", base_url=root).get_data(as_text=True)
        assert f'href="{root}/oapi/collections?f=html"' in page, root


def test_links_use_the_public_url(world: OapiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    public = "https://data.example.kz/auasu"
    client = _app(world.store, monkeypatch, **{"http.public_url": public + "/"}).test_client()
    for root in ("http://localhost", "http://10.0.0.7:8080"):
        body = client.get("/oapi/collections/stations/items?limit=1", base_url=root).get_json()
        hrefs = _hrefs(body)
        assert hrefs and all(_under(href, public + "/oapi") for href in hrefs), hrefs
    document = client.get("/oapi/openapi").get_json()
    assert document["servers"][0]["url"] == public + "/oapi"


# --- configuration reaching pygeoapi -----------------------------------------------------------


def test_limit_above_the_maximum_is_served_as_the_maximum(
    world: OapiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"ogcapi.max_items": 3, "ogcapi.default_items": 2}
    client = _app(world.store, monkeypatch, **settings).test_client()
    assert len(client.get("/oapi/collections/stations/items").get_json()["features"]) == 2
    page = client.get("/oapi/collections/stations/items?limit=50").get_json()
    assert page["numberReturned"] == 3


def test_cql2_json_in_the_query_string_reaches_the_provider(world: OapiWorld) -> None:
    cql = json.dumps({"op": "=", "args": [{"property": "kind"}, "air"]})
    world.get("/oapi/collections/stations/items", query_string={"filter": cql,
              "filter-lang": "cql2-json"})  # fmt: skip
    found = PlaceholderStationsProvider.last_filter
    assert isinstance(found, ast.Equal)
    assert found.lhs == ast.Attribute("kind") and found.rhs == "air"
    world.get("/oapi/collections/stations/items?filter=kind%3D%27water%27")
    assert PlaceholderStationsProvider.last_filter.rhs == "water"
    # CQL2 JSON as the body of a POST (a search, not a write: no credentials needed).
    response = world.client.post(
        "/oapi/collections/stations/items",
        data=json.dumps({"op": "=", "args": [{"property": "kind"}, "soil"]}),
        content_type="application/query-cql-json",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert PlaceholderStationsProvider.last_filter.rhs == "soil"


# --- several apps, and the registry ------------------------------------------------------------


def test_two_apps_with_different_stores_do_not_mix(
    world: OapiWorld, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Store.open(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other.import_stations([station_record("solo-one", "water", "Solo", lat=43.2, lon=76.9)])
    other_app = _app(other, monkeypatch, **{"ogcapi.extents_refresh_s": 0})
    other_client = other_app.test_client()
    mine = [f["id"] for f in world.get("/oapi/collections/stations/items")["features"]]
    theirs = [
        f["id"] for f in other_client.get("/oapi/collections/stations/items").get_json()["features"]
    ]
    assert mine == ["air-one", "air-two", "river-three", "xss-four"]
    assert theirs == ["solo-one"]
    bbox = other_client.get("/oapi/collections/stations").get_json()["extent"]["spatial"]["bbox"]
    assert bbox == [[76.9, 43.2, 76.9, 43.2]]
    # Extents are re-read (here on every request): a new station widens the box.
    other.import_stations([station_record("solo-two", "water", "Two", lat=43.0, lon=77.1)])
    bbox = other_client.get("/oapi/collections/stations").get_json()["extent"]["spatial"]["bbox"]
    assert bbox == [[76.9, 43.0, 77.1, 43.2]]
    # A second app over the same store shares its registration; the store stays registered
    # until the last of them is gone.
    key = registry.register(other)
    twin = _app(other, monkeypatch)
    del other_app, other_client
    gc.collect()
    assert registry.store_for(key) is other
    del twin
    gc.collect()
    with pytest.raises(registry.UnknownStore):
        registry.store_for(key)
    other.close()
    # The module's app is untouched.
    assert len(world.get("/oapi/collections/stations/items")["features"]) == 4


# --- CORS and logging ----------------------------------------------------------------------


def test_cors_on_reads_of_the_open_apis(world: OapiWorld) -> None:
    client = world.client
    for path in ("/oapi/collections", "/oapi/collections/nope", "/v1.1", "/v1.1/Things"):
        response = client.get(path)
        assert response.headers["Access-Control-Allow-Origin"] == "*", path
    preflight = client.options(
        "/oapi/collections/stations/items",
        headers={"Origin": "https://maps.example.org", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Crs" in client.get("/oapi/").headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in client.get("/healthz").headers
    assert "Access-Control-Allow-Origin" not in client.post("/v1.1/Things", json={}).headers


def test_pygeoapi_does_not_take_over_logging(
    world: OapiWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handlers = list(logging.root.handlers)
    level = logging.root.level
    client = _app(world.store, monkeypatch).test_client()  # a new API object per base URL
    with caplog.at_level(logging.INFO):
        assert client.get("/oapi/collections/nope").status_code == 404
        assert client.get("/oapi/collections/stations/items/nope").status_code == 404
        assert client.get("/oapi/collections/stations/items").status_code == 200
        assert client.get("/oapi/?f=nope").status_code == 400
    assert logging.root.handlers == handlers and logging.root.level == level
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == [], [(r.name, r.getMessage()) for r in noisy]


# --- a real client over HTTP ---------------------------------------------------------------


def test_owslib_against_a_live_hub(world: OapiWorld) -> None:
    with live_server(world.app) as root:
        url = root + "/oapi/"
        api = Features(url)
        assert (
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
            in (api.conformance()["conformsTo"])
        )
        assert [c["id"] for c in api.collections()["collections"]] == ["stations"]
        assert api.collection("stations")["title"] == "Stations"
        page = api.collection_items("stations", limit=3)
        assert [f["id"] for f in page["features"]] == ["air-one", "air-two", "river-three"]
        assert all(_under(href, root + "/oapi") for href in _hrefs(page))
        assert api.collection_item("stations", "xss-four")["properties"]["name"] == XSS
        assert "kind" in api.collection_queryables("stations")["properties"]
        assert api.api()["openapi"].startswith("3.0")


# --- the hub's own collections -----------------------------------------------------------------


def test_owslib_against_the_hubs_collections(oapi_live: str, oapi_world: OapiWorld) -> None:
    api = Features(oapi_live)
    assert (
        "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/core"
        in (api.conformance()["conformsTo"])
    )
    ids = [c["id"] for c in api.collections()["collections"]]
    assert ids == [spec.id for spec in oapi_settings.COLLECTIONS]
    page = api.collection_items("stations", limit=10)
    assert sorted(f["id"] for f in page["features"]) == sorted(
        s.id for s in oapi_world.store.stations()
    )
    assert all(_under(href, oapi_live) for href in _hrefs(page))


def test_html_of_the_hubs_stations_escapes_names(store_url: str) -> None:
    world = build_oapi_world(store_url)
    try:
        world.store.import_stations([station_record("xss-four", "air", XSS)])
        item = world.get("/oapi/collections/stations/items/xss-four")
        assert XSS in item["properties"].values()
        for path in (
            "/oapi/collections/stations/items?f=html",
            "/oapi/collections/stations/items/xss-four?f=html",
        ):
            page = world.get(path)
            for raw in ("<script>alert(1)", "<img src=x", "onerror=alert(2)>"):
                assert raw not in page, (path, raw)
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
    finally:
        world.store.close()
