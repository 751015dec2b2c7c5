"""String functions in ``$filter`` on both backends.

Nothing builds a LIKE pattern: ``substringof``/``startswith``/``endswith`` use ``instr``/
``strpos`` and ``substr``, so ``%``, ``_`` and ``\\`` in client text are plain characters and
matching is case-sensitive on both backends (SQLite's LIKE is not). ``indexof`` and
``substring`` are 0-based, as OData 4 and FROST 2.5 (see :mod:`hub.sta.filter.functions`).
``Observation/result`` is an argument as its text: string results, and numbers as text
(:mod:`.results`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, case, cast, func

from hub.sta.columns import strpos
from hub.sta.compile.operand import BOOL, INT, STR, Operand, integer, text

PREDICATES = frozenset({"substringof", "startswith", "endswith"})


def call(name: str, args: list[Operand]) -> Operand:
    """One string function of already compiled arguments."""
    if name in PREDICATES:
        return Operand(expr=_predicate(name, [text(arg) for arg in args]), vtype=BOOL)
    first = text(args[0])
    if name == "length":
        return Operand(expr=func.length(first), vtype=INT)
    if name in ("tolower", "toupper", "trim"):
        sql = {"tolower": func.lower, "toupper": func.upper, "trim": func.trim}[name]
        return Operand(expr=sql(first), vtype=STR)
    if name == "concat":
        return Operand(expr=first.concat(text(args[1])), vtype=STR)
    if name == "indexof":
        return Operand(expr=strpos(first, text(args[1])) - 1, vtype=INT)
    assert name == "substring"
    # 0-based start (OData); negative start or length clamp to 0 so both backends agree
    # (PostgreSQL rejects a negative length, SQLite counts from the end).
    start = integer(args[1])
    sql_args = [first, cast(case((start < 0, 0), else_=start) + 1, Integer)]
    if len(args) == 3:
        length = integer(args[2])
        sql_args.append(cast(case((length < 0, 0), else_=length), Integer))
    return Operand(expr=func.substr(*sql_args), vtype=STR)


def _predicate(name: str, args: list[Any]) -> Any:
    if name == "substringof":  # substringof(needle, haystack), the STA 1.1 / OData 3 order
        return strpos(args[1], args[0]) > 0
    if name == "startswith":
        return func.substr(args[0], 1, func.length(args[1])) == args[1]
    start = func.length(args[0]) - func.length(args[1]) + 1
    return func.substr(args[0], start) == args[1]
