"""A small validating WKT reader for `geography'...'` / `geometry'...'` literals.

It accepts only numbers, parentheses, commas and the six simple geometry type names, and
returns canonical WKT rebuilt from the numbers it read, so nothing the client typed
reaches PostGIS unchecked (the GeoServer CVE class in reliability.md §1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from hub.sta.filter.errors import FilterError, FilterLimitError, fragment

MAX_VERTICES = 10_000

GEOMETRY_TYPES = (
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
)

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<word>[A-Za-z]+)|(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<punct>[(),]))"
)
_SRID_RE = re.compile(r"\s*SRID=(\d{1,9});", re.IGNORECASE)
_PLAIN_INT_RE = re.compile(r"[+-]?\d{1,15}")

type Position = tuple[str, ...]  # the canonical number texts of one vertex


class _Reader:
    """Cursor over the WKT text; `base` maps offsets back into the whole expression."""

    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.base = base
        self.pos = 0
        self.vertices = 0
        self.dimension: int | None = None

    def error(self, message: str) -> FilterError:
        at = self.base + self.pos
        return FilterError(f"invalid WKT: {message} at position {at}", at)

    def _peek(self) -> tuple[str, str, int]:
        """The next token as (kind, text, end); kind is 'end' at the end of the text."""
        match = _TOKEN_RE.match(self.text, self.pos)
        if match is None:
            rest = self.text[self.pos :].lstrip()
            if not rest:
                return ("end", "", len(self.text))
            self.pos = len(self.text) - len(rest)
            raise self.error(f"unexpected {fragment(rest[:1])}")
        kind = match.lastgroup
        assert kind is not None
        return (kind, match.group(kind), match.end())

    def take(self, kind: str, text: str | None = None) -> str:
        found_kind, found, end = self._peek()
        if found_kind != kind or (text is not None and found.upper() != text):
            self.pos = _skip_space(self.text, self.pos)
            wanted = (
                repr(text)
                if text is not None
                else {"num": "a number", "word": "a geometry type"}.get(kind, kind)
            )
            got = fragment(found) if found_kind != "end" else "end of WKT"
            raise self.error(f"expected {wanted}, found {got}")
        self.pos = end
        return found

    def at(self, kind: str, text: str | None = None) -> bool:
        found_kind, found, _ = self._peek()
        return found_kind == kind and (text is None or found.upper() == text)

    def number(self) -> str:
        start = _skip_space(self.text, self.pos)
        token = self.take("num")
        value = float(token)
        if not math.isfinite(value):
            self.pos = start
            raise self.error("coordinate out of range")
        # Keep short integers as typed; print everything else as Python's float repr.
        if _PLAIN_INT_RE.fullmatch(token):
            return str(int(token))
        return repr(value)

    def position(self) -> Position:
        start = _skip_space(self.text, self.pos)
        coords = [self.number(), self.number()]
        if self.at("num"):
            coords.append(self.number())
        if self.dimension is None:
            self.dimension = len(coords)
        elif self.dimension != len(coords):
            self.pos = start
            raise self.error("mixed 2D and 3D coordinates")
        self.vertices += 1
        if self.vertices > MAX_VERTICES:
            self.pos = start
            at = self.base + start
            raise FilterLimitError(
                f"geometry literal has more than {MAX_VERTICES} vertices at position {at}", at
            )
        return tuple(coords)

    def position_list(self, minimum: int, what: str) -> list[Position]:
        start = _skip_space(self.text, self.pos)
        self.take("punct", "(")
        positions = [self.position()]
        while self.at("punct", ","):
            self.take("punct", ",")
            positions.append(self.position())
        self.take("punct", ")")
        if len(positions) < minimum:
            self.pos = start
            raise self.error(f"a {what} needs at least {minimum} positions")
        return positions

    def ring(self) -> list[Position]:
        start = _skip_space(self.text, self.pos)
        ring = self.position_list(4, "polygon ring")
        if ring[0] != ring[-1]:
            self.pos = start
            raise self.error("polygon ring is not closed")
        return ring

    def items(self, read: Callable[[], str]) -> str:
        """`( item, item, ... )` → canonical text, each item produced by `read`."""
        self.take("punct", "(")
        parts = [read()]
        while self.at("punct", ","):
            self.take("punct", ",")
            parts.append(read())
        self.take("punct", ")")
        return "(" + ", ".join(parts) + ")"

    def line_text(self) -> str:
        return _positions_text(self.position_list(2, "linestring"))

    def polygon_text(self) -> str:
        return self.items(lambda: _positions_text(self.ring()))

    def multipoint_member(self) -> str:
        # Both `MULTIPOINT (1 2, 3 4)` and `MULTIPOINT ((1 2), (3 4))` are common.
        if self.at("punct", "("):
            self.take("punct", "(")
            point = self.position()
            self.take("punct", ")")
        else:
            point = self.position()
        return "(" + " ".join(point) + ")"


def _positions_text(positions: list[Position]) -> str:
    return "(" + ", ".join(" ".join(p) for p in positions) + ")"


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def parse_wkt(text: str, base: int) -> tuple[str, str, int | None]:
    """Validate the body of a geometry literal; `base` is its offset in the expression.

    Returns (canonical WKT, geometry type, SRID or None). Accepts an optional
    `SRID=n;` prefix (OData's form), the six simple types, optional `Z`, and `EMPTY`.
    Raises FilterError with the position of the problem, FilterLimitError beyond
    MAX_VERTICES vertices.
    """
    srid: int | None = None
    offset = 0
    srid_match = _SRID_RE.match(text)
    if srid_match:
        srid = int(srid_match.group(1))
        offset = srid_match.end()
    reader = _Reader(text[offset:], base + offset)
    type_start = _skip_space(reader.text, 0)
    name = reader.take("word").upper()
    if name not in GEOMETRY_TYPES:
        reader.pos = type_start
        supported = ", ".join(GEOMETRY_TYPES)
        raise reader.error(f"unsupported geometry type {fragment(name)} (use {supported})")
    z_tag = False
    if reader.at("word", "Z"):
        reader.take("word")
        z_tag = True
        reader.dimension = 3
    if reader.at("word", "EMPTY"):
        reader.take("word")
        body = "EMPTY"
    elif name == "POINT":
        reader.take("punct", "(")
        body = "(" + " ".join(reader.position()) + ")"
        reader.take("punct", ")")
    elif name == "LINESTRING":
        body = reader.line_text()
    elif name == "POLYGON":
        body = reader.polygon_text()
    elif name == "MULTIPOINT":
        body = reader.items(reader.multipoint_member)
    elif name == "MULTILINESTRING":
        body = reader.items(reader.line_text)
    else:
        body = reader.items(reader.polygon_text)
    if reader.at("word") or reader.at("num") or reader.at("punct"):
        reader.pos = _skip_space(reader.text, reader.pos)
        raise reader.error("unexpected text after the geometry")
    reader.take("end")
    tag = " Z" if (z_tag or reader.dimension == 3) else ""
    return (f"{name}{tag} {body}", name, srid)
