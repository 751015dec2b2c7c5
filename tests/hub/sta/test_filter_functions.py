"""The function whitelist: every function of the STA 1.1 table (plus temporal relations),
arity and literal-argument checks, st_relate's DE-9IM pattern."""

from __future__ import annotations

import pytest

from hub.sta.filter import (
    FUNCTIONS,
    Call,
    FilterError,
    Geometry,
    Literal,
    LiteralKind,
    Property,
    ValueType,
    parse_filter,
    to_text,
)

POINT = "geography'POINT (71.4 51.1)'"

# One valid call per function, with the expected arity range (sta.md §1.4 table).
VALID_CALLS: dict[str, tuple[str, int, int]] = {
    "substringof": ("substringof('PM', name)", 2, 2),
    "endswith": ("endswith(name, '2.5')", 2, 2),
    "startswith": ("startswith(name, 'PM')", 2, 2),
    "length": ("length(name) gt 3", 1, 1),
    "indexof": ("indexof(name, 'PM') eq 0", 2, 2),
    "substring": ("substring(name, 1) eq 'M2.5' or substring(name, 0, 2) eq 'PM'", 2, 3),
    "tolower": ("tolower(name) eq 'pm10'", 1, 1),
    "toupper": ("toupper(name) eq 'PM10'", 1, 1),
    "trim": ("trim(name) eq 'PM10'", 1, 1),
    "concat": ("concat(name, ' µg/m³') eq 'PM10 µg/m³'", 2, 2),
    "year": ("year(phenomenonTime) eq 2025", 1, 1),
    "month": ("month(phenomenonTime) eq 1", 1, 1),
    "day": ("day(2025-01-15) eq 15", 1, 1),
    "hour": ("hour(phenomenonTime) eq 10", 1, 1),
    "minute": ("minute(phenomenonTime) eq 30", 1, 1),
    "second": ("second(phenomenonTime) eq 0", 1, 1),
    "fractionalseconds": ("fractionalseconds(phenomenonTime) lt 0.5", 1, 1),
    "date": ("date(phenomenonTime) eq 2025-01-15", 1, 1),
    "time": ("time(phenomenonTime) ge 10:00:00", 1, 1),
    "totaloffsetminutes": ("totaloffsetminutes(phenomenonTime) eq 300", 1, 1),
    "now": ("phenomenonTime le now()", 0, 0),
    "mindatetime": ("phenomenonTime ge mindatetime()", 0, 0),
    "maxdatetime": ("phenomenonTime le maxdatetime()", 0, 0),
    "round": ("round(result) eq 32", 1, 1),
    "floor": ("floor(result) eq 32", 1, 1),
    "ceiling": ("ceiling(result) eq 33", 1, 1),
    "geo.distance": (f"geo.distance(location, {POINT}) lt 0.1", 2, 2),
    "geo.length": ("geo.length(location) gt 1", 1, 1),
    "geo.intersects": (f"geo.intersects(location, {POINT})", 2, 2),
    "st_equals": (f"st_equals(location, {POINT})", 2, 2),
    "st_disjoint": (f"st_disjoint(location, {POINT})", 2, 2),
    "st_touches": (f"st_touches(location, {POINT})", 2, 2),
    "st_within": (f"st_within({POINT}, location)", 2, 2),
    "st_overlaps": (f"st_overlaps(location, {POINT})", 2, 2),
    "st_crosses": (f"st_crosses(location, {POINT})", 2, 2),
    "st_intersects": (f"st_intersects(location, {POINT})", 2, 2),
    "st_contains": (f"st_contains(location, {POINT})", 2, 2),
    "st_relate": (f"st_relate(location, {POINT}, 'T*F**F***')", 3, 3),
    "before": ("before(phenomenonTime, 2025-01-15T00:00:00Z)", 2, 2),
    "after": ("after(phenomenonTime, 2025-01-15T00:00:00Z)", 2, 2),
    "meets": ("meets(validTime, 2025-01-15T00:00:00Z)", 2, 2),
    "during": ("during(phenomenonTime, 2025-01-01T00:00:00Z/2025-02-01T00:00:00Z)", 2, 2),
    "overlaps": ("overlaps(validTime, 2025-01-01T00:00:00Z/2025-02-01T00:00:00Z)", 2, 2),
    "starts": ("starts(validTime, 2025-01-01T00:00:00Z)", 2, 2),
    "finishes": ("finishes(validTime, 2025-02-01T00:00:00Z)", 2, 2),
}


