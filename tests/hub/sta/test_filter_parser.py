"""Parser tests: operators, precedence, spec examples, injection corpus, limits, errors."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, timedelta

import pytest

from hub.sta.filter import (
    Arithmetic,
    ArithmeticOp,
    Call,
    Compare,
    CompareOp,
    FilterError,
    FilterLimitError,
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
    depth,
    flatten_logical,
    node_count,
    orderby_text,
    parse_filter,
    parse_orderby,
    to_text,
    walk,
)


def p(*path: str) -> Property:
    return Property(path)


def i(value: int) -> Literal:
    return Literal(value, LiteralKind.INTEGER)


def s(value: str) -> Literal:
    return Literal(value, LiteralKind.STRING)


def eq(left: Node, right: Node) -> Compare:
    return Compare(CompareOp.EQ, left, right)


def fails(text: str, **limits: int) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse_filter(text, **limits)
    return info.value


@pytest.mark.parametrize("op", list(CompareOp))
def test_every_comparison_operator(op: CompareOp) -> None:
    assert parse_filter(f"result {op.value} 5") == Compare(op, p("result"), i(5))


@pytest.mark.parametrize("op", list(ArithmeticOp))
def test_every_arithmetic_operator(op: ArithmeticOp) -> None:
    expected = Compare(CompareOp.GT, Arithmetic(op, p("result"), i(2)), i(1))
    assert parse_filter(f"result {op.value} 2 gt 1") == expected


@pytest.mark.parametrize("op", list(LogicalOp))
def test_every_logical_operator(op: LogicalOp) -> None:
    expected = Logical(op, eq(p("a"), i(1)), eq(p("b"), i(2)))
    assert parse_filter(f"a eq 1 {op.value} b eq 2") == expected


def test_not_and_negation() -> None:
    assert parse_filter("not a eq 1") == Not(eq(p("a"), i(1)))
    assert parse_filter("not (a eq 1)") == Not(eq(p("a"), i(1)))
    assert parse_filter("not a") == Not(p("a"))
    assert parse_filter("not not a") == Not(Not(p("a")))
    assert parse_filter("-a gt 1") == Compare(CompareOp.GT, Negate(p("a")), i(1))
    assert parse_filter("-(1)") == Negate(i(1))
    assert parse_filter("- 1") == Negate(i(1))
    assert parse_filter("-1") == i(-1)


def test_precedence() -> None:
    a, b, c = (eq(p(n), i(v)) for n, v in (("a", 1), ("b", 2), ("c", 3)))
    assert parse_filter("a eq 1 or b eq 2 and c eq 3") == Logical(
        LogicalOp.OR, a, Logical(LogicalOp.AND, b, c)
    )
    assert parse_filter("(a eq 1 or b eq 2) and c eq 3") == Logical(
        LogicalOp.AND, Logical(LogicalOp.OR, a, b), c
    )
    assert parse_filter("not a eq 1 and b eq 2") == Logical(LogicalOp.AND, Not(a), b)
    add = ArithmeticOp.ADD
    mul = ArithmeticOp.MUL
    # mul binds tighter than add; both tighter than comparison.
    assert parse_filter("x add 2 mul 3 eq 7") == eq(
        Arithmetic(add, p("x"), Arithmetic(mul, i(2), i(3))), i(7)
    )
    # Left associativity.
    assert parse_filter("x sub 1 sub 2") == Arithmetic(
        ArithmeticOp.SUB, Arithmetic(ArithmeticOp.SUB, p("x"), i(1)), i(2)
    )
    # Relational binds tighter than equality.
    assert parse_filter("a gt 1 eq true") == eq(
        Compare(CompareOp.GT, p("a"), i(1)), Literal(True, LiteralKind.BOOLEAN)
    )
    # Unary minus binds tighter than mul.
    assert parse_filter("-x mul 2") == Arithmetic(mul, Negate(p("x")), i(2))


def test_spec_and_frost_examples() -> None:
    assert parse_filter("result gt 5") == Compare(CompareOp.GT, p("result"), i(5))
    assert parse_filter("Datastream/Thing/properties/station_id eq 'lihe-air-saryarka'") == eq(
        p("Datastream", "Thing", "properties", "station_id"), s("lihe-air-saryarka")
    )
    assert parse_filter("phenomenonTime gt now() sub duration'P1D'") == Compare(
        CompareOp.GT,
        p("phenomenonTime"),
        Arithmetic(
            ArithmeticOp.SUB, Call("now", ()), Literal(timedelta(days=1), LiteralKind.DURATION)
        ),
    )
    polygon = "POLYGON ((71 51, 72 51, 72 52, 71 52, 71 51))"
    assert parse_filter(f"st_within(location, geography'{polygon}')") == Call(
        "st_within", (p("location"), Geometry(polygon, "POLYGON"))
    )
    assert parse_filter("substringof('PM', name)") == Call("substringof", (s("PM"), p("name")))
    assert parse_filter("year(phenomenonTime) eq 2025") == eq(
        Call("year", (p("phenomenonTime"),)), i(2025)
    )
    assert parse_filter("properties/kind eq 'air' and not (result lt 0)") == Logical(
        LogicalOp.AND,
        eq(p("properties", "kind"), s("air")),
        Not(Compare(CompareOp.LT, p("result"), i(0))),
    )
    assert parse_filter("phenomenonTime ge 2025-01-15T10:00:00Z") == Compare(
        CompareOp.GE,
        p("phenomenonTime"),
        Literal(datetime(2025, 1, 15, 10, tzinfo=UTC), LiteralKind.DATETIME),
    )
    assert parse_filter("result gt '3'") == Compare(CompareOp.GT, p("result"), s("3"))


def test_string_escaping() -> None:
    assert parse_filter("name eq 'O''Brien'") == eq(p("name"), s("O'Brien"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("name eq 'x'' or 1 eq 1'", "x' or 1 eq 1"),
        ("name eq ''';DROP TABLE--'", "';DROP TABLE--"),
        ("name eq ';DROP TABLE Things;--'", ";DROP TABLE Things;--"),
        ("name eq 'a\\'", "a\\"),
        ("name eq '\\'' or ''1''=''1'", "\\' or '1'='1"),
        ("name eq '1'' OR ''1''=''1'", "1' OR '1'='1"),
        ("name eq '%_\\%'", "%_\\%"),
        ("name eq '\u2019 or 1 eq 1 \u2019'", "\u2019 or 1 eq 1 \u2019"),
    ],
)
def test_injection_corpus_stays_one_literal(text: str, value: str) -> None:
    tree = parse_filter(text)
    assert tree == eq(p("name"), s(value))
    assert node_count(tree) == 3


@pytest.mark.parametrize(
    "text",
    [
        "name eq 'x' or 1 eq 1'",
        "';DROP TABLE--",
        "name eq 'x';DROP TABLE Things--",
        "name eq \u2019x\u2019 or 1 eq 1",
        "name eq \uff07x\uff07",
        "name eq \\'x\\'",
        "properties/a'b eq 1",
        "properties/../x eq 1",
        "eval('1')",
        "name eq 'x' -- comment",
        "name eq 'x' /* c */",
        "Things(1 or 1 eq 1)",
    ],
)
def test_injection_corpus_is_rejected(text: str) -> None:
    fails(text)


def test_error_positions() -> None:
    error = fails("name eq 'a' and eval(x)")
    assert (str(error), error.position) == ("unknown function 'eval' at position 16", 16)
    error = fails("(name eq 'a' or (result gt 5)")
    assert error.position == 29
    assert str(error) == "expected ')' at position 29, found end of expression"
    error = fails("name eq 'unterminated")
    assert (str(error), error.position) == ("string literal not closed (starts at position 8)", 8)
    error = fails("result gt 5 result")
    assert error.position == 12
    assert "expected an operator or end of expression" in str(error)
    error = fails("result gt")
    assert error.position == 9
    error = fails("result GT 5")
    assert error.position == 7 and "keywords are lower-case" in str(error)
    error = fails("a eq (1, 2)")
    assert error.position == 7
    error = fails("substring(name)")
    assert error.position == 0 and "'substring' takes 2 to 3 arguments, got 1" in str(error)


@pytest.mark.parametrize("text", ["", " ", "\t\n", "()", "(", ")", ",", "eq", "not", "a eq"])
def test_empty_and_incomplete(text: str) -> None:
    fails(text)


def test_trailing_garbage() -> None:
    error = fails("a eq 1)")
    assert error.position == 6
    error = fails("a eq 1 ,")
    assert error.position == 7


def test_reserved_words_cannot_be_properties_but_path_segments_can() -> None:
    fails("and eq 1")
    assert parse_filter("properties/and eq 1") == eq(p("properties", "and"), i(1))
    assert parse_filter("asc eq 1") == eq(p("asc"), i(1))


def test_unsupported_lambda() -> None:
    error = fails("Datastreams/any(d: d/name eq 'x')")
    assert error.position == 12 and "not supported" in str(error)
    error = fails("Datastreams/foo(x)")
    assert error.position == 0 and "unknown function 'Datastreams/foo'" in str(error)


def test_not_in_operand_position_needs_parentheses() -> None:
    error = fails("a eq not b")
    assert error.position == 5
    assert parse_filter("a eq (not b)") == eq(p("a"), Not(p("b")))


def test_nested_parentheses_limit_is_fast() -> None:
    started = clock.perf_counter()
    text = "(" * 10_000 + "a" + ")" * 10_000
    error = fails(text, max_length=100_000)
    assert isinstance(error, FilterLimitError)
    assert error.position == 50
    for deep in ("not " * 3000 + "a", "-" * 5000 + "a", "tolower(" * 2000 + "a" + ")" * 2000):
        assert isinstance(fails(deep, max_length=100_000), FilterLimitError)
    assert clock.perf_counter() - started < 1.0


def test_depth_limit_boundary() -> None:
    assert depth(parse_filter("(" * 49 + "a" + ")" * 49)) == 1
    fails("(" * 51 + "a" + ")" * 51)
    # Operator chains deepen the tree without nesting in the text.
    chain = " add ".join(["a"] * 60)
    assert isinstance(fails(chain), FilterLimitError)
    assert parse_filter(" add ".join(["a"] * 50))
    with pytest.raises(ValueError):
        parse_filter("a", max_depth=1000)


def test_long_or_chain_is_shallow_but_node_limited() -> None:
    tree = parse_filter(" or ".join(f"id eq {n}" for n in range(200)))
    assert isinstance(tree, Logical)
    assert depth(tree) == 3
    assert len(flatten_logical(tree)) == 200
    assert node_count(tree) == 200 * 3 + 199
    error = fails(" or ".join(["a"] * 2000), max_length=100_000)
    assert isinstance(error, FilterLimitError)
    assert "more than 1000 nodes" in str(error)


def test_length_limit_is_checked_before_lexing() -> None:
    huge = "name eq '" + "x" * (1 << 20) + "'"
    error = fails(huge)
    assert isinstance(error, FilterLimitError)
    assert "limit is 8192" in str(error)
    # Unclosed: still the length error, never a lexer error on a megabyte of text.
    assert isinstance(fails("'" + "x" * (1 << 20)), FilterLimitError)
    big_substringof = "substringof('" + "a" * (1 << 20) + "', name)"
    assert isinstance(fails(big_substringof), FilterLimitError)
    assert parse_filter("a eq 'x'", max_length=8)


def test_walk_and_node_count() -> None:
    tree = parse_filter("a eq 1 and not contains_nothing eq concat('x', b)")
    kinds = [type(n).__name__ for n in walk(tree)]
    assert kinds == [
        "Logical",
        "Compare",
        "Property",
        "Literal",
        "Not",
        "Compare",
        "Property",
        "Call",
        "Literal",
        "Property",
    ]
    assert node_count(tree) == 10


def test_to_text_examples() -> None:
    cases = {
        "properties/kind eq 'air' and not (result lt 0)": (
            "properties/kind eq 'air' and not (result lt 0)"
        ),
        "(a eq 1 or b eq 2) and c eq 3": "(a eq 1 or b eq 2) and c eq 3",
        "a sub (b sub c)": "a sub (b sub c)",
        "(a sub b) sub c": "a sub b sub c",
        "--5": "-(-5)",
        "name eq 'O''Brien'": "name eq 'O''Brien'",
        "x gt now() sub duration'PT36H'": "x gt now() sub duration'P1DT12H'",
    }
    for text, canonical in cases.items():
        assert to_text(parse_filter(text)) == canonical


def test_orderby() -> None:
    assert parse_orderby("phenomenonTime") == (OrderBy(p("phenomenonTime")),)
    assert parse_orderby("phenomenonTime desc, id asc, year(x)") == (
        OrderBy(p("phenomenonTime"), descending=True),
        OrderBy(p("id")),
        OrderBy(Call("year", (p("x"),))),
    )
    items = parse_orderby("result mul -1 desc,properties/rank")
    assert orderby_text(items) == "result mul -1 desc, properties/rank"
    assert parse_orderby(orderby_text(items)) == items


def test_orderby_direction_in_any_case() -> None:
    # FROST's Python client sends upper-case directions.
    assert parse_orderby("a DESC") == parse_orderby("a desc")
    assert parse_orderby("a Asc") == parse_orderby("a asc")


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("a,", 2),
        (",a", 0),
        ("a,,b", 2),
        ("a desc desc", 7),
        ("a b", 2),
        ("a asc, eval(b)", 7),
    ],
)
def test_orderby_errors(text: str, position: int) -> None:
    with pytest.raises(FilterError) as info:
        parse_orderby(text)
    assert info.value.position == position


def test_orderby_limits() -> None:
    with pytest.raises(FilterLimitError):
        parse_orderby(", ".join(["a"] * 1001), max_length=100_000)
    with pytest.raises(FilterLimitError):
        parse_orderby("(" * 1000 + "a" + ")" * 1000)
