"""Property-based tests: any text gives an AST or a FilterError (never another exception),
and printing any AST with to_text then parsing it gives the same AST back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hub.sta.filter import (
    FUNCTIONS,
    Arithmetic,
    ArithmeticOp,
    Call,
    Compare,
    CompareOp,
    FilterError,
    Geometry,
    Literal,
    LiteralKind,
    Logical,
    LogicalOp,
    Negate,
    Node,
    Not,
    OrderBy,
    Property,
    node_count,
    orderby_text,
    parse_filter,
    parse_orderby,
    to_text,
)
from hub.sta.filter.ast import INT64_MAX, INT64_MIN
from hub.sta.filter.functions import static_type
from hub.sta.filter.wkt import parse_wkt

OPERATORS = (*CompareOp, *LogicalOp, *ArithmeticOp, "not")

SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# Generating trees dominates the run time; fewer examples keep the file under a few seconds.
TREE_SETTINGS = settings(SETTINGS, max_examples=120)

# ---------------------------------------------------------------- (a) no crash on any text

VOCABULARY = [
    *OPERATORS,
    *("asc", "desc", "true", "false", "null", "EQ", "And", "NOT", "True"),
    *(f"{name}(" for name in FUNCTIONS),
    "eval(",
    "x/any(",
    "name",
    "result",
    "properties/station_id",
    "Datastream/Thing/properties/a.b",
    "properties/a'b",
    "properties/../x",
    "a-b",
    "(",
    ")",
    ",",
    "-",
    "--",
    "'",
    "''",
    "'x'",
    "'O''Brien'",
    "'x'' or 1 eq 1'",
    "';DROP TABLE--",
    "\\",
    "\u2019",
    "\u2018",
    "\uff07",
    '"',
    "0",
    "-1",
    "1.5",
    "1e3",
    "1e999",
    "99999999999999999999",
    "2025-01-15",
    "2025-01-15T10:00:00Z",
    "2025-01-15T10:00:00.5+05:00",
    "2025-01-15T10:00:00",
    "2025-13-45",
    "10:30",
    "2025-01-01T00:00:00Z/2025-02-01T00:00:00Z",
    "duration'P1D'",
    "duration'P1Y'",
    "duration'",
    "geography'POINT (30 10)'",
    "geography'POLYGON ((71 51, 72 51, 72 52, 71 52, 71 51))'",
    "geometry'SRID=4326;POINT(1 2)'",
    "geography'POINT (1'",
    "geography'CIRCLE (1 2)'",
    "'T*F**F***'",
    ";",
    "$",
    "\x00",
    "\u00a0",
    "é",
]


def assert_parses_or_filter_error(text: str) -> None:
    for limits in ({}, {"max_depth": 3, "max_nodes": 8, "max_length": 64}):
        try:
            assert isinstance(
                parse_filter(text, **limits),
                Literal
                | Geometry
                | Property
                | Compare
                | Logical
                | Not
                | Arithmetic
                | Negate
                | Call,
            )
        except FilterError as error:
            assert 0 <= error.position <= len(text)
            assert "\n" not in str(error)
        try:
            assert all(isinstance(item, OrderBy) for item in parse_orderby(text, **limits))
        except FilterError as error:
            assert 0 <= error.position <= len(text)


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    assert_parses_or_filter_error(text)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(["", " ", " ", "  ", "\t"])),
        max_size=30,
    )
)
def test_token_soup_never_crashes(parts: list[tuple[str, str]]) -> None:
    assert_parses_or_filter_error("".join(word + gap for word, gap in parts))


# ---------------------------------------------------------------- (b) round trip

RESERVED = {*OPERATORS, "true", "false", "null"}
SEGMENT = st.from_regex(r"[A-Za-z0-9_]{1,8}(?:[.-][A-Za-z0-9_]{1,4})?", fullmatch=True)
FIRST_SEGMENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(?:\.[A-Za-z0-9_]{1,4})?", fullmatch=True)

properties = st.builds(
    lambda first, rest: Property((first, *rest)),
    FIRST_SEGMENT.filter(lambda s: s not in RESERVED),
    st.lists(SEGMENT, max_size=3),
)


@st.composite
def aware_datetimes(draw: st.DrawFn) -> datetime:
    naive = draw(st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)))
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    return naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))


def intervals(pair: tuple[datetime, datetime]) -> Literal:
    return Literal((min(pair), max(pair)), LiteralKind.INTERVAL)


LITERALS: dict[LiteralKind, st.SearchStrategy[Literal]] = {
    LiteralKind.STRING: st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20
    ).map(lambda v: Literal(v, LiteralKind.STRING)),
    LiteralKind.INTEGER: st.integers(INT64_MIN, INT64_MAX).map(
        lambda v: Literal(v, LiteralKind.INTEGER)
    ),
    LiteralKind.DECIMAL: st.floats(allow_nan=False, allow_infinity=False).map(
        lambda v: Literal(v, LiteralKind.DECIMAL)
    ),
    LiteralKind.BOOLEAN: st.booleans().map(lambda v: Literal(v, LiteralKind.BOOLEAN)),
    LiteralKind.NULL: st.just(Literal(None, LiteralKind.NULL)),
    LiteralKind.DATETIME: aware_datetimes().map(lambda v: Literal(v, LiteralKind.DATETIME)),
    LiteralKind.DATE: st.dates().map(lambda v: Literal(v, LiteralKind.DATE)),
    LiteralKind.TIME: st.times().map(lambda v: Literal(v, LiteralKind.TIME)),
    LiteralKind.DURATION: st.timedeltas(timedelta(days=-(10**6)), timedelta(days=10**6)).map(
        lambda v: Literal(v, LiteralKind.DURATION)
    ),
    LiteralKind.INTERVAL: st.tuples(aware_datetimes(), aware_datetimes()).map(intervals),
}

coordinates = st.one_of(
    st.integers(-180, 180).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
)


@st.composite
def geometries(draw: st.DrawFn) -> Geometry:
    points = draw(st.lists(st.tuples(coordinates, coordinates), min_size=3, max_size=6))
    text = ", ".join(f"{x} {y}" for x, y in points)
    first = f"{points[0][0]} {points[0][1]}"
    kind = draw(st.sampled_from(["POINT", "LINESTRING", "POLYGON", "MULTIPOINT"]))
    body = {
        "POINT": f"POINT ({first})",
        "LINESTRING": f"LINESTRING ({text})",
        "POLYGON": f"POLYGON (({text}, {first}))",
        "MULTIPOINT": f"MULTIPOINT ({text})",
    }[kind]
    srid = draw(st.none() | st.integers(0, 999_999_999))
    if srid is not None:
        body = f"SRID={srid};{body}"
    wkt, geometry_type, parsed_srid = parse_wkt(body, 0)
    return Geometry(wkt, geometry_type, geography=draw(st.booleans()), srid=parsed_srid)


leaves = st.one_of(properties, geometries(), *LITERALS.values())


def literal_for(accepts: frozenset[object]) -> st.SearchStrategy[Node]:
    kinds = [kind for kind in LITERALS if kind.value in accepts]
    options: list[st.SearchStrategy[Node]] = [LITERALS[kind] for kind in kinds]
    if "geometry" in accepts:
        options.append(geometries())
    return st.one_of(properties, *options)


@st.composite
def calls(draw: st.DrawFn, children: st.SearchStrategy[Node]) -> Node:
    spec = FUNCTIONS[draw(st.sampled_from(sorted(FUNCTIONS)))]
    count = draw(st.integers(spec.min_args, spec.max_args))
    args: list[Node] = []
    for accepts in spec.params[:count]:
        arg = draw(st.one_of(children, literal_for(frozenset(t.value for t in accepts))))
        found = static_type(arg)
        args.append(arg if found is None or found in accepts else Property(("x",)))
    if spec.name == "st_relate":
        pattern = draw(st.from_regex(r"[TF*012]{9}", fullmatch=True))
        args[2] = Literal(pattern, LiteralKind.STRING)
    return Call(spec.name, tuple(args))


def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Compare, st.sampled_from(CompareOp), children, children),
        st.builds(Logical, st.sampled_from(LogicalOp), children, children),
        st.builds(Arithmetic, st.sampled_from(ArithmeticOp), children, children),
        st.builds(Not, children),
        st.builds(Negate, children),
        calls(children),
    )


trees = st.recursive(leaves, extend, max_leaves=20)


@TREE_SETTINGS
@given(trees)
def test_to_text_round_trip(tree: Node) -> None:
    assume(node_count(tree) <= 200)
    text = to_text(tree)
    assert parse_filter(text, max_length=1_000_000, max_depth=100, max_nodes=10_000) == tree
    # The canonical text is a fixed point.
    again = to_text(parse_filter(text, max_length=1_000_000, max_depth=100, max_nodes=10_000))
    assert again == text


@settings(TREE_SETTINGS, max_examples=40)
@given(st.lists(st.tuples(trees, st.booleans()), min_size=1, max_size=3))
def test_orderby_round_trip(items: list[tuple[Node, bool]]) -> None:
    assume(sum(node_count(tree) for tree, _ in items) <= 200)
    orderby = tuple(OrderBy(tree, descending) for tree, descending in items)
    text = orderby_text(orderby)
    assert parse_orderby(text, max_length=1_000_000, max_depth=100, max_nodes=10_000) == orderby
