"""The offline verifier: an untouched observation verifies in every form; each kind of
tampering fails the check that is about it; the CLI's exit codes; the throughput."""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, update

from adapters.base import ChannelContext
from adapters.hj212.lihe import LiheHJ212Adapter
from adapters.hj212.packet import build_data_segment, build_frame
from hub.demo import PILOT_REGISTRY
from hub.ingest.pipeline import IngestPipeline
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.model.registry import StationDirectory, load_registry
from hub.provenance import dsse, notes, pki, trust
from hub.provenance.bundle import ProvBundle, note_body
from hub.provenance.canonical import canonical_json, utc_text
from hub.provenance.cli_verify import register
from hub.provenance.records import PAYLOAD_TYPE
from hub.provenance.replay import replay_check
from hub.provenance.sealer import Sealer
from hub.provenance.verify import Verdict, verify_bundle
from hub.store.schema import (
    observations,
    prov_checkpoints,
    prov_log_entries,
    prov_log_head,
    prov_records,
)
from hub.web import create_app
from tests.hub.ogcapi.conftest import live_server
from tests.hub.provenance.conftest import (
    ProvHub,
    frame,
    identity,
    make_hub,
    prov_app,
    row,
)


def verify(hub: ProvHub, bundle: ProvBundle, **options: Any) -> Verdict:
    trusted = options.pop("trust_bundle", None) or hub.trust()
    kwargs: dict[str, Any] = {
        "observation": None,
        "raw": None,
        "state_dir": None,
        "pinned_root_sha256": hub.root_sha256(),
    }
    kwargs.update(options)
    return verify_bundle(bundle, trusted, **kwargs)


def by_name(verdict: Verdict) -> dict[str, Any]:
    return {check.name: check for check in verdict.checks}


def failed_check(verdict: Verdict) -> str:
    assert verdict.failed is not None
    return verdict.failed.split(":", 1)[0]


def raw_of(hub: ProvHub, bundle: ProvBundle) -> bytes:
    payload = json.loads(base64.b64decode(bundle.envelope.payload))
    digest = payload["predicate"]["raw_messages"][bundle.binding.raw]["digest"]["sha256"]
    content = hub.store.frame_content(digest)
    assert content is not None
    return content


def statement_of(bundle: ProvBundle) -> dict[str, Any]:
    return json.loads(base64.b64decode(bundle.envelope.payload))  # type: ignore[no-any-return]


def resigned(bundle: ProvBundle, payload: bytes, key: Ed25519PrivateKey) -> ProvBundle:
    return bundle.model_copy(update={"envelope": dsse.sign(payload, PAYLOAD_TYPE, key)})


def writer(hub: ProvHub) -> Any:
    return hub.store.engine.execution_options(sqlite_immediate=True).begin()


# --- untouched observations verify ------------------------------------------------------------


def test_an_untouched_observation_verifies_from_its_bundle_and_raw_bytes(
    prov_hub: ProvHub,
) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    verdict = verify(prov_hub, bundle, raw=raw_of(prov_hub, bundle))
    assert verdict.ok, verdict.failed
    assert verdict.failed is None
    assert [c.name for c in verdict.checks] == [
        "trust",
        "observation",
        "batch",
        "envelope",
        "log",
        "certificate",
        "signature",
        "raw",
    ]
    assert verdict.agency == "Kazhydromet"
    assert verdict.adapter == "lihe-hj212@0.1.0"
    assert verdict.assurance == "L1"
    assert verdict.devices == [
        "https://aq.example.kz/oapi/collections/stations/items/lihe-air-saryarka"
    ]
    activity = statement_of(bundle)["predicate"]["activity"]["ended_at"]
    assert verdict.t_log == activity
    assert "activity.ended_at" in by_name(verdict)["certificate"].detail


