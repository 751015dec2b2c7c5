"""Plays Lihe HJ 212 data loggers against the hub over TCP, the way real loggers behave.

Used for demos, soak tests and benchmarks. Each simulated logger keeps one persistent TCP
connection, uploads a real-time frame (CN=2011, Flag=5) every interval, waits up to
``ack_timeout_s`` (HJ 212 ``OverTime``) for the 9014 echoing its QN and resends the very same
bytes up to ``retries`` (``ReCount``) more times before giving the frame up (reliability.md §3.3).
A 9011 reply is a refusal: it is counted and not retried. :meth:`Simulator.replay` plays a
recorded capture instead, frame by frame on one connection per MN.

Everything runs on one asyncio loop (no threads) so a single process can play 1000 loggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.hj212.framing import FrameEvent, Framer, split_stream
from adapters.hj212.packet import (
    CodecError,
    Packet,
    build_data_segment,
    build_frame,
    parse_data_segment,
)

__all__ = [
    "SimulatedLogger",
    "Simulator",
    "SimulatorStats",
    "loggers_from_registry",
    "loggers_scaled",
    "make_realtime_frame",
]

log = logging.getLogger(__name__)

_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.5, 5.0

# Plausible real-time ranges per factor code. Air in ug/m3 (CO mg/m3), Cel, %, kPa, m/s, deg;
# water in mg/L ([pH], Cel, uS/cm, NTU, L/s). Meteorological a01 codes carry no -Flag, as on the
# pilot loggers' wire.
# fmt: off
_RANGES: dict[str, tuple[float, float]] = {
    "a34004": (5, 150), "a34002": (10, 250), "a21026": (5, 80),  # PM2.5, PM10, SO2
    "a21004": (10, 120), "a21005": (0.2, 3), "a05024": (10, 80),  # NO2, CO, O3
    "a21028": (1, 15), "a01001": (-30, 30), "a01002": (30, 95),  # H2S, temperature, RH
    "a01006": (96, 101), "a01007": (0, 12), "a01008": (0, 359),  # pressure, wind speed, dir
    "w01001": (6.5, 8.5), "w01009": (4, 12), "w01010": (0, 20),  # pH, DO, temperature
    "w01014": (300, 900), "w01003": (1, 40), "w01019": (2, 10),  # conductivity, turbidity, CODMn
    "w21003": (0.05, 1.5), "w21011": (0.01, 0.3), "w21001": (0.5, 3),  # NH3-N, TP, TN
    "w00000": (20, 120), "w01018": (20, 80),  # effluent flow, COD
}
# fmt: on
_DEFAULT_RANGE = (0.0, 100.0)


@dataclass(frozen=True)
class SimulatedLogger:
    """One Lihe data logger as the simulator plays it (identity as registered in the hub)."""

    station: str
    mn: str
    pw: str
    st: str
    timezone: str
    factors: tuple[str, ...]
    kind: str


def loggers_from_registry(document: Mapping[str, Any]) -> list[SimulatedLogger]:
    """The Lihe loggers of a pilot-format registry (``astana-pilot.json``), in document order.

    Stations of other sources (Kazhydromet posts) have no logger and are skipped.
    """
    loggers: list[SimulatedLogger] = []
    for station in document.get("stations", ()):
        if station.get("source") != "lihe-hj212":
            continue
        loggers.append(
            SimulatedLogger(
                station=str(station["id"]),
                mn=str(station["mn"]),
                pw=str(station["pw"]),
                st=str(station["st"]),
                timezone=str(station.get("logger_timezone", "Asia/Almaty")),
                factors=tuple(str(code) for code in station.get("factors", {})),
                kind=str(station.get("kind", "")),
            )
        )
    return loggers


def loggers_scaled(
    base: Sequence[SimulatedLogger], count: int, factors_per_logger: int | None = None
) -> list[SimulatedLogger]:
    """``count`` clones of ``base`` (cycled) with distinct synthetic 24-hex MNs, for benchmarks.

    Clone ``i`` gets MN ``'53494D'`` ("SIM") + ``i`` as 18 hex digits and station
    ``sim-<i>-<base station>``, so the hub can register matching stations. With
    ``factors_per_logger`` each clone reports that many factors: the base's first ones, topped
    up from the known codes of the same family (``a`` air, ``w`` water) when the base has fewer.
    """
    if not base:
        raise ValueError("loggers_scaled needs at least one base logger")
    if count < 0 or (factors_per_logger is not None and factors_per_logger < 1):
        raise ValueError("count must be >= 0 and factors_per_logger >= 1")
    clones: list[SimulatedLogger] = []
    for index in range(count):
        origin = base[index % len(base)]
        factors = origin.factors
        if factors_per_logger is not None:
            family = origin.factors[0][:1] if origin.factors else "a"
            pool = list(origin.factors) + [
                code for code in _RANGES if code.startswith(family) and code not in factors
            ]
            if factors_per_logger > len(pool):
                raise ValueError(
                    f"only {len(pool)} factor codes known for {origin.station!r}, "
                    f"{factors_per_logger} requested"
                )
            factors = tuple(pool[:factors_per_logger])
        station, mn = f"sim-{index:05d}-{origin.station}", f"53494D{index:018X}"
        clones.append(dataclasses.replace(origin, station=station, mn=mn, factors=factors))
    return clones


def _value_text(code: str, rng: random.Random) -> str:
    low, high = _RANGES.get(code, _DEFAULT_RANGE)
    value = round(rng.uniform(low, high), 3)
    return repr(value + 0.0)  # '137.5', '-20.617'; +0.0 turns -0.0 into 0.0


def make_realtime_frame(
    logger: SimulatedLogger, data_time_utc: datetime, seq: int, rng: random.Random
) -> bytes:
    """One real-time upload (CN=2011, Flag=5: ack requested) as the logger would send it.

    QN and DataTime are in the logger's local time (HJ 212 times carry no zone); QN is the
    local data time plus a 3-digit sequence, as in the pilot capture.
    """
    return _realtime_frame(logger, data_time_utc, seq, rng)[1]


def _realtime_frame(
    logger: SimulatedLogger, data_time_utc: datetime, seq: int, rng: random.Random
) -> tuple[str, bytes]:
    """The QN and bytes of :func:`make_realtime_frame`."""
    if data_time_utc.utcoffset() is None:
        raise ValueError("data_time_utc must be timezone-aware")
    stamp = data_time_utc.astimezone(ZoneInfo(logger.timezone)).strftime("%Y%m%d%H%M%S")
    qn = f"{stamp}{seq % 1000:03d}"
    header = dict(QN=qn, ST=logger.st, CN="2011", PW=logger.pw, MN=logger.mn, Flag="5")
    groups: list[dict[str, str]] = [{"DataTime": stamp}]
    for code in logger.factors:
        group = {f"{code}-Rtd": _value_text(code, rng)}
        if not code.startswith("a01"):
            group[f"{code}-Flag"] = "N"
        groups.append(group)
    return qn, build_frame(build_data_segment(header, groups))


@dataclass
class SimulatorStats:
    """What happened to the simulated uploads. Frame counts are of distinct frames; every frame
    that asked for an ack ends up exactly one of acked, rejected or given up."""

    frames_sent: int = 0  # distinct frames written at least once
    frames_resent: int = 0  # extra transmissions of the same bytes
    frames_acked: int = 0
    frames_rejected: int = 0  # answered with 9011 (QnRtn)
    frames_given_up: int = 0  # no ack after 1 + retries attempts
    frames_without_ack: int = 0  # replay: Flag bit A clear, nothing to wait for
    frames_skipped: int = 0  # replay: junk or unparseable bytes in the capture
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    stray_replies: int = 0  # replies that match no frame we wait for (late duplicate acks)
    bad_replies: int = 0  # reply bytes that are not a valid HJ 212 frame
    elapsed_s: float = 0.0
    rejection_codes: Counter[str] = field(default_factory=Counter)
    ack_latencies_s: list[float] = field(default_factory=list)  # last transmission -> ack
    acked_by_logger: Counter[str] = field(default_factory=Counter)  # keyed by MN

    def percentile(self, q: float) -> float | None:
        """Nearest-rank ``q``-th percentile (0-100) of the ack latencies, None without acks."""
        if not self.ack_latencies_s:
            return None
        ordered = sorted(self.ack_latencies_s)
        return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]

    @property
    def p50_s(self) -> float | None:
        return self.percentile(50)

    @property
    def p99_s(self) -> float | None:
        return self.percentile(99)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly totals for benchmark reports."""
        counts = {f.name: getattr(self, f.name) for f in fields(self) if f.type == "int"}
        return {
            **counts,
            "elapsed_s": round(self.elapsed_s, 3),
            "ack_p50_s": self.p50_s,
            "ack_p99_s": self.p99_s,
            "rejection_codes": dict(self.rejection_codes),
            "loggers_acked": len(self.acked_by_logger),
        }


