"""The ``$filter``/``$orderby`` compiler: conditions, navigation, operands and dispatch.

Rules (reliability.md §1): every property path goes through :func:`resolve_path` and
:mod:`hub.sta.columns`; every literal and JSON key is a bound parameter; only whitelisted
functions compile. What the store cannot answer correctly raises ``CompileError(status=501)``.

Semantics worth knowing (the domain modules say more: :mod:`.temporal`, :mod:`.spatial`,
:mod:`.strings`, :mod:`.numbers`):

* A path through a to-many navigation (``Datastreams/name eq 'x'`` on Things) means *any*: the
  entity matches when at least one related entity satisfies the whole comparison (EXISTS).
  A to-one path whose first hop is a foreign key on the base row compiles to
  ``fk IN (SELECT id ...)`` so the (datastream, phenomenon time) index stays usable.
* JSON members are typed by what they are compared with; a member of another JSON type never
  matches (and never raises a cast error on PostgreSQL). ``Observation/result`` likewise: a
  number, a string, a boolean or null, read from its float column or its JSON twin by what it
  is compared with (:mod:`.results`).
* Constant sub-expressions (``now() sub duration'P1D'``, ``2 mul 3``, two geometry literals) are
  folded in Python.
* ``$orderby`` sorts NULLs as the largest value on both backends (PostgreSQL's default); it may
  order by an expression such as ``geo.distance(location, geography'POINT (71.43 51.13)')``.
* The expressions refer to the entity's base table itself (not an alias): the caller selects
  from that table so the subqueries correlate with it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, false, literal_column, not_, or_, select
from sqlalchemy import true as sql_true

from hub.sta.columns import (
    NotSupported,
    entity_table,
    geometry_columns,
    json_member,
    link,
    link_condition,
    stored,
)
from hub.sta.compile import numbers, results, spatial, strings, temporal
from hub.sta.compile.operand import (
    BOOL,
    DURATION,
    GEOMETRY,
    INTERVAL,
    STR,
    CompileError,
    Operand,
    check_types,
    const,
    number,
    sql,
)
from hub.sta.entities import EntityType, NavigationSpec, ResolvedPath, UnknownProperty, resolve_path
from hub.sta.filter import (
    FUNCTIONS,
    Arithmetic,
    Call,
    Compare,
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
    ValueType,
    flatten_logical,
    walk,
)
from hub.sta.filter.functions import static_type

_MIRROR = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    name: getattr(operator, name) for name in ("eq", "ne", "gt", "ge", "lt", "le")
}
_COMPARABLE = frozenset(
    {STR, BOOL, ValueType.INTEGER, ValueType.DECIMAL, ValueType.DATE, ValueType.TIME, DURATION}
)
_GEO_VALUES = frozenset({"geo.distance", "geo.length"})


def truth(val: Operand) -> ColumnElement[bool]:
    """A boolean operand as a condition (a constant null is false: no match)."""
    if val.is_const:
        return sql_true() if val.const is True else false()
    found: ColumnElement[bool] = val.expr
    return found


class Compiler:
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
            return sql_true() if node.value else false()
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
        """A comparison or boolean function, with its paths already in scope."""
        if isinstance(node, Compare):
            return self.compare(node.op.value, self.value(node.left), self.value(node.right))
        if FUNCTIONS[node.function].result is not BOOL:
            raise CompileError(f"function {node.function!r} does not give a condition")
        return truth(self.call(node))

    def compare(self, op: str, left: Operand, right: Operand) -> ColumnElement[bool]:
        """``left op right``; constants go to the right, null becomes IS [NOT] NULL."""
        if left.is_const and (not right.is_const or left.vtype is None):
            left, right, op = right, left, _MIRROR[op]
        if right.is_const and right.vtype is None:  # null
            return self.null_compare(op, left, right)
        if GEOMETRY in (left.vtype, right.vtype):
            raise CompileError("geometries are compared with st_equals(), not with " + op)
        if temporal.involved(left, right):
            return temporal.compare(op, left, right)
        if left.is_const:
            check_types(left.vtype, right.vtype, op)
            return sql_true() if _CMP[op](left.const, right.const) else false()
        read = _reading(left, right)
        if read is not None:
            # Observation/result compared with a string or a boolean: that reading of it (a
            # number as text, as ets-sta10 wants); with anything else its numeric column.
            by_reading: ColumnElement[bool] = _CMP[op](sql(left, read), sql(right, read))
            return by_reading
        want = left.vtype or right.vtype or STR
        check_types(left.vtype, right.vtype, op)
        if want not in _COMPARABLE:
            raise CompileError(f"comparing {want} values is not supported yet", 501)
        result: ColumnElement[bool] = _CMP[op](sql(left, want), sql(right, want))
        if left.distance is not None and op in ("lt", "le") and right.is_const:
            return and_(spatial.within_distance(left.distance, op, right), result)
        return result

    def null_compare(self, op: str, left: Operand, right: Operand) -> ColumnElement[bool]:
        if op not in ("eq", "ne"):
            raise CompileError(f"null can only be compared with eq or ne, not {op}")
        if left.is_const:  # two constants
            return sql_true() if (left.const is right.const) == (op == "eq") else false()
        if left.geometry is not None:
            return spatial.null_check(left, op)
        if left.readings is not None:
            found: ColumnElement[bool] = left.readings.null
            return found if op == "eq" else not_(found)
        value = sql(left, STR) if left.json is None else json_member(*left.json, BOOL, True)
        null: ColumnElement[bool] = value.is_(None) if op == "eq" else value.is_not(None)
        return null

    # --- values -------------------------------------------------------------------------------

    def value(self, node: Node) -> Operand:
        """Any non-boolean expression as an operand."""
        if isinstance(node, Literal):
            return const(node.value, static_type(node))  # null: value and type None
        if isinstance(node, Geometry):
            return spatial.literal(node)
        if isinstance(node, Property):
            return self.property(node)
        if isinstance(node, Arithmetic):
            return self.arithmetic(node, self.value(node.left), self.value(node.right))
        if isinstance(node, Negate):
            return self.negate(self.value(node.operand))
        if isinstance(node, Call):
            return self.call(node)
        raise CompileError("a condition cannot be used as a value")

    def property(self, node: Property) -> Operand:
        resolved = self.resolve(node)
        assert resolved.property is not None
        source = self.scope.get(tuple(hop.name for hop in resolved.hops))
        if source is None:
            raise CompileError("a path through a collection cannot be used here", 400)
        spec = stored(resolved.entity, resolved.property.name)
        columns: Any = source.c
        if spec.kind == "interval":
            start, end = columns[spec.columns[0]], columns[spec.columns[1]]
            return Operand(interval=(start, end), vtype=INTERVAL)
        if spec.kind == "geometry":
            return spatial.stored(geometry_columns(source, spec))
        twin = results.twin(resolved.entity.name, resolved.property.name)
        if twin is not None:
            return results.operand(columns[spec.columns[0]], columns[twin], spec.value_type)
        if spec.kind == "json":
            if not resolved.json_keys:
                raise CompileError(f"{'/'.join(node.path)} is an object: name a member of it")
            return Operand(json=(columns[spec.columns[0]], resolved.json_keys))
        return Operand(expr=columns[spec.columns[0]], vtype=spec.value_type)

    def negate(self, inner: Operand) -> Operand:
        if inner.is_const and inner.vtype in (ValueType.INTEGER, ValueType.DECIMAL, DURATION):
            return const(-inner.const, inner.vtype)
        if inner.vtype is DURATION:
            return Operand(expr=-inner.expr, vtype=DURATION)
        return Operand(expr=-number(inner), vtype=inner.vtype or ValueType.DECIMAL)

    def arithmetic(self, node: Arithmetic, left: Operand, right: Operand) -> Operand:
        if GEOMETRY in (left.vtype, right.vtype):
            raise CompileError(f"{node.op.value} is not defined for geometries")
        if left.vtype in temporal.TIME_TYPES or right.vtype in temporal.TIME_TYPES:
            return temporal.arithmetic(node.op, left, right)
        if left.is_const and right.is_const:
            return numbers.fold(node.op, left, right)
        return numbers.arithmetic(node.op, left, right)

    def call(self, node: Call) -> Operand:
        """A whitelisted function, dispatched to its domain module."""
        name = node.function
        if name in ("now", "mindatetime", "maxdatetime"):
            return temporal.constant(name, self.now)
        args = [self.value(arg) for arg in node.args]
        category = FUNCTIONS[name].category
        if category == "string":
            return strings.call(name, args)
        if category == "math":
            return numbers.rounding(name, args[0])
        if category == "date":
            return temporal.part(name, args[0])
        if category == "temporal":
            return temporal.relation(name, args[0], args[1])
        assert category in ("geo", "spatial")
        return spatial.call(name, args)

    # --- ordering -----------------------------------------------------------------------------

    def sort_key(self, node: Node) -> ColumnElement[Any]:
        """One ``$orderby`` expression; a to-one path becomes a correlated scalar subquery."""
        # A geometry has no order, but its distance or length does.
        measured = {
            id(arg)
            for n in walk(node)
            if isinstance(n, Call) and n.function in _GEO_VALUES
            for arg in n.args
        }
        resolved: list[ResolvedPath] = []
        for n in walk(node):
            if not isinstance(n, Property):
                continue
            r = self.resolve(n)
            allowed = not r.crosses_to_many if id(n) in measured else r.sortable
            if not allowed:
                raise CompileError(f"cannot order by {node_text(r)}")
            resolved.append(r)
        if not resolved:
            raise CompileError("$orderby needs a property to order by")
        hop_paths = {r.hops for r in resolved if r.hops}
        if len(hop_paths) > 1:
            raise CompileError("ordering by several related entities is not supported yet", 501)

        def build() -> Any:
            val = self.value(node)
            if val.vtype is BOOL and not val.is_const:
                return val.expr
            return sql(val, None)

        if not hop_paths:
            return build()  # type: ignore[no-any-return]
        return self.through(hop_paths.pop(), build, "scalar")  # type: ignore[no-any-return]


def node_text(resolved: ResolvedPath) -> str:
    """The resolved path as the client wrote it, for error messages."""
    names = [hop.name for hop in resolved.hops]
    if resolved.property is not None:
        names.append(resolved.property.name)
    return "/".join([*names, *resolved.json_keys])


def compile_filter(node: Node, entity: EntityType) -> ColumnElement[bool]:
    """The WHERE condition for ``$filter`` ``node`` over ``entity``'s base table."""
    try:
        return Compiler(entity).predicate(node)
    except NotSupported as exc:
        raise CompileError(str(exc), 501) from None


def compile_orderby(items: Sequence[OrderBy], entity: EntityType) -> list[ColumnElement[Any]]:
    """ORDER BY terms for ``$orderby`` ``items`` (NULLs sort as the largest value)."""
    try:
        compiler = Compiler(entity)
        keys: list[ColumnElement[Any]] = []
        for item in items:
            key = compiler.sort_key(item.expr)
            keys.append(key.desc().nulls_first() if item.descending else key.asc().nulls_last())
        return keys
    except NotSupported as exc:
        raise CompileError(str(exc), 501) from None


def _reading(left: Operand, right: Operand) -> ValueType | None:
    """STR or BOOL when one side has readings (:mod:`.results`) and the other is a string or a
    boolean; None when the comparison is an ordinary one (numbers read the typed column)."""
    if (left.readings is None) == (right.readings is None):
        return None
    other = right if left.readings is not None else left
    return other.vtype if other.vtype in (STR, BOOL) else None
