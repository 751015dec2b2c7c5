"""Spatial ``$filter`` functions against a real store: every store test runs on SQLite and on
PostgreSQL/PostGIS and must select the same ids.

The world is central Astana (GeoJSON is lon, lat):

    LB  Baiterek tower        POINT (71.4305 51.1283)     Thing TB
    LK  Khan Shatyr           POINT (71.4036 51.1325)     Thing TK
    LA  the airport           POINT (71.4669 51.0222)     Thing TA
    LR  a stretch of the Esil LINESTRING (71.38 51.14, 71.42 51.12, 71.46 51.13)   Thing TK
    LP  a park                POLYGON 71.41..71.44 E x 51.12..51.14 N             Thing TA
    LM  two sampling points   MULTIPOINT ((71.4305 51.1283), (71.5 51.2))

Features of interest: the three station points (FB, FK, FA) and FP, a polygon
71.42..71.45 E x 51.11..51.13 N; observations o1 (FB), o2 (FK), o3 (FA), o4 (FP).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, insert, select, update

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.sta.compiler import CompileError, compile_filter, compile_orderby
from hub.sta.entities import (
    DATASTREAM,
    FEATURE_OF_INTEREST,
    LOCATION,
    OBSERVATION,
    THING,
    EntityType,
)
from hub.sta.filter import parse_filter, parse_orderby
from hub.store import Store
from hub.store.schema import features_of_interest, locations, observations, thing_locations, things
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 5, 1, tzinfo=UTC)
TABLES: dict[str, Table] = {
    "Location": locations,
    "Thing": things,
    "Observation": observations,
    "FeatureOfInterest": features_of_interest,
}
PREFIX = {"Location": "L", "Thing": "T", "Observation": "o", "FeatureOfInterest": "F"}

DOWNTOWN = "geography'POLYGON ((71.40 51.12, 71.45 51.12, 71.45 51.14, 71.40 51.14, 71.40 51.12))'"
BAITEREK = "geography'POINT (71.4305 51.1283)'"
AROUND_BAITEREK = (
    "geography'POLYGON ((71.425 51.125, 71.435 51.125, 71.435 51.131, 71.425 51.131,"
    " 71.425 51.125))'"
)
NORTH_SOUTH = "geography'LINESTRING (71.41 51.10, 71.41 51.16)'"
EAST = "geography'POLYGON ((71.43 51.13, 71.50 51.13, 71.50 51.15, 71.43 51.15, 71.43 51.13))'"
TWO_AREAS = (
    "geography'MULTIPOLYGON (((71.40 51.12, 71.45 51.12, 71.45 51.14, 71.40 51.14, 71.40 51.12)),"
    " ((71.45 51.00, 71.50 51.00, 71.50 51.05, 71.45 51.05, 71.45 51.00)))'"
)


@dataclass
class World:
    store: Store
    ids: dict[str, int]

    def labels(self, entity: EntityType, found: list[int]) -> list[str]:
        prefix = PREFIX[entity.name]
        names = {key: label for label, key in self.ids.items() if label.startswith(prefix)}
        return [names[key] for key in found]

    def select(self, entity: EntityType, text: str) -> set[str]:
        table = TABLES[entity.name]
        query = select(table.c.id).where(compile_filter(parse_filter(text), entity))
        with self.store.connect() as conn:
            return set(self.labels(entity, list(conn.execute(query).scalars())))

    def order(self, entity: EntityType, text: str) -> list[str]:
        table = TABLES[entity.name]
        keys = compile_orderby(parse_orderby(text), entity)
        with self.store.connect() as conn:
            found = list(conn.execute(select(table.c.id).order_by(*keys, table.c.id)).scalars())
        return self.labels(entity, found)


def _geojson(kind: str, coordinates: Any) -> dict[str, Any]:
    return {"type": kind, "coordinates": coordinates}


def _station(key: str, name: str, lon: float, lat: float) -> Any:
    return station_record(key, "air", name, lon=lon, lat=lat)


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Store.open(store_url)
    baiterek, khan, airport = store.import_stations(
        [
            _station("baiterek", "Baiterek", 71.4305, 51.1283),
            _station("khan", "Khan Shatyr", 71.4036, 51.1325),
            _station("airport", "Airport", 71.4669, 51.0222),
        ]
    )
    ids = {"TB": baiterek.thing_id, "TK": khan.thing_id, "TA": airport.thing_id}
    ids |= {"LB": baiterek.location_id, "LK": khan.location_id, "LA": airport.location_id}
    ids |= {"FB": baiterek.feature_of_interest_id, "FK": khan.feature_of_interest_id}
    ids["FA"] = airport.feature_of_interest_id
    # Datastreams first: the registry expects one current Location per station.
    mapping = MappingSet.load()
    pm25 = mapping.observed_property("pm2_5")
    assert pm25 is not None
    streams = {
        key: store.ensure_datastream(key, pm25, Aggregation.MEAN, "a34004")
        for key in ("baiterek", "khan", "airport")
    }
    extra = {
        "LR": _geojson("LineString", [[71.38, 51.14], [71.42, 51.12], [71.46, 51.13]]),
        "LP": _geojson(
            "Polygon",
            [[[71.41, 51.12], [71.44, 51.12], [71.44, 51.14], [71.41, 51.14], [71.41, 51.12]]],
        ),
        "LM": _geojson("MultiPoint", [[71.4305, 51.1283], [71.5, 51.2]]),
    }
    park = [[[71.42, 51.11], [71.45, 51.11], [71.45, 51.13], [71.42, 51.13], [71.42, 51.11]]]
    with store.engine.begin() as conn:
        for label, shape in extra.items():
            ids[label] = conn.execute(
                insert(locations)
                .values(
                    name=label,
                    description="test shape",
                    encoding_type="application/geo+json",
                    location=shape,
                    properties={},
                )
                .returning(locations.c.id)
            ).scalar_one()
        for thing, location in (("TK", "LR"), ("TA", "LP")):
            conn.execute(
                insert(thing_locations).values(thing_id=ids[thing], location_id=ids[location])
            )
        ids["FP"] = conn.execute(
            insert(features_of_interest)
            .values(
                key="park-area",
                name="Park area",
                description="sampling area",
                encoding_type="application/geo+json",
                feature=_geojson("Polygon", park),
                properties={},
            )
            .returning(features_of_interest.c.id)
        ).scalar_one()
    rows = {
        "o1": observation_row(streams["baiterek"], T0, 1.0),
        "o2": observation_row(streams["khan"], T0, 2.0),
        "o3": observation_row(streams["airport"], T0, 3.0),
        "o4": observation_row((streams["baiterek"][0], ids["FP"]), T0 + timedelta(hours=1), 4.0),
    }
    frames = [
        frame_record(str(n), key, [r for r in rows.values() if r.datastream_id == ds[0]], T0)
        for n, (key, ds) in enumerate(streams.items())
    ]
    store.write_batch(frames)
    with store.connect() as conn:
        for label, row in rows.items():
            query = select(observations.c.id).where(
                observations.c.datastream_id == row.datastream_id,
                observations.c.phenomenon_time_start == row.phenomenon_time_start,
            )
            ids[label] = conn.execute(query).scalar_one()
    yield World(store, ids)
    store.close()


LOCATION_CASES = [
    (f"st_within(location, {DOWNTOWN})", "LB LK LP"),
    (f"st_contains({DOWNTOWN}, location)", "LB LK LP"),
    (f"st_intersects(location, {DOWNTOWN})", "LB LK LP LR LM"),
    (f"geo.intersects(location, {DOWNTOWN})", "LB LK LP LR LM"),
    (f"st_disjoint(location, {DOWNTOWN})", "LA"),
    (f"st_crosses(location, {DOWNTOWN})", "LR LM"),
    (f"st_contains(location, {BAITEREK})", "LB LP LM"),
    (f"st_within({BAITEREK}, location)", "LB LP LM"),
    (f"st_equals(location, {BAITEREK})", "LB"),
    (f"st_touches(location, {NORTH_SOUTH})", "LP"),
    (f"st_crosses(location, {NORTH_SOUTH})", "LR"),
    (f"st_overlaps(location, {EAST})", "LP"),
    (f"st_relate(location, {DOWNTOWN}, 'T*F**F***')", "LB LK LP"),
    (f"st_relate(location, {DOWNTOWN}, '1********')", "LR"),
    (f"geo.distance(location, {BAITEREK}) lt 0.03", "LB LK LP LR LM"),
    (f"geo.distance(location, {BAITEREK}) le 0", "LB LP LM"),
    (f"geo.distance(location, {BAITEREK}) gt 0.1", "LA"),
    (f"0.1 lt geo.distance(location, {BAITEREK})", "LA"),
    (f"geo.distance({BAITEREK}, location) mul 111 lt 1", "LB LP LR LM"),  # about 1 km
    ("geo.length(location) gt 0.05 and geo.length(location) lt 0.09", "LR"),
    ("geo.length(location) eq 0", "LB LK LA LP LM"),
    (f"not st_within(location, {DOWNTOWN})", "LA LR LM"),
    (f"st_within(location, {DOWNTOWN}) eq false", "LA LR LM"),
    (f"st_within(location, {DOWNTOWN}) and name eq 'LP'", "LP"),
    (f"st_within(location, {TWO_AREAS})", "LA LB LK LP"),
    (
        "st_intersects(location,"
        " geography'MULTILINESTRING ((71.41 51.10, 71.41 51.16), (71.0 50.0, 71.1 50.1))')",
        "LP LR",
    ),
    ("st_intersects(location, geography'MULTIPOINT ((71.4036 51.1325), (0 0))')", "LK"),
    (f"st_within(location, {DOWNTOWN.replace('geography', 'geometry')})", "LB LK LP"),
    (f"st_within(location, {DOWNTOWN.replace("y'", "y'SRID=4326;")})", "LB LK LP"),
    ("st_equals(location, geography'POINT Z (71.4305 51.1283 350)')", "LB"),
    ("st_intersects(location, geography'POINT EMPTY')", ""),
    ("location ne null", "LB LK LA LR LP LM"),
    ("location eq null", ""),
    # Two literals fold in Python with the same shapely functions the SQLite store uses.
    ("st_intersects(geography'POINT (1 1)', geography'POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0))')", "*"),
    ("st_disjoint(geography'POINT (1 1)', geography'POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0))')", ""),
    ("geo.distance(geography'POINT (0 0)', geography'POINT (3 4)') eq 5", "*"),
    ("geo.length(geography'LINESTRING (0 0, 3 4)') eq 5", "*"),
    ("st_relate(geography'POINT (0 0)', geography'POINT (0 0)', '0FFFFFFF2')", "*"),
]


def check(world: World, entity: EntityType, cases: list[tuple[str, str]]) -> None:
    everything = {label for label in world.ids if label.startswith(PREFIX[entity.name])}
    for text, expected in cases:
        wanted = everything if expected == "*" else set(expected.split())
        assert world.select(entity, text) == wanted, text


def test_location_functions(world: World) -> None:
    check(world, LOCATION, LOCATION_CASES)


def test_things_through_locations(world: World) -> None:
    check(
        world,
        THING,
        [
            (f"st_within(Locations/location, {AROUND_BAITEREK})", "TB"),
            (f"st_intersects(Locations/location, {AROUND_BAITEREK})", "TA TB"),
            (f"not st_within(Locations/location, {AROUND_BAITEREK})", "TA TK"),
            ("geo.distance(Locations/location, geography'POINT (71.38 51.14)') lt 0.001", "TK"),
            (f"st_within(Locations/location, {DOWNTOWN}) and name eq 'Airport'", "TA"),
            (f"st_within(HistoricalLocations/Locations/location, {AROUND_BAITEREK})", "TB"),
        ],
    )


def test_observations_through_features(world: World) -> None:
    airport = "geography'POINT (71.4669 51.0222)'"
    check(
        world,
        OBSERVATION,
        [
            (f"st_within(FeatureOfInterest/feature, {DOWNTOWN})", "o1 o2"),
            ("st_intersects(FeatureOfInterest/feature, geography'POINT (71.44 51.115)')", "o4"),
            (f"geo.distance(FeatureOfInterest/feature, {airport}) lt 0.001", "o3"),
            (f"st_within(FeatureOfInterest/feature, {DOWNTOWN}) and result gt 1.5", "o2"),
            (f"st_within(Datastream/Thing/Locations/location, {AROUND_BAITEREK})", "o1 o4"),
        ],
    )
    check(
        world,
        FEATURE_OF_INTEREST,
        [
            (f"st_contains(feature, {BAITEREK})", "FB FP"),
            (f"st_overlaps(feature, {DOWNTOWN})", "FP"),
            (f"st_within(feature, {DOWNTOWN}) or st_equals(feature, {airport})", "FB FK FA"),
            ("Observations/result gt 3.5 and st_intersects(feature, feature)", "FP"),
        ],
    )


def test_orderby_distance(world: World) -> None:
    nearest = world.order(LOCATION, f"geo.distance(location, {BAITEREK})")
    assert nearest == ["LB", "LP", "LM", "LR", "LK", "LA"]  # ties by id
    assert world.order(LOCATION, "geo.length(location) desc")[0] == "LR"
    nearest_feature = world.order(
        OBSERVATION, f"geo.distance(FeatureOfInterest/feature, {BAITEREK})"
    )
    assert nearest_feature[:2] == ["o1", "o4"]


def test_stored_data_the_functions_cannot_read_is_no_match_on_sqlite(sqlite_url: str) -> None:
    """PostGIS refuses such rows when they are written; SQLite stores them, and the registered
    functions must give NULL (no match), never an error for the whole statement."""
    store = Store.open(sqlite_url)
    (entities,) = store.import_stations([_station("bad", "Bad", 71.43, 51.13)])
    with store.engine.begin() as conn:
        for value in (
            {"type": "Point"},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [71.43, 51.13]}},
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
            "POINT (71.43 51.13",
            [],
        ):
            conn.execute(
                update(locations)
                .where(locations.c.id == entities.location_id)
                .values(location=value)
            )
            for text in (
                f"st_within(location, {DOWNTOWN})",
                f"not st_within(location, {DOWNTOWN})",
                f"geo.distance(location, {BAITEREK}) lt 1",
                "geo.length(location) ge 0",
            ):
                query = select(locations.c.id).where(compile_filter(parse_filter(text), LOCATION))
                assert conn.execute(query).all() == [], (value, text)
    store.close()


@pytest.mark.parametrize(
    ("entity", "text", "status"),
    [
        (LOCATION, "st_within(location, geography'SRID=3857;POINT (1 2)')", 501),
        (DATASTREAM, "st_within(observedArea, geography'POINT (1 2)')", 501),
        (LOCATION, "st_within(location, geography'POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))')", 400),
        (LOCATION, "st_within(location, name)", 400),
        (LOCATION, "st_within(properties/area, location)", 400),
        (LOCATION, "geo.distance(location, null) lt 1", 400),
        (LOCATION, "geo.length(location) gt 'x'", 400),
        (LOCATION, f"location eq {BAITEREK}", 400),
        (LOCATION, "location gt null", 400),
        (LOCATION, "location add 1 eq 2", 400),
        (LOCATION, "length(location) eq 2", 400),
        (THING, "st_within(Locations/location, FeatureOfInterest/feature)", 400),
        (
            OBSERVATION,
            f"st_within(FeatureOfInterest/feature, {DOWNTOWN}) eq"
            f" st_within(Datastream/Thing/Locations/location, {DOWNTOWN})",
            501,
        ),
    ],
)
def test_spatial_errors(entity: EntityType, text: str, status: int) -> None:
    with pytest.raises(CompileError) as info:
        compile_filter(parse_filter(text), entity)
    assert info.value.status == status, text
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("entity", "text"),
    [
        (LOCATION, "location"),
        (THING, f"geo.distance(Locations/location, {BAITEREK})"),
        (LOCATION, f"st_within(location, {DOWNTOWN})"),
    ],
)
def test_spatial_orderby_errors(entity: EntityType, text: str) -> None:
    with pytest.raises(CompileError) as info:
        compile_orderby(parse_orderby(text), entity)
    assert info.value.status == 400