_Planned = tuple[bytes, str | None, bool, str]  # replay: raw frame, QN, ack wanted, MN


class _Reply(Enum):
    ACKED, REJECTED, TIMEOUT, DROPPED = range(4)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """Where the hub listens and how patiently a logger waits for it (OverTime, ReCount)."""

    host: str
    port: int
    ack_timeout_s: float
    retries: int


class _Link:
    """One logger's persistent TCP connection: reconnects with backoff, resends, matches QNs."""

    def __init__(
        self, endpoint: _Endpoint, name: str, stats: SimulatorStats, rng: random.Random
    ) -> None:
        self._endpoint, self._name = endpoint, name
        self._stats, self._rng = stats, rng
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        # A fresh queue per connection, so a drop marker never leaks into the next connection.
        self._replies: asyncio.Queue[Packet | None] = asyncio.Queue()
        self._backoff = _BACKOFF_MIN_S

    async def deliver(self, frame: bytes, qn: str | None, expect_ack: bool, mn: str) -> None:
        """Send ``frame`` until acknowledged, refused, or out of attempts; count the outcome
        (acks are counted per logger under ``mn``)."""
        written = False
        for _attempt in range(1 + self._endpoint.retries):
            if self._writer is None and not await self._connect():
                await self._sleep_backoff()
                continue
            assert self._writer is not None
            try:
                self._writer.write(frame)
                async with asyncio.timeout(self._endpoint.ack_timeout_s):
                    await self._writer.drain()  # a hub that stops reading counts as a drop
            except OSError:  # ConnectionError and TimeoutError included
                self._disconnect(count=True)
                await self._sleep_backoff()
                continue
            if written:
                self._stats.frames_resent += 1
            else:
                self._stats.frames_sent += 1
                written = True
            if not expect_ack:
                self._stats.frames_without_ack += 1
                return
            sent_at = asyncio.get_running_loop().time()
            reply = await self._await_reply(qn)
            if reply is _Reply.ACKED:
                self._stats.frames_acked += 1
                self._stats.acked_by_logger[mn] += 1
                self._stats.ack_latencies_s.append(asyncio.get_running_loop().time() - sent_at)
                self._backoff = _BACKOFF_MIN_S
                return
            if reply is _Reply.REJECTED:
                self._stats.frames_rejected += 1
                return
            if reply is _Reply.DROPPED:
                await self._sleep_backoff()
            # TIMEOUT: the ack_timeout already spaced the attempts; resend at once.
        self._stats.frames_given_up += 1
        log.debug("logger %s gave up on QN %s", self._name, qn)

    async def _await_reply(self, qn: str | None) -> _Reply:
        """Wait for the 9014 (or 9011) echoing ``qn``; other replies are counted as stray."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._endpoint.ack_timeout_s
        queue = self._replies
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    packet = await queue.get()
            except TimeoutError:
                return _Reply.TIMEOUT
            if packet is None:
                return _Reply.DROPPED
            if packet.qn != qn:
                self._stats.stray_replies += 1
                continue
            if packet.cn == "9014":
                return _Reply.ACKED
            if packet.cn == "9011":
                self._stats.rejection_codes[str(packet.cp.get("QnRtn", "?"))] += 1
                return _Reply.REJECTED
            self._stats.stray_replies += 1

    async def _connect(self) -> bool:
        try:
            async with asyncio.timeout(self._endpoint.ack_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self._endpoint.host, self._endpoint.port
                )
        except (OSError, TimeoutError) as exc:
            self._stats.connect_failures += 1
            log.debug("logger %s: connect failed: %r", self._name, exc)
            return False
        self._stats.connects += 1
        self._writer = writer
        self._replies = asyncio.Queue()
        self._reader_task = asyncio.create_task(self._read_replies(reader, self._replies))
        return True

    async def _read_replies(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[Packet | None]
    ) -> None:
        framer = Framer()
        try:
            while chunk := await reader.read(65536):
                for event in framer.feed(chunk):
                    if not isinstance(event, FrameEvent):
                        self._stats.bad_replies += 1
                        continue
                    try:
                        queue.put_nowait(parse_data_segment(event.data))
                    except CodecError:
                        self._stats.bad_replies += 1
        except (ConnectionError, OSError):
            pass
        finally:
            self._disconnect(count=queue is self._replies)
            queue.put_nowait(None)

    def _disconnect(self, *, count: bool) -> None:
        """Forget a broken connection (counted once); the next attempt reconnects."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._stats.disconnects += int(count)
            writer.transport.abort()

    async def _sleep_backoff(self) -> None:
        # Jitter so a thousand loggers that lost the hub together do not return in lock-step.
        await asyncio.sleep(self._backoff * self._rng.uniform(0.8, 1.2))
        self._backoff = min(_BACKOFF_MAX_S, self._backoff * 2)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task


