"""The hub's provenance identity: keys, certificates and revocations in ``<data_dir>/keys/``.

Four keys, each for one job (certs/README.md explains them for operators):

``root.key.pem`` / ``root.cert.pem``
    ECDSA P-256 self-signed root CA (10 years). It issues the signing certificate, signs the
    CRL and the trust bundle partners pin. P-256 because ``cryptography``'s path validation
    refuses Ed25519 keys on CA certificates (provenance.md §3).
``signing-N.key.pem`` / ``signing-N.cert.pem`` [/ ``signing-N.chain.pem``]
    Ed25519 leaf (1 year) that signs the DSSE provenance records; SAN URI = hub id, EKU
    :data:`PROVENANCE_SIGNING_EKU`, KeyUsage digitalSignature (critical).
``log-N.key.pem``
    Ed25519 raw key signing the log's C2SP checkpoints; its note name is the log origin.
``witness-N.key.pem``
    Ed25519 raw key cosigning partner hubs' checkpoints, named ``<hub host>/witness``.

``keys.json`` (:class:`KeysDocument`) says which generation of each is current and keeps every
earlier one (with its public key) so records signed before a rotation stay verifiable; nothing
is ever deleted. ``crl.pem`` is rewritten, signed by the root, on every revocation. Private keys
are PKCS#8 PEM, unencrypted (the hub starts unattended), mode 0600.

The root private key is read only when something is issued or signed with it (:meth:`HubKeys.
load_root_key`): rotating the signing certificate, revoking, exporting the trust bundle. The
running hub never needs it, so an agency may keep it offline (move ``root.key.pem`` to removable
media, pass ``--root-key FILE`` to those commands) and a compromised hub cannot mint new
identities. An agency's own CA can stand in for the generated root (:class:`IssuedSigning`).
"""

from __future__ import annotations

import base64
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator

from hub.provenance.certificates import (
    LEAF_VALIDITY,
    NAME_MAX,
    PROVENANCE_SIGNING_EKU,
    ROOT_VALIDITY,
    CertificateError,
    build_crl,
    fingerprint,
    issue_signing_certificate,
    make_root,
    verify_signing_certificate,
)
from hub.provenance.certificates import parse_reason as _reason_flag

# Re-exported: the brief names them here; they live in certificates.py (one module for X.509).
__all__ = [
    "LEAF_VALIDITY",
    "PROVENANCE_SIGNING_EKU",
    "ROOT_VALIDITY",
    "CertificateError",
    "fingerprint",
    "issue_signing_certificate",
    "verify_signing_certificate",
]

KeyRole = Literal["signing", "log", "witness"]

_KEYS = "keys"
_DOCUMENT = "keys.json"
_ROOT_KEY = "root.key.pem"
_ROOT_CERT = "root.cert.pem"
_CRL = "crl.pem"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_HUB_ID = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]{1,500}")
# C2SP signed-note key names: non-empty, no whitespace, no "+".
_NOTE_NAME = re.compile(r"[^\s+]{1,255}")


class KeysError(Exception):
    """The key directory or a key operation is unusable; the message is one line."""


class KeysExist(KeysError):
    """``init_keys`` found keys already there and was not told to replace them."""


class KeysMissing(KeysError):
    """No keys yet: ``auasu keys init`` has not been run for this data directory."""


# --- keys.json ---------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _file_name(value: str | None) -> str | None:
    # keys.json names files inside keys/ only; a path in it must never reach elsewhere.
    if value is not None and _FILE_NAME.fullmatch(value) is None:
        raise ValueError(f"not a plain file name: {value!r}")
    return value


class RootEntry(_Model):
    """The root CA: its certificate file and, unless kept offline, its key file."""

    cert_file: str
    key_file: str | None
    sha256: str

    @model_validator(mode="after")
    def _files(self) -> RootEntry:
        _file_name(self.cert_file)
        _file_name(self.key_file)
        return self


