"""Turn a parsed, authenticated HJ 212 data packet into vendor-neutral readings.

Time: ``DataTime`` and ``QN`` are local wall-clock time of the logger with no offset
(astana-geo-time.md §3.3); the device's registry time zone converts them to UTC. Real-time data
(2011) is an instant; minute (2051), hourly (2061) and daily (2031) data are intervals that START
at ``DataTime``. Values: only plain finite decimals are stored, never sentinels, and each unit comes
from the registry alone (hj212.md §4 item 5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.base import AdapterError, Aggregation, DeviceProfile, PhenomenonTime, Reading
from adapters.hj212.factors import FactorTable
from adapters.hj212.flags import flag_quality
from adapters.hj212.packet import Packet, show

__all__ = [
    "DATA_CNS",
    "build_readings",
    "local_to_utc",
    "minute_interval",
    "parse_value",
    "phenomenon_time",
    "timezone_of",
]

REALTIME_CN: Final = "2011"
_PERIOD_CNS: Final = frozenset({"2051", "2061", "2031"})
DATA_CNS: Final = _PERIOD_CNS | {REALTIME_CN}
_INSTANT_SUFFIXES: Final = {"Rtd": Aggregation.INSTANT}
_PERIOD_SUFFIXES: Final = {
    "Avg": Aggregation.MEAN,
    "Min": Aggregation.MIN,
    "Max": Aggregation.MAX,
    "Cou": Aggregation.TOTAL,
}
_EXTRA_SUFFIXES: Final = frozenset({"EFlag", "SampleTime"})  # and every 'Zs*' (converted) value
_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MAX_VALUE_CHARS: Final = 30
_SENTINELS: Final = frozenset({-99.0, -9999.0})  # loggers' "no value" markers (reliability §3.3)


def timezone_of(profile: DeviceProfile) -> ZoneInfo:
    """The device's logger time zone; an unknown name is a registry error."""
    try:
        return ZoneInfo(profile.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AdapterError(
            f"device {profile.device_id}: unknown time zone {profile.timezone!r}"
        ) from exc


def minute_interval(profile: DeviceProfile) -> int:
    """Minutes covered by one 2051 packet (registry option ``minute_interval``, default 10)."""
    text = profile.options.get("minute_interval", "10")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1440:
        raise AdapterError(f"device {profile.device_id}: bad minute_interval {text!r}")
    return int(text)


def local_to_utc(text: str, zone: ZoneInfo) -> datetime | str:
    """``YYYYMMDDhhmmss`` (optionally + ``zzz`` ms) in ``zone`` as UTC, or why it is not valid."""
    if len(text) not in (14, 17) or not (text.isascii() and text.isdigit()):
        return f"{show(text)} is not YYYYMMDDhhmmss"
    year, month, day, hour = int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10])
    try:
        naive = datetime(
            year, month, day, hour, int(text[10:12]), int(text[12:14]), int(text[14:17] or 0) * 1000
        )
    except ValueError:
        return f"{show(text)} is not a calendar date and time"
    offset = _hour_offset(zone, year, month, day, hour)
    if offset is not None:
        return (naive - offset).replace(tzinfo=UTC)
    # The zone's offset changes within this hour: resolve exactly. fold=0 takes the first of
    # an ambiguous hour; a time skipped by the change cannot have been read off a clock.
    local = naive.replace(tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        return f"{show(text)} does not exist in {zone.key} (clock change)"
    return utc


@lru_cache(maxsize=4096)
def _hour_offset(zone: ZoneInfo, year: int, month: int, day: int, hour: int) -> timedelta | None:
    """The zone's UTC offset throughout one local hour, or None if it changes within it.

    zoneinfo arithmetic is slow and every QN is a new timestamp; caching per hour makes the
    common case one subtraction.
    """
    first = datetime(year, month, day, hour, tzinfo=zone)
    last = first.replace(minute=59, second=59, microsecond=999999)
    offsets = {moment.replace(fold=fold).utcoffset() for moment in (first, last) for fold in (0, 1)}
    return offsets.pop() if len(offsets) == 1 else None


@lru_cache(maxsize=4096)
def phenomenon_time(cn: str, data_time: str, zone: ZoneInfo, minutes: int) -> PhenomenonTime | str:
    """The phenomenon time of a data packet, or why its DataTime is unusable.

    Cached: every station reports the same DataTime values, and all readings of a packet share one.
    """
    start = local_to_utc(data_time, zone)
    if isinstance(start, str):
        return f"DataTime {start}"
    if start < _EARLIEST:
        return f"DataTime {show(data_time)} is before 2000-01-01"
    if cn == REALTIME_CN:
        return PhenomenonTime(start=start)
    if cn == "2031":
        # One local calendar day, which is not always 24 h when the zone's offset changes.
        end_local = start.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        end = end_local.replace(tzinfo=zone).astimezone(UTC)
    else:
        end = start + (timedelta(hours=1) if cn == "2061" else timedelta(minutes=minutes))
    return PhenomenonTime(start=start, end=end)


def parse_value(text: str) -> float | str:
    """A stored value as float, or why it is not stored."""
    if not text:
        return "empty value"
    if len(text) > _MAX_VALUE_CHARS:
        return f"value longer than {_MAX_VALUE_CHARS} characters"
    if _DECIMAL.fullmatch(text) is None:
        return "not a plain decimal number"
    number = float(text)  # finite: at most 30 plain digits
    if number in _SENTINELS:
        return "missing-value sentinel"
    return number


def build_readings(
    packet: Packet,
    profile: DeviceProfile,
    factors: FactorTable,
    phenomenon: PhenomenonTime,
    result_time: datetime,
) -> tuple[list[Reading], list[str]]:
    """Readings of every configured factor value, and the reasons for values left out."""
    value_suffixes = _INSTANT_SUFFIXES if packet.cn == REALTIME_CN else _PERIOD_SUFFIXES
    plain = value_suffixes.keys() | {"Flag"}  # a group with only these has no extra fields
    units = profile.units
    readings: list[Reading] = []
    partial: list[str] = []
    for code, group in packet.factor_groups().items():
        unit = units.get(code)
        if unit is None:
            if not value_suffixes.keys().isdisjoint(group):
                partial.append(f"{code}: factor not configured for this device, unit unknown")
            continue
        flag = group.get("Flag")
        quality = flag_quality(flag)
        extra = {} if group.keys() <= plain else _extra(group)
        observed = factors.observed_property(code)
        for suffix, raw_value in group.items():
            aggregation = value_suffixes.get(suffix)
            if aggregation is None:
                if suffix != "Flag" and suffix not in extra:
                    partial.append(f"{code}-{suffix}: not a value of CN {packet.cn}, not stored")
                continue
            value_unit = unit if suffix != "Cou" else _cou_unit(code, unit, units, factors)
            if value_unit is None:
                partial.append(f"{code}-Cou: unit of the total unknown (configure '{code}-Cou')")
                continue
            value = parse_value(raw_value)
            if isinstance(value, str):
                partial.append(f"{code}-{suffix}={show(raw_value)}: {value}, not stored")
                continue
            readings.append(
                Reading(
                    station=profile.station,
                    factor=code,
                    observed_property=observed,
                    value=value,
                    raw_value=raw_value,
                    unit=value_unit,
                    aggregation=aggregation,
                    phenomenon_time=phenomenon,
                    result_time=result_time,
                    source_flag=flag,
                    quality=quality,
                    extra=extra,
                )
            )
    return readings, partial


def _extra(group: Mapping[str, str]) -> dict[str, str]:
    return {
        suffix: value
        for suffix, value in group.items()
        if suffix in _EXTRA_SUFFIXES or suffix.startswith("Zs")
    }


def _cou_unit(code: str, unit: str, units: Mapping[str, str], factors: FactorTable) -> str | None:
    configured = units.get(f"{code}-Cou")
    return configured if configured is not None else factors.cou_unit(unit)
