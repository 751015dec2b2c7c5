"""Trust bundles: what a partner needs to check this hub's records offline (provenance.md §3).

A bundle lists the hub's root certificate(s), every log key with the time it was in use (old
keys stay listed with ``valid_until`` so old checkpoints still verify), the witness keys and the
agency running them, the current CRL and the predicate types the hub signs. The root signs the
canonical JSON of the body (ECDSA P-256, SHA-256). Partners pin the root's SHA-256 fingerprint
out of band (an MoU, a meeting) and check it on every bundle they accept.

This hub's own signed bundle is kept at ``<data_dir>/keys/trust-bundle.json`` (written by
``auasu keys export-trust``), so the running hub can publish it without the root key. Partner
bundles live in ``<data_dir>/trust/<name>.json``; a stored partner's root never changes
silently, and an older bundle never replaces a newer one.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_serializer

from hub.provenance.canonical import CanonicalError, canonical_json, utc_text
from hub.provenance.certificates import fingerprint
from hub.provenance.notes import (
    COSIGNATURE_TYPE,
    ED25519_TYPE,
    NoteError,
    parse_verifier_key,
    verifier_key,
)
from hub.provenance.pki import HubKeys, KeyEntry, KeyRole, KeysError, hub_host, keys_dir
from hub.provenance.records import PREDICATE_TYPE

OWN_BUNDLE = "trust-bundle.json"
_TRUST = "trust"
_PARTNER = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class TrustError(ValueError):
    """A trust bundle is unreadable, badly signed, or not the one pinned; one line says why."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LogKey(_Model):
    """A log key (C2SP verifier key text) and when it signed checkpoints."""

    name: str
    vkey: str
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None

    @field_serializer("valid_from", "valid_until")
    def _times(self, moment: datetime | None) -> str | None:
        return None if moment is None else utc_text(moment)


class WitnessKey(LogKey):
    """A witness key and the agency that runs it. Retired witness keys stay listed (with
    ``valid_until``) so cosignatures made before a rotation still count."""

    agency: str


class TrustBundleBody(_Model):
    """The signed content of a trust bundle."""

    version: Literal[1] = 1
    hub_id: str
    agency: str
    origin: str
    issued_at: AwareDatetime
    roots: tuple[str, ...] = Field(min_length=1)
    log_keys: tuple[LogKey, ...] = Field(min_length=1)
    witness_keys: tuple[WitnessKey, ...] = ()
    crl: str | None = None
    predicate_types: tuple[str, ...] = (PREDICATE_TYPE,)

    @field_serializer("issued_at")
    def _issued(self, moment: datetime) -> str:
        return utc_text(moment)

    def signed_bytes(self) -> bytes:
        """What the root signs: RFC 8785 JSON of the body (``None`` fields left out)."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    def root_certificates(self) -> list[x509.Certificate]:
        """The listed roots, parsed (the first one signs the bundle)."""
        try:
            return [x509.load_pem_x509_certificate(pem.encode()) for pem in self.roots]
        except ValueError:
            raise TrustError("a root in the trust bundle is not a PEM certificate") from None

    def revocation_list(self) -> x509.CertificateRevocationList | None:
        """The CRL, parsed."""
        if self.crl is None:
            return None
        try:
            return x509.load_pem_x509_crl(self.crl.encode())
        except ValueError:
            raise TrustError("the CRL in the trust bundle is not PEM") from None


class SignedTrustBundle(_Model):
    """A body and the root's base64 ECDSA-P256-SHA256 signature over ``body.signed_bytes()``."""

    body: TrustBundleBody
    signature: str
    signer: Literal["root"] = "root"


def build_trust_bundle(
    keys: HubKeys, *, root_key_file: Path | None = None, now: datetime | None = None
) -> SignedTrustBundle:
    """This hub's bundle, signed with its root key (from ``root_key_file`` when kept offline)."""
    document = keys.document
    pem = serialization.Encoding.PEM
    body = TrustBundleBody(
        hub_id=keys.hub_id,
        agency=keys.agency,
        origin=keys.origin,
        issued_at=now or datetime.now(UTC),
        roots=(keys.root_cert.public_bytes(pem).decode(),),
        log_keys=tuple(
            LogKey(
                name=e.name,
                vkey=vkey_of(e),
                valid_from=e.created_at,
                valid_until=e.retired_at,
            )
            for e in document.entries("log")
        ),
        witness_keys=tuple(
            WitnessKey(
                name=e.name,
                vkey=vkey_of(e),
                agency=keys.agency,
                valid_from=e.created_at,
                valid_until=e.retired_at,
            )
            for e in document.entries("witness")
        ),
        crl=None if keys.crl is None else keys.crl.public_bytes(pem).decode(),
    )
    root_key = keys.load_root_key(root_key_file)
    signature = root_key.sign(body.signed_bytes(), ec.ECDSA(hashes.SHA256()))
    return SignedTrustBundle(body=body, signature=base64.b64encode(signature).decode())