class KeyEntry(_Model):
    """One generation of one key; kept after rotation so old signatures stay checkable."""

    id: str
    role: KeyRole
    key_file: str
    cert_file: str | None = None
    chain_file: str | None = None
    serial: int | None = None
    name: str
    public_key: str
    created_at: AwareDatetime
    not_after: AwareDatetime | None = None
    retired_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _files(self) -> KeyEntry:
        for value in (self.id, self.key_file, self.cert_file, self.chain_file):
            _file_name(value)
        if (self.role == "signing") != (self.cert_file is not None and self.serial is not None):
            raise ValueError(f"{self.id}: only signing keys have a certificate and serial")
        return self

    def public(self) -> Ed25519PublicKey:
        """The entry's public key (readable even after its private key file is shredded)."""
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))


class Revocation(_Model):
    """A revoked signing certificate; ``revoked_at`` may precede ``recorded_at`` (compromise)."""

    serial: int
    reason: str
    revoked_at: AwareDatetime
    recorded_at: AwareDatetime


class CurrentKeys(_Model):
    """Ids (``KeyEntry.id``) of the generations in use."""

    signing: str
    log: str
    witness: str


class KeysDocument(_Model):
    """``keys/keys.json``: the hub's identity and the full history of its keys."""

    version: Literal[1] = 1
    hub_id: str
    agency: str
    origin: str
    root: RootEntry
    current: CurrentKeys
    history: tuple[KeyEntry, ...]
    revocations: tuple[Revocation, ...] = ()
    crl_file: str | None = None
    crl_number: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> KeysDocument:
        _file_name(self.crl_file)
        ids = {entry.id: entry.role for entry in self.history}
        if len(ids) != len(self.history):
            raise ValueError("duplicate key ids in history")
        for role in ("signing", "log", "witness"):
            if ids.get(getattr(self.current, role)) != role:
                raise ValueError(f"current {role} key is not a {role} entry of the history")
        return self

    def entry(self, entry_id: str) -> KeyEntry:
        """The history entry with this id (ids are checked unique and present)."""
        return next(entry for entry in self.history if entry.id == entry_id)

    def entries(self, role: KeyRole) -> tuple[KeyEntry, ...]:
        """Every generation of ``role``, oldest first."""
        return tuple(entry for entry in self.history if entry.role == role)


# --- the loaded keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HubKeys:
    """What the hub signs with, loaded from ``keys/`` (the root private key excepted)."""

    data_dir: Path
    hub_id: str
    agency: str
    origin: str
    root_cert: x509.Certificate
    signing_cert: x509.Certificate
    signing_key: Ed25519PrivateKey
    chain: tuple[bytes, ...]
    log_key: Ed25519PrivateKey
    log_name: str
    witness_key: Ed25519PrivateKey
    witness_name: str
    crl: x509.CertificateRevocationList | None
    document: KeysDocument

    def load_root_key(self, path: Path | None = None) -> ec.EllipticCurvePrivateKey:
        """The root CA key, from ``path`` (offline media) or else ``keys/``; checked to match."""
        return _root_key(keys_dir(self.data_dir), self.document, self.root_cert, path)


@dataclass(frozen=True, slots=True)
class IssuedSigning:
    """A signing certificate issued by an agency's own CA, its key, and any intermediates
    (issuer first) between it and that CA's root."""

    certificate: x509.Certificate
    key: Ed25519PrivateKey
    intermediates: tuple[x509.Certificate, ...] = ()


def keys_dir(data_dir: Path) -> Path:
    """``<data_dir>/keys``."""
    return Path(data_dir) / _KEYS


def hub_host(hub_id: str) -> str:
    """The host a hub id names: the URL host, or the last part of a URN."""
    host = (urlsplit(hub_id).hostname or "") if "//" in hub_id else hub_id.rsplit(":", 1)[-1]
    host = host.strip("/").lower()
    if not host or _NOTE_NAME.fullmatch(host) is None:
        raise KeysError(f"cannot tell a host name from hub id {hub_id!r}")
    return host


def witness_name(hub_id: str) -> str:
    """The note name of this hub's witness key."""
    return f"{hub_host(hub_id)}/witness"


def default_origin(hub_id: str) -> str:
    """The log origin used unless the operator names one."""
    return f"{hub_host(hub_id)}/auasu/prov-log/v1"


