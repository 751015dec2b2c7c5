"""Compile parsed ``$filter`` / ``$orderby`` trees into SQLAlchemy Core over an entity's table.

Rules (reliability.md §1): every property path goes through :func:`resolve_path` and
:mod:`hub.sta.columns`; every literal and JSON key is a bound parameter; only whitelisted
functions compile. What the store cannot answer correctly yet raises ``CompileError(status=501)``.

Semantics worth knowing:

* A path through a to-many navigation (``Datastreams/name eq 'x'`` on Things) means *any*: the
  entity matches when at least one related entity satisfies the whole comparison (EXISTS).
  A to-one path whose first hop is a foreign key on the base row compiles to
  ``fk IN (SELECT id ...)`` so the (datastream, phenomenon time) index stays usable.
* ``phenomenonTime`` of an Observation is an interval (end == start for an instant), compared as
  FROST does: gt/ge test the start, lt/le the end, eq both ends, ne the negation of eq.
* JSON members are typed by what they are compared with; a member of another JSON type never
  matches (and never raises a cast error on PostgreSQL).
* String functions never build LIKE patterns: ``substringof``/``startswith``/``endswith`` use
  ``instr``/``strpos`` and ``substr``, so ``%``, ``_`` and ``\\`` in client text are plain
  characters and matching is case-sensitive on both backends (SQLite's LIKE is not).
* Constant sub-expressions (``now() sub duration'P1D'``, ``2 mul 3``) are folded in Python;
  ``div`` is true division; a zero divisor in a stored value gives NULL (no match), not an error.
* ``$orderby`` sorts NULLs as the largest value on both backends (PostgreSQL's default).
* The expressions refer to the entity's base table itself (not an alias): the caller selects
  from that table so the subqueries correlate with it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from hub.sta.columns import (
    NotSupported,
    bind_value,
    date_part,
    entity_table,
    json_member,
    link,
    link_condition,
    math_function,
    stored,
    strpos,
)
from hub.sta.entities import EntityType, NavigationSpec, ResolvedPath, UnknownProperty, resolve_path
from hub.sta.filter import (
    Arithmetic,
    ArithmeticOp,
    Call,
    Compare,
    Literal,
    LiteralKind,
    Logical,
    LogicalOp,
    Negate,
    Node,
    Not,
    OrderBy,
    Property,
    ValueType,
    flatten_logical,
    walk,
)
from hub.sta.filter.functions import static_type

_S, _I, _D, _B = ValueType.STRING, ValueType.INTEGER, ValueType.DECIMAL, ValueType.BOOLEAN
_DT = ValueType.DATETIME
_NUMBER = frozenset({_I, _D})
_DATE_PARTS = frozenset({"year", "month", "day", "hour", "minute", "second"})
_STRING_FUNCS = frozenset(
    {"substringof", "startswith", "endswith", "length", "indexof", "substring"}
    | {"tolower", "toupper", "trim", "concat"}
)
_SUPPORTED = _STRING_FUNCS | _DATE_PARTS | {"round", "floor", "ceiling", "now"}
_MIRROR = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    name: getattr(operator, name) for name in ("eq", "ne", "gt", "ge", "lt", "le")
}


class CompileError(ValueError):
    """A filter the hub refuses (``status`` 400) or cannot evaluate yet (501); one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class _Val:
    """A compiled operand: a constant (folded in Python), a column expression, a JSON member
    (typed later by its context) or an interval (start, end)."""

    expr: ColumnElement[Any] | None = None
    vtype: ValueType | None = None
    const: Any = None
    is_const: bool = False
    json: tuple[ColumnElement[Any], tuple[str, ...]] | None = None
    interval: tuple[ColumnElement[Any], ColumnElement[Any]] | None = None


def _const(value: Any, vtype: ValueType | None) -> _Val:
    return _Val(vtype=vtype, const=value, is_const=True)


