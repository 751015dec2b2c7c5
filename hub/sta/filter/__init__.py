"""STA 1.1 `$filter` / `$orderby` expression language: lexer, parser and typed AST.

Pure (no database, no web framework): `parse_filter` and `parse_orderby` turn client text
into immutable AST nodes, or raise FilterError (HTTP 400) / FilterLimitError. A later
step resolves property paths against the entity whitelist and compiles to SQL with every
literal bound as a parameter.
"""

from __future__ import annotations

from hub.sta.filter.ast import (
    Arithmetic,
    ArithmeticOp,
    Call,
    Compare,
    CompareOp,
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
    depth,
    flatten_logical,
    node_count,
    orderby_text,
    to_text,
    walk,
)
from hub.sta.filter.errors import FilterError, FilterLimitError
from hub.sta.filter.functions import FUNCTIONS, FunctionSpec, ValueType
from hub.sta.filter.parser import parse_filter, parse_orderby

__all__ = [
    "FUNCTIONS",
    "Arithmetic",
    "ArithmeticOp",
    "Call",
    "Compare",
    "CompareOp",
    "FilterError",
    "FilterLimitError",
    "FunctionSpec",
    "Geometry",
    "Literal",
    "LiteralKind",
    "Logical",
    "LogicalOp",
    "Negate",
    "Node",
    "Not",
    "OrderBy",
    "Property",
    "ValueType",
    "depth",
    "flatten_logical",
    "node_count",
    "orderby_text",
    "parse_filter",
    "parse_orderby",
    "to_text",
    "walk",
]
