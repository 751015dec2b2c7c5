"""Write one ingest batch (raw frames, their issues, their observations) in one transaction.

Idempotence is the store's promise: the same raw bytes are one archive row however often they
arrive; the same datastream + phenomenon time is one observation. A different value for the same
key is a correction: the newer value wins and the older one is kept in ``parameters.corrections``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.store.feature_pairs import record_stream_features
from hub.store.schema import frame_issues, observations, raw_frames
from hub.store.sealing import BatchSealer, BatchToSeal, SealedRow


class ObservationRow(NamedTuple):
    """One observation ready for the store (values already in canonical units).

    A NamedTuple rather than a frozen dataclass: one is built per value on the ingest hot path,
    and a tuple is several times cheaper to create.
    """

    datastream_id: int
    feature_of_interest_id: int
    phenomenon_time_start: datetime
    phenomenon_time_end: datetime
    result_time: datetime | None
    result: float
    result_quality: str
    parameters: dict[str, Any]


Key = tuple[int, datetime, datetime]
"""An observation's identity: datastream id, phenomenon time start and end."""
# Ids per "id IN (...)" when reading inserted rows back: one expanding bound parameter each.
_ID_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class FrameIssue:
    """Why a frame, or some values in it, were refused."""

    code: str
    reason: str
    device_id: str | None = None
    station_key: str | None = None


@dataclass(slots=True)
class FrameRecord:
    """A raw input as received, with what decoding made of it."""

    sha256: str
    content: bytes
    adapter: str
    adapter_version: str
    channel: str
    peer: str
    station_key: str | None
    received_at: datetime
    outcome: str
    issues: list[FrameIssue] = field(default_factory=list)
    observations: list[ObservationRow] = field(default_factory=list)
    settles: tuple[str, ...] = ()  # earlier pending pieces whose content this frame completes


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a batch changed.

    ``created_ids`` and ``corrected_ids`` are the observations the batch inserted and the ones
    whose value it corrected (exact duplicates are in neither), for whoever announces commits
    (the MQTT notifier through :class:`hub.ingest.contracts.CommitObserver`).
    """

    frames_new: int
    observations_new: int
    observations_duplicate: int
    observations_corrected: int
    new_by_frame: dict[str, int]
    created_ids: tuple[int, ...] = ()
    corrected_ids: tuple[int, ...] = ()


def dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on the connection's backend."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def write_batch(
    conn: Connection, frames: Sequence[FrameRecord], sealer: BatchSealer | None = None
) -> BatchSummary:
    """Store ``frames`` and their observations; the caller owns the transaction.

    With a ``sealer`` the batch's signed provenance record is written in the same transaction
    (:mod:`hub.store.sealing`) whenever the batch stored or corrected an observation.
    """
    unique_frames: dict[str, FrameRecord] = {}
    receive_counts: dict[str, int] = defaultdict(int)
    for frame in frames:
        receive_counts[frame.sha256] += 1
        unique_frames[frame.sha256] = frame
    frame_ids, frames_new = _upsert_frames(conn, list(unique_frames.values()), receive_counts)
    _insert_issues(conn, unique_frames.values(), frame_ids)
    settled = [sha for frame in unique_frames.values() for sha in frame.settles]
    if settled:
        conn.execute(
            update(raw_frames)
            .where(raw_frames.c.sha256.in_(settled), raw_frames.c.outcome == "pending")
            .values(outcome="stored")
        )

    # The last copy of a key in the batch is the newest; earlier copies are superseded.
    rows: dict[Key, tuple[ObservationRow, int, str]] = {}
    for frame in frames:
        for row in frame.observations:
            key = (row.datastream_id, row.phenomenon_time_start, row.phenomenon_time_end)
            rows[key] = (row, frame_ids[frame.sha256], frame.sha256)
    if not rows:
        return BatchSummary(frames_new, 0, 0, 0, {})

    # The records' log entries are known before the rows are written, so each row carries its
    # place in the provenance log (entry, leaf) from its INSERT on: one record per adapter.
    groups = _by_adapter(rows, unique_frames) if sealer is not None else {}
    first = sealer.reserve(conn) if sealer is not None else 0
    places = {
        key: (first + group, leaf)
        for group, keys in enumerate(groups.values())
        for leaf, key in enumerate(keys)
    }
    inserted, created_ids = _insert_observations(conn, rows, places)
    # After the observations: their foreign-key checks lock the streams' rows against a
    # concurrent prune_stream_features (hub.store.api_writes) until this transaction ends.
    # Only inserted rows count: a duplicate or a correction keeps its stored feature.
    record_stream_features(
        conn, {(key[0], rows[key][0].feature_of_interest_id) for key in inserted}
    )
    conflicts = {key: value for key, value in rows.items() if key not in inserted}
    corrected_ids, duplicates, superseded = (
        _apply_corrections(conn, conflicts, places) if conflicts else ((), 0, {})
    )
    if sealer is not None and (inserted or corrected_ids):
        # Every group is sealed, even one of exact replays only, so the entries stay gap-free.
        for group, keys in enumerate(groups.values()):
            sealed = [SealedRow(rows[key][0], rows[key][2]) for key in keys]
            used = dict.fromkeys(row.frame_sha256 for row in sealed)
            replaced = tuple(sorted({superseded[key] for key in keys if key in superseded}))
            batch = BatchToSeal([unique_frames[sha] for sha in used], sealed, replaced)
            sealer.seal(conn, first + group, batch)
    new_by_frame: dict[str, int] = defaultdict(int)
    for key in inserted:
        new_by_frame[rows[key][2]] += 1
    return BatchSummary(
        frames_new,
        len(inserted),
        duplicates,
        len(corrected_ids),
        dict(new_by_frame),
        created_ids,
        corrected_ids,
    )


def _by_adapter(
    rows: dict[Key, tuple[ObservationRow, int, str]], frames: dict[str, FrameRecord]
) -> dict[str, list[Key]]:
    """The batch's observation keys by the adapter of their frame, in arrival order."""
    groups: dict[str, list[Key]] = {}
    for key, (_row, _frame_id, sha) in rows.items():
        groups.setdefault(frames[sha].adapter, []).append(key)
    return groups


