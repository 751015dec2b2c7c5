"""The read-only provenance endpoints and the raw-message archive over HTTP."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hub.provenance import merkle, notes, pki, trust
from hub.provenance.bundle import ProvBundle
from hub.provenance.prov_export import validate_prov_xml
from hub.provenance.trust import SignedTrustBundle
from hub.provenance.verify import verify_bundle
from hub.provenance.web import observation_id_from_url
from hub.store.users import add_user
from tests.hub.provenance.conftest import ProvHub, frame, prov_app, row


@pytest.fixture
def client(any_prov_hub: ProvHub) -> FlaskClient:
    return prov_app(any_prov_hub).test_client()


@pytest.fixture
def sqlite_client(prov_hub: ProvHub) -> FlaskClient:
    return prov_app(prov_hub, public_url="https://aq.example.kz/").test_client()


def _error(client: FlaskClient, path: str, status: int, **kwargs: Any) -> str:
    response = client.get(path, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status
    return str(body["message"])


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


# --- the log ---------------------------------------------------------------------------------


def test_checkpoint_is_a_signed_note_reissued_when_the_log_grows(
    any_prov_hub: ProvHub, client: FlaskClient
) -> None:
    hub = any_prov_hub
    response = client.get("/prov/log/checkpoint")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    note = response.get_data(as_text=True)
    body, _ = notes.open_note(note, {hub.keys.log_name: hub.keys.log_key.public_key()})
    checkpoint = notes.Checkpoint.parse(body)
    assert (checkpoint.origin, checkpoint.size) == (hub.keys.origin, 3)
    assert client.get("/prov/log/checkpoint").get_data(as_text=True) == note
    hub.seal([frame(b"more", [row(hub.pm25, 90, 1.0)], minute=91)])
    grown = client.get("/prov/log/checkpoint").get_data(as_text=True)
    assert (
        notes.Checkpoint.parse(
            notes.open_note(grown, {hub.keys.log_name: hub.keys.log_key.public_key()})[0]
        ).size
        == 4
    )


def test_entries_and_proofs_verify_against_the_checkpoint(
    any_prov_hub: ProvHub, client: FlaskClient
) -> None:
    note = client.get("/prov/log/checkpoint").get_data(as_text=True)
    root = notes.Checkpoint.parse(note[: note.index("\n\n") + 1]).root_hash
    entries = client.get("/prov/log/entries?start=0&end=3").get_json()
    assert [e["index"] for e in entries] == [0, 1, 2]
    leaves = []
    for entry in entries:
        leaf = json.dumps(entry["envelope"], separators=(",", ":"), sort_keys=True).encode()
        assert merkle.leaf_hash(leaf).hex() == entry["leaf_hash"]
        leaves.append(bytes.fromhex(entry["leaf_hash"]))
    assert merkle.root(leaves) == root
    # Past the end: what there is.
    assert len(client.get("/prov/log/entries?start=2&end=50").get_json()) == 1
    for index in range(3):
        proof = client.get(f"/prov/log/proof/inclusion?index={index}&size=3").get_json()
        assert proof["index"] == index and proof["size"] == 3 and _b64(proof["root"]) == root
        hashes = [_b64(h) for h in proof["hashes"]]
        merkle.verify_inclusion(leaves[index], index, 3, hashes, root)
    old_root = merkle.root(leaves[:2])
    consistency = client.get("/prov/log/proof/consistency?from=2&to=3").get_json()
    assert (consistency["from"], consistency["to"]) == (2, 3)
    merkle.verify_consistency(2, 3, old_root, root, [_b64(h) for h in consistency["hashes"]])
    assert client.get("/prov/log/proof/consistency?from=3&to=3").get_json()["hashes"] == []


def test_entries_are_paged_at_1000(prov_hub: ProvHub) -> None:
    hub = prov_hub
    with hub.store.engine.execution_options(sqlite_immediate=True).begin() as conn:
        items = [(b'{"n":%d}' % n, str(uuid.uuid4())) for n in range(1005)]
        hub.log.append_many(conn, 3, items, now=datetime.now(UTC))
    client = prov_app(hub).test_client()
    page = client.get("/prov/log/entries?start=0&end=2000").get_json()
    assert len(page) == 1000 and page[-1]["index"] == 999
    assert "envelope" in page[0] and page[3]["leaf"] == base64.b64encode(b'{"n":0}').decode()
    assert "not a signed record" in _error(client, "/prov/records/3", 404)
    assert "no observation bindings" in _error(client, "/prov/records/3/bindings", 404)
    assert "no PROV form" in _error(client, "/prov/records/3/prov.json", 404)
    assert client.get("/prov/log/entries?start=1000&end=2000").get_json()[-1]["index"] == 1007


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/prov/log/entries?end=3", "missing query parameter start"),
        ("/prov/log/entries?start=-1&end=3", "non-negative integer"),
        ("/prov/log/entries?start=1e2&end=300", "non-negative integer"),
        ("/prov/log/entries?start=%201&end=3", "non-negative integer"),
        ("/prov/log/entries?start=0&end=99999999999999999999", "non-negative integer"),
        ("/prov/log/entries?start=0&start=1&end=3", "more than once"),
        ("/prov/log/entries?start=2&end=2", "must be below end"),
        ("/prov/log/entries?start=7&end=9", "the log has 3 entries"),
        ("/prov/log/proof/inclusion?index=3&size=3", "must be below size"),
        ("/prov/log/proof/inclusion?index=0&size=4", "no inclusion proof"),
        ("/prov/log/proof/inclusion?index=0", "missing query parameter size"),
        ("/prov/log/proof/consistency?from=3&to=2", "must not exceed"),
        ("/prov/log/proof/consistency?from=1&to=9", "no consistency proof"),
        ("/prov/log/proof/consistency?from=x&to=2", "non-negative integer"),
    ],
)
def test_bad_log_requests_are_400(sqlite_client: FlaskClient, path: str, message: str) -> None:
    assert message in _error(sqlite_client, path, 400)


# --- records -------------------------------------------------------------------------------


def test_a_record_by_entry_or_uuid_with_its_bindings_and_prov(
    any_prov_hub: ProvHub, client: FlaskClient
) -> None:
    record = client.get("/prov/records/1").get_json()
    assert record["entry"] == 1
    envelope_leaf = client.get("/prov/log/entries?start=1&end=2").get_json()[0]
    assert record["envelope"] == envelope_leaf["envelope"]
    leaf = json.dumps(record["envelope"], separators=(",", ":"), sort_keys=True).encode()
    assert record["digest"] == hashlib.sha256(leaf).hexdigest()
    statement = record["statement"]
    assert statement["predicate"]["record_id"] == record["record_id"]
    assert statement["predicate"]["observations"]["count"] == 3
    assert record["links"]["bindings"] == "http://localhost/prov/records/1/bindings"
    assert client.get(f"/prov/records/{record['record_id']}").get_json() == record
    bindings = client.get("/prov/records/1/bindings").get_json()
    assert len(bindings) == 3 and set(bindings[0]) == {"core", "obs_id", "raw"}
    leaves = [
        merkle.leaf_hash(json.dumps(b, separators=(",", ":"), sort_keys=True).encode())
        for b in bindings
    ]
    assert merkle.root(leaves).hex() == statement["predicate"]["observations"]["root"]["sha256"]
    document = client.get(f"/prov/records/{record['record_id']}/prov.json")
    assert document.status_code == 200 and document.is_json and "bundle" in document.get_json()
    xml = client.get("/prov/records/1/prov.xml")
    assert xml.headers["Content-Type"] == "application/xml; charset=utf-8"
    validate_prov_xml(xml.get_data())


def test_record_links_use_the_public_url(sqlite_client: FlaskClient) -> None:
    links = sqlite_client.get("/prov/records/0").get_json()["links"]
    assert links["prov.xml"] == "https://aq.example.kz/prov/records/0/prov.xml"
    assert links["checkpoint"] == "https://aq.example.kz/prov/log/checkpoint"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/prov/records/3", 404, "no provenance record 3"),
        ("/prov/records/8c6f2c1e-5d7a-4b2e-9a41-3f0c7d9e2b10", 404, "no provenance record"),
        ("/prov/records/abc", 400, "neither a log entry nor a record UUID"),
        ("/prov/records/-1", 400, "neither a log entry nor a record UUID"),
        ("/prov/records/ECF5C45C-5948-4D4D-92D8-45A6EF9667F6", 400, "lower-case"),
        ("/prov/records/9/bindings", 404, "no provenance record 9"),
        ("/prov/records/x/prov.json", 400, "neither"),
        ("/prov/records/9/prov.xml", 404, "no provenance record"),
    ],
)
def test_bad_record_requests(
    sqlite_client: FlaskClient, path: str, status: int, message: str
) -> None:
    assert message in _error(sqlite_client, path, status)


# --- bundles ---------------------------------------------------------------------------------


def test_a_bundle_by_observation_url_or_id_verifies(
    any_prov_hub: ProvHub, client: FlaskClient
) -> None:
    hub = any_prov_hub
    observation_id = hub.ids()[4]
    url = f"https://aq.example.kz/v1.1/Observations({observation_id})"
    response = client.get("/prov/bundle", query_string={"observation": url})
    assert response.status_code == 200
    bundle = ProvBundle.model_validate(response.get_json())
    assert (
        client.get(f"/prov/bundle?observation_id={observation_id}").get_json()
        == response.get_json()
    )
    observation = client.get(f"/v1.1/Observations({observation_id})").get_json()
    trusted = SignedTrustBundle.model_validate(client.get("/prov/trust-bundle").get_json())
    verdict = verify_bundle(
        bundle,
        trusted,
        observation=observation,
        raw=None,
        state_dir=None,
        pinned_root_sha256=hub.root_sha256(),
    )
    assert verdict.ok, verdict.failed


def test_a_bundle_request_signs_a_checkpoint_for_a_new_record(
    prov_hub: ProvHub, sqlite_client: FlaskClient
) -> None:
    hub = prov_hub
    assert sqlite_client.get("/prov/bundle?observation_id=1").get_json()["log"]["size"] == 3
    hub.seal([frame(b"newer", [row(hub.pm25, 95, 2.0)], minute=96)])
    newest = hub.ids()[-1]
    assert sqlite_client.get(f"/prov/bundle?observation_id={newest}").get_json()["log"]["size"] == 4


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "exactly one of"),
        ("observation_id=1&observation=/v1.1/Observations(1)", 400, "exactly one of"),
        ("observation=/v1.1/Observations(1)&observation=/v1.1/Observations(2)", 400, "one of"),
        ("observation=https://h/v1.1/Things(1)", 400, "not an STA Observation URL"),
        ("observation=https://h/v1.1/Observations(1)/Datastream", 400, "not an STA"),
        ("observation=https://h/v1.1/Observations(1)%3Fx", 400, "not an STA"),
        ("observation_id=-5", 400, "non-negative integer"),
        ("observation_id=999", 404, "no observation 999"),
    ],
)
def test_bad_bundle_requests(
    sqlite_client: FlaskClient, query: str, status: int, message: str
) -> None:
    assert message in _error(sqlite_client, f"/prov/bundle?{query}", status)


def test_an_unsealed_observation_has_no_bundle(
    prov_hub: ProvHub, sqlite_client: FlaskClient
) -> None:
    prov_hub.seal([frame(b"plain", [row(prov_hub.pm25, 99, 1.0)], minute=99)], sealer=False)
    unsealed = prov_hub.ids()[-1]
    message = _error(sqlite_client, f"/prov/bundle?observation_id={unsealed}", 404)
    assert "has no signed provenance record" in message


def test_observation_urls_resolve_only_to_their_id() -> None:
    assert observation_id_from_url("https://aq.example.kz/v1.1/Observations(42)") == 42
    assert observation_id_from_url("/v1.1/Observations(7)") == 7
    assert observation_id_from_url("http://10.0.0.1:8080/hub/v1.1/Observations(3)") == 3
    for bad in ("Observations(1)", "/v1.0/Observations(1)", "/v1.1/Observations('1')", ""):
        with pytest.raises(ValueError):
            observation_id_from_url(bad)


# --- the trust bundle -----------------------------------------------------------------------


def test_the_trust_bundle_is_signed_by_the_hub_root(
    any_prov_hub: ProvHub, client: FlaskClient
) -> None:
    response = client.get("/prov/trust-bundle")
    assert response.status_code == 200
    bundle = SignedTrustBundle.model_validate(response.get_json())
    body = trust.verify_trust_bundle(bundle, pinned_root_sha256=any_prov_hub.root_sha256())
    assert body.origin == any_prov_hub.keys.origin


def test_with_the_root_key_offline_the_exported_bundle_is_served(
    prov_hub: ProvHub, tmp_path: Path
) -> None:
    hub = prov_hub
    root_key = pki.keys_dir(hub.data_dir) / "root.key.pem"
    offline = tmp_path / "offline-root.key.pem"
    root_key.rename(offline)
    client = prov_app(hub).test_client()
    assert "auasu keys export-trust" in _error(client, "/prov/trust-bundle", 404)
    exported = trust.write_own_bundle(hub.keys, root_key_file=offline)
    served = client.get("/prov/trust-bundle").get_json()
    assert SignedTrustBundle.model_validate(served) == exported
    # Once keys change (a revocation), the export no longer describes them.
    pki.rotate(hub.data_dir, "signing", revoke_old=True, root_key_file=offline)
    rotated = prov_app(dataclasses.replace(hub, keys=pki.load_keys(hub.data_dir)))
    assert "the export is stale" in _error(rotated.test_client(), "/prov/trust-bundle", 404)


# --- raw messages --------------------------------------------------------------------------


def test_raw_messages_need_credentials(prov_hub: ProvHub, sqlite_client: FlaskClient) -> None:
    content = b"frame-a PW=secret"
    digest = hashlib.sha256(content).hexdigest()
    response = sqlite_client.get(f"/raw/sha256/{digest}")
    assert response.status_code == 401 and "Basic" in response.headers["WWW-Authenticate"]
    assert b"secret" not in response.get_data()
    wrong = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}
    assert sqlite_client.get(f"/raw/sha256/{digest}", headers=wrong).status_code == 401
    add_user(prov_hub.store, "alice", "read", "correct horse")
    good = {"Authorization": "Basic " + base64.b64encode(b"alice:correct horse").decode()}
    response = sqlite_client.get(f"/raw/sha256/{digest}", headers=good)
    assert response.status_code == 200 and response.get_data() == content
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["ETag"] == f'"{digest}"'
    assert (
        response.headers["Digest"]
        == "sha-256=" + base64.b64encode(hashlib.sha256(content).digest()).decode()
    )
    assert "no-store" in response.headers["Cache-Control"]
    assert "no raw message" in _error(sqlite_client, f"/raw/sha256/{'0' * 64}", 404, headers=good)
    for bad in (digest.upper(), digest[:-1], digest + "0", "x" * 64):
        assert "64 lower-case hex" in _error(sqlite_client, f"/raw/sha256/{bad}", 400, headers=good)
    # Anonymous callers learn nothing, not even whether a name is well formed.
    assert sqlite_client.get("/raw/sha256/xyz").status_code == 401