def test_whitelist_is_exactly_the_table() -> None:
    assert set(FUNCTIONS) == set(VALID_CALLS)


@pytest.mark.parametrize("name", sorted(VALID_CALLS))
def test_every_function_parses(name: str) -> None:
    text, min_args, max_args = VALID_CALLS[name]
    spec = FUNCTIONS[name]
    assert (spec.min_args, spec.max_args) == (min_args, max_args)
    tree = parse_filter(text)
    assert parse_filter(to_text(tree)) == tree


@pytest.mark.parametrize("name", sorted(VALID_CALLS))
def test_wrong_arity_names_the_function(name: str) -> None:
    spec = FUNCTIONS[name]
    for count in (spec.min_args - 1, spec.max_args + 1):
        if count < 0:
            continue
        args = ", ".join(["x"] * count)
        with pytest.raises(FilterError) as info:
            parse_filter(f"a eq {name}({args})")
        assert info.value.position == 5
        assert f"function {name!r} takes" in str(info.value)
        assert f"got {count}" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "eval(name)",
        "exec('x')",
        "contains(name, 'x')",
        "jsonArrayContains(properties, 'x')",
        "strEndsWith(name, 'x')",
        "geo.eval(location)",
        "st_makeenvelope(1, 2, 3, 4)",
        "pg_sleep(10)",
        "Year(phenomenonTime)",
        "__import__('os')",
    ],
)
def test_unknown_functions_are_rejected(text: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(f"x eq 1 or {text}")
    name = text.split("(")[0]
    assert str(info.value).startswith(f"unknown function {name!r} at position 10")
    assert info.value.position == 10


def test_function_names_are_lower_case_hint() -> None:
    with pytest.raises(FilterError, match="function names are lower-case: 'year'"):
        parse_filter("YEAR(phenomenonTime) eq 2025")


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("year('2025') eq 1", 5, "argument 1 of 'year' must be date or datetime"),
        ("substring(name, 'a')", 16, "argument 2 of 'substring' must be integer"),
        ("substring(name, 1.5)", 16, "argument 2 of 'substring' must be integer"),
        ("length(42) eq 2", 7, "argument 1 of 'length' must be string"),
        ("st_within(location, 'POINT (1 2)')", 20, "must be geometry"),
        (f"tolower({POINT}) eq 'x'", 8, "must be string, got a geometry literal"),
        ("round('1.5') eq 2", 6, "must be decimal or integer"),
        ("hour(2025-01-15) eq 1", 5, "must be datetime or time"),
        ("before(phenomenonTime, 10:00:00)", 23, "argument 2 of 'before'"),
        ("st_relate(location, location, 'TTTTTTTTT ')", 30, "DE-9IM"),
        ("st_relate(location, location, 'T*F**F**')", 30, "DE-9IM"),
        ("st_relate(location, location, 't*f**f***')", 30, "DE-9IM"),
        ("st_relate(location, location, pattern)", 30, "DE-9IM"),
        ("st_relate(location, location, 'T*F**F***'' or ''1')", 30, "DE-9IM"),
    ],
)
def test_literal_argument_checks(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert message in str(info.value)
    assert info.value.position == position


@pytest.mark.parametrize("pattern", ["T*F**F***", "FF*FF****", "012TF*012", "*********"])
def test_st_relate_valid_patterns(pattern: str) -> None:
    tree = parse_filter(f"st_relate(location, {POINT}, '{pattern}')")
    assert tree == Call(
        "st_relate",
        (
            Property(("location",)),
            Geometry("POINT (71.4 51.1)", "POINT"),
            Literal(pattern, LiteralKind.STRING),
        ),
    )


def test_null_and_properties_pass_the_literal_checks() -> None:
    assert parse_filter("year(null) eq 1")
    assert parse_filter("substring(name, properties/start)")
    assert parse_filter("substring(name, length(x))")


def test_specs_are_typed() -> None:
    assert FUNCTIONS["length"].result is ValueType.INTEGER
    assert FUNCTIONS["substringof"].result is ValueType.BOOLEAN
    assert FUNCTIONS["now"].result is ValueType.DATETIME
    assert FUNCTIONS["geo.distance"].params[0] == frozenset({ValueType.GEOMETRY})
    categories = {spec.category for spec in FUNCTIONS.values()}
    assert categories == {"string", "date", "math", "geo", "spatial", "temporal"}
