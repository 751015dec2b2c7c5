"""Read-side summaries the CLI and the health endpoints need (not the public APIs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select

from hub.store.schema import (
    datastreams,
    frame_issues,
    observations,
    raw_frames,
    stations,
    things,
)


@dataclass(frozen=True, slots=True)
class StationStats:
    """Per-station ingest totals."""

    station: str
    source: str
    kind: str
    observations: int
    first_time: datetime | None
    last_time: datetime | None
    rejected_frames: int


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One refusal: a whole frame in quarantine, or values dropped from a stored frame."""

    frame_id: int
    sha256: str
    received_at: datetime
    channel: str
    peer: str
    adapter: str
    outcome: str
    code: str
    reason: str
    device_id: str | None
    station_key: str | None
    size: int


def station_stats(conn: Connection) -> list[StationStats]:
    """Observations, first/last phenomenon time and rejected frames per station."""
    per_stream = (
        select(
            things.c.station_id,
            func.count(observations.c.id).label("n"),
            func.min(observations.c.phenomenon_time_start).label("first"),
            func.max(observations.c.phenomenon_time_end).label("last"),
        )
        .select_from(observations)
        .join(datastreams, datastreams.c.id == observations.c.datastream_id)
        .join(things, things.c.id == datastreams.c.thing_id)
        .group_by(things.c.station_id)
        .subquery()
    )
    rejected = (
        select(raw_frames.c.station_key, func.count().label("n"))
        .where(raw_frames.c.outcome == "rejected")
        .group_by(raw_frames.c.station_key)
        .subquery()
    )
    rows = conn.execute(
        select(
            stations.c.key,
            stations.c.source,
            stations.c.kind,
            func.coalesce(per_stream.c.n, 0),
            per_stream.c.first,
            per_stream.c.last,
            func.coalesce(rejected.c.n, 0),
        )
        .outerjoin(per_stream, per_stream.c.station_id == stations.c.id)
        .outerjoin(rejected, rejected.c.station_key == stations.c.key)
        .order_by(stations.c.key)
    ).all()
    type_ = observations.c.phenomenon_time_start.type
    dialect = conn.dialect
    convert = type_.result_processor(dialect, None)  # aggregates lose the column type
    out = []
    for key, source, kind, count, first, last, rejected_n in rows:
        if convert is not None:
            first, last = convert(first), convert(last)
        out.append(StationStats(key, source, kind, int(count), first, last, int(rejected_n)))
    return out


def unattributed_rejections(conn: Connection) -> int:
    """Rejected inputs that could not be tied to a station (unknown device, garbage)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(raw_frames)
            .where(raw_frames.c.outcome == "rejected", raw_frames.c.station_key.is_(None))
        ).scalar_one()
    )


def quarantine(
    conn: Connection, *, limit: int = 50, code: str | None = None, station: str | None = None
) -> list[QuarantineEntry]:
    """Newest refusals first."""
    stmt = (
        select(
            raw_frames.c.id.label("frame_id"),
            raw_frames.c.sha256,
            raw_frames.c.received_at,
            raw_frames.c.channel,
            raw_frames.c.peer,
            raw_frames.c.adapter,
            raw_frames.c.outcome,
            frame_issues.c.code,
            frame_issues.c.reason,
            frame_issues.c.device_id,
            frame_issues.c.station_key,
            raw_frames.c.size,
        )
        .join(frame_issues, frame_issues.c.frame_id == raw_frames.c.id)
        .order_by(frame_issues.c.id.desc())
        .limit(limit)
    )
    if code is not None:
        stmt = stmt.where(frame_issues.c.code == code)
    if station is not None:
        stmt = stmt.where(frame_issues.c.station_key == station)
    return [QuarantineEntry(**row._asdict()) for row in conn.execute(stmt).all()]


def frame_content(conn: Connection, sha256: str) -> bytes | None:
    """The archived bytes of a raw input, by content address."""
    content = conn.execute(
        select(raw_frames.c.content).where(raw_frames.c.sha256 == sha256)
    ).scalar()
    return bytes(content) if content is not None else None


def observation_total(conn: Connection) -> int:
    """All observations in the store."""
    return int(conn.execute(select(func.count()).select_from(observations)).scalar_one())


class Extent(NamedTuple):
    """The time a datastream covers: first start to last end, and result times likewise.

    A named tuple rather than a frozen dataclass: a page of the map query builds 4,000 of
    them, and a frozen dataclass's ``__init__`` costs several times a tuple's."""

    phenomenon_start: datetime | None
    phenomenon_end: datetime | None
    result_start: datetime | None
    result_end: datetime | None


def datastream_extent(conn: Connection, datastream_id: int) -> Extent:
    """Two index seeks on (datastream, phenomenon time): the first and the last observation.

    The end is the last-starting observation's end, exact for a datastream's
    non-overlapping periods (one aggregation, one period length) and for instants.
    """
    first = _edge_observation(conn, datastream_id, latest=False)
    last = _edge_observation(conn, datastream_id, latest=True)
    if first is None or last is None:
        return Extent(None, None, None, None)
    return Extent(first[0], last[1], first[2], last[2])


def _edge_observation(conn: Connection, datastream_id: int, *, latest: bool) -> Any:
    start = observations.c.phenomenon_time_start
    return conn.execute(
        select(start, observations.c.phenomenon_time_end, observations.c.result_time)
        .where(observations.c.datastream_id == datastream_id)
        .order_by(start.desc() if latest else start)
        .limit(1)
    ).first()
