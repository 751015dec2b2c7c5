"""Observations written through an API (SensorThings), archived with the request that carried them.

The promises of device ingest (:mod:`hub.store.batches`) hold here too: the raw request is one
content-addressed ``raw_frames`` row however often it arrives, and the same stream + phenomenon
time is one observation. Posting a different value for a key that exists is a correction: the
newer value wins and the older one is kept in ``parameters.corrections``. Unlike device rows an
API observation may belong to a MultiDatastream and carry any JSON result, a structured
resultQuality and a validTime, so it is its own row type and its own (small-volume) insert.

Everything runs in the caller's transaction: with the pipeline, inside the writer thread's
group commit; in read-only rigs, inside :func:`write_transaction`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, select, update

from hub.store.batches import FrameRecord, archive_frame, dialect_insert
from hub.store.feature_pairs import StreamFeature, insert_stream_features, stream_features_pruned
from hub.store.schema import datastreams, multi_datastreams, observations, stream_features

Key = tuple[str, int, datetime, datetime]  # ("ds" | "mds", stream id, start, end)


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """The raw input an API write arrived as, and where from (never credentials)."""

    content: bytes
    adapter: str
    adapter_version: str
    channel: str
    peer: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ApiObservation:
    """One observation ready for the store. Exactly one of the two stream ids is set; the
    result is in ``result`` (numbers), ``result_json`` (anything else, and integers) or both."""

    datastream_id: int | None
    multi_datastream_id: int | None
    feature_of_interest_id: int
    phenomenon_time_start: datetime
    phenomenon_time_end: datetime
    result_time: datetime | None
    result: float | None
    result_json: Any
    result_quality: str | None
    result_quality_json: Any
    valid_time_start: datetime | None
    valid_time_end: datetime | None
    parameters: dict[str, Any]

    @property
    def key(self) -> Key:
        """The observation's identity in the store (what the unique indexes say)."""
        start = self.phenomenon_time_start.astimezone(UTC)
        end = self.phenomenon_time_end.astimezone(UTC)
        if self.multi_datastream_id is not None:
            return ("mds", self.multi_datastream_id, start, end)
        assert self.datastream_id is not None
        return ("ds", self.datastream_id, start, end)

    def columns(self) -> dict[str, Any]:
        """The row's values by column name (``frame_id`` aside)."""
        return {
            "datastream_id": self.datastream_id,
            "multi_datastream_id": self.multi_datastream_id,
            "feature_of_interest_id": self.feature_of_interest_id,
            "phenomenon_time_start": self.phenomenon_time_start,
            "phenomenon_time_end": self.phenomenon_time_end,
            "result_time": self.result_time,
            "result": self.result,
            "result_json": self.result_json,
            "result_quality": self.result_quality,
            "result_quality_json": self.result_quality_json,
            "valid_time_start": self.valid_time_start,
            "valid_time_end": self.valid_time_end,
            "parameters": self.parameters,
        }


def archive_request(conn: Connection, request: ApiRequest, observation_count: int) -> int:
    """Archive ``request`` as a stored raw frame and return the frame's id."""
    frame = FrameRecord(
        sha256=hashlib.sha256(request.content).hexdigest(),
        content=request.content,
        adapter=request.adapter,
        adapter_version=request.adapter_version,
        channel=request.channel,
        peer=request.peer,
        station_key=None,
        received_at=request.received_at,
        outcome="stored",
    )
    return archive_frame(conn, frame, observation_count)