def test_the_harvested_sta_observation_and_features_item_verify(prov_hub: ProvHub) -> None:
    hub = prov_hub
    sta = prov_app(hub).test_client()
    features = create_app(hub.store, HubMetrics(), lambda: True).test_client()
    for observation_id in hub.ids():
        bundle = hub.bundle(observation_id)
        observation = sta.get(f"/v1.1/Observations({observation_id})").get_json()
        assert "auasu:prov" in observation["parameters"]
        verdict = verify(hub, bundle, observation=observation)
        assert verdict.ok, verdict.failed
        assert "harvested STA Observation" in by_name(verdict)["observation"].detail
        item = features.get(f"/oapi/collections/observations/items/{observation_id}?f=json")
        assert item.status_code == 200
        verdict = verify(hub, bundle, observation=item.get_json())
        assert verdict.ok, verdict.failed
        assert "harvested Features item" in by_name(verdict)["observation"].detail


# --- tampering ------------------------------------------------------------------------------


def test_an_altered_value_fails_the_observation_check(prov_hub: ProvHub) -> None:
    hub = prov_hub
    observation_id = hub.ids()[0]
    bundle = hub.bundle(observation_id)
    observation = (
        prov_app(hub).test_client().get(f"/v1.1/Observations({observation_id})").get_json()
    )
    observation["result"] = observation["result"] + 0.5
    verdict = verify(hub, bundle, observation=observation)
    assert not verdict.ok
    assert failed_check(verdict) == "observation"
    assert "result 41.5 (signed 41.0)" in by_name(verdict)["observation"].detail
    # Every other check still ran, and passed: only the value is wrong.
    assert all(c.ok for c in verdict.checks if c.name != "observation")
    # A different phenomenon time is a different observation altogether.
    observation["result"] -= 0.5
    observation["phenomenonTime"] = "2025-01-14T19:00:01Z"
    verdict = verify(hub, bundle, observation=observation)
    assert "the binding" in by_name(verdict)["observation"].detail


def test_a_tampered_bundle_core_or_binding_fails(prov_hub: ProvHub) -> None:
    hub = prov_hub
    bundle = hub.bundle(hub.ids()[0])
    assert bundle.observation_core is not None
    core = {**bundle.observation_core, "result": 1.0}
    verdict = verify(hub, bundle.model_copy(update={"observation_core": core}))
    assert failed_check(verdict) == "observation"
    # A binding forged to fit a forged core is not in the signed batch root.
    forged_binding = bundle.binding.model_copy(
        update={"core": bundle.binding.core.model_copy(update={"sha256": "0" * 64})}
    )
    verdict = verify(hub, bundle.model_copy(update={"binding": forged_binding}))
    assert by_name(verdict)["batch"].ok is False
    hashes = [base64.b64encode(bytes(32)).decode(), *bundle.batch_proof.hashes[1:]]
    proof = bundle.batch_proof.model_copy(update={"hashes": hashes})
    verdict = verify(hub, bundle.model_copy(update={"batch_proof": proof}))
    assert failed_check(verdict) == "batch"
    assert "does not lead to the expected root" in by_name(verdict)["batch"].detail


def test_altered_raw_bytes_fail_the_raw_check(prov_hub: ProvHub) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    raw = raw_of(prov_hub, bundle)
    verdict = verify(prov_hub, bundle, raw=raw.replace(b"secret", b"s3cret"))
    assert failed_check(verdict) == "raw"
    assert not by_name(verdict)["raw"].ok
    assert verify(prov_hub, bundle, raw=raw + b"\n").failed is not None


