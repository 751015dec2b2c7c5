"""Throughput of the HJ 212 codec and of the Lihe adapter on one core.

Usage: python bench/codec_hj212.py [--fixture PATH] [--seconds N]

Measures (a) framing + CRC + data-segment parse and (b) the full adapter decode (CRC, device
lookup, password check, time conversion, readings), each for at least ``--seconds`` seconds, on
the pilot real-time capture (or, when it is absent, a synthetic 10-factor frame repeated). The
device directory is derived from the frames themselves (their MN and PW; every factor configured),
so any capture works without a registry file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from machine import describe

from adapters.base import ChannelContext, DeviceProfile, hash_secret
from adapters.hj212.framing import FrameEvent, split_stream
from adapters.hj212.lihe import LiheHJ212Adapter
from adapters.hj212.packet import Packet, build_frame, check_crc, parse_data_segment

DEFAULT_FIXTURE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "fixtures"
    / "hj212"
    / "pilot-2025-01-15-realtime.hj212"
)
_VALUE_SUFFIXES = frozenset({"Rtd", "Avg", "Min", "Max", "Cou"})
_FACTORS = ["a34004", "a34002", "a21026", "a21004", "a21005", "a05024", "a21028", "a01001"]


def synthetic_stream(frames: int = 2304) -> bytes:
    """``frames`` 10-factor real-time frames from one logger, five minutes apart."""
    out = []
    for index in range(frames):
        hour, minute = divmod(index * 5 % 1440, 60)
        stamp = f"20250115{hour:02d}{minute:02d}00"
        items = [
            f"{code}-Rtd={10 + index % 97}.{index % 1000:03d},{code}-Flag=N" for code in _FACTORS
        ]
        items += ["a01002-Rtd=79.6", "a01007-Rtd=2.5"]
        cp = ";".join([f"DataTime={stamp}", *items])
        out.append(
            build_frame(
                f"QN={stamp}{index % 1000:03d};ST=22;CN=2011;PW=A7k2p9;"
                f"MN=4C4948453030323230303031;Flag=5;CP=&&{cp}&&"
            )
        )
    return b"".join(out)


def values_in(packet: Packet) -> int:
    return sum(key.partition("-")[2] in _VALUE_SUFFIXES for key in packet.cp)


class Directory:
    """Profiles for every (MN, PW) in the stream, all factors configured (unit '1')."""

    def __init__(self, packets: list[Packet]) -> None:
        self._profiles: dict[str, DeviceProfile] = {}
        for packet in packets:
            mn = packet.mn or ""
            if mn in self._profiles:
                continue
            self._profiles[mn] = DeviceProfile(
                station=f"bench-{mn}",
                device_id=mn,
                kind="air",
                secret_hash=hash_secret(packet.pw or ""),
                units={code: "1" for code in packet.factor_groups()},
            )

    def device(self, source: str, device_id: str) -> DeviceProfile | None:
        return self._profiles.get(device_id)


def run_for(
    seconds: float, one_pass: Callable[[], tuple[int, int]]
) -> tuple[float, float, int, int]:
    """Repeat ``one_pass`` (returning frames, values) for ``seconds``: (elapsed, best pass, ...).

    The best pass is reported beside the mean because a shared machine's neighbours add noise.
    """
    frames = values = 0
    best = float("inf")
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        done_frames, done_values = one_pass()
        best = min(best, time.perf_counter() - began)
        frames += done_frames
        values += done_values
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed, best, frames, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    if args.fixture.is_file():
        stream, source = args.fixture.read_bytes(), str(args.fixture)
    else:
        stream, source = synthetic_stream(), "synthetic 10-factor frames (fixture not found)"
    frames = [event for event in split_stream(stream) if isinstance(event, FrameEvent)]
    packets = [parse_data_segment(event.data) for event in frames]
    values = sum(values_in(packet) for packet in packets)
    print(f"machine: {describe()}")
    print(f"input: {source}: {len(frames)} frames, {values} values, {len(stream)} bytes")

    def codec_pass() -> tuple[int, int]:
        for event in split_stream(stream):
            if isinstance(event, FrameEvent):
                check_crc(event)
                parse_data_segment(event.data)
        return len(frames), values

    adapter = LiheHJ212Adapter()
    directory = Directory(packets)
    units = list(adapter.split(stream))
    context = ChannelContext(channel="file", peer=source, received_at=datetime.now(UTC))
    for unit in units:  # warm-up: the scrypt verdict cache, time-zone caches
        adapter.decode(unit, context, directory)

    def adapter_pass() -> tuple[int, int]:
        readings = 0
        for unit in units:
            result = adapter.decode(unit, context, directory)
            readings += len(getattr(result, "readings", ()))
        return len(units), readings

    for label, one_pass in [
        ("(a) framing+CRC+parse", codec_pass),
        ("(b) adapter decode", adapter_pass),
    ]:
        elapsed, best, done_frames, done_values = run_for(args.seconds, one_pass)
        rates = f"{done_frames / elapsed:,.0f} frames/s, {done_values / elapsed:,.0f} values/s"
        print(
            f"{label}: {rates} ({done_frames} frames in {elapsed:.2f} s; "
            f"best pass {len(frames) / best:,.0f} frames/s)"
        )


if __name__ == "__main__":
    main()
