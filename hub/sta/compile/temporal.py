"""Times in ``$filter``: comparisons, the FROST temporal relations, date arithmetic, date functions.

Model. Every time value is a span ``[start, end]``: an instant (``resultTime``, a datetime
literal, ``now()``) is the span whose start is its end; ``phenomenonTime`` of an Observation
and ``start/end`` literals are intervals. Comparisons and relations follow FROST-Server
(``StaTimeIntervalWrapper``/``StaDateTimeWrapper``), which reduce to plain comparisons for two
instants. With ``[s1, e1]`` on the left and ``[s2, e2]`` on the right:

=====================  =================================================
``eq``                 s1 = s2 and e1 = e2
``ne``                 s1 ≠ s2 and e1 ≠ e2 (not "not eq": FROST's rule)
``gt``, ``after``      s1 ≥ e2 and s1 > s2
``ge``                 s1 ≥ s2 and e1 ≥ e2
``lt``, ``before``     e1 ≤ s2 and s1 < s2
``le``                 s1 ≤ s2 and e1 ≤ e2
``meets``              s1 = e2 or e1 = s2
``overlaps``           (s1 < e2 and s2 < e1) or s1 = s2
``starts``             s1 = s2
``finishes``           e1 = e2
``during(a, b)``       b is an interval and s2 ≤ s1, e2 > s1, e2 ≥ e1
=====================  =================================================

So ``phenomenonTime gt X`` is "starts after X" and ``phenomenonTime lt X`` "ended by X and
started before it", and the stored start column carries the index in both. Constants are folded
in Python with the same table.

Arithmetic: ``datetime ± duration`` and ``interval ± duration`` (both ends move), ``datetime -
datetime`` gives a duration; in a difference an interval stands for its start (FROST does so
for ``interval - x``; ``resultTime sub phenomenonTime``, the reporting delay, is allowed too);
durations add and subtract. On stored values this is SQL: PostgreSQL ``timestamptz +
n * interval '1 microsecond'`` and ``extract(epoch ...)``, SQLite the registered
``auasu_time_add``/``auasu_time_diff`` (:mod:`hub.store.sqlite_functions`); durations are whole
microseconds on both. ``duration'P1M'``/``'P1Y'`` are refused by the lexer (400): a month or a
year has no fixed length, and silently using 30 or 365 days would move windows near month ends.

Date functions read stored times in UTC (they are stored in UTC) and a datetime literal in its
own offset, as OData defines them; ``totaloffsetminutes`` is therefore 0 for stored values and the
literal's offset for literals. ``date()``/``time()`` give a date/time of day comparable with date
(``2025-01-14``) and time (``10:00:00``) literals. ``mindatetime()``/``maxdatetime()`` are the
limits of the type (0001-01-01T00:00:00Z, 9999-12-31T23:59:59.999999Z), not of the data (FROST
issue #101). ``now()`` is one instant for the whole request.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Float,
    Integer,
    Time,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    literal_column,
    or_,
    true,
    type_coerce,
)

from hub.sta.columns import PerDialect, bind_value
from hub.sta.compile.operand import (
    DATE,
    DT,
    DURATION,
    INTERVAL,
    TEMPORAL,
    TIME,
    CompileError,
    Operand,
    const,
)
from hub.sta.filter import ArithmeticOp, ValueType
from hub.store.types import UTCDateTime

MIN_DATETIME = datetime(1, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime.max.replace(tzinfo=UTC)
RELATIONS = frozenset({"before", "after", "meets", "during", "overlaps", "starts", "finishes"})
TIME_TYPES = frozenset({DT, INTERVAL, DURATION, DATE, TIME})

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    name: getattr(operator, name) for name in ("eq", "ne", "gt", "ge", "lt", "le")
}
# Two instants: every relation is one comparison.
_INSTANTS = {
    **{op: op for op in _CMP},
    "after": "gt",
    "before": "lt",
    "meets": "eq",
    "overlaps": "eq",
    "starts": "eq",
    "finishes": "eq",
}
_STRFTIME = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}
_PARTS_OF = {
    "year": frozenset({DT, INTERVAL, DATE}),
    "month": frozenset({DT, INTERVAL, DATE}),
    "day": frozenset({DT, INTERVAL, DATE}),
    "hour": frozenset({DT, INTERVAL, TIME}),
    "minute": frozenset({DT, INTERVAL, TIME}),
    "second": frozenset({DT, INTERVAL, TIME}),
    "fractionalseconds": frozenset({DT, INTERVAL, TIME}),
    "date": frozenset({DT, INTERVAL}),
    "time": frozenset({DT, INTERVAL}),
    "totaloffsetminutes": frozenset({DT, INTERVAL}),
}
_ONE_MICROSECOND: ColumnElement[Any] = literal_column("INTERVAL '1 microsecond'")
_UTC: ColumnElement[Any] = literal_column("'UTC'")


@dataclass(frozen=True, slots=True)
class _Span:
    """A time value as [start, end]: Python datetimes (folding) or SQL expressions."""

    start: Any
    end: Any
    instant: bool


def constant(name: str, now: datetime) -> Operand:
    """``now()``, ``mindatetime()`` or ``maxdatetime()``."""
    value = {"now": now, "mindatetime": MIN_DATETIME, "maxdatetime": MAX_DATETIME}[name]
    return const(value, DT)


def involved(left: Operand, right: Operand) -> bool:
    """Whether a comparison is between times (JSON members never are: they stay untyped)."""
    return any(v.vtype in TEMPORAL and v.json is None for v in (left, right))


def _span(val: Operand, bound: bool) -> _Span:
    """``val`` as a span; ``bound``: constants become bound parameters (SQL context)."""
    if val.is_const:
        start, end = val.const if val.vtype is INTERVAL else (val.const, val.const)
        if bound:
            start, end = bind_value(start, DT), bind_value(end, DT)
        return _Span(start, end, val.vtype is not INTERVAL)
    if val.interval is not None:
        return _Span(val.interval[0], val.interval[1], False)
    return _Span(val.expr, val.expr, True)


def _check_time(val: Operand, where: str) -> None:
    if val.json is not None:
        raise CompileError(f"{where}: JSON members cannot be used as times yet", 501)
    if val.vtype not in TEMPORAL:
        found = "null" if val.is_const and val.vtype is None else (val.vtype or "a value")
        raise CompileError(f"{where} needs a datetime or a time interval, got {found}")


def _formula(
    op: str,
    a: _Span,
    b: _Span,
    all_: Callable[..., Any],
    any_: Callable[..., Any],
) -> Any:
    """FROST's relation ``op`` between spans ``a`` and ``b`` (see the module docstring)."""

    def cmp(x: Any, name: str, y: Any) -> Any:
        return _CMP[name](x, y)

    if a.instant and b.instant and op != "contains":
        return cmp(a.start, _INSTANTS[op], b.start)
    s1, e1, s2, e2 = a.start, a.end, b.start, b.end
    if op == "eq":
        return all_(cmp(s1, "eq", s2), cmp(e1, "eq", e2))
    if op == "ne":
        return all_(cmp(s1, "ne", s2), cmp(e1, "ne", e2))
    if op in ("gt", "after"):
        return all_(cmp(s1, "ge", e2), cmp(s1, "gt", s2))
    if op == "ge":
        return all_(cmp(s1, "ge", s2), cmp(e1, "ge", e2))
    if op in ("lt", "before"):
        return all_(cmp(e1, "le", s2), cmp(s1, "lt", s2))
    if op == "le":
        return all_(cmp(s1, "le", s2), cmp(e1, "le", e2))
    if op == "meets":
        return any_(cmp(s1, "eq", e2), cmp(e1, "eq", s2))
    if op == "overlaps":
        return any_(all_(cmp(s1, "lt", e2), cmp(s2, "lt", e1)), cmp(s1, "eq", s2))
    if op == "starts":
        return cmp(s1, "eq", s2)
    if op == "finishes":
        return cmp(e1, "eq", e2)
    assert op == "contains"
    return all_(cmp(s1, "le", s2), cmp(e1, "gt", s2), cmp(e1, "ge", e2))


