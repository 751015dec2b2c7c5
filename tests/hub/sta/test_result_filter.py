"""``$filter`` on ``Observation/result`` of every type, on both stores.

The semantics are those of :mod:`hub.sta.compile.results`.

One world per backend, written through the API with a running pipeline (the write rig of
``tests/hub/sta/write``): a Datastream whose Observations have string, boolean, integer,
decimal, null, object, array and huge-integer results, one more row whose ``result_json`` is a
JSON ``null`` (written by the store directly: the API stores a null result as SQL NULL), and a
MultiDatastream Observation with an array result. Each filter's exact result set is checked
over HTTP, so both backends must agree; the SQL must not depend on client strings, and the
numeric case must still read the bare float column.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, create_engine, select, text
from sqlalchemy.dialects import postgresql, sqlite

from hub.sta.compiler import CompileError, compile_filter
from hub.sta.entities import OBSERVATION, EntityType
from hub.sta.filter import parse_filter
from hub.store.schema import observations
from tests.conftest import PG_ADMIN_URL, _pg_reachable, require
from tests.hub.sta.write.conftest import (
    LOCATION,
    MEASUREMENT,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    UNIT,
    Rig,
    datastream,
    make_rig,
)

COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
# label -> the result posted to the Datastream (one observation each, an hour apart).
RESULTS: dict[str, Any] = {
    "calm": "calm",
    "wind": "Calm wind",
    "s42": "42",
    "empty": "",
    "yes": True,
    "no": False,
    "n42": 42,  # an integer: in both columns
    "n40": 40.5,  # a float: the float column only, as device data
    "n3": 3,
    "n12": 12.0,
    "null": None,
    "object": {"wind": [1, 2], "calm": "calm"},
    "list": ["calm", 42],
    "huge": 2**60,  # beyond a float's exact integers: JSON only
}
TEXTUAL = "calm wind s42 empty n42 n40 n3 n12"
EVERYTHING = set(RESULTS) | {"jsonnull", "multi"}
NOT_NULL = " ".join(sorted(EVERYTHING - {"null", "jsonnull"}))

CASES: list[tuple[str, str]] = [
    # Strings.
    ("result eq 'calm'", "calm"),
    ("'calm' eq result", "calm"),
    ("result ne 'calm'", "wind s42 empty n42 n40 n3 n12"),
    ("not (result eq 'calm')", "wind s42 empty n42 n40 n3 n12"),
    ("result eq '42'", "s42 n42"),  # a string, and a number as text (ets-sta10)
    ("result eq '40.5'", "n40"),
    ("result eq ''", "empty"),
    ("result gt '3'", "calm wind s42 n42 n40"),  # as text: not 12 nor 3 nor ''
    ("result eq 'true' or result eq 'null' or result eq 'wind'", ""),
    ("result eq 'calm' or result eq true", "calm yes"),
    # String functions.
    ("substringof('alm', result)", "calm wind"),
    ("startswith(result, 'ca')", "calm"),
    ("startswith(result, '4')", "s42 n42 n40"),
    ("endswith(result, 'wind')", "wind"),
    ("length(result) eq 4", "calm n40"),
    ("length(result) eq 0", "empty"),
    ("length(result) ge 0", TEXTUAL),
    ("tolower(result) eq 'calm wind'", "wind"),
    ("toupper(result) eq 'CALM'", "calm"),
    ("trim(result) eq ''", "empty"),
    ("indexof(result, 'wind') eq 5", "wind"),
    ("substring(result, 1) eq 'alm'", "calm"),
    ("substring(result, 0, 1) eq '1'", "n12"),
    ("concat(result, '!') eq 'calm!'", "calm"),
    ("concat('x', result) eq 'x3'", "n3"),
    # Booleans.
    ("result eq true", "yes"),
    ("result eq false", "no"),
    ("result ne true", "no"),
    ("result lt true", "no"),
    ("result eq startswith('calm', 'c')", "yes"),
    # Numbers: the float column alone; other types never match and never fail.
    ("result eq 42", "n42"),
    ("result eq 42.0 or result eq 3", "n42 n3"),
    ("result gt 5", "n42 n40 n12"),  # not the huge integer (module docstring of .results)
    ("result lt 5", "n3"),
    ("result ne 42", "n40 n3 n12"),
    ("not (result gt 5)", "n3"),
    ("result eq 21.5 or result eq 1 or result eq 2", ""),  # array and object members
    ("result mul 2 eq 84", "n42"),
    ("round(result) eq 41", "n40"),
    ("result add 0 eq length(result)", ""),
    ("result eq parameters/nothing", ""),
    # Null.
    ("result eq null", "null jsonnull"),
    ("null eq result", "null jsonnull"),
    ("result ne null", NOT_NULL),
    ("not (result eq null)", NOT_NULL),
    ("tolower(result) eq null", "yes no null object list huge jsonnull multi"),
]


@dataclass
class World:
    rig: Rig
    ids: dict[str, int]  # observations by label
    entities: dict[str, int]  # the thing, the stream and the multi-stream

    def select(self, expression: str, entity_set: str = "Observations") -> set[str]:
        body = self.rig.get(f"{entity_set}?$filter={quote(expression)}&$select=id&$top=100")
        assert "@iot.nextLink" not in body
        found = {entity["@iot.id"] for entity in body["value"]}
        return {label for label, key in self.ids.items() if key in found}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The world of the module docstring, built once per backend (its tests only read)."""
    admin = None
    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('results') / 'hub.sqlite3'}"
    else:
        problem = _pg_reachable()
        require(problem is None, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
        name = f"auasu_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE " + name))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    rig, pipeline = make_rig(url, with_pipeline=True)
    try:
        yield World(rig, *_build(rig))
    finally:
        if pipeline is not None:
            pipeline.stop()
        rig.store.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"))
            admin.dispose()