def archive_frame(conn: Connection, frame: FrameRecord, observations_count: int) -> int:
    """Archive one raw input (idempotently, by content) and return its ``raw_frames`` id.

    For inputs whose observations are written separately (API requests,
    :mod:`hub.store.api_observations`): ``observations_count`` is what the frame carried.
    """
    ids, _new = _upsert_frames(conn, [frame], {frame.sha256: 1}, {frame.sha256: observations_count})
    return ids[frame.sha256]


def _upsert_frames(
    conn: Connection,
    frames: list[FrameRecord],
    receive_counts: dict[str, int],
    observation_counts: dict[str, int] | None = None,
) -> tuple[dict[str, int], int]:
    if not frames:
        return {}, 0
    counts = observation_counts or {}
    existing = set(
        conn.execute(
            select(raw_frames.c.sha256).where(raw_frames.c.sha256.in_([f.sha256 for f in frames]))
        ).scalars()
    )
    insert_frame = dialect_insert(conn, raw_frames)
    excluded = insert_frame.excluded
    stmt = insert_frame.on_conflict_do_update(
        index_elements=[raw_frames.c.sha256],
        set_={
            "last_received_at": excluded.last_received_at,
            "receive_count": raw_frames.c.receive_count + excluded.receive_count,
            # A replay may succeed where the first copy failed (device registered since).
            "outcome": excluded.outcome,
            "station_key": excluded.station_key,
            "observations": excluded.observations,
        },
    ).returning(raw_frames.c.id, raw_frames.c.sha256)
    params = [
        {
            "sha256": f.sha256,
            "content": f.content,
            "size": len(f.content),
            "adapter": f.adapter,
            "adapter_version": f.adapter_version,
            "channel": f.channel,
            "peer": f.peer[:300],
            "station_key": f.station_key,
            "received_at": f.received_at,
            "last_received_at": f.received_at,
            "receive_count": receive_counts[f.sha256],
            "outcome": f.outcome,
            "observations": counts.get(f.sha256, len(f.observations)),
        }
        for f in frames
    ]
    ids = {row.sha256: int(row.id) for row in conn.execute(stmt, params)}
    return ids, len(ids.keys() - existing)


