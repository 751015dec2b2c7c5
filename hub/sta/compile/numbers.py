"""Numbers in ``$filter``: add/sub/mul/div/mod and round/floor/ceiling on both backends.

Constant sub-expressions (``2 mul 3``) are folded in Python with SQL's rules (integer results
stay 64-bit, ``mod`` takes the dividend's sign); ``div`` is true division; a zero divisor in a
stored value gives NULL (no match) instead of an error, a constant zero divisor is a 400.
``mod`` of decimals is C ``fmod`` (SQLite: the registered ``auasu_fmod``; PostgreSQL: ``mod`` on
``numeric``).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import BigInteger, Float, Text, and_, case, cast, func

from hub.sta.columns import math_function, real_mod
from hub.sta.compile.operand import DEC, INT, NUMBER, CompileError, Operand, const, number
from hub.sta.filter import ArithmeticOp


def fold(op: ArithmeticOp, left: Operand, right: Operand) -> Operand:
    """``left op right`` for two numeric constants."""
    a, b = left.const, right.const
    if left.vtype not in NUMBER or right.vtype not in NUMBER:
        raise CompileError(f"{op.value} needs numbers, got {left.vtype} and {right.vtype}")
    integers = isinstance(a, int) and isinstance(b, int)
    if op in (ArithmeticOp.DIV, ArithmeticOp.MOD) and b == 0:
        raise CompileError(f"{op.value} by zero")
    if op is ArithmeticOp.ADD:
        value: Any = a + b
    elif op is ArithmeticOp.SUB:
        value = a - b
    elif op is ArithmeticOp.MUL:
        value = a * b
    elif op is ArithmeticOp.DIV:
        value = a / b
    elif integers:  # SQL's sign rule: the remainder takes the dividend's sign
        value = abs(a) % abs(b) * (1 if a >= 0 else -1)
    else:
        value = math.fmod(a, b)
    if isinstance(value, float) and not math.isfinite(value):
        raise CompileError(f"{op.value} overflows")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise CompileError(f"{op.value} overflows a 64-bit integer")
    return const(value, INT if isinstance(value, int) else DEC)


def arithmetic(op: ArithmeticOp, left: Operand, right: Operand) -> Operand:
    """``left op right`` of numbers, at least one of them SQL."""
    a, b = number(left), number(right)
    integers = left.vtype is INT and right.vtype is INT
    if op is ArithmeticOp.ADD:
        return Operand(expr=a + b, vtype=INT if integers else DEC)
    if op is ArithmeticOp.SUB:
        return Operand(expr=a - b, vtype=INT if integers else DEC)
    if op is ArithmeticOp.MUL:
        return Operand(expr=a * b, vtype=INT if integers else DEC)
    if right.is_const and right.const == 0:
        raise CompileError(f"{op.value} by zero")
    # NULLIF: a zero divisor gives NULL (no match) on both backends instead of an error.
    if op is ArithmeticOp.DIV:
        return Operand(expr=cast(a, Float) / func.nullif(b, 0), vtype=DEC)
    if integers:
        return Operand(expr=a % func.nullif(b, 0), vtype=INT)
    return Operand(expr=real_mod(a, b), vtype=DEC)


def rounding(name: str, arg: Operand) -> Operand:
    """round (half away from zero), floor or ceiling (in SQL even for constants, so both
    backends round the same way)."""
    return Operand(expr=math_function(name, number(arg)), vtype=DEC)


def as_text(expr: Any) -> Any:
    """A stored number as text, spelled alike on both backends: whole values without a
    fraction (``4`` rather than SQLite's ``4.0``), others as the backend prints a double
    (the text reading of a numeric ``Observation/result``, :mod:`.results`)."""
    whole = and_(func.abs(expr) < 1e15, expr == func.round(expr))
    return case(
        (whole, cast(cast(func.round(expr), BigInteger), Text)),
        else_=cast(expr, Text),
    )
