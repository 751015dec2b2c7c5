"""Lexer for STA `$filter` / `$orderby` text.

Tokens: identifiers and property paths (`name`, `properties/station_id`,
`Datastream/Thing/properties/a.b`), word operators (they are identifiers to the lexer;
the parser gives them meaning), `(`, `)`, `,`, unary `-`, and literals, which the lexer
turns into typed AST values right away so their text is never looked at again:

* integers (signed 64-bit), decimals and exponent numbers (`1.5`, `1e3`, `-2.5E-3`);
  a `-` directly followed by a digit is the number's sign;
* strings in ASCII single quotes with `''` for a quote (OData); no backslash escapes,
  so `\\` is an ordinary character. Typographic look-alikes (U+2018, U+2019,
  U+FF07, ...) are errors, not delimiters;
* `true`, `false`, `null` (lower-case, like every keyword);
* datetimes with a mandatory zone (`2025-01-15T10:00:00Z`, `...T10:00:00.5+05:00`),
  dates (`2025-01-15`), times (`10:30:00`), intervals (`<datetime>/<datetime>`);
* `duration'P1DT2H'` (days and clock parts only, see literals.parse_duration);
* `geography'POINT (30 10)'` and `geometry'...'` (validated by wkt.parse_wkt).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from hub.sta.filter.ast import INT64_MAX, INT64_MIN, Geometry, Literal, LiteralKind
from hub.sta.filter.errors import FilterError, fragment
from hub.sta.filter.literals import parse_duration, read_temporal, starts_temporal
from hub.sta.filter.wkt import parse_wkt


class TokenKind(Enum):
    IDENT = "identifier"  # one or more path segments; keywords are single segments
    LITERAL = "literal"  # value in Token.literal
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    MINUS = "'-'"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token; `pos`/`end` are 0-based offsets of its text in the expression."""

    kind: TokenKind
    pos: int
    end: int
    segments: tuple[str, ...] = ()
    literal: Literal | Geometry | None = None

    @property
    def word(self) -> str | None:
        """The identifier if this is a single-segment identifier (a possible keyword)."""
        if self.kind is TokenKind.IDENT and len(self.segments) == 1:
            return self.segments[0]
        return None


