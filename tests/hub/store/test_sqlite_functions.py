"""The SQL functions registered on SQLite connections: exact, NULL-safe, never raising, and in
agreement with PostGIS (which answers the same filters on PostgreSQL)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from hub.store import Store, sqlite_functions

POLYGON = "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0))"
GEOJSON_POINT = json.dumps({"type": "Point", "coordinates": [1, 1]})


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    sqlite_functions.register(conn)
    yield conn
    conn.close()


def one(conn: sqlite3.Connection, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()[0]


def test_relations_read_geojson_and_wkt(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT auasu_st_within(?, ?)", GEOJSON_POINT, POLYGON) == 1
    assert one(db, "SELECT auasu_st_contains(?, ?)", POLYGON, GEOJSON_POINT) == 1
    assert one(db, "SELECT auasu_st_disjoint(?, ?)", GEOJSON_POINT, "POINT (9 9)") == 1
    assert one(db, "SELECT auasu_st_touches(?, ?)", "POINT (0 2)", POLYGON) == 1
    assert one(db, "SELECT auasu_st_relate(?, ?, ?)", GEOJSON_POINT, POLYGON, "T*F**F***") == 1
    assert one(db, "SELECT auasu_geo_distance(?, ?)", "POINT (0 0)", "POINT (3 4)") == 5.0
    assert one(db, "SELECT auasu_geo_length(?)", "LINESTRING (0 0, 3 4)") == 5.0
    # Like ST_Length: polygons and points have no length; collections sum their lines.
    assert one(db, "SELECT auasu_geo_length(?)", POLYGON) == 0.0
    collection = "GEOMETRYCOLLECTION (LINESTRING (0 0, 3 4), POLYGON ((0 0, 1 0, 1 1, 0 0)))"
    assert one(db, "SELECT auasu_geo_length(?)", collection) == 5.0


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "   ",
        "not a geometry",
        "POINT (1",
        "{",
        "[]",
        '"POINT (1 1)"',
        '{"type": "Point"}',
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}}',
        '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}',
        '{"type": "Point", "coordinates": ["a", "b"]}',
        b"\x00\x01",
        42,
        1.5,
    ],
)
def test_unusable_input_gives_null(db: sqlite3.Connection, bad: Any) -> None:
    for name in sqlite_functions.RELATIONS:
        assert one(db, f"SELECT auasu_{name}(?, ?)", bad, POLYGON) is None, name
        assert one(db, f"SELECT auasu_{name}(?, ?)", POLYGON, bad) is None, name
    assert one(db, "SELECT auasu_st_relate(?, ?, ?)", bad, POLYGON, "T********") is None
    assert one(db, "SELECT auasu_geo_distance(?, ?)", bad, POLYGON) is None
    assert one(db, "SELECT auasu_geo_length(?)", bad) is None
    assert one(db, "SELECT auasu_time_add(?, 1)", bad) is None
    assert one(db, "SELECT auasu_time_diff(?, ?)", bad, "2025-01-01 00:00:00.000000") is None


def test_pattern_and_empty_edge_cases(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT auasu_st_relate(?, ?, NULL)", POLYGON, POLYGON) is None
    # GEOS refuses a malformed pattern; the function must answer NULL, not abort the query.
    assert one(db, "SELECT auasu_st_relate(?, ?, 'XYZ')", POLYGON, POLYGON) is None
    # Distance to an empty geometry is NULL, as PostGIS says.
    assert one(db, "SELECT auasu_geo_distance(?, ?)", "POINT EMPTY", POLYGON) is None
    assert one(db, "SELECT auasu_st_intersects(?, ?)", "POINT EMPTY", POLYGON) == 0


def test_time_arithmetic_is_exact_and_keeps_the_store_format(db: sqlite3.Connection) -> None:
    start = "2025-01-14 19:00:00.000000"
    assert one(db, "SELECT auasu_time_add(?, ?)", start, 1) == "2025-01-14 19:00:00.000001"
    assert one(db, "SELECT auasu_time_add(?, ?)", start, -86_400_000_000) == (
        "2025-01-13 19:00:00.000000"
    )
    assert one(db, "SELECT auasu_time_add(?, ?)", "0001-01-01 00:00:00.000000", 1_000_000) == (
        "0001-01-01 00:00:01.000000"
    )
    assert one(db, "SELECT auasu_time_add(?, ?)", "9999-12-31 23:59:59.999999", 1) is None
    assert one(db, "SELECT auasu_time_add(?, NULL)", start) is None
    assert one(db, "SELECT auasu_time_add(?, 1.5)", start) is None
    later = "2025-01-16 20:30:00.250001"
    assert one(db, "SELECT auasu_time_diff(?, ?)", later, start) == (
        ((2 * 24 + 1) * 3600 + 30 * 60) * 1_000_000 + 250_001
    )
    assert one(db, "SELECT auasu_time_diff(?, ?)", start, later) < 0


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.timedeltas(min_value=timedelta(days=-30_000), max_value=timedelta(days=30_000)),
)
def test_time_add_and_diff_agree_with_python(moment: datetime, delta: timedelta) -> None:
    conn = sqlite3.connect(":memory:")
    sqlite_functions.register(conn)
    stored = moment.isoformat(" ", "microseconds")
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    shifted = one(conn, "SELECT auasu_time_add(?, ?)", stored, micros)
    assert shifted == (moment + delta).isoformat(" ", "microseconds")
    assert one(conn, "SELECT auasu_time_diff(?, ?)", shifted, stored) == micros
    # Text order stays time order, which the comparisons rely on.
    assert (shifted > stored) == (delta > timedelta(0))
    conn.close()


def test_fmod(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT auasu_fmod(80.5, 2)") == 0.5
    assert one(db, "SELECT auasu_fmod(-7.5, 2)") == -1.5  # the dividend's sign, as C fmod
    assert one(db, "SELECT auasu_fmod(7, 0)") is None
    assert one(db, "SELECT auasu_fmod('x', 2)") is None


def test_literals_are_parsed_once() -> None:
    sqlite_functions.parse_wkt.cache_clear()
    conn = sqlite3.connect(":memory:")
    sqlite_functions.register(conn)
    conn.execute("CREATE TABLE shapes (g TEXT)")
    conn.executemany("INSERT INTO shapes VALUES (?)", [(GEOJSON_POINT,)] * 500)
    found = one(conn, "SELECT sum(auasu_st_within(g, ?)) FROM shapes", POLYGON)
    assert found == 500
    info = sqlite_functions.parse_wkt.cache_info()
    assert info.misses == 1 and info.hits >= 499
    conn.close()


def test_every_store_connection_has_the_functions(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    with store.connect() as conn:
        found = conn.execute(
            text("SELECT auasu_st_intersects(:a, :b), auasu_time_diff(:t, :t)"),
            {"a": GEOJSON_POINT, "b": POLYGON, "t": "2025-01-01 00:00:00.000000"},
        ).one()
    assert tuple(found) == (1, 0)
    store.close()


# Pairs whose answers the SQLite functions and PostGIS must agree on: points, lines, polygons,
# the multi types, collections, empties, 3D, and an invalid (self-intersecting) polygon.
PAIRS = [
    ("POINT (1 1)", POLYGON),
    ("POINT (0 2)", POLYGON),
    ("POINT (9 9)", POLYGON),
    ("LINESTRING (-1 2, 5 2)", POLYGON),
    ("LINESTRING (0 0, 4 0)", POLYGON),
    ("LINESTRING (0 0, 2 2)", "LINESTRING (0 2, 2 0)"),
    ("LINESTRING (0 0, 2 2)", "LINESTRING (1 1, 3 3)"),
    ("POLYGON ((2 2, 6 2, 6 6, 2 6, 2 2))", POLYGON),
    ("POLYGON ((4 0, 8 0, 8 4, 4 4, 4 0))", POLYGON),
    (POLYGON, "POLYGON ((0 0, 0 4, 4 4, 4 0, 0 0))"),
    ("MULTIPOINT ((1 1), (9 9))", POLYGON),
    ("MULTILINESTRING ((1 1, 2 2), (5 5, 6 6))", POLYGON),
    ("MULTIPOLYGON (((1 1, 2 1, 2 2, 1 1)), ((10 10, 11 10, 11 11, 10 10)))", POLYGON),
    ("GEOMETRYCOLLECTION (POINT (1 1), LINESTRING (0 0, 1 1))", "POINT (1 1)"),
    ("POINT EMPTY", POLYGON),
    ("POINT EMPTY", "POINT EMPTY"),
    ("POINT Z (1 1 5)", POLYGON),
    ("POINT Z (1 1 5)", "POINT (1 1)"),
    ("POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))", "POINT (0.5 0.2)"),
    ("POINT (71.4305 51.1283)", "LINESTRING (71.38 51.14, 71.42 51.12, 71.46 51.13)"),
]
PATTERNS = ["T*F**F***", "FF*FF****", "0FFFFFFF2", "1********", "T********"]


def _postgis(pg_url: str) -> Any:
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    return engine


@pytest.mark.postgres
def test_sqlite_functions_agree_with_postgis(pg_url: str, db: sqlite3.Connection) -> None:
    engine = _postgis(pg_url)
    geometry = "ST_GeomFromText(CAST(:{} AS text), 4326)"
    a, b = geometry.format("a"), geometry.format("b")
    postgis = {name: f"ST_{name[3:].capitalize()}" for name in sqlite_functions.RELATIONS}
    with engine.connect() as conn:
        for first, second in PAIRS:
            for left, right in ((first, second), (second, first)):
                where = {"a": left, "b": right}
                for name, pg_name in postgis.items():
                    expected = conn.execute(text(f"SELECT {pg_name}({a}, {b})"), where).scalar()
                    found = one(db, f"SELECT auasu_{name}(?, ?)", left, right)
                    assert found == int(expected), (name, left, right)
                for pattern in PATTERNS:
                    expected = conn.execute(
                        text(f"SELECT ST_Relate({a}, {b}, CAST(:p AS text))"),
                        where | {"p": pattern},
                    ).scalar()
                    found = one(db, "SELECT auasu_st_relate(?, ?, ?)", left, right, pattern)
                    assert found == int(expected), (pattern, left, right)
                expected = conn.execute(text(f"SELECT ST_Distance({a}, {b})"), where).scalar()
                found = one(db, "SELECT auasu_geo_distance(?, ?)", left, right)
                assert (found is None) == (expected is None), (left, right)
                if found is not None:
                    assert math.isclose(found, expected, rel_tol=1e-12, abs_tol=1e-15)
            expected = conn.execute(text(f"SELECT ST_Length({a})"), {"a": first}).scalar()
            assert math.isclose(one(db, "SELECT auasu_geo_length(?)", first), expected)
    engine.dispose()


@pytest.mark.postgres
def test_time_arithmetic_agrees_with_postgresql(pg_url: str, db: sqlite3.Connection) -> None:
    engine = _postgis(pg_url)
    start = datetime(2024, 2, 28, 23, 59, 59, 999_999, tzinfo=UTC)
    with engine.connect() as conn:
        for micros in (1, -1, 86_400_000_000, 366 * 86_400_000_000 + 7, -(10**15)):
            shifted = conn.execute(
                text("SELECT CAST(:t AS timestamptz) + :m * INTERVAL '1 microsecond'"),
                {"t": start, "m": micros},
            ).scalar_one()
            stored = start.isoformat(" ", "microseconds")[:26]
            found = one(db, "SELECT auasu_time_add(?, ?)", stored, micros)
            assert found == shifted.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    engine.dispose()