def verify_trust_bundle(
    bundle: SignedTrustBundle, *, pinned_root_sha256: str | None = None
) -> TrustBundleBody:
    """The body, once the first root's signature verifies and (if given) that root has the
    pinned SHA-256 fingerprint; the CRL and every key listed must be well formed. Without a pin
    this proves only that the bundle is intact: pin before trusting it."""
    body = bundle.body
    roots = body.root_certificates()
    signer = roots[0]
    if pinned_root_sha256 is not None:
        pinned = normalise_fingerprint(pinned_root_sha256)
        if fingerprint(signer) != pinned:
            raise TrustError(
                f"the bundle's root {fingerprint(signer)} is not the pinned root {pinned}"
            )
    public = signer.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise TrustError("the bundle's root does not hold an ECDSA P-256 key")
    try:
        signature = base64.b64decode(bundle.signature, validate=True)
        public.verify(signature, body.signed_bytes(), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, CanonicalError):
        raise TrustError(f"the trust bundle of {body.hub_id} is not signed by its root") from None
    crl = body.revocation_list()
    if crl is not None and not any(
        crl.issuer == root.subject
        and isinstance(key := root.public_key(), ec.EllipticCurvePublicKey)
        and crl.is_signature_valid(key)
        for root in roots
    ):
        raise TrustError("the CRL in the trust bundle is not signed by a listed root")
    listed = [(k, ED25519_TYPE) for k in body.log_keys]
    listed += [(k, COSIGNATURE_TYPE) for k in body.witness_keys]
    for entry, expected in listed:
        try:
            name, sig_type, _ = parse_verifier_key(entry.vkey)
        except (NoteError, ValueError) as exc:
            raise TrustError(f"key {entry.name!r} in the trust bundle: {exc}") from None
        if name != entry.name:
            raise TrustError(f"verifier key {entry.vkey!r} is not named {entry.name!r}")
        if sig_type != expected:
            raise TrustError(f"key {entry.name!r} has signature type {sig_type}, not {expected}")
    return body


def vkey_of(entry: KeyEntry) -> str:
    """The C2SP verifier key of a log key (note signatures, type 0x01) or a witness key
    (cosignature/v1, type 0x04)."""
    sig_type = COSIGNATURE_TYPE if entry.role == "witness" else ED25519_TYPE
    return verifier_key(entry.name, entry.public(), sig_type)


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as lower-case hex, from ``AB:CD:…`` or plain hex."""
    value = text.strip().replace(":", "").lower()
    if _SHA256.fullmatch(value) is None:
        raise TrustError(f"not a SHA-256 fingerprint (64 hex digits): {text!r}")
    return value


def root_fingerprint(body: TrustBundleBody) -> str:
    """SHA-256 of the signing (first) root: what a partner pins."""
    return fingerprint(body.root_certificates()[0])


def load_bundle(path: Path) -> SignedTrustBundle:
    """A signed bundle from a JSON file (not yet verified)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustError(f"cannot read trust bundle {path}: {exc.strerror or exc}") from None
    try:
        return SignedTrustBundle.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise TrustError(f"{path} is not a trust bundle: {where}: {first['msg']}") from None


def bundle_json(bundle: SignedTrustBundle) -> str:
    """The bundle as the JSON text partners receive."""
    return bundle.model_dump_json(indent=2, exclude_none=True) + "\n"


