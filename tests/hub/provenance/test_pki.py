"""The hub's key directory (init, load, rotate, revoke) and signing-certificate verification."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.provenance import pki
from hub.provenance.certificates import build_crl, make_root
from hub.provenance.pki import (
    PROVENANCE_SIGNING_EKU,
    CertificateError,
    IssuedSigning,
    KeysError,
    KeysExist,
    KeysMissing,
    init_keys,
    issue_signing_certificate,
    load_keys,
    revoke,
    rotate,
    verify_signing_certificate,
)

HUB = "https://aq.example.kz"
ORIGIN = "aq.example.kz/auasu/prov-log/v1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRIVATE = ("root.key.pem", "signing-1.key.pem", "log-1.key.pem", "witness-1.key.pem")


def _init(data_dir: Path, **extra: object) -> pki.HubKeys:
    return init_keys(data_dir, hub_id=HUB, agency="Kazhydromet", origin=ORIGIN, **extra)  # type: ignore[arg-type]


def _der(*certs: x509.Certificate) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey,
    ca_cert: x509.Certificate,
    *,
    key: object = None,
    eku: x509.ObjectIdentifier = PROVENANCE_SIGNING_EKU,
    san: str = HUB,
    start: datetime = T0,
    days: int = 365,
    usage: bool = True,
) -> x509.Certificate:
    """A leaf built by hand, so each test can get exactly one property wrong."""
    public = key if key is not None else Ed25519PrivateKey.generate().public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(ca_cert.subject)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(
            x509.KeyUsage(usage, False, not usage, False, False, False, False, False, False), True
        )
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    algorithm = None if isinstance(ca_key, Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, algorithm)


def _ca(
    key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey,
    issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
    cn: str = "Agency CA",
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer, issuer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[0].public_key()), False
        )
    algorithm = None if isinstance(signer, Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


# --- init and load -----------------------------------------------------------------------------


def test_init_writes_the_layout_with_private_keys_0600(tmp_path: Path) -> None:
    keys = _init(tmp_path)
    directory = tmp_path / "keys"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in PRIVATE:
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
        text = (directory / name).read_text()
        assert text.startswith("-----BEGIN PRIVATE KEY-----"), name  # PKCS#8, unencrypted
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [*PRIVATE, "keys.json", "root.cert.pem", "signing-1.cert.pem"]
    )
    document = json.loads((directory / "keys.json").read_text())
    assert (document["hub_id"], document["agency"], document["origin"]) == (
        HUB,
        "Kazhydromet",
        ORIGIN,
    )
    assert document["current"] == {"signing": "signing-1", "log": "log-1", "witness": "witness-1"}
    assert "PRIVATE" not in (directory / "keys.json").read_text()

    root = keys.root_cert
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Kazhydromet AuaSu provenance root"
    )
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days >= 3650

    leaf = keys.signing_cert
    assert _raw(keys.signing_key.public_key()) == _raw(leaf.public_key())  # type: ignore[arg-type]
    assert leaf.issuer == root.subject
    leaf.verify_directly_issued_by(root)
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        x509.ExtendedKeyUsage([PROVENANCE_SIGNING_EKU])
    )
    usage_ext = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage_ext.critical and usage_ext.value.digital_signature
    assert not usage_ext.value.key_cert_sign
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [HUB]
    assert 364 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 366
    assert keys.chain == (leaf.public_bytes(serialization.Encoding.DER),)
    assert (keys.log_name, keys.origin, keys.witness_name) == (
        ORIGIN,
        ORIGIN,
        "aq.example.kz/witness",
    )
    assert keys.crl is None
    assert str(PROVENANCE_SIGNING_EKU.dotted_string).startswith("2.25.")


def test_load_returns_the_same_keys(tmp_path: Path) -> None:
    made = _init(tmp_path)
    loaded = load_keys(tmp_path)
    assert loaded.signing_cert == made.signing_cert and loaded.root_cert == made.root_cert
    for a, b in ((loaded.log_key, made.log_key), (loaded.witness_key, made.witness_key)):
        assert _raw(a.public_key()) == _raw(b.public_key())
    assert loaded.chain == made.chain and loaded.document == made.document


def test_init_refuses_existing_keys_and_force_moves_them_aside(tmp_path: Path) -> None:
    first = _init(tmp_path)
    with pytest.raises(KeysExist, match="--force"):
        _init(tmp_path)
    second = _init(tmp_path, force=True)
    assert second.root_cert != first.root_cert
    (kept,) = tmp_path.glob("keys.replaced-*")
    assert (kept / "root.key.pem").is_file()
    assert x509.load_pem_x509_certificate((kept / "root.cert.pem").read_bytes()) == first.root_cert


@pytest.mark.parametrize(
    ("hub_id", "agency", "origin", "message"),
    [
        ("not a uri", "A", ORIGIN, "hub id"),
        ("https://aq.example.kz/ä", "A", ORIGIN, "hub id"),
        (HUB, "", ORIGIN, "agency"),
        (HUB, "x" * 65, ORIGIN, "agency"),
        (HUB, "A", "has space/v1", "origin"),
        (HUB, "A", "plus+sign", "origin"),
        ("urn:auasu:hub:", "A", ORIGIN, "hub id"),
        ("https://", "A", ORIGIN, "host name"),
    ],
)
def test_init_rejects_bad_identity(
    tmp_path: Path, hub_id: str, agency: str, origin: str, message: str
) -> None:
    with pytest.raises(KeysError, match=message):
        init_keys(tmp_path, hub_id=hub_id, agency=agency, origin=origin)
    assert not (tmp_path / "keys").exists()


def test_a_half_finished_init_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "root.key.pem").write_text("left by a crash")
    with pytest.raises(KeysExist):
        _init(tmp_path)
    assert _init(tmp_path, force=True).hub_id == HUB
    (kept,) = tmp_path.glob("keys.replaced-*")
    assert (kept / "root.key.pem").read_text() == "left by a crash"


def test_long_agency_names_stay_whole_in_the_organisation(tmp_path: Path) -> None:
    agency = "Ministry of Ecology and Natural Resources of Kazakhstan"
    keys = init_keys(tmp_path, hub_id="urn:auasu:hub:h1", agency=agency, origin="h1/log")
    subject = keys.root_cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == agency
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "AuaSu provenance root"
    assert keys.witness_name == "h1/witness"


def test_load_without_keys_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(KeysMissing, match="run `auasu keys init`") as info:
        load_keys(tmp_path)
    assert "\n" not in str(info.value)


def test_load_reports_broken_key_directories(tmp_path: Path) -> None:
    _init(tmp_path)
    directory = tmp_path / "keys"
    document = (directory / "keys.json").read_text()

    (directory / "keys.json").write_text("{not json")
    with pytest.raises(KeysError, match="not a valid keys file"):
        load_keys(tmp_path)

    escaping = json.loads(document)
    escaping["history"][0]["key_file"] = "../../etc/passwd"
    (directory / "keys.json").write_text(json.dumps(escaping))
    with pytest.raises(KeysError, match="plain file name"):
        load_keys(tmp_path)

    wrong_current = json.loads(document)
    wrong_current["current"]["log"] = "witness-1"
    (directory / "keys.json").write_text(json.dumps(wrong_current))
    with pytest.raises(KeysError, match="current log key"):
        load_keys(tmp_path)

    (directory / "keys.json").write_text(document)
    (directory / "log-1.key.pem").rename(directory / "elsewhere.pem")
    with pytest.raises(KeysError, match="missing key file"):
        load_keys(tmp_path)
    (directory / "elsewhere.pem").rename(directory / "log-1.key.pem")

    witness = (directory / "witness-1.key.pem").read_bytes()
    (directory / "witness-1.key.pem").write_bytes((directory / "log-1.key.pem").read_bytes())
    with pytest.raises(KeysError, match="not the witness-1 key"):
        load_keys(tmp_path)
    (directory / "witness-1.key.pem").write_bytes(witness)

    signing = (directory / "signing-1.key.pem").read_bytes()
    (directory / "signing-1.key.pem").write_bytes((directory / "witness-1.key.pem").read_bytes())
    with pytest.raises(KeysError, match="does not match its certificate"):
        load_keys(tmp_path)
    (directory / "signing-1.key.pem").write_bytes((directory / "root.key.pem").read_bytes())
    with pytest.raises(KeysError, match="not hold an Ed25519 key"):
        load_keys(tmp_path)
    (directory / "signing-1.key.pem").write_bytes(b"garbage")
    with pytest.raises(KeysError, match="not an unencrypted PEM"):
        load_keys(tmp_path)
    (directory / "signing-1.key.pem").write_bytes(signing)

    root = (directory / "root.cert.pem").read_bytes()
    (directory / "root.cert.pem").write_bytes((directory / "signing-1.cert.pem").read_bytes())
    with pytest.raises(KeysError, match=r"not the root keys\.json names"):
        load_keys(tmp_path)
    (directory / "root.cert.pem").write_bytes(b"nope")
    with pytest.raises(KeysError, match="not a PEM certificate"):
        load_keys(tmp_path)
    (directory / "root.cert.pem").write_bytes(root)
    assert load_keys(tmp_path).hub_id == HUB


# --- the root key stays offline ----------------------------------------------------------------


def test_offline_root_key_is_needed_only_for_issuing(tmp_path: Path) -> None:
    keys = _init(tmp_path)
    offline = tmp_path / "usb-root.key.pem"
    (tmp_path / "keys" / "root.key.pem").rename(offline)
    loaded = load_keys(tmp_path)  # the running hub starts without it
    assert loaded.signing_cert == keys.signing_cert
    with pytest.raises(KeysError, match="--root-key"):
        loaded.load_root_key()
    with pytest.raises(KeysError, match="--root-key"):
        rotate(tmp_path, "signing")
    rotate(tmp_path, "witness")  # raw keys need no root
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeysError, match="not the key of the root"):
        rotate(tmp_path, "signing", root_key_file=stranger)
    rotated = rotate(tmp_path, "signing", root_key_file=offline)
    assert rotated.signing_cert.serial_number != keys.signing_cert.serial_number
    assert isinstance(rotated.load_root_key(offline), ec.EllipticCurvePrivateKey)
    assert not (tmp_path / "keys" / "root.key.pem").exists()


# --- rotation and revocation -------------------------------------------------------------------


def test_rotate_signing_keeps_the_old_certificate_verifiable(tmp_path: Path) -> None:
    old = _init(tmp_path)
    new = rotate(tmp_path, "signing")
    assert new.signing_cert.serial_number != old.signing_cert.serial_number
    assert new.document.current.signing == "signing-2"
    assert stat.S_IMODE((tmp_path / "keys" / "signing-2.key.pem").stat().st_mode) == 0o600
    first = new.document.entry("signing-1")
    assert first.retired_at is not None and first.serial == old.signing_cert.serial_number
    assert (tmp_path / "keys" / "signing-1.key.pem").is_file()
    assert first.public() is not None and _raw(first.public()) == _raw(old.signing_key.public_key())
    now = datetime.now(UTC)
    for keys in (old, new):
        verify_signing_certificate(keys.chain, [new.root_cert], at=now, hub_id=HUB, crl=new.crl)
    assert new.crl is None and load_keys(tmp_path).signing_cert == new.signing_cert


def test_rotate_signing_with_revoke_old_writes_a_crl(tmp_path: Path) -> None:
    old = _init(tmp_path)
    new = rotate(tmp_path, "signing", revoke_old=True, reason="keyCompromise")
    assert new.crl is not None
    assert new.crl.is_signature_valid(new.root_cert.public_key())  # type: ignore[arg-type]
    entry = new.crl.get_revoked_certificate_by_serial_number(old.signing_cert.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    assert (tmp_path / "keys" / "crl.pem").is_file()
    assert new.document.revocations[0].serial == old.signing_cert.serial_number
    later = entry.revocation_date_utc + timedelta(seconds=1)
    with pytest.raises(CertificateError, match="revoked"):
        verify_signing_certificate(old.chain, [new.root_cert], at=later, hub_id=HUB, crl=new.crl)
    earlier = entry.revocation_date_utc - timedelta(seconds=1)
    verify_signing_certificate(old.chain, [new.root_cert], at=earlier, hub_id=HUB, crl=new.crl)
    verify_signing_certificate(new.chain, [new.root_cert], at=later, hub_id=HUB, crl=new.crl)


def test_rotate_log_and_witness(tmp_path: Path) -> None:
    old = _init(tmp_path)
    same_origin = rotate(tmp_path, "log")
    assert same_origin.log_name == ORIGIN
    assert _raw(same_origin.log_key.public_key()) != _raw(old.log_key.public_key())
    v2 = rotate(tmp_path, "log", origin="aq.example.kz/auasu/prov-log/v2")
    assert v2.origin == v2.log_name == "aq.example.kz/auasu/prov-log/v2"
    names = [(e.id, e.name, e.retired_at is None) for e in v2.document.entries("log")]
    assert names == [
        ("log-1", ORIGIN, False),
        ("log-2", ORIGIN, False),
        ("log-3", "aq.example.kz/auasu/prov-log/v2", True),
    ]
    witness = rotate(tmp_path, "witness")
    for name in ("log-2.key.pem", "log-3.key.pem", "witness-2.key.pem"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    assert witness.witness_name == "aq.example.kz/witness"
    assert witness.document.current.witness == "witness-2"
    assert _raw(witness.witness_key.public_key()) != _raw(old.witness_key.public_key())
    assert len(list((tmp_path / "keys").glob("log-*.key.pem"))) == 3


def test_rotate_refuses_what_does_not_apply(tmp_path: Path) -> None:
    _init(tmp_path)
    with pytest.raises(KeysError, match="only the signing certificate"):
        rotate(tmp_path, "log", revoke_old=True)
    with pytest.raises(KeysError, match="new origin goes with a new log key"):
        rotate(tmp_path, "witness", origin="x/v2")
    with pytest.raises(KeysError, match="log origin"):
        rotate(tmp_path, "log", origin="has space")
    with pytest.raises(KeysError, match="unknown revocation reason"):
        rotate(tmp_path, "signing", revoke_old=True, reason="bored")
    assert load_keys(tmp_path).document.current.signing == "signing-1"
    assert not list((tmp_path / "keys").glob("signing-2*"))


def test_rotation_never_reuses_an_orphaned_file_name(tmp_path: Path) -> None:
    _init(tmp_path)
    (tmp_path / "keys" / "witness-2.key.pem").write_text("left by a crash")
    assert rotate(tmp_path, "witness").document.current.witness == "witness-3"


def test_revoke_with_a_past_compromise_time(tmp_path: Path) -> None:
    old = _init(tmp_path)
    rotate(tmp_path, "signing")
    compromised = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    keys = revoke(
        tmp_path, old.signing_cert.serial_number, reason="key_compromise", when=compromised
    )
    assert keys.crl is not None and keys.document.crl_number == 1
    number = keys.crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == 1
    entry = keys.crl.get_revoked_certificate_by_serial_number(old.signing_cert.serial_number)
    assert entry is not None and entry.revocation_date_utc == compromised
    record = keys.document.revocations[0]
    assert (record.reason, record.revoked_at) == ("keyCompromise", compromised)
    assert record.recorded_at > compromised
    at = compromised - timedelta(seconds=1)
    verify_signing_certificate(old.chain, [keys.root_cert], at=at, hub_id=HUB, crl=keys.crl)
    with pytest.raises(CertificateError, match="revoked"):
        verify_signing_certificate(
            old.chain, [keys.root_cert], at=compromised, hub_id=HUB, crl=keys.crl
        )


def test_revoke_errors(tmp_path: Path) -> None:
    old = _init(tmp_path)
    serial = old.signing_cert.serial_number
    with pytest.raises(KeysError, match="the one in use"):
        revoke(tmp_path, serial)
    rotate(tmp_path, "signing")
    with pytest.raises(KeysError, match="no signing certificate with serial"):
        revoke(tmp_path, 12345)
    with pytest.raises(KeysError, match="timezone"):
        revoke(tmp_path, serial, when=datetime(2026, 1, 1))
    with pytest.raises(KeysError, match="in the future"):
        revoke(tmp_path, serial, when=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(KeysError, match="unknown revocation reason"):
        revoke(tmp_path, serial, reason="removeFromCRL")
    revoke(tmp_path, serial)
    with pytest.raises(KeysError, match="already revoked"):
        revoke(tmp_path, serial)
    keys = load_keys(tmp_path)
    assert keys.crl is not None and keys.document.revocations[0].reason == "unspecified"


# --- an agency's own CA --------------------------------------------------------------------------


def _agency_leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, san: str = HUB
) -> IssuedSigning:
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    cert = issue_signing_certificate(
        ca_key, ca_cert, key.public_key(), hub_id=san, agency="Agency", now=now
    )
    return IssuedSigning(cert, key)


def test_an_agency_ca_stands_in_for_the_root(tmp_path: Path) -> None:
    ca_key, ca_cert = make_root("Agency", datetime.now(UTC))
    keys = _init(tmp_path, ca_root=ca_cert, issued=_agency_leaf(ca_key, ca_cert))
    assert keys.root_cert == ca_cert and not (tmp_path / "keys" / "root.key.pem").exists()
    assert keys.document.root.key_file is None
    with pytest.raises(KeysError, match="--root-key"):
        keys.load_root_key()
    rotated = rotate(tmp_path, "signing", issued=_agency_leaf(ca_key, ca_cert))
    assert rotated.document.current.signing == "signing-2"
    verify_signing_certificate(rotated.chain, [ca_cert], at=datetime.now(UTC), hub_id=HUB, crl=None)


def test_an_agency_ca_with_an_intermediate(tmp_path: Path) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca(root_key)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _ca(mid_key, (root_key, root), cn="Agency issuing CA")
    first = _agency_leaf(mid_key, mid)
    keys = _init(tmp_path, ca_root=root, issued=IssuedSigning(first.certificate, first.key, (mid,)))
    assert keys.chain == tuple(_der(first.certificate, mid))
    assert (tmp_path / "keys" / "signing-1.chain.pem").is_file()
    assert load_keys(tmp_path).chain == keys.chain
    second = _agency_leaf(mid_key, mid)
    rotate(tmp_path, "signing", issued=IssuedSigning(second.certificate, second.key, (mid,)))
    with pytest.raises(KeysError, match="intermediate CA"):
        revoke(tmp_path, first.certificate.serial_number)


def test_agency_certificates_that_do_not_fit(tmp_path: Path) -> None:
    ca_key, ca_cert = make_root("Agency", datetime.now(UTC))
    good = _agency_leaf(ca_key, ca_cert)
    with pytest.raises(KeysError, match="both its root certificate"):
        _init(tmp_path, ca_root=ca_cert)
    with pytest.raises(KeysError, match="does not belong"):
        _init(
            tmp_path,
            ca_root=ca_cert,
            issued=IssuedSigning(good.certificate, Ed25519PrivateKey.generate()),
        )
    with pytest.raises(KeysError, match=r"not usable: .*names https://other\.example"):
        _init(
            tmp_path, ca_root=ca_cert, issued=_agency_leaf(ca_key, ca_cert, "https://other.example")
        )
    ed_key = Ed25519PrivateKey.generate()
    with pytest.raises(KeysError, match="ECDSA P-256"):
        _init(tmp_path, ca_root=_ca(ed_key), issued=good)
    _, other = make_root("Other", datetime.now(UTC))
    with pytest.raises(KeysError, match="not usable"):
        _init(tmp_path, ca_root=other, issued=good)
    assert not (tmp_path / "keys" / "keys.json").exists()
    _init(tmp_path)
    with pytest.raises(KeysError, match="only the signing certificate"):
        rotate(tmp_path, "log", issued=good)


# --- verify_signing_certificate ----------------------------------------------------------------


@pytest.fixture
def pki_at_t0() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return make_root("Agency", T0 - timedelta(days=1))


def test_verify_passes_inside_validity_and_fails_after_expiry(
    pki_at_t0: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    ca_key, root = pki_at_t0
    signer = Ed25519PrivateKey.generate()
    leaf = issue_signing_certificate(
        ca_key,
        root,
        signer.public_key(),
        hub_id=HUB,
        agency="A",
        now=T0,
        validity=timedelta(days=30),
    )
    inside = T0 + timedelta(days=10)
    key = verify_signing_certificate(_der(leaf), [root], at=inside, hub_id=HUB, crl=None)
    assert _raw(key) == _raw(signer.public_key())
    with pytest.raises(CertificateError, match="does not verify at 2026-02-15") as info:
        verify_signing_certificate(
            _der(leaf), [root], at=T0 + timedelta(days=45), hub_id=HUB, crl=None
        )
    assert "\n" not in str(info.value) and "encountered processing" not in str(info.value)
    with pytest.raises(CertificateError, match="does not verify"):
        verify_signing_certificate(
            _der(leaf), [root], at=T0 - timedelta(days=2), hub_id=HUB, crl=None
        )


def test_an_ed25519_ca_is_rejected() -> None:
    ca_key = Ed25519PrivateKey.generate()
    root = _ca(ca_key)
    leaf = _leaf(ca_key, root)
    with pytest.raises(CertificateError, match="Forbidden public key algorithm"):
        verify_signing_certificate(
            _der(leaf), [root], at=T0 + timedelta(days=1), hub_id=HUB, crl=None
        )


def test_wrong_eku_san_key_or_root_are_rejected(
    pki_at_t0: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    ca_key, root = pki_at_t0
    at = T0 + timedelta(days=1)
    client = _leaf(ca_key, root, eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    with pytest.raises(CertificateError, match="not provenance signing"):
        verify_signing_certificate(_der(client), [root], at=at, hub_id=HUB, crl=None)
    other = _leaf(ca_key, root, san="https://aq.example.kz.evil.example")
    with pytest.raises(CertificateError, match=r"not https://aq\.example\.kz or below it"):
        verify_signing_certificate(_der(other), [root], at=at, hub_id=HUB, crl=None)
    ecdsa_leaf = _leaf(ca_key, root, key=ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(CertificateError, match="Ed25519"):
        verify_signing_certificate(_der(ecdsa_leaf), [root], at=at, hub_id=HUB, crl=None)
    no_signing = _leaf(ca_key, root, usage=False)
    with pytest.raises(CertificateError, match="lacks digitalSignature"):
        verify_signing_certificate(_der(no_signing), [root], at=at, hub_id=HUB, crl=None)
    _, stranger = make_root("Stranger", T0 - timedelta(days=1))
    with pytest.raises(CertificateError, match="does not verify"):
        verify_signing_certificate(
            _der(_leaf(ca_key, root)), [stranger], at=at, hub_id=HUB, crl=None
        )


@pytest.mark.parametrize(
    ("hub_id", "san", "ok"),
    [
        (HUB, HUB, True),
        (HUB, HUB + "/agents/ingest/lihe", True),
        (HUB + "/", HUB + "/agents/x", True),
        (HUB, HUB + ":8443", False),
        ("urn:auasu:hub:h1", "urn:auasu:hub:h1:adapter:lihe", True),
        ("urn:auasu:hub:h1", "urn:auasu:hub:h10", False),
    ],
)
def test_san_must_name_the_hub_or_below_it(
    pki_at_t0: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], hub_id: str, san: str, ok: bool
) -> None:
    ca_key, root = pki_at_t0
    chain = _der(_leaf(ca_key, root, san=san))
    at = T0 + timedelta(days=1)
    if ok:
        verify_signing_certificate(chain, [root], at=at, hub_id=hub_id, crl=None)
    else:
        with pytest.raises(CertificateError, match="or below it"):
            verify_signing_certificate(chain, [root], at=at, hub_id=hub_id, crl=None)


def test_revocation_counts_only_from_its_date(
    pki_at_t0: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    ca_key, root = pki_at_t0
    leaf = _leaf(ca_key, root)
    revoked_at = T0 + timedelta(days=100)
    crl = build_crl(
        ca_key,
        root,
        [(leaf.serial_number, revoked_at, x509.ReasonFlags.key_compromise)],
        number=1,
        now=T0 + timedelta(days=101),
    )
    chain = _der(leaf)
    for at in (T0 + timedelta(days=1), revoked_at - timedelta(seconds=1)):
        verify_signing_certificate(chain, [root], at=at, hub_id=HUB, crl=crl)
    for at in (revoked_at, revoked_at + timedelta(days=1)):
        with pytest.raises(CertificateError, match="was revoked at 2026-04-11"):
            verify_signing_certificate(chain, [root], at=at, hub_id=HUB, crl=crl)
    other = _leaf(ca_key, root)
    verify_signing_certificate(_der(other), [root], at=revoked_at, hub_id=HUB, crl=crl)


def test_a_crl_from_another_key_is_rejected(
    pki_at_t0: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    ca_key, root = pki_at_t0
    forger = ec.generate_private_key(ec.SECP256R1())
    crl = build_crl(forger, root, [], number=1, now=T0)  # right issuer name, wrong key
    with pytest.raises(CertificateError, match="CRL is not signed"):
        verify_signing_certificate(
            _der(_leaf(ca_key, root)), [root], at=T0 + timedelta(days=1), hub_id=HUB, crl=crl
        )


def test_malformed_verification_input(
    pki_at_t0: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    ca_key, root = pki_at_t0
    chain = _der(_leaf(ca_key, root))
    at = T0 + timedelta(days=1)
    cases: list[tuple[list[bytes], list[x509.Certificate], datetime, str]] = [
        ([], [root], at, "chain is empty"),
        (chain, [], at, "no trusted root"),
        (chain, [root], at.replace(tzinfo=None), "timezone"),
        ([b"\x30\x03junk"], [root], at, "not DER"),
    ]
    for der, roots, when, message in cases:
        with pytest.raises(CertificateError, match=message):
            verify_signing_certificate(der, roots, at=when, hub_id=HUB, crl=None)


# --- names -------------------------------------------------------------------------------------


def test_names_derived_from_the_hub_id() -> None:
    assert pki.hub_host("https://Data.Example.kz:8443/auasu") == "data.example.kz"
    assert pki.hub_host("urn:auasu:hub:station-7") == "station-7"
    assert pki.default_origin("https://aq.example.kz") == "aq.example.kz/auasu/prov-log/v1"
    assert pki.witness_name("urn:auasu:hub:h1") == "h1/witness"
    with pytest.raises(KeysError, match="host name"):
        pki.hub_host("https://")
    assert pki.parse_reason("superseded") is x509.ReasonFlags.superseded
    assert pki.parse_reason("cessation_of_operation") is x509.ReasonFlags.cessation_of_operation
    with pytest.raises(KeysError, match="keyCompromise"):
        pki.parse_reason("KeyCompromised")
