"""The ingest pipeline: raw bytes -> archive -> adapter -> readings -> mapping -> store.

Channels submit raw input from any thread or event loop; one writer thread decodes and commits
in groups (group commit: one fsync for many frames) and only then resolves each submission, so a
protocol acknowledgement is never sent for anything that is not durably stored.

Channels that resolve their input themselves (the SensorThings API) submit a
:class:`PreparedWrite` instead: the writer runs it in its own group-commit transaction beside
the device frames (:meth:`IngestPipeline.submit_prepared`).

After each commit the registered commit observers (:class:`CommitObserver`, e.g. the MQTT
notifier; :meth:`IngestPipeline.add_observer`) are told which observations it created or
corrected, and -- after the separate commit that creates what a device reports for the first
time -- which Datastreams and ObservedProperties it created; the SensorThings write path
announces its own commits to the same observers (:meth:`IngestPipeline.announce`).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from adapters.base import (
    Adapter,
    Aggregation,
    ChannelContext,
    Decoded,
    Reading,
    Rejection,
    RejectionCode,
)
from hub.ingest.contracts import (
    CommitObserver,
    EntityChange,
    IngestResult,
    Outcome,
    PreparedWrite,
    WriteFailed,
)
from hub.ingest.devices import StoreDeviceDirectory
from hub.mapping import MappingSet, ObservedPropertyDef, UnitError
from hub.metrics import HubMetrics
from hub.store import FrameIssue, FrameRecord, ObservationRow, Store, registry
from hub.store.sealing import BatchSealer

log = logging.getLogger(__name__)
T = TypeVar("T")
# What a device correction changes of an observation (batches._apply_corrections).
CORRECTED_PROPERTIES = frozenset({"result", "resultQuality", "resultTime", "parameters"})


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Group-commit and retry tuning."""

    max_batch_frames: int = 2000
    linger_s: float = 0.002
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    expire_every_s: float = 5.0
    pending_reload_limit: int = 10_000


@dataclass(slots=True)
class _Item:
    adapter: str
    raw: bytes
    context: ChannelContext
    junk_reason: str | None
    future: Future[IngestResult] | None
    sha256: str = ""
    record: FrameRecord | None = None
    result: IngestResult | None = None
    decoded: Decoded | None = None


@dataclass(slots=True)
class _Prepared:
    """A :class:`PreparedWrite` waiting for the writer, with the future of its outcome."""

    write: PreparedWrite[Any]
    future: Future[Any]