def test_a_record_removed_from_the_log_breaks_consistency_with_the_kept_checkpoint(
    prov_hub: ProvHub, tmp_path: Path
) -> None:
    hub = prov_hub
    state = tmp_path / "state"
    client = prov_app(hub).test_client()

    def fetch(path: str) -> bytes:
        return client.get(path).get_data()

    last = hub.ids()[-1]
    assert hub.prov_entry(last) == 2
    assert verify(hub, hub.bundle(last), state_dir=state, fetch=fetch).ok
    assert len(list(state.iterdir())) == 1
    # The hub drops its last record and rebuilds the log past it.
    with writer(hub) as conn:
        conn.execute(delete(observations).where(observations.c.prov_entry == 2))
        conn.execute(delete(prov_records).where(prov_records.c.entry == 2))
        conn.execute(delete(prov_log_entries).where(prov_log_entries.c.idx == 2))
        conn.execute(delete(prov_checkpoints))
        conn.execute(update(prov_log_head).values(size=2))
    hub.seal([frame(b"frame-x", [row(hub.no2, 2, 99.0)], minute=9)])
    hub.seal([frame(b"frame-y", [row(hub.no2, 3, 98.0)], minute=10)])
    bundle = hub.bundle(hub.ids()[0])
    assert bundle.log.size == 4
    # On its own the new checkpoint looks fine...
    assert verify(hub, bundle, fetch=fetch).ok
    # ...but it does not extend the checkpoint this verifier kept.
    verdict = verify(hub, bundle, state_dir=state, fetch=fetch)
    assert failed_check(verdict) == "consistency"
    assert "not consistent with the kept checkpoint (size 3)" in verdict.failed  # type: ignore[operator]
    kept = next(state.iterdir()).read_text(encoding="utf-8")
    assert notes.Checkpoint.parse(note_body(kept)).size == 3  # the evidence stays


def test_a_grown_log_extends_the_kept_checkpoint(prov_hub: ProvHub, tmp_path: Path) -> None:
    hub = prov_hub
    state = tmp_path / "state"
    client = prov_app(hub).test_client()
    first = hub.bundle(hub.ids()[0])
    assert verify(hub, first, state_dir=state).ok
    hub.seal([frame(b"frame-z", [row(hub.pm25, 60, 5.0)], minute=61)])
    grown = hub.bundle(hub.ids()[-1])  # the old checkpoint does not cover it: a new one
    assert grown.log.size == 4
    # No proof at hand: the check fails and says what it needs.
    verdict = verify(hub, grown, state_dir=state)
    assert failed_check(verdict) == "consistency"
    assert "no consistency proof from size 3 to 4" in by_name(verdict)["consistency"].detail
    # A proof carried in the bundle is enough...
    proof = client.get("/prov/log/proof/consistency?from=3&to=4").get_json()
    data = grown.to_json()
    data["log"]["consistency"] = {"from": 3, "hashes": proof["hashes"]}
    carried = ProvBundle.model_validate(data)
    assert carried.log.consistency is not None
    assert verify(hub, carried, state_dir=state).ok
    # ...and now the kept checkpoint is the newer one: the old bundle is a prefix of it.
    verdict = verify(hub, first, state_dir=state, fetch=lambda path: client.get(path).get_data())
    assert verdict.ok, verdict.failed
    assert "is a prefix of the kept 4" in by_name(verdict)["consistency"].detail


def test_a_record_signed_with_an_uncertified_key_fails_the_signature(prov_hub: ProvHub) -> None:
    hub = prov_hub
    rogue = Ed25519PrivateKey.generate()
    hub.sealer = Sealer(identity(hub.keys, rogue), hub.log, {"lihe-hj212": LiheHJ212Adapter()})
    hub.seal([frame(b"rogue", [row(hub.pm25, 70, 7.0)], minute=71)])
    verdict = verify(hub, hub.bundle(hub.ids()[-1]))
    assert failed_check(verdict) == "signature"
    assert by_name(verdict)["certificate"].ok and by_name(verdict)["log"].ok


def test_a_bundle_resigned_with_another_key_fails(prov_hub: ProvHub) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    payload = base64.b64decode(bundle.envelope.payload)
    verdict = verify(prov_hub, resigned(bundle, payload, Ed25519PrivateKey.generate()))
    checks = by_name(verdict)
    assert not checks["signature"].ok and not checks["log"].ok
    assert failed_check(verdict) == "log"


