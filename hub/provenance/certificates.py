"""X.509 for provenance: issuing the hub's root and signing certificates, CRLs, and verifying
a record's signing-certificate chain at the record's log time.

All use of ``cryptography.x509.verification`` (documented as unstable; the version is pinned)
is kept in this one module (provenance.md §5.10). CA keys are ECDSA P-256 because that path
validation refuses Ed25519 keys on CA certificates (provenance.md §3); the signing leaf is
Ed25519. The offline verifier needs only this module, never the hub's key store (:mod:`.pki`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

PROVENANCE_SIGNING_EKU = x509.ObjectIdentifier("2.25.157142682231010808669710107017670961185")
"""Extended key usage "AuaSu provenance signing": the ITU-T X.667 UUID arc (2.25) with the
fixed UUID 76389468-db99-4c5b-81ff-513d381e2821, so no OID registration is needed."""

ROOT_VALIDITY = timedelta(days=3652)
LEAF_VALIDITY = timedelta(days=365)
CRL_VALIDITY = timedelta(days=365)
# Certificates start a little in the past: a partner's clock (and so a witness time) may lag.
_SKEW = timedelta(minutes=5)
# X.509 caps a common name (and an organisation name) at 64 characters.
NAME_MAX = 64


class CertificateError(ValueError):
    """A signing certificate chain does not verify; the message is one line saying why."""


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex (what partners pin)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def parse_reason(text: str) -> x509.ReasonFlags:
    """A CRL reason from its RFC 5280 name (``keyCompromise``) or ``key_compromise``; ValueError
    for anything else (``removeFromCRL`` too: it belongs to delta CRLs, which we never issue)."""
    usable = [f for f in x509.ReasonFlags if f is not x509.ReasonFlags.remove_from_crl]
    for flag in usable:
        if text in (flag.value, flag.name):
            return flag
    names = ", ".join(f.value for f in usable)
    raise ValueError(f"unknown revocation reason {text!r} (one of {names})")


# --- issuing -----------------------------------------------------------------------------------


def _key_usage(*, sign: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _subject(agency: str, role: str) -> x509.Name:
    # A long agency name stays whole in O; the CN then carries the role alone.
    common = f"{agency} {role}"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency),
            x509.NameAttribute(NameOID.COMMON_NAME, common if len(common) <= NAME_MAX else role),
        ]
    )


def make_root(agency: str, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and its self-signed root CA certificate, CN "<agency> AuaSu provenance
    root", valid for :data:`ROOT_VALIDITY`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _subject(agency, "AuaSu provenance root")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_signing_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: Ed25519PublicKey,
    *,
    hub_id: str,
    agency: str,
    now: datetime | None = None,
    validity: timedelta = LEAF_VALIDITY,
) -> x509.Certificate:
    """A provenance signing certificate for ``public_key`` issued by ``ca_cert``: SAN URI
    ``hub_id``, EKU :data:`PROVENANCE_SIGNING_EKU`, KeyUsage digitalSignature (critical). It
    never outlives its issuer."""
    now = datetime.now(UTC).replace(microsecond=0) if now is None else now
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_subject(agency, "AuaSu provenance signing"))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([PROVENANCE_SIGNING_EKU]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(hub_id)]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def build_crl(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    revoked: Sequence[tuple[int, datetime, x509.ReasonFlags]],
    *,
    number: int,
    now: datetime,
) -> x509.CertificateRevocationList:
    """A CRL by ``ca_cert`` listing ``(serial, revocation time, reason)``, CRL number
    ``number``. The revocation time may be in the past (the estimated compromise time)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    for serial, when, reason in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(when)
            .add_extension(x509.CRLReason(reason), critical=False)
            .build()
        )
    return builder.sign(ca_key, hashes.SHA256())


# --- verification ------------------------------------------------------------------------------


def _require_eku(_policy: Policy, _cert: x509.Certificate, ext: x509.ExtendedKeyUsage) -> None:
    if PROVENANCE_SIGNING_EKU not in ext:
        raise ValueError("extended key usage is not provenance signing")


def _require_signing(_policy: Policy, _cert: x509.Certificate, ext: x509.KeyUsage) -> None:
    if not ext.digital_signature:
        raise ValueError("key usage lacks digitalSignature")


_EE_POLICY = (
    ExtensionPolicy.webpki_defaults_ee()
    .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_eku)
    .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_signing)
    .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
)


def verify_signing_certificate(
    chain_der: Sequence[bytes],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime,
    hub_id: str,
    crl: x509.CertificateRevocationList | None,
) -> Ed25519PublicKey:
    """The leaf's public key if ``chain_der`` (leaf first, then any intermediates) leads to one
    of ``roots`` at time ``at`` (the record's log time), names ``hub_id`` or a URI below it, is
    for provenance signing, and was not revoked by ``crl`` at or before ``at``. ``crl`` must be
    signed by the leaf's issuer (the root, in a hub's own PKI). CertificateError otherwise."""
    if at.tzinfo is None:
        raise CertificateError("the verification time needs a timezone")
    if not chain_der:
        raise CertificateError("the certificate chain is empty")
    if not roots:
        raise CertificateError("no trusted root certificates")
    try:
        certs = [x509.load_der_x509_certificate(bytes(der)) for der in chain_der]
    except ValueError as exc:
        raise CertificateError(f"the certificate chain is not DER: {_first_line(exc)}") from exc
    leaf = certs[0]
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(at)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, certs[1:])
    except VerificationError as exc:
        raise CertificateError(
            f"certificate {leaf.serial_number:x} does not verify at {at.isoformat()}: "
            f"{_first_line(exc)}"
        ) from exc
    key = leaf.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError(f"certificate {leaf.serial_number:x} does not hold an Ed25519 key")
    uris = [
        name.value
        for name in verified.subjects or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
    if not any(_names_hub(uri, hub_id) for uri in uris):
        raise CertificateError(
            f"certificate {leaf.serial_number:x} names {', '.join(uris) or 'no URI'}, "
            f"not {hub_id} or below it"
        )
    if crl is not None:
        _check_crl(crl, leaf, verified.chain[1], at)
    return key


def _names_hub(uri: str, hub_id: str) -> bool:
    if uri == hub_id:
        return True
    # Below a URL means a path under it; below a URN means more colon-separated parts.
    separator = ":" if hub_id.lower().startswith("urn:") else "/"
    return uri.startswith(hub_id.rstrip(separator) + separator)


def _check_crl(
    crl: x509.CertificateRevocationList,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    at: datetime,
) -> None:
    public = issuer.public_key()
    signed = isinstance(public, ec.EllipticCurvePublicKey) and crl.is_signature_valid(public)
    if crl.issuer != issuer.subject or not signed:
        raise CertificateError("the CRL is not signed by the certificate's issuer")
    revoked = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    if revoked is not None and revoked.revocation_date_utc <= at:
        raise CertificateError(
            f"certificate {leaf.serial_number:x} was revoked at "
            f"{revoked.revocation_date_utc.isoformat()}, not after {at.isoformat()}"
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # cryptography appends the whole certificate's repr; the reason is what matters.
    return text.split(" (encountered processing")[0]
