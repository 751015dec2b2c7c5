"""SQL for STA read requests: a resource path plus query options over the entity's base table.

The path (``Things(1)/Datastreams(2)/Observations``) becomes a chain of ``id IN (SELECT ...)``
subqueries over aliases, joined with the links of :mod:`hub.sta.columns`; the final query selects
from the last entity's *base* table so that the ``$filter``/``$orderby`` expressions of
:mod:`hub.sta.compiler` correlate with it. Evaluation order follows 18-088 §9.3 (``sta.md``
§1.4): ``$filter`` → ``$count`` → ``$orderby`` → ``$skip`` → ``$top``; ``$select`` is applied by
the serialiser afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Select, exists, func, select

from hub.sta.columns import entity_table, link, link_condition
from hub.sta.compiler import compile_filter, compile_orderby
from hub.sta.filter import parse_filter, parse_orderby
from hub.sta.options import QueryOptions
from hub.sta.paths import ResourcePath


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection: the rows, the total when ``$count=true``, and whether more
    rows follow (one row more than ``$top`` was fetched)."""

    rows: list[Any]
    count: int | None
    more: bool


def _ids_of_prefix(path: ResourcePath, upto: int) -> Select[Any] | None:
    """``SELECT id`` of the entities segments ``0..upto`` address (None: a whole entity set)."""
    ids: Select[Any] | None = None
    for index, segment in enumerate(path.segments[: upto + 1]):
        table = entity_table(segment.entity).table.alias()
        cols: Any = table.c
        conditions: list[ColumnElement[bool]] = []
        froms: list[FromClause] = [table]
        if segment.navigation is not None:
            assert ids is not None
            parent = path.segments[index - 1].entity
            source = entity_table(parent).table.alias()
            hop = link(parent, segment.navigation.name)
            condition, extra = link_condition(hop, source, table)
            src: Any = source.c
            froms = [source, *extra, table]
            conditions += [src.id.in_(ids), condition]
        if segment.id is not None:
            conditions.append(cols.id == segment.id)
        ids = select(cols.id).select_from(*froms).where(*conditions)
    return ids


def base_conditions(path: ResourcePath) -> list[ColumnElement[bool]]:
    """The WHERE terms over the last entity's base table that the path itself implies."""
    entity = path.entity
    assert entity is not None
    table: Any = entity_table(entity).table
    last = path.segments[-1]
    if len(path.segments) == 1:
        return [] if last.id is None else [table.c.id == last.id]
    ids = _ids_of_prefix(path, len(path.segments) - 1)
    assert ids is not None
    return [table.c.id.in_(ids)]


def parent_exists(conn: Connection, path: ResourcePath) -> bool:
    """Whether the entity a navigation starts from exists (``Things(9)/Datastreams`` → 404)."""
    if len(path.segments) < 2:
        return True
    ids = _ids_of_prefix(path, len(path.segments) - 2)
    assert ids is not None
    return bool(conn.execute(select(exists(ids))).scalar())


def fetch_entity(conn: Connection, path: ResourcePath) -> Any | None:
    """The one row an entity path addresses, or None."""
    entity = path.entity
    assert entity is not None
    table = entity_table(entity).table
    return conn.execute(select(table).where(*base_conditions(path)).limit(1)).first()


def fetch_page(conn: Connection, path: ResourcePath, options: QueryOptions) -> Page:
    """The rows of a collection path under ``options`` (parse/compile errors propagate)."""
    entity = options.entity
    table: Any = entity_table(entity).table
    conditions = base_conditions(path)
    if options.filter_text is not None:
        conditions.append(compile_filter(parse_filter(options.filter_text), entity))
    order: list[Any] = []
    if options.orderby_text is not None:
        order = compile_orderby(parse_orderby(options.orderby_text), entity)
    order.append(table.c.id.asc())  # tiebreaker: stable pages
    total = None
    if options.count:
        total = int(
            conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
        )
    stmt = select(table).where(*conditions).order_by(*order).offset(options.skip)
    rows = list(conn.execute(stmt.limit(options.top + 1)).all())
    more = len(rows) > options.top
    return Page(rows[: options.top], total, more)
