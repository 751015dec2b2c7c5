"""Typed, immutable syntax tree of STA `$filter` / `$orderby` expressions.

The tree is what the parser hands to the SQL compiler. It never holds client text that
still needs interpreting: literals carry Python values plus a `LiteralKind`, geometries a
canonical WKT re-built from validated numbers, and property paths plain segments that the
compiler must resolve against the entity whitelist (never evaluate them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum


class LiteralKind(StrEnum):
    """The OData type of a literal; the compiler picks the bind-parameter type from it."""

    STRING = "string"
    INTEGER = "integer"  # Python int within the signed 64-bit range
    DECIMAL = "decimal"  # finite Python float (OData Edm.Double)
    BOOLEAN = "boolean"
    NULL = "null"
    DATETIME = "datetime"  # timezone-aware datetime (OData Edm.DateTimeOffset)
    DATE = "date"
    TIME = "time"  # naive time of day, e.g. for `time(phenomenonTime) ge 10:00:00`
    DURATION = "duration"  # timedelta
    INTERVAL = "interval"  # (start, end) pair of aware datetimes, `start/end` in text


class CompareOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


class LogicalOp(StrEnum):
    AND = "and"
    OR = "or"


class ArithmeticOp(StrEnum):
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    MOD = "mod"


type LiteralValue = (
    str | int | float | bool | datetime | date | time | timedelta | tuple[datetime, datetime] | None
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# A path segment: letters, digits, '_' with inner '.' or '-' (JSON keys such as
# `station-id` or `a.b`); no empty segment, no `..`, no quotes or slashes.
SEGMENT_RE = re.compile(r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*")
# Canonical WKT holds only type names, numbers, spaces, commas and parentheses.
_WKT_CHARS_RE = re.compile(r"[A-Z0-9 .,()+\-e]+")


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def _literal_value_fits(value: object, kind: LiteralKind) -> bool:
    """Whether `value` is a valid Python value for `kind` (bool is not an int here)."""
    match kind:
        case LiteralKind.STRING:
            return isinstance(value, str)
        case LiteralKind.INTEGER:
            return type(value) is int and INT64_MIN <= value <= INT64_MAX
        case LiteralKind.DECIMAL:
            return type(value) is float and math.isfinite(value)
        case LiteralKind.BOOLEAN:
            return type(value) is bool
        case LiteralKind.NULL:
            return value is None
        case LiteralKind.DATETIME:
            return isinstance(value, datetime) and _is_aware(value)
        case LiteralKind.DATE:
            return type(value) is date
        case LiteralKind.TIME:
            return isinstance(value, time) and value.tzinfo is None
        case LiteralKind.DURATION:
            return isinstance(value, timedelta)
        case LiteralKind.INTERVAL:
            return (
                isinstance(value, tuple)
                and len(value) == 2
                and all(isinstance(v, datetime) and _is_aware(v) for v in value)
                and value[0] <= value[1]
            )


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: bind `value` as a parameter, typed by `kind`; never splice it into SQL."""

    value: LiteralValue
    kind: LiteralKind

    def __post_init__(self) -> None:
        if not _literal_value_fits(self.value, self.kind):
            raise ValueError(f"{self.value!r} is not a valid {self.kind} literal")


@dataclass(frozen=True, slots=True)
class Geometry:
    """A `geography'...'` / `geometry'...'` literal.

    `wkt` is canonical WKT rebuilt from the validated coordinates (safe to bind to
    ST_GeomFromText); `geometry_type` is POINT, LINESTRING, POLYGON, MULTIPOINT,
    MULTILINESTRING or MULTIPOLYGON; `srid` is None when the literal gave none (the
    compiler should assume 4326); `geography` tells which prefix was used.
    """

    wkt: str
    geometry_type: str
    geography: bool = True
    srid: int | None = None

    def __post_init__(self) -> None:
        if not _WKT_CHARS_RE.fullmatch(self.wkt) or not self.wkt.startswith(self.geometry_type):
            raise ValueError("Geometry.wkt must be canonical WKT")


@dataclass(frozen=True, slots=True)
class Property:
    """A property path such as ('Datastream', 'Thing', 'properties', 'station_id').

    Unresolved: the compiler must map it through the entity model whitelist and reject
    anything unknown (CVE-2024-36401 class: never evaluate a client path).
    """

    path: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.path or not all(SEGMENT_RE.fullmatch(s) for s in self.path):
            raise ValueError(f"invalid property path {self.path!r}")
        if not (self.path[0][0].isalpha() or self.path[0][0] == "_"):
            raise ValueError("a property path starts with a letter or '_'")


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical:
    op: LogicalOp
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: ArithmeticOp
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Negate:
    """Unary minus, `-expr` (a minus sign directly before a number is part of the literal)."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a whitelisted function (see functions.FUNCTIONS for arity and types)."""

    function: str
    args: tuple[Node, ...]


type Node = Literal | Geometry | Property | Compare | Logical | Not | Arithmetic | Negate | Call


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One `$orderby` item: an expression and its direction (asc is the default)."""

    expr: Node
    descending: bool = False


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of `node`, left to right."""
    match node:
        case Compare() | Logical() | Arithmetic():
            return (node.left, node.right)
        case Not() | Negate():
            return (node.operand,)
        case Call():
            return node.args
        case _:
            return ()


