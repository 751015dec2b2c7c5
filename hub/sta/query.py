"""SQL for STA read requests: a resource path plus query options over the entity's base table.

The path (``Things(1)/Datastreams(2)/Observations``) becomes a chain of ``id IN (SELECT ...)``
subqueries over aliases, joined with the links of :mod:`hub.sta.columns`; the final query selects
from the last entity's *base* table so that the ``$filter``/``$orderby`` expressions of
:mod:`hub.sta.compiler` correlate with it. Evaluation order follows 18-088 §9.3 (``sta.md``
§1.4): ``$filter`` → ``$count`` → ``$orderby`` → ``$skip`` → ``$top``; ``$select`` and
``$expand`` are applied afterwards (:mod:`hub.sta.expand`).

Once the entity a navigation starts from is known to exist and has an id
(``Datastreams(7)/Observations``), the last hop is a plain ``datastream_id = 7``: the form the
(datastream, phenomenon time, id) index answers with one range scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Select, exists, func, select

from hub.sta.columns import entity_table, link, link_condition
from hub.sta.compiler import compile_filter
from hub.sta.count import Count, count_rows
from hub.sta.filter import parse_filter
from hub.sta.options import QueryOptions
from hub.sta.ordering import Ordering
from hub.sta.paging import after
from hub.sta.paths import ResourcePath


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection: the rows, the total when ``$count=true``, and whether more
    rows follow (one row more than ``$top`` was fetched)."""

    rows: list[Any]
    count: Count | None
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


def base_conditions(
    path: ResourcePath, *, parent_checked: bool = False
) -> list[ColumnElement[bool]]:
    """The WHERE terms over the last entity's base table that the path itself implies.

    ``parent_checked``: the caller has established (:func:`parent_exists`) that the entity the
    last hop starts from exists, so when that entity has an id the hop can name it directly.
    """
    entity = path.entity
    assert entity is not None
    table: Any = entity_table(entity).table
    last = path.segments[-1]
    conditions: list[ColumnElement[bool]] = [] if last.id is None else [table.c.id == last.id]
    if len(path.segments) == 1:
        return conditions
    parent = path.segments[-2]
    assert last.navigation is not None
    hop = link(parent.entity, last.navigation.name)
    source: Any = entity_table(parent.entity).table.alias()
    if parent_checked and parent.id is not None:
        parent_id = parent.id

        def of_parents(column: Any) -> ColumnElement[bool]:
            return column == parent_id  # type: ignore[no-any-return]
    else:
        prefix = _ids_of_prefix(path, len(path.segments) - 2)

        def of_parents(column: Any) -> ColumnElement[bool]:
            return column.in_(prefix)  # type: ignore[no-any-return]

    if hop.kind == "reverse":
        conditions.append(of_parents(table.c[hop.column]))
    elif hop.kind == "fk":
        targets = select(source.c[hop.column]).where(of_parents(source.c.id))
        conditions.append(table.c.id.in_(targets))
    else:
        assert hop.through is not None
        via: Any = hop.through.alias()
        linked = select(via.c[hop.target_key]).where(of_parents(via.c[hop.source_key]))
        conditions.append(table.c.id.in_(linked))
    return conditions


def path_ordering(path: ResourcePath, options: QueryOptions, order: Ordering) -> Ordering:
    """``order``, or for ``MultiDatastreams(n)/ObservedProperties`` without ``$orderby`` the
    order of the MultiDatastream's result elements (its ObservedProperties by position).

    An ObservedProperty at two positions is listed once, at the first. The position is not a
    column of the base table, so such a page continues with ``$skip`` (a handful of rows).
    """
    if options.orderby_text is not None or len(path.segments) < 2:
        return order
    parent, last = path.segments[-2], path.segments[-1]
    if parent.id is None or last.navigation is None:
        return order
    hop = link(parent.entity, last.navigation.name)
    if not hop.position:
        return order
    assert hop.through is not None and path.entity is not None
    table: Any = entity_table(path.entity).table
    via: Any = hop.through.alias()
    first = (
        select(func.min(via.c[hop.position]))
        .where(via.c[hop.source_key] == parent.id, via.c[hop.target_key] == table.c.id)
        .scalar_subquery()
    )
    return Ordering((first, *order.terms), None)


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


def fetch_page(
    conn: Connection,
    path: ResourcePath,
    options: QueryOptions,
    order: Ordering,
    resume: list[Any] | None = None,
) -> Page:
    """The rows of a collection path under ``options`` (parse/compile errors propagate).

    Call :func:`parent_exists` first. ``resume``: the sort-key values of a ``$skiptoken``; the
    page starts after them (then ``$skip`` more rows are skipped, if the client added one).
    """
    entity = options.entity
    table: Any = entity_table(entity).table
    conditions = base_conditions(path, parent_checked=True)
    if options.filter_text is not None:
        conditions.append(compile_filter(parse_filter(options.filter_text), entity))
    total = count_rows(conn, table, conditions) if options.count else None
    if resume is not None:
        assert order.keys is not None
        conditions.append(after(order.keys, resume))
    stmt = select(table).where(*conditions).order_by(*order.terms)
    if options.skip:
        stmt = stmt.offset(options.skip)
    rows = list(conn.execute(stmt.limit(options.top + 1)).all())
    more = len(rows) > options.top
    return Page(rows[: options.top], total, more)