def parse_reason(text: str) -> x509.ReasonFlags:
    """A CRL reason from its RFC 5280 name (``keyCompromise``) or ``key_compromise``."""
    try:
        return _reason_flag(text)
    except ValueError as exc:
        raise KeysError(str(exc)) from None


# --- init, load, rotate, revoke ----------------------------------------------------------------


def init_keys(
    data_dir: Path,
    *,
    hub_id: str,
    agency: str,
    origin: str,
    force: bool = False,
    ca_root: x509.Certificate | None = None,
    issued: IssuedSigning | None = None,
) -> HubKeys:
    """Create every key in ``<data_dir>/keys``. ``ca_root`` and ``issued`` (together) adopt an
    agency's CA instead of generating a root. ``force`` moves existing keys aside to
    ``keys.replaced-<time>/`` (never deletes them); without it existing keys raise KeysExist."""
    hub_id, agency, origin = _check_hub_id(hub_id), _check_agency(agency), _check_name(origin)
    witness = witness_name(hub_id)
    if (ca_root is None) != (issued is None):
        raise KeysError("an agency CA needs both its root certificate and the signing certificate")
    now = _now()
    if ca_root is not None and issued is not None:
        _check_issued(issued, ca_root, hub_id, now)
    directory = keys_dir(data_dir)
    # Any file at all (even a half-finished init) counts: keys are never overwritten.
    if directory.is_dir() and any(directory.iterdir()):
        if not force:
            raise KeysExist(f"keys already exist in {directory} (use --force to replace them)")
        directory.rename(directory.with_name(f"keys.replaced-{now:%Y%m%dT%H%M%SZ}"))
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    entries: list[KeyEntry] = []
    if ca_root is None or issued is None:
        root_key, ca_root = make_root(agency, now)
        _write_private(directory / _ROOT_KEY, root_key)
        signing_key = Ed25519PrivateKey.generate()
        cert = issue_signing_certificate(
            root_key, ca_root, signing_key.public_key(), hub_id=hub_id, agency=agency, now=now
        )
        issued = IssuedSigning(cert, signing_key)
        root_file: str | None = _ROOT_KEY
    else:
        root_file = None
    root = RootEntry(cert_file=_ROOT_CERT, key_file=root_file, sha256=fingerprint(ca_root))
    _write_public(directory / _ROOT_CERT, ca_root.public_bytes(serialization.Encoding.PEM))
    entries.append(_store_signing(directory, "signing-1", issued, hub_id, now))
    entries.append(_store_raw(directory, "log-1", "log", origin, now))
    entries.append(_store_raw(directory, "witness-1", "witness", witness, now))
    document = KeysDocument(
        hub_id=hub_id,
        agency=agency,
        origin=origin,
        root=root,
        current=CurrentKeys(signing="signing-1", log="log-1", witness="witness-1"),
        history=tuple(entries),
    )
    _save(directory, document)
    return _hub_keys(Path(data_dir), document)


def load_keys(data_dir: Path) -> HubKeys:
    """The hub's keys; KeysMissing when ``auasu keys init`` has not been run."""
    return _hub_keys(Path(data_dir), _load_document(keys_dir(data_dir)))


