"""Signed trust bundles: building, verifying, pinning, rotation, and the partner store."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from hub.provenance import notes, pki, trust
from hub.provenance.certificates import (
    build_crl,
    fingerprint,
    make_root,
    verify_signing_certificate,
)
from hub.provenance.records import PREDICATE_TYPE
from hub.provenance.trust import SignedTrustBundle, TrustError

HUB = "https://aq.example.kz"
ORIGIN = "aq.example.kz/auasu/prov-log/v1"


def _keys(data_dir: Path, hub_id: str = HUB, agency: str = "Kazhydromet") -> pki.HubKeys:
    return pki.init_keys(data_dir, hub_id=hub_id, agency=agency, origin=pki.default_origin(hub_id))


def _with_body(bundle: SignedTrustBundle, **changes: object) -> SignedTrustBundle:
    return bundle.model_copy(update={"body": bundle.body.model_copy(update=changes)})


def test_a_bundle_lists_the_hub_and_verifies_against_its_pinned_root(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    bundle = trust.build_trust_bundle(keys)
    body = bundle.body
    assert (body.version, body.hub_id, body.agency, body.origin) == (1, HUB, "Kazhydromet", ORIGIN)
    assert body.roots == (keys.root_cert.public_bytes(serialization.Encoding.PEM).decode(),)
    (log_key,) = body.log_keys
    assert log_key.name == ORIGIN and log_key.valid_until is None
    assert log_key.vkey == notes.verifier_key(ORIGIN, keys.log_key.public_key())
    (witness,) = body.witness_keys
    assert (witness.name, witness.agency) == ("aq.example.kz/witness", "Kazhydromet")
    name, sig_type, public_witness = notes.parse_verifier_key(witness.vkey)
    assert (name, sig_type) == ("aq.example.kz/witness", notes.COSIGNATURE_TYPE)
    assert public_witness == keys.witness_key.public_key()
    assert notes.parse_verifier_key(log_key.vkey)[1] == notes.ED25519_TYPE
    assert body.crl is None and body.predicate_types == (PREDICATE_TYPE,)
    assert bundle.signer == "root"

    root_sha = fingerprint(keys.root_cert)
    assert trust.verify_trust_bundle(bundle, pinned_root_sha256=root_sha) == body
    colons = ":".join(root_sha[i : i + 2] for i in range(0, 64, 2)).upper()
    assert trust.verify_trust_bundle(bundle, pinned_root_sha256=colons) == body
    assert trust.verify_trust_bundle(bundle) == body
    assert trust.root_fingerprint(body) == root_sha

    signature = base64.b64decode(bundle.signature)
    public = keys.root_cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, body.signed_bytes(), ec.ECDSA(hashes.SHA256()))
    dumped = json.loads(body.signed_bytes())
    assert "crl" not in dumped and "valid_until" not in dumped["log_keys"][0]
    assert dumped["issued_at"].endswith("Z")


def test_save_and_load_keep_the_signature_valid(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    issued = datetime(2026, 5, 1, 12, 30, 0, 250000, tzinfo=UTC)
    bundle = trust.build_trust_bundle(keys, now=issued)
    path = tmp_path / "bundle.json"
    trust.save_bundle(bundle, path)
    assert not list(tmp_path.glob("*.tmp"))
    text = path.read_text()
    assert '"issued_at": "2026-05-01T12:30:00.25Z"' in text and "PRIVATE" not in text
    loaded = trust.load_bundle(path)
    assert loaded == bundle
    assert trust.verify_trust_bundle(loaded, pinned_root_sha256=fingerprint(keys.root_cert))


def test_tampering_and_wrong_pins_are_refused(tmp_path: Path) -> None:
    keys = _keys(tmp_path / "a")
    bundle = trust.build_trust_bundle(keys)
    with pytest.raises(TrustError, match="not signed by its root"):
        trust.verify_trust_bundle(_with_body(bundle, agency="Someone else"))
    with pytest.raises(TrustError, match="not signed by its root"):
        trust.verify_trust_bundle(bundle.model_copy(update={"signature": "!!not base64!!"}))

    # A forger re-signs the same claims with a root of their own: intact, but not the pinned one.
    forged = trust.build_trust_bundle(_keys(tmp_path / "forger"))
    forged = forged.model_copy(update={"body": forged.body.model_copy(update={"hub_id": HUB})})
    root_sha = fingerprint(keys.root_cert)
    with pytest.raises(TrustError, match="not the pinned root"):
        trust.verify_trust_bundle(forged, pinned_root_sha256=root_sha)
    with pytest.raises(TrustError, match="64 hex digits"):
        trust.verify_trust_bundle(bundle, pinned_root_sha256="abc")


def test_malformed_bundle_contents_are_refused(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    root_key = keys.load_root_key()

    def signed(**changes: object) -> SignedTrustBundle:
        body = trust.build_trust_bundle(keys).body.model_copy(update=changes)
        signature = root_key.sign(body.signed_bytes(), ec.ECDSA(hashes.SHA256()))
        return SignedTrustBundle(body=body, signature=base64.b64encode(signature).decode())

    with pytest.raises(TrustError, match="not a PEM certificate"):
        trust.verify_trust_bundle(signed(roots=("garbage",)))
    log_key = trust.build_trust_bundle(keys).body.log_keys[0]
    other_name = log_key.model_copy(update={"name": "another/origin"})
    with pytest.raises(TrustError, match="is not named 'another/origin'"):
        trust.verify_trust_bundle(signed(log_keys=(other_name,)))
    broken = log_key.model_copy(update={"vkey": "origin+zzzz+nothing"})
    with pytest.raises(TrustError, match="in the trust bundle"):
        trust.verify_trust_bundle(signed(log_keys=(broken,)))
    note_typed = trust.build_trust_bundle(keys).body.witness_keys[0]
    note_typed = note_typed.model_copy(
        update={"vkey": notes.verifier_key(note_typed.name, keys.witness_key.public_key())}
    )
    with pytest.raises(TrustError, match="signature type 1, not 4"):
        trust.verify_trust_bundle(signed(witness_keys=(note_typed,)))
    with pytest.raises(TrustError, match="not signed by its root"):
        trust.verify_trust_bundle(_with_body(signed(), agency="lone \ud800 surrogate"))
    with pytest.raises(TrustError, match="CRL in the trust bundle is not PEM"):
        trust.verify_trust_bundle(signed(crl="not a crl"))

    stranger_key, stranger = make_root("Stranger", datetime.now(UTC))
    foreign_crl = build_crl(stranger_key, stranger, [], number=1, now=datetime.now(UTC))
    pem = foreign_crl.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(TrustError, match="not signed by a listed root"):
        trust.verify_trust_bundle(signed(crl=pem))

    ed_key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed root")])
    now = datetime.now(UTC)
    ed_root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ed_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(ed_key, None)
    )
    ed_bundle = _with_body(
        trust.build_trust_bundle(keys),
        roots=(ed_root.public_bytes(serialization.Encoding.PEM).decode(),),
    )
    with pytest.raises(TrustError, match="ECDSA P-256"):
        trust.verify_trust_bundle(ed_bundle)


def test_loading_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="cannot read trust bundle"):
        trust.load_bundle(tmp_path / "missing.json")
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(TrustError, match="is not a trust bundle"):
        trust.load_bundle(path)
    keys = _keys(tmp_path / "hub")
    document = json.loads(trust.bundle_json(trust.build_trust_bundle(keys)))
    document["body"]["extra"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(TrustError, match=r"body\.extra"):
        trust.load_bundle(path)
    document["body"].pop("extra")
    document["body"]["version"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(TrustError, match=r"body\.version"):
        trust.load_bundle(path)


def test_rotation_keeps_old_keys_listed_until_they_were_retired(tmp_path: Path) -> None:
    first = _keys(tmp_path)
    pki.rotate(tmp_path, "log", origin="aq.example.kz/auasu/prov-log/v2")
    keys = pki.rotate(tmp_path, "witness")
    body = trust.verify_trust_bundle(trust.build_trust_bundle(keys))
    old_log, new_log = body.log_keys
    retired = keys.document.entry("log-1").retired_at
    assert (old_log.name, old_log.valid_until) == (ORIGIN, retired)
    assert old_log.vkey == notes.verifier_key(ORIGIN, first.log_key.public_key())
    assert (new_log.name, new_log.valid_until) == ("aq.example.kz/auasu/prov-log/v2", None)
    assert new_log.valid_from == retired
    assert body.origin == "aq.example.kz/auasu/prov-log/v2"
    old_witness, new_witness = body.witness_keys
    assert old_witness.valid_until is not None and new_witness.valid_until is None
    assert old_witness.vkey == notes.verifier_key(
        "aq.example.kz/witness", first.witness_key.public_key(), notes.COSIGNATURE_TYPE
    )


def test_the_published_bundle_and_its_staleness(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    assert trust.own_bundle(tmp_path) is None
    written = trust.write_own_bundle(keys)
    stored = trust.own_bundle(tmp_path)
    assert stored == written and (tmp_path / "keys" / trust.OWN_BUNDLE).is_file()
    assert trust.stale_reason(written.body, keys) is None

    rotated = pki.rotate(tmp_path, "log")
    assert trust.stale_reason(written.body, rotated) == "the log keys changed"
    rotated = pki.rotate(tmp_path, "signing", revoke_old=True)
    fresh = trust.write_own_bundle(rotated).body
    assert trust.stale_reason(fresh, rotated) is None
    assert fresh.crl is not None
    assert trust.stale_reason(written.body, _keys(tmp_path / "other")) == "it names another root"
    assert trust.stale_reason(fresh.model_copy(update={"crl": None}), rotated) == "the CRL changed"


def test_a_revoked_certificate_is_refused_through_the_bundle(tmp_path: Path) -> None:
    old = _keys(tmp_path)
    keys = pki.rotate(tmp_path, "signing", revoke_old=True, reason="keyCompromise")
    body = trust.verify_trust_bundle(trust.build_trust_bundle(keys))
    crl = body.revocation_list()
    assert crl is not None
    roots = body.root_certificates()
    later = datetime.now(UTC) + timedelta(minutes=1)
    with pytest.raises(pki.CertificateError, match="revoked"):
        verify_signing_certificate(old.chain, roots, at=later, hub_id=body.hub_id, crl=crl)
    verify_signing_certificate(keys.chain, roots, at=later, hub_id=body.hub_id, crl=crl)


def test_building_needs_the_root_key(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    offline = tmp_path / "root.key.pem"
    (tmp_path / "keys" / "root.key.pem").rename(offline)
    with pytest.raises(pki.KeysError, match="--root-key"):
        trust.build_trust_bundle(keys)
    bundle = trust.build_trust_bundle(keys, root_key_file=offline)
    assert trust.verify_trust_bundle(bundle, pinned_root_sha256=fingerprint(keys.root_cert))


# --- partner store -----------------------------------------------------------------------------


def _partner_file(directory: Path, keys: pki.HubKeys, when: datetime | None = None) -> Path:
    path = directory / f"bundle-{(when or datetime.now(UTC)).timestamp()}.json"
    trust.save_bundle(trust.build_trust_bundle(keys, now=when), path)
    return path


def test_adding_and_listing_partners(tmp_path: Path) -> None:
    data = tmp_path / "data"
    partner = _keys(tmp_path / "partner", hub_id="https://Air.Partner.example/hub", agency="EcoKz")
    path = _partner_file(tmp_path, partner)
    assert trust.partner_bundles(data) == {}
    pin = fingerprint(partner.root_cert)
    name, root = trust.add_partner_bundle(data, path, name=None, pinned_root_sha256=pin)
    assert (name, root) == ("air.partner.example", pin)
    assert (data / "trust" / "air.partner.example.json").is_file()
    bodies = trust.partner_bundles(data)
    assert list(bodies) == ["air.partner.example"]
    assert bodies[name].agency == "EcoKz"
    assert trust.add_partner_bundle(data, path, name="eco-kz", pinned_root_sha256=None) == (
        "eco-kz",
        pin,
    )
    assert sorted(trust.partner_bundles(data)) == ["air.partner.example", "eco-kz"]
    assert trust.partner_name("urn:auasu:hub:Station_7") == "station_7"
    assert trust.partner_name("urn:auasu:hub:a~b") == "a-b"
    assert trust.partner_name("urn:auasu:hub:bad host") == "partner"
    assert trust.partner_name("not-a-uri") == "not-a-uri"
    assert trust.partner_name("https://") == "partner"


@pytest.mark.parametrize("name", ["../evil", "a/b", "Upper", "", ".hidden", "-x", "x" * 64])
def test_partner_names_never_reach_outside_the_store(tmp_path: Path, name: str) -> None:
    partner = _keys(tmp_path / "partner")
    path = _partner_file(tmp_path, partner)
    with pytest.raises(TrustError, match="partner name"):
        trust.add_partner_bundle(tmp_path / "data", path, name=name, pinned_root_sha256=None)
    assert not (tmp_path / "data" / "trust").exists()
    assert not (tmp_path / "evil.json").exists()


def test_a_stored_partner_keeps_its_root_and_never_goes_back_in_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    partner = _keys(tmp_path / "partner")
    now = datetime.now(UTC)
    current = _partner_file(tmp_path, partner, now)
    trust.add_partner_bundle(data, current, name="p", pinned_root_sha256=None)

    older = _partner_file(tmp_path, partner, now - timedelta(days=1))
    with pytest.raises(TrustError, match="older than the stored one"):
        trust.add_partner_bundle(data, older, name="p", pinned_root_sha256=None)

    impostor = _keys(tmp_path / "impostor")
    with pytest.raises(TrustError, match=r"remove .* first"):
        trust.add_partner_bundle(
            data, _partner_file(tmp_path, impostor), name="p", pinned_root_sha256=None
        )

    rotated = pki.rotate(tmp_path / "partner", "log")
    newer = _partner_file(tmp_path, rotated, now + timedelta(seconds=5))
    trust.add_partner_bundle(data, newer, name="p", pinned_root_sha256=None)
    assert len(trust.partner_bundles(data)["p"].log_keys) == 2

    with pytest.raises(TrustError, match="not the pinned root"):
        trust.add_partner_bundle(
            data, newer, name="q", pinned_root_sha256=fingerprint(impostor.root_cert)
        )
    assert sorted(p.name for p in (data / "trust").iterdir()) == ["p.json"]


def test_the_partner_store_rechecks_what_it_loads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    partner = _keys(tmp_path / "partner")
    trust.add_partner_bundle(
        data, _partner_file(tmp_path, partner), name="p", pinned_root_sha256=None
    )
    (data / "trust" / "Not-Ours.json").write_text("{}")
    assert list(trust.partner_bundles(data)) == ["p"]
    stored = data / "trust" / "p.json"
    document = json.loads(stored.read_text())
    document["body"]["agency"] = "Changed on disk"
    stored.write_text(json.dumps(document))
    with pytest.raises(TrustError, match=r"stored partner bundle .*p\.json: .*not signed"):
        trust.partner_bundles(data)