def test_another_hubs_bundle_does_not_verify_with_this_trust_bundle(
    prov_hub: ProvHub, tmp_path: Path
) -> None:
    other = make_hub(f"sqlite:///{tmp_path / 'other.sqlite3'}", tmp_path / "other")
    other.seal([frame(b"elsewhere", [row(other.pm25, 0, 1.0)])])
    verdict = verify(prov_hub, other.bundle(other.ids()[0]))
    checks = by_name(verdict)
    assert checks["trust"].ok and not checks["log"].ok
    assert "not signed by a log key of the trust bundle" in checks["log"].detail
    assert checks["certificate"].detail.startswith("not checked")
    other.store.close()


def test_a_revoked_signing_key_fails_for_records_logged_after_the_revocation(
    prov_hub: ProvHub,
) -> None:
    hub = prov_hub
    before = hub.bundle(hub.ids()[0])
    old_serial = hub.keys.signing_cert.serial_number
    old_key = hub.keys.signing_key
    time.sleep(1.1)  # X.509 revocation dates have whole seconds
    pki.rotate(hub.data_dir, "signing")
    pki.revoke(hub.data_dir, old_serial, reason="superseded")
    hub.reload_keys()
    # Signed and logged before the revocation: still valid.
    assert verify(hub, before).ok
    # The revoked key used afterwards (a stolen key, say): refused.
    hub.sealer = Sealer(identity(hub.keys, old_key), hub.log, {})
    hub.seal([frame(b"late", [row(hub.pm25, 80, 8.0)], minute=81)])
    verdict = verify(hub, hub.bundle(hub.ids()[-1]))
    assert failed_check(verdict) == "certificate"
    assert "was revoked at" in by_name(verdict)["certificate"].detail


def test_a_key_compromised_before_a_record_fails_that_record(prov_hub: ProvHub) -> None:
    hub = prov_hub
    bundle = hub.bundle(hub.ids()[0])
    serial = hub.keys.signing_cert.serial_number
    pki.rotate(hub.data_dir, "signing")
    compromised = datetime.now(UTC) - timedelta(hours=1)
    pki.revoke(hub.data_dir, serial, reason="keyCompromise", when=compromised)
    hub.reload_keys()
    verdict = verify(hub, bundle)
    assert failed_check(verdict) == "certificate"
    assert by_name(verdict)["signature"].ok


def test_a_non_canonical_payload_fails_the_envelope(prov_hub: ProvHub) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    spaced = json.dumps(statement_of(bundle)).encode()  # ", " and ": " separators
    assert b": " in spaced
    verdict = verify(prov_hub, resigned(bundle, spaced, prov_hub.keys.signing_key))
    assert failed_check(verdict) == "envelope"
    assert "not canonical" in by_name(verdict)["envelope"].detail
    assert by_name(verdict)["signature"].ok


def test_a_naive_time_in_a_tampered_payload_fails_the_envelope(prov_hub: ProvHub) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    statement = statement_of(bundle)
    statement["predicate"]["activity"]["started_at"] = "2025-01-14T19:05:00"
    payload = canonical_json(statement)
    verdict = verify(prov_hub, resigned(bundle, payload, prov_hub.keys.signing_key))
    assert failed_check(verdict) == "envelope"
    assert "timezone" in by_name(verdict)["envelope"].detail.lower()


def test_a_wrong_payload_type_and_a_raw_index_past_the_list_fail_the_envelope(
    prov_hub: ProvHub,
) -> None:
    bundle = prov_hub.bundle(prov_hub.ids()[0])
    payload = base64.b64decode(bundle.envelope.payload)
    other_type = dsse.sign(payload, "application/json", prov_hub.keys.signing_key)
    verdict = verify(prov_hub, bundle.model_copy(update={"envelope": other_type}))
    assert "payloadType" in by_name(verdict)["envelope"].detail
    binding = bundle.binding.model_copy(update={"raw": 9})
    verdict = verify(prov_hub, bundle.model_copy(update={"binding": binding}))
    assert "binding.raw 9" in by_name(verdict)["envelope"].detail