_SEGMENT = r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*"
_PATH_RE = re.compile(rf"[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*(?:/{_SEGMENT})*")
_NUMBER_RE = re.compile(r"-?(\d+)(\.\d+)?([eE][+-]?\d+)?")
_WHITESPACE = frozenset(" \t\r\n")
_PUNCT = {"(": TokenKind.LPAREN, ")": TokenKind.RPAREN, ",": TokenKind.COMMA}
_CONSTANTS = {
    "true": Literal(True, LiteralKind.BOOLEAN),
    "false": Literal(False, LiteralKind.BOOLEAN),
    "null": Literal(None, LiteralKind.NULL),
}
# Quote-like characters that copy-paste and word processors substitute for ASCII quotes.
# They must never delimit strings (a parser that accepted them would disagree with any
# other component about where a literal ends), so they get a pointed error instead.
_LOOKALIKE_QUOTES = frozenset('\u2018\u2019\u201a\u201b\u2032\u02bc\uff07`\u00b4"\u201c\u201d')
# NUL and lone surrogates cannot be stored in or compared with PostgreSQL text, so they
# are refused here rather than failing later in the database with a 500.
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an END token. Raises FilterError."""
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    while pos < length:
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char in _PUNCT:
            tokens.append(Token(_PUNCT[char], pos, pos + 1))
            pos += 1
        elif char == "'":
            value, end = _read_string(text, pos)
            tokens.append(Token(TokenKind.LITERAL, pos, end, literal=value))
            pos = end
        elif char.isascii() and char.isdigit():
            if starts_temporal(text, pos):
                literal, end = read_temporal(text, pos)
            else:
                literal, end = _read_number(text, pos)
            tokens.append(Token(TokenKind.LITERAL, pos, end, literal=literal))
            pos = end
        elif char == "-":
            if pos + 1 < length and text[pos + 1].isascii() and text[pos + 1].isdigit():
                literal, end = _read_number(text, pos)
                tokens.append(Token(TokenKind.LITERAL, pos, end, literal=literal))
            else:
                end = pos + 1
                tokens.append(Token(TokenKind.MINUS, pos, end))
            pos = end
        elif char.isascii() and (char.isalpha() or char == "_"):
            token = _read_word(text, pos)
            tokens.append(token)
            pos = token.end
        elif char in _LOOKALIKE_QUOTES:
            raise FilterError(
                f"{fragment(char)} at position {pos} is not a string delimiter;"
                " strings are quoted with ASCII ' (apostrophe)",
                pos,
            )
        else:
            raise FilterError(f"unexpected character {fragment(char)} at position {pos}", pos)
    tokens.append(Token(TokenKind.END, length, length))
    return tokens


def _read_string(text: str, start: int) -> tuple[Literal, int]:
    """Read a quoted string starting at the quote `start`; `''` stands for one quote."""
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find("'", pos)
        if close < 0:
            raise FilterError(f"string literal not closed (starts at position {start})", start)
        parts.append(text[pos:close])
        if close + 1 < len(text) and text[close + 1] == "'":
            parts.append("'")
            pos = close + 2
        else:
            value = "".join(parts)
            bad = _UNSTORABLE_RE.search(text, start, close)
            if bad is not None:
                raise FilterError(
                    f"character {fragment(bad.group(0))} at position {bad.start()} is not"
                    " allowed in a string literal",
                    bad.start(),
                )
            return Literal(value, LiteralKind.STRING), close + 1


def _read_number(text: str, start: int) -> tuple[Literal, int]:
    match = _NUMBER_RE.match(text, start)
    assert match is not None  # callers checked for a digit
    end = match.end()
    if end < len(text) and text[end] in _IDENT_CHARS:
        raise FilterError(
            f"invalid number {fragment(text[start : end + 1])} at position {start}", start
        )
    digits, fraction, exponent = match.groups()
    if fraction is None and exponent is None:
        # Checked before int() so thousands of digits never reach the int parser.
        value = int(match.group(0)) if len(digits) <= 19 else INT64_MAX + 1
        if not INT64_MIN <= value <= INT64_MAX:
            raise FilterError(
                f"integer {fragment(match.group(0))} at position {start} is out of range (64-bit)",
                start,
            )
        return Literal(value, LiteralKind.INTEGER), end
    number = float(match.group(0))
    if not math.isfinite(number):
        raise FilterError(
            f"number {fragment(match.group(0))} at position {start} is out of range", start
        )
    return Literal(number, LiteralKind.DECIMAL), end


def _read_word(text: str, start: int) -> Token:
    match = _PATH_RE.match(text, start)
    assert match is not None  # callers checked for a letter or '_'
    end = match.end()
    word = match.group(0)
    if end < len(text) and text[end] == "'":
        return _read_prefixed(text, start, word, end)
    if end < len(text) and text[end] in "/.-":
        raise FilterError(
            f"invalid property path {fragment(text[start : end + 1])} at position {end}"
            " (empty or malformed segment)",
            end,
        )
    segments = tuple(word.split("/"))
    if len(segments) > 1 and segments[-1] in ("any", "all") and text.startswith("(", end):
        # Checked here because the lambda body (`d: ...`) would not even tokenize.
        at = end - len(segments[-1])
        raise FilterError(f"lambda operator {segments[-1]!r} at position {at} is not supported", at)
    if word in _CONSTANTS:
        return Token(TokenKind.LITERAL, start, end, literal=_CONSTANTS[word])
    return Token(TokenKind.IDENT, start, end, segments=segments)


def _read_prefixed(text: str, start: int, prefix: str, quote: int) -> Token:
    """Read `duration'...'`, `geography'...'` or `geometry'...'`."""
    if prefix not in ("duration", "geography", "geometry"):
        raise FilterError(
            f"unexpected quote after {fragment(prefix)} at position {quote}"
            " (quotes are not allowed in names; literal prefixes are duration, geography"
            " and geometry)",
            quote,
        )
    close = text.find("'", quote + 1)
    if close < 0:
        raise FilterError(f"{prefix} literal not closed (starts at position {start})", start)
    body = text[quote + 1 : close]
    literal: Literal | Geometry
    if prefix == "duration":
        literal = parse_duration(body, start)
    else:
        wkt, geometry_type, srid = parse_wkt(body, quote + 1)
        literal = Geometry(wkt, geometry_type, geography=prefix == "geography", srid=srid)
    return Token(TokenKind.LITERAL, start, close + 1, literal=literal)
