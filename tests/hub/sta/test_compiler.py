"""The `$filter`/`$orderby` compiler against a real store: every test runs on SQLite and PostgreSQL.

Each test builds one small store (two stations, three datastreams, five observations) and checks
the exact ids a batch of filters selects, so both backends must give the same answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.sta.compiler import CompileError, compile_filter, compile_orderby
from hub.sta.entities import (
    DATASTREAM,
    HISTORICAL_LOCATION,
    LOCATION,
    OBSERVATION,
    THING,
    EntityType,
)
from hub.sta.filter import Literal, LiteralKind, parse_filter, parse_orderby, walk
from hub.store import Store
from hub.store.schema import (
    datastreams,
    historical_locations,
    locations,
    observations,
    things,
)
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
NOW = datetime.now(UTC).replace(microsecond=0)
TABLES: dict[str, Table] = {
    "Thing": things,
    "Location": locations,
    "HistoricalLocation": historical_locations,
    "Datastream": datastreams,
    "Observation": observations,
}


@dataclass
class World:
    """The store and the ids of what it holds, by label (thing A, observation o3, ...)."""

    store: Store
    ids: dict[str, int]

    def select(self, entity: EntityType, text: str) -> set[str]:
        table = TABLES[entity.name]
        query = select(table.c.id).where(compile_filter(parse_filter(text), entity))
        with self.store.connect() as conn:
            found = set(conn.execute(query).scalars())
        labels = {label for label, key in self.ids.items() if label[0] == entity.name[0]}
        return {label for label in labels if self.ids[label] in found}

    def order(self, entity: EntityType, text: str) -> list[str]:
        table = TABLES[entity.name]
        query = select(table.c.id).order_by(*compile_orderby(parse_orderby(text), entity))
        with self.store.connect() as conn:
            found = list(conn.execute(query).scalars())
        names = {key: label for label, key in self.ids.items() if label[0] == entity.name[0]}
        return [names[key] for key in found]


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Store.open(store_url)
    air, river = store.import_stations(
        [
            station_record(
                "air-one", "air", "Air One", properties={"height": 12, "note": None}, automatic=True
            ),
            station_record("river-two", "water", "River 50% gauge", properties={"height": 3.5}),
        ]
    )
    mapping = MappingSet.load()
    pm25, pm10, ph = (mapping.observed_property(key) for key in ("pm2_5", "pm10", "ph"))
    assert pm25 is not None and pm10 is not None and ph is not None
    d1 = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    d2 = store.ensure_datastream("air-one", pm10, Aggregation.MEAN, "a34002")
    d3 = store.ensure_datastream("river-two", ph, Aggregation.INSTANT, "w01001")
    hour = timedelta(hours=1)
    rows = {
        "o1": observation_row(d1, T0, 40.0, result_time=T0),
        "o2": observation_row(
            d1, T0 + hour, 60.0, quality="suspect", unit="mg/m3", result_time=T0 + hour
        ),
        "o3": observation_row(d2, T0, 80.5, end=T0 + hour),
        "o4": observation_row(d3, NOW - 2 * hour, 7.25, unit="pH", result_time=NOW),
        "o5": observation_row(d3, NOW - 72 * hour, 6.5, unit="pH", result_time=NOW),
    }
    for key, station in (("a", "air-one"), ("b", "river-two")):
        mine = [r for label, r in rows.items() if (label in ("o4", "o5")) == (key == "b")]
        store.write_batch([frame_record(key, station, mine, NOW)])
    ids = {"TA": air.thing_id, "TB": river.thing_id, "DA25": d1[0], "DA10": d2[0], "DBph": d3[0]}
    ids |= {"LA": air.location_id, "LB": river.location_id}
    with store.connect() as conn:
        for label, r in rows.items():
            query = select(observations.c.id).where(
                observations.c.datastream_id == r.datastream_id,
                observations.c.phenomenon_time_start == r.phenomenon_time_start,
            )
            ids["O" + label[1:]] = conn.execute(query).scalar_one()
        for label, entities in (("HA", air), ("HB", river)):
            query = select(historical_locations.c.id).where(
                historical_locations.c.thing_id == entities.thing_id
            )
            ids[label] = conn.execute(query).scalar_one()
    yield World(store, ids)
    store.close()


OBSERVATION_CASES = [
    ("result gt 50", "O2 O3"),
    ("result ge 40 and result lt 60", "O1"),
    ("result eq 40 or result eq 7.25 or result eq 1000", "O1 O4"),
    ("not (result gt 50)", "O1 O4 O5"),
    # Numeric results only here (tests/hub/sta/test_result_filter.py has the other types).
    ("result eq null", ""),
    ("result ne null", "O1 O2 O3 O4 O5"),
    ("result eq '40' or result eq '7.25'", "O1 O4"),  # numbers as text (ets-sta10)
    ("startswith(result, '6') or length(result) eq 4", "O2 O3 O4 O5"),
    ("result eq true or result eq false", ""),
    ("resultQuality eq 'suspect'", "O2"),
    ("resultQuality ne 'valid'", "O2"),
    ("resultTime eq null", "O3"),
    ("null ne resultTime", "O1 O2 O4 O5"),
    ("resultTime ge 2025-01-14T20:00:00Z", "O2 O4 O5"),
    ("resultTime le 2025-01-14T20:00:00+01:00", "O1"),
    ("2025-01-14T19:30:00Z lt phenomenonTime", "O2 O4 O5"),
    ("phenomenonTime lt 2025-01-14T19:30:00Z", "O1"),
    ("phenomenonTime le 2025-01-14T20:00:00Z", "O1 O2 O3"),
    ("phenomenonTime eq 2025-01-14T19:00:00Z", "O1"),
    ("phenomenonTime eq 2025-01-14T19:00:00Z/2025-01-14T20:00:00Z", "O3"),
    ("phenomenonTime gt now() sub duration'P1D'", "O4"),
    ("phenomenonTime gt 2025-01-14T18:00:00Z add duration'PT1H30M'", "O2 O4 O5"),
    ("parameters/received/unit eq 'ug/m3'", "O1 O3"),
    ("parameters/received/value eq '40'", "O1"),
    ("parameters/received/value eq 40", ""),  # a JSON string never equals a number
    ("parameters/received/nothing eq null", "O1 O2 O3 O4 O5"),
    ("Datastream/Thing/properties/station_id eq 'river-two'", "O4 O5"),
    ("Datastream/Thing/properties/kind eq 'air' and result gt 50", "O2 O3"),
    ("Datastream/name eq 'Air One: PM10 (mean)'", "O3"),
    ("Datastream/unitOfMeasurement/symbol eq 'pH'", "O4 O5"),
    ("FeatureOfInterest/name eq 'River 50% gauge'", "O4 O5"),
    ("Datastream/Thing/name eq FeatureOfInterest/name", None),  # 501: two related entities
    ("result mul 2 gt 100", "O2 O3"),
    ("result add 1 le 8.25", "O4 O5"),
    ("result div 2 eq 20", "O1"),
    ("result div (result sub 40) gt 0", "O2 O3"),  # O1 divides by zero: no match
    ("-result lt -70", "O3"),
    ("result mod 2 eq 0.5", "O3 O5"),  # C fmod on both backends (SQLite's % truncates)
    ("result mod 0.5 eq 0.25 or -result mod 3 eq -1.25", "O4"),
    ("round(result) eq 81", "O3"),  # half away from zero, also on PostgreSQL
    ("floor(result) eq 7 and ceiling(result) eq 8", "O4"),
    ("floor(result sub 100.5) eq -61 and ceiling(result sub 100.5) eq -60", "O1"),
    ("year(phenomenonTime) eq 2025 and month(phenomenonTime) eq 1", "O1 O2 O3"),
    ("day(phenomenonTime) eq 14 and minute(phenomenonTime) eq 0", "O1 O2 O3"),
    ("hour(resultTime) eq 20 and second(resultTime) eq 0", "O2"),
    ("year(now()) eq year(resultTime)", "O4 O5"),
]

THING_CASES = [
    ("name eq 'Air One'", "TA"),
    ("properties/kind eq 'air'", "TA"),
    ("properties/height gt 10", "TA"),
    ("properties/height lt 10.0", "TB"),
    ("properties/automatic eq true", "TA"),
    ("properties/automatic eq false", ""),
    ("properties/missing eq null", "TA TB"),
    ("properties/height ne null", "TA TB"),
    ("properties/note eq null", "TA TB"),  # JSON null and a missing member alike
    ("properties/note ne null or properties/kind eq null", ""),
    ("startswith(name, 'Air') eq true", "TA"),
    ("substringof('One', name) ne true", "TB"),
    ("id eq 0 or false", ""),
    ("true", "TA TB"),
    ("3 mod 2 eq 1 and -7 mod 2 eq -1 and 3 mul 2 div 4 eq 1.5", "TA TB"),
    ("(length(name) add 1) mod 3 eq 2", "TA"),
    ("Datastreams/name eq 'River 50% gauge: pH (instant)'", "TB"),
    ("Datastreams/Observations/result gt 70", "TA"),  # any
    ("not Datastreams/Observations/result gt 70", "TB"),
    ("Locations/properties/station_id eq 'air-one'", "TA"),
    ("HistoricalLocations/Thing/name eq 'Air One'", "TA"),
    ("substringof('50%', name)", "TB"),
    ("substringof('%', name) or substringof('_', name) or substringof('\\', name)", "TB"),
    ("substringof('5_%', name)", ""),
    ("startswith(name, 'Air')", "TA"),
    ("startswith(name, 'air')", ""),  # case-sensitive on both backends
    ("endswith(name, 'gauge')", "TB"),
    ("endswith(name, '%')", ""),
    ("length(name) eq 7", "TA"),
    ("indexof(name, 'One') eq 4", "TA"),
    ("indexof(name, 'nope') eq -1", "TA TB"),
    ("substring(name, 4) eq 'One'", "TA"),
    ("substring(name, 0, 3) eq 'Riv'", "TB"),
    ("tolower(name) eq 'air one' and toupper(name) eq 'AIR ONE'", "TA"),
    ("trim(concat(' ', name)) eq 'Air One'", "TA"),
    ("concat(name, '!') eq 'Air One!'", "TA"),
    ("length('abc') eq 3", "TA TB"),
    ("indexof(properties/kind, 'at') eq 1", "TB"),
    # Injection attempts: plain strings, bound as parameters.
    ("name eq 'x'' or 1 eq 1'", ""),
    ("name eq ';DROP TABLE things--'", ""),
    ("properties/kind eq 'air'' OR ''1''=''1'", ""),
    ("substringof(''');DELETE FROM things;--', name)", ""),
]

OTHER_CASES = [
    (DATASTREAM, "Thing/name eq 'Air One'", "DA25 DA10"),
    (DATASTREAM, "unitOfMeasurement/symbol eq 'µg/m³'", "DA25 DA10"),
    (DATASTREAM, "ObservedProperty/name eq 'pH'", "DBph"),
    (DATASTREAM, "Observations/resultQuality eq 'suspect'", "DA25"),
    (DATASTREAM, "properties/aggregation eq 'instant'", "DBph"),
    (LOCATION, "Things/name eq 'Air One'", "LA"),
    (LOCATION, "encodingType eq 'application/geo+json'", "LA LB"),
    (HISTORICAL_LOCATION, "Thing/name eq 'River 50% gauge'", "HB"),
]


def _sql_texts(expr: ColumnElement[Any]) -> list[str]:
    return [str(expr.compile(dialect=d)) for d in (sqlite.dialect(), postgresql.dialect())]


def _client_strings(text: str) -> list[str]:
    tree = parse_filter(text)
    return [
        n.value
        for n in walk(tree)
        if isinstance(n, Literal) and n.kind is LiteralKind.STRING and isinstance(n.value, str)
    ]


def _check(world: World, entity: EntityType, text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(CompileError) as info:
            world.select(entity, text)
        assert info.value.status == 501, text
        return
    assert world.select(entity, text) == set(expected.split()), text
    # Every client string is a bound parameter: none appears in the SQL text.
    for sql in _sql_texts(compile_filter(parse_filter(text), entity)):
        for value in _client_strings(text):
            if len(value) >= 2:
                assert value not in sql, (text, sql)


def test_observation_filters(world: World) -> None:
    for text, expected in OBSERVATION_CASES:
        _check(world, OBSERVATION, text, expected)


def test_thing_filters_and_injection(world: World) -> None:
    for text, expected in THING_CASES:
        _check(world, THING, text, expected)
    with world.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(things)).scalar_one() == 2


def test_other_entity_filters(world: World) -> None:
    for entity, text, expected in OTHER_CASES:
        _check(world, entity, text, expected)


def test_orderby(world: World) -> None:
    assert world.order(THING, "properties/height") == ["TB", "TA"]
    assert world.order(THING, "properties/height desc") == ["TA", "TB"]
    assert world.order(THING, "properties/automatic, name desc") == ["TA", "TB"]
    assert world.order(OBSERVATION, "result desc") == ["O3", "O2", "O1", "O4", "O5"]
    assert world.order(OBSERVATION, "resultTime, result") == ["O1", "O2", "O5", "O4", "O3"]
    assert world.order(OBSERVATION, "Datastream/Thing/properties/station_id desc, result") == [
        "O5",
        "O4",
        "O1",
        "O2",
        "O3",
    ]
    assert world.order(OBSERVATION, "phenomenonTime desc, id") == ["O4", "O5", "O2", "O1", "O3"]
    assert world.order(OBSERVATION, "result mul -1") == ["O3", "O2", "O1", "O4", "O5"]


@pytest.mark.parametrize(
    ("entity", "text", "status"),
    [
        (LOCATION, "st_within(location, geography'SRID=3857;POINT (1 2)')", 501),
        (DATASTREAM, "st_within(observedArea, geography'POINT (1 2)')", 501),
        (LOCATION, "st_within(location, geography'POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))')", 400),
        (LOCATION, "geo.distance(location, name) lt 1", 400),
        (LOCATION, "st_equals(properties/shape, location)", 400),
        (LOCATION, "location add 1 eq 2", 400),
        (LOCATION, "location eq 'x'", 400),
        (LOCATION, "tolower(location) eq 'x'", 400),
        (OBSERVATION, "during(phenomenonTime, 2025-01-01T00:00:00Z)", 400),
        (OBSERVATION, "before(result, 2025-01-01T00:00:00Z)", 400),
        (OBSERVATION, "before(parameters/at, 2025-01-01T00:00:00Z)", 501),
        (OBSERVATION, "resultTime mul duration'PT1H' gt now()", 400),
        (OBSERVATION, "resultTime add 1 gt now()", 400),
        (OBSERVATION, "parameters/at add duration'PT1H' gt now()", 501),
        (OBSERVATION, "maxdatetime() add duration'P1D' gt resultTime", 400),
        (OBSERVATION, "year(result) eq 2025", 400),
        (OBSERVATION, "hour(date(resultTime)) eq 1", 400),
        (OBSERVATION, "resultTime gt 2025-01-01", 400),
        (OBSERVATION, "MultiDatastream/phenomenonTime gt 2025-01-01T00:00:00Z", 501),
        (THING, "MultiDatastreams/resultTime gt 2025-01-01T00:00:00Z", 501),
        (DATASTREAM, "phenomenonTime gt 2025-01-01T00:00:00Z", 501),
        (THING, "nosuch eq 1", 400),
        (OBSERVATION, "Datastream/nosuch eq 1", 400),
        (THING, "properties eq 'x'", 400),
        (THING, "name eq 5", 400),
        (THING, "Datastreams eq 1", 400),
        (OBSERVATION, "result div 0 gt 1", 400),
        (OBSERVATION, "resultTime gt null", 400),
        (THING, "9223372036854775807 add 1 gt 0", 400),
        (OBSERVATION, "parameters/received/value eq 2025-01-01T00:00:00Z", 501),
        (THING, "name", 400),
    ],
)
def test_compile_errors(entity: EntityType, text: str, status: int) -> None:
    with pytest.raises(CompileError) as info:
        compile_filter(parse_filter(text), entity)
    assert info.value.status == status
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("entity", "text", "status"),
    [
        (THING, "Datastreams/name", 400),
        (THING, "properties", 400),
        (OBSERVATION, "resultQuality", 400),
        (THING, "MultiDatastreams/name", 400),
        (OBSERVATION, "MultiDatastream/phenomenonTime", 501),
        (THING, "nosuch", 400),
        (THING, "1", 400),
        (THING, "name eq 'x'", 400),
    ],
)
def test_orderby_errors(entity: EntityType, text: str, status: int) -> None:
    with pytest.raises(CompileError) as info:
        compile_orderby(parse_orderby(text), entity)
    assert info.value.status == status


def test_navigation_keeps_the_stream_index_usable() -> None:
    expr = compile_filter(
        parse_filter("Datastream/Thing/properties/station_id eq 'x'"), OBSERVATION
    )
    for sql in _sql_texts(expr):
        assert "observations.datastream_id IN (SELECT" in sql


def test_long_or_chain_compiles_without_deep_recursion() -> None:
    text = " or ".join(f"result eq {i}" for i in range(2000))
    expr = compile_filter(parse_filter(text, max_nodes=10_000, max_length=100_000), OBSERVATION)
    assert "OR" in _sql_texts(expr)[0]


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "name eq {}",
            "substringof({}, name)",
            "properties/kind eq {}",
            "endswith(name, {})",
            "Datastreams/name eq concat({}, 'x')",
        ]
    ),
)
def test_sql_text_does_not_depend_on_client_strings(value: str, template: str) -> None:
    """The SQL is the same text whatever string the client sends: every literal is bound."""

    def sql(literal: str) -> list[str]:
        text = template.format("'" + literal.replace("'", "''") + "'")
        return _sql_texts(compile_filter(parse_filter(text), THING))

    assert sql(value) == sql("placeholder")