class Simulator:
    """A fleet of simulated loggers uploading real-time data to one hub endpoint."""

    def __init__(
        self,
        host: str,
        port: int,
        loggers: Sequence[SimulatedLogger],
        *,
        rate_per_minute: float = 1.0,
        duration_s: float | None = None,
        ack_timeout_s: float = 15.0,
        retries: int = 3,
        seed: int = 0,
        start_time: datetime | None = None,
    ) -> None:
        if rate_per_minute <= 0 or ack_timeout_s <= 0 or retries < 0:
            raise ValueError("rate_per_minute and ack_timeout_s must be > 0, retries >= 0")
        self._endpoint = _Endpoint(host, port, ack_timeout_s, retries)
        self._loggers = tuple(loggers)
        self._interval_s = 60.0 / rate_per_minute
        self._duration_s = duration_s
        self._seed = seed
        self._start_time = start_time
        self._stats = SimulatorStats()
        self._stopped = asyncio.Event()

    @property
    def stats(self) -> SimulatorStats:
        """The live counters (the same object :meth:`run` returns)."""
        return self._stats

    def stop(self) -> None:
        """End :meth:`run` after each logger's current exchange (for ``duration_s=None``)."""
        self._stopped.set()

    async def run(self) -> SimulatorStats:
        """Play every logger until ``duration_s`` elapsed (or :meth:`stop`); return the stats.

        Logger ``i`` of ``n`` sends its ``k``-th frame at ``i/n`` of an interval plus ``k``
        intervals after the start, so the load is smooth; if an exchange overruns, the next frame
        follows at once (so a very high rate measures closed-loop throughput). Frame ``k``
        carries DataTime ``start_time + k`` intervals; DataTime has whole seconds, so intervals
        under 1 s advance it by 1 s per frame, keeping every frame's data distinct.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        now = datetime.now(UTC).timestamp()
        start_time = self._start_time or datetime.fromtimestamp(now - now % self._interval_s, UTC)
        count = len(self._loggers)
        deadline = None if self._duration_s is None else started + self._duration_s
        tasks = [
            asyncio.create_task(
                self._play(logger, start_time, started + index * self._interval_s / count, deadline)
            )
            for index, logger in enumerate(self._loggers)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self._stats.elapsed_s = loop.time() - started
        return self._stats

    async def _play(
        self, logger: SimulatedLogger, start_time: datetime, first_at: float, deadline: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(f"{self._seed}:{logger.mn}")
        link = _Link(self._endpoint, logger.mn, self._stats, rng)
        data_step_s = max(self._interval_s, 1.0)
        try:
            seq = 0
            while not self._stopped.is_set():
                send_at = first_at + seq * self._interval_s
                if deadline is not None and max(send_at, loop.time()) >= deadline:
                    break
                if await self._wait_until(send_at):
                    break
                data_time = start_time + timedelta(seconds=seq * data_step_s)
                seq += 1
                qn, frame = _realtime_frame(logger, data_time, seq, rng)
                await link.deliver(frame, qn, expect_ack=True, mn=logger.mn)
        finally:
            await link.close()

    async def _wait_until(self, when: float) -> bool:
        """Sleep until loop time ``when``; True when stopped meanwhile."""
        delay = when - asyncio.get_running_loop().time()
        if delay <= 0:
            return self._stopped.is_set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stopped.wait()
        return self._stopped.is_set()

    @classmethod
    async def replay(
        cls,
        host: str,
        port: int,
        data: bytes | str | os.PathLike[str],
        *,
        connections_by_mn: bool = True,
        rate_per_minute: float | None = None,
        ack_timeout_s: float = 15.0,
        retries: int = 3,
        seed: int = 0,
    ) -> SimulatorStats:
        """Send a recorded capture (bytes, or a path to one) to the hub and return the stats.

        Frames go out byte-for-byte in capture order, on one connection per MN (or a single
        connection with ``connections_by_mn=False``); a frame with Flag bit A set waits for its
        ack and is resent like a live upload. Connections run concurrently, each as fast as its
        acks allow, or at ``rate_per_minute`` frames per minute each when given.
        """
        capture = data if isinstance(data, bytes) else Path(data).read_bytes()
        stats = SimulatorStats()
        queues: dict[str, list[_Planned]] = {}
        for event in split_stream(capture):
            if not isinstance(event, FrameEvent):
                stats.frames_skipped += 1
                continue
            try:
                packet = parse_data_segment(event.data)
            except CodecError:
                stats.frames_skipped += 1
                continue
            mn = packet.mn or ""
            queues.setdefault(mn if connections_by_mn else "", []).append(
                (event.raw, packet.qn, bool(packet.ack_requested), mn)
            )
        spacing = None if rate_per_minute is None else 60.0 / rate_per_minute
        endpoint = _Endpoint(host, port, ack_timeout_s, retries)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def play(key: str, frames: list[_Planned]) -> None:
            rng = random.Random(f"{seed}:{key}")
            link = _Link(endpoint, key or "capture", stats, rng)
            try:
                for index, (raw, qn, expect_ack, mn) in enumerate(frames):
                    if spacing is not None:
                        await asyncio.sleep(max(0.0, started + index * spacing - loop.time()))
                    await link.deliver(raw, qn, expect_ack, mn)
            finally:
                await link.close()

        tasks = [asyncio.create_task(play(key, frames)) for key, frames in queues.items()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            stats.elapsed_s = loop.time() - started
        return stats