def _insert_issues(conn: Connection, frames: Any, frame_ids: dict[str, int]) -> None:
    params = [
        {
            "frame_id": frame_ids[frame.sha256],
            "code": issue.code,
            "reason": issue.reason[:2000],
            "device_id": issue.device_id,
            "station_key": issue.station_key,
            "recorded_at": frame.received_at,
        }
        for frame in frames
        for issue in frame.issues
    ]
    if params:
        stmt = dialect_insert(conn, frame_issues).on_conflict_do_nothing(
            index_elements=["frame_id", "code", "reason"]
        )
        conn.execute(stmt, params)


# The observation insert is the hottest statement of the hub, so it goes to the driver's
# executemany directly: a constant statement with positional placeholders (every value bound,
# nothing interpolated), skipping SQLAlchemy's per-row parameter processing. On PostgreSQL each
# inserted row returns its id (a conflicting row returns nothing); SQLite's ids are read back
# from the id range the insert used (see _insert_observations).
_INSERT_OBSERVATION = {
    "sqlite": (
        "INSERT INTO observations (datastream_id, feature_of_interest_id, "
        "phenomenon_time_start, phenomenon_time_end, result_time, result, result_quality, "
        "parameters, frame_id, prov_entry, prov_leaf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (datastream_id, phenomenon_time_start, phenomenon_time_end) DO NOTHING"
    ),
    "postgresql": (
        "INSERT INTO observations (datastream_id, feature_of_interest_id, "
        "phenomenon_time_start, phenomenon_time_end, result_time, result, result_quality, "
        "parameters, frame_id, prov_entry, prov_leaf) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, CAST(%s AS jsonb), %s, %s, %s) "
        "ON CONFLICT (datastream_id, phenomenon_time_start, phenomenon_time_end) DO NOTHING "
        "RETURNING id"
    ),
}


def _sqlite_time(value: datetime | None) -> str | None:
    """The text form :class:`UTCDateTime` stores on SQLite (UTC, fixed width)."""
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    elif value.tzinfo is None:
        raise ValueError("naive datetime refused by the store: attach a time zone")
    return value.isoformat(" ", "microseconds")[:26]


def _pg_time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime refused by the store: attach a time zone")
    return value


