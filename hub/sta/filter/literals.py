"""Readers for the temporal literals of the filter language: datetimes, dates, times,
`start/end` intervals and `duration'...'` values.

Each reader takes the whole expression and an offset and returns (Literal, end offset),
or raises FilterError pointing at the literal.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone

from hub.sta.filter.ast import Literal, LiteralKind
from hub.sta.filter.errors import FilterError, fragment

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?")
# OData durationValue: [sign] P [nD] [T [nH] [nM] [n[.f]S]]. Digit counts are capped so
# int() never sees thousands of digits.
_DURATION_RE = re.compile(
    r"([+-])?P(?:(\d{1,9})D)?(?:T(?:(\d{1,12})H)?(?:(\d{1,12})M)?(?:(\d{1,12})(?:\.(\d{1,12}))?S)?)?"
)
_CALENDAR_DURATION_RE = re.compile(r"[+-]?P[^T]*[YMW]")
# Characters that may not directly follow a literal (they would make it a different token).
_GLUE = frozenset("0123456789:.-_/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'")


def starts_temporal(text: str, pos: int) -> bool:
    """Whether a date/time literal starts at `pos` (4 digits and '-', or 2 digits and ':')."""
    return bool(_DATE_RE.match(text, pos) or _TIME_RE.match(text, pos))


def _micros(fraction: str | None) -> int:
    # Python datetimes hold microseconds; finer digits (OData allows 12) are truncated.
    return int((fraction or "0")[:6].ljust(6, "0"))


def _invalid(kind: str, text: str, start: int, end: int) -> FilterError:
    return FilterError(
        f"invalid {kind} literal {fragment(text[start:end])} at position {start}", start
    )


def _check_end(text: str, start: int, end: int, kind: str) -> None:
    if end < len(text) and text[end] in _GLUE:
        stop = end + 1
        raise _invalid(kind, text, start, stop)


def _datetime_at(text: str, pos: int) -> tuple[datetime, int] | None:
    match = _DATETIME_RE.match(text, pos)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None:
        raise FilterError(
            f"datetime literal {fragment(match.group(0))} at position {pos} needs a time zone"
            " (Z or +hh:mm)",
            pos,
        )
    try:
        if zone == "Z":
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            tz = timezone(sign * offset)
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            _micros(fraction),
            tzinfo=tz,
        )
    except ValueError:
        raise _invalid("datetime", text, pos, match.end()) from None
    return value, match.end()


def read_temporal(text: str, pos: int) -> tuple[Literal, int]:
    """Read a datetime, `start/end` interval, date or time literal starting at `pos`."""
    found = _datetime_at(text, pos)
    if found is not None:
        start, end = found
        if end < len(text) and text[end] == "/":
            after = _datetime_at(text, end + 1)
            if after is None:
                raise _invalid("interval", text, pos, end + 1)
            stop, end = after
            if stop < start:
                raise FilterError(f"interval at position {pos} ends before it starts", pos)
            _check_end(text, pos, end, "interval")
            return Literal((start, stop), LiteralKind.INTERVAL), end
        _check_end(text, pos, end, "datetime")
        return Literal(start, LiteralKind.DATETIME), end
    match = _DATE_RE.match(text, pos)
    if match is not None:
        _check_end(text, pos, match.end(), "date")
        try:
            value = date(*(int(g) for g in match.groups()))
        except ValueError:
            raise _invalid("date", text, pos, match.end()) from None
        return Literal(value, LiteralKind.DATE), match.end()
    match = _TIME_RE.match(text, pos)
    if match is None:
        raise _invalid("date/time", text, pos, pos + 1)
    _check_end(text, pos, match.end(), "time")
    hour, minute, second, fraction = match.groups()
    try:
        clock = time(int(hour), int(minute), int(second or 0), _micros(fraction))
    except ValueError:
        raise _invalid("time", text, pos, match.end()) from None
    return Literal(clock, LiteralKind.TIME), match.end()


def parse_duration(body: str, pos: int) -> Literal:
    """The value of `duration'<body>'`; `pos` is where the literal starts.

    Years and months are rejected rather than approximated: their length depends on the
    calendar, and a silent 30-day month would give wrong answers near month ends. Weeks
    are not in OData's duration syntax either. Clients write days instead (`P30D`).
    """
    match = _DURATION_RE.fullmatch(body)
    if match is None or body.endswith(("P", "T")):
        if _CALENDAR_DURATION_RE.match(body):
            raise FilterError(
                f"duration {fragment(body)} at position {pos}: years, months and weeks are not"
                " supported (their length varies); use days, e.g. duration'P30D'",
                pos,
            )
        raise FilterError(
            f"invalid duration {fragment(body)} at position {pos} (expected e.g. 'P1DT2H30M')",
            pos,
        )
    sign, days, hours, minutes, seconds, fraction = match.groups()
    try:
        value = timedelta(
            days=int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=int(seconds or 0),
            microseconds=_micros(fraction),
        )
        if sign == "-":
            value = -value
    except OverflowError:
        raise FilterError(f"duration at position {pos} is out of range", pos) from None
    return Literal(value, LiteralKind.DURATION)