def rotate(
    data_dir: Path,
    which: KeyRole,
    *,
    revoke_old: bool = False,
    reason: str = "superseded",
    origin: str | None = None,
    issued: IssuedSigning | None = None,
    root_key_file: Path | None = None,
) -> HubKeys:
    """Start a new generation of ``which``; the old one is marked retired, never removed.

    ``signing``: a new Ed25519 key and certificate from the root (or ``issued`` by the agency's
    CA); ``revoke_old`` also revokes the old certificate now. ``log``: a new log key, under the
    new ``origin`` if given (the old key keeps its own name). ``witness``: a new witness key."""
    directory = keys_dir(data_dir)
    document = _load_document(directory)
    now = _now()
    if which != "signing" and (revoke_old or issued is not None):
        raise KeysError(
            f"only the signing certificate can be revoked or issued elsewhere; an old {which} "
            "key stops being valid when it is rotated (valid_until in the trust bundle)"
        )
    if which != "log" and origin is not None:
        raise KeysError("a new origin goes with a new log key (rotate log)")
    if revoke_old:
        parse_reason(reason)
    old = document.entry(getattr(document.current, which))
    new_id = _next_id(directory, document, which)
    update: dict[str, object] = {}
    revocations = document.revocations
    if which == "signing":
        root_cert = _read_cert(directory / document.root.cert_file)
        root_key = None
        if issued is None or revoke_old:
            root_key = _root_key(directory, document, root_cert, root_key_file)
        if issued is None:
            assert root_key is not None
            key = Ed25519PrivateKey.generate()
            cert = issue_signing_certificate(
                root_key,
                root_cert,
                key.public_key(),
                hub_id=document.hub_id,
                agency=document.agency,
                now=now,
            )
            issued = IssuedSigning(cert, key)
        else:
            _check_issued(issued, root_cert, document.hub_id, now)
        entry = _store_signing(directory, new_id, issued, document.hub_id, now)
        if revoke_old:
            assert old.serial is not None and root_key is not None
            revocations = (*revocations, _revocation(old.serial, reason, now, now))
            update |= _write_crl(directory, document, root_key, root_cert, revocations, now)
    elif which == "log":
        name = _check_name(origin) if origin is not None else document.origin
        entry = _store_raw(directory, new_id, "log", name, now)
        update["origin"] = name
    else:
        entry = _store_raw(directory, new_id, "witness", witness_name(document.hub_id), now)
    history = tuple(
        e.model_copy(update={"retired_at": now}) if e.id == old.id else e for e in document.history
    )
    current = document.current.model_copy(update={which: new_id})
    changed = document.model_copy(
        update={
            **update,
            "history": (*history, entry),
            "current": current,
            "revocations": revocations,
        }
    )
    # model_copy skips validation; keys.json must never be written in a state load refuses.
    document = KeysDocument.model_validate(changed.model_dump())
    _save(directory, document)
    return _hub_keys(Path(data_dir), document)


def revoke(
    data_dir: Path,
    serial: int,
    *,
    reason: str = "unspecified",
    when: datetime | None = None,
    root_key_file: Path | None = None,
) -> HubKeys:
    """Revoke a signing certificate this hub was issued, as of ``when`` (default now; for
    ``keyCompromise`` the estimated compromise time), and rewrite ``crl.pem``."""
    directory = keys_dir(data_dir)
    document = _load_document(directory)
    now = _now()
    when = now if when is None else when
    if when.tzinfo is None:
        raise KeysError("the revocation time needs a timezone")
    if when > now:
        raise KeysError(f"the revocation time {when.isoformat()} is in the future")
    entry = next((e for e in document.entries("signing") if e.serial == serial), None)
    if entry is None:
        raise KeysError(f"no signing certificate with serial {serial:x} was issued to this hub")
    if any(r.serial == serial for r in document.revocations):
        raise KeysError(f"certificate {serial:x} is already revoked")
    if entry.id == document.current.signing:
        raise KeysError(
            f"certificate {serial:x} is the one in use: run `auasu keys rotate signing "
            "--revoke-old` to replace and revoke it"
        )
    root_cert = _read_cert(directory / document.root.cert_file)
    assert entry.cert_file is not None
    if _read_cert(directory / entry.cert_file).issuer != root_cert.subject:
        raise KeysError(f"certificate {serial:x} was issued by an intermediate CA: revoke it there")
    root_key = _root_key(directory, document, root_cert, root_key_file)
    revocations = (*document.revocations, _revocation(serial, reason, when, now))
    crl = _write_crl(directory, document, root_key, root_cert, revocations, now)
    document = document.model_copy(update={**crl, "revocations": revocations})
    _save(directory, document)
    return _hub_keys(Path(data_dir), document)


# --- issuing -----------------------------------------------------------------------------------


