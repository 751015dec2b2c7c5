"""Prepared writes (``IngestPipeline.submit_prepared``): committed by the writer thread, each
isolated in a savepoint, answered after the commit, never waiting out a store outage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import OperationalError

from adapters.base import ChannelContext
from adapters.hj212.lihe import LiheHJ212Adapter
from hub.demo import PILOT_REGISTRY
from hub.ingest.contracts import Outcome, PreparedWrite, WriteFailed
from hub.ingest.pipeline import IngestPipeline
from hub.mapping import MappingSet
from hub.model.registry import load_registry
from hub.store import Store
from hub.store.api_writes import ApiRequest, archive_request
from hub.store.schema import raw_frames
from tests.hub.ingest.test_pipeline import saryarka_frame


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    opened.import_stations(load_registry(PILOT_REGISTRY))
    yield opened
    opened.close()


def origin() -> ChannelContext:
    return ChannelContext(channel="http", peer="192.0.2.1", received_at=datetime.now(UTC))


def archiving(content: bytes, *, fail: Exception | None = None) -> PreparedWrite[int]:
    """A write that archives ``content`` and then, maybe, fails."""

    def apply(conn: Connection) -> int:
        frame_id = archive_request(
            conn,
            ApiRequest(content, "sta", "1.1", "http", "192.0.2.1", datetime.now(UTC)),
            0,
        )
        if fail is not None:
            raise fail
        return frame_id

    return PreparedWrite("sta", origin(), apply)


def frames(store: Store) -> list[bytes]:
    with store.connect() as conn:
        rows = conn.execute(select(raw_frames.c.content).order_by(raw_frames.c.id)).scalars()
        return [bytes(row) for row in rows]


def test_a_prepared_write_commits_in_the_writer_thread(store: Store) -> None:
    pipeline = IngestPipeline(store, MappingSet.load(), {})
    seen: list[str] = []

    def apply(conn: Connection) -> str:
        seen.append(threading.current_thread().name)
        return "done"

    pipeline.start()
    try:
        assert pipeline.submit_prepared(PreparedWrite("sta", origin(), apply)).result(10) == "done"
    finally:
        pipeline.stop()
    assert seen == ["auasu-writer"]


def test_a_failing_write_rolls_back_only_itself(store: Store) -> None:
    pipeline = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    # Queued before the writer starts, so that all land in one batch (one transaction).
    good = pipeline.submit_prepared(archiving(b"good"))
    bad = pipeline.submit_prepared(archiving(b"bad", fail=ValueError("refused")))
    device = pipeline.submit_nowait(
        "lihe-hj212",
        saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}]),
        origin(),
    )
    pipeline.start()
    try:
        assert isinstance(good.result(10), int)
        with pytest.raises(ValueError, match="refused"):
            bad.result(10)
        assert device.result(10).outcome is Outcome.STORED
    finally:
        pipeline.stop()
    contents = frames(store)
    assert b"good" in contents and b"bad" not in contents and len(contents) == 2


def test_a_store_outage_fails_prepared_writes_at_once(store: Store) -> None:
    pipeline = IngestPipeline(store, MappingSet.load(), {})
    lost = OperationalError("INSERT", {}, Exception("server closed the connection"))
    first = pipeline.submit_prepared(archiving(b"first"))
    second = pipeline.submit_prepared(archiving(b"second", fail=lost))
    pipeline.start()
    try:
        for future in (first, second):
            with pytest.raises(WriteFailed):
                future.result(10)
    finally:
        pipeline.stop()
    assert frames(store) == []


def test_withdrawn_and_late_writes(store: Store) -> None:
    pipeline = IngestPipeline(store, MappingSet.load(), {})
    withdrawn = pipeline.submit_prepared(archiving(b"withdrawn"))
    assert withdrawn.cancel()
    kept = pipeline.submit_prepared(archiving(b"kept"))
    pipeline.start()
    try:
        kept.result(10)
    finally:
        pipeline.stop()
    with pytest.raises(WriteFailed):
        pipeline.submit_prepared(archiving(b"late")).result(1)
    assert frames(store) == [b"kept"]


def test_writes_left_in_the_queue_fail_on_stop(store: Store) -> None:
    pipeline = IngestPipeline(store, MappingSet.load(), {})
    queued = pipeline.submit_prepared(archiving(b"queued"))
    pipeline.stop()  # never started: what is queued cannot be committed
    with pytest.raises(WriteFailed):
        queued.result(1)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(raw_frames)).scalar_one() == 0