def write_observations(
    conn: Connection, request: ApiRequest, rows: Sequence[ApiObservation]
) -> list[int]:
    """Archive ``request`` and store ``rows`` attributed to it; return their ids in order.

    Rows with the same key collapse (the last wins, as in a device batch) and share an id.
    """
    if not rows:
        return []
    frame_id = archive_request(conn, request, len(rows))
    latest: dict[Key, ApiObservation] = {}
    for row in rows:
        latest[row.key] = row
    cols = observations.c
    stmt = (
        dialect_insert(conn, observations)
        .on_conflict_do_nothing()  # either unique index: the key exists, handled below
        .returning(
            cols.id,
            cols.datastream_id,
            cols.multi_datastream_id,
            cols.phenomenon_time_start,
            cols.phenomenon_time_end,
        )
    )
    params = [{**row.columns(), "frame_id": frame_id} for row in latest.values()]
    ids: dict[Key, int] = {}
    for found in conn.execute(stmt, params):
        ids[_key_of(found)] = int(found.id)
    for key, row in latest.items():
        if key not in ids:
            ids[key] = _correct(conn, row, frame_id)
    # Every row now holds its feature (new, or replaced by a correction).
    _record_pairs(conn, latest.values())
    return [ids[row.key] for row in rows]


def _record_pairs(conn: Connection, rows: Iterable[ApiObservation]) -> None:
    """The (stream, feature) pairs of ``rows`` into ``stream_features``."""
    plain: set[StreamFeature] = set()
    multi: set[StreamFeature] = set()
    for row in rows:
        if row.multi_datastream_id is not None:
            multi.add((row.multi_datastream_id, row.feature_of_interest_id))
        elif row.datastream_id is not None:
            plain.add((row.datastream_id, row.feature_of_interest_id))
    insert_stream_features(conn, plain)
    insert_stream_features(conn, multi, multi=True)


def _key_of(found: Any) -> Key:
    start = found.phenomenon_time_start.astimezone(UTC)
    end = found.phenomenon_time_end.astimezone(UTC)
    if found.multi_datastream_id is not None:
        return ("mds", int(found.multi_datastream_id), start, end)
    return ("ds", int(found.datastream_id), start, end)


def _correct(conn: Connection, row: ApiObservation, frame_id: int) -> int:
    """The key of ``row`` exists: keep the stored value if it is the same, else replace it
    and record the old one in ``parameters.corrections``; return the observation's id."""
    cols = observations.c
    stream = (
        cols.multi_datastream_id == row.multi_datastream_id
        if row.multi_datastream_id is not None
        else cols.datastream_id == row.datastream_id
    )
    old = conn.execute(
        select(
            cols.id,
            cols.feature_of_interest_id,
            cols.result,
            cols.result_json,
            cols.result_quality,
            cols.result_quality_json,
            cols.result_time,
            cols.parameters,
            cols.frame_id,
        ).where(
            and_(
                stream,
                cols.phenomenon_time_start == row.phenomenon_time_start,
                cols.phenomenon_time_end == row.phenomenon_time_end,
            )
        )
    ).one()
    same = (
        old.result == row.result
        and old.result_json == row.result_json
        and old.result_quality == row.result_quality
        and old.result_quality_json == row.result_quality_json
    )
    if same:
        return int(old.id)
    history = list((old.parameters or {}).get("corrections", []))
    history.append(
        {
            "result": old.result_json if old.result_json is not None else old.result,
            "resultQuality": (
                old.result_quality_json
                if old.result_quality_json is not None
                else old.result_quality
            ),
            "resultTime": old.result_time.isoformat() if old.result_time else None,
            "frameId": int(old.frame_id),
        }
    )
    values = row.columns()
    values["parameters"] = {**row.parameters, "corrections": history}
    values["frame_id"] = frame_id
    conn.execute(update(observations).where(cols.id == old.id).values(**values))
    if int(old.feature_of_interest_id) != row.feature_of_interest_id:
        # The stream may have no other observation of the feature this one had.
        prune_stream_features(
            conn,
            datastream_ids=[row.datastream_id] if row.datastream_id is not None else (),
            multi_datastream_ids=(
                [row.multi_datastream_id] if row.multi_datastream_id is not None else ()
            ),
            feature_ids=[int(old.feature_of_interest_id)],
        )
    return int(old.id)


# --- stream_features after observations changed ----------------------------------------------


