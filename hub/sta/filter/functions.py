"""The whitelist of filter functions: names, arity, argument and result types.

Only names in FUNCTIONS can appear in a Call node (the GeoServer lesson: whitelist
functions, reliability.md §1). The parser checks arity and the type of literal
arguments; argument types of properties are only known once the compiler has resolved
the paths, so the compiler re-checks those with the same table.

Indexing convention: `indexof` and `substring` are 0-based, as in OData 4 and
FROST-Server 2.5 (`indexof('Sensor Things', 'Sensor') eq 0`, `substring('abc', 1) eq
'bc'`). The STA 1.1 examples look 1-based; we follow OData. The SQL compiler must add 1
to the start for PostgreSQL's 1-based `substr`/`strpos` (and subtract 1 from `strpos`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from hub.sta.filter.ast import Geometry, Literal, LiteralKind, Node
from hub.sta.filter.errors import FilterError, fragment


class ValueType(StrEnum):
    """Static type of a value in a filter expression."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    TIME = "time"
    DURATION = "duration"
    INTERVAL = "interval"
    GEOMETRY = "geometry"


type Accepts = frozenset[ValueType]

STRING: Accepts = frozenset({ValueType.STRING})
INTEGER: Accepts = frozenset({ValueType.INTEGER})
NUMBER: Accepts = frozenset({ValueType.INTEGER, ValueType.DECIMAL})
INSTANT: Accepts = frozenset({ValueType.DATETIME, ValueType.DATE})  # has a calendar date
CLOCK: Accepts = frozenset({ValueType.DATETIME, ValueType.TIME})  # has a time of day
DATETIME: Accepts = frozenset({ValueType.DATETIME})
TEMPORAL: Accepts = frozenset({ValueType.DATETIME, ValueType.DATE, ValueType.INTERVAL})
GEOMETRY: Accepts = frozenset({ValueType.GEOMETRY})

