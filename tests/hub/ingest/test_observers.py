"""Commit observers (``IngestPipeline.add_observer``): told what each device batch committed.

New observations are announced as creates, corrections as updates of the properties a
correction changes, replays not at all; the Datastreams (and ObservedProperties) created when a
logger first reports a factor are announced as creates after the commit that made them, once;
an observer that fails costs neither the commit nor the device's acknowledgement. Both stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from adapters.hj212.lihe import LiheHJ212Adapter
from hub.demo import PILOT_REGISTRY
from hub.ingest.contracts import EntityChange, Outcome
from hub.ingest.pipeline import CORRECTED_PROPERTIES, IngestPipeline
from hub.mapping import MappingSet
from hub.model.registry import load_registry
from hub.store import Store
from hub.store.schema import datastreams, observations, observed_properties
from tests.hub.ingest.test_pipeline import ingest, saryarka_frame


class Recorder:
    """A commit observer that keeps every announcement, and which thread made it."""

    def __init__(self) -> None:
        self.commits: list[list[EntityChange]] = []
        self.threads: set[str] = set()
        self.changed = threading.Condition()

    def committed(self, changes: Sequence[EntityChange]) -> None:
        with self.changed:
            self.commits.append(list(changes))
            self.threads.add(threading.current_thread().name)
            self.changed.notify_all()

    def wait(self, commits: int, entity_set: str | None = None) -> None:
        """Until ``commits`` announcements (of ``entity_set``, if given) arrived: the writer
        announces observations just after the acks."""
        with self.changed:
            assert self.changed.wait_for(
                lambda: len(self.of(entity_set) if entity_set else self.commits) >= commits, 5.0
            )

    def of(self, entity_set: str) -> list[list[EntityChange]]:
        """The announcements that named ``entity_set``, with only its changes."""
        found = [[c for c in commit if c.entity_set == entity_set] for commit in self.commits]
        return [commit for commit in found if commit]

    def flat(
        self, entity_set: str | None = None
    ) -> list[tuple[str, str, int, frozenset[str] | None]]:
        return [
            (change.entity_set, change.event, entity_id, change.changed)
            for commit in self.commits
            for change in commit
            if entity_set is None or change.entity_set == entity_set
            for entity_id in change.ids
        ]


class Failing:
    def committed(self, changes: Sequence[EntityChange]) -> None:
        raise RuntimeError("observer bug")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    opened.import_stations(load_registry(PILOT_REGISTRY))
    yield opened
    opened.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def pipeline(store: Store, recorder: Recorder) -> Iterator[IngestPipeline]:
    running = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    running.add_observer(Failing())  # first: a failing observer must not stop the next one
    running.add_observer(recorder)
    running.start()
    yield running
    running.stop()


def observation_ids(store: Store) -> list[int]:
    with store.connect() as conn:
        return [
            int(i)
            for i in conn.execute(select(observations.c.id).order_by(observations.c.id)).scalars()
        ]


def test_new_observations_are_announced_after_the_commit(
    pipeline: IngestPipeline, store: Store, recorder: Recorder
) -> None:
    frame = saryarka_frame(
        [{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}, {"a21005-Rtd": "1.2"}]
    )
    (result,) = ingest(pipeline, frame)
    assert result.outcome is Outcome.STORED and result.reply is not None  # acked despite Failing
    ids = observation_ids(store)
    assert len(ids) == 2
    recorder.wait(1, "Observations")
    assert sorted(recorder.flat("Observations")) == [
        ("Observations", "create", i, None) for i in ids
    ]
    assert recorder.threads == {"auasu-writer"}


def test_replays_are_not_announced_and_corrections_are_updates(
    pipeline: IngestPipeline, store: Store, recorder: Recorder
) -> None:
    frame = saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}])
    ingest(pipeline, frame)
    ingest(pipeline, frame)  # the same bytes again
    ingest(
        pipeline,
        saryarka_frame(
            [{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}], qn="20250115101000777"
        ),
    )  # same value
    (only,) = observation_ids(store)
    recorder.wait(1, "Observations")
    assert recorder.flat("Observations") == [("Observations", "create", only, None)]
    corrected = saryarka_frame(
        [{"DataTime": "20250115101000"}, {"a34004-Rtd": "45"}], qn="20250115111000001"
    )
    ingest(pipeline, corrected)
    recorder.wait(2, "Observations")  # the replays in between announced nothing
    assert recorder.flat("Observations")[1:] == [
        ("Observations", "update", only, CORRECTED_PROPERTIES)
    ]


def test_rejected_frames_announce_nothing(
    pipeline: IngestPipeline, store: Store, recorder: Recorder
) -> None:
    (result,) = ingest(
        pipeline, saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}], pw="x")
    )
    assert result.outcome is Outcome.REJECTED
    ingest(pipeline, saryarka_frame([{"DataTime": "20250115102000"}, {"a34004-Rtd": "42"}]))
    recorder.wait(1, "Observations")
    (only,) = observation_ids(store)
    assert recorder.flat("Observations") == [("Observations", "create", only, None)]


def test_announce_skips_empty_changes_and_survives_observers(store: Store) -> None:
    recorder = Recorder()
    pipeline = IngestPipeline(store, MappingSet.load(), {})
    pipeline.add_observer(Failing())
    pipeline.add_observer(recorder)
    pipeline.announce([EntityChange("Things", (), "create")])
    assert recorder.commits == []
    pipeline.announce([EntityChange("Things", (3,), "update", frozenset({"name"}))])
    assert recorder.flat() == [("Things", "update", 3, frozenset({"name"}))]


def entity_ids(store: Store, table: Any) -> dict[str, int]:
    """Ids of ``table``'s rows by their ``key`` (ObservedProperties) or ``factor`` column."""
    column = "key" if table is observed_properties else "factor"
    with store.connect() as conn:
        rows = conn.execute(select(table.c[column], table.c.id)).all()
    return {str(name): int(entity_id) for name, entity_id in rows}


