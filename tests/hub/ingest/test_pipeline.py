"""The ingest pipeline with the real Lihe adapter, on both stores."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from adapters.base import ChannelContext
from adapters.hj212.lihe import LiheHJ212Adapter
from adapters.hj212.packet import build_data_segment, build_frame
from hub.demo import PILOT_REGISTRY
from hub.ingest.contracts import Outcome
from hub.ingest.pipeline import IngestPipeline
from hub.mapping import MappingSet
from hub.model.registry import StationRecord, load_registry
from hub.store import Store
from hub.store.schema import datastreams, observations, observed_properties

SARYARKA_MN = "4C4948453030323230303031"
SARYARKA_PW = "A7k2p9"


@pytest.fixture(scope="module")
def pilot() -> list[StationRecord]:
    return load_registry(PILOT_REGISTRY)


@pytest.fixture
def store(store_url: str, pilot: list[StationRecord]) -> Iterator[Store]:
    opened = Store.open(store_url)
    opened.import_stations(pilot)
    yield opened
    opened.close()


@pytest.fixture
def pipeline(store: Store) -> Iterator[IngestPipeline]:
    running = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    running.start()
    yield running
    running.stop()


def context() -> ChannelContext:
    return ChannelContext(channel="test", peer="127.0.0.1:5000", received_at=datetime.now(UTC))


def saryarka_frame(
    cp: list[dict[str, str]],
    *,
    qn: str = "20250115101000001",
    flag: str = "5",
    pw: str = SARYARKA_PW,
    mn: str = SARYARKA_MN,
    cn: str = "2011",
) -> bytes:
    header = {"QN": qn, "ST": "22", "CN": cn, "PW": pw, "MN": mn, "Flag": flag}
    return build_frame(build_data_segment(header, cp))


def ingest(pipeline: IngestPipeline, *raws: bytes) -> list[Any]:
    return pipeline.ingest_many("lihe-hj212", [(raw, context(), None) for raw in raws])


def stored(store: Store) -> list[Any]:
    with store.connect() as conn:
        return list(
            conn.execute(
                select(
                    observed_properties.c.key,
                    datastreams.c.aggregation,
                    observations.c.phenomenon_time_start,
                    observations.c.phenomenon_time_end,
                    observations.c.result,
                    observations.c.result_quality,
                    observations.c.parameters,
                )
                .join(datastreams, datastreams.c.id == observations.c.datastream_id)
                .join(
                    observed_properties,
                    observed_properties.c.id == datastreams.c.observed_property_id,
                )
                .order_by(observations.c.id)
            ).all()
        )


def test_a_frame_is_stored_then_acknowledged(pipeline: IngestPipeline, store: Store) -> None:
    frame = saryarka_frame(
        [
            {"DataTime": "20250115101000"},
            {"a34004-Rtd": "41", "a34004-Flag": "N"},
            {"a21005-Rtd": "1.2", "a21005-Flag": "C"},
        ]
    )
    (result,) = ingest(pipeline, frame)
    assert result.outcome is Outcome.STORED
    assert result.observations_new == 2
    assert result.reply is not None and b"CN=9014" in result.reply
    assert b"QN=20250115101000001" in result.reply
    rows = {r.key: r for r in stored(store)}
    pm = rows["pm2_5"]
    assert pm.phenomenon_time_start == datetime(2025, 1, 15, 5, 10, tzinfo=UTC)
    assert pm.phenomenon_time_end == pm.phenomenon_time_start
    assert (pm.result, pm.result_quality, pm.aggregation) == (41.0, "valid", "instant")
    assert pm.parameters["received"] == {"value": "41", "unit": "ug/m3"}
    assert rows["co"].result_quality == "invalid:calibration"


def test_replay_adds_nothing_and_is_still_acknowledged(
    pipeline: IngestPipeline, store: Store
) -> None:
    frame = saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}])
    first, second = ingest(pipeline, frame, frame)
    (third,) = ingest(pipeline, frame)
    assert [r.outcome for r in (first, second, third)] == [Outcome.STORED] * 3
    assert all(r.reply is not None for r in (first, second, third))
    assert len(stored(store)) == 1


def test_backfill_with_new_value_is_a_correction(pipeline: IngestPipeline, store: Store) -> None:
    ingest(pipeline, saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}]))
    ingest(
        pipeline,
        saryarka_frame(
            [{"DataTime": "20250115101000"}, {"a34004-Rtd": "45"}], qn="20250115111000001"
        ),
    )
    (row,) = stored(store)
    assert row.result == 45.0
    assert row.parameters["corrections"][0]["result"] == 41.0


def test_wrong_password_and_unknown_device_are_quarantined_with_replies(
    pipeline: IngestPipeline, store: Store
) -> None:
    cp = [{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}]
    wrong_pw, unknown = ingest(
        pipeline, saryarka_frame(cp, pw="123456"), saryarka_frame(cp, mn="F" * 24)
    )
    assert wrong_pw.outcome is Outcome.REJECTED and b"QnRtn=3" in wrong_pw.reply
    assert unknown.outcome is Outcome.REJECTED and b"QnRtn=4" in unknown.reply
    assert stored(store) == []
    codes = {e.code for e in store.quarantine()}
    assert codes == {"bad-secret", "unknown-device"}
    dump = json.dumps([e.reason for e in store.quarantine()])
    assert "123456" not in dump and SARYARKA_PW not in dump


def test_bad_values_are_dropped_but_kept_in_quarantine(
    pipeline: IngestPipeline, store: Store
) -> None:
    (result,) = ingest(
        pipeline,
        saryarka_frame(
            [{"DataTime": "20250115101000"}, {"a34004-Rtd": "NaN"}, {"a21026-Rtd": "33.1"}]
        ),
    )
    assert result.outcome is Outcome.STORED and result.reply is not None
    assert [r.key for r in stored(store)] == ["so2"]
    (entry,) = store.quarantine()
    assert entry.code == "bad-value" and "a34004" in entry.reason


def test_junk_from_the_framer_is_quarantined(pipeline: IngestPipeline, store: Store) -> None:
    future = pipeline.submit_nowait("lihe-hj212", b"\x00garbage", context(), "bytes before ##")
    assert future.result(10).outcome is Outcome.REJECTED
    assert store.quarantine()[0].reason == "bytes before ##"


def test_adapter_crash_is_contained(store: Store) -> None:
    class Broken(LiheHJ212Adapter):
        def decode(self, raw: bytes, context: Any, devices: Any) -> Any:
            raise RuntimeError("boom")

    pipeline = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": Broken()})
    pipeline.start()
    try:
        (result,) = ingest(pipeline, b"##0000\r\n")
        assert result.outcome is Outcome.REJECTED
        assert "boom" in (result.reason or "")
        (again,) = ingest(pipeline, b"##0001x\r\n")  # the writer survived
        assert again.outcome is Outcome.REJECTED
    finally:
        pipeline.stop()


def test_no_acknowledgement_before_the_commit_and_retry_after_store_errors(
    store: Store,
) -> None:
    pipeline = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    real_write = store.write_batch
    gate = threading.Event()
    failures = [0]

    def flaky(frames: Any, sealer: Any = None) -> Any:
        gate.wait(10)
        if failures[0] < 2:
            failures[0] += 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real_write(frames, sealer)

    store.write_batch = flaky  # type: ignore[method-assign]
    pipeline.start()
    try:
        future = pipeline.submit_nowait(
            "lihe-hj212",
            saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}]),
            context(),
        )
        assert not future.done()
        gate.set()
        result = future.result(30)
        assert result.outcome is Outcome.STORED and result.reply is not None
        assert failures[0] == 2
        assert pipeline.metrics.store_retries._value.get() == 2
    finally:
        pipeline.stop()
    assert len(stored(store)) == 1


def split_piece(number: int, value_key: str) -> bytes:
    """Piece ``number`` of a 2-piece Saryarka upload (each piece has its own QN)."""
    header = {
        "QN": f"2025011510100000{number}",
        "ST": "22",
        "CN": "2011",
        "PW": SARYARKA_PW,
        "MN": SARYARKA_MN,
        "Flag": "7",
        "PNUM": "2",
        "PNO": str(number),
    }
    return build_frame(
        build_data_segment(header, [{"DataTime": "20250115101000"}, {value_key: "41"}])
    )


def test_split_packets_are_reassembled(pipeline: IngestPipeline, store: Store) -> None:
    (first,) = ingest(pipeline, split_piece(1, "a34004-Rtd"))
    assert first.outcome is Outcome.PENDING and first.reply is not None
    assert store.pending_frames(limit=10) != []
    (second,) = ingest(pipeline, split_piece(2, "a21026-Rtd"))
    assert second.outcome is Outcome.STORED
    assert sorted(r.key for r in stored(store)) == ["pm2_5", "so2"]
    assert store.pending_frames(limit=10) == []


def test_an_incomplete_split_set_expires_into_quarantine(
    pipeline: IngestPipeline, store: Store
) -> None:
    (result,) = ingest(pipeline, split_piece(1, "a34004-Rtd"))
    assert result.outcome is Outcome.PENDING
    pipeline._expire(datetime.now(UTC) + timedelta(hours=1))
    assert store.pending_frames(limit=10) == []
    (entry,) = store.quarantine(code="incomplete")
    assert entry.outcome == "rejected" and entry.station_key == "lihe-air-saryarka"
    assert "1 of 2 pieces" in entry.reason
    assert stored(store) == []


def test_pending_pieces_survive_a_restart(store: Store) -> None:
    before = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    before.start()
    ingest(before, split_piece(1, "a34004-Rtd"))
    before.stop()
    after = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    after.start()  # reloads piece 1 into the new adapter's reassembler
    try:
        (result,) = ingest(after, split_piece(2, "a21026-Rtd"))
    finally:
        after.stop()
    assert result.outcome is Outcome.STORED
    assert sorted(r.key for r in stored(store)) == ["pm2_5", "so2"]


def test_bad_frames_fixture_cases(
    pipeline: IngestPipeline, store: Store, shared_fixtures: Path
) -> None:
    from adapters.hj212.framing import FrameEvent, split_stream

    cases = json.loads((shared_fixtures / "hj212" / "bad-frames.json").read_text())
    outcomes: dict[str, set[str]] = {}
    for case in cases:
        raw = case["bytes_latin1"].encode("latin-1")
        results = []
        for event in split_stream(raw):
            if isinstance(event, FrameEvent):
                results.append(pipeline.submit_nowait("lihe-hj212", event.raw, context()))
            else:
                results.append(
                    pipeline.submit_nowait("lihe-hj212", event.raw, context(), event.reason)
                )
        outcomes[case["case"]] = {f.result(10).outcome.value for f in results}
    assert outcomes["bad-crc"] == {"rejected"}
    assert outcomes["unknown-mn"] == {"rejected"}
    assert outcomes["wrong-password"] == {"rejected"}
    assert outcomes["bad-datatime"] == {"rejected"}
    assert outcomes["cp-not-closed"] == {"rejected"}
    assert outcomes["garbage"] == {"rejected"}
    assert outcomes["non-numeric-value"] == {"stored"}  # frame kept, value refused
    assert outcomes["nan-value"] == {"stored"}
    assert outcomes["unknown-flag"] == {"stored"}
    rows = stored(store)
    assert len(rows) == 1  # only the unknown-flag frame's value
    assert rows[0].result_quality == "unknown" and rows[0].parameters["flag"] == "Zz"


def test_a_retry_after_a_store_error_does_not_decode_twice(store: Store) -> None:
    """Completing a split set changes the adapter's state: a retried batch must reuse the
    readings of the first decode, not decode the frame again (which would yield nothing)."""
    pipeline = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    pipeline.start()
    try:
        (first,) = ingest(pipeline, split_piece(1, "a34004-Rtd"))
        assert first.outcome is Outcome.PENDING
        real_write = store.write_batch
        failures = [0]

        def fail_once(frames: Any, sealer: Any = None) -> Any:
            if failures[0] == 0:
                failures[0] += 1
                raise OperationalError("COMMIT", {}, Exception("connection lost"))
            return real_write(frames, sealer)

        store.write_batch = fail_once  # type: ignore[method-assign]
        (second,) = ingest(pipeline, split_piece(2, "a21026-Rtd"))
    finally:
        pipeline.stop()
    assert failures[0] == 1
    assert second.outcome is Outcome.STORED and second.observations_new == 2
    assert sorted(r.key for r in stored(store)) == ["pm2_5", "so2"]
