"""Synthetic observation rows for :mod:`hub.store.bulk`: a plausible signal per air factor, and
chunks of rows as PostgreSQL COPY text or as SQLite executemany tuples.

Values follow a daily cycle with a per-station level and phase plus noise, rounded the way the
analysers report them, so that result filters and statistics over the bench data behave like they
would over real data (not a constant column the planner could shortcut).
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

BULK_ADAPTER = "bench-bulk"
"""The ``raw_frames.adapter`` of the synthetic frames a bulk load writes."""

# The twenty air factors of a Chinese ambient station (HJ 212 code, observed-property key) with a
# plausible level, diurnal swing, noise, bounds and decimals in the property's canonical unit.
AIR_FACTORS: tuple[tuple[str, str, float, float, float, float, float, int], ...] = (
    ("a34004", "pm2_5", 28.0, 14.0, 6.0, 0.0, 900.0, 1),
    ("a34002", "pm10", 55.0, 25.0, 10.0, 0.0, 1500.0, 1),
    ("a34005", "pm1", 18.0, 9.0, 4.0, 0.0, 600.0, 1),
    ("a34001", "tsp", 120.0, 50.0, 20.0, 0.0, 3000.0, 1),
    ("a21026", "so2", 12.0, 6.0, 3.0, 0.0, 800.0, 1),
    ("a21004", "no2", 35.0, 18.0, 7.0, 0.0, 800.0, 1),
    ("a21003", "no", 15.0, 10.0, 4.0, 0.0, 800.0, 1),
    ("a21002", "nox", 55.0, 25.0, 9.0, 0.0, 1500.0, 1),
    ("a21005", "co", 0.8, 0.4, 0.15, 0.0, 60.0, 3),
    ("a05024", "o3", 60.0, 35.0, 8.0, 0.0, 800.0, 1),
    ("a21028", "h2s", 3.0, 1.5, 0.8, 0.0, 200.0, 2),
    ("a21001", "nh3", 20.0, 8.0, 4.0, 0.0, 500.0, 1),
    ("a05001", "co2", 780.0, 60.0, 20.0, 0.0, 5000.0, 1),
    ("a24088", "nmhc", 0.3, 0.15, 0.05, 0.0, 20.0, 3),
    ("a25002", "benzene", 0.004, 0.002, 0.001, 0.0, 1.0, 4),
    ("a01001", "air_temperature", 2.0, 6.0, 1.0, -45.0, 45.0, 1),
    ("a01002", "relative_humidity", 65.0, 15.0, 4.0, 0.0, 100.0, 1),
    ("a01006", "air_pressure", 97.5, 0.3, 0.1, 90.0, 105.0, 2),
    ("a01007", "wind_speed", 4.0, 2.0, 1.0, 0.0, 40.0, 1),
    ("a01008", "wind_direction", 180.0, 90.0, 40.0, 0.0, 359.9, 1),
)
MAX_PROPERTIES = len(AIR_FACTORS)


@dataclass(frozen=True, slots=True)
class BulkStream:
    """One datastream to fill, with the shape of its synthetic signal."""

    datastream_id: int
    feature_of_interest_id: int
    station_key: str
    property_key: str
    unit: str
    level: float
    swing: float
    noise: float
    low: float
    high: float
    decimals: int
    phase: float


# --- rows -----------------------------------------------------------------------------------------


class RowGenerator:
    """The synthetic rows of one load, chunk by chunk (time-major: every stream at one time,
    then the next time), as COPY text or as executemany tuples."""

    def __init__(self, streams: Sequence[BulkStream], times: list[datetime], backend: str) -> None:
        self.streams = streams
        self.times = times
        if backend == "postgresql":
            self.stamps = [t.isoformat(" ") for t in times]
        else:  # the fixed-width text UTCDateTime stores on SQLite
            self.stamps = [t.isoformat(" ", "microseconds")[:26] for t in times]
        day = 86_400.0
        self.diurnal = [
            (
                math.sin(2 * math.pi * (t.timestamp() % day) / day),
                math.cos(2 * math.pi * (t.timestamp() % day) / day),
            )
            for t in times
        ]
        rng = random.Random(1107)
        self.noise = [rng.gauss(0.0, 1.0) for _ in range(4096)]
        self.run = uuid.uuid4().hex

    def frame(self, chunk: tuple[int, int], received_at: datetime) -> dict[str, Any]:
        """The synthetic raw frame that stands for one chunk of rows."""
        start, stop = chunk
        rows = (stop - start) * len(self.streams)
        content = (
            f"{BULK_ADAPTER} run {self.run}: {rows} synthetic observations of "
            f"{len(self.streams)} datastreams, {self.stamps[start]} .. {self.stamps[stop - 1]}"
        ).encode()
        return {
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
            "size": len(content),
            "adapter": BULK_ADAPTER,
            "adapter_version": "1",
            "channel": "bulk",
            "peer": "hub.store.bulk",
            "station_key": None,
            "received_at": received_at,
            "last_received_at": received_at,
            "receive_count": 1,
            "outcome": "stored",
            "observations": rows,
        }

    def values(self, chunk: tuple[int, int]) -> list[tuple[int, list[str]]]:
        """Per time index of ``chunk``: the result text of every stream, in stream order."""
        noise = self.noise
        out = []
        for i in range(*chunk):
            sin_t, cos_t = self.diurnal[i]
            texts = []
            for s, stream in enumerate(self.streams):
                wave = sin_t * math.cos(stream.phase) + cos_t * math.sin(stream.phase)
                value = (
                    stream.level + stream.swing * wave + stream.noise * noise[(i * 31 + s) & 4095]
                )
                value = min(max(value, stream.low), stream.high)
                texts.append(f"{value:.{stream.decimals}f}")
            out.append((i, texts))
        return out

    def copy_text(self, chunk: tuple[int, int], frame_id: int) -> bytes:
        """``chunk`` as COPY text (tab-separated; nothing in it needs escaping)."""
        heads = [f"{s.datastream_id}\t{s.feature_of_interest_id}\t" for s in self.streams]
        tails = [f'","unit":"{s.unit}"}},"flag":"N"}}\t{frame_id}\n' for s in self.streams]
        mid = '\tvalid\t{"received":{"value":"'
        parts = []
        for i, texts in self.values(chunk):
            stamp = self.stamps[i]
            when = f"{stamp}\t{stamp}\t{stamp}\t"
            for head, text, tail in zip(heads, texts, tails, strict=True):
                parts.append(head + when + text + mid + text + tail)
        return "".join(parts).encode()

    def tuples(self, chunk: tuple[int, int], frame_id: int) -> list[tuple[Any, ...]]:
        """``chunk`` as parameter tuples for :data:`_INSERT_OBSERVATIONS`."""
        units = [s.unit for s in self.streams]
        ids = [(s.datastream_id, s.feature_of_interest_id) for s in self.streams]
        rows: list[tuple[Any, ...]] = []
        for i, texts in self.values(chunk):
            stamp = self.stamps[i]
            for (ds, foi), unit, text in zip(ids, units, texts, strict=True):
                parameters = f'{{"received":{{"value":"{text}","unit":"{unit}"}},"flag":"N"}}'
                rows.append(
                    (ds, foi, stamp, stamp, stamp, float(text), "valid", parameters, frame_id)
                )
        return rows
