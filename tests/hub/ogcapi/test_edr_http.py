"""EDR through the hub's ``/oapi`` (pygeoapi embedded), on both stores: the station-series
queries over HTTP, value by value against the store, their refusals, and OWSLib's client.

The data are ``oapi_world``'s (tests/hub/ogcapi/conftest.py): air-one (PM2.5 and PM10 means),
air-two (PM2.5 means) and river-three (pH), all three at 71.42 E 51.17 N.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from owslib.ogcapi.edr import EnvironmentalDataRetrieval

from tests.hub.ogcapi.conftest import T0, OapiWorld
from tests.hub.ogcapi.test_coveragejson import check_document, check_parameter
from tests.hub.ogcapi.test_edr import covered, in_window, stored_values

BASE = "/oapi/collections/stations"
POINT = quote("POINT(71.42 51.17)")
STATIONS = ["air-one", "air-two", "river-three"]


def check_values(
    world: OapiWorld, doc: dict[str, Any], lo: datetime | None = None, hi: datetime | None = None
) -> int:
    """Every coverage of ``doc`` equals the store, value by value; the number of values."""
    check_document(doc)
    coverages = doc["coverages"] if doc["type"] == "CoverageCollection" else [doc]
    total = 0
    for coverage in coverages:
        for name in coverage["ranges"]:
            expected = in_window(stored_values(world.store, coverage["id"], name), lo, hi)
            assert covered(coverage, name) == expected, (coverage["id"], name)
            total += len(expected)
    return total


def test_collection_advertises_the_queries_and_parameters(oapi_world: OapiWorld) -> None:
    collection = oapi_world.get(BASE)
    assert set(collection["data_queries"]) == {"locations", "position", "radius", "area"}
    params = collection["parameter_names"]
    assert set(params) == {"pm2_5.mean", "pm10.mean", "ph"}
    for param in params.values():
        check_parameter(param)
    assert params["pm2_5.mean"]["unit"]["symbol"]["value"] == "ug/m3"
    assert params["ph"]["observedProperty"]["id"].startswith(("http", "urn:"))


def test_locations_over_http(oapi_world: OapiWorld) -> None:
    response = oapi_world.client.get(BASE + "/locations")
    assert response.status_code == 200
    found = response.get_json(force=True)
    assert [f["id"] for f in found["features"]] == STATIONS
    assert found["features"][2]["properties"]["parameter-name"] == ["ph"]
    # air-two has a PM10 stream but no PM10 value: listed by parameter, not once a datetime asks
    # for values.
    only = oapi_world.get(BASE + "/locations?parameter-name=pm10.mean")
    assert [f["id"] for f in only["features"]] == ["air-one", "air-two"]
    live = oapi_world.get(BASE + "/locations?parameter-name=pm10.mean&datetime=2025-01-01/..")
    assert [f["id"] for f in live["features"]] == ["air-one"]
    outside = oapi_world.get(BASE + "/locations?bbox=0,0,1,1")
    assert outside["features"] == []


def test_location_series_over_http(oapi_world: OapiWorld) -> None:
    response = oapi_world.client.get(BASE + "/locations/air-one")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.cov+json")
    coverage = response.get_json(force=True)
    assert coverage["type"] == "Coverage" and set(coverage["ranges"]) == {
        "pm2_5.mean",
        "pm10.mean",
    }
    assert check_values(oapi_world, coverage) == 9


def test_position_over_http(oapi_world: OapiWorld) -> None:
    start = T0.isoformat().replace("+00:00", "Z")
    window = quote(f"{start}/..")
    body = oapi_world.get(
        f"{BASE}/position?coords={POINT}&parameter-name=pm2_5.mean,ph&datetime={window}"
    )
    assert [c["id"] for c in body["coverages"]] == STATIONS
    assert set(body["parameters"]) == {"pm2_5.mean", "ph"}
    assert check_values(oapi_world, body, T0) == 6 + 4 + 5
    instant = oapi_world.get(f"{BASE}/position?coords={POINT}&datetime={quote(start)}")
    assert check_values(oapi_world, instant, T0, T0) == 4  # one value of each series at T0


def test_radius_and_area_over_http(oapi_world: OapiWorld) -> None:
    near = oapi_world.get(
        f"{BASE}/radius?coords={quote('POINT(71.421 51.17)')}&within=100&within-units=m"
    )
    assert [c["id"] for c in near["coverages"]] == STATIONS
    check_values(oapi_world, near)
    polygon = quote("POLYGON((71 51, 72 51, 72 52, 71 52, 71 51))")
    area = oapi_world.get(f"{BASE}/area?coords={polygon}&parameter-name=ph")
    assert [c["id"] for c in area["coverages"]] == ["river-three"]
    assert check_values(oapi_world, area) == 5


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (f"/position?coords={POINT}&parameter-name=bogus", 400),
        (f"/position?coords={POINT}&parameter-name=ph,bogus", 400),
        (f"/position?coords={POINT}&datetime=garbage", 400),
        (f"/position?coords={POINT}&datetime=2025-01-14T19:00:00", 400),
        (f"/position?coords={POINT}&z=5", 400),
        (f"/position?coords={POINT}&crs=http://www.opengis.net/def/crs/EPSG/0/32642", 400),
        ("/position?coords=garbage", 400),
        ("/position", 400),
        (f"/position?coords={quote('POINT(200 0)')}", 400),
        (f"/area?coords={POINT}", 400),
        (f"/radius?coords={POINT}&within=1", 400),
        (f"/radius?coords={POINT}&within=1&within-units=furlong", 400),
        (f"/radius?coords={POINT}&within=-5&within-units=km", 400),
        ("/locations?bbox=72,51,71,52", 400),
        ("/cube?bbox=71,51,72,52", 400),
        ("/locations/nowhere", 404),
        (f"/position?coords={quote('POINT(0 0)')}", 204),
        (f"/position?coords={POINT}&datetime=2020-01-01/2020-12-31", 204),
    ],
)
def test_refusals_over_http(oapi_world: OapiWorld, query: str, status: int) -> None:
    response = oapi_world.client.get(BASE + query)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status >= 400:
        body = response.get_json(force=True)
        assert body["description"] or body["message"]


def test_owslib_client(oapi_world: OapiWorld, oapi_live: str) -> None:
    client = EnvironmentalDataRetrieval(oapi_live + "/")
    assert "stations" in client.data()
    start = T0.isoformat().replace("+00:00", "Z")
    body = client.query_data(
        "stations", "position", coords="POINT(71.42 51.17)", datetime_=f"{start}/.."
    )
    assert [c["id"] for c in body["coverages"]] == STATIONS
    assert check_values(oapi_world, body, T0) == 6 + 3 + 4 + 5
    area = client.query_data(
        "stations", "area", coords="POLYGON((71 51, 72 51, 72 52, 71 52, 71 51))"
    )
    check_values(oapi_world, area)
    locations = client.query_data("stations", "locations", bbox=[71, 51, 72, 52])
    assert [f["id"] for f in locations["features"]] == STATIONS