def tune_gc_for_ingest() -> None:
    """Make the cyclic garbage collector fit a process that allocates per value.

    Ingest creates and drops several small objects per observation, none of them cyclic. With
    the default thresholds the collector runs full passes over every long-lived object (caches,
    modules, the registry) thousands of times a second; measured here that was a third of the
    writer's time. Freezing what exists at start-up and collecting young objects less often
    keeps memory bounded while cutting that cost. Done once per process: frozen objects are
    never collected, so freezing again later (a second pipeline) could pin garbage.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


_gc_tuned = False


class IngestPipeline:
    """Durable, idempotent ingest with group commit. Implements :class:`IngestSink`."""

    def __init__(
        self,
        store: Store,
        mappings: MappingSet,
        adapters: Mapping[str, Adapter],
        *,
        settings: PipelineSettings | None = None,
        metrics: HubMetrics | None = None,
        sealer: BatchSealer | None = None,
    ) -> None:
        self.store = store
        self.mappings = mappings
        self.adapters = dict(adapters)
        self.settings = settings or PipelineSettings()
        self.metrics = metrics or HubMetrics()
        self.devices = StoreDeviceDirectory(store)
        # Signs each batch's provenance record in the batch's transaction (hub.provenance).
        self.sealer = sealer
        self._queue: queue.Queue[_Item | _Prepared] = queue.Queue()
        # What Store uses for its own writes: SQLite takes the write lock at BEGIN.
        self._writer = store.engine.execution_options(sqlite_immediate=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_expiry = time.monotonic()
        self._definitions: dict[str, ObservedPropertyDef] = {}
        self._observers: list[CommitObserver] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread, first re-feeding split pieces still pending from before
        a restart."""
        if self._thread is not None:
            return
        tune_gc_for_ingest()
        self._reload_pending()
        self._thread = threading.Thread(target=self._run, name="auasu-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued (within ``timeout_s``), then stop the writer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        while True:  # anything left could not be committed: tell its channel, send no ack
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Prepared):
                self._settle(item, WriteFailed("the hub is stopping"), "failed")
            else:
                self._resolve(item, IngestResult(Outcome.FAILED, None, reason="hub stopping"))

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # --- commit observers --------------------------------------------------------------------

    def add_observer(self, observer: CommitObserver) -> None:
        """Tell ``observer`` about every commit from now on (register before :meth:`start` to
        miss none)."""
        self._observers.append(observer)

    def announce(self, changes: Sequence[EntityChange]) -> None:
        """Tell the observers what one commit created or updated; call only after it committed.

        The writer calls this for device batches; the SensorThings write path for its own
        transactions (which commit here or on the request's thread). Never raises.
        """
        changes = [change for change in changes if change.ids]
        if not changes:
            return
        for observer in self._observers:
            try:
                observer.committed(changes)
            except Exception:  # an observer must never cost a commit or an ack
                log.exception("commit observer %r failed", observer)

    # --- submission --------------------------------------------------------------------------

    def submit_nowait(
        self, adapter: str, raw: bytes, context: ChannelContext, junk_reason: str | None = None
    ) -> Future[IngestResult]:
        """Queue raw input; the future resolves after the commit that includes it."""
        future: Future[IngestResult] = Future()
        if self._stop.is_set():
            future.set_result(IngestResult(Outcome.FAILED, None, reason="hub stopping"))
            return future
        self._queue.put(_Item(adapter, raw, context, junk_reason, future))
        self.metrics.queue_depth.set(self._queue.qsize())
        return future

    async def submit(
        self, adapter: str, raw: bytes, context: ChannelContext, junk_reason: str | None = None
    ) -> IngestResult:
        return await asyncio.wrap_future(self.submit_nowait(adapter, raw, context, junk_reason))

    def submit_prepared[R](self, write: PreparedWrite[R]) -> Future[R]:
        """Queue a resolved write; the future holds what ``write.apply`` returned, after the
        commit, or its exception (:class:`WriteFailed` when nothing could be committed)."""
        future: Future[R] = Future()
        if self._stop.is_set():
            future.set_exception(WriteFailed("the hub is stopping"))
            return future
        self._queue.put(_Prepared(write, future))
        self.metrics.queue_depth.set(self._queue.qsize())
        return future

    def ingest_many(
        self, adapter: str, raws: Iterable[tuple[bytes, ChannelContext, str | None]]
    ) -> list[IngestResult]:
        """Synchronous batch ingest (files): submit all, wait for all."""
        futures = [self.submit_nowait(adapter, raw, ctx, junk) for raw, ctx, junk in raws]
        return [f.result() for f in futures]

    # --- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        # One writer thread: a second stage that decodes while the previous batch's commit
        # waits for its fsync was measured here and gained nothing (the GIL, and loggers that
        # send their next frame only after the ack).
        while True:
            batch = self._take_batch()
            # Prepared writes first: they are attempted once, so a store outage that keeps the
            # device frames retrying does not also keep API clients waiting.
            prepared = [item for item in batch if isinstance(item, _Prepared)]
            frames = [item for item in batch if isinstance(item, _Item)]
            if prepared:
                try:
                    self._commit_prepared(prepared)
                except Exception:  # the writer must outlive any bug
                    log.exception("prepared writes failed; %d get an error", len(prepared))
                    for item in prepared:
                        self._settle(item, WriteFailed("internal error"), "failed")
            if frames:
                try:
                    self._process(frames)
                except Exception:  # the writer must outlive any bug: fail the batch, go on
                    log.exception("ingest batch failed; %d inputs get no ack", len(frames))
                    self._fail(frames, "internal error")
            if not batch and self._stop.is_set():
                return
            if time.monotonic() - self._last_expiry >= self.settings.expire_every_s:
                try:
                    self._expire()
                except Exception:
                    log.exception("expiring held-back adapter state failed")

    def _fail(self, batch: list[_Item], reason: str) -> None:
        for item in batch:
            self._resolve(item, IngestResult(Outcome.FAILED, None, reason=reason))

    def _take_batch(self) -> list[_Item | _Prepared]:
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.linger_s
        while len(batch) < self.settings.max_batch_frames:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
        self.metrics.queue_depth.set(self._queue.qsize())
        return batch

    def _process(self, batch: list[_Item]) -> None:
        """Prepare and commit one batch, then resolve its submissions."""
        if self._prepare(batch):
            self._commit_and_resolve(batch)
        else:
            self._fail(batch, "store unavailable")

    def _commit_and_resolve(self, batch: list[_Item]) -> None:
        records = [item.record for item in batch if item.record is not None]
        summary = self._retrying(lambda: self.store.write_batch(records, self.sealer))
        if summary is None:
            self._fail(batch, "store unavailable")
            return
        self.metrics.batch_size.observe(len(batch))
        self.metrics.observations_stored.inc(summary.observations_new)
        self.metrics.observations_duplicate.inc(summary.observations_duplicate)
        self.metrics.observations_corrected.inc(summary.observations_corrected)
        for item in batch:
            assert item.result is not None
            result = item.result
            new = summary.new_by_frame.get(item.sha256, 0)
            if new:
                result = IngestResult(result.outcome, result.reply, new, result.reason)
            self._resolve(item, result)
        # After the acks: devices are answered first, subscribers a moment later.
        if self._observers:
            self.announce(
                [
                    EntityChange("Observations", summary.created_ids, "create"),
                    EntityChange(
                        "Observations", summary.corrected_ids, "update", CORRECTED_PROPERTIES
                    ),
                ]
            )

    def _prepare(self, batch: list[_Item]) -> bool:
        """Decode every item once, then map readings to observation rows; False if the
        database stayed unreachable until shutdown.

        Decoding happens exactly once per item, even across retries: an adapter's decode may
        change its own state (split-packet reassembly), so a second decode of the same frame
        would not give the same readings.
        """

        def attempt() -> bool:
            for item in batch:
                if item.result is None and item.decoded is None:
                    self._decode(item)
            self._ensure_datastreams(batch)
            for item in batch:
                if item.decoded is not None:
                    self._accept(item, item.decoded)
            return True

        return self._retrying(attempt) is not None

    def _retrying(self, step: Callable[[], T]) -> T | None:
        """Run ``step`` until it gets through to the database; None if stopped meanwhile.

        Devices get no ack while this waits, which is the back-pressure HJ 212 expects: they
        keep their data and resend.
        """
        delay = self.settings.retry_initial_s
        while True:
            try:
                return step()
            except (OperationalError, DBAPIError) as exc:
                self.metrics.store_retries.inc()
                log.warning(
                    "store unavailable, retrying in %.1f s: %s",
                    delay,
                    str(exc.orig or exc).splitlines()[0],
                )
                if self._stop.is_set() and delay >= self.settings.retry_max_s:
                    return None
                time.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)

    def _resolve(self, item: _Item, result: IngestResult) -> None:
        adapter = item.adapter
        self.metrics.frames.labels(adapter, result.outcome.value).inc()
        if result.outcome is not Outcome.FAILED:
            latency = (datetime.now(UTC) - item.context.received_at).total_seconds()
            self.metrics.ack_latency.observe(max(latency, 0.0))
        if item.future is not None and not item.future.done():
            item.future.set_result(result)

    # --- prepared writes ---------------------------------------------------------------------

    def _commit_prepared(self, items: list[_Prepared]) -> None:
        """Run every prepared write in one transaction, each in its own savepoint; resolve
        each future after the commit (or fail them all if the store gave way)."""
        # A client that stopped waiting withdrew its write (Future.cancel): skip it, so that
        # nothing is committed that its client was told failed.
        items = [item for item in items if item.future.set_running_or_notify_cancel()]
        if not items:
            return
        try:
            with self._writer.begin() as conn:
                outcomes = [self._apply_prepared(conn, item) for item in items]
        except (OperationalError, DBAPIError) as exc:
            self.metrics.store_retries.inc()
            log.warning("prepared writes not committed: %s", str(exc.orig).splitlines()[:1])
            for item in items:
                self._settle(item, WriteFailed("the store is unavailable; retry later"), "failed")
            return
        for item, (ok, value) in zip(items, outcomes, strict=True):
            self._settle(item, value, "stored" if ok else "rejected")

    @staticmethod
    def _apply_prepared(conn: Connection, item: _Prepared) -> tuple[bool, Any]:
        try:
            with conn.begin_nested():
                return True, item.write.apply(conn)
        except OperationalError:
            raise  # the connection, not this input: the whole transaction is lost
        except Exception as exc:  # refused input (or a bug): only this write is rolled back
            return False, exc

    def _settle(self, item: _Prepared, value: Any, outcome: str) -> None:
        self.metrics.frames.labels(item.write.adapter, outcome).inc()
        if outcome != "failed":
            latency = (datetime.now(UTC) - item.write.context.received_at).total_seconds()
            self.metrics.ack_latency.observe(max(latency, 0.0))
        if item.future.done():
            return
        if isinstance(value, BaseException):
            item.future.set_exception(value)
        else:
            item.future.set_result(value)

    # --- decoding and mapping ----------------------------------------------------------------

    def _decode(self, item: _Item) -> None:
        item.sha256 = hashlib.sha256(item.raw).hexdigest()
        item.decoded = None
        adapter = self.adapters.get(item.adapter)
        version = adapter.version if adapter else "unknown"
        record = FrameRecord(
            sha256=item.sha256,
            content=item.raw,
            adapter=item.adapter,
            adapter_version=version,
            channel=item.context.channel,
            peer=item.context.peer,
            station_key=None,
            received_at=item.context.received_at,
            outcome=Outcome.REJECTED.value,
        )
        item.record = record
        if item.junk_reason is not None:
            record.issues.append(FrameIssue(RejectionCode.FRAMING.value, item.junk_reason))
            item.result = IngestResult(Outcome.REJECTED, None, reason=item.junk_reason)
            return
        if adapter is None:
            reason = f"no adapter named {item.adapter!r}"
            record.issues.append(FrameIssue(RejectionCode.UNSUPPORTED.value, reason))
            item.result = IngestResult(Outcome.REJECTED, None, reason=reason)
            return
        try:
            decoded = adapter.decode(item.raw, item.context, self.devices)
        except Exception as exc:  # an adapter bug must not take the writer down
            log.exception("adapter %s failed on frame %s", item.adapter, item.sha256)
            reason = f"adapter error: {type(exc).__name__}: {exc}"[:500]
            record.issues.append(FrameIssue("adapter-error", reason))
            item.result = IngestResult(Outcome.REJECTED, None, reason=reason)
            return
        if isinstance(decoded, Rejection):
            self._reject(item, decoded)
            return
        item.decoded = decoded

    def _reject(self, item: _Item, rejection: Rejection) -> None:
        assert item.record is not None
        item.record.station_key = rejection.station
        item.record.issues.append(
            FrameIssue(
                rejection.code.value, rejection.reason, rejection.device_id, rejection.station
            )
        )
        item.result = IngestResult(Outcome.REJECTED, rejection.reply, reason=rejection.reason)

    def _accept(self, item: _Item, decoded: Decoded) -> None:
        record = item.record
        assert record is not None
        record.station_key = decoded.station
        record.settles = decoded.related_frames
        record.outcome = (Outcome.PENDING if decoded.pending else Outcome.STORED).value
        # Rebuilt from scratch: a retry after a database error maps the same item again.
        record.observations = []
        record.issues = [
            FrameIssue(RejectionCode.BAD_VALUE.value, reason, decoded.device_id, decoded.station)
            for reason in decoded.partial
        ]
        for reading in decoded.readings:
            row = self._observation(reading, record)
            if row is not None:
                record.observations.append(row)
        outcome = Outcome.PENDING if decoded.pending else Outcome.STORED
        item.result = IngestResult(outcome, decoded.ack, reason="; ".join(decoded.partial) or None)

    def _ensure_datastreams(self, batch: list[_Item]) -> None:
        """Make sure every datastream the batch's readings go to exists (and is cached)."""
        requests = []
        cached = self.store.cached_datastream
        for item in batch:
            if item.decoded is None:
                continue
            for reading in item.decoded.readings:
                try:
                    definition = self._definition(reading)
                except UnitError:
                    continue  # reported per reading in _observation
                # Nearly every reading goes to a cached datastream: only the others are
                # asked of the store, so a batch that creates nothing does nothing more.
                if cached(reading.station, definition.key, reading.aggregation) is None:
                    requests.append(
                        (reading.station, definition, reading.aggregation, reading.factor)
                    )
        if requests:
            self._ensure(requests)

    def _ensure(
        self, requests: Sequence[tuple[str, ObservedPropertyDef, Aggregation, str]]
    ) -> None:
        """Create the missing datastreams of ``requests`` in their own commit, then announce
        the Datastreams and ObservedProperties it created -- at once, not with the batch's
        observations: this commit stands even if the batch's fails."""
        with registry.recording() as created:
            self.store.ensure_datastreams(requests)
        if created and self._observers:
            self.announce([EntityChange(*change) for change in created.grouped()])

    def _observation(self, reading: Reading, record: FrameRecord) -> ObservationRow | None:
        try:
            definition = self._definition(reading)
            value, _unit = self.mappings.canonical(definition.key, reading.value, reading.unit)
        except UnitError as exc:
            record.issues.append(
                FrameIssue("unit", f"{reading.factor}: {exc}", None, reading.station)
            )
            return None
        ids = self.store.cached_datastream(reading.station, definition.key, reading.aggregation)
        if ids is None:
            # The cache was emptied since _ensure_datastreams (a registry import): refill.
            self._ensure([(reading.station, definition, reading.aggregation, reading.factor)])
            ids = self.store.cached_datastream(reading.station, definition.key, reading.aggregation)
        if ids is None:
            record.issues.append(
                FrameIssue(
                    "unknown-station",
                    f"station {reading.station!r} is not registered",
                    None,
                    reading.station,
                )
            )
            return None
        datastream_id, foi_id = ids
        start = reading.phenomenon_time.start
        end = reading.phenomenon_time.end or start
        # The raw frame, adapter and version are one join away (observations.frame_id), so
        # parameters carry only what is particular to this value.
        parameters: dict[str, Any] = {
            "received": {"value": reading.raw_value, "unit": reading.unit},
        }
        if reading.source_flag is not None:
            parameters["flag"] = reading.source_flag
        if reading.extra:
            parameters["vendor"] = dict(reading.extra)
        return ObservationRow(
            datastream_id=datastream_id,
            feature_of_interest_id=foi_id,
            phenomenon_time_start=start,
            phenomenon_time_end=end,
            result_time=reading.result_time,
            result=value,
            result_quality=str(reading.quality),
            parameters=parameters,
        )

    def _definition(self, reading: Reading) -> ObservedPropertyDef:
        key = reading.observed_property
        found = self._definitions.get(key)
        if found is None:
            # A factor the device is configured for but the tables do not define yet is kept
            # under a namespaced generic definition in the device's unit, rather than dropped.
            found = self.mappings.observed_property_or_generic(key, reading.unit)
            self._definitions[key] = found
        return found

    # --- held-back state ---------------------------------------------------------------------

    def _expire(self, now: datetime | None = None) -> None:
        """Quarantine held-back adapter state (split sets) that outlived its timeout."""
        self._last_expiry = time.monotonic()
        now = now or datetime.now(UTC)
        for adapter in self.adapters.values():
            for rejection in adapter.expire(now):
                self._flag_frames(rejection)

    def _flag_frames(self, rejection: Rejection) -> None:
        issue = FrameIssue(
            rejection.code.value, rejection.reason, rejection.device_id, rejection.station
        )
        try:
            self.store.reject_frames(rejection.related_frames, issue)
        except (OperationalError, DBAPIError):
            log.warning("could not record expired split set: %s", rejection.reason)

    def _reload_pending(self) -> None:
        """Feed split pieces archived as pending before a restart back to their adapters."""
        for adapter_name, raw, received_at in self.store.pending_frames(
            limit=self.settings.pending_reload_limit
        ):
            context = ChannelContext(channel="restart", peer="archive", received_at=received_at)
            self._queue.put(_Item(adapter_name, raw, context, None, None))