def _evaluate(op: str, left: Operand, right: Operand) -> Any:
    """The relation as a Python bool (both constant) or a SQL condition."""
    if left.is_const and right.is_const:
        found = _formula(op, _span(left, False), _span(right, False), _all, _any)
        return true() if found else false()
    return _formula(op, _span(left, True), _span(right, True), and_, or_)


def _all(*terms: bool) -> bool:
    return all(terms)


def _any(*terms: bool) -> bool:
    return any(terms)


def compare(op: str, left: Operand, right: Operand) -> ColumnElement[bool]:
    """``left op right`` where at least one side is a time (see the module docstring)."""
    for val in (left, right):
        _check_time(val, f"'{op}' with a time")
    result: ColumnElement[bool] = _evaluate(op, left, right)
    return result


def relation(name: str, left: Operand, right: Operand) -> Operand:
    """``before``/``after``/``meets``/``during``/``overlaps``/``starts``/``finishes``."""
    _check_time(left, f"argument 1 of {name!r}")
    _check_time(right, f"argument 2 of {name!r}")
    if name == "during":
        if right.vtype is not INTERVAL:
            raise CompileError("argument 2 of 'during' must be a time interval (start/end)")
        found = _evaluate("contains", right, left)
    else:
        found = _evaluate(name, left, right)
    return Operand(expr=found, vtype=ValueType.BOOLEAN)