def walk(node: Node) -> Iterator[Node]:
    """Yield `node` and all its descendants in pre-order, without recursion."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def node_count(node: Node) -> int:
    """Number of nodes in the tree (the quantity capped by `max_nodes`)."""
    return sum(1 for _ in walk(node))


def depth(node: Node) -> int:
    """Nesting depth of the tree (the quantity capped by `max_depth`).

    A run of the same `and`/`or` counts as one level: the compiler flattens such runs
    (see `flatten_logical`), so `a or b or ... or z` stays shallow however long it is.
    """
    deepest = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        for child in children(current):
            same_run = (
                isinstance(current, Logical)
                and isinstance(child, Logical)
                and child.op is current.op
            )
            stack.append((child, level if same_run else level + 1))
    return deepest


def flatten_logical(node: Logical) -> tuple[Node, ...]:
    """The operands of a run of the same `and`/`or`, left to right, without recursion.

    Lets the compiler emit one `and_(*terms)` / `or_(*terms)` instead of recursing once
    per term.
    """
    terms: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Logical) and current.op is node.op:
            stack.append(current.right)
            stack.append(current.left)
        else:
            terms.append(current)
    return tuple(terms)


# Binding strength of each construct, shared with the parser so printing and parsing agree.
# `not` sits between `and` and the comparisons, as in FROST-Server and SQL, so
# `not a eq 1` means `not (a eq 1)`.
PREC_OR = 1
PREC_AND = 2
PREC_NOT = 3
PREC_EQUALITY = 4
PREC_RELATIONAL = 5
PREC_ADDITIVE = 6
PREC_MULTIPLICATIVE = 7
PREC_NEGATE = 8
PREC_PRIMARY = 9

BINARY_PRECEDENCE: dict[str, int] = {
    "or": PREC_OR,
    "and": PREC_AND,
    "eq": PREC_EQUALITY,
    "ne": PREC_EQUALITY,
    "gt": PREC_RELATIONAL,
    "ge": PREC_RELATIONAL,
    "lt": PREC_RELATIONAL,
    "le": PREC_RELATIONAL,
    "add": PREC_ADDITIVE,
    "sub": PREC_ADDITIVE,
    "mul": PREC_MULTIPLICATIVE,
    "div": PREC_MULTIPLICATIVE,
    "mod": PREC_MULTIPLICATIVE,
}


def precedence(node: Node) -> int:
    """How tightly `node` binds when printed (higher binds tighter)."""
    match node:
        case Compare() | Logical() | Arithmetic():
            return BINARY_PRECEDENCE[node.op.value]
        case Not():
            return PREC_NOT
        case Negate():
            return PREC_NEGATE
        case _:
            return PREC_PRIMARY


def _datetime_text(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def duration_text(value: timedelta) -> str:
    """ISO 8601 duration in the OData form: [-]P[nD][T[nH][nM][n[.f]S]]."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, fraction = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or fraction:
        clock += f"{seconds}.{fraction:06d}S" if fraction else f"{seconds}S"
    text = f"{sign}P{days}D" if days else f"{sign}P"
    if clock:
        text += "T" + clock
    return text if (days or clock) else "PT0S"


def literal_text(node: Literal) -> str:
    """OData text of a literal; parsing it gives back an equal Literal."""
    value = node.value
    match node.kind:
        case LiteralKind.STRING:
            assert isinstance(value, str)
            return "'" + value.replace("'", "''") + "'"
        case LiteralKind.BOOLEAN:
            return "true" if value else "false"
        case LiteralKind.NULL:
            return "null"
        case LiteralKind.DECIMAL:
            return repr(value)  # shortest text that reads back as the same float
        case LiteralKind.DATETIME:
            assert isinstance(value, datetime)
            return _datetime_text(value)
        case LiteralKind.DATE | LiteralKind.TIME:
            assert isinstance(value, date | time)
            return value.isoformat()
        case LiteralKind.DURATION:
            assert isinstance(value, timedelta)
            return f"duration'{duration_text(value)}'"
        case LiteralKind.INTERVAL:
            assert isinstance(value, tuple)
            return f"{_datetime_text(value[0])}/{_datetime_text(value[1])}"
        case LiteralKind.INTEGER:
            return str(value)


def _wrapped(node: Node, minimum: int) -> str:
    text = to_text(node)
    return text if precedence(node) >= minimum else f"({text})"


def to_text(node: Node) -> str:
    """Canonical OData text of `node`: `parse_filter(to_text(n)) == n` for any tree the
    parser accepts. Uses the fewest parentheses the precedence rules allow."""
    match node:
        case Literal():
            return literal_text(node)
        case Geometry():
            prefix = "geography" if node.geography else "geometry"
            srid = "" if node.srid is None else f"SRID={node.srid};"
            return f"{prefix}'{srid}{node.wkt}'"
        case Property():
            return "/".join(node.path)
        case Compare() | Logical() | Arithmetic():
            prec = precedence(node)
            # Left-associative: the right operand needs parentheses at equal precedence.
            return f"{_wrapped(node.left, prec)} {node.op.value} {_wrapped(node.right, prec + 1)}"
        case Not():
            # Parenthesised unless atomic, so the text reads the same under FROST's
            # precedence (`not` below comparisons) and a literal reading of OData's.
            operand = node.operand
            inner = to_text(operand) if isinstance(operand, Not) else _wrapped(operand, PREC_NEGATE)
            return f"not {inner}"
        case Negate():
            operand = node.operand
            if isinstance(operand, Literal):
                # "-5" would read back as the literal -5 (and "-2025-01-15" as nonsense).
                return f"-({to_text(operand)})"
            return f"-{_wrapped(operand, PREC_NEGATE)}"
        case Call():
            return f"{node.function}({', '.join(to_text(arg) for arg in node.args)})"


def orderby_text(items: tuple[OrderBy, ...]) -> str:
    """Canonical `$orderby` text; `parse_orderby(orderby_text(x)) == x`."""
    return ", ".join(to_text(i.expr) + (" desc" if i.descending else "") for i in items)