def _build(rig: Rig) -> tuple[dict[str, int], dict[str, int]]:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    sensor = rig.create("Sensors", SENSOR)
    prop = rig.create("ObservedProperties", OBSERVED_PROPERTY)
    links = {"Thing": {"@iot.id": thing}, "Sensor": {"@iot.id": sensor}}
    stream = rig.create("Datastreams", datastream(**links, ObservedProperty={"@iot.id": prop}))
    ids: dict[str, int] = {}
    for hour, (label, result) in enumerate(RESULTS.items()):
        body = {"phenomenonTime": f"2025-01-15T{hour:02d}:00:00Z", "result": result}
        ids[label] = rig.create(f"Datastreams({stream})/Observations", body)
    multi = rig.create(
        "MultiDatastreams",
        {
            "name": "Wind",
            "description": "Wind speed and direction",
            "unitOfMeasurements": [UNIT, UNIT],
            "observationType": COMPLEX,
            "multiObservationDataTypes": [MEASUREMENT] * 2,
            **links,
            "ObservedProperties": [{"@iot.id": prop}, {**OBSERVED_PROPERTY, "name": "Other"}],
        },
    )
    ids["multi"] = rig.create(
        f"MultiDatastreams({multi})/Observations",
        {"phenomenonTime": "2025-01-15T00:00:00Z", "result": [21.5, 2]},
    )
    with rig.store.engine.begin() as conn:
        row = conn.execute(select(observations).where(observations.c.id == ids["null"])).one()
        values = {**row._asdict(), "result_json": JSON.NULL}
        del values["id"]
        moment = row.phenomenon_time_start.replace(year=2024)
        values["phenomenon_time_start"] = values["phenomenon_time_end"] = moment
        inserted = conn.execute(observations.insert().values(**values).returning(observations.c.id))
        ids["jsonnull"] = inserted.scalar_one()
        stored = conn.execute(
            select(observations.c.result, observations.c.result_json).where(
                observations.c.id.in_([ids["jsonnull"], ids["null"], ids["n42"], ids["huge"]])
            )
        ).all()
    # The shapes the module docstring describes: both columns NULL for a posted null, a JSON
    # null in the extra row, an integer in both columns, a huge one in the JSON column alone.
    assert sorted(stored, key=repr) == sorted(
        [(None, None), (None, None), (42.0, 42), (None, 2**60)], key=repr
    )
    return ids, {"thing": thing, "stream": stream, "multistream": multi}


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_result_filters(world: World, expression: str, expected: str) -> None:
    found = world.select(expression)
    assert found == set(expected.split()), expression


def test_through_navigation(world: World) -> None:
    ids = world.entities
    for expression, entity_set, expected in [
        ("Observations/result eq 'calm'", "Datastreams", {"stream"}),
        ("Observations/result eq true", "Datastreams", {"stream"}),
        ("Observations/result eq null", "Datastreams", {"stream"}),
        ("Observations/result eq null", "MultiDatastreams", set()),
        ("Observations/result ne null", "MultiDatastreams", {"multistream"}),
        ("Observations/result eq 'nothing'", "Datastreams", set()),
        ("Datastreams/Observations/result eq false", "Things", {"thing"}),
        ("Datastreams/Observations/result eq 'x'", "Things", set()),
    ]:
        body = world.rig.get(f"{entity_set}?$filter={quote(expression)}")
        found = {entity["@iot.id"] for entity in body["value"]}
        assert found == {ids[label] for label in expected}, (entity_set, expression)
    body = world.rig.get(f"Observations?$filter={quote("result eq 'calm'")}")
    assert [o["result"] for o in body["value"]] == ["calm"]
    count = world.rig.get(f"Observations?$count=true&$top=0&$filter={quote('result ne null')}")
    assert count["@iot.count"] == len(NOT_NULL.split())


