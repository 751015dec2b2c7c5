"""HJ 212 per-value data flags (``xxxxxx-Flag``) mapped to vendor-neutral :class:`Quality`.

Three flag sets are in use (hj212.md §1.6): the HJ 212-2017 letters N F M S D C T B, the
HJ/T 212-2005 letters P F C M T D S N, and the numeric 0-3 of 2005-era ambient-air stations. Where
a letter appears in both letter sets it maps to the same quality (2005 'F' is "source stopped",
2017 'F' "instrument stopped": either way the value was not measured under operation), so one
table serves every protocol version. Unknown flags (provincial extensions such as 'St', 'Sd',
'Md') become UNKNOWN: the value is still stored, never rejected.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from adapters.base import Quality

__all__ = ["FLAG_QUALITY", "flag_quality"]

FLAG_QUALITY: Final = MappingProxyType(
    {
        # HJ 212-2017 (and the same letters in HJ/T 212-2005)
        "N": Quality.VALID,  # normal
        "F": Quality.INVALID_STOPPED,  # 2017: instrument stopped; 2005: source stopped
        "M": Quality.INVALID_MAINTENANCE,  # produced during maintenance
        "S": Quality.SUBSTITUTED,  # manually entered set value
        "D": Quality.INVALID_FAULT,  # instrument fault
        "C": Quality.INVALID_CALIBRATION,  # 2017: calibrating; 2005: calibration check
        "T": Quality.CENSORED_ABOVE_RANGE,  # above the upper measuring limit
        "B": Quality.MISSING_COMMS,  # 2017: instrument-logger communication abnormal
        # HJ/T 212-2005 only
        "P": Quality.INVALID_POWER,  # power failure
        # 2005-era ambient-air stations
        "0": Quality.INVALID_CALIBRATION,  # calibration data
        "1": Quality.VALID,  # meteorological parameter
        "2": Quality.INVALID,  # abnormal data
        "3": Quality.VALID,  # normal data
    }
)


def flag_quality(flag: str | None) -> Quality:
    """Quality for a data flag as received; a missing flag means the value is valid."""
    if flag is None:
        return Quality.VALID
    quality = FLAG_QUALITY.get(flag)
    if quality is None and len(flag) == 1:
        # The standard's flags are upper-case letters; some loggers send them in lower case.
        quality = FLAG_QUALITY.get(flag.upper())
    return Quality.UNKNOWN if quality is None else quality