def _check_issued(
    issued: IssuedSigning, root: x509.Certificate, hub_id: str, now: datetime
) -> None:
    public = root.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise KeysError("the agency root must hold an ECDSA P-256 key (it signs the trust bundle)")
    if _raw(issued.key.public_key()) != _raw_of(issued.certificate):
        raise KeysError("the signing key does not belong to the signing certificate")
    chain = [
        c.public_bytes(serialization.Encoding.DER)
        for c in (issued.certificate, *issued.intermediates)
    ]
    try:
        verify_signing_certificate(chain, [root], at=now, hub_id=hub_id, crl=None)
    except CertificateError as exc:
        raise KeysError(f"the agency's signing certificate is not usable: {exc}") from exc


def _revocation(serial: int, reason: str, when: datetime, now: datetime) -> Revocation:
    return Revocation(
        serial=serial, reason=parse_reason(reason).value, revoked_at=when, recorded_at=now
    )


def _write_crl(
    directory: Path,
    document: KeysDocument,
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    revocations: Sequence[Revocation],
    now: datetime,
) -> dict[str, object]:
    number = document.crl_number + 1
    revoked = [(r.serial, r.revoked_at, parse_reason(r.reason)) for r in revocations]
    crl = build_crl(root_key, root_cert, revoked, number=number, now=now)
    _write_public(directory / _CRL, crl.public_bytes(serialization.Encoding.PEM))
    return {"crl_file": _CRL, "crl_number": number}


# --- files -------------------------------------------------------------------------------------


def _now() -> datetime:
    # X.509 times have whole seconds; keys.json and certificates then agree exactly.
    return datetime.now(UTC).replace(microsecond=0)


def _check_hub_id(value: str) -> str:
    if _HUB_ID.fullmatch(value) is None:
        raise KeysError(
            f"hub id must be an ASCII URI without spaces (https://… or urn:…), got {value!r}"
        )
    return value


def _check_agency(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not 1 <= len(value) <= NAME_MAX or not value.isprintable():
        raise KeysError(f"agency must be 1 to {NAME_MAX} printable characters, got {value!r}")
    return value


def _check_name(value: str) -> str:
    if _NOTE_NAME.fullmatch(value) is None:
        raise KeysError(f"log origin must be non-empty without spaces or '+', got {value!r}")
    return value


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_of(cert: x509.Certificate) -> bytes:
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeysError(f"certificate {cert.serial_number:x} does not hold an Ed25519 key")
    return _raw(key)


def _next_id(directory: Path, document: KeysDocument, role: KeyRole) -> str:
    number = len(document.entries(role)) + 1
    # A crash between writing a key file and keys.json leaves an orphan; never reuse its name.
    while any(directory.glob(f"{role}-{number}.*")):
        number += 1
    return f"{role}-{number}"


def _store_signing(
    directory: Path, entry_id: str, issued: IssuedSigning, hub_id: str, now: datetime
) -> KeyEntry:
    cert = issued.certificate
    _write_private(directory / f"{entry_id}.key.pem", issued.key)
    _write_public(directory / f"{entry_id}.cert.pem", cert.public_bytes(serialization.Encoding.PEM))
    chain_file = None
    if issued.intermediates:
        chain_file = f"{entry_id}.chain.pem"
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.intermediates)
        _write_public(directory / chain_file, pem)
    return KeyEntry(
        id=entry_id,
        role="signing",
        key_file=f"{entry_id}.key.pem",
        cert_file=f"{entry_id}.cert.pem",
        chain_file=chain_file,
        serial=cert.serial_number,
        name=hub_id,
        public_key=base64.b64encode(_raw_of(cert)).decode(),
        created_at=now,
        not_after=cert.not_valid_after_utc,
    )


def _store_raw(directory: Path, entry_id: str, role: KeyRole, name: str, now: datetime) -> KeyEntry:
    key = Ed25519PrivateKey.generate()
    _write_private(directory / f"{entry_id}.key.pem", key)
    return KeyEntry(
        id=entry_id,
        role=role,
        key_file=f"{entry_id}.key.pem",
        name=name,
        public_key=base64.b64encode(_raw(key.public_key())).decode(),
        created_at=now,
    )


def _write_private(path: Path, key: PrivateKeyTypes) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created 0600 from the first byte (no window where another user could read it); O_EXCL so
    # an existing key is never overwritten.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def _write_public(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.chmod(0o644)
    os.replace(temporary, path)


