"""The Lihe HJ 212 adapter end to end: pilot fixtures, bad frames, split sets, identity."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import metadata

import pytest

from adapters.base import (
    ENTRY_POINT_GROUP,
    Aggregation,
    DeviceProfile,
    Quality,
    Reading,
    RejectionCode,
)
from adapters.hj212.crc import modbus_crc
from adapters.hj212.lihe import LiheHJ212Adapter
from adapters.hj212.packet import build_frame
from tests.adapters.hj212.conftest import (
    EFFLUENT,
    NORTH,
    RECEIVED,
    SARYARKA,
    RegistryDirectory,
    context,
    decode,
    decoded,
    fixture_path,
    frame,
    rejected,
    reply_of,
    reply_packet,
    with_profile,
)

# --- Pilot fixtures --------------------------------------------------------------------------


def test_realtime_fixture(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    stream = fixture_path("hj212", "pilot-2025-01-15-realtime.hj212").read_bytes()
    units = list(adapter.split(stream))
    assert len(units) == 2304
    results = [decoded(adapter.decode(unit, context(), directory)) for unit in units]
    readings = [reading for result in results for reading in result.readings]
    assert len(readings) == 23_040
    assert all(result.partial == () and result.ack is not None for result in results)
    assert all(
        r.aggregation is Aggregation.INSTANT and not r.phenomenon_time.is_interval for r in readings
    )

    first = {result.device_id: result for result in reversed(results)}
    north, saryarka = first[NORTH], first[SARYARKA]
    assert north.station == "lihe-air-industrial-north"
    # Asia/Shanghai 03:00 and Asia/Almaty 00:00 are the same instant.
    assert north.readings[0].phenomenon_time.iso() == "2025-01-14T19:00:00Z"
    assert saryarka.readings[0].phenomenon_time.iso() == "2025-01-14T19:00:00Z"
    assert saryarka.readings[0].result_time == datetime(2025, 1, 14, 19, 0, 0, 1000, tzinfo=UTC)

    qualities = Counter(r.quality for r in readings)
    assert qualities == {
        Quality.VALID: 23_038,
        Quality.INVALID_CALIBRATION: 1,
        Quality.INVALID_FAULT: 1,
    }
    (calibrating,) = [r for r in readings if r.quality is Quality.INVALID_CALIBRATION]
    assert (calibrating.factor, calibrating.source_flag) == ("w21001", "C")
    (faulty,) = [r for r in readings if r.quality is Quality.INVALID_FAULT]
    assert (faulty.factor, faulty.observed_property, faulty.unit) == ("a34004", "pm2_5", "ug/m3")
    meteo = next(r for r in readings if r.factor == "a01001")
    assert (meteo.source_flag, meteo.quality, meteo.unit) == (None, Quality.VALID, "Cel")


def test_hourly_fixture(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    stream = fixture_path("hj212", "pilot-2025-01-15-hourly.hj212").read_bytes()
    results = [
        decoded(adapter.decode(unit, context(), directory)) for unit in adapter.split(stream)
    ]
    assert len(results) == 96
    readings = [reading for result in results for reading in result.readings]
    assert len(readings) == 96 * (7 * 3 + 5)
    assert Counter(r.aggregation for r in readings) == {
        Aggregation.MEAN: 96 * 12,
        Aggregation.MIN: 96 * 7,
        Aggregation.MAX: 96 * 7,
    }
    for reading in readings:
        end = reading.phenomenon_time.end
        assert end is not None and end - reading.phenomenon_time.start == timedelta(hours=1)
    first = results[0].readings[0]  # DataTime 20250115000000, Asia/Almaty
    assert first.phenomenon_time.iso() == "2025-01-14T19:00:00Z/2025-01-14T20:00:00Z"
    assert all(result.ack is None for result in results)  # Flag=4: no ack requested


BAD_CASES = {
    "bad-crc",
    "length-too-long",
    "length-not-numeric",
    "no-crlf",
    "unknown-mn",
    "wrong-password",
    "bad-datatime",
    "non-numeric-value",
    "nan-value",
    "cp-not-closed",
    "garbage",
    "unknown-flag",
}


@pytest.fixture(scope="module")
def bad_frames() -> dict[str, bytes]:
    cases = json.loads(fixture_path("hj212", "bad-frames.json").read_text("utf-8"))
    return {case["case"]: case["bytes_latin1"].encode("latin-1") for case in cases}


def test_every_bad_frame_case_is_covered(bad_frames: dict[str, bytes]) -> None:
    assert set(bad_frames) == BAD_CASES


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_frames(
    case: str, bad_frames: dict[str, bytes], adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    (unit,) = adapter.split(bad_frames[case])
    assert unit == bad_frames[case]
    result = adapter.decode(unit, context(), directory)
    if case in {"length-too-long", "length-not-numeric", "no-crlf", "garbage"}:
        assert rejected(result, RejectionCode.FRAMING).reply is None
    elif case == "bad-crc":
        rejection = rejected(result, RejectionCode.CHECKSUM)
        assert rejection.reply is None  # never answer a frame whose CRC fails
    elif case == "unknown-mn":
        rejection = rejected(result, RejectionCode.UNKNOWN_DEVICE)
        assert reply_of(rejection.reply) == ("9011", {"QnRtn": "4"})
    elif case == "wrong-password":
        rejection = rejected(result, RejectionCode.BAD_SECRET)
        assert reply_of(rejection.reply) == ("9011", {"QnRtn": "3"})
        assert rejection.station == "lihe-air-saryarka"
    elif case == "bad-datatime":
        rejection = rejected(result, RejectionCode.BAD_TIME)
        assert "20251332256199" in rejection.reason
        assert reply_of(rejection.reply) == ("9011", {"QnRtn": "2"})
    elif case in {"non-numeric-value", "nan-value"}:
        result = decoded(result)
        assert result.readings == ()
        (reason,) = result.partial
        assert reason.startswith("a34004-Rtd=") and "not stored" in reason
    elif case == "cp-not-closed":
        rejection = rejected(result, RejectionCode.MALFORMED)
        assert rejection.reply is None and rejection.device_id == SARYARKA
    else:
        assert case == "unknown-flag"
        (reading,) = decoded(result).readings
        assert (reading.quality, reading.source_flag) == (Quality.UNKNOWN, "Zz")


# --- Split sets ------------------------------------------------------------------------------

PIECE_1 = (
    "DataTime=20250615105000;w00000-Cou=36.5,w00000-Min=55.2,w00000-Avg=60.8,w00000-Max=66.1,"
    "w00000-Flag=N;w01018-Cou=1.46,w01018-Min=38.0,w01018-Avg=40.1,w01018-Max=42.7,w01018-Flag=N"
)
PIECE_2 = (
    "DataTime=20250615105000;w21003-Cou=0.09,w21003-Min=2.31,w21003-Avg=2.47,w21003-Max=2.66,"
    "w21003-Flag=N;w20117-Cou=0.088,w20117-Min=2.1,w20117-Avg=2.4,w20117-Max=2.9,w20117-Flag=N"
)


def split_frames() -> tuple[bytes, bytes]:
    """hj212.md §1.8 example 3 with the pilot effluent logger's password."""
    return (
        frame(
            PIECE_1, mn=EFFLUENT, cn="2051", flag=7, st="32", qn="20250615110000001", split=(2, 1)
        ),
        frame(
            PIECE_2, mn=EFFLUENT, cn="2051", flag=7, st="32", qn="20250615110000002", split=(2, 2)
        ),
    )


