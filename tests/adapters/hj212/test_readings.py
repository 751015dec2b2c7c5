"""Packet to readings through the adapter: DataTime and intervals, values, units, codes."""

from __future__ import annotations

import pytest

from adapters.base import RejectionCode
from adapters.hj212.lihe import LiheHJ212Adapter
from tests.adapters.hj212.conftest import (
    EFFLUENT,
    SARYARKA,
    RegistryDirectory,
    decode,
    decoded,
    frame,
    rejected,
    reply_of,
    with_profile,
)

# --- Time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cp", "reason"),
    [
        ("a34004-Rtd=1", "DataTime missing"),
        ("DataTime=20250615", "DataTime '20250615' is not YYYYMMDDhhmmss"),
        ("DataTime=19991231235959;a34004-Rtd=1", "DataTime '19991231235959' is before 2000-01-01"),
        (
            "DataTime=20250615111100;a34004-Rtd=1",
            "DataTime '20250615111100' is 11 min in the future",
        ),
    ],
)
def test_bad_times(
    cp: str, reason: str, adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    # RECEIVED is 11:00 in Asia/Almaty; up to 10 minutes of logger clock drift is tolerated.
    rejection = rejected(decode(adapter, frame(cp), directory), RejectionCode.BAD_TIME)
    assert rejection.reason == reason
    assert reply_of(rejection.reply) == ("9011", {"QnRtn": "2"})
    ok = frame("DataTime=20250615111000;a34004-Rtd=1")
    assert len(decoded(decode(adapter, ok, directory)).readings) == 1


def test_daily_data_is_one_local_day(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    # Asia/Almaty moved from UTC+6 to UTC+5 at midnight on 2024-03-01: that day had 25 hours.
    raw = frame("DataTime=20240229000000;a34004-Avg=20", cn="2031", qn=None, flag=4)
    (reading,) = decoded(decode(adapter, raw, directory)).readings
    assert reading.phenomenon_time.iso() == "2024-02-28T18:00:00Z/2024-02-29T19:00:00Z"
    assert reading.result_time == reading.phenomenon_time.end  # no QN: the end of the period


def test_minute_interval_option(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    raw = frame("DataTime=20250615104500;a34004-Avg=20", cn="2051")
    (default,) = decoded(decode(adapter, raw, directory)).readings
    assert default.phenomenon_time.iso() == "2025-06-15T05:45:00Z/2025-06-15T05:55:00Z"
    five = with_profile(directory, SARYARKA, options={"minute_interval": "5"})
    (reading,) = decoded(decode(adapter, raw, five)).readings
    assert reading.phenomenon_time.iso() == "2025-06-15T05:45:00Z/2025-06-15T05:50:00Z"


# --- Values ----------------------------------------------------------------------------------


def test_values_kept_and_dropped(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    cp = (
        "DataTime=20250615103000;a34004-Rtd=-99,a34004-Flag=N;a34002-Rtd=-9999.0;a21026-Rtd=;"
        "a21004-Rtd=1e309;a21005-Rtd=inf;a05024-Rtd=" + "1" * 31 + ";a21028-Rtd=+.5,"
        "a21028-EFlag=A01,a21028-SampleTime=20250615102000,a21028-ZsRtd=0.6,a21028-Avg=3;"
        "a99054-Rtd=3;a01001-Rtd=-12.5"
    )
    result = decoded(decode(adapter, frame(cp), directory))
    kept = {r.factor: r for r in result.readings}
    assert set(kept) == {"a21028", "a01001"}
    assert kept["a21028"].value == 0.5 and kept["a21028"].raw_value == "+.5"
    assert kept["a21028"].extra == {"EFlag": "A01", "SampleTime": "20250615102000", "ZsRtd": "0.6"}
    assert kept["a01001"].value == -12.5
    assert result.partial == (
        "a34004-Rtd='-99': missing-value sentinel, not stored",
        "a34002-Rtd='-9999.0': missing-value sentinel, not stored",
        "a21026-Rtd='': empty value, not stored",
        "a21004-Rtd='1e309': not a plain decimal number, not stored",
        "a21005-Rtd='inf': not a plain decimal number, not stored",
        "a05024-Rtd='1111111111111111111111111111111': value longer than 30 characters, not stored",
        "a21028-Avg: not a value of CN 2011, not stored",
        "a99054: factor not configured for this device, unit unknown",
    )


def test_legacy_codes_and_unknown_codes(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    units = {"011": "mg/L", "B01": "L/s", "x99001": "1", "w01018": "mg/L"}
    legacy = with_profile(directory, EFFLUENT, units=units | {"B01-Cou": "L"})
    raw = frame(
        "DataTime=20250615103000;B01-Rtd=36.91;011-Rtd=231.0;011-Flag=N;x99001-Rtd=7",
        mn=EFFLUENT,
        qn=None,
        flag=None,
        st="32",
    )
    result = decoded(decode(adapter, raw, legacy))
    assert result.ack is None
    observed = {r.factor: (r.observed_property, r.unit) for r in result.readings}
    assert observed == {
        "B01": ("wastewater_flow", "L/s"),
        "011": ("cod", "mg/L"),
        "x99001": ("hj212:x99001", "1"),
    }
    assert all(r.result_time == r.phenomenon_time.start for r in result.readings)
    hourly = frame("DataTime=20250615090000;B01-Cou=9.5;w01018-Cou=1", mn=EFFLUENT, cn="2061")
    totals = {r.factor: r.unit for r in decoded(decode(adapter, hourly, legacy)).readings}
    assert totals == {"B01": "L", "w01018": "kg"}  # registry override, then the derived unit


def test_parser_warnings_are_reported(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    raw = frame("DataTime=20250615103000;a34004-Rtd=1;a34004-Rtd=2")
    result = decoded(decode(adapter, raw, directory))
    assert result.partial == ("packet: duplicate CP key 'a34004-Rtd', last kept",)
    assert [r.value for r in result.readings] == [2.0]