def test_entities_created_on_first_use_are_announced_once_before_their_observations(
    pipeline: IngestPipeline, store: Store, recorder: Recorder
) -> None:
    ingest(pipeline, saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}]))
    recorder.wait(1, "Observations")
    streams = entity_ids(store, datastreams)
    properties = entity_ids(store, observed_properties)
    assert recorder.commits[0] == [
        EntityChange("ObservedProperties", (properties["pm2_5"],), "create"),
        EntityChange("Datastreams", (streams["a34004"],), "create"),
    ]  # its own commit, announced before the observations of the batch
    assert recorder.flat("Observations") == [
        ("Observations", "create", observation_ids(store)[0], None)
    ]
    assert recorder.threads == {"auasu-writer"}

    # Another reading of the same factor creates nothing; a factor the logger had not sent
    # before creates a Datastream (and its ObservedProperty, new to this hub).
    ingest(pipeline, saryarka_frame([{"DataTime": "20250115102000"}, {"a34004-Rtd": "42"}]))
    ingest(
        pipeline,
        saryarka_frame(
            [{"DataTime": "20250115103000"}, {"a34004-Rtd": "43"}, {"a21005-Rtd": "1.1"}],
            qn="20250115103000001",
        ),
    )
    recorder.wait(3, "Observations")
    streams = entity_ids(store, datastreams)
    properties = entity_ids(store, observed_properties)
    assert recorder.flat("Datastreams") == [
        ("Datastreams", "create", streams["a34004"], None),
        ("Datastreams", "create", streams["a21005"], None),
    ]
    assert recorder.flat("ObservedProperties") == [
        ("ObservedProperties", "create", properties["pm2_5"], None),
        ("ObservedProperties", "create", properties["co"], None),
    ]


def test_datastreams_found_after_a_restart_are_not_announced(
    store: Store, recorder: Recorder
) -> None:
    frame = saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}])
    first = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    first.start()
    ingest(first, frame)
    first.stop()
    # A new store object (a restarted hub): its datastream cache is empty, the rows exist.
    reopened = Store.open(store.engine.url.render_as_string(hide_password=False))
    try:
        again = IngestPipeline(reopened, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
        again.add_observer(recorder)
        again.start()
        later = saryarka_frame(
            [{"DataTime": "20250115102000"}, {"a34004-Rtd": "42"}], qn="20250115102000001"
        )
        ingest(again, later)
        recorder.wait(1, "Observations")
        again.stop()
    finally:
        reopened.close()
    assert {change.entity_set for commit in recorder.commits for change in commit} == {
        "Observations"
    }