def test_a_tampered_or_unpinned_trust_bundle_fails_first(prov_hub: ProvHub) -> None:
    hub = prov_hub
    bundle = hub.bundle(hub.ids()[0])
    good = hub.trust()
    forged = good.model_copy(update={"body": good.body.model_copy(update={"agency": "Other"})})
    verdict = verify(hub, bundle, trust_bundle=forged)
    assert failed_check(verdict) == "trust"
    assert by_name(verdict)["log"].detail.startswith("not checked")
    verdict = verify(hub, bundle, pinned_root_sha256="ab" * 32)
    assert failed_check(verdict) == "trust" and "is not the pinned root" in verdict.failed  # type: ignore[operator]
    unpinned = verify(hub, bundle, pinned_root_sha256=None)
    assert unpinned.ok and "not pinned" in by_name(unpinned)["trust"].detail


def test_a_witness_cosignature_gives_the_log_time(prov_hub: ProvHub) -> None:
    hub = prov_hub
    first = hub.ids()[0]
    note = hub.bundle(first).log.checkpoint
    witnessed = int(time.time()) - 5
    line = notes.cosign(note_body(note), hub.keys.witness_name, hub.keys.witness_key, witnessed)
    with writer(hub) as conn:
        conn.execute(update(prov_checkpoints).values(note=notes.add_signature_lines(note, [line])))
    verdict = verify(hub, hub.bundle(first))
    assert verdict.ok, verdict.failed
    assert verdict.t_log == utc_text(datetime.fromtimestamp(witnessed, UTC))
    assert hub.keys.witness_name in by_name(verdict)["log"].detail
    assert "earliest witness cosignature" in by_name(verdict)["certificate"].detail
    # A cosignature by a known witness that does not verify is tampering.
    raw = bytearray(base64.b64decode(line.rsplit(" ", 1)[1]))
    raw[11] ^= 1  # the timestamp's last byte
    broken = line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode()
    with writer(hub) as conn:
        conn.execute(
            update(prov_checkpoints).values(note=notes.add_signature_lines(note, [broken]))
        )
    verdict = verify(hub, hub.bundle(first))
    assert failed_check(verdict) == "log"
    assert "does not verify" in by_name(verdict)["log"].detail


# --- replay ------------------------------------------------------------------------------------

SARYARKA_MN = "4C4948453030323230303031"


def saryarka_frame(cp: list[dict[str, str]], qn: str = "20250115101000001") -> bytes:
    """Minute data (CN 2051): Avg, Min and Max of one factor share their phenomenon time."""
    header = {"QN": qn, "ST": "22", "CN": "2051", "PW": "A7k2p9", "MN": SARYARKA_MN, "Flag": "5"}
    return build_frame(build_data_segment(header, cp))


@pytest.fixture
def ingested(tmp_path: Path) -> Iterator[ProvHub]:
    """A hub whose observations came through the real pipeline from real HJ 212 frames."""
    hub = make_hub(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "data")
    pipeline = IngestPipeline(
        hub.store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()}, sealer=hub.sealer
    )
    pipeline.start()
    received = datetime(2025, 1, 15, 5, 11, 3, 250000, tzinfo=UTC)  # 10:11 in Astana
    context = ChannelContext(channel="hj212-tcp", peer="10.0.0.7:4000", received_at=received)
    cp = [
        {"DataTime": "20250115101000"},
        {"a34004-Avg": "41", "a34004-Min": "38", "a34004-Max": "44", "a34004-Flag": "N"},
        {"a21005-Avg": "1.2", "a21005-Flag": "N"},
    ]
    results = pipeline.ingest_many("lihe-hj212", [(saryarka_frame(cp), context, None)])
    pipeline.stop()
    assert results[0].observations_new == 4
    yield hub
    hub.store.close()


