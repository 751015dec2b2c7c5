"""The CQL2 translator (:mod:`hub.ogcapi.cql`) and the hub's CQL2 parsers
(:mod:`hub.ogcapi.providers.cqlparse`): whitelisting, bound literals, refusals.

Results against real stores are in ``test_observations.py``/``test_stations.py``/
``test_latest.py``; here the SQL itself is checked, and hypothesis builds random filters to show
that no literal ever reaches the SQL text on either dialect.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from typing import Any

import pygeofilter.ast as ast
import pygeofilter.values as values
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from hub.ogcapi import cql
from hub.ogcapi.cql import CqlError, Kind, Queryable, SpatialTest
from hub.ogcapi.providers import cqlparse
from hub.store.types import UTCDateTime

TABLE = Table(
    "t",
    MetaData(),
    Column("id", Integer),
    Column("name", String),
    Column("value", Float),
    Column("at", UTCDateTime),
    Column("station_id", Integer),
)
QUERYABLES = {
    "name": Queryable(TABLE.c.name, Kind.STRING),
    "value": Queryable(TABLE.c.value, Kind.NUMBER),
    "count": Queryable(TABLE.c.id, Kind.INTEGER),
    "at": Queryable(TABLE.c.at, Kind.DATETIME),
}
DIALECTS: dict[str, Any] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}
SPATIAL_SEEN: list[SpatialTest] = []


def spatial(test: SpatialTest) -> Any:
    SPATIAL_SEEN.append(test)
    return TABLE.c.station_id.in_(bindparam(None, [1, 2], expanding=True))


def compile_filter(node: Any, dialect: str = "postgresql") -> tuple[str, dict[str, Any]]:
    condition = cql.translate(node, QUERYABLES, spatial, dialect=dialect)
    compiled = condition.compile(dialect=DIALECTS[dialect])
    return str(compiled), dict(compiled.params)


def sql_of(text: str, dialect: str = "postgresql") -> tuple[str, dict[str, Any]]:
    return compile_filter(cqlparse.parse_text(text), dialect)


# --- translation ----------------------------------------------------------------------------


def test_comparison_binds_its_literal() -> None:
    sql, params = sql_of("name = 'x'' OR 1=1 --'")
    assert "OR 1=1" not in sql and "'" not in sql
    assert list(params.values()) == ["x' OR 1=1 --"]


def test_mirrored_comparison() -> None:
    sql, params = sql_of("5 < value")
    assert sql.startswith("t.value >") and list(params.values()) == [5.0]


def test_logic_nests() -> None:
    sql, _ = sql_of("NOT (name = 'a' OR value > 1) AND count = 2")
    assert "NOT" in sql and " OR " in sql and " AND " in sql


def test_like_is_case_sensitive_on_both_stores() -> None:
    sql, params = sql_of("name LIKE 'a\\%b_c%'", "sqlite")
    assert "GLOB" in sql and list(params.values()) == ["a%b?c*"]
    sql, params = sql_of("name LIKE 'a\\%b_c%'", "postgresql")
    assert "LIKE" in sql and "ESCAPE" in sql and list(params.values()) == ["a\\%b_c%"]


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [("%", "*"), ("_", "?"), ("a*b", "a[*]b"), ("a?[", "a[?][[]"), ("\\_x", "_x"), ("\\\\", "\\")],
)
def test_like_to_glob(pattern: str, glob: str) -> None:
    assert cql.like_to_glob(pattern) == glob


def test_in_between_is_null() -> None:
    sql, params = sql_of("name IN ('a', 'b') AND value BETWEEN 1 AND 2 AND at IS NULL")
    assert "IN (__[POSTCOMPILE" in sql and "BETWEEN" in sql and "IS NULL" in sql
    assert ["a", "b"] in params.values() and 1.0 in params.values()


def test_date_literal_is_the_whole_day() -> None:
    sql, params = sql_of("at = DATE('2025-03-01')")
    assert "t.at >=" in sql and "t.at <" in sql
    assert sorted(params.values()) == [
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 3, 2, tzinfo=UTC),
    ]


def test_temporal_operators() -> None:
    sql, params = sql_of("T_INTERSECTS(at, INTERVAL('2025-01-01T00:00:00Z', '..'))")
    assert "t.at >=" in sql and "<" not in sql
    sql, _ = sql_of("T_BEFORE(at, INTERVAL('..', '2025-01-01T00:00:00Z'))")
    assert sql in ("false", "0")  # nothing is before an interval open at the start
    sql, params = sql_of("T_AFTER(at, DATE('2025-01-01'))")
    assert "t.at >=" in sql and list(params.values()) == [datetime(2025, 1, 2, tzinfo=UTC)]


def test_spatial_predicates_go_to_the_resolver() -> None:
    SPATIAL_SEEN.clear()
    sql_of("S_WITHIN(POINT(71 51), geometry)")
    sql_of("S_DWITHIN(geometry, POINT(71 51), 2, km)")
    sql_of("S_INTERSECTS(geometry, SRID=4326;POINT(51 71))")
    within, dwithin, intersects = SPATIAL_SEEN
    assert within.relation == "contains"  # the literal within the feature = feature contains
    assert dwithin.relation == "dwithin" and dwithin.distance_m == 2000.0
    # EPSG:4326 names latitude first: the point is 71°E, 51°N in CRS84.
    assert intersects.geometry.x == pytest.approx(71) and intersects.geometry.y == pytest.approx(51)


REFUSED = [
    "nope = 1",
    "geometry = 1",
    "name = 5",
    "value = 'x'",
    "count = 1.5",
    "value = TRUE",
    "name LIKE 5",
    "value LIKE 'a'",
    "lower(name) = 'a'",
    "value * 2 > 1",
    "name = value",
    "T_OVERLAPS(at, INTERVAL('2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z'))",
    "T_AFTER(name, TIMESTAMP('2025-01-01T00:00:00Z'))",
    "T_AFTER(at, INTERVAL('2025-01-02T00:00:00Z', '2025-01-01T00:00:00Z'))",
    "S_INTERSECTS(name, POINT(1 2))",
    "S_INTERSECTS(geometry, geometry)",
    "S_DWITHIN(geometry, POINT(71 51), -1, meters)",
    "S_CROSSES(geometry, SRID=3857;POINT(1 2))",
    "value BETWEEN 'a' AND 'b'",
    "name BETWEEN 'a' AND 'b'",
    "name LIKE 'ends in \\'",
    "at IN (DATE('2025-01-01'))",
    "1 = 1",
    "at = 'not a time'",
]


@pytest.mark.parametrize("text", REFUSED)
def test_refusals(text: str) -> None:
    node = cqlparse.parse_text(text)
    with pytest.raises(CqlError):
        compile_filter(node)


def test_refused_values() -> None:
    for node in (
        ast.Equal(ast.Attribute("name"), "a\x00b"),
        ast.Equal(ast.Attribute("count"), 2**70),
        ast.Equal(ast.Attribute("value"), float("nan")),
        ast.In(ast.Attribute("count"), list(range(cql.MAX_IN_VALUES + 1)), False),
        ast.Like(ast.Attribute("name"), "a%", True, "%", ".", "\\", False),
        "just a value",
        ast.Add(ast.Attribute("value"), 1),
    ):
        with pytest.raises(CqlError):
            compile_filter(node)


def test_size_limits() -> None:
    deep: Any = ast.Equal(ast.Attribute("count"), 1)
    for _ in range(cql.MAX_DEPTH + 5):
        deep = ast.Not(deep)
    with pytest.raises(CqlError):
        compile_filter(deep)
    wide: Any = ast.Equal(ast.Attribute("count"), 1)
    for i in range(cql.MAX_NODES):
        wide = ast.Or(wide, ast.Equal(ast.Attribute("count"), i))
    with pytest.raises((CqlError, RecursionError)):
        compile_filter(wide)


def test_conjuncts_and_properties() -> None:
    node = cqlparse.parse_text(
        "name = 'a' AND (value > 1 OR count = 2) AND S_INTERSECTS(geometry, POINT(1 2))"
    )
    parts = cql.conjuncts(node)
    assert [cql.properties_of(p) for p in parts] == [{"name"}, {"value", "count"}, {"geometry"}]


# --- the parsers ---------------------------------------------------------------------------------


def test_parser_additions() -> None:
    node = cqlparse.parse_text("T_INTERSECTS(at, INTERVAL('..', '2025-01-02'))")
    assert isinstance(node, cql.TimeIntersects)
    assert node.rhs == values.Interval(None, date(2025, 1, 2))
    node = cqlparse.parse_text("at T_INTERSECTS TIMESTAMP('2025-01-01T00:00:00Z')")
    assert isinstance(node, cql.TimeIntersects)
    node = cqlparse.parse_text("S_DWITHIN(geometry, POINT(1 2), 10)")
    assert isinstance(node, cql.DistanceWithin) and node.units == "meters"
    assert cqlparse.parse_text("name = 'it''s'").rhs == "it's"
    assert isinstance(cqlparse.parse_text("T_OVERLAPS(at, at)"), ast.TimeOverlaps)
    node = cqlparse.parse_json(
        '{"op": "t_intersects", "args": [{"property": "at"}, {"interval": ["..", "2025-01-01"]}]}'
    )
    assert isinstance(node, cql.TimeIntersects)
    node = cqlparse.parse_json(
        {
            "op": "s_dwithin",
            "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [1, 2]}, 5],
        }
    )
    assert isinstance(node, cql.DistanceWithin) and node.distance == 5


@pytest.mark.parametrize(
    "text",
    [
        "name = ",
        "S_DWITHIN(geometry, POINT(1 2))",
        "name = 'unterminated",
        "((name = 'a')",
        "INTERVAL('a', 'b')",
        "name = 'a' AND",
        "",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pygeoapi answers any parse error with 400
        cqlparse.parse_text(text)


def test_installed_into_pygeoapi() -> None:
    import pygeoapi.api.itemtypes as itemtypes

    from hub.ogcapi import crs
    from hub.ogcapi.providers import common  # noqa: F401 - importing installs the hooks

    assert itemtypes.parse_cql2_text is cqlparse.parse_text
    assert itemtypes.parse_cql2_json is cqlparse.parse_json
    assert itemtypes.transform_bbox is crs.hub_transform_bbox
    assert itemtypes.modify_pygeofilter is crs.hub_modify_pygeofilter


# --- hypothesis: random filters never put a literal into the SQL -------------------------------

MARK = "zq"  # every generated text literal starts with it, so it can be searched for

texts = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S", "Z", "M"], blacklist_characters="\x00"),
    min_size=0,
    max_size=12,
).map(lambda s: MARK + s + "'\";--")
numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(
    lambda f: round(f, 3) + 0.123
)
integers = st.integers(min_value=-(10**12), max_value=10**12).map(lambda i: i * 1000 + 777)
moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
points = st.tuples(st.floats(-179, 179, allow_nan=False), st.floats(-89, 89, allow_nan=False)).map(
    lambda xy: values.Geometry({"type": "Point", "coordinates": list(xy)})
)

COMPARISONS = [
    ast.Equal,
    ast.NotEqual,
    ast.LessThan,
    ast.LessEqual,
    ast.GreaterThan,
    ast.GreaterEqual,
]


def _literal_for(name: str) -> st.SearchStrategy[Any]:
    return {"name": texts, "value": numbers, "count": integers, "at": moments}[name]


@st.composite
def predicates(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(sorted(QUERYABLES)))
    attr = ast.Attribute(name)
    literal = _literal_for(name)
    kind = draw(st.sampled_from(["cmp", "in", "between", "null", "like", "time", "space"]))
    if kind == "cmp":
        op = draw(st.sampled_from(COMPARISONS))
        return op(attr, draw(literal)) if draw(st.booleans()) else op(draw(literal), attr)
    if kind == "in":
        return ast.In(attr, draw(st.lists(literal, min_size=1, max_size=4)), draw(st.booleans()))
    if kind == "between" and name != "name":
        return ast.Between(attr, draw(literal), draw(literal), draw(st.booleans()))
    if kind == "like":
        return ast.Like(
            ast.Attribute("name"), draw(texts), False, "%", ".", "\\", draw(st.booleans())
        )
    if kind == "time":
        op = draw(
            st.sampled_from([cql.TimeIntersects, ast.TimeBefore, ast.TimeAfter, ast.TimeDisjoint])
        )
        start, end = sorted([draw(moments), draw(moments)])
        rhs = draw(
            st.sampled_from([values.Interval(start, end), values.Interval(None, end), start])
        )
        return op(ast.Attribute("at"), rhs)
    if kind == "space":
        op = draw(st.sampled_from([ast.GeometryIntersects, ast.GeometryWithin]))
        return op(ast.Attribute("geometry"), draw(points))
    return ast.IsNull(attr, draw(st.booleans()))


filters = st.recursive(
    predicates(),
    lambda inner: st.one_of(
        st.builds(ast.And, inner, inner), st.builds(ast.Or, inner, inner), st.builds(ast.Not, inner)
    ),
    max_leaves=12,
)


def _literals(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, (str, float, int, datetime)) and not isinstance(node, bool):
        out.append(node)
    elif isinstance(node, values.Interval):
        _literals(node.start, out)
        _literals(node.end, out)
    elif isinstance(node, list):
        for item in node:
            _literals(item, out)
    elif isinstance(node, ast.Node) and not isinstance(node, ast.Attribute):
        for child in node.get_sub_nodes() or ():
            _literals(child, out)
        if isinstance(node, ast.Like):
            _literals(node.pattern, out)
        if isinstance(node, ast.Between):
            _literals(node.low, out)
            _literals(node.high, out)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filters, st.sampled_from(sorted(DIALECTS)))
def test_random_filters_bind_every_literal(node: Any, dialect: str) -> None:
    sql, params = compile_filter(node, dialect)
    assert MARK not in sql
    for literal in _literals(node, []):
        if isinstance(literal, str):
            assert literal not in sql
        elif isinstance(literal, datetime):
            assert literal.isoformat()[:10] not in sql
        else:
            assert repr(literal) not in sql and str(literal) not in sql
    # ... and every text parameter is one of the filter's literals (LIKE patterns become GLOBs
    # on SQLite; a branch that can never hold, T_BEFORE an open start, folds away with its own).
    flat: list[Any] = []
    for value in params.values():
        flat += value if isinstance(value, list) else [value]
    if dialect == "postgresql":
        assert {x for x in flat if isinstance(x, str)} <= set(_literals(node, []))


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.one_of(
            st.builds(
                ast.Attribute, st.sampled_from(["name", "value", "count", "at", "geometry", "x"])
            ),
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=5),
            moments,
            points,
            st.builds(values.Interval, st.none() | moments, st.none() | moments),
        ),
        lambda inner: st.one_of(
            st.builds(ast.Equal, inner, inner),
            st.builds(ast.LessThan, inner, inner),
            st.builds(ast.And, inner, inner),
            st.builds(ast.Not, inner),
            st.builds(ast.In, inner, st.lists(inner, max_size=3), st.booleans()),
            st.builds(ast.IsNull, inner, st.booleans()),
            st.builds(ast.Between, inner, inner, inner, st.booleans()),
            st.builds(
                ast.Like,
                inner,
                inner,
                st.booleans(),
                st.just("%"),
                st.just("."),
                st.just("\\"),
                st.booleans(),
            ),
            st.builds(cql.TimeIntersects, inner, inner),
            st.builds(ast.TimeAfter, inner, inner),
            st.builds(ast.GeometryIntersects, inner, inner),
            st.builds(cql.DistanceWithin, inner, inner, inner, st.sampled_from(["m", "km", "x"])),
            st.builds(ast.Add, inner, inner),
            st.builds(ast.Function, st.just("lower"), st.lists(inner, max_size=2)),
        ),
        max_leaves=8,
    ),
    st.sampled_from(sorted(DIALECTS)),
)
def test_any_tree_compiles_or_is_refused(node: Any, dialect: str) -> None:
    """Ill-typed, nonsensical trees: translated or refused with CqlError, nothing else."""
    with contextlib.suppress(CqlError):
        compile_filter(node, dialect)
