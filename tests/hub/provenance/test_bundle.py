"""Per-observation bundles built from the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hub.provenance import merkle, notes, pki
from hub.provenance.bundle import (
    CheckpointNeeded,
    NotSealed,
    ObservationMissing,
    ProvBundle,
    harvested_core,
    note_body,
    observation_bundle,
)
from hub.provenance.canonical import binding_bytes, core_bytes
from hub.provenance.sealer import Sealer, envelope_bytes
from tests.hub.provenance.conftest import HUB, ProvHub, frame, identity, row


def _statement(bundle: ProvBundle) -> dict[str, object]:
    return json.loads(base64.b64decode(bundle.envelope.payload))  # type: ignore[no-any-return]


def test_every_observation_has_a_bundle_whose_proofs_verify(any_prov_hub: ProvHub) -> None:
    hub = any_prov_hub
    for observation_id in hub.ids():
        bundle = hub.bundle(observation_id)
        # The core hashes to the binding, and names this hub's entities.
        core = bundle.observation_core
        assert core is not None
        assert hashlib.sha256(core_bytes(core)).hexdigest() == bundle.binding.core.sha256
        assert core["obs_id"] == bundle.binding.obs_id
        assert core["datastream"].startswith(f"{HUB}/v1.1/Datastreams(")
        assert core["foi"].startswith(f"{HUB}/v1.1/FeaturesOfInterest(")
        assert "corrections" not in core.get("parameters", {})
        # Batch proof: binding -> the signed root.
        predicate = _statement(bundle)["predicate"]
        assert isinstance(predicate, dict)
        root = bytes.fromhex(predicate["observations"]["root"]["sha256"])
        binding = bundle.binding
        leaf = merkle.leaf_hash(binding_bytes(binding.obs_id, binding.core.sha256, binding.raw))
        hashes = [base64.b64decode(h) for h in bundle.batch_proof.hashes]
        assert bundle.batch_proof.size == predicate["observations"]["count"]
        merkle.verify_inclusion(
            leaf, bundle.batch_proof.leaf_index, bundle.batch_proof.size, hashes, root
        )
        # Log proof: envelope leaf -> the checkpoint's root, the checkpoint signed by the log key.
        body, signers = notes.open_note(
            bundle.log.checkpoint, {hub.keys.log_name: hub.keys.log_key.public_key()}
        )
        checkpoint = notes.Checkpoint.parse(body)
        assert signers == [hub.keys.log_name]
        assert (checkpoint.origin, checkpoint.size) == (bundle.log.origin, bundle.log.size)
        assert bundle.log.index == hub.prov_entry(observation_id)
        merkle.verify_inclusion(
            merkle.leaf_hash(envelope_bytes(bundle.envelope)),
            bundle.log.index,
            bundle.log.size,
            [base64.b64decode(h) for h in bundle.log.hashes],
            checkpoint.root_hash,
        )
        der = hub.keys.signing_cert.public_bytes(serialization.Encoding.DER)
        assert base64.b64decode(bundle.cert_chain[0]) == der


def test_the_bundle_round_trips_through_json(prov_hub: ProvHub) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    data = bundle.to_json()
    assert set(data) == {
        "envelope",
        "cert_chain",
        "batch_proof",
        "log",
        "binding",
        "observation_core",
    }
    assert set(data["log"]) == {"origin", "index", "size", "hashes", "checkpoint"}
    assert ProvBundle.model_validate_json(json.dumps(data)) == bundle


def test_the_newest_covering_checkpoint_is_reused_and_a_new_one_issued_when_needed(
    prov_hub: ProvHub,
) -> None:
    hub = prov_hub
    first_id = hub.ids()[0]
    with hub.store.connect() as conn, pytest.raises(CheckpointNeeded):
        observation_bundle(conn, first_id, keys=hub.keys, log=hub.log, issue=False)
    issued = hub.bundle(first_id)
    assert issued.log.size == 3
    with hub.store.connect() as conn:
        again = observation_bundle(conn, first_id, keys=hub.keys, log=hub.log, issue=False)
    assert again.log.checkpoint == issued.log.checkpoint
    # A new batch: the old checkpoint still covers old entries, but not the new one.
    hub.seal([frame(b"frame-e", [row(hub.pm25, 30, 9.0)], minute=31)])
    newest = hub.ids()[-1]
    with hub.store.connect() as conn:
        old = observation_bundle(conn, first_id, keys=hub.keys, log=hub.log, issue=False)
        assert old.log.size == 3
        with pytest.raises(CheckpointNeeded):
            observation_bundle(conn, newest, keys=hub.keys, log=hub.log, issue=False)
    assert hub.bundle(newest).log.size == 4


def test_unknown_and_unsealed_observations_are_refused(prov_hub: ProvHub) -> None:
    hub = prov_hub
    with pytest.raises(ObservationMissing, match="no observation 999"):
        hub.bundle(999)
    hub.seal([frame(b"unsealed", [row(hub.pm25, 50, 1.0)], minute=51)], sealer=False)
    unsealed = hub.ids()[-1]
    with pytest.raises(NotSealed, match="has no signed provenance record"):
        hub.bundle(unsealed)


def test_a_corrected_value_is_bound_by_the_correcting_record(prov_hub: ProvHub) -> None:
    hub = prov_hub
    first = hub.ids()[0]
    before = hub.bundle(first)
    hub.seal([frame(b"frame-a2", [row(hub.pm25, 0, 45.5)], minute=20)])
    after = hub.bundle(first)
    assert after.log.index == 3 and before.log.index == 0
    assert after.observation_core is not None and after.observation_core["result"] == 45.5
    # The replaced value's history is bookkeeping, not part of what was observed.
    assert "corrections" not in after.observation_core.get("parameters", {})
    predicate = _statement(after)["predicate"]
    assert isinstance(predicate, dict)
    old_digest = hashlib.sha256(envelope_bytes(before.envelope)).hexdigest()
    assert predicate["supersedes"] == [{"sha256": old_digest}]


def test_records_signed_before_a_rotation_carry_their_own_certificate(
    prov_hub: ProvHub, tmp_path: Path
) -> None:
    hub = prov_hub
    old_cert = hub.keys.signing_cert
    rotated = pki.rotate(hub.data_dir, "signing")
    hub.keys = rotated
    hub.sealer = Sealer(identity(rotated), hub.log, {})
    hub.seal([frame(b"after-rotation", [row(hub.pm25, 40, 3.0)], minute=41)])
    der = serialization.Encoding.DER
    old = hub.bundle(hub.ids()[0])
    new = hub.bundle(hub.ids()[-1])
    assert base64.b64decode(old.cert_chain[0]) == old_cert.public_bytes(der)
    assert base64.b64decode(new.cert_chain[0]) == rotated.signing_cert.public_bytes(der)


def test_note_body_is_the_text_before_the_signatures(prov_hub: ProvHub) -> None:
    note = prov_hub.bundle(prov_hub.ids()[0]).log.checkpoint
    body = note_body(note)
    assert notes.Checkpoint.parse(body).size == 3
    with pytest.raises(notes.NoteError):
        note_body("no signatures here\n")


def test_harvested_cores_equal_the_stored_core(prov_hub: ProvHub) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    core = bundle.observation_core
    assert core is not None
    sta = {
        "@iot.id": 1,
        "phenomenonTime": "2025-01-15T00:00:00+05:00",
        "resultTime": "2025-01-14T19:00:00.000Z",
        "result": 41,
        "resultQuality": "valid",
        "parameters": {
            "received": {"value": "41", "unit": "ug/m3"},
            "auasu:prov": {"record": "x", "log_index": 0, "batch_index": 0},
        },
    }
    assert harvested_core(sta, core) == core
    properties = {
        "phenomenon_time_start": "2025-01-14T19:00:00Z",
        "phenomenon_time_end": "2025-01-14T19:00:00Z",
        "value": 41.0,
        "result_time": "2025-01-14T19:00:00Z",
        "quality": "valid",
        "datastream": int(core["datastream"].rsplit("(", 1)[1].rstrip(")")),
    }
    feature = {"type": "Feature", "id": 1, "properties": properties}
    assert harvested_core(feature, core) == core
    with pytest.raises(ValueError, match="no UTC offset"):
        harvested_core({**sta, "phenomenonTime": "2025-01-14T19:00:00"}, core)
    with pytest.raises(ValueError, match="of Datastream 999"):
        harvested_core({**feature, "properties": {**properties, "datastream": 999}}, core)
    stream_id = properties["datastream"]
    expanded = {**sta, "Datastream": {"@iot.id": stream_id, "name": "PM2.5"}}
    assert harvested_core(expanded, core) == core
    with pytest.raises(ValueError, match="Datastream is 77"):
        harvested_core({**sta, "Datastream": {"@iot.id": 77}}, core)
    with pytest.raises(ValueError, match="neither"):
        harvested_core({"result": 1}, core)