def test_replay_reproduces_every_observation_of_a_real_frame(ingested: ProvHub) -> None:
    hub = ingested
    devices = StationDirectory(load_registry(PILOT_REGISTRY))
    for observation_id in hub.ids():
        bundle = hub.bundle(observation_id)
        raw = raw_of(hub, bundle)
        assert verify(hub, bundle, raw=raw).ok
        check = replay_check(bundle, raw, devices=devices)
        assert check.ok, check.detail
        assert "lihe-hj212@0.1.0 reproduces" in check.detail


def test_replay_fails_clearly_without_a_registry_or_on_another_value(ingested: ProvHub) -> None:
    hub = ingested
    bundle = hub.bundle(hub.ids()[0])
    raw = raw_of(hub, bundle)
    devices = StationDirectory(load_registry(PILOT_REGISTRY))
    check = replay_check(bundle, raw, devices=None)
    assert not check.ok and "--registry" in check.detail
    assert "--raw" in replay_check(bundle, None, devices=devices).detail
    assert bundle.observation_core is not None
    altered = {**bundle.observation_core, "result": 40.0}
    check = replay_check(
        bundle.model_copy(update={"observation_core": altered}), raw, devices=devices
    )
    assert not check.ok and "not the signed 40.0" in check.detail
    other = saryarka_frame([{"DataTime": "20250115100000"}, {"a34004-Avg": "41"}], qn="2")
    check = replay_check(bundle, other, devices=devices)
    assert not check.ok and "no reading" in check.detail
    empty = StationDirectory([])
    check = replay_check(bundle, raw, devices=empty)
    assert not check.ok and "rejects the raw message" in check.detail


# --- the command line --------------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="auasu")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify", *argv])
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(prov_hub: ProvHub, tmp_path: Path) -> dict[str, Path]:
    hub = prov_hub
    observation_id = hub.ids()[0]
    bundle = hub.bundle(observation_id)
    paths = {name: tmp_path / name for name in ("bundle.json", "trust.json", "obs.json", "raw.bin")}
    paths["bundle.json"].write_text(json.dumps(bundle.to_json()), encoding="utf-8")
    trust.save_bundle(hub.trust(), paths["trust.json"])
    observation = prov_app(hub).test_client().get(f"/v1.1/Observations({observation_id})")
    paths["obs.json"].write_bytes(observation.get_data())
    paths["raw.bin"].write_bytes(raw_of(hub, bundle))
    return paths


