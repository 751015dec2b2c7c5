"""What the ``$filter`` compiler passes around: :class:`Operand` values and the refusal it raises.

An operand is either a constant (folded in Python, bound only when it meets a column) or SQL:
a plain column expression, a JSON member still waiting for its type, a time interval
``(start, end)``, a geometry spelled once per backend, or a column whose values of other types
live in a JSON twin (``Observation/result``, :class:`Readings`, built by :mod:`.results`). The
helpers here turn an operand into SQL of the type its context wants, always through bound
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, cast

from hub.sta.columns import bind_value, json_member
from hub.sta.filter import ValueType

STR, INT, DEC, BOOL = ValueType.STRING, ValueType.INTEGER, ValueType.DECIMAL, ValueType.BOOLEAN
DT, DATE, TIME = ValueType.DATETIME, ValueType.DATE, ValueType.TIME
DURATION, INTERVAL, GEOMETRY = ValueType.DURATION, ValueType.INTERVAL, ValueType.GEOMETRY
NUMBER = frozenset({INT, DEC})
TEMPORAL = frozenset({DT, INTERVAL})


class CompileError(ValueError):
    """A filter the hub refuses (``status`` 400) or cannot evaluate yet (501); one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Readings:
    """A property read as each type, for values spread over a typed column and a JSON twin.

    ``text``: the value as SQL text, NULL when it has no text form; ``boolean``: a SQL boolean,
    NULL unless it is a boolean; ``null``: the condition "no value at all" (never SQL NULL
    itself, so that ``ne null`` can be its negation). :mod:`.results` says which values read how.
    """

    text: Any
    boolean: Any
    null: Any


@dataclass(frozen=True, slots=True)
class Operand:
    """A compiled operand.

    ``is_const``/``const``: a Python value (a datetime, a ``(start, end)`` tuple, a timedelta, a
    canonical WKT string, ...). Otherwise SQL: ``expr`` (durations are whole microseconds);
    ``json`` a JSON column and member keys, typed later by the comparison; ``interval`` the
    (start, end) expressions of a time interval; ``geometry`` the (SQLite, PostgreSQL)
    spellings of a geometry; ``distance`` the PostGIS arguments of a ``geo.distance`` result, so
    that ``lt``/``le`` can add an index-assisted ``ST_DWithin``; ``readings`` the other types of
    a column with a JSON twin (``expr`` then is the typed column, read when a number is wanted).
    """

    expr: Any = None
    vtype: ValueType | None = None
    const: Any = None
    is_const: bool = False
    json: tuple[ColumnElement[Any], tuple[str, ...]] | None = None
    interval: tuple[Any, Any] | None = None
    geometry: tuple[Any, Any] | None = None
    distance: tuple[Any, Any] | None = None
    readings: Readings | None = None


def const(value: Any, vtype: ValueType | None) -> Operand:
    """A constant operand (``vtype`` None: null)."""
    return Operand(vtype=vtype, const=value, is_const=True)


def check_types(left: ValueType | None, right: ValueType | None, where: str) -> None:
    """Refuse mixing types (integers and decimals mix; None means unknown or null)."""
    if left is None or right is None or left == right:
        return
    if left in NUMBER and right in NUMBER:
        return
    raise CompileError(f"type mismatch: {left} and {right} ({where})")


def sql(val: Operand, want: ValueType | None) -> Any:
    """``val`` as SQL; ``want`` types constants, JSON members and readings (a string or boolean
    reading of a column with a JSON twin; any other ``want`` reads its typed column); an interval
    gives its start."""
    if val.is_const:
        return bind_value(val.const, val.vtype or want)
    if val.json is not None:
        return json_member(*val.json, want)
    if val.readings is not None and want is STR:
        return val.readings.text
    if val.readings is not None and want is BOOL:
        return val.readings.boolean
    if val.interval is not None:
        return val.interval[0]
    if val.geometry is not None:
        raise CompileError("a geometry can only be used with the geo.* and st_* functions")
    return val.expr


def text(val: Operand) -> Any:
    """A string argument of a function (constants cast so PostgreSQL knows their type; a
    column with a JSON twin gives its text reading)."""
    if val.readings is None:
        check_types(STR, val.vtype if val.json is None else STR, "as a string argument")
    if val.is_const:
        return cast(bind_value(val.const, STR), Text)
    return sql(val, STR)


def number(val: Operand) -> Any:
    """A numeric argument."""
    check_types(DEC, val.vtype if val.json is None else DEC, "as a number")
    return sql(val, DEC)


def integer(val: Operand) -> Any:
    """An integer argument."""
    check_types(INT, val.vtype if val.json is None else INT, "as an integer argument")
    return sql(val, INT)
