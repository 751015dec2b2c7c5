"""Nested ``$expand`` (18-088 §9.3.2.1): related entities written inline, one query per level.

The parsed items (:class:`hub.sta.options.Expand`) become a tree of single hops first:
``Datastreams/ObservedProperty`` is ``Datastreams`` (default options) expanding
``ObservedProperty``, merged with any other item under ``Datastreams``. Then each level is
fetched for a whole page of parents at once -- never a query per parent row:

* to-one (``Datastream``, ``Thing``): the parents' foreign keys, ``id IN (...)``; an entity
  shared by many parents is written once and referenced by each;
* to-many (``Datastreams``, ``Locations``): ``row_number() OVER (PARTITION BY parent ORDER BY
  ...)`` applies each parent's ``$skip``/``$top`` in one statement (SQLite ≥ 3.25, PostgreSQL);
  "Observations of Datastreams by phenomenon time" goes to :mod:`hub.sta.latest` instead, which
  reads the index once per Datastream rather than numbering all of their observations.

A to-many expansion gets ``<Nav>@iot.count`` with ``$count=true`` and ``<Nav>@iot.nextLink``
when the parent has more rows: the absolute URL of the navigation collection with the nested
options and ``$skip`` advanced. A to-one expansion whose entity the nested ``$filter`` excludes
is left out. Expanded navigation properties are written whatever ``$select`` says (18-088:
"expanded items are implicitly selected").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    FromClause,
    Select,
    func,
    literal,
    select,
)

from hub.sta import latest
from hub.sta.columns import Link, entity_table, link
from hub.sta.compiler import compile_filter
from hub.sta.entities import EntityType, NavigationSpec
from hub.sta.filter import parse_filter
from hub.sta.idlist import chunks, id_in
from hub.sta.options import DEFAULT_TOP, MAX_SKIP, Expand, OptionError, QueryOptions
from hub.sta.ordering import Ordering, ordering
from hub.sta.paging import query_string
from hub.sta.serialize import Extras, entity_json, needs_extents, prefetch_extents, self_link

# The generic path can be forced (tests compare it with hub.sta.latest).
USE_LATEST = True

Row = Mapping[str, Any]


@dataclass(slots=True)
class ExpandNode:
    """One expanded navigation (a single hop), its options and what it expands in turn.

    ``explicit``: the client named this hop last in an item (its options are the client's);
    otherwise it only leads to a deeper item and has the default options.
    """

    navigation: NavigationSpec
    options: QueryOptions
    children: list[ExpandNode] = field(default_factory=list)
    explicit: bool = False


def expand_tree(items: Sequence[Expand]) -> list[ExpandNode]:
    """The single-hop tree of ``items`` (400 when two items give one hop different options)."""
    nodes: list[ExpandNode] = []
    for item in items:
        _insert(nodes, item.navigations, item.options)
    return nodes


def _insert(nodes: list[ExpandNode], hops: Sequence[NavigationSpec], options: QueryOptions) -> None:
    hop = hops[0]
    node = next((n for n in nodes if n.navigation.name == hop.name), None)
    if node is None:
        node = ExpandNode(hop, QueryOptions(entity=hop.target, top=DEFAULT_TOP))
        nodes.append(node)
    if len(hops) > 1:
        _insert(node.children, hops[1:], options)
        return
    if node.explicit and options.raw and node.options.raw and options.raw != node.options.raw:
        raise OptionError(f"$expand: {hop.name!r} expanded twice with different options")
    if options.raw or not node.explicit:
        node.options = options
    node.explicit = True
    for child in options.expand:
        _insert(node.children, child.navigations, child.options)


def item_text(node: ExpandNode) -> str:
    """``node`` written back as one ``$expand`` item (for nextLinks)."""
    inner = [(k, v) for k, v in node.options.raw if k != "$expand"]
    if node.children:
        inner.append(("$expand", ",".join(item_text(child) for child in node.children)))
    text = node.navigation.name
    if inner:
        text += "(" + ";".join(f"{k}={v}" for k, v in inner) + ")"
    return text


def _conditions(options: QueryOptions) -> list[ColumnElement[bool]]:
    if options.filter_text is None:
        return []
    return [compile_filter(parse_filter(options.filter_text), options.entity)]


@dataclass(frozen=True, slots=True)
class Writer:
    """Writes rows of one request as STA JSON with their expansions."""

    conn: Connection
    root: str
    extras: Extras

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def entities(
        self,
        entity: EntityType,
        rows: Sequence[Row],
        select_: Sequence[str],
        nodes: Sequence[ExpandNode],
    ) -> list[dict[str, Any]]:
        """One JSON object per row of ``entity``, each with the expansions ``nodes``."""
        if needs_extents(entity, select_):
            prefetch_extents(self.extras, entity, (row["id"] for row in rows))
        bodies = [entity_json(entity, row, self.root, tuple(select_), self.extras) for row in rows]
        if rows:
            for node in nodes:
                self._expand(entity, rows, bodies, node)
        return bodies

    def _expand(
        self,
        entity: EntityType,
        rows: Sequence[Row],
        bodies: list[dict[str, Any]],
        node: ExpandNode,
    ) -> None:
        hop = link(entity, node.navigation.name)
        if hop.kind == "fk":
            self._expand_one(hop, rows, bodies, node)
        else:
            self._expand_many(entity, hop, rows, bodies, node)

    def _expand_one(
        self, hop: Link, rows: Sequence[Row], bodies: list[dict[str, Any]], node: ExpandNode
    ) -> None:
        options = node.options
        table: Any = entity_table(options.entity).table
        keys = list(dict.fromkeys(row[hop.column] for row in rows if row[hop.column] is not None))
        conditions = _conditions(options)
        found: dict[int, Row] = {}
        for chunk in chunks(keys):
            stmt = select(table).where(id_in(self.dialect, table.c.id, chunk), *conditions)
            for found_row in self.conn.execute(stmt).all():
                found[found_row.id] = _mapping(found_row)
        children = list(found.values())
        written = self.entities(options.entity, children, options.select, node.children)
        by_id = {row["id"]: body for row, body in zip(children, written, strict=True)}
        name = node.navigation.name
        for row, body in zip(rows, bodies, strict=True):
            child = by_id.get(row[hop.column])
            if child is not None:
                body[name] = child

    def _expand_many(
        self,
        entity: EntityType,
        hop: Link,
        rows: Sequence[Row],
        bodies: list[dict[str, Any]],
        node: ExpandNode,
    ) -> None:
        options = node.options
        table: Any = entity_table(options.entity).table
        order = ordering(options.entity, options.orderby_text)
        conditions = _conditions(options)
        key, froms, joins, position = _parent_key(hop, table)
        if position is not None and options.orderby_text is None:
            # MultiDatastream/ObservedProperties: in the order of the result array's elements.
            order = Ordering((position, *order.terms), None)
        parents = list(dict.fromkeys(row["id"] for row in rows))
        fast = USE_LATEST and latest.applies(entity, node.navigation, order)
        groups: dict[int, list[Row]] = defaultdict(list)
        more: set[int] = set()  # parents with rows after this page
        if options.top > 0:
            for chunk in chunks(parents):
                if fast:
                    groups.update(self._latest(entity, chunk, order, conditions, options, more))
                    continue
                matching = [id_in(self.dialect, key, chunk), *joins, *conditions]
                stmt = _window(table, key, froms, matching, order, options)
                for fetched in self.conn.execute(stmt).all():
                    mapping = _mapping(fetched)
                    groups[mapping[latest.PARENT]].append(mapping)
            # The window path fetched one row more than asked where there is one.
            more.update(parent for parent, group in groups.items() if len(group) > options.top)
        counts: dict[int, int] = {}
        if options.count:
            for chunk in chunks(parents):
                stmt = (
                    select(key, func.count())
                    .select_from(*froms)
                    .where(id_in(self.dialect, key, chunk), *joins, *conditions)
                    .group_by(key)
                )
                counts.update((parent, int(n)) for parent, n in self.conn.execute(stmt))
        unique: dict[int, Row] = {}
        for group in groups.values():
            for child in group[: options.top]:
                unique.setdefault(child["id"], child)
        children = list(unique.values())
        written = self.entities(options.entity, children, options.select, node.children)
        by_id = dict(zip(unique, written, strict=True))
        name = node.navigation.name
        next_query = next_link_query(node)
        for row, body in zip(rows, bodies, strict=True):
            parent = row["id"]
            group = groups.get(parent, [])
            if options.count:
                body[f"{name}@iot.count"] = counts.get(parent, 0)
            body[name] = [by_id[child["id"]] for child in group[: options.top]]
            if parent in more:
                parent_link = self_link(self.root, entity, parent)
                body[f"{name}@iot.nextLink"] = f"{parent_link}/{name}?{next_query}"

    def _latest(
        self,
        entity: EntityType,
        streams: Sequence[int],
        order: Ordering,
        conditions: list[ColumnElement[bool]],
        options: QueryOptions,
        more: set[int],
    ) -> dict[int, list[Row]]:
        """The page of Observations of each of ``streams`` (:mod:`hub.sta.latest`); adds the
        streams that have more to ``more``."""
        offset = min(options.skip + options.top, MAX_SKIP)
        stmt = latest.statement(
            self.dialect, entity, streams, order, conditions, options.skip, options.top, offset
        )
        groups: dict[int, list[Row]] = defaultdict(list)
        for fetched in self.conn.execute(stmt).all():
            mapping = _mapping(fetched)
            parent = mapping[latest.PARENT]
            groups[parent].append(mapping)
            if mapping[latest.MORE]:
                more.add(parent)
        return groups


def next_link_query(node: ExpandNode) -> str:
    """The query string of an expanded collection's next page: the nested options (and
    expansions) of ``node`` with ``$skip`` advanced by ``$top``; the same for every parent."""
    options = node.options
    pairs = [(k, v) for k, v in options.raw if k not in ("$top", "$skip", "$expand")]
    if node.children:
        pairs.append(("$expand", ",".join(item_text(child) for child in node.children)))
    skip = min(options.skip + options.top, MAX_SKIP)
    pairs += [("$top", str(options.top)), ("$skip", str(skip))]
    return query_string(pairs)


def _mapping(row: Any) -> Row:
    """A result row as the name-keyed mapping the serialiser reads."""
    mapping: Row = row._mapping
    return mapping


def _parent_key(
    hop: Link, table: Any
) -> tuple[
    ColumnElement[Any], list[FromClause], list[ColumnElement[bool]], ColumnElement[Any] | None
]:
    """The column holding the parent's id for rows of ``table`` reached through ``hop``, the
    FROM list, the join conditions that reach it, and the association's position column when
    it orders the targets (else None)."""
    if hop.kind == "reverse":
        return table.c[hop.column], [table], [], None
    assert hop.kind == "through" and hop.through is not None
    via: Any = hop.through.alias()
    joins: list[ColumnElement[bool]] = [via.c[hop.target_key] == table.c.id]
    if not hop.position:
        return via.c[hop.source_key], [table, via], joins, None
    # One ObservedProperty may hold two positions of a MultiDatastream; it is listed once, at
    # its first position, as the collection path lists it (hub.sta.query).
    other: Any = hop.through.alias()
    first = (
        select(func.min(other.c[hop.position]))
        .where(
            other.c[hop.source_key] == via.c[hop.source_key],
            other.c[hop.target_key] == via.c[hop.target_key],
        )
        .scalar_subquery()
    )
    joins.append(via.c[hop.position] == first)
    return via.c[hop.source_key], [table, via], joins, via.c[hop.position]


def _window(
    table: Any,
    key: ColumnElement[Any],
    froms: list[FromClause],
    conditions: list[ColumnElement[bool]],
    order: Ordering,
    options: QueryOptions,
) -> Select[Any]:
    """Rows of ``table`` meeting ``conditions`` (which pick the parents): each parent's
    ``$skip``..``$top`` (+1) in ``order``."""
    number = func.row_number().over(partition_by=key, order_by=list(order.terms))
    ranked = (
        select(table, key.label(latest.PARENT), number.label("sta_rank"))
        .select_from(*froms)
        .where(*conditions)
        .subquery("ranked")
    )
    cols: Any = ranked.c
    upper = min(options.skip + options.top + 1, MAX_SKIP)
    return (
        select(ranked)
        .where(
            cols.sta_rank > literal(options.skip, BigInteger()),
            cols.sta_rank <= literal(upper, BigInteger()),
        )
        .order_by(cols[latest.PARENT], cols.sta_rank)
    )