def _save(directory: Path, document: KeysDocument) -> None:
    _write_public(directory / _DOCUMENT, document.model_dump_json(indent=2).encode() + b"\n")


def _load_document(directory: Path) -> KeysDocument:
    path = directory / _DOCUMENT
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeysMissing(f"no provenance keys in {directory}: run `auasu keys init`") from None
    try:
        return KeysDocument.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise KeysError(f"{path} is not a valid keys file: {where}: {first['msg']}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeysError(f"missing key file {path}") from None


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(path))
    except ValueError:
        raise KeysError(f"{path} is not a PEM certificate") from None


def _read_certs(path: Path) -> tuple[x509.Certificate, ...]:
    try:
        return tuple(x509.load_pem_x509_certificates(_read(path)))
    except ValueError:
        raise KeysError(f"{path} is not a PEM certificate bundle") from None


def _read_private(path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError):
        raise KeysError(f"{path} is not an unencrypted PEM PKCS#8 private key") from None


def _read_ed25519(path: Path) -> Ed25519PrivateKey:
    key = _read_private(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeysError(f"{path} does not hold an Ed25519 key")
    return key


def _read_entry_key(directory: Path, entry: KeyEntry) -> Ed25519PrivateKey:
    key = _read_ed25519(directory / entry.key_file)
    # The trust bundle publishes keys.json's public key: a swapped file would sign unverifiably.
    if _raw(key.public_key()) != _raw(entry.public()):
        raise KeysError(f"{directory / entry.key_file} is not the {entry.id} key keys.json names")
    return key


def _root_key(
    directory: Path, document: KeysDocument, root_cert: x509.Certificate, path: Path | None
) -> ec.EllipticCurvePrivateKey:
    if path is None:
        if document.root.key_file is None or not (directory / document.root.key_file).exists():
            raise KeysError(
                f"the root key is not in {directory} (kept offline?): pass --root-key FILE"
            )
        path = directory / document.root.key_file
    key = _read_private(path)
    public = root_cert.public_key()
    if (
        not isinstance(key, ec.EllipticCurvePrivateKey)
        or not isinstance(public, ec.EllipticCurvePublicKey)
        or key.public_key().public_numbers() != public.public_numbers()
    ):
        raise KeysError(
            f"{path} is not the key of the root certificate {document.root.sha256[:16]}"
        )
    return key


def _hub_keys(data_dir: Path, document: KeysDocument) -> HubKeys:
    directory = keys_dir(data_dir)
    root_cert = _read_cert(directory / document.root.cert_file)
    if fingerprint(root_cert) != document.root.sha256:
        raise KeysError(f"{directory / document.root.cert_file} is not the root keys.json names")
    signing = document.entry(document.current.signing)
    assert signing.cert_file is not None
    signing_cert = _read_cert(directory / signing.cert_file)
    signing_key = _read_ed25519(directory / signing.key_file)
    if _raw(signing_key.public_key()) != _raw_of(signing_cert):
        raise KeysError(f"{directory / signing.key_file} does not match its certificate")
    intermediates = _read_certs(directory / signing.chain_file) if signing.chain_file else ()
    log = document.entry(document.current.log)
    witness = document.entry(document.current.witness)
    crl = None
    if document.crl_file is not None:
        try:
            crl = x509.load_pem_x509_crl(_read(directory / document.crl_file))
        except ValueError:
            raise KeysError(f"{directory / document.crl_file} is not a PEM CRL") from None
    return HubKeys(
        data_dir=data_dir,
        hub_id=document.hub_id,
        agency=document.agency,
        origin=document.origin,
        root_cert=root_cert,
        signing_cert=signing_cert,
        signing_key=signing_key,
        chain=tuple(
            c.public_bytes(serialization.Encoding.DER) for c in (signing_cert, *intermediates)
        ),
        log_key=_read_entry_key(directory, log),
        log_name=log.name,
        witness_key=_read_entry_key(directory, witness),
        witness_name=witness.name,
        crl=crl,
        document=document,
    )