@pytest.mark.parametrize(
    ("expression", "status"),
    [
        ("result eq 2025-01-15T00:00:00Z", 400),
        ("result eq 2025-01-15", 400),
        ("result eq duration'PT1H'", 400),
        ("result gt null", 400),
        ("result/0 eq 21.5", 400),
        ("result/wind eq 1", 400),
        ("st_equals(result, geography'POINT (1 2)')", 400),
        ("year(result) eq 2025", 400),
    ],
)
def test_refused_with_4xx(world: World, expression: str, status: int) -> None:
    response = world.rig.client.get(f"/v1.1/Observations?$filter={quote(expression)}")
    assert response.status_code == status, (expression, response.get_data(as_text=True))
    assert response.get_json()["code"] == status


# --- the SQL ----------------------------------------------------------------------------------

_STRING = re.compile(r"'(?:[^']|'')*'")


def _sql(expression: str, entity: EntityType = OBSERVATION) -> list[str]:
    expr = compile_filter(parse_filter(expression), entity)
    dialects = (sqlite.dialect(), postgresql.dialect())  # type: ignore[no-untyped-call]
    return [str(expr.compile(dialect=d)) for d in dialects]


@pytest.mark.parametrize("expression", [text for text, _ in CASES])
def test_client_strings_are_bound(expression: str) -> None:
    """The SQL text is the same whatever the string literals say."""
    assert _sql(expression) == _sql(_STRING.sub("'placeholder'", expression))


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30),
    st.sampled_from(
        [
            "result eq {}",
            "result ne {}",
            "substringof({}, result)",
            "startswith(result, {})",
            "tolower(result) eq {}",
            "result gt {} or result eq true",
        ]
    ),
)
def test_sql_text_does_not_depend_on_client_strings(value: str, template: str) -> None:
    def quoted(literal: str) -> str:
        return "'" + literal.replace("'", "''") + "'"

    assert _sql(template.format(quoted(value))) == _sql(template.format(quoted("placeholder")))


@pytest.mark.parametrize(
    "expression",
    ["result gt 5", "result eq 42 or result lt 3.5", "round(result) eq 41", "result mul 2 ge 1"],
)
def test_numeric_comparisons_read_the_float_column_only(expression: str) -> None:
    """No function around the column and no JSON: planner statistics and cost stay as they were."""
    for sql in _sql(expression):
        assert "result_json" not in sql and "coalesce" not in sql, sql


def test_numeric_comparison_keeps_the_stream_index(world: World) -> None:
    """``Datastreams(x)/Observations?$filter=result gt 5``: the stream's index finds the rows and
    the comparison is a plain filter on them (PostgreSQL told to avoid a scan of this tiny
    table, which it would otherwise prefer)."""
    where = compile_filter(parse_filter("result gt 5"), OBSERVATION)
    query = select(observations.c.id).where(
        observations.c.datastream_id == world.entities["stream"], where
    )
    with world.rig.store.connect() as conn:
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + compiled)).all()
            plan = " ".join(str(row[-1]) for row in rows)
            assert "SEARCH observations USING INDEX" in plan, plan
            assert "(datastream_id=?" in plan, plan
            return
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = conn.execute(text("EXPLAIN " + compiled)).all()
    plan = " ".join(str(row[0]) for row in rows)
    assert "Index Cond: (datastream_id = " in plan, plan
    assert "Filter: (result > " in plan, plan


def test_errors_are_compile_errors() -> None:
    with pytest.raises(CompileError) as info:
        compile_filter(parse_filter("result eq 2025-01-15"), OBSERVATION)
    assert info.value.status == 400 and "type mismatch" in info.value.message


def test_orderby_string_functions_of_results(world: World) -> None:
    """Ordering by the text of results: strings and numbers as text, the others last."""
    body = world.rig.get(f"Observations?$orderby={quote('tolower(result),id')}&$select=id")
    labels = {key: label for label, key in world.ids.items()}
    order = [labels[entity["@iot.id"]] for entity in body["value"]]
    assert order == [
        *("empty", "n12", "n3", "n40", "s42", "n42", "calm", "wind"),
        *("yes", "no", "null", "object", "list", "huge", "multi", "jsonnull"),
    ]
    numeric = world.rig.get("Observations?$orderby=result desc,id&$select=id&$filter=result gt 0")
    assert [labels[entity["@iot.id"]] for entity in numeric["value"]] == ["n42", "n40", "n12", "n3"]
