"""CQL2 text and JSON parsers for ``/oapi``: pygeofilter 0.4's, with what the hub needs added.

pygeofilter's CQL2 parsers, which pygeoapi's items handler calls, lack or misread six things
the hub's filters use (:mod:`hub.ogcapi.cql` translates the result):

* ``S_DWITHIN(geometry, <geometry>, <distance>[, <units>])``: neither parser knows it; here it
  becomes :class:`hub.ogcapi.cql.DistanceWithin` (units ``meters`` by default, ``kilometers``);
* ``T_INTERSECTS``: both map it to ``TimeOverlaps``, a different relation (CQL2's
  ``T_OVERLAPS``); here it is :class:`hub.ogcapi.cql.TimeIntersects`;
* ``T_DISJOINT``: missing from the text grammar;
* ``NOT (a OR b)``: the text grammar negates a single predicate only;
* ``INTERVAL('..', '2025-01-01T00:00:00Z')`` and intervals of ``DATE``s: the text grammar
  takes only two full timestamps;
* ``'it''s'``: CQL2 doubles a quote inside a string; the text grammar ends the string there.

The grammar is pygeofilter's own file with those rules changed (checked when this module is
imported: a pygeofilter whose grammar differs fails loudly instead of parsing differently).
:func:`install` points ``pygeoapi.api.itemtypes``' two parser names at :func:`parse_text` and
:func:`parse_json` (process-wide, idempotent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygeofilter.parsers.cql2_json.parser as cql2_json
import pygeofilter.parsers.cql2_text.parser as cql2_text
from lark import Lark, v_args
from pygeofilter import ast, values

from hub.ogcapi.cql import DistanceWithin, TimeIntersects

_GRAMMAR_DIR = Path(cql2_text.__file__).resolve().parent

# (pygeofilter's rule, the hub's) pairs; each original must occur exactly once.
_EDITS: tuple[tuple[str, str], ...] = (
    (
        '| "NOT"i "(" predicate ")"                                       -> not_',
        '| "NOT"i "(" condition ")"                                       -> not_',
    ),
    (
        "?temporal_predicate: expression _binary_temporal_predicate_func expression "
        "-> binary_temporal_predicate",
        '?temporal_predicate: _binary_temporal_predicate_func "(" expression "," expression ")" '
        "-> temporal_function\n"
        "                   | expression _binary_temporal_predicate_func expression "
        "-> binary_temporal_predicate",
    ),
    (
        '?spatial_predicate: _binary_spatial_predicate_func "(" expression "," expression ")"',
        '?spatial_predicate: "S_DWITHIN"i "(" expression "," expression "," full_number '
        '["," DISTANCE_UNITS] ")" -> dwithin_predicate\n'
        '                  | _binary_spatial_predicate_func "(" expression "," expression ")"',
    ),
    (
        '?interval: "INTERVAL" "("  "\'" DATETIME "\'" "," "\'" DATETIME "\'" ")"',
        'interval: "INTERVAL"i "(" interval_bound "," interval_bound ")"\n'
        'interval_bound: "\'" DATETIME "\'" | "\'" DATE "\'" | OPEN_BOUND\n'
        "OPEN_BOUND: \"'..'\"\n"
        "DISTANCE_UNITS: /(meters|metres|kilometers|kilometres|m|km)\\b/i",
    ),
    ('SINGLE_QUOTED: "\'" /.*?/ "\'"', "SINGLE_QUOTED: /'(?:[^']|'')*'/"),
    (
        '!_binary_temporal_predicate_func: "T_BEFORE"i',
        '!_binary_temporal_predicate_func: "T_BEFORE"i\n                        | "T_DISJOINT"i',
    ),
)


def _grammar() -> str:
    text = (_GRAMMAR_DIR / "grammar.lark").read_text(encoding="utf-8")
    for original, replacement in _EDITS:
        if text.count(original) != 1:
            raise RuntimeError(f"pygeofilter's CQL2 grammar changed; cannot apply: {original}")
        text = text.replace(original, replacement)
    return text


@v_args(meta=False, inline=True)
class _HubTransformer(cql2_text.CQLTransformer):  # type: ignore[misc]
    """pygeofilter's CQL2 text transformer with the hub's additions."""

    def binary_temporal_predicate(self, lhs: Any, op: Any, rhs: Any) -> Any:
        name = str(op).lower()
        if name == "t_intersects":
            return TimeIntersects(lhs, rhs)
        if name == "t_disjoint":
            return ast.TimeDisjoint(lhs, rhs)
        return super().binary_temporal_predicate(lhs, op, rhs)

    def temporal_function(self, op: Any, lhs: Any, rhs: Any) -> Any:
        return self.binary_temporal_predicate(lhs, op, rhs)

    def dwithin_predicate(self, lhs: Any, rhs: Any, distance: Any, units: Any = None) -> Any:
        return DistanceWithin(lhs, rhs, distance, str(units or "meters"))

    def interval(self, start: Any, end: Any) -> Any:
        return values.Interval(start, end)

    def interval_bound(self, value: Any) -> Any:
        return value

    def OPEN_BOUND(self, _token: Any) -> None:
        return None

    def SINGLE_QUOTED(self, token: Any) -> str:
        return str(token)[1:-1].replace("''", "'")


_parser = Lark(
    _grammar(),
    parser="lalr",
    maybe_placeholders=False,
    transformer=_HubTransformer(),
    import_paths=[str(_GRAMMAR_DIR.parent)],
    source_path=str(_GRAMMAR_DIR / "grammar.lark"),
)


def parse_text(cql_text: str) -> Any:
    """A CQL2 text filter as a pygeofilter AST (with the hub's nodes)."""
    return _parser.parse(cql_text)


def parse_json(cql: str | bytes | dict[str, Any]) -> Any:
    """A CQL2 JSON filter as a pygeofilter AST (with the hub's nodes)."""
    root = json.loads(cql) if isinstance(cql, (str, bytes)) else cql
    return cql2_json.walk_cql_json(_hub_ops(root, 0))


def _hub_ops(node: Any, depth: int) -> Any:
    """``node`` with its ``s_dwithin``, ``t_intersects`` and ``t_disjoint`` operations replaced
    (bottom up) by the hub's AST nodes, which pygeofilter's walker passes through unchanged."""
    if depth > 200:
        raise ValueError("the filter is nested too deeply")
    if isinstance(node, list):
        return [_hub_ops(item, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    # Geometries and literals pass as they are (a GeoJSON "coordinates" list is data).
    if "coordinates" in node or "interval" in node or "timestamp" in node or "date" in node:
        return node
    converted = {key: _hub_ops(value, depth + 1) for key, value in node.items()}
    op = converted.get("op")
    args = converted.get("args")
    if op in ("t_intersects", "t_disjoint"):
        lhs, rhs = _two(args)
        node = TimeIntersects if op == "t_intersects" else ast.TimeDisjoint
        return node(cql2_json.walk_cql_json(lhs), cql2_json.walk_cql_json(rhs))
    if op == "s_dwithin":
        if not isinstance(args, list) or len(args) not in (3, 4):
            raise ValueError("s_dwithin takes a property, a geometry, a distance and units")
        units = args[3] if len(args) == 4 else "meters"
        if not isinstance(units, str):
            raise ValueError("s_dwithin units must be text")
        return DistanceWithin(
            cql2_json.walk_cql_json(args[0]), cql2_json.walk_cql_json(args[1]), args[2], units
        )
    return converted


def _two(args: Any) -> tuple[Any, Any]:
    if not isinstance(args, list) or len(args) != 2:
        raise ValueError("the operation takes two arguments")
    return args[0], args[1]


_installed = False


def install() -> None:
    """Make pygeoapi's items handler parse filters with :func:`parse_text` and
    :func:`parse_json`."""
    global _installed
    import pygeoapi.api.itemtypes as itemtypes

    itemtypes.parse_cql2_text = parse_text
    itemtypes.parse_cql2_json = parse_json
    _installed = True


__all__ = ["ast", "install", "parse_json", "parse_text"]