# --- arithmetic ----------------------------------------------------------------------------


def _micros_sql(val: Operand) -> Any:
    return bind_value(val.const, DURATION) if val.is_const else val.expr


def _instant_sql(val: Operand) -> Any:
    if val.is_const:
        start = val.const[0] if val.vtype is INTERVAL else val.const
        return bind_value(start, DT)
    return val.interval[0] if val.interval is not None else val.expr


def _shift(moment: Any, amount: Any) -> Any:
    """SQL ``moment + amount`` (amount in microseconds) on both backends."""
    return PerDialect(
        func.auasu_time_add(moment, amount, type_=UTCDateTime()),
        type_coerce(moment + amount * _ONE_MICROSECOND, UTCDateTime()),
    )


def _difference(a: Any, b: Any) -> Any:
    """SQL ``a - b`` of two instants, in whole microseconds."""
    epoch = extract("epoch", a - b) * literal_column("1000000")
    return PerDialect(
        func.auasu_time_diff(a, b, type_=BigInteger()), cast(func.round(epoch), BigInteger)
    )


def arithmetic(op: ArithmeticOp, left: Operand, right: Operand) -> Operand:
    """``add``/``sub`` with times and durations (see the module docstring); the rest is 400."""
    kinds = (left.vtype, right.vtype)
    if op not in (ArithmeticOp.ADD, ArithmeticOp.SUB) or DATE in kinds or TIME in kinds:
        raise CompileError(
            f"{op.value} is not defined for {left.vtype or 'json'} and {right.vtype or 'json'}"
            " (times take add/sub with a duration)"
        )
    if any(v.json is not None for v in (left, right)):
        raise CompileError("date arithmetic with a JSON member is not supported yet", 501)
    sub = op is ArithmeticOp.SUB
    if left.is_const and right.is_const:
        return _fold(sub, left, right)
    if right.vtype is DURATION and left.vtype in (DT, INTERVAL, DURATION):
        amount = _micros_sql(right)
        amount = -amount if sub else amount
        if left.vtype is DURATION:
            return Operand(expr=_micros_sql(left) + amount, vtype=DURATION)
        return _shifted(left, amount)
    if left.vtype is DURATION and right.vtype in (DT, INTERVAL) and not sub:
        return _shifted(right, _micros_sql(left))
    if sub and left.vtype in (DT, INTERVAL) and right.vtype in (DT, INTERVAL):
        return Operand(expr=_difference(_instant_sql(left), _instant_sql(right)), vtype=DURATION)
    raise CompileError(f"cannot {op.value} {left.vtype} and {right.vtype}")


def _shifted(val: Operand, amount: Any) -> Operand:
    if val.vtype is INTERVAL:
        if val.is_const:
            start, end = (bind_value(v, DT) for v in val.const)
        else:
            assert val.interval is not None
            start, end = val.interval
        return Operand(interval=(_shift(start, amount), _shift(end, amount)), vtype=INTERVAL)
    moment = bind_value(val.const, DT) if val.is_const else val.expr
    return Operand(expr=_shift(moment, amount), vtype=DT)