def _insert_observations(
    conn: Connection,
    rows: dict[Key, tuple[ObservationRow, int, str]],
    places: dict[Key, tuple[int, int]] | None = None,
) -> tuple[set[Key], tuple[int, ...]]:
    """Insert new keys, skip existing ones; return the keys this call inserted and their ids.

    ``places``: each key's (log entry, leaf) in the provenance records of the batch (empty or
    None: no provenance, both columns NULL)."""
    backend = conn.dialect.name
    convert = _sqlite_time if backend == "sqlite" else _pg_time
    times: dict[datetime | None, Any] = {}

    def when(value: datetime | None) -> Any:
        # The readings of one frame share their times: convert each distinct time once.
        try:
            return times[value]
        except KeyError:
            converted = times[value] = convert(value)
            return converted

    dumps = json.dumps
    nowhere = (None, None)
    where = places or {}
    params = [
        (
            row.datastream_id,
            row.feature_of_interest_id,
            when(row.phenomenon_time_start),
            when(row.phenomenon_time_end),
            when(row.result_time),
            row.result,
            row.result_quality,
            dumps(row.parameters, separators=(",", ":")),
            frame_id,
            *where.get(key, nowhere),
        )
        for key, (row, frame_id, _sha) in rows.items()
    ]
    if backend == "postgresql":
        return _insert_returning(conn, params, rows.keys())
    before = _max_id(conn)
    result = conn.exec_driver_sql(_INSERT_OBSERVATION[backend], params)
    inserted = result.rowcount
    # The writer holds SQLite's write lock from BEGIN IMMEDIATE, and a rowid table without
    # AUTOINCREMENT gives each new row max(id) + 1: this insert's rows are exactly the ids
    # above the previous maximum, one index lookup to find.
    after = _max_id(conn) if inserted else before
    if inserted == len(params) and after - before == inserted:
        return set(rows), tuple(range(before + 1, after + 1))
    # Some keys existed already (replays, corrections): the rows that are new got ids above
    # the previous maximum and belong to this batch's frames.
    frame_ids = sorted({frame_id for _row, frame_id, _sha in rows.values()})
    found = conn.execute(
        select(
            observations.c.id,
            observations.c.datastream_id,
            observations.c.phenomenon_time_start,
            observations.c.phenomenon_time_end,
        ).where(observations.c.id > before, observations.c.frame_id.in_(frame_ids))
    )
    keys: set[Key] = set()
    ids: list[int] = []
    for row in found:
        key = (int(row[1]), row[2], row[3])
        if key in rows:
            keys.add(key)
            ids.append(int(row[0]))
    return keys, tuple(ids)


def _max_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(observations.c.id))).scalar() or 0)


def _insert_returning(
    conn: Connection, params: list[tuple[Any, ...]], wanted: Any
) -> tuple[set[Key], tuple[int, ...]]:
    """PostgreSQL: the batch through psycopg's pipelined executemany, collecting the id each
    inserted row returns (a conflicting row returns none), and which keys those rows have."""
    found: list[int] = []
    dbapi: Any = conn.connection.dbapi_connection
    with dbapi.cursor() as cursor:
        cursor.executemany(_INSERT_OBSERVATION["postgresql"], params, returning=True)
        while True:
            found.extend(int(row[0]) for row in cursor.fetchall())
            if not cursor.nextset():
                break
    ids = tuple(found)
    if len(ids) == len(params):
        return set(wanted), ids
    # Some keys existed (replays, corrections): the keys of the new rows are asked back, which
    # costs less than returning (and parsing) the times of every row in the usual case.
    keys: set[Key] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        rows = conn.execute(
            select(
                observations.c.datastream_id,
                observations.c.phenomenon_time_start,
                observations.c.phenomenon_time_end,
            ).where(observations.c.id.in_(ids[start : start + _ID_CHUNK]))
        )
        keys.update((int(row[0]), row[1], row[2]) for row in rows)
    return keys & set(wanted), ids


