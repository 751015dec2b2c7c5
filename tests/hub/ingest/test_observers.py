"""Commit observers (``IngestPipeline.add_observer``): told what each device batch committed.

New observations are announced as creates, corrections as updates of the properties a
correction changes, replays not at all; an observer that fails costs neither the commit nor
the device's acknowledgement. Both stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select

from adapters.hj212.lihe import LiheHJ212Adapter
from hub.demo import PILOT_REGISTRY
from hub.ingest.contracts import EntityChange, Outcome
from hub.ingest.pipeline import CORRECTED_PROPERTIES, IngestPipeline
from hub.mapping import MappingSet
from hub.model.registry import load_registry
from hub.store import Store
from hub.store.schema import observations
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

    def wait(self, commits: int) -> None:
        """Until ``commits`` announcements arrived: the writer announces just after the acks."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.commits) >= commits, 5.0)

    def flat(self) -> list[tuple[str, str, int, frozenset[str] | None]]:
        return [
            (change.entity_set, change.event, entity_id, change.changed)
            for commit in self.commits
            for change in commit
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
    recorder.wait(1)
    assert sorted(recorder.flat()) == [("Observations", "create", i, None) for i in ids]
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
    assert recorder.flat() == [("Observations", "create", only, None)]
    corrected = saryarka_frame(
        [{"DataTime": "20250115101000"}, {"a34004-Rtd": "45"}], qn="20250115111000001"
    )
    ingest(pipeline, corrected)
    recorder.wait(2)  # the replays in between announced nothing
    assert recorder.flat()[1:] == [("Observations", "update", only, CORRECTED_PROPERTIES)]


def test_rejected_frames_announce_nothing(
    pipeline: IngestPipeline, store: Store, recorder: Recorder
) -> None:
    (result,) = ingest(
        pipeline, saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}], pw="x")
    )
    assert result.outcome is Outcome.REJECTED
    ingest(pipeline, saryarka_frame([{"DataTime": "20250115102000"}, {"a34004-Rtd": "42"}]))
    recorder.wait(1)
    (only,) = observation_ids(store)
    assert recorder.flat() == [("Observations", "create", only, None)]


def test_announce_skips_empty_changes_and_survives_observers(store: Store) -> None:
    recorder = Recorder()
    pipeline = IngestPipeline(store, MappingSet.load(), {})
    pipeline.add_observer(Failing())
    pipeline.add_observer(recorder)
    pipeline.announce([EntityChange("Things", (), "create")])
    assert recorder.commits == []
    pipeline.announce([EntityChange("Things", (3,), "update", frozenset({"name"}))])
    assert recorder.flat() == [("Things", "update", 3, frozenset({"name"}))]