def test_split_set(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    first, second = split_frames()
    waiting = decoded(decode(adapter, second, directory))  # out of order
    assert waiting.pending and waiting.readings == ()
    assert reply_packet(waiting.ack).qn == "20250615110000002"
    done = decoded(decode(adapter, first, directory))
    assert not done.pending
    assert done.related_frames == (hashlib.sha256(second).hexdigest(),)
    assert reply_packet(done.ack).qn == "20250615110000001"
    assert done.station == "lihe-effluent-tazalyk" and done.device_id == EFFLUENT
    by_key = {(r.factor, r.aggregation): r for r in done.readings}
    assert len(done.readings) == 12  # w20117 is not configured for this logger
    assert done.partial == ("w20117: factor not configured for this device, unit unknown",)
    assert by_key["w00000", Aggregation.TOTAL].unit == "m3"  # L/s -> m3
    assert by_key["w01018", Aggregation.TOTAL].unit == "kg"  # mg/L -> kg
    assert by_key["w21003", Aggregation.MEAN].unit == "mg/L"
    assert by_key["w01018", Aggregation.MEAN].observed_property == "cod"
    reading = by_key["w00000", Aggregation.TOTAL]
    assert reading.phenomenon_time.iso() == "2025-06-15T05:50:00Z/2025-06-15T06:00:00Z"
    assert reading.result_time == datetime(2025, 6, 15, 6, 0, 0, 1000, tzinfo=UTC)  # first QN
    # A re-sent piece after completion (its ack was lost) is acknowledged, nothing new stored.
    again = decoded(decode(adapter, first, directory))
    assert (again.readings, again.pending, again.ack) == ((), False, done.ack)


def test_split_piece_out_of_range(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    raw = frame(PIECE_1, mn=EFFLUENT, cn="2051", flag=7, st="32", split=(2, 3))
    rejection = rejected(decode(adapter, raw, directory), RejectionCode.MALFORMED)
    assert rejection.reason == "split piece refused: PNO 3 outside 1..PNUM 2"
    assert reply_of(rejection.reply) == ("9011", {"QnRtn": "2"})


def test_incomplete_split_set_expires(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    first, _ = split_frames()
    assert decoded(decode(adapter, first, directory)).pending
    assert adapter.expire(RECEIVED + timedelta(minutes=9)) == []
    (expired,) = adapter.expire(RECEIVED + timedelta(minutes=10))
    assert expired.code is RejectionCode.INCOMPLETE
    assert (expired.station, expired.device_id) == ("lihe-effluent-tazalyk", EFFLUENT)
    assert expired.reason.startswith("split set incomplete: 1 of 2 pieces after 600 s")
    assert expired.related_frames == (hashlib.sha256(first).hexdigest(),)
    assert "\n" not in expired.reason


# --- Identity, CRC variants, commands --------------------------------------------------------


def test_modbus_crc_only_with_the_device_opt_in(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    raw = frame("DataTime=20250615103000;a34004-Rtd=41,a34004-Flag=N")
    data = raw[6:-6]
    modbus = raw[:-6] + b"%04X\r\n" % modbus_crc(data)
    rejection = rejected(decode(adapter, modbus, directory), RejectionCode.CHECKSUM)
    assert rejection.reply is None
    opted_in = with_profile(directory, SARYARKA, options={"crc": "modbus-fallback"})
    assert len(decoded(decode(adapter, modbus, opted_in)).readings) == 1
    # An unparsable frame still gets its device's opt-in: intact means malformed, not checksum.
    broken = build_frame(f"QN=1;MN={SARYARKA};PW=A7k2p9;CP=&&DataTime=1")[:-6]
    broken += b"%04X\r\n" % modbus_crc(broken[6:])
    assert rejected(decode(adapter, broken, opted_in), RejectionCode.MALFORMED).reply is None
    assert rejected(decode(adapter, broken, directory), RejectionCode.CHECKSUM).reply is None


def test_missing_password(adapter: LiheHJ212Adapter, directory: RegistryDirectory) -> None:
    raw = build_frame(f"QN=1;ST=22;CN=2011;MN={SARYARKA};Flag=5;CP=&&DataTime=20250615103000&&")
    rejection = rejected(decode(adapter, raw, directory), RejectionCode.BAD_SECRET)
    assert rejection.reason == f"PW missing for MN '{SARYARKA}'"


@pytest.mark.parametrize(("flag", "acked"), [(5, True), (4, False)])
def test_commands_without_data(
    flag: int, acked: bool, adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    for cn, cp in [("2081", "RestartTime=20250615100000"), ("9014", ""), ("3020", "i12001-Info=0")]:
        result = decoded(decode(adapter, frame(cp, cn=cn, flag=flag), directory))
        assert result.readings == () and result.partial == () and not result.pending
        assert (result.ack is not None) is acked
        if acked:
            assert reply_of(result.ack) == ("9014", {})


def test_malformed_after_a_valid_crc(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    raw = build_frame(f"QN=1;ST=22;CN=2011;PW=A7k2p9;MN={SARYARKA};Flag=5;CP=&&DataTime=1")
    rejection = rejected(decode(adapter, raw, directory), RejectionCode.MALFORMED)
    assert (rejection.reply, rejection.device_id) == (None, SARYARKA)
    bad_flag = build_frame(f"QN=1;MN={SARYARKA};PW=A7k2p9;Flag=x;CP=&&&&")
    assert rejected(decode(adapter, bad_flag, directory), RejectionCode.MALFORMED).reply is None


# --- Plumbing --------------------------------------------------------------------------------


def test_split_yields_exact_slices(adapter: LiheHJ212Adapter) -> None:
    good = frame("DataTime=20250615103000;a34004-Rtd=1")
    junk = b"x" * 5000  # longer than a JunkEvent keeps
    stream = junk + good + b"##00a1" + good
    units = list(adapter.split(stream))
    assert b"".join(units) == stream
    assert units[-1] == good and good in units


def test_entry_point_names_the_adapter() -> None:
    try:
        points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # pragma: no cover - metadata backend problems
        pytest.skip("no entry-point metadata")
    named = [point for point in points if point.name == "lihe-hj212"]
    if not named:
        pytest.skip("package not installed (no entry points)")
    instance = named[0].load()()
    assert isinstance(instance, LiheHJ212Adapter)
    assert (instance.name, instance.version, instance.source) == (
        "lihe-hj212",
        "0.1.0",
        "lihe-hj212",
    )


def test_reading_is_the_contract_type(
    adapter: LiheHJ212Adapter, directory: RegistryDirectory
) -> None:
    (reading,) = decoded(
        decode(adapter, frame("DataTime=20250615103000;a34004-Rtd=1"), directory)
    ).readings
    assert isinstance(reading, Reading)
    assert reading.station == "lihe-air-saryarka"
    profile = directory.device("lihe-hj212", SARYARKA)
    assert isinstance(profile, DeviceProfile) and profile.units["a34004"] == reading.unit
