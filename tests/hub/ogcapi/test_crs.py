"""Coordinate reference systems of ``/oapi`` (:mod:`hub.ogcapi.crs`): the reference points of
astana-geo-time.md §3.1 in UTM 42N and Pulkovo 1942 / Gauss-Krüger zone 12, the explicit
EPSG:15865 datum shift, axis orders, and ``crs``/``bbox-crs``/``filter-crs`` through the app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pyproj
import pytest
from pygeoapi.crs import create_crs_transform_spec
from pyproj.aoi import AreaOfInterest

from hub.ogcapi import crs
from hub.ogcapi.providers.stations import StationsProvider
from tests.hub.ogcapi.conftest import STORES
from tests.hub.ogcapi.featureworld import STATIONS, FeatureWorld, feature_world_at

UTM = crs.EPSG_URI + "32642"
GK = crs.EPSG_URI + "28412"
WGS84 = crs.EPSG_URI + "4326"
QAZ = crs.EPSG_URI + "10941"

# astana-geo-time.md §3.1: lat, lon, UTM 42N E, N, GK-12 Y (east), X (north).
REFERENCE = [
    ("Bayterek", 51.1283, 71.4305, 670066, 5666902, 12670200, 5669223),
    ("Ak Orda", 51.1257, 71.4463, 671181, 5666649, 12671316, 5668971),
    ("Khan Shatyr", 51.1323, 71.4036, 668169, 5667284, 12668303, 5669606),
    ("Yesil central", 51.150, 71.420, 669252, 5669290, 12669386, 5671613),
    ("Yesil upstream", 51.125, 71.530, 677039, 5666769, 12677177, 5669091),
    ("Yesil downstream", 51.165, 71.330, 662905, 5670755, 12663037, 5673078),
    ("Saryarka", 51.170, 71.420, 669178, 5671514, 12669313, 5673837),
    ("Almaty district", 51.150, 71.480, 673447, 5669430, 12673583, 5671752),
    ("Baikonur district", 51.180, 71.450, 671238, 5672695, 12671374, 5675019),
    ("Yesil district", 51.090, 71.415, 669121, 5662607, 12669255, 5664927),
    ("Nura district", 51.070, 71.350, 664641, 5660236, 12664773, 5662555),
    ("Northern industrial zone", 51.210, 71.400, 667635, 5675915, 12667769, 5678241),
    ("TETs-2", 51.215, 71.380, 666220, 5676426, 12666354, 5678751),
    ("TETs-1", 51.190, 71.450, 671201, 5673807, 12671336, 5676131),
    ("TETs-3", 51.110, 71.560, 679197, 5665174, 12679335, 5667495),
    ("Airport", 51.0222, 71.4669, 673008, 5655190, 12673143, 5657507),
]
# The table's metres are rounded: 1 m is the requirement, 0.5 m the rounding.
TOLERANCE_M = 1.0


@pytest.mark.parametrize("place", REFERENCE, ids=[p[0] for p in REFERENCE])
def test_reference_points(place: tuple[Any, ...]) -> None:
    _, lat, lon, east, north, gk_y, gk_x = place
    ((e, n),) = crs.transform_points([lon], [lat], UTM)
    assert abs(e - east) <= TOLERANCE_M and abs(n - north) <= TOLERANCE_M
    # Gauss-Krüger in its own axis order: X (northing) first, then Y (easting, zone 12 prefix).
    ((x, y),) = crs.transform_points([lon], [lat], GK)
    assert abs(x - gk_x) <= TOLERANCE_M and abs(y - gk_y) <= TOLERANCE_M
    # and back
    back_lon, back_lat = crs.to_crs84(GK).transform(x, y)
    assert back_lon == pytest.approx(lon, abs=1e-7) and back_lat == pytest.approx(lat, abs=1e-7)


def test_pulkovo_goes_through_epsg_15865() -> None:
    forward = crs.from_crs84(GK)
    codes = {(op.to_json_dict().get("id") or {}).get("code") for op in forward.operations or ()}
    assert crs.PULKOVO_TO_WGS84 in codes
    assert "Pulkovo 1942 to WGS 84 (16)" in forward.description
    backward = crs.to_crs84(GK)
    assert "Pulkovo 1942 to WGS 84 (16)" in backward.description
    # PROJ's own pick for an area of interest at Astana is another shift, metres away.
    default = pyproj.Transformer.from_crs(
        "OGC:CRS84",
        "EPSG:28412",
        area_of_interest=AreaOfInterest(71.3, 51.0, 71.6, 51.3),  # type: ignore[arg-type]
    )
    ours = forward.transform(71.4305, 51.1283)
    theirs = default.transform(71.4305, 51.1283)
    assert abs(ours[1] - theirs[1]) > 1.0  # about 2.5 m at Bayterek
    assert "(16)" not in default.description


def test_axis_orders_and_offered_crs() -> None:
    assert crs.transform_points([71.4305], [51.1283], WGS84) == [(51.1283, 71.4305)]
    assert crs.transform_points([71.4305], [51.1283], None) == [(71.4305, 51.1283)]
    offered = crs.supported_uris()
    assert offered[0] == crs.CRS84 and {WGS84, UTM, GK} <= set(offered)
    # PROJ 9.8 knows QazTRF-23; when a PROJ does not, it is left out and the metadata says so.
    known = True
    try:
        pyproj.CRS.from_epsg(10941)
    except pyproj.exceptions.CRSError:
        known = False
    assert (QAZ in offered) == known
    assert (crs.metadata_note() == "") == known
    ((lat, lon),) = crs.transform_points([71.4305], [51.1283], QAZ)
    assert lat == pytest.approx(51.1283, abs=1e-4) and lon == pytest.approx(71.4305, abs=1e-4)


def test_bbox_and_geometry_to_crs84() -> None:
    # A GK-12 bbox (X north, Y east) around Bayterek, out to about 300 m.
    box = crs.bbox_to_crs84([5668923, 12669900, 5669523, 12670500], GK)
    assert box[0] < 71.4305 < box[2] and box[1] < 51.1283 < box[3]
    assert box[2] - box[0] < 0.01
    assert crs.bbox_to_crs84([51.0, 71.0, 51.5, 71.5], WGS84) == pytest.approx(
        [71.0, 51.0, 71.5, 51.5]
    )
    with pytest.raises(crs.CrsUnavailable):
        crs.bbox_to_crs84([1, 2, 3, 4, 5, 6], GK)
    import shapely

    point = crs.geometry_to_crs84(shapely.Point(5669223.116, 12670200.328), GK)
    assert point.x == pytest.approx(71.4305, abs=1e-6) and point.y == pytest.approx(51.1283)


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("EPSG:28412", GK),
        ("urn:ogc:def:crs:EPSG::4326", WGS84),
        ("crs84", crs.CRS84),
        (crs.CRS84, crs.CRS84),
    ],
)
def test_uri_from_name(name: str, uri: str) -> None:
    assert crs.uri_from_name(name) == uri


@pytest.mark.parametrize("name", ["EPSG:3857", "EPSG:abc", "nonsense", crs.EPSG_URI + "2502"])
def test_unknown_crs_names(name: str) -> None:
    with pytest.raises(crs.CrsUnavailable):
        crs.uri_from_name(name)


# --- through the providers and the app -----------------------------------------------------------


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeatureWorld]:
    with feature_world_at(request.param, tmp_path_factory.mktemp("crs")) as built:
        yield built


def test_provider_output_in_each_crs(world: FeatureWorld) -> None:
    config = StationsProvider.provider_config(world.key)
    provider = StationsProvider(config)
    _, lat, lon, east, north, gk_y, gk_x = REFERENCE[0]
    cases = {
        None: [lon, lat],
        WGS84: [lat, lon],
        UTM: [east, north],
        GK: [gk_x, gk_y],
    }
    for uri, want in cases.items():
        spec = create_crs_transform_spec(dict(config), uri)
        feature = provider.get("bayterek", crs_transform_spec=spec)
        got = feature["geometry"]["coordinates"]
        tolerance = 1e-9 if uri in (None, WGS84) else TOLERANCE_M
        assert got == pytest.approx(want, abs=tolerance), uri
        page = provider.query(limit=10, crs_transform_spec=spec)
        assert page["features"][2]["geometry"]["coordinates"] == pytest.approx(got)


def test_content_crs_header(world: FeatureWorld) -> None:
    base = "/oapi/collections/stations/items"
    for uri in (None, WGS84, UTM, GK):
        query = "" if uri is None else "&crs=" + quote(uri, safe="")
        response = world.client.get(base + "/bayterek?f=json" + query)
        assert response.status_code == 200
        assert response.headers["Content-Crs"] == f"<{uri or crs.CRS84}>"
        response = world.client.get(base + "?limit=2" + query)
        assert response.headers["Content-Crs"] == f"<{uri or crs.CRS84}>"
    body = world.get(f"{base}/bayterek?crs={quote(GK, safe='')}")
    assert body["geometry"]["coordinates"] == pytest.approx([5669223, 12670200], abs=1.0)
    world.get(f"{base}?crs={quote(crs.EPSG_URI + '3857', safe='')}", status=400)
    collection = world.get("/oapi/collections/stations")
    assert {crs.CRS84, WGS84, UTM, GK} <= set(collection["crs"])
    assert collection["storageCrs"] == crs.CRS84


def test_bbox_crs(world: FeatureWorld) -> None:
    base = "/oapi/collections/stations/items?limit=10"
    # GK-12, X (north) then Y (east), about 300 m around Bayterek: Bayterek only.
    gk_box = "5668923,12669900,5669523,12670500"
    body = world.get(f"{base}&bbox={gk_box}&bbox-crs={quote(GK, safe='')}")
    assert [f["id"] for f in body["features"]] == ["bayterek"]
    # The same place in UTM 42N (E, N) and EPSG:4326 (lat, lon).
    body = world.get(f"{base}&bbox=669766,5666602,670366,5667202&bbox-crs={quote(UTM, safe='')}")
    assert [f["id"] for f in body["features"]] == ["bayterek"]
    body = world.get(f"{base}&bbox=51.12,71.40,51.14,71.44&bbox-crs={quote(WGS84, safe='')}")
    assert [f["id"] for f in body["features"]] == ["bayterek", "khan-shatyr"]
    world.get(f"{base}&bbox=1,2,3,4&bbox-crs={quote(crs.EPSG_URI + '3857', safe='')}", status=400)


def test_filter_crs(world: FeatureWorld) -> None:
    base = "/oapi/collections/stations/items?limit=10"
    polygon = (
        "POLYGON((5668923 12669900, 5669523 12669900, 5669523 12670500,"
        " 5668923 12670500, 5668923 12669900))"
    )
    body = world.get(
        f"{base}&filter={quote('S_INTERSECTS(geometry, ' + polygon + ')')}"
        f"&filter-crs={quote(GK, safe='')}"
    )
    assert [f["id"] for f in body["features"]] == ["bayterek"]
    point = "POINT(51.1283 71.4305)"  # EPSG:4326: latitude first
    body = world.get(
        f"{base}&filter={quote('S_DWITHIN(geometry, ' + point + ', 100, meters)')}"
        f"&filter-crs={quote(WGS84, safe='')}"
    )
    assert [f["id"] for f in body["features"]] == ["bayterek"]
    world.get(
        f"{base}&filter={quote('S_INTERSECTS(geometry, POINT(1 2))')}"
        f"&filter-crs={quote(crs.EPSG_URI + '3857', safe='')}",
        status=400,
    )


def test_every_station_round_trips(world: FeatureWorld) -> None:
    for key, (_kind, _names, lat, lon, *_rest) in STATIONS.items():
        for uri in (UTM, GK, WGS84):
            body = world.get(f"/oapi/collections/stations/items/{key}?crs={quote(uri, safe='')}")
            a, b = body["geometry"]["coordinates"]
            back_lon, back_lat = crs.to_crs84(uri).transform(a, b)
            assert back_lon == pytest.approx(lon, abs=1e-7)
            assert back_lat == pytest.approx(lat, abs=1e-7)