def save_bundle(bundle: SignedTrustBundle, path: Path) -> None:
    """Write ``bundle`` to ``path`` atomically (readers never see half a bundle)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(bundle_json(bundle), encoding="utf-8")
    os.replace(temporary, path)


# --- this hub's published bundle ---------------------------------------------------------------


def write_own_bundle(keys: HubKeys, *, root_key_file: Path | None = None) -> SignedTrustBundle:
    """Build, sign and store this hub's bundle where the running hub publishes it from."""
    bundle = build_trust_bundle(keys, root_key_file=root_key_file)
    save_bundle(bundle, keys_dir(keys.data_dir) / OWN_BUNDLE)
    return bundle


def own_bundle(data_dir: Path) -> SignedTrustBundle | None:
    """The stored bundle of this hub, or None before the first ``auasu keys export-trust``."""
    path = keys_dir(data_dir) / OWN_BUNDLE
    return load_bundle(path) if path.exists() else None


def stale_reason(body: TrustBundleBody, keys: HubKeys) -> str | None:
    """Why ``body`` no longer describes ``keys`` (rotated or revoked since), or None."""
    current = keys.document
    if root_fingerprint(body) != current.root.sha256:
        return "it names another root"
    roles: tuple[tuple[KeyRole, tuple[LogKey, ...]], ...] = (
        ("log", body.log_keys),
        ("witness", body.witness_keys),
    )
    for role, listed in roles:
        entries = current.entries(role)
        if [vkey_of(e) for e in entries] != [k.vkey for k in listed]:
            return f"the {role} keys changed"
        if [e.retired_at for e in entries] != [k.valid_until for k in listed]:
            return f"a {role} key was retired"
    pem = None if keys.crl is None else keys.crl.public_bytes(serialization.Encoding.PEM).decode()
    if body.crl != pem:
        return "the CRL changed"
    return None


# --- partner bundles ---------------------------------------------------------------------------


def trust_dir(data_dir: Path) -> Path:
    """``<data_dir>/trust``: one verified bundle per partner hub."""
    return Path(data_dir) / _TRUST


def partner_name(hub_id: str) -> str:
    """A store name derived from a partner's hub id (its host, lower case)."""
    try:
        host = hub_host(hub_id)
    except KeysError:
        host = ""
    name = re.sub(r"[^a-z0-9._-]+", "-", host).lstrip("._-")[:63]
    return name or "partner"


def add_partner_bundle(
    data_dir: Path,
    path: Path,
    *,
    name: str | None = None,
    pinned_root_sha256: str | None = None,
) -> tuple[str, str]:
    """Verify the bundle at ``path`` and store it as ``trust/<name>.json``; returns ``(name,
    root fingerprint)``. Replacing a stored partner requires the same root and a bundle at least
    as new; ``name`` must match ``[a-z0-9][a-z0-9._-]{0,62}`` (it becomes a file name)."""
    bundle = load_bundle(path)
    body = verify_trust_bundle(bundle, pinned_root_sha256=pinned_root_sha256)
    name = partner_name(body.hub_id) if name is None else name
    if _PARTNER.fullmatch(name) is None:
        raise TrustError(
            f"partner name must be 1-63 of a-z, 0-9, '.', '_', '-' (starting a-z0-9): {name!r}"
        )
    root = root_fingerprint(body)
    directory = trust_dir(data_dir)
    target = directory / f"{name}.json"
    if target.exists():
        stored = verify_trust_bundle(load_bundle(target))
        if root_fingerprint(stored) != root:
            raise TrustError(
                f"partner {name} is trusted with root {root_fingerprint(stored)}, not {root}: "
                f"remove {target} first to change it"
            )
        if body.issued_at < stored.issued_at:
            raise TrustError(
                f"this bundle of {name} ({utc_text(body.issued_at)}) is older than the stored "
                f"one ({utc_text(stored.issued_at)})"
            )
    directory.mkdir(parents=True, exist_ok=True)
    save_bundle(bundle, target)
    return name, root


def partner_bundles(data_dir: Path) -> dict[str, TrustBundleBody]:
    """Every stored partner bundle, re-verified, by name. Files whose names the store would
    never write are ignored, not trusted."""
    directory = trust_dir(data_dir)
    if not directory.is_dir():
        return {}
    found: dict[str, TrustBundleBody] = {}
    for path in sorted(directory.glob("*.json")):
        if _PARTNER.fullmatch(path.stem) is None:
            continue
        try:
            found[path.stem] = verify_trust_bundle(load_bundle(path))
        except TrustError as exc:
            raise TrustError(f"stored partner bundle {path}: {exc}") from None
    return found