def observation_streams(
    conn: Connection, observation_ids: Sequence[int]
) -> tuple[list[int], list[int], list[int]]:
    """The Datastreams, MultiDatastreams and features of ``observation_ids``: read them before
    deleting those observations or changing their stream or feature, and pass them to
    :func:`prune_stream_features` afterwards."""
    cols = observations.c
    streams: set[int] = set()
    multis: set[int] = set()
    features: set[int] = set()
    for chunk in _chunks(observation_ids):
        found = conn.execute(
            select(cols.datastream_id, cols.multi_datastream_id, cols.feature_of_interest_id)
            .where(cols.id.in_(chunk))
            .distinct()
        )
        for stream, multi, feature in found:
            if stream is not None:
                streams.add(int(stream))
            if multi is not None:
                multis.add(int(multi))
            features.add(int(feature))
    return sorted(streams), sorted(multis), sorted(features)


def record_observation_features(conn: Connection, observation_ids: Sequence[int]) -> None:
    """Add the (stream, feature) pairs of stored observations ``observation_ids`` to
    ``stream_features``: after changing an observation's stream or feature in place."""
    cols = observations.c
    plain: set[StreamFeature] = set()
    multi: set[StreamFeature] = set()
    for chunk in _chunks(observation_ids):
        found = conn.execute(
            select(cols.datastream_id, cols.multi_datastream_id, cols.feature_of_interest_id)
            .where(cols.id.in_(chunk))
            .distinct()
        )
        for stream, multi_stream, feature in found:
            if stream is not None:
                plain.add((int(stream), int(feature)))
            elif multi_stream is not None:
                multi.add((int(multi_stream), int(feature)))
    insert_stream_features(conn, plain)
    insert_stream_features(conn, multi, multi=True)


def prune_stream_features(
    conn: Connection,
    datastream_ids: Iterable[int] = (),
    multi_datastream_ids: Iterable[int] = (),
    feature_ids: Iterable[int] | None = None,
) -> int:
    """Remove the pairs of these streams from ``stream_features`` that no observation has any
    more (only those of ``feature_ids``, when given); return how many went.

    For the caller's transaction after it deleted observations, or moved them to another
    stream or feature. Each pair costs one EXISTS probe on the observations' indexes. On
    PostgreSQL the streams' rows are locked first (``FOR UPDATE``), which waits for writers
    that are inserting observations of them (their foreign-key checks hold the rows) and holds
    new ones back until commit: an observation is never left without its pair.
    """
    plain = sorted(set(datastream_ids))
    multi = sorted(set(multi_datastream_ids))
    features = None if feature_ids is None else sorted(set(feature_ids))
    if (not plain and not multi) or features == []:
        return 0
    removed = 0
    for table, column, ids in (
        (datastreams, "datastream_id", plain),
        (multi_datastreams, "multi_datastream_id", multi),
    ):
        for chunk in _chunks(ids):
            if conn.dialect.name == "postgresql":
                conn.execute(
                    select(table.c.id).where(table.c.id.in_(chunk)).order_by(table.c.id)
                    .with_for_update()
                ).all()  # fmt: skip
            removed += _prune(conn, column, chunk, features)
    if removed:
        stream_features_pruned(conn)
    return removed


def _prune(conn: Connection, column: str, ids: Sequence[int], features: list[int] | None) -> int:
    pairs = stream_features.c
    obs = observations.c
    conditions = [pairs[column].in_(ids)]
    if features is not None:
        conditions.append(pairs.feature_of_interest_id.in_(features))
    observed = exists().where(
        obs[column] == pairs[column],
        obs.feature_of_interest_id == pairs.feature_of_interest_id,
    )
    result = conn.execute(delete(stream_features).where(*conditions, ~observed))
    return int(result.rowcount or 0)


# Ids per "IN (...)": well below every backend's limit on bound parameters.
_CHUNK = 5000


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def write_transaction(engine: Engine) -> AbstractContextManager[Connection]:
    """A write transaction as :class:`hub.store.Store` opens its own: on SQLite the write lock
    is taken at BEGIN (IMMEDIATE), so two writers never both read and then fight over it."""
    return engine.execution_options(sqlite_immediate=True).begin()
