"""Times in ``$filter`` against a real store: every test runs on SQLite and on PostgreSQL.

The store holds instants and intervals whose answers were worked out by hand from FROST's
interval rules (``hub/sta/compile/temporal.py``):

    i1  2025-03-01T00:00Z                 resultTime 2025-03-01T00:30:00.25Z
    i2  2025-03-01T06:00Z                 resultTime 2025-03-01T06:00:00.5Z
    i3  2025-03-02T00:00Z                 resultTime null
    v1  2025-03-01T00:00Z/2025-03-01T12:00Z  resultTime 2025-03-01T12:00Z
    v2  2025-03-01T12:00Z/2025-03-02T00:00Z  resultTime null
    v3  2025-02-28T00:00Z/2025-03-03T00:00Z  resultTime null
    r1  now - 2 h                         resultTime now
    r2  now - 3 days                      resultTime now

Filters on clock fields are limited to the fixed rows (``phenomenonTime lt 2025-06-01...``) so
the answers do not depend on the day the tests run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.sta.compiler import CompileError, compile_filter, compile_orderby
from hub.sta.entities import DATASTREAM, HISTORICAL_LOCATION, OBSERVATION, THING, EntityType
from hub.sta.filter import parse_filter, parse_orderby
from hub.store import Store
from hub.store.schema import datastreams, historical_locations, observations, things
from tests.hub.sta.conftest import frame_record, observation_row, station_record

D0 = datetime(2025, 2, 28, tzinfo=UTC)
D1 = datetime(2025, 3, 1, tzinfo=UTC)
D2 = datetime(2025, 3, 2, tzinfo=UTC)
D3 = datetime(2025, 3, 3, tzinfo=UTC)
H = timedelta(hours=1)
NOW = datetime.now(UTC).replace(microsecond=0)
FIXED = "phenomenonTime lt 2025-06-01T00:00:00Z"
TABLES: dict[str, Table] = {
    "Observation": observations,
    "Datastream": datastreams,
    "Thing": things,
    "HistoricalLocation": historical_locations,
}
PREFIX = {"Observation": "", "Datastream": "D", "Thing": "T", "HistoricalLocation": "H"}


@dataclass
class World:
    store: Store
    ids: dict[str, int]

    def labels(self, entity: EntityType, found: list[int]) -> list[str]:
        prefix = PREFIX[entity.name]
        names = {
            key: label
            for label, key in self.ids.items()
            if (label[0].islower() if not prefix else label.startswith(prefix))
        }
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


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Store.open(store_url)
    air, water = store.import_stations(
        [station_record("air-one", "air", "Air One"), station_record("river", "water", "River")]
    )
    mapping = MappingSet.load()
    pm25, ph = mapping.observed_property("pm2_5"), mapping.observed_property("ph")
    assert pm25 is not None and ph is not None
    d1 = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    d2 = store.ensure_datastream("river", ph, Aggregation.INSTANT, "w01001")
    rows = {
        "i1": observation_row(d1, D1, 1.0, result_time=D1 + timedelta(minutes=30, seconds=0.25)),
        "i2": observation_row(d1, D1 + 6 * H, 2.0, result_time=D1 + 6 * H + timedelta(seconds=0.5)),
        "i3": observation_row(d1, D2, 3.0),
        "v1": observation_row(d2, D1, 4.0, end=D1 + 12 * H, result_time=D1 + 12 * H),
        "v2": observation_row(d2, D1 + 12 * H, 5.0, end=D2),
        "v3": observation_row(d2, D0, 6.0, end=D3),
        "r1": observation_row(d1, NOW - 2 * H, 7.0, result_time=NOW),
        "r2": observation_row(d1, NOW - 72 * H, 8.0, result_time=NOW),
    }
    air_rows = [row for label, row in rows.items() if not label.startswith("v")]
    water_rows = [row for label, row in rows.items() if label.startswith("v")]
    store.write_batch(
        [frame_record("a", "air-one", air_rows, NOW), frame_record("b", "river", water_rows, NOW)]
    )
    ids = {"D1": d1[0], "D2": d2[0], "TA": air.thing_id, "TW": water.thing_id}
    with store.connect() as conn:
        for label, row in rows.items():
            query = select(observations.c.id).where(
                observations.c.datastream_id == row.datastream_id,
                observations.c.phenomenon_time_start == row.phenomenon_time_start,
                observations.c.phenomenon_time_end == row.phenomenon_time_end,
            )
            ids[label] = conn.execute(query).scalar_one()
        for label, thing in (("HA", air.thing_id), ("HW", water.thing_id)):
            query = select(historical_locations.c.id).where(
                historical_locations.c.thing_id == thing
            )
            ids[label] = conn.execute(query).scalar_one()
    yield World(store, ids)
    store.close()


ALL = "i1 i2 i3 v1 v2 v3 r1 r2"
X = "2025-03-01T12:00:00Z"
COMPARISONS = [
    # An instant against every kind of span.
    (f"phenomenonTime eq {X}", ""),
    (f"phenomenonTime gt {X}", "i3 r1 r2"),
    (f"phenomenonTime ge {X}", "i3 v2 r1 r2"),
    (f"phenomenonTime lt {X}", "i1 i2 v1"),
    (f"phenomenonTime le {X}", "i1 i2 v1"),
    (f"phenomenonTime ne {X}", "i1 i2 i3 v3 r1 r2"),
    (f"{X} lt phenomenonTime", "i3 r1 r2"),  # constants move right, the operator mirrors
    # An interval literal.
    ("phenomenonTime eq 2025-03-01T00:00:00Z/2025-03-01T12:00:00Z", "v1"),
    ("phenomenonTime lt 2025-03-01T12:00:00Z/2025-03-02T00:00:00Z", "i1 i2 v1"),
    ("phenomenonTime gt 2025-03-01T00:00:00Z/2025-03-01T12:00:00Z", "i3 v2 r1 r2"),
    ("phenomenonTime ge 2025-03-01T00:00:00Z/2025-03-01T12:00:00Z", "i3 v1 v2 r1 r2"),
    ("phenomenonTime le 2025-03-01T00:00:00Z/2025-03-01T12:00:00Z", "i1 v1"),
    ("phenomenonTime ne 2025-03-01T00:00:00Z/2025-03-01T12:00:00Z", "i2 i3 v2 v3 r1 r2"),
    # Instants.
    ("resultTime gt 2025-03-01T06:00:00Z", "i2 v1 r1 r2"),
    ("resultTime eq 2025-03-01T06:00:00.5Z", "i2"),
    ("resultTime eq 2025-03-01T11:00:00.5+05:00", "i2"),
    ("resultTime eq 2025-03-01T12:00:00Z/2025-03-01T12:00:00Z", "v1"),
    ("resultTime gt mindatetime() and resultTime lt maxdatetime()", "i1 i2 v1 r1 r2"),
    ("phenomenonTime lt maxdatetime()", ALL),
    ("phenomenonTime gt now()", ""),
    ("mindatetime() lt maxdatetime()", ALL),
    # The same interval written with another offset.
    (
        "2025-01-01T00:00:00Z/2025-01-02T00:00:00Z"
        " eq 2025-01-01T05:00:00+05:00/2025-01-02T00:00:00Z",
        ALL,
    ),
]
RELATIONS = [
    (f"before(phenomenonTime, {X})", "i1 i2 v1"),
    (f"after(phenomenonTime, {X})", "i3 r1 r2"),
    (f"meets(phenomenonTime, {X})", "v1 v2"),
    (f"overlaps(phenomenonTime, {X})", "v2 v3"),
    (f"starts(phenomenonTime, {X})", "v2"),
    (f"finishes(phenomenonTime, {X})", "v1"),
    ("during(phenomenonTime, 2025-03-01T00:00:00Z/2025-03-02T00:00:00Z)", "i1 i2 v1 v2"),
    ("overlaps(phenomenonTime, 2025-03-01T03:00:00Z/2025-03-01T13:00:00Z)", "i2 v1 v2 v3"),
    ("meets(phenomenonTime, 2025-03-01T12:00:00Z/2025-03-02T00:00:00Z)", "i3 v1"),
    ("starts(phenomenonTime, 2025-03-01T12:00:00Z/2025-03-03T00:00:00Z)", "v2"),
    ("finishes(phenomenonTime, 2025-02-28T00:00:00Z/2025-03-03T00:00:00Z)", "v3"),
    ("before(resultTime, 2025-03-01T06:00:00Z)", "i1"),
    ("after(resultTime, 2025-03-01T06:00:00Z)", "i2 v1 r1 r2"),
    ("during(resultTime, 2025-03-01T00:00:00Z/2025-03-01T12:00:00Z)", "i1 i2"),
    ("during(2025-03-01T13:00:00Z, phenomenonTime)", "v2 v3"),
    ("not during(phenomenonTime, 2025-03-01T00:00:00Z/2025-03-02T00:00:00Z)", "i3 v3 r1 r2"),
    ("after(phenomenonTime, now() sub duration'P1D')", "r1"),
    # Two constants fold in Python with the same rules.
    ("before(2025-01-01T00:00:00Z, 2025-01-02T00:00:00Z)", ALL),
    ("during(2025-01-01T12:00:00Z, 2025-01-01T00:00:00Z/2025-01-02T00:00:00Z)", ALL),
    (
        "overlaps(2025-01-01T00:00:00Z/2025-01-03T00:00:00Z, "
        "2025-01-02T00:00:00Z/2025-01-04T00:00:00Z)",
        ALL,
    ),
    ("meets(2025-01-01T00:00:00Z/2025-01-02T00:00:00Z, 2025-01-03T00:00:00Z)", ""),
]
ARITHMETIC = [
    ("phenomenonTime gt now() sub duration'P1D'", "r1"),
    ("phenomenonTime add duration'PT12H' eq 2025-03-01T12:00:00Z/2025-03-02T00:00:00Z", "v1"),
    ("phenomenonTime sub duration'PT6H' eq 2025-03-01T00:00:00Z", "i2"),
    ("resultTime add duration'PT30M' gt 2025-03-01T06:30:00Z", "i2 v1 r1 r2"),
    ("duration'PT30M' add resultTime gt 2025-03-01T06:30:00Z", "i2 v1 r1 r2"),
    ("resultTime sub duration'-PT30M' gt 2025-03-01T06:30:00Z", "i2 v1 r1 r2"),
    ("resultTime sub phenomenonTime eq duration'PT30M0.25S'", "i1"),
    ("resultTime sub phenomenonTime gt duration'PT1S'", "i1 v1 r1 r2"),
    ("resultTime sub phenomenonTime lt duration'PT1S'", "i2"),
    ("resultTime sub phenomenonTime add duration'PT1H' ge duration'P3DT1H'", "r2"),
    ("-(resultTime sub phenomenonTime) le -duration'P3D'", "r2"),
    ("duration'PT3H' add phenomenonTime ge now()", "r1"),
    ("now() sub phenomenonTime lt duration'PT3H'", "r1"),
    ("2025-03-01T00:00:00Z add duration'PT6H' eq phenomenonTime", "i2"),
    ("phenomenonTime eq 2025-03-01T00:00:00Z/2025-03-01T06:00:00Z add duration'PT6H'", ""),
    ("hour(resultTime add duration'PT5H') eq 11 and " + FIXED, "i2"),
    ("day(phenomenonTime sub duration'PT1S') eq 28 and " + FIXED, "i1 v1"),
]
DATE_FUNCTIONS = [
    ("year(phenomenonTime) eq 2025 and month(phenomenonTime) eq 2 and " + FIXED, "v3"),
    ("day(phenomenonTime) eq 1 and " + FIXED, "i1 i2 v1 v2"),
    ("hour(phenomenonTime) eq 6 and " + FIXED, "i2"),
    ("minute(resultTime) eq 30 and second(resultTime) eq 0 and " + FIXED, "i1"),
    ("fractionalseconds(resultTime) eq 0.5", "i2"),
    ("fractionalseconds(resultTime) eq 0.25", "i1"),
    ("fractionalseconds(resultTime) gt 0 and " + FIXED, "i1 i2"),
    ("fractionalseconds(phenomenonTime) eq 0", ALL),
    ("date(phenomenonTime) eq 2025-03-01", "i1 i2 v1 v2"),
    ("date(phenomenonTime) gt 2025-03-01 and " + FIXED, "i3"),
    ("date(resultTime) eq date(phenomenonTime) and " + FIXED, "i1 i2 v1"),
    ("time(phenomenonTime) eq 12:00:00", "v2"),
    ("time(resultTime) ge 06:00:00.4 and " + FIXED, "i2 v1"),
    ("time(resultTime) eq 06:00:00.5", "i2"),
    ("year(date(phenomenonTime)) eq 2025 and day(date(phenomenonTime)) eq 28", "v3"),
    ("hour(time(resultTime)) eq 12 and " + FIXED, "v1"),
    ("fractionalseconds(time(resultTime)) eq 0.25", "i1"),
    ("totaloffsetminutes(resultTime) eq 0", "i1 i2 v1 r1 r2"),
    # A literal keeps its own offset (OData): 05:00+05:00 is hour 5, offset 300 minutes.
    ("totaloffsetminutes(2025-03-01T05:00:00+05:00) eq 300", ALL),
    ("hour(2025-03-01T05:00:00+05:00) eq 5 and day(2025-03-01T02:00:00+05:00) eq 1", ALL),
    ("date(2025-03-01T02:00:00+05:00) eq 2025-03-01", ALL),
    ("time(2025-03-01T02:30:00+05:00) eq 02:30:00", ALL),
    ("fractionalseconds(2025-03-01T02:30:00.125Z) eq 0.125", ALL),
    ("year(now()) eq year(resultTime) and resultTime gt 2025-06-01T00:00:00Z", "r1 r2"),
]


def check(world: World, entity: EntityType, cases: list[tuple[str, str]]) -> None:
    for text, expected in cases:
        assert world.select(entity, text) == set(expected.split()), text


def test_comparisons_follow_frost_interval_rules(world: World) -> None:
    check(world, OBSERVATION, COMPARISONS)


def test_temporal_relations(world: World) -> None:
    check(world, OBSERVATION, RELATIONS)


def test_date_arithmetic(world: World) -> None:
    check(world, OBSERVATION, ARITHMETIC)


def test_date_functions(world: World) -> None:
    check(world, OBSERVATION, DATE_FUNCTIONS)


def test_times_through_navigation(world: World) -> None:
    iv = "2025-02-28T00:00:00Z/2025-03-03T00:00:00Z"
    assert world.select(DATASTREAM, f"finishes(Observations/phenomenonTime, {iv})") == {"D2"}
    assert world.select(DATASTREAM, "Observations/resultTime gt now() sub duration'PT1H'") == {"D1"}
    assert world.select(THING, f"during(Datastreams/Observations/phenomenonTime, {iv})") == {
        "TA",
        "TW",
    }
    assert world.select(
        OBSERVATION, "Datastream/Thing/name eq 'River' and phenomenonTime ge 2025-03-01T12:00:00Z"
    ) == {"v2"}
    assert world.select(HISTORICAL_LOCATION, "time gt now() sub duration'P1D'") == {"HA", "HW"}
    assert world.select(HISTORICAL_LOCATION, "before(time, mindatetime())") == set()


def test_orderby_times(world: World) -> None:
    fixed = ["v3", "i1", "v1", "i2", "v2", "i3", "r2", "r1"]
    assert world.order(OBSERVATION, "phenomenonTime") == fixed
    later = world.order(OBSERVATION, "phenomenonTime add duration'P1D' desc")
    assert later == ["r1", "r2", "i3", "v2", "i2", "i1", "v1", "v3"]  # ties by id
    delays = world.order(OBSERVATION, "resultTime sub phenomenonTime desc")
    assert delays[:3] == ["i3", "v2", "v3"]  # NULL sorts as the largest value
    assert delays[3:] == ["r2", "v1", "r1", "i1", "i2"]
    assert world.order(OBSERVATION, "fractionalseconds(resultTime), id") == [
        *("r1", "r2", "v1", "i1", "i2"),
        *("i3", "v2", "v3"),  # NULLs last
    ]


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("during(phenomenonTime, 2025-01-01T00:00:00Z)", 400),
        ("before(result, 2025-01-01T00:00:00Z)", 400),
        ("before(phenomenonTime, 2025-01-01)", 400),
        ("phenomenonTime gt 'yesterday'", 400),
        ("phenomenonTime gt 5", 400),
        ("phenomenonTime add phenomenonTime gt now()", 400),
        ("phenomenonTime mul 2 gt now()", 400),
        ("resultTime add 1 gt now()", 400),
        ("resultTime sub phenomenonTime gt 5", 400),
        ("date(resultTime) add duration'P1D' eq 2025-01-01", 400),
        ("hour(date(resultTime)) eq 1", 400),
        ("year(time(resultTime)) eq 1", 400),
        ("maxdatetime() add duration'P1D' gt resultTime", 400),
        ("mindatetime() sub duration'P1D' lt resultTime", 400),
        ("resultTime lt null", 400),
        ("parameters/at gt now()", 501),
        ("before(parameters/at, now())", 501),
    ],
)
def test_time_errors(text: str, status: int) -> None:
    with pytest.raises(CompileError) as info:
        compile_filter(parse_filter(text), OBSERVATION)
    assert info.value.status == status, text
    assert "\n" not in info.value.message