class _Compiler:
    """State for one compilation: the base table and the aliases of the hops being compiled."""

    def __init__(self, entity: EntityType) -> None:
        self.entity = entity
        self.table = entity_table(entity).table
        self.scope: dict[tuple[str, ...], FromClause] = {(): self.table}
        self.now = datetime.now(UTC)  # one now() for the whole request

    def resolve(self, node: Property) -> ResolvedPath:
        try:
            resolved = resolve_path(self.entity, node.path)
        except UnknownProperty as exc:
            raise CompileError(str(exc)) from None
        if resolved.property is None:
            raise CompileError(f"{'/'.join(node.path)} names an entity, not a value")
        return resolved

    # --- conditions ---------------------------------------------------------------------------

    def predicate(self, node: Node) -> ColumnElement[bool]:
        """A boolean tree: and/or runs are flattened, so long chains never recurse deeply."""
        if isinstance(node, Logical):
            terms = [self.predicate(term) for term in flatten_logical(node)]
            return and_(*terms) if node.op is LogicalOp.AND else or_(*terms)
        if isinstance(node, Not):
            return not_(self.predicate(node.operand))
        if isinstance(node, Compare | Call):
            return self.leaf(node)
        if isinstance(node, Literal) and node.kind is LiteralKind.BOOLEAN:
            return true() if node.value else false()
        raise CompileError("$filter must be a condition (a comparison or a boolean function)")

    def leaf(self, node: Compare | Call) -> ColumnElement[bool]:
        """One comparison or boolean call, evaluated inside the related rows its paths reach."""
        resolved = [self.resolve(n) for n in walk(node) if isinstance(n, Property)]
        hop_paths = {r.hops for r in resolved if r.hops}
        if not hop_paths:
            return self.condition(node)
        if len(hop_paths) > 1:
            raise CompileError(
                "comparing properties of different related entities is not supported yet", 501
            )
        mode = "exists" if any(not r.hops for r in resolved) else "in"
        found: ColumnElement[bool] = self.through(
            hop_paths.pop(), lambda: self.condition(node), mode
        )
        return found

    def through(self, hops: tuple[NavigationSpec, ...], build: Callable[[], Any], mode: str) -> Any:
        """``build()`` evaluated over the rows that ``hops`` reach (see the module docstring).

        ``mode``: "in" when the condition does not use the base row (``fk IN (SELECT id ...)``
        if the first hop is a foreign key, else EXISTS), "exists", or "scalar" (a correlated
        scalar subquery, for ``$orderby``).
        """
        source_entity, source = self.entity, self.scope[()]
        first = link(source_entity, hops[0].name)
        froms: list[FromClause] = []
        conditions: list[ColumnElement[bool]] = []
        for hop in hops:
            target = entity_table(hop.target).table.alias()
            condition, extra = link_condition(link(source_entity, hop.name), source, target)
            froms.extend((*extra, target))
            conditions.append(condition)
            source_entity, source = hop.target, target
        key = tuple(hop.name for hop in hops)
        self.scope[key] = source
        try:
            inner = build()
        finally:
            del self.scope[key]
        if mode == "scalar":
            return select(inner).select_from(*froms).where(*conditions).scalar_subquery()
        if mode == "in" and first.kind == "fk":
            # froms[0] is the first hop's table (a foreign key needs no association table).
            query = select(froms[0].c.id).select_from(*froms).where(*conditions[1:], inner)
            return self.table.c[first.column].in_(query)
        return select(literal_column("1")).select_from(*froms).where(*conditions, inner).exists()

    def condition(self, node: Compare | Call) -> ColumnElement[bool]:
        """A comparison or boolean string function, with its paths already in scope."""
        if isinstance(node, Compare):
            return self.compare(node.op.value, self.value(node.left), self.value(node.right))
        if node.function not in ("substringof", "startswith", "endswith"):
            self.check_function(node.function)
            raise CompileError(f"function {node.function!r} does not give a condition")
        args = [self.text(self.value(arg)) for arg in node.args]
        found: ColumnElement[bool]
        if node.function == "substringof":
            found = strpos(args[1], args[0]) > 0
        elif node.function == "startswith":
            found = func.substr(args[0], 1, func.length(args[1])) == args[1]
        else:
            start = func.length(args[0]) - func.length(args[1]) + 1
            found = func.substr(args[0], start) == args[1]
        return found

    def compare(self, op: str, left: _Val, right: _Val) -> ColumnElement[bool]:
        """``left op right``; constants go to the right, null becomes IS [NOT] NULL."""
        if left.is_const and not right.is_const:
            left, right, op = right, left, _MIRROR[op]
        if left.is_const:
            return self.fold_compare(op, left, right)
        if right.is_const and right.vtype is None:  # null
            if op not in ("eq", "ne"):
                raise CompileError(f"null can only be compared with eq or ne, not {op}")
            value = self.sql(left, _S) if left.json is None else json_member(*left.json, _B, True)
            null: ColumnElement[bool] = value.is_(None) if op == "eq" else value.is_not(None)
            return null
        if right.interval is not None and left.interval is None:
            left, right, op = right, left, _MIRROR[op]
        if left.interval is not None:
            return self.interval_compare(op, left.interval, right)
        want = left.vtype or right.vtype or _S
        _check_types(left.vtype, right.vtype, op)
        if want not in (_S, _I, _D, _B, _DT):
            raise CompileError(f"comparing {want} values is not supported yet", 501)
        result: ColumnElement[bool] = _CMP[op](self.sql(left, want), self.sql(right, want))
        return result

    def fold_compare(self, op: str, left: _Val, right: _Val) -> ColumnElement[bool]:
        if left.vtype is None or right.vtype is None:
            if op not in ("eq", "ne"):
                raise CompileError(f"null can only be compared with eq or ne, not {op}")
            return true() if (left.const is right.const) == (op == "eq") else false()
        _check_types(left.vtype, right.vtype, op)
        return true() if _CMP[op](left.const, right.const) else false()

    def interval_compare(
        self, op: str, interval: tuple[ColumnElement[Any], ColumnElement[Any]], other: _Val
    ) -> ColumnElement[bool]:
        start, end = interval
        if other.vtype is ValueType.INTERVAL and other.is_const:
            if op not in ("eq", "ne"):
                raise CompileError(f"interval {op} interval is not supported yet", 501)
            low, high = (bind_value(v, _DT) for v in other.const)
            same = and_(start == low, end == high)
            return same if op == "eq" else not_(same)
        _check_types(_DT, other.vtype, op)
        value = self.sql(other, _DT)
        if op in ("gt", "ge"):
            return _CMP[op](start, value)  # type: ignore[no-any-return]
        if op in ("lt", "le"):
            return _CMP[op](end, value)  # type: ignore[no-any-return]
        same = and_(start == value, end == value)
        return same if op == "eq" else not_(same)

    # --- values -------------------------------------------------------------------------------

    def sql(self, val: _Val, want: ValueType | None) -> Any:
        """``val`` as SQL; ``want`` types constants and JSON members."""
        if val.is_const:
            return bind_value(val.const, val.vtype or want)
        if val.json is not None:
            return json_member(*val.json, want)
        if val.interval is not None:
            return val.interval[0]
        return val.expr

    def text(self, val: _Val) -> Any:
        """A string argument of a function (constants cast so PostgreSQL knows their type)."""
        _check_types(_S, val.vtype if val.json is None else _S, "as a string argument")
        if val.is_const:
            return cast(bind_value(val.const, _S), Text)
        return self.sql(val, _S)

    def number(self, val: _Val) -> Any:
        _check_types(_D, val.vtype if val.json is None else _D, "as a number")
        return self.sql(val, _D)

    def value(self, node: Node) -> _Val:
        """Any non-boolean expression as an operand."""
        if isinstance(node, Literal):
            return _const(node.value, static_type(node))  # null: value and type None
        if isinstance(node, Property):
            return self.property(node)
        if isinstance(node, Arithmetic):
            return self.arithmetic(node.op, self.value(node.left), self.value(node.right))
        if isinstance(node, Negate):
            inner = self.value(node.operand)
            if inner.is_const and inner.vtype in (_I, _D, ValueType.DURATION):
                return _const(-inner.const, inner.vtype)
            return _Val(expr=-self.number(inner), vtype=inner.vtype or _D)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Compare | Logical | Not):
            raise CompileError("a condition cannot be used as a value")
        raise CompileError("geometry literals need the spatial functions, not supported yet", 501)

    def property(self, node: Property) -> _Val:
        resolved = self.resolve(node)
        assert resolved.property is not None
        source = self.scope.get(tuple(hop.name for hop in resolved.hops))
        if source is None:
            raise CompileError("a path through a collection cannot be used here", 400)
        spec = stored(resolved.entity, resolved.property.name)
        columns: Any = source.c
        if spec.kind == "interval":
            return _Val(interval=(columns[spec.columns[0]], columns[spec.columns[1]]), vtype=_DT)
        if spec.kind == "json":
            if not resolved.json_keys:
                raise CompileError(f"{'/'.join(node.path)} is an object: name a member of it")
            return _Val(json=(columns[spec.columns[0]], resolved.json_keys))
        return _Val(expr=columns[spec.columns[0]], vtype=spec.value_type)

    def arithmetic(self, op: ArithmeticOp, left: _Val, right: _Val) -> _Val:
        if left.is_const and right.is_const:
            return _fold_arithmetic(op, left, right)
        temporal = {_DT, ValueType.DURATION, ValueType.DATE, ValueType.TIME}
        if left.vtype in temporal or right.vtype in temporal:
            raise CompileError("date arithmetic on stored values is not supported yet", 501)
        a, b = self.number(left), self.number(right)
        integers = left.vtype is _I and right.vtype is _I
        if op is ArithmeticOp.ADD:
            return _Val(expr=a + b, vtype=_I if integers else _D)
        if op is ArithmeticOp.SUB:
            return _Val(expr=a - b, vtype=_I if integers else _D)
        if op is ArithmeticOp.MUL:
            return _Val(expr=a * b, vtype=_I if integers else _D)
        if right.is_const and right.const == 0:
            raise CompileError(f"{op.value} by zero")
        # NULLIF: a zero divisor gives NULL (no match) on both backends instead of an error.
        if op is ArithmeticOp.DIV:
            return _Val(expr=cast(a, Float) / func.nullif(b, 0), vtype=_D)
        if not integers:
            raise CompileError("mod of non-integer values is not supported yet", 501)
        return _Val(expr=a % func.nullif(b, 0), vtype=_I)

    def check_function(self, name: str) -> None:
        if name not in _SUPPORTED:
            raise CompileError(f"function {name!r} is not supported yet", 501)

    def call(self, node: Call) -> _Val:
        """A whitelisted function; the rest of FUNCTIONS is an honest 501."""
        name = node.function
        self.check_function(name)
        if name == "now":
            return _const(self.now, _DT)
        if name in ("substringof", "startswith", "endswith"):  # `startswith(...) eq true`
            return _Val(expr=self.condition(node), vtype=_B)
        args = [self.value(arg) for arg in node.args]
        if name in _DATE_PARTS:
            return self.part_of(name, args[0])
        if name in ("round", "floor", "ceiling"):
            return _Val(expr=math_function(name, self.number(args[0])), vtype=_D)
        text = [self.text(arg) for arg in args[:1]]
        if name == "length":
            return _Val(expr=func.length(text[0]), vtype=_I)
        if name in ("tolower", "toupper", "trim"):
            sql = {"tolower": func.lower, "toupper": func.upper, "trim": func.trim}[name]
            return _Val(expr=sql(text[0]), vtype=_S)
        if name == "concat":
            return _Val(expr=text[0].concat(self.text(args[1])), vtype=_S)
        if name == "indexof":
            return _Val(expr=strpos(text[0], self.text(args[1])) - 1, vtype=_I)
        # substring: 0-based start (OData); negative start or length clamp to 0 so both
        # backends agree (PostgreSQL rejects a negative length, SQLite counts from the end).
        start = self.integer(args[1])
        sql_args = [text[0], cast(case((start < 0, 0), else_=start) + 1, Integer)]
        if len(args) == 3:
            length = self.integer(args[2])
            sql_args.append(cast(case((length < 0, 0), else_=length), Integer))
        return _Val(expr=func.substr(*sql_args), vtype=_S)

    def integer(self, val: _Val) -> Any:
        _check_types(_I, val.vtype if val.json is None else _I, "as an integer argument")
        return self.sql(val, _I)

    def part_of(self, name: str, arg: _Val) -> _Val:
        if arg.is_const:
            value = arg.const
            if isinstance(value, datetime):
                value = value.astimezone(UTC)
            if not isinstance(value, date | time) or not hasattr(value, name):
                raise CompileError(f"{name}() needs a date or time, got a {arg.vtype}")
            return _const(getattr(value, name), _I)
        if arg.vtype is not _DT:
            raise CompileError(f"{name}() needs a date/time property, got {arg.vtype or 'json'}")
        return _Val(expr=date_part(name, self.sql(arg, _DT)), vtype=_I)

    # --- ordering -----------------------------------------------------------------------------

    def sort_key(self, node: Node) -> ColumnElement[Any]:
        """One ``$orderby`` expression; a to-one path becomes a correlated scalar subquery."""
        resolved = [self.resolve(n) for n in walk(node) if isinstance(n, Property)]
        if not resolved:
            raise CompileError("$orderby needs a property to order by")
        for r in resolved:
            if not r.sortable:
                raise CompileError(f"cannot order by {node_text(r)}")
        hop_paths = {r.hops for r in resolved if r.hops}
        if len(hop_paths) > 1:
            raise CompileError("ordering by several related entities is not supported yet", 501)

        def build() -> Any:
            return self.sql(self.value(node), None)

        if not hop_paths:
            return build()  # type: ignore[no-any-return]
        return self.through(hop_paths.pop(), build, "scalar")  # type: ignore[no-any-return]