def test_cli_exit_0_prints_the_verdict(
    prov_hub: ProvHub, files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [str(files["bundle.json"]), "--trust", str(files["trust.json"])]
    argv += ["--observation", str(files["obs.json"]), "--raw", str(files["raw.bin"])]
    argv += ["--state", str(tmp_path / "state"), "--pin", prov_hub.root_sha256()]
    code, out, err = run_cli(argv, capsys)
    assert (code, err) == (0, "")
    verdict = Verdict.model_validate_json(out)
    assert verdict.ok and {c.name for c in verdict.checks} >= {"raw", "consistency"}


def test_cli_exit_1_names_the_failed_check_on_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    observation = json.loads(files["obs.json"].read_text(encoding="utf-8"))
    observation["result"] = 1000
    files["obs.json"].write_text(json.dumps(observation), encoding="utf-8")
    argv = [str(files["bundle.json"]), "--trust", str(files["trust.json"])]
    code, out, err = run_cli([*argv, "--observation", str(files["obs.json"])], capsys)
    assert code == 1
    assert err.startswith("verify: observation failed: ") and err.count("\n") == 1
    assert Verdict.model_validate_json(out).failed is not None
    code, _out, err = run_cli([*argv, "--replay"], capsys)
    assert code == 1 and err.startswith("verify: replay failed: the replay needs the raw")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trust", "{trust}"], "give a bundle file or --url"),
        (["{bundle}", "--url", "http://h/v1.1/Observations(1)", "--trust", "{trust}"], "one of"),
        (["{missing}", "--trust", "{trust}"], "cannot read"),
        (["{trust}", "--trust", "{trust}"], "is not a provenance bundle"),
        (["{bundle}", "--trust", "{bundle}"], "is not a trust bundle"),
        (["{bundle}", "--trust", "{trust}", "--registry", "{trust}"], "only used with --replay"),
        (["{bundle}", "--trust", "{trust}", "--observation", "{raw}"], "is not JSON"),
        (["--url", "http://h/v1.1/Things(1)", "--trust", "{trust}"], "not an STA Observation"),
        (["--url", "http://127.0.0.1:9/v1.1/Observations(1)", "--trust", "{trust}"], "fetch"),
    ],
)
def test_cli_exit_2_on_usage_and_io_errors(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    names = {
        "bundle": files["bundle.json"],
        "trust": files["trust.json"],
        "raw": files["raw.bin"],
        "missing": files["bundle.json"].with_name("missing.json"),
    }
    code, out, err = run_cli([a.format(**names) for a in argv], capsys)
    assert code == 2 and out == ""
    assert err.startswith("verify: ") and message in err and err.count("\n") == 1


def test_cli_url_fetches_the_bundle_and_observation_then_verifies(
    prov_hub: ProvHub, files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with live_server(prov_app(prov_hub)) as base:
        url = f"{base}/v1.1/Observations({prov_hub.ids()[3]})"
        argv = ["--url", url, "--trust", str(files["trust.json"])]
        code, out, err = run_cli([*argv, "--state", str(tmp_path / "s")], capsys)
        assert (code, err) == (0, "")
        checks = by_name(Verdict.model_validate_json(out))
        assert "harvested STA Observation" in checks["observation"].detail
        code, _out, err = run_cli(["--url", f"{base}/v1.1/Observations(999)", *argv[2:]], capsys)
        assert code == 2 and "answered 404" in err


def test_cli_replay_with_the_registry(
    ingested: ProvHub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle = ingested.bundle(ingested.ids()[0])
    (tmp_path / "b.json").write_text(json.dumps(bundle.to_json()), encoding="utf-8")
    (tmp_path / "raw.bin").write_bytes(raw_of(ingested, bundle))
    trust.save_bundle(ingested.trust(), tmp_path / "t.json")
    argv = [str(tmp_path / "b.json"), "--trust", str(tmp_path / "t.json")]
    argv += ["--raw", str(tmp_path / "raw.bin"), "--replay", "--registry", str(PILOT_REGISTRY)]
    code, out, err = run_cli(argv, capsys)
    assert (code, err) == (0, "")
    assert by_name(Verdict.model_validate_json(out))["replay"].ok


# --- throughput ----------------------------------------------------------------------------------


def test_throughput_of_one_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_hub(f"sqlite:///{tmp_path / 'big.sqlite3'}", tmp_path / "data")
    count = 2000
    hub.seal([frame(b"one big frame", [row(hub.pm25, m, 10.0 + m / 8) for m in range(count)])])
    with writer(hub) as conn:
        hub.log.checkpoint(
            conn,
            origin=hub.keys.origin,
            key=hub.keys.log_key,
            now=datetime.now(UTC),
            key_name=hub.keys.log_name,
        )
    bundles = [hub.bundle(observation_id) for observation_id in hub.ids()]
    assert len(bundles) == count
    trusted = hub.trust()
    started = time.perf_counter()
    verdicts = [
        verify_bundle(b, trusted, observation=None, raw=None, state_dir=None) for b in bundles
    ]
    elapsed = time.perf_counter() - started
    assert all(v.ok for v in verdicts)
    rate = count / elapsed
    with capsys.disabled():
        print(
            f"\nverify_bundle: {count} observations of one batch in {elapsed:.3f} s = {rate:,.0f}/s"
        )
    assert rate >= 2000  # the goal is 5,000/s; leave room for a loaded test machine
    hub.store.close()
