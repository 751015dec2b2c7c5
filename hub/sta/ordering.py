"""The ORDER BY of one collection (top-level or expanded), and the sort keys keyset paging reads.

Every order ends in ``id`` so pages are stable (18-088 §9.3.3.4 leaves ties to the server). The
``id`` tiebreaker runs in the direction of the last ``$orderby`` item: ``phenomenonTime desc``
becomes ``phenomenon_time_start DESC, id DESC``, which the (datastream, phenomenon time, id) index
reads backwards without a sort step, and whose keyset condition is one index range.

When every item is a plain column of the entity's base table (``name``, ``result``,
``phenomenonTime``: no JSON member, no expression, no navigation) the order is *keyed*:
:attr:`Ordering.keys` lists the columns, and :mod:`hub.sta.paging` can continue after a row's
values instead of skipping rows. Otherwise ``keys`` is None and paging falls back to ``$skip``.
NULLs sort as the largest value (as :func:`hub.sta.compiler.compile_orderby` does); a NOT NULL
column gets no NULLS clause, so SQLite's planner sees the plain index order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement

from hub.sta.columns import NotSupported, entity_table, stored
from hub.sta.compiler import CompileError, compile_orderby
from hub.sta.entities import EntityType, UnknownProperty, resolve_path
from hub.sta.filter import OrderBy, Property, parse_orderby


@dataclass(frozen=True, slots=True)
class SortKey:
    """One plain column of the base table and its direction."""

    column: Column[Any]
    descending: bool

    @property
    def nullable(self) -> bool:
        return bool(self.column.nullable)

    def term(self, column: Any = None) -> ColumnElement[Any]:
        """The ORDER BY term on ``column`` (default: the base table's own column).

        Pass the same-named column of an alias or subquery to order an outer query alike.
        """
        col: Any = self.column if column is None else column
        term: ColumnElement[Any]
        if self.descending:
            term = col.desc().nulls_first() if self.nullable else col.desc()
        else:
            term = col.asc().nulls_last() if self.nullable else col.asc()
        return term


@dataclass(frozen=True, slots=True)
class Ordering:
    """ORDER BY terms (tiebreaker included) and, when the order is keyed, its sort keys."""

    terms: tuple[ColumnElement[Any], ...]
    keys: tuple[SortKey, ...] | None


def ordering(entity: EntityType, orderby_text: str | None) -> Ordering:
    """The order of ``entity`` rows under ``$orderby`` (parse/compile errors propagate)."""
    table: Any = entity_table(entity).table
    if orderby_text is None:
        key = SortKey(table.c.id, descending=False)
        return Ordering((key.term(),), (key,))
    items = parse_orderby(orderby_text)
    # Compiled first: it validates every path and says 400/501 for what cannot be ordered by.
    compiled = compile_orderby(items, entity)
    last_descending = items[-1].descending
    plain = [_plain_key(entity, item) for item in items]
    if all(key is not None for key in plain):
        keys: list[SortKey] = []
        for maybe in plain:
            assert maybe is not None
            keys.append(maybe)
            if maybe.column is table.c.id:
                break  # id is unique: nothing after it can change the order
        else:
            keys.append(SortKey(table.c.id, last_descending))
        return Ordering(tuple(key.term() for key in keys), tuple(keys))
    tiebreak = table.c.id.desc() if last_descending else table.c.id.asc()
    return Ordering((*compiled, tiebreak), None)


def _plain_key(entity: EntityType, item: OrderBy) -> SortKey | None:
    """``item`` as a column of the base table, or None when it is anything else."""
    if not isinstance(item.expr, Property):
        return None
    try:
        resolved = resolve_path(entity, item.expr.path)
        if resolved.hops or resolved.json_keys or resolved.property is None:
            return None
        spec = stored(entity, resolved.property.name)
    except (UnknownProperty, NotSupported) as exc:  # compile_orderby has refused these already
        raise CompileError(str(exc)) from None
    if spec.kind not in ("value", "interval"):
        return None
    # An interval sorts by its start, as compile_orderby does.
    table: Any = entity_table(entity).table
    return SortKey(table.c[spec.columns[0]], item.descending)
