"""The logger simulator against fake hubs (and the real listener), over 127.0.0.1 sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import random
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.base import ChannelContext
from adapters.hj212.framing import FrameEvent, Framer, split_stream
from adapters.hj212.packet import Packet, build_ack, build_qn_rtn, parse_data_segment
from hub.ingest.contracts import IngestResult, Outcome
from hub.ingest.simulator import (
    SimulatedLogger,
    Simulator,
    SimulatorStats,
    loggers_from_registry,
    loggers_scaled,
    make_realtime_frame,
)
from hub.ingest.tcp import TcpListener

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
LOGGER = SimulatedLogger(
    station="lihe-air-saryarka",
    mn="4C4948453030323230303031",
    pw="A7k2p9",
    st="22",
    timezone="Asia/Almaty",
    factors=("a34004", "a34002", "a21005", "a01001", "a01008"),
    kind="air",
)


def run_async[**P](fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on a fresh loop with a hard 9 s limit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(9):
                await fn(*args, **kwargs)

        asyncio.run(bounded())

    return wrapper


# What the fake hub does with the n-th frame it receives (0-based): 'ack', 'drop' (no reply),
# 'close' (hang up without a reply) or 'reject' (9011 QnRtn=3).
Policy = Callable[[int, Packet], str]


@dataclass
class FakeHub:
    policy: Policy = lambda index, packet: "ack"
    received: list[bytes] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = Framer()
        try:
            while chunk := await reader.read(65536):
                for event in framer.feed(chunk):
                    assert isinstance(event, FrameEvent)
                    index = len(self.received)
                    self.received.append(event.raw)
                    packet = parse_data_segment(event.data)
                    action = self.policy(index, packet)
                    if action == "ack" and packet.ack_requested:
                        writer.write(build_ack(packet))
                    elif action == "reject":
                        writer.write(build_qn_rtn(packet, 3))
                    elif action == "close":
                        writer.close()
                        return
        except ConnectionError:
            pass
        finally:
            writer.close()


async def one_frame(hub: FakeHub, **kwargs: Any) -> SimulatorStats:
    """Run one logger long enough for exactly one frame (interval 1 s, duration 0.5 s)."""
    port = await hub.start()
    simulator = Simulator(
        "127.0.0.1",
        port,
        [LOGGER],
        rate_per_minute=60,
        duration_s=0.5,
        start_time=datetime(2025, 1, 15, 5, 0, tzinfo=UTC),
        **kwargs,
    )
    stats = await simulator.run()
    await hub.stop()
    return stats


@run_async
async def test_lost_ack_is_answered_by_resending_the_same_bytes() -> None:
    hub = FakeHub(policy=lambda index, packet: "drop" if index == 0 else "ack")
    stats = await one_frame(hub, ack_timeout_s=1.0, retries=3)
    assert len(hub.received) == 2
    assert hub.received[0] == hub.received[1]
    assert (stats.frames_sent, stats.frames_resent, stats.frames_acked) == (1, 1, 1)
    assert stats.frames_given_up == 0
    assert stats.acked_by_logger == {LOGGER.mn: 1}
    assert stats.p50_s is not None and stats.p50_s < 1.0


@run_async
async def test_hub_that_never_acks_makes_the_logger_give_up_after_retries() -> None:
    hub = FakeHub(policy=lambda index, packet: "drop")
    stats = await one_frame(hub, ack_timeout_s=0.15, retries=2)
    assert len(hub.received) == 3
    assert len(set(hub.received)) == 1
    assert (stats.frames_sent, stats.frames_resent, stats.frames_given_up) == (1, 2, 1)
    assert stats.frames_acked == 0
    assert stats.p99_s is None


@run_async
async def test_9011_is_a_rejection_and_not_retried() -> None:
    hub = FakeHub(policy=lambda index, packet: "reject")
    stats = await one_frame(hub, ack_timeout_s=0.5, retries=3)
    assert len(hub.received) == 1
    assert (stats.frames_rejected, stats.frames_resent, stats.frames_given_up) == (1, 0, 0)
    assert stats.rejection_codes == {"3": 1}


@run_async
async def test_connection_drop_mid_wait_reconnects_and_resends() -> None:
    hub = FakeHub(policy=lambda index, packet: "close" if index == 0 else "ack")
    stats = await one_frame(hub, ack_timeout_s=2.0, retries=3)
    assert len(hub.received) == 2 and hub.received[0] == hub.received[1]
    assert hub.connections == 2
    assert (stats.frames_acked, stats.frames_resent, stats.disconnects) == (1, 1, 1)


@run_async
async def test_unreachable_hub_gives_up_without_sending() -> None:
    hub = FakeHub()
    port = await hub.start()
    await hub.stop()
    assert hub.server is not None
    await hub.server.wait_closed()
    simulator = Simulator(
        "127.0.0.1",
        port,
        [LOGGER],
        rate_per_minute=60,
        duration_s=0.5,
        ack_timeout_s=0.2,
        retries=1,
    )
    stats = await simulator.run()
    assert stats.frames_sent == 0 and stats.frames_given_up == 1
    assert stats.connect_failures == 2


@run_async
async def test_high_rate_runs_closed_loop_and_stops_on_time() -> None:
    hub = FakeHub()
    port = await hub.start()
    simulator = Simulator("127.0.0.1", port, [LOGGER], rate_per_minute=600_000, duration_s=0.5)
    stats = await simulator.run()
    await hub.stop()
    assert stats.elapsed_s < 3.0
    assert stats.frames_acked == stats.frames_sent == len(hub.received) > 10
    frames = [split_stream(raw)[0] for raw in hub.received]
    packets = [parse_data_segment(f.data) for f in frames if isinstance(f, FrameEvent)]
    assert len(packets) == len(frames)
    # Sub-second intervals still give every frame its own DataTime (1 s apart) and QN.
    assert len({packet.cp["DataTime"] for packet in packets}) == len(packets)
    assert len({packet.qn for packet in packets}) == len(packets)


def capture(frames_per_logger: int = 5) -> tuple[bytes, list[bytes]]:
    """Ten frames of two loggers, interleaved, with junk between two of them."""
    other = SimulatedLogger(
        "lihe-water",
        "4C4948453030323130303031",
        "B6n3v8",
        "21",
        "Asia/Almaty",
        ("w01001", "w01009"),
        "water",
    )
    rng = random.Random(3)
    frames = []
    for seq in range(1, frames_per_logger + 1):
        when = datetime(2025, 1, 15, 0, 5 * seq, tzinfo=UTC)
        frames += [
            make_realtime_frame(LOGGER, when, seq, rng),
            make_realtime_frame(other, when, seq, rng),
        ]
    return b"".join(frames[:3]) + b"garbage\r\n" + b"".join(frames[3:]), frames


@run_async
async def test_replay_sends_every_frame_on_its_mn_connection_and_gets_all_acked() -> None:
    data, frames = capture()
    hub = FakeHub(policy=lambda index, packet: "drop" if index == 4 else "ack")
    port = await hub.start()
    stats = await Simulator.replay("127.0.0.1", port, data, ack_timeout_s=1.0)
    await hub.stop()
    assert stats.frames_acked == 10 and stats.frames_sent == 10
    assert stats.frames_resent == 1 and stats.frames_given_up == 0
    assert stats.frames_skipped == 1  # the junk
    assert hub.connections == 2
    assert sorted(hub.received) == sorted([*frames, hub.received[4]])
    assert set(stats.acked_by_logger.values()) == {5}


@run_async
async def test_replay_from_a_path_on_one_connection(tmp_path: Path) -> None:
    data, frames = capture(2)
    path = tmp_path / "capture.hj212"
    path.write_bytes(data)
    hub = FakeHub()
    port = await hub.start()
    stats = await Simulator.replay("127.0.0.1", port, str(path), connections_by_mn=False)
    await hub.stop()
    assert stats.frames_acked == 4
    assert hub.connections == 1
    assert hub.received == frames  # capture order on a single connection


@dataclass
class AckingSink:
    """A sink that acknowledges like the pipeline: a 9014 echoing QN, after a short commit."""

    frames: int = 0

    async def submit(
        self, adapter: str, raw: bytes, context: ChannelContext, junk_reason: str | None = None
    ) -> IngestResult:
        await asyncio.sleep(0.002)
        events = split_stream(raw)
        assert junk_reason is None and isinstance(events[0], FrameEvent)
        self.frames += 1
        return IngestResult(Outcome.STORED, build_ack(parse_data_segment(events[0].data)))


@run_async
async def test_pilot_fleet_against_the_real_listener() -> None:
    loggers = [
        *loggers_from_registry(pilot_registry()),
        *loggers_scaled(loggers_from_registry(pilot_registry()), 32),
    ]
    sink = AckingSink()
    listener = TcpListener(sink)
    await listener.start()
    simulator = Simulator(
        "127.0.0.1", listener.port, loggers, rate_per_minute=300, duration_s=1.0, ack_timeout_s=5.0
    )
    stats = await simulator.run()
    await listener.stop()
    # Five frames each on an idle machine; a loaded one may run out of time for the last.
    assert 4 * len(loggers) <= stats.frames_sent <= 5 * len(loggers)
    assert stats.frames_sent == sink.frames
    assert stats.frames_acked == stats.frames_sent and stats.frames_resent == 0
    assert len(stats.acked_by_logger) == len(loggers)
    assert stats.summary()["ack_p99_s"] < 2.0
    assert stats.connects == len(loggers)  # one persistent connection each


def pilot_registry() -> dict[str, Any]:
    path = SHARED / "fixtures" / "astana-pilot.json"
    if not SHARED.is_dir() and os.environ.get("CI") != "true":
        pytest.skip("shared fixtures not available")
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def test_loggers_from_the_pilot_registry() -> None:
    loggers = loggers_from_registry(pilot_registry())
    assert len(loggers) == 8
    assert len({logger.mn for logger in loggers}) == 8
    first = loggers[0]
    assert (first.station, first.mn, first.pw, first.st, first.timezone, first.kind) == (
        "lihe-air-saryarka",
        "4C4948453030323230303031",
        "A7k2p9",
        "22",
        "Asia/Almaty",
        "air",
    )
    assert "a34004" in first.factors and len(first.factors) == 12
    assert {logger.kind for logger in loggers} == {"air", "water", "effluent"}
    assert any(logger.timezone == "Asia/Shanghai" for logger in loggers)


def test_realtime_frame_is_a_valid_upload_in_local_time() -> None:
    when = datetime(2025, 1, 14, 19, 5, tzinfo=UTC)  # 00:05 in Almaty (UTC+5)
    raw = make_realtime_frame(LOGGER, when, 1234, random.Random(1))
    events = split_stream(raw)
    assert len(events) == 1 and isinstance(events[0], FrameEvent)
    packet = parse_data_segment(events[0].data)
    assert (packet.cn, packet.st, packet.mn, packet.pw) == ("2011", "22", LOGGER.mn, "A7k2p9")
    assert packet.qn == "20250115000500234"
    assert packet.ack_requested
    assert packet.cp["DataTime"] == "20250115000500"
    assert 5 <= float(packet.cp["a34004-Rtd"]) <= 150
    assert 0.2 <= float(packet.cp["a21005-Rtd"]) <= 3
    assert -30 <= float(packet.cp["a01001-Rtd"]) <= 30
    assert packet.cp["a34004-Flag"] == "N" and "a01001-Flag" not in packet.cp
    # Laid out like the pilot capture: factor groups split by ';', items by ','.
    data = events[0].data.decode("ascii")
    assert re.fullmatch(
        r"QN=\d{17};ST=22;CN=2011;PW=A7k2p9;MN=[0-9A-F]{24};Flag=5;CP=&&DataTime=\d{14};"
        r"a34004-Rtd=[\d.]+,a34004-Flag=N;a34002-Rtd=[\d.]+,a34002-Flag=N;"
        r"a21005-Rtd=[\d.]+,a21005-Flag=N;a01001-Rtd=-?[\d.]+;a01008-Rtd=[\d.]+&&",
        data,
    )
    # Deterministic for a given seed; the QN follows the logger's own zone.
    assert raw == make_realtime_frame(LOGGER, when, 1234, random.Random(1))
    shanghai = dataclasses.replace(LOGGER, timezone="Asia/Shanghai")
    other = make_realtime_frame(shanghai, when, 1, random.Random(1))
    assert b"QN=20250115030500001;" in other and b"DataTime=20250115030500;" in other


def test_realtime_frames_of_every_pilot_logger_parse() -> None:
    rng = random.Random(0)
    for logger in loggers_from_registry(pilot_registry()):
        raw = make_realtime_frame(logger, datetime(2025, 1, 15, tzinfo=UTC), 1, rng)
        events = split_stream(raw)
        assert len(events) == 1 and isinstance(events[0], FrameEvent)
        packet = parse_data_segment(events[0].data)
        assert all(f"{code}-Rtd" in packet.cp for code in logger.factors)


def test_loggers_scaled_gives_distinct_24_hex_mns() -> None:
    base = [LOGGER]
    clones = loggers_scaled(base, 300, factors_per_logger=8)
    assert len({clone.mn for clone in clones}) == 300
    assert all(re.fullmatch(r"[0-9A-F]{24}", clone.mn) for clone in clones)
    assert len({clone.station for clone in clones}) == 300
    assert all(len(clone.factors) == 8 for clone in clones)
    assert clones[0].factors[:5] == LOGGER.factors
    assert loggers_scaled(base, 2)[1].factors == LOGGER.factors
    with pytest.raises(ValueError):
        loggers_scaled(base, 1, factors_per_logger=500)


def test_percentiles() -> None:
    stats = SimulatorStats(ack_latencies_s=[float(n) for n in range(1, 101)])
    assert stats.p50_s == 50.0
    assert stats.p99_s == 99.0
    assert stats.percentile(100) == 100.0
