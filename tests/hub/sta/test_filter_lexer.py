"""Lexer tests: literals become typed values, names become paths, bad text fails early."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from hub.sta.filter import FilterError, FilterLimitError, Geometry, Literal, LiteralKind
from hub.sta.filter.lexer import Token, TokenKind, tokenize
from hub.sta.filter.wkt import MAX_VERTICES


def only(text: str) -> Token:
    tokens = tokenize(text)
    assert len(tokens) == 2 and tokens[1].kind is TokenKind.END, tokens
    return tokens[0]


def literal(text: str) -> Literal | Geometry:
    token = only(text)
    assert token.kind is TokenKind.LITERAL and token.literal is not None
    return token.literal


def error_at(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        tokenize(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("name", ("name",)),
        ("properties/station_id", ("properties", "station_id")),
        ("Datastream/Thing/properties/a.b", ("Datastream", "Thing", "properties", "a.b")),
        ("properties/station-id", ("properties", "station-id")),
        ("properties/2025", ("properties", "2025")),
        ("_x1", ("_x1",)),
        ("geo.distance", ("geo.distance",)),
    ],
)
def test_identifiers_and_paths(text: str, segments: tuple[str, ...]) -> None:
    token = only(text)
    assert token.kind is TokenKind.IDENT
    assert token.segments == segments
    assert (token.pos, token.end) == (0, len(text))


@pytest.mark.parametrize(
    "text", ["properties/", "properties//x", "properties/../x", "a./b", "a-", "a.", "a/-b"]
)
def test_malformed_paths(text: str) -> None:
    assert "property path" in str(error_at(text))


def test_punctuation_and_minus() -> None:
    kinds = [t.kind for t in tokenize("f(a, -b)")]
    assert kinds == [
        TokenKind.IDENT,
        TokenKind.LPAREN,
        TokenKind.IDENT,
        TokenKind.COMMA,
        TokenKind.MINUS,
        TokenKind.IDENT,
        TokenKind.RPAREN,
        TokenKind.END,
    ]


def test_operators_are_plain_words_to_the_lexer() -> None:
    words = "eq ne gt ge lt le and or not add sub mul div mod asc desc"
    tokens = tokenize(words)[:-1]
    assert [t.word for t in tokens] == words.split()


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("0", 0, LiteralKind.INTEGER),
        ("42", 42, LiteralKind.INTEGER),
        ("-7", -7, LiteralKind.INTEGER),
        ("9223372036854775807", 2**63 - 1, LiteralKind.INTEGER),
        ("-9223372036854775808", -(2**63), LiteralKind.INTEGER),
        ("1.5", 1.5, LiteralKind.DECIMAL),
        ("-0.25", -0.25, LiteralKind.DECIMAL),
        ("1e3", 1000.0, LiteralKind.DECIMAL),
        ("2.5E-3", 0.0025, LiteralKind.DECIMAL),
        ("1e+2", 100.0, LiteralKind.DECIMAL),
        ("true", True, LiteralKind.BOOLEAN),
        ("false", False, LiteralKind.BOOLEAN),
        ("null", None, LiteralKind.NULL),
        ("'abc'", "abc", LiteralKind.STRING),
        ("''", "", LiteralKind.STRING),
        ("'O''Brien'", "O'Brien", LiteralKind.STRING),
        ("''''", "'", LiteralKind.STRING),
        ("'a\\b\\'", "a\\b\\", LiteralKind.STRING),  # backslashes are ordinary characters
        ("'Сарыарка \u2019quoted\u2019'", "Сарыарка \u2019quoted\u2019", LiteralKind.STRING),
        ("'x'' or 1 eq 1'", "x' or 1 eq 1", LiteralKind.STRING),
        ("';DROP TABLE--'", ";DROP TABLE--", LiteralKind.STRING),
    ],
)
def test_scalar_literals(text: str, value: object, kind: LiteralKind) -> None:
    assert literal(text) == Literal(value, kind)  # type: ignore[arg-type]


def test_true_is_case_sensitive() -> None:
    assert only("True").kind is TokenKind.IDENT


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2025-01-15T10:00:00Z", datetime(2025, 1, 15, 10, tzinfo=UTC)),
        ("2025-01-15T10:00Z", datetime(2025, 1, 15, 10, tzinfo=UTC)),
        (
            "2025-01-15T10:00:00.123+05:00",
            datetime(2025, 1, 15, 10, 0, 0, 123000, tzinfo=timezone(timedelta(hours=5))),
        ),
        (
            "2025-01-15T10:00:00.123456789-03:30",
            datetime(
                2025, 1, 15, 10, 0, 0, 123456, tzinfo=timezone(-timedelta(hours=3, minutes=30))
            ),
        ),
    ],
)
def test_datetimes(text: str, value: datetime) -> None:
    found = literal(text)
    assert found == Literal(value, LiteralKind.DATETIME)
    assert isinstance(found, Literal) and isinstance(found.value, datetime)
    assert found.value.utcoffset() == value.utcoffset()


def test_date_time_and_interval() -> None:
    assert literal("2025-01-15") == Literal(date(2025, 1, 15), LiteralKind.DATE)
    assert literal("10:30") == Literal(time(10, 30), LiteralKind.TIME)
    assert literal("23:59:59.5") == Literal(time(23, 59, 59, 500000), LiteralKind.TIME)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = datetime(2025, 2, 1, tzinfo=UTC)
    interval = literal("2025-01-01T00:00:00Z/2025-02-01T00:00:00Z")
    assert interval == Literal((start, end), LiteralKind.INTERVAL)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("2025-01-15T10:00:00", "needs a time zone", 0),
        ("x eq 2025-13-01", "invalid date", 5),
        ("2025-02-30T00:00:00Z", "invalid datetime", 0),
        ("25:00", "invalid time", 0),
        ("2025-01-15T", "invalid date", 0),
        ("2025-02-01T00:00:00Z/2025-01-01T00:00:00Z", "ends before it starts", 0),
        ("2025-01-01T00:00:00Z/x", "invalid interval", 0),
    ],
)
def test_bad_temporal_literals(text: str, message: str, position: int) -> None:
    error = error_at(text)
    assert message in str(error)
    assert error.position == position


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("duration'P1D'", timedelta(days=1)),
        ("duration'PT1H'", timedelta(hours=1)),
        ("duration'P1DT2H'", timedelta(days=1, hours=2)),
        ("duration'PT1H30M15.25S'", timedelta(hours=1, minutes=30, seconds=15.25)),
        ("duration'-P2D'", timedelta(days=-2)),
        ("duration'PT0S'", timedelta(0)),
    ],
)
def test_durations(text: str, value: timedelta) -> None:
    assert literal(text) == Literal(value, LiteralKind.DURATION)


@pytest.mark.parametrize("body", ["P1Y", "P2M", "P1W", "P1Y2M3DT4H"])
def test_calendar_durations_are_rejected(body: str) -> None:
    error = error_at(f"x gt duration'{body}'")
    assert "years, months and weeks are not supported" in str(error)
    assert error.position == 5


@pytest.mark.parametrize(
    "body", ["", "P", "PT", "P1DT", "1D", "P1.5D", "PT1H2H", "P9999999999D", "P999999999DT24H"]
)
def test_invalid_durations(body: str) -> None:
    assert "duration" in str(error_at(f"duration'{body}'"))


def test_duration_not_closed() -> None:
    error = error_at("x gt duration'P1D")
    assert str(error) == "duration literal not closed (starts at position 5)"


@pytest.mark.parametrize(
    ("text", "wkt", "geometry_type"),
    [
        ("geography'POINT (30 10)'", "POINT (30 10)", "POINT"),
        ("geography'point(30.5 -10)'", "POINT (30.5 -10)", "POINT"),
        ("geography'LINESTRING (30 10, 10 30, 40 40)'", "LINESTRING (30 10, 10 30, 40 40)", ""),
        (
            "geography'POLYGON ((71 51, 72 51, 72 52, 71 52, 71 51))'",
            "POLYGON ((71 51, 72 51, 72 52, 71 52, 71 51))",
            "",
        ),
        ("geometry'MULTIPOINT (1 2, 3 4)'", "MULTIPOINT ((1 2), (3 4))", ""),
        ("geometry'MULTIPOINT ((1 2), (3 4))'", "MULTIPOINT ((1 2), (3 4))", ""),
        (
            "geometry'MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))'",
            "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))",
            "",
        ),
        (
            "geometry'MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))'",
            "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))",
            "",
        ),
        ("geometry'POINT Z (1 2 3)'", "POINT Z (1 2 3)", ""),
        ("geometry'POINT (1 2 3)'", "POINT Z (1 2 3)", ""),
        ("geography'POINT EMPTY'", "POINT EMPTY", ""),
        ("geography'POINT (1e2 .5)'", "POINT (100.0 0.5)", ""),
        ("geography'POINT (1E-7 -2.5e+20)'", "POINT (1e-07 -2.5e+20)", ""),
    ],
)
def test_geometry_literals(text: str, wkt: str, geometry_type: str) -> None:
    found = literal(text)
    assert isinstance(found, Geometry)
    assert found.wkt == wkt
    assert found.geometry_type == (geometry_type or wkt.split(" ")[0])
    assert found.geography == text.startswith("geography")
    assert found.srid is None


def test_geometry_srid() -> None:
    found = literal("geometry'SRID=3857;POINT (1 2)'")
    assert found == Geometry("POINT (1 2)", "POINT", geography=False, srid=3857)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("POINT (1)", "expected a number"),
        ("POINT (1 2", "expected ')'"),
        ("POINT (1 2) x", "unexpected text"),
        ("CIRCLE (1 2)", "unsupported geometry type"),
        ("GEOMETRYCOLLECTION (POINT (1 2))", "unsupported geometry type"),
        ("LINESTRING (1 2)", "at least 2 positions"),
        ("POLYGON ((0 0, 1 1, 0 0))", "at least 4 positions"),
        ("POLYGON ((0 0, 1 0, 1 1, 0 1))", "not closed"),
        ("POINT (1e999 2)", "out of range"),
        ("LINESTRING (1 2, 3 4 5)", "mixed 2D and 3D"),
        ("POINT (1 2); DROP TABLE x", "unexpected"),
        ("", "expected a geometry type"),
    ],
)
def test_invalid_wkt(body: str, message: str) -> None:
    error = error_at(f"st_within(location, geography'{body}')")
    assert message in str(error)
    assert str(error).startswith("invalid WKT")
    assert 30 <= error.position <= 30 + len(body)


def test_wkt_vertex_limit() -> None:
    coords = ", ".join(f"{i} 0" for i in range(MAX_VERTICES + 1))
    with pytest.raises(FilterLimitError, match="more than 10000 vertices"):
        tokenize(f"geography'LINESTRING ({coords})'")
    coords = ", ".join(f"{i} 0" for i in range(MAX_VERTICES))
    assert isinstance(literal(f"geography'LINESTRING ({coords})'"), Geometry)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("name eq 'abc", "string literal not closed (starts at position 8)", 8),
        ("name eq 'O''Brien", "string literal not closed (starts at position 8)", 8),
        ("name eq \u2019x\u2019", "is not a string delimiter", 8),
        ("name eq \u2018x\u2018", "is not a string delimiter", 8),
        ("name eq \uff07x\uff07", "is not a string delimiter", 8),
        ('name eq "x"', "is not a string delimiter", 8),
        ("name eq `x`", "is not a string delimiter", 8),
        ("properties/a'b", "unexpected quote after 'properties/a' at position 12", 12),
        ("binary'AAAA'", "unexpected quote after 'binary'", 6),
        ("a eq 1abc", "invalid number", 5),
        ("a eq 1.", "invalid number", 5),
        ("a eq 1.2.3", "invalid number", 5),
        ("a eq 99999999999999999999", "out of range", 5),
        ("a eq " + "9" * 5000, "out of range", 5),
        ("a eq 1e400", "out of range", 5),
        ("a eq $x", "unexpected character '$' at position 5", 5),
        ("a\x00eq 1", "unexpected character", 1),
        ("a\u00a0eq 1", "unexpected character", 1),
        ("a; DROP TABLE x", "unexpected character ';'", 1),
        ("a eq \\x", "unexpected character", 5),
    ],
)
def test_lexer_errors(text: str, message: str, position: int) -> None:
    error = error_at(text)
    assert message in str(error)
    assert error.position == position
    assert "\n" not in str(error)


def test_error_messages_do_not_echo_huge_input() -> None:
    error = error_at("a eq 1" + "x" * 100_000)
    assert len(str(error)) < 200


def test_literal_values_are_validated() -> None:
    with pytest.raises(ValueError):
        Literal(True, LiteralKind.INTEGER)
    with pytest.raises(ValueError):
        Literal(float("nan"), LiteralKind.DECIMAL)
    with pytest.raises(ValueError):
        Literal(datetime(2025, 1, 1), LiteralKind.DATETIME)  # naive
    with pytest.raises(ValueError):
        Geometry("POINT (1 2)'); DROP", "POINT")