def _fold(sub: bool, left: Operand, right: Operand) -> Operand:
    a, b = left.const, right.const
    try:
        if right.vtype is DURATION and left.vtype in (DT, DURATION):
            return const(a - b if sub else a + b, left.vtype)
        if right.vtype is DURATION and left.vtype is INTERVAL:
            shift = -b if sub else b
            return const((a[0] + shift, a[1] + shift), INTERVAL)
        if left.vtype is DURATION and right.vtype in (DT, INTERVAL) and not sub:
            return _fold(False, right, left)
        if sub and left.vtype in (DT, INTERVAL) and right.vtype in (DT, INTERVAL):
            start = a[0] if left.vtype is INTERVAL else a
            other = b[0] if right.vtype is INTERVAL else b
            return const(start - other, DURATION)
    except OverflowError:
        raise CompileError("date arithmetic out of range") from None
    raise CompileError(f"cannot {'sub' if sub else 'add'} {left.vtype} and {right.vtype}")


# --- date functions ----------------------------------------------------------------------------


def part(name: str, arg: Operand) -> Operand:
    """year ... second, fractionalseconds, date, time, totaloffsetminutes of ``arg``."""
    allowed = _PARTS_OF[name]
    if arg.json is not None or arg.vtype not in allowed:
        wanted = " or ".join(sorted(v.value for v in allowed))
        raise CompileError(f"{name}() needs a {wanted}, got {arg.vtype or 'a JSON member'}")
    if arg.is_const:
        value = arg.const[0] if arg.vtype is INTERVAL else arg.const
        return _constant_part(name, value)
    value = _instant_sql(arg)
    kind = DT if arg.vtype is INTERVAL else arg.vtype
    return _sql_part(name, value, kind)


def _constant_part(name: str, value: datetime | date | time) -> Operand:
    if name == "fractionalseconds":
        assert isinstance(value, datetime | time)
        return const(value.microsecond / 1_000_000, ValueType.DECIMAL)
    if name == "totaloffsetminutes":
        assert isinstance(value, datetime)
        offset = value.utcoffset() or timedelta(0)
        return const(int(offset.total_seconds()) // 60, ValueType.INTEGER)
    if name == "date":
        assert isinstance(value, datetime)
        return const(value.date(), DATE)
    if name == "time":
        assert isinstance(value, datetime)
        return const(value.time(), TIME)
    return const(getattr(value, name), ValueType.INTEGER)


def _sql_part(name: str, value: Any, kind: ValueType | None) -> Operand:
    """One date function of a SQL value: UTC text on SQLite, timestamptz/date/time on PostgreSQL.

    The SQLite offsets are those of the store's text, ``YYYY-MM-DD HH:MM:SS.ffffff`` (time of
    day from ``time()``: ``HH:MM:SS.ffffff``); PostgreSQL reads a timestamptz in UTC.
    """
    utc = func.timezone(_UTC, value) if kind is DT else value
    if name == "date":
        return Operand(expr=PerDialect(func.substr(value, 1, 10), cast(utc, Date)), vtype=DATE)
    if name == "time":
        return Operand(expr=PerDialect(func.substr(value, 12, 15), cast(utc, Time)), vtype=TIME)
    if name == "totaloffsetminutes":  # stored times are UTC
        return Operand(
            expr=type_coerce(case((value.is_not(None), literal_column("0"))), Integer()),
            vtype=ValueType.INTEGER,
        )
    if name == "fractionalseconds":
        fraction = func.substr(value, 20 if kind is DT else 9)
        lite = cast(literal_column("'0'").concat(fraction), Float)
        whole: ColumnElement[Any] = literal_column("1000000")
        pg = cast(func.mod(extract("microseconds", value), whole) / literal_column("1e6"), Float)
        return Operand(expr=PerDialect(lite, pg), vtype=ValueType.DECIMAL)
    lite = cast(func.strftime(literal_column(f"'{_STRFTIME[name]}'"), value), Integer)
    pg = cast(func.floor(extract(name, utc)), Integer)
    return Operand(expr=PerDialect(lite, pg), vtype=ValueType.INTEGER)