def _apply_corrections(
    conn: Connection,
    conflicts: dict[Key, tuple[ObservationRow, int, str]],
    places: dict[Key, tuple[int, int]],
) -> tuple[tuple[int, ...], int, dict[Key, int]]:
    """Update observations whose value changed; return (their ids, exact duplicates, and for
    each corrected key the log entry of the record that bound the value it replaced). A
    corrected row moves to its place in ``places`` (none: no provenance); an exact duplicate
    keeps its own."""
    by_stream: dict[int, list[datetime]] = defaultdict(list)
    for stream_id, start, _end in conflicts:
        by_stream[stream_id].append(start)
    existing: dict[Key, Any] = {}
    for stream_id, starts in by_stream.items():
        found = conn.execute(
            select(
                observations.c.id,
                observations.c.datastream_id,
                observations.c.phenomenon_time_start,
                observations.c.phenomenon_time_end,
                observations.c.result,
                observations.c.result_quality,
                observations.c.result_time,
                observations.c.parameters,
                observations.c.frame_id,
                observations.c.prov_entry,
            ).where(
                and_(
                    observations.c.datastream_id == stream_id,
                    observations.c.phenomenon_time_start >= min(starts),
                    observations.c.phenomenon_time_start <= max(starts),
                )
            )
        )
        for row in found:
            existing[
                (int(row.datastream_id), row.phenomenon_time_start, row.phenomenon_time_end)
            ] = row
    corrected: list[int] = []
    duplicates = 0
    updates = []
    superseded: dict[Key, int] = {}
    for key, (new, frame_id, _sha) in conflicts.items():
        old = existing.get(key)
        if old is None:  # deleted between insert and select: nothing sensible to correct
            continue
        if old.result == new.result and old.result_quality == new.result_quality:
            duplicates += 1
            continue
        history = list((old.parameters or {}).get("corrections", []))
        history.append(
            {
                "result": old.result,
                "resultQuality": old.result_quality,
                "resultTime": old.result_time.isoformat() if old.result_time else None,
                "frameId": int(old.frame_id),
                "rawValue": (old.parameters or {}).get("received", {}).get("value"),
            }
        )
        updates.append(
            {
                "obs_id": old.id,
                "new_result": new.result,
                "new_quality": new.result_quality,
                "new_result_time": new.result_time,
                "new_parameters": {**new.parameters, "corrections": history},
                "new_frame_id": frame_id,
                "new_prov_entry": places[key][0] if key in places else None,
                "new_prov_leaf": places[key][1] if key in places else None,
            }
        )
        corrected.append(int(old.id))
        if old.prov_entry is not None:
            superseded[key] = int(old.prov_entry)
    if updates:
        conn.execute(
            update(observations)
            .where(observations.c.id == bindparam("obs_id"))
            .values(
                result=bindparam("new_result"),
                result_quality=bindparam("new_quality"),
                # A value an API client stored here before is superseded by the device value.
                result_json=None,
                result_quality_json=None,
                result_time=bindparam("new_result_time"),
                parameters=bindparam("new_parameters", type_=observations.c.parameters.type),
                frame_id=bindparam("new_frame_id"),
                prov_entry=bindparam("new_prov_entry"),
                prov_leaf=bindparam("new_prov_leaf"),
            ),
            updates,
        )
    return tuple(corrected), duplicates, superseded


def reject_frames(conn: Connection, shas: Sequence[str], issue: FrameIssue, now: datetime) -> None:
    """Move archived frames (e.g. pieces of a split set that never completed) to quarantine."""
    if not shas:
        return
    ids = (
        conn.execute(select(raw_frames.c.id).where(raw_frames.c.sha256.in_(list(shas))))
        .scalars()
        .all()
    )
    conn.execute(update(raw_frames).where(raw_frames.c.id.in_(ids)).values(outcome="rejected"))
    if ids:
        stmt = dialect_insert(conn, frame_issues).on_conflict_do_nothing(
            index_elements=["frame_id", "code", "reason"]
        )
        conn.execute(
            stmt,
            [
                {
                    "frame_id": frame_id,
                    "code": issue.code,
                    "reason": issue.reason[:2000],
                    "device_id": issue.device_id,
                    "station_key": issue.station_key,
                    "recorded_at": now,
                }
                for frame_id in ids
            ],
        )


def pending_frames(conn: Connection, limit: int) -> list[tuple[str, bytes, datetime]]:
    """(adapter, content, received_at) of frames held back as pending, oldest first."""
    rows = conn.execute(
        select(raw_frames.c.adapter, raw_frames.c.content, raw_frames.c.received_at)
        .where(raw_frames.c.outcome == "pending")
        .order_by(raw_frames.c.id)
        .limit(limit)
    ).all()
    return [(row.adapter, bytes(row.content), row.received_at) for row in rows]