# A DE-9IM intersection-matrix pattern, the third argument of st_relate.
DE9IM_RE = re.compile(r"[TF*012]{9}")


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One whitelisted function. `params[i]` lists the types argument i accepts; the
    first `min_args` arguments are required, up to `len(params)` are allowed."""

    name: str
    params: tuple[Accepts, ...]
    result: ValueType
    min_args: int
    category: str

    @property
    def max_args(self) -> int:
        return len(self.params)


def _specs(
    category: str, names: str, params: tuple[Accepts, ...], result: ValueType, min_args: int = -1
) -> list[FunctionSpec]:
    count = len(params) if min_args < 0 else min_args
    return [FunctionSpec(n, params, result, count, category) for n in names.split()]


_B, _I, _D, _S = ValueType.BOOLEAN, ValueType.INTEGER, ValueType.DECIMAL, ValueType.STRING

FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in [
        # String functions. substringof(needle, haystack) is the STA 1.1 / OData 3 order.
        *_specs("string", "substringof endswith startswith", (STRING, STRING), _B),
        *_specs("string", "length", (STRING,), _I),
        *_specs("string", "indexof", (STRING, STRING), _I),
        *_specs("string", "substring", (STRING, INTEGER, INTEGER), _S, min_args=2),
        *_specs("string", "tolower toupper trim", (STRING,), _S),
        *_specs("string", "concat", (STRING, STRING), _S),
        # Date and time functions.
        *_specs("date", "year month day", (INSTANT,), _I),
        *_specs("date", "hour minute second", (CLOCK,), _I),
        *_specs("date", "fractionalseconds", (CLOCK,), _D),
        *_specs("date", "date", (DATETIME,), ValueType.DATE),
        *_specs("date", "time", (DATETIME,), ValueType.TIME),
        *_specs("date", "totaloffsetminutes", (DATETIME,), _I),
        *_specs("date", "now mindatetime maxdatetime", (), ValueType.DATETIME),
        # Math functions.
        *_specs("math", "round floor ceiling", (NUMBER,), _D),
        # Geospatial functions (OData geo.*).
        *_specs("geo", "geo.distance", (GEOMETRY, GEOMETRY), _D),
        *_specs("geo", "geo.length", (GEOMETRY,), _D),
        *_specs("geo", "geo.intersects", (GEOMETRY, GEOMETRY), _B),
        # Spatial relationship functions (OGC simple features).
        *_specs(
            "spatial",
            "st_equals st_disjoint st_touches st_within st_overlaps st_crosses"
            " st_intersects st_contains",
            (GEOMETRY, GEOMETRY),
            _B,
        ),
        *_specs("spatial", "st_relate", (GEOMETRY, GEOMETRY, STRING), _B),
        # Temporal relations (OData/STA 2.0 line, as in FROST-Server).
        *_specs(
            "temporal",
            "before after meets during overlaps starts finishes",
            (TEMPORAL, TEMPORAL),
            _B,
        ),
    ]
}

_LITERAL_TYPES: dict[LiteralKind, ValueType] = {
    LiteralKind.STRING: ValueType.STRING,
    LiteralKind.INTEGER: ValueType.INTEGER,
    LiteralKind.DECIMAL: ValueType.DECIMAL,
    LiteralKind.BOOLEAN: ValueType.BOOLEAN,
    LiteralKind.DATETIME: ValueType.DATETIME,
    LiteralKind.DATE: ValueType.DATE,
    LiteralKind.TIME: ValueType.TIME,
    LiteralKind.DURATION: ValueType.DURATION,
    LiteralKind.INTERVAL: ValueType.INTERVAL,
}


def static_type(node: Node) -> ValueType | None:
    """The type of `node` when the parser can know it (literals, geometries, calls);
    None for properties, null and operator expressions."""
    if isinstance(node, Geometry):
        return ValueType.GEOMETRY
    if isinstance(node, Literal):
        return _LITERAL_TYPES.get(node.kind)
    return None


def lookup(name: str, position: int) -> FunctionSpec:
    """The spec of function `name` called at `position`; FilterError if not whitelisted."""
    spec = FUNCTIONS.get(name)
    if spec is not None:
        return spec
    hint = ""
    if name.lower() in FUNCTIONS:
        hint = f" (function names are lower-case: {name.lower()!r})"
    raise FilterError(f"unknown function {fragment(name)} at position {position}{hint}", position)


def check_call(spec: FunctionSpec, args: tuple[Node, ...], positions: tuple[int, ...]) -> None:
    """Validate the arity and the literal arguments of a call.

    `positions` gives the start of each argument (and, as its first element, of the
    function name) so errors point at the offending argument.
    """
    name_pos = positions[0]
    if not spec.min_args <= len(args) <= spec.max_args:
        if spec.min_args == spec.max_args:
            wanted = f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
        else:
            wanted = f"{spec.min_args} to {spec.max_args} arguments"
        raise FilterError(
            f"function {spec.name!r} takes {wanted}, got {len(args)} at position {name_pos}",
            name_pos,
        )
    for index, (arg, accepts) in enumerate(zip(args, spec.params, strict=False)):
        found = static_type(arg)
        if found is not None and found not in accepts:
            at = positions[index + 1]
            wanted = " or ".join(sorted(t.value for t in accepts))
            raise FilterError(
                f"argument {index + 1} of {spec.name!r} must be {wanted}, got a {found.value}"
                f" literal at position {at}",
                at,
            )
    if spec.name == "st_relate":
        pattern = args[2]
        if not (
            isinstance(pattern, Literal)
            and pattern.kind is LiteralKind.STRING
            and isinstance(pattern.value, str)
            and DE9IM_RE.fullmatch(pattern.value)
        ):
            at = positions[3]
            raise FilterError(
                "argument 3 of 'st_relate' must be a DE-9IM pattern string literal of 9"
                f" characters from T F * 0 1 2 (e.g. 'T*F**F***') at position {at}",
                at,
            )
