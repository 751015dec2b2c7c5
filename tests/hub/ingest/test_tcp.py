"""The HJ 212 TCP listener against a fake sink, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import random
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.base import ChannelContext
from adapters.hj212.framing import FrameEvent, Framer, JunkEvent
from adapters.hj212.packet import build_data_segment, build_frame
from hub.ingest.contracts import IngestResult, Outcome
from hub.ingest.tcp import ListenerLimits, TcpListener

MN = "4C4948453030323230303031"


def run_async[**P](fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on a fresh loop with a hard 9 s limit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(9):
                await fn(*args, **kwargs)

        asyncio.run(bounded())

    return wrapper


def frame(seq: int, mn: str = MN) -> bytes:
    """A real-time upload with QN ending in ``seq`` (ack requested)."""
    header = {
        "QN": f"20250115000000{seq:03d}",
        "ST": "22",
        "CN": "2011",
        "PW": "A7k2p9",
        "MN": mn,
        "Flag": "5",
    }
    groups = [{"DataTime": "20250115000000"}, {"a34004-Rtd": f"{seq}.5", "a34004-Flag": "N"}]
    return build_frame(build_data_segment(header, groups))


def qn_of(raw: bytes) -> bytes:
    match = re.search(rb"QN=(\d+)", raw)
    assert match is not None
    return match.group(1)


@dataclass
class Submission:
    raw: bytes
    context: ChannelContext
    junk_reason: str | None
    adapter: str


@dataclass
class FakeSink:
    """Records submissions; replies ``ACK-for-<QN>\\n`` after an optional per-frame delay."""

    delay: Callable[[bytes], float] = lambda raw: 0.0
    fail: Callable[[bytes], bool] = lambda raw: False
    failed_outcome: Callable[[bytes], bool] = lambda raw: False
    gate: asyncio.Event | None = None
    submissions: list[Submission] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    started: list[float] = field(default_factory=list)

    async def submit(
        self, adapter: str, raw: bytes, context: ChannelContext, junk_reason: str | None = None
    ) -> IngestResult:
        self.submissions.append(Submission(raw, context, junk_reason, adapter))
        self.started.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if junk_reason is not None:
                return IngestResult(Outcome.REJECTED, None, reason=junk_reason)
            wait = self.delay(raw)
            if wait:
                await asyncio.sleep(wait)
            if self.fail(raw):
                raise RuntimeError("sink exploded")
            if self.failed_outcome(raw):
                return IngestResult(Outcome.FAILED, None)
            return IngestResult(Outcome.STORED, b"ACK-for-" + qn_of(raw) + b"\n", 1)
        finally:
            self.in_flight -= 1

    @property
    def frames(self) -> list[bytes]:
        return [s.raw for s in self.submissions if s.junk_reason is None]

    @property
    def junk(self) -> list[Submission]:
        return [s for s in self.submissions if s.junk_reason is not None]


async def started(sink: FakeSink, **kwargs: Any) -> TcpListener:
    listener = TcpListener(sink, **kwargs)
    await listener.start()
    return listener


async def connect(
    listener: TcpListener, source: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    local = None if source is None else (source, 0)
    try:
        return await asyncio.open_connection("127.0.0.1", listener.port, local_addr=local)
    except OSError as exc:
        if source is None:
            raise
        pytest.skip(f"cannot bind a second loopback address {source}: {exc}")


async def read_acks(reader: asyncio.StreamReader, count: int, timeout: float = 3.0) -> list[bytes]:
    acks: list[bytes] = []
    async with asyncio.timeout(timeout):
        for _ in range(count):
            acks.append((await reader.readline()).rstrip(b"\n"))
    return acks


def acks_for(*seqs: int) -> list[bytes]:
    return [b"ACK-for-" + qn_of(frame(seq)) for seq in seqs]


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float = 3.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            return await reader.read(1) == b""
    except ConnectionError:
        return True


@run_async
async def test_frame_trickled_one_byte_at_a_time_is_submitted_once() -> None:
    sink = FakeSink()
    listener = await started(sink, limits=ListenerLimits(read_chunk=1))
    reader, writer = await connect(listener)
    stream = frame(1) + frame(2) + frame(3)
    for index in range(len(stream)):
        writer.write(stream[index : index + 1])
        await writer.drain()
        if index % 50 == 0:
            await asyncio.sleep(0)
    assert await read_acks(reader, 3) == acks_for(1, 2, 3)
    assert sink.frames == [frame(1), frame(2), frame(3)]
    assert sink.junk == []
    context = sink.submissions[0].context
    assert context.channel == "hj212-tcp"
    assert context.peer == "127.0.0.1:{}".format(writer.get_extra_info("sockname")[1])
    assert context.received_at.utcoffset() is not None
    assert sink.submissions[0].adapter == "lihe-hj212"
    writer.close()
    await listener.stop()


@run_async
async def test_many_frames_in_one_write() -> None:
    sink = FakeSink()
    listener = await started(sink)
    reader, writer = await connect(listener)
    writer.write(b"".join(frame(seq) for seq in range(100)))
    assert await read_acks(reader, 100) == acks_for(*range(100))
    assert sink.frames == [frame(seq) for seq in range(100)]
    assert listener.stats.frames == 100
    assert listener.stats.replies_sent == 100
    writer.close()
    await listener.stop()


@run_async
async def test_replies_keep_arrival_order_when_later_submits_resolve_first() -> None:
    # Frame 0 is slow, the rest are instant: the replies must still come back 0, 1, 2, ...
    sink = FakeSink(delay=lambda raw: 1.0 if qn_of(raw).endswith(b"000") else 0.0)
    listener = await started(sink)
    reader, writer = await connect(listener)
    writer.write(b"".join(frame(seq) for seq in range(5)))
    assert await read_acks(reader, 5) == acks_for(*range(5))
    # The connection pipelined: every submit started before the slow first one resolved.
    assert len(sink.started) == 5 and sink.started[-1] - sink.started[0] < 0.8
    writer.close()
    await listener.stop()


@run_async
async def test_in_flight_cap_applies_back_pressure() -> None:
    sink = FakeSink(gate=asyncio.Event())
    listener = await started(sink, limits=ListenerLimits(max_in_flight_per_connection=3))
    reader, writer = await connect(listener)
    writer.write(b"".join(frame(seq) for seq in range(20)))
    await eventually(lambda: len(sink.submissions) == 3)
    await asyncio.sleep(0.1)
    assert len(sink.submissions) == 3  # the listener stopped submitting (and reading)
    assert sink.gate is not None
    sink.gate.set()
    assert await read_acks(reader, 20) == acks_for(*range(20))
    assert sink.max_in_flight == 3
    writer.close()
    await listener.stop()


class RecordingFramer(Framer):
    """The real framer, recording the largest buffer it ever held after a feed."""

    high_water = 0

    def feed(self, chunk: bytes) -> list[FrameEvent | JunkEvent]:
        events = super().feed(chunk)
        RecordingFramer.high_water = max(RecordingFramer.high_water, self.buffered)
        return events


@pytest.mark.timeout(10)
@run_async
async def test_garbage_flood_is_bounded_quarantined_and_isolated() -> None:
    sink = FakeSink()
    cap = 4 * 1036
    limits = ListenerLimits(max_buffer_bytes=cap, max_junk_streak_bytes=64 << 20)
    RecordingFramer.high_water = 0
    listener = await started(sink, limits=limits, framer_factory=lambda: RecordingFramer(cap))

    rng = random.Random(7)
    garbage = rng.randbytes(10 << 20) + b"##0999" + b"x" * 3000  # ends with a frame that never ends

    async def flood() -> None:
        _reader, writer = await connect(listener)
        for start in range(0, len(garbage), 1 << 20):
            writer.write(garbage[start : start + (1 << 20)])
            await writer.drain()
        writer.write_eof()
        await _reader.read()
        writer.close()

    async def good_client() -> list[float]:
        reader, writer = await connect(listener)
        latencies = []
        for seq in range(30):
            sent = time.monotonic()
            writer.write(frame(seq))
            assert await read_acks(reader, 1, timeout=2.0) == acks_for(seq)
            latencies.append(time.monotonic() - sent)
            await asyncio.sleep(0.005)
        writer.close()
        return latencies

    _, latencies = await asyncio.gather(flood(), good_client())
    assert max(latencies) < 2.0  # generous for loaded CI machines; typically a few ms
    await eventually(lambda: listener.connections == 0)
    assert 0 < RecordingFramer.high_water <= cap
    assert listener.stats.buffer_high_water <= cap
    assert sink.junk and all(s.junk_reason for s in sink.junk)
    assert listener.stats.junk_bytes >= len(garbage) - cap
    assert len(sink.frames) == 30
    await listener.stop()


@run_async
async def test_junk_without_any_frame_eventually_closes_the_connection() -> None:
    sink = FakeSink()
    listener = await started(sink, limits=ListenerLimits(max_junk_streak_bytes=100_000))
    reader, writer = await connect(listener)
    try:
        for _ in range(40):
            writer.write(b"x" * 10_000)
            await writer.drain()
    except ConnectionError:
        pass
    assert await closed_by_peer(reader)
    assert listener.stats.connections_closed_junk == 1
    writer.close()
    # A good client still gets served.
    reader2, writer2 = await connect(listener)
    writer2.write(frame(1))
    assert await read_acks(reader2, 1) == acks_for(1)
    writer2.close()
    await listener.stop()


@run_async
async def test_connection_caps_refuse_extra_connections() -> None:
    sink = FakeSink()
    limits = ListenerLimits(max_connections=3, max_connections_per_address=2)
    listener = await started(sink, limits=limits)
    first = [await connect(listener) for _ in range(2)]
    await eventually(lambda: listener.connections == 2)
    reader, writer = await connect(listener)  # third from 127.0.0.1: over the per-address cap
    assert await closed_by_peer(reader)
    assert listener.stats.connections_rejected == 1
    # Another address is still welcome, until the global cap.
    other = await connect(listener, source="127.0.0.2")
    await eventually(lambda: listener.connections == 3)
    reader4, writer4 = await connect(listener, source="127.0.0.3")
    assert await closed_by_peer(reader4)
    assert listener.stats.connections_rejected == 2
    # The admitted connections work; closing one frees its slot.
    first[0][1].write(frame(1))
    assert await read_acks(first[0][0], 1) == acks_for(1)
    first[0][1].close()
    await eventually(lambda: listener.connections == 2)
    reader5, writer5 = await connect(listener)
    writer5.write(frame(2))
    assert await read_acks(reader5, 1) == acks_for(2)
    for _reader, w in (*first[1:], other, (reader5, writer5)):
        w.close()
    writer.close()
    writer4.close()
    await listener.stop()


@run_async
async def test_idle_connection_is_closed() -> None:
    sink = FakeSink()
    listener = await started(sink, limits=ListenerLimits(idle_timeout_s=0.3))
    reader, writer = await connect(listener)
    writer.write(frame(1))
    assert await read_acks(reader, 1) == acks_for(1)
    started_at = time.monotonic()
    assert await closed_by_peer(reader, timeout=3.0)
    assert 0.2 < time.monotonic() - started_at < 3.0
    assert listener.stats.connections_closed_idle == 1
    writer.close()
    await listener.stop()


@run_async
async def test_slowloris_partial_frame_is_closed_despite_trickling() -> None:
    sink = FakeSink()
    listener = await started(sink, limits=ListenerLimits(idle_timeout_s=0.4))
    reader, writer = await connect(listener)
    data = frame(1)
    started_at = time.monotonic()
    try:
        for index in range(len(data) - 1):  # 0.1 s per byte: never idle, never complete
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0.1)
            if reader.at_eof():
                break
    except ConnectionError:
        pass
    assert await closed_by_peer(reader, timeout=1.0)
    assert time.monotonic() - started_at < 3.0
    assert listener.stats.connections_closed_idle == 1
    writer.close()
    await listener.stop()


@run_async
async def test_sink_exception_sends_no_reply_and_keeps_the_connection() -> None:
    sink = FakeSink(
        fail=lambda raw: qn_of(raw).endswith(b"002"),
        failed_outcome=lambda raw: qn_of(raw).endswith(b"004"),
    )
    listener = await started(sink)
    reader, writer = await connect(listener)
    writer.write(frame(1) + frame(2) + frame(3) + frame(4) + frame(5))
    assert await read_acks(reader, 3) == acks_for(1, 3, 5)
    writer.write(frame(6))
    assert await read_acks(reader, 1) == acks_for(6)
    assert listener.stats.submits_failed == 2
    writer.close()
    await listener.stop()


class ExplodingFramer(Framer):
    def feed(self, chunk: bytes) -> list[FrameEvent | JunkEvent]:
        if b"BOOM" in chunk:
            raise ValueError("framer bug")
        return super().feed(chunk)


@run_async
async def test_handler_exception_closes_only_that_connection() -> None:
    sink = FakeSink()
    listener = await started(sink, framer_factory=ExplodingFramer)
    good_reader, good_writer = await connect(listener)
    bad_reader, bad_writer = await connect(listener)
    bad_writer.write(b"BOOM")
    assert await closed_by_peer(bad_reader)
    good_writer.write(frame(1))
    assert await read_acks(good_reader, 1) == acks_for(1)
    assert listener.stats.connections_errored == 1
    # The listener keeps accepting.
    reader, writer = await connect(listener)
    writer.write(frame(2))
    assert await read_acks(reader, 1) == acks_for(2)
    for w in (good_writer, bad_writer, writer):
        w.close()
    await listener.stop()


class LyingFramer(Framer):
    @property
    def buffered(self) -> int:
        return 10**9


@run_async
async def test_framer_over_its_cap_gets_the_connection_closed() -> None:
    listener = await started(FakeSink(), framer_factory=LyingFramer)
    reader, writer = await connect(listener)
    writer.write(b"#")
    assert await closed_by_peer(reader)
    assert listener.stats.connections_errored == 1
    writer.close()
    await listener.stop()


@run_async
async def test_partial_frame_at_eof_is_submitted_as_junk() -> None:
    sink = FakeSink()
    listener = await started(sink)
    reader, writer = await connect(listener)
    writer.write(frame(1) + frame(2)[:40])
    assert await read_acks(reader, 1) == acks_for(1)
    writer.write_eof()
    assert await closed_by_peer(reader)
    await eventually(lambda: len(sink.junk) == 1)
    assert sink.junk[0].raw == frame(2)[:40]
    assert sink.junk[0].junk_reason
    writer.close()
    await listener.stop()


@run_async
async def test_graceful_stop_drains_in_flight_replies() -> None:
    sink = FakeSink(delay=lambda raw: 0.5)
    listener = await started(sink)
    reader, writer = await connect(listener)
    writer.write(frame(1))
    await eventually(lambda: len(sink.submissions) == 1)
    stop = asyncio.create_task(listener.stop(drain_timeout_s=5.0))
    assert await read_acks(reader, 1) == acks_for(1)
    assert await closed_by_peer(reader)
    await stop
    assert listener.connections == 0
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", writer.get_extra_info("peername")[1])
    writer.close()


@run_async
async def test_stop_aborts_connections_that_do_not_drain_in_time() -> None:
    sink = FakeSink(gate=asyncio.Event())
    listener = await started(sink)
    reader, writer = await connect(listener)
    writer.write(frame(1))
    await eventually(lambda: len(sink.submissions) == 1)
    started_at = time.monotonic()
    await listener.stop(drain_timeout_s=0.2)
    assert time.monotonic() - started_at < 2.0
    assert await closed_by_peer(reader)
    assert sink.frames == [frame(1)]
    writer.close()
