"""Data flags of all three HJ 212 flag sets map to quality; unknown flags are kept as UNKNOWN."""

from __future__ import annotations

import pytest

from adapters.base import Quality
from adapters.hj212.flags import flag_quality


@pytest.mark.parametrize(
    ("flag", "quality"),
    [
        # HJ 212-2017
        ("N", Quality.VALID),
        ("F", Quality.INVALID_STOPPED),
        ("M", Quality.INVALID_MAINTENANCE),
        ("S", Quality.SUBSTITUTED),
        ("D", Quality.INVALID_FAULT),
        ("C", Quality.INVALID_CALIBRATION),
        ("T", Quality.CENSORED_ABOVE_RANGE),
        ("B", Quality.MISSING_COMMS),
        # HJ/T 212-2005 adds P; its F (source stopped) and C (calibration check) agree with 2017
        ("P", Quality.INVALID_POWER),
        # 2005-era ambient-air numeric flags
        ("0", Quality.INVALID_CALIBRATION),
        ("1", Quality.VALID),
        ("2", Quality.INVALID),
        ("3", Quality.VALID),
        # lower case read as the upper-case letter
        ("n", Quality.VALID),
        ("d", Quality.INVALID_FAULT),
        # unknown: provincial extensions, junk, empty
        ("Zz", Quality.UNKNOWN),
        ("St", Quality.UNKNOWN),
        ("Sd", Quality.UNKNOWN),
        ("Md", Quality.UNKNOWN),
        ("X", Quality.UNKNOWN),
        ("4", Quality.UNKNOWN),
        ("", Quality.UNKNOWN),
        ("NN", Quality.UNKNOWN),
    ],
)
def test_flag_quality(flag: str, quality: Quality) -> None:
    assert flag_quality(flag) is quality


def test_missing_flag_is_valid() -> None:
    assert flag_quality(None) is Quality.VALID