def node_text(resolved: ResolvedPath) -> str:
    """The resolved path as the client wrote it, for error messages."""
    names = [hop.name for hop in resolved.hops]
    if resolved.property is not None:
        names.append(resolved.property.name)
    return "/".join([*names, *resolved.json_keys])


def _check_types(left: ValueType | None, right: ValueType | None, where: str) -> None:
    if left is None or right is None or left == right:
        return
    if left in _NUMBER and right in _NUMBER:
        return
    raise CompileError(f"type mismatch: {left} and {right} ({where})")


def _fold_arithmetic(op: ArithmeticOp, left: _Val, right: _Val) -> _Val:
    a, b = left.const, right.const
    kinds = (left.vtype, right.vtype)
    duration = ValueType.DURATION
    if kinds in ((_DT, duration), (duration, _DT), (duration, duration)) and op in (
        ArithmeticOp.ADD,
        ArithmeticOp.SUB,
    ):
        if kinds == (duration, _DT) and op is ArithmeticOp.SUB:
            raise CompileError("cannot subtract a datetime from a duration")
        try:
            result = a + b if op is ArithmeticOp.ADD else a - b
        except OverflowError:
            raise CompileError("date arithmetic out of range") from None
        return _const(result, _DT if _DT in kinds else duration)
    if left.vtype not in _NUMBER or right.vtype not in _NUMBER:
        raise CompileError(f"{op.value} needs numbers, got {left.vtype} and {right.vtype}")
    integers = isinstance(a, int) and isinstance(b, int)
    if op in (ArithmeticOp.DIV, ArithmeticOp.MOD) and b == 0:
        raise CompileError(f"{op.value} by zero")
    if op is ArithmeticOp.ADD:
        value: Any = a + b
    elif op is ArithmeticOp.SUB:
        value = a - b
    elif op is ArithmeticOp.MUL:
        value = a * b
    elif op is ArithmeticOp.DIV:
        value = a / b
    elif integers:  # SQL's sign rule: the remainder takes the dividend's sign
        value = abs(a) % abs(b) * (1 if a >= 0 else -1)
    else:
        value = math.fmod(a, b)
    if isinstance(value, float) and not math.isfinite(value):
        raise CompileError(f"{op.value} overflows")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise CompileError(f"{op.value} overflows a 64-bit integer")
    return _const(value, _I if isinstance(value, int) else _D)


def compile_filter(node: Node, entity: EntityType) -> ColumnElement[bool]:
    """The WHERE condition for ``$filter`` ``node`` over ``entity``'s base table."""
    try:
        return _Compiler(entity).predicate(node)
    except NotSupported as exc:
        raise CompileError(str(exc), 501) from None


def compile_orderby(items: Sequence[OrderBy], entity: EntityType) -> list[ColumnElement[Any]]:
    """ORDER BY terms for ``$orderby`` ``items`` (NULLs sort as the largest value)."""
    try:
        compiler = _Compiler(entity)
        keys: list[ColumnElement[Any]] = []
        for item in items:
            key = compiler.sort_key(item.expr)
            keys.append(key.desc().nulls_first() if item.descending else key.asc().nulls_last())
        return keys
    except NotSupported as exc:
        raise CompileError(str(exc), 501) from None
