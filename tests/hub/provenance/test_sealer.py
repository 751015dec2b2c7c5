"""Device ingest seals every batch: one signed record per batch in the log, in the batch's
transaction, each observation pointing at its leaf (both stores, the real Lihe adapter)."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.hj212.lihe import LiheHJ212Adapter
from hub.config import HubConfig
from hub.demo import PILOT_REGISTRY
from hub.ingest.pipeline import IngestPipeline
from hub.mapping import MappingSet
from hub.model.registry import load_registry
from hub.provenance import dsse, merkle
from hub.provenance.canonical import binding_bytes, canonical_json, core_bytes
from hub.provenance.records import Envelope, parse_payload
from hub.provenance.sealer import UNSIGNED_PARAMETERS, envelope_bytes
from hub.provenance.service import Provenance, open_provenance
from hub.store import Store
from hub.store.schema import observations, prov_log_entries, prov_records
from tests.hub.ingest.test_pipeline import context, saryarka_frame


@pytest.fixture
def hub(store_url: str, tmp_path: Path) -> Iterator[tuple[Store, IngestPipeline, Provenance]]:
    store = Store.open(store_url)
    store.import_stations(load_registry(PILOT_REGISTRY))
    adapter = LiheHJ212Adapter()
    config = HubConfig(data_dir=tmp_path, provenance={"hub_id": "https://hub.example.kz"})
    provenance = open_provenance(config, store, {adapter.name: adapter})
    assert provenance is not None
    pipeline = IngestPipeline(
        store, MappingSet.load(), {adapter.name: adapter}, sealer=provenance.sealer
    )
    pipeline.start()
    yield store, pipeline, provenance
    pipeline.stop()
    store.close()


def frame(minute: int, pm: str, *, qn: str | None = None) -> bytes:
    return saryarka_frame(
        [
            {"DataTime": f"202501151{minute:03d}00"[:14]},
            {"a34004-Rtd": pm, "a34004-Flag": "N"},
            {"a21005-Rtd": "1.2", "a21005-Flag": "N"},
        ],
        qn=qn or f"2025011510{minute:02d}00001",
    )


def ingest(pipeline: IngestPipeline, *raws: bytes) -> list[Any]:
    return pipeline.ingest_many("lihe-hj212", [(raw, context(), None) for raw in raws])


def records(store: Store) -> list[Any]:
    with store.connect() as conn:
        return list(conn.execute(select(prov_records).order_by(prov_records.c.entry)))


def test_a_batch_gets_one_signed_record_binding_its_observations(hub: Any) -> None:
    store, pipeline, provenance = hub
    ingest(pipeline, frame(10, "41"), frame(20, "42"))
    (record,) = records(store)
    assert record.entry == 0 and record.observations == 4 and record.adapter == "lihe-hj212"
    with store.connect() as conn:
        leaf = conn.execute(select(prov_log_entries.c.leaf)).scalar_one()
        rows = conn.execute(
            select(observations.c.prov_entry, observations.c.prov_leaf).order_by(
                observations.c.prov_leaf
            )
        ).all()
    assert [tuple(r) for r in rows] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    envelope = json.loads(leaf)
    payload = base64.b64decode(envelope["payload"])
    model = Envelope.model_validate(envelope)
    assert envelope_bytes(model) == bytes(leaf)
    assert dsse.verify(model, provenance.keys.signing_key.public_key()) == payload
    statement = parse_payload(payload)
    predicate = statement.predicate
    assert predicate.observations.count == 4
    assert predicate.observations.root.sha256 == bytes(record.root).hex()
    assert statement.subject[0].digest["sha256"] == bytes(record.root).hex()
    assert predicate.adapter.name == "lihe-hj212" and predicate.adapter.version
    assert len(predicate.raw_messages) == 2
    assert {m.media_type for m in predicate.raw_messages} == {"application/x-hj212"}
    assert predicate.devices[0].auth == "password" and predicate.devices[0].assurance == "L1"
    assert predicate.hub.id == "https://hub.example.kz"
    # The stored bindings rebuild the signed root.
    lines = zlib.decompress(bytes(record.bindings)).split(b"\n")
    assert merkle.root([merkle.leaf_hash(line) for line in lines]) == bytes(record.root)


def test_binding_cores_hash_what_the_store_holds(hub: Any) -> None:
    store, pipeline, _provenance = hub
    ingest(pipeline, frame(10, "41"))
    (record,) = records(store)
    bindings = [json.loads(line) for line in zlib.decompress(bytes(record.bindings)).split(b"\n")]
    with store.connect() as conn:
        stored = conn.execute(select(observations).order_by(observations.c.prov_leaf)).all()
    for binding, row in zip(bindings, stored, strict=True):
        assert binding["obs_id"].startswith(
            f"https://hub.example.kz/v1.1/Datastreams({row.datastream_id})#2025-01-15T05:10:00Z"
        )
        assert binding["raw"] == 0
        assert row.prov_leaf == bindings.index(binding)
        assert not UNSIGNED_PARAMETERS & set(row.parameters)


def test_replays_add_no_record_and_corrections_supersede(hub: Any) -> None:
    store, pipeline, _provenance = hub
    ingest(pipeline, frame(10, "41"))
    ingest(pipeline, frame(10, "41"))  # the same bytes again: nothing new, no record
    assert len(records(store)) == 1
    ingest(pipeline, frame(10, "45", qn="20250115101000002"))  # a new value for the same time
    _first, second = records(store)
    assert second.entry == 1 and json.loads(json.dumps(second.supersedes)) == [0]
    with store.connect() as conn:
        first_leaf = conn.execute(
            select(prov_log_entries.c.leaf).where(prov_log_entries.c.idx == 0)
        ).scalar_one()
        envelope = json.loads(
            conn.execute(
                select(prov_log_entries.c.leaf).where(prov_log_entries.c.idx == 1)
            ).scalar_one()
        )
        moved = conn.execute(
            select(observations.c.result, observations.c.prov_entry).where(
                observations.c.result == 45.0
            )
        ).one()
    statement = parse_payload(base64.b64decode(envelope["payload"]))
    assert [d.sha256 for d in statement.predicate.supersedes] == [
        hashlib.sha256(bytes(first_leaf)).hexdigest()
    ]
    assert moved.prov_entry == 1


def test_the_log_root_covers_every_record(hub: Any) -> None:
    store, pipeline, provenance = hub
    for minute in range(3):
        ingest(pipeline, frame(minute, str(40 + minute)))
    note = provenance.issue_checkpoint()
    assert "\n3\n" in note
    with store.connect() as conn:
        leaves = conn.execute(select(prov_log_entries.c.leaf).order_by(prov_log_entries.c.idx))
        hashes = [merkle.leaf_hash(bytes(leaf)) for (leaf,) in leaves]
        assert provenance.log.root(conn) == merkle.root(hashes)


def test_core_bytes_of_a_sealed_core_are_canonical() -> None:
    core = {"obs_id": "x#2025-01-15T05:10:00Z", "result": 41.0, "parameters": {"flag": "N"}}
    assert core_bytes(core) == canonical_json(core)
    assert binding_bytes("x", "00" * 32, 0) == canonical_json(
        {"core": {"sha256": "00" * 32}, "obs_id": "x", "raw": 0}
    )
