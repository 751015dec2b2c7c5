"""Hostile ``$filter`` input: refused with a 4xx, and no client literal ever reaches SQL text.

Two guarantees (reliability.md §1, issue 3 "Tests"):

* a corpus of hostile filters (quotes, comment markers, ``;``, unicode look-alikes, NUL, unknown
  functions and properties, deep nesting, huge literals, huge or malformed WKT) is refused by
  the parser or the compiler with a 400-class error, and by the HTTP API with a 4xx JSON body;
* valid filters carrying hostile literals run on both stores while a SQLAlchemy
  ``before_cursor_execute`` listener records every statement: no statement text contains a
  client literal, and every literal arrives as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.sta.compiler import CompileError, compile_filter
from hub.sta.entities import LOCATION, OBSERVATION, SENSOR, THING, EntityType
from hub.sta.filter import FilterError, parse_filter
from hub.store import Store
from hub.store.schema import locations, observations, things
from hub.web import create_app
from tests.hub.sta.conftest import frame_record, observation_row, station_record

HUGE_POLYGON = (
    "geography'POLYGON (("
    + ", ".join(f"{i % 90}.{i:05d} {i % 45}.5" for i in range(20_000))
    + ", 0.00000 0.5))'"
)

HOSTILE: list[tuple[EntityType, str]] = [
    # Quotes and string breaking.
    (THING, "name eq 'x"),
    (THING, "name eq x'"),
    (THING, "name eq 'a''"),
    (THING, 'name eq "x"'),
    (THING, "name eq \u2019x\u2019"),
    (THING, "name eq 'x' or 'a' eq 'a"),
    (THING, "name eq 'x'' or 1 eq 1"),
    (THING, "name eq \\'x\\'"),
    # Comment markers and statement separators outside strings.
    (THING, "name eq 'x' --"),
    (THING, "name eq 'x' -- and 1 eq 1"),
    (THING, "name eq 'x' /* c */"),
    (THING, "name eq 'x' #"),
    (THING, "id eq 1;"),
    (THING, "id eq 1; DROP TABLE things"),
    (THING, "; DELETE FROM things"),
    (THING, "name eq 'x';DROP TABLE things--"),
    (THING, "1 eq 1 UNION SELECT password FROM users"),
    # Unicode: look-alike letters, invisible characters, full-width digits, non-ASCII paths.
    (THING, "n\u0430me eq 'x'"),
    (THING, "name eq 'x'\u200b"),
    (THING, "id eq \uff11"),
    (THING, "properties/\u043a\u043b\u044e\u0447 eq 1"),
    (THING, "name\u00a0eq 'x'"),
    # NUL and lone surrogates.
    (THING, "name eq 'a\x00b'"),
    (THING, "name\x00 eq 'x'"),
    (THING, "name eq 'a\ud800b'"),
    # Unknown or mis-cased functions.
    (THING, "sleep(10) eq 0"),
    (THING, "pg_sleep(5) eq 1"),
    (THING, "load_extension('x') eq 1"),
    (LOCATION, "geo.eval(location)"),
    (LOCATION, "ST_Within(location, location)"),
    (THING, "substringof('a', name) or exec('x')"),
    (THING, "Datastreams/any(d: d/name eq 'x')"),
    # Unknown properties, including real columns the model does not expose.
    (THING, "nosuch eq 1"),
    (THING, "station_id eq 1"),
    (SENSOR, "key eq 'x'"),
    (OBSERVATION, "frame_id eq 1"),
    (THING, "Datastreams/nosuch eq 1"),
    (THING, "Things/name eq 'x'"),
    (THING, "properties/a'b eq 1"),
    (THING, "properties/../x eq 1"),
    (THING, "properties/a//b eq 1"),
    (THING, "Locations(1)/name eq 'x'"),
    (THING, "name/x eq 1"),
    # Type confusion.
    (THING, "name eq 1"),
    (THING, "id eq 'x'"),
    (THING, "name"),
    (THING, "'x'"),
    # Deep nesting.
    (THING, "(" * 200 + "true" + ")" * 200),
    (THING, "not " * 200 + "true"),
    (THING, "-" * 500 + "1 eq 1"),
    (THING, "tolower(" * 120 + "name" + ")" * 120 + " eq 'x'"),
    (THING, " add ".join(["id"] * 600) + " eq 1"),
    # Huge literals.
    (THING, "name eq '" + "a" * 100_000 + "'"),
    (THING, "id eq " + "9" * 50),
    (OBSERVATION, "result eq 1e999"),
    (OBSERVATION, "phenomenonTime gt 99999-01-01T00:00:00Z"),
    (OBSERVATION, "phenomenonTime gt duration'P99999999999D'"),
    # Huge and malformed WKT.
    (LOCATION, f"st_within(location, {HUGE_POLYGON})"),
    (LOCATION, "st_within(location, geography'POLYGON ((0 0, 1 1))')"),
    (LOCATION, "st_within(location, geography'POLYGON ((0 0, 1 0, 1 1, 0 1))')"),
    (LOCATION, "st_within(location, geography'POINT (1 2); DROP TABLE locations')"),
    (LOCATION, "st_within(location, geography'POINT (1 2)'' or ''1''=''1')"),
    (LOCATION, "st_within(location, geography'POINT (1e999 0)')"),
    (LOCATION, "st_within(location, geography'POINT (1 2 3 4)')"),
    (LOCATION, "st_within(location, geography'CIRCULARSTRING (0 0, 1 1, 2 0)')"),
    (LOCATION, "st_within(location, geography'SRID=4326;SRID=4326;POINT (1 2)')"),
    (LOCATION, "st_within(location, geography'POINT (1 2)/*')"),
    (LOCATION, "st_within(location, geography'POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))')"),
    (LOCATION, "st_within(location, 'POINT (1 2)')"),
    (LOCATION, "st_relate(location, location, 'T*F**F***'' OR 1=1--')"),
    (LOCATION, "st_relate(location, location, name)"),
    # Durations and times.
    (OBSERVATION, "phenomenonTime gt duration'P1Y'"),
    (OBSERVATION, "phenomenonTime gt duration'PT1H'' or 1 eq 1'"),
    (OBSERVATION, "phenomenonTime gt 2025-01-01T00:00:00Z'; --"),
    (OBSERVATION, "phenomenonTime gt 2025-13-01T00:00:00Z"),
    (OBSERVATION, "phenomenonTime gt 2025-01-01T00:00:00"),
]


def refusal(entity: EntityType, text: str) -> Exception:
    """The error compiling ``text`` raises; fails the test when it compiles."""
    try:
        compile_filter(parse_filter(text), entity)
    except (FilterError, CompileError) as exc:
        return exc
    raise AssertionError(f"accepted: {text[:80]!r}")


@pytest.mark.parametrize(("entity", "text"), HOSTILE, ids=lambda v: repr(v)[:40])
def test_hostile_filters_are_refused_with_400(entity: EntityType, text: str) -> None:
    error = refusal(entity, text)
    if isinstance(error, CompileError):
        assert error.status == 400, (text[:80], error.message)
    message = str(error)
    assert "\n" not in message and len(message) < 400
    assert "\x00" not in message  # control characters come back escaped


def test_a_huge_polygon_is_refused_even_below_the_length_limit() -> None:
    with pytest.raises(FilterError, match="vertices"):
        parse_filter(f"st_within(location, {HUGE_POLYGON})", max_length=10**6)


# --- everything is bound: statements recorded on both stores ---------------------------------


@dataclass
class Recorder:
    """Every statement and parameter set the engine sends to the database."""

    statements: list[str] = field(default_factory=list)
    parameters: list[Any] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        self.statements.append(statement)
        self.parameters.append(params)

    def bound_values(self) -> list[Any]:
        values: list[Any] = []
        for params in self.parameters:
            if isinstance(params, dict):
                values.extend(params.values())
            elif isinstance(params, list | tuple):
                for item in params:
                    values.extend(item.values() if isinstance(item, dict) else [item])
        return values


@dataclass
class World:
    store: Store
    client: FlaskClient
    recorder: Recorder


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Store.open(store_url)
    store.import_stations([station_record("air-one", "air", "Air One", lon=71.43, lat=51.13)])
    mapping = MappingSet.load()
    pm25 = mapping.observed_property("pm2_5")
    assert pm25 is not None
    ds = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    store.write_batch([frame_record("a", "air-one", [observation_row(ds, t0, 12.5)], t0)])
    recorder = Recorder()
    event.listen(store.engine, "before_cursor_execute", recorder)
    app = create_app(store, HubMetrics(), lambda: True)
    yield World(store, app.test_client(), recorder)
    event.remove(store.engine, "before_cursor_execute", recorder)
    store.close()


# (entity set, filter, client literal texts that must never appear in a statement, and
# the values the driver must receive as parameters instead)
BOUND_CASES: list[tuple[str, str, list[str], list[Any]]] = [
    ("Things", "name eq 'x'' or 1 eq 1'", ["or 1 eq 1"], ["x' or 1 eq 1"]),
    ("Things", "name eq ';DROP TABLE things;--'", ["DROP TABLE"], [";DROP TABLE things;--"]),
    (
        "Things",
        "name eq '/* c */ union select 1'",
        ["/* c */", "union"],
        ["/* c */ union select 1"],
    ),
    ("Things", "substringof('\u0410\u0441\u0442\u0430\u043d\u0430 \u2603', name)", ["\u0410"], []),
    ("Things", "endswith(name, '%_\\')", ["%_\\"], []),
    ("Things", "properties/station_id eq 'air'' OR ''1''=''1'", ["OR '1'"], []),
    ("Things", "Datastreams/Observations/parameters/received/unit eq 'sneaky--'", ["sneaky"], []),
    ("Things", "concat(name, 'zzqq') eq 'Air Onezzqq'", ["zzqq"], []),
    ("Observations", "result gt 12.4375 and result lt 98765.5", ["12.4375", "98765"], []),
    ("Observations", "phenomenonTime gt 2024-12-31T12:34:56Z", ["2024-12-31", "12:34:56"], []),
    (
        "Observations",
        "during(phenomenonTime, 2025-02-28T00:00:00Z/2025-03-01T00:00:01Z)",
        ["2025-02-28", "00:00:01"],
        [],
    ),
    ("Observations", "resultTime sub phenomenonTime gt duration'PT1H30M'", ["5400000000"], []),
    ("Observations", "phenomenonTime gt now() sub duration'P3650D'", ["3650"], []),
    (
        "Locations",
        "st_within(location, geography'POLYGON ((71.125 51.0625, 71.875 51.0625,"
        " 71.875 51.4375, 71.125 51.4375, 71.125 51.0625))')",
        ["71.125", "51.0625", "POLYGON"],
        [],
    ),
    (
        "Locations",
        "st_relate(location, geography'POINT (71.43 51.13)', 'T*F**F***')",
        ["T*F**F***", "71.43"],
        ["T*F**F***"],
    ),
    ("Locations", "geo.distance(location, geography'POINT (71.4375 51.1875)') lt 0.3125", [], []),
    (
        "Observations",
        "st_within(FeatureOfInterest/feature, geography'POINT (71.43 51.13)')",
        ["71.43"],
        [],
    ),
]


def test_no_statement_carries_a_client_literal(world: World) -> None:
    for entity_set, text, forbidden, expected_params in BOUND_CASES:
        world.recorder.statements.clear()
        world.recorder.parameters.clear()
        response = world.client.get(f"/v1.1/{entity_set}?$count=true&$filter={quote(text)}")
        assert response.status_code == 200, (text, response.get_data(as_text=True))
        assert world.recorder.statements, text
        digits = [t for t in text.replace("(", " ").replace(",", " ").split() if t[:1].isdigit()]
        for statement in world.recorder.statements:
            for literal in [*forbidden, *(d for d in digits if len(d) >= 4)]:
                assert literal not in statement, (text, literal, statement)
        bound = world.recorder.bound_values()
        for value in expected_params:
            assert value in bound, (text, value, bound)
    with world.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(things)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(locations)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(observations)).scalar_one() == 1


def test_hostile_filters_answer_4xx_json(world: World) -> None:
    for entity, text in HOSTILE:
        if len(text) > 20_000:
            continue  # the request-size cap (414) answers before the filter is read
        if any("\ud800" <= char <= "\udfff" for char in text):
            continue  # a lone surrogate cannot be sent as UTF-8 in a URL
        response = world.client.get(f"/v1.1/{entity.set_name}?$filter={quote(text)}")
        assert 400 <= response.status_code < 500, (text[:80], response.status_code)
        body = response.get_json()
        assert body["code"] == response.status_code and "\n" not in body["message"]
    with world.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(things)).scalar_one() == 1


# --- the SQL text does not depend on literal values -------------------------------------------

_COORD = st.floats(min_value=-180, max_value=180, allow_nan=False, allow_infinity=False)
_MOMENT = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _sql(entity: EntityType, text: str) -> list[str]:
    expr = compile_filter(parse_filter(text), entity)
    return [str(expr.compile(dialect=d)) for d in (sqlite.dialect(), postgresql.dialect())]


@settings(max_examples=100, deadline=None)
@given(_COORD, _COORD, _COORD, st.sampled_from(["st_within", "st_intersects", "st_touches"]))
def test_sql_text_does_not_depend_on_geometry_literals(
    x: float, y: float, size: float, function: str
) -> None:
    def wkt(a: float, b: float, c: float) -> str:
        d = abs(c) + 1
        ring = f"{a} {b}, {a + d} {b}, {a + d} {b + d}, {a} {b + d}, {a} {b}"
        return f"{function}(location, geography'POLYGON (({ring}))')"

    assert _sql(LOCATION, wkt(x, y, size)) == _sql(LOCATION, wkt(0, 0, 1))


@settings(max_examples=100, deadline=None)
@given(_MOMENT, st.integers(min_value=0, max_value=10**6))
def test_sql_text_does_not_depend_on_times_or_durations(moment: datetime, seconds: int) -> None:
    def text(when: datetime, span: int) -> str:
        stamp = when.isoformat().replace("+00:00", "Z")
        return f"resultTime sub duration'PT{span}S' gt {stamp} and before(phenomenonTime, {stamp})"

    placeholder = datetime(2000, 1, 1, tzinfo=UTC)
    assert _sql(OBSERVATION, text(moment, seconds)) == _sql(OBSERVATION, text(placeholder, 0))
