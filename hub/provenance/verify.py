"""The offline verifier (provenance.md §5.7): one observation, its bundle, the producer's trust
bundle, optionally the raw bytes; no network unless a consistency proof must be fetched.

:func:`verify_bundle` runs steps 1-8 in order -- trust bundle, observation, batch inclusion,
envelope, log inclusion and checkpoint (with ``state_dir``: consistency with the last
checkpoint seen), certificate at log time, DSSE signature, raw bytes -- and reports every check
that could run; ``Verdict.failed`` names the first that failed. :func:`replay_check` is step 9:
re-running the recorded adapter on the raw bytes.

Everything that depends only on the record (its canonical leaf, the parsed statement, the
certificate chain at log time, the signature) or only on the checkpoint or the trust bundle is
verified once and remembered, keyed by the exact bytes it was computed from, so checking the
observations of one batch costs a core hash and two Merkle proofs each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.provenance import dsse, merkle, notes
from hub.provenance.bundle import ProvBundle, harvested_core, note_body
from hub.provenance.canonical import (
    CanonicalError,
    binding_bytes,
    core_bytes,
    utc_text,
)
from hub.provenance.certificates import CertificateError, verify_signing_certificate
from hub.provenance.records import PAYLOAD_TYPE, Envelope, Statement, parse_payload
from hub.provenance.sealer import envelope_bytes
from hub.provenance.trust import SignedTrustBundle, TrustBundleBody, TrustError, verify_trust_bundle

__all__ = [
    "Check",
    "Verdict",
    "verify_bundle",
]

_NOT_CHECKED = "not checked: "
_CACHE_LIMIT = 4096
_CONSISTENCY_PATH = "/prov/log/proof/consistency?from={old}&to={new}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Check(_Model):
    """One verification step: passed or not, and one line saying why."""

    name: str
    ok: bool
    detail: str

    @property
    def skipped(self) -> bool:
        """True when the step could not run because an earlier one gave it nothing to use."""
        return not self.ok and self.detail.startswith(_NOT_CHECKED)


class Verdict(_Model):
    """The verifier's answer (provenance.md §5.7 step 10)."""

    ok: bool
    checks: list[Check]
    failed: str | None
    assurance: str | None
    agency: str | None
    devices: list[str]
    adapter: str | None
    t_log: str | None

    def first_failure(self) -> Check | None:
        """The check ``failed`` names (a real failure before one that could not run)."""
        failing = [check for check in self.checks if not check.ok]
        real = [check for check in failing if not check.skipped]
        first = real or failing
        return first[0] if first else None


def check_passed(name: str, detail: str) -> Check:
    return Check(name=name, ok=True, detail=detail)


def check_failed(name: str, detail: str) -> Check:
    return Check(name=name, ok=False, detail=" ".join(detail.split()))


def _skip(name: str, why: str) -> Check:
    return Check(name=name, ok=False, detail=_NOT_CHECKED + why)


def first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "value"
        return f"{where}: {error['msg']}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Cache(dict[Any, Any]):
    """A bounded memo: emptied when full (entries are cheap to recompute, and keys are the
    exact inputs, so nothing stale can be served)."""

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[key] = value
        return value


# --- step 1: the trust bundle ----------------------------------------------------------------

_serials = itertools.count(1)


@dataclass(frozen=True, slots=True)
class _Trust:
    serial: int
    check: Check
    body: TrustBundleBody | None = None
    roots: tuple[x509.Certificate, ...] = ()
    crl: x509.CertificateRevocationList | None = None
    log_keys: tuple[tuple[str, Ed25519PublicKey], ...] = ()
    witnesses: tuple[tuple[str, Ed25519PublicKey], ...] = ()


_trusts = _Cache()


def _named_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    name, _sig_type, public = notes.parse_verifier_key(vkey)
    return name, public


def _trust(bundle: SignedTrustBundle, pinned: str | None) -> _Trust:
    # Frozen models: the same object (kept alive by the cache) is the same content.
    found = _trusts.get(id(bundle))
    if found is not None and found[0] is bundle and found[1] == pinned:
        return found[2]  # type: ignore[no-any-return]
    try:
        body = verify_trust_bundle(bundle, pinned_root_sha256=pinned)
        roots = tuple(body.root_certificates())
        crl = body.revocation_list()
        log_keys = tuple(_named_key(k.vkey) for k in body.log_keys)
        witnesses = tuple(_named_key(k.vkey) for k in body.witness_keys)
    except (TrustError, notes.NoteError, ValueError) as exc:
        result = _Trust(next(_serials), check_failed("trust", first_line(exc)))
    else:
        pin = "pinned root" if pinned else "root (not pinned: pass the root's SHA-256 to pin it)"
        detail = f"trust bundle of {body.hub_id} ({body.agency}) is signed by its {pin}"
        result = _Trust(
            serial=next(_serials),
            check=check_passed("trust", detail),
            body=body,
            roots=roots,
            crl=crl,
            log_keys=log_keys,
            witnesses=witnesses,
        )
    _trusts.put(id(bundle), (bundle, pinned, result))
    return result


# --- the record: what depends on the envelope alone -------------------------------------------


@dataclass(slots=True)
class _Record:
    leaf_hash: bytes
    digest: str
    loose: dict[str, Any] | None  # the payload as JSON, whether or not it validates
    statement: Statement | None
    envelope_error: str | None
    certificates: dict[Any, tuple[Ed25519PublicKey | None, Check]] = field(default_factory=dict)
    signatures: dict[str, Check] = field(default_factory=dict)


_records = _Cache()


def _record_key(envelope: Envelope) -> tuple[Any, ...]:
    return (
        envelope.payload,
        envelope.payloadType,
        tuple((s.keyid, s.sig) for s in envelope.signatures),
    )


def record_of(envelope: Envelope) -> _Record:
    key = _record_key(envelope)
    found: _Record | None = _records.get(key)
    if found is not None:
        return found
    leaf = envelope_bytes(envelope)
    loose: dict[str, Any] | None = None
    statement: Statement | None = None
    error: str | None = None
    try:
        payload = base64.b64decode(envelope.payload, validate=True)
        value = json.loads(payload)
        loose = value if isinstance(value, dict) else None
    except (binascii.Error, ValueError) as exc:
        error = f"the payload is not base64 JSON: {first_line(exc)}"
    if error is None:
        if envelope.payloadType != PAYLOAD_TYPE:
            error = f"payloadType is {envelope.payloadType!r}, not {PAYLOAD_TYPE!r}"
        else:
            try:
                statement = parse_payload(payload)
            except CanonicalError as exc:
                error = f"the payload is not canonical: {first_line(exc)}"
            except ValidationError as exc:
                error = f"the payload is not a valid statement: {first_line(exc)}"
    if statement is not None:
        root = statement.predicate.observations.root.sha256
        if statement.subject[0].digest.get("sha256") != root:
            error = "the subject's digest is not the batch root (predicate.observations.root)"
    record = _Record(
        merkle.leaf_hash(leaf), hashlib.sha256(leaf).hexdigest(), loose, statement, error
    )
    return _records.put(key, record)  # type: ignore[no-any-return]


def predicate_of(record: _Record) -> dict[str, Any]:
    """The predicate as JSON, for checks that can still run on a payload that fails validation."""
    predicate = (record.loose or {}).get("predicate")
    return predicate if isinstance(predicate, dict) else {}


def dig(value: Any, *path: str | int) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


# --- step 2: the observation -------------------------------------------------------------------


def _core_digest(core: Mapping[str, Any]) -> str:
    return hashlib.sha256(core_bytes(core)).hexdigest()


def _check_observation(bundle: ProvBundle, observation: Mapping[str, Any] | None) -> Check:
    binding = bundle.binding
    reference = bundle.observation_core
    if observation is None:
        if reference is None:
            return check_failed(
                "observation", "no observation given and the bundle carries no core"
            )
        core, source = reference, "the bundle's core (no harvested observation given)"
    else:
        if reference is None:
            return check_failed(
                "observation", "the bundle carries no observation_core to rebuild from"
            )
        try:
            core = harvested_core(observation, reference)
        except (ValueError, TypeError, KeyError, CanonicalError) as exc:
            return check_failed("observation", f"cannot rebuild the core: {first_line(exc)}")
        form = "Features item" if observation.get("type") == "Feature" else "STA Observation"
        source = f"the harvested {form}"
    try:
        digest = _core_digest(core)
    except CanonicalError as exc:
        return check_failed("observation", f"the core has no canonical form: {first_line(exc)}")
    if core.get("obs_id") != binding.obs_id:
        return check_failed(
            "observation", f"the observation is {core.get('obs_id')}, the binding {binding.obs_id}"
        )
    if digest != binding.core.sha256:
        detail = f"SHA-256 of {source} is not the signed core's"
        if observation is not None and reference is not None:
            changed = sorted(
                k for k in core.keys() | reference.keys() if core.get(k) != reference.get(k)
            )
            if changed and _core_digest(reference) == binding.core.sha256:
                shown = ", ".join(
                    f"{k} {core.get(k)!r} (signed {reference.get(k)!r})" for k in changed
                )
                detail += f": {shown}"
        return check_failed("observation", detail)
    return check_passed("observation", f"{source} hashes to the signed core {digest[:16]}…")


# --- steps 3 and 4: batch and envelope ---------------------------------------------------------


def _decode_hashes(values: list[str], what: str) -> list[bytes]:
    try:
        return [base64.b64decode(value, validate=True) for value in values]
    except (binascii.Error, ValueError):
        raise merkle.ProofError(f"{what} hashes are not base64") from None


def _check_batch(bundle: ProvBundle, record: _Record) -> Check:
    summary = dig(predicate_of(record), "observations")
    count, root = dig(summary, "count"), dig(summary, "root", "sha256")
    if not isinstance(count, int) or not isinstance(root, str):
        return _skip("batch", "the payload names no batch root")
    proof = bundle.batch_proof
    if proof.size != count:
        return check_failed(
            "batch", f"the proof is for {proof.size} observations, the record has {count}"
        )
    binding = bundle.binding
    leaf = merkle.leaf_hash(binding_bytes(binding.obs_id, binding.core.sha256, binding.raw))
    try:
        hashes = _decode_hashes(proof.hashes, "batch proof")
        merkle.verify_inclusion(leaf, proof.leaf_index, count, hashes, bytes.fromhex(root))
    except (merkle.ProofError, ValueError) as exc:
        return check_failed("batch", f"binding {proof.leaf_index} of {count}: {first_line(exc)}")
    return check_passed(
        "batch", f"binding {proof.leaf_index} of {count} is in the batch root {root[:16]}…"
    )


def _check_envelope(bundle: ProvBundle, record: _Record, trust: _Trust) -> Check:
    if record.envelope_error is not None:
        return check_failed("envelope", record.envelope_error)
    assert record.statement is not None
    predicate = record.statement.predicate
    if trust.body is not None and record.statement.predicateType not in trust.body.predicate_types:
        return check_failed(
            "envelope", f"predicate type {record.statement.predicateType} is not trusted"
        )
    if bundle.binding.raw >= len(predicate.raw_messages):
        return check_failed(
            "envelope",
            f"binding.raw {bundle.binding.raw} but the record lists "
            f"{len(predicate.raw_messages)} raw messages",
        )
    return check_passed("envelope", f"record {predicate.record_id} is a canonical, valid statement")


# --- step 5: log and time ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    checkpoint: notes.Checkpoint | None
    error: str | None
    witnessed: dict[str, int]


_checkpoints = _Cache()


def _open_checkpoint(note: str, trust: _Trust) -> _Checkpoint:
    key = (note, trust.serial)
    found: _Checkpoint | None = _checkpoints.get(key)
    if found is not None:
        return found
    result = _Checkpoint(None, "the checkpoint is not signed by a log key of the trust bundle", {})
    for name, public in trust.log_keys:
        try:
            body, _signers = notes.open_note(note, {name: public})
            checkpoint = notes.Checkpoint.parse(body)
        except notes.NoteError as exc:
            if "no valid signature" in str(exc):
                continue
            result = _Checkpoint(None, f"checkpoint: {first_line(exc)}", {})
            break
        if checkpoint.origin != name:
            result = _Checkpoint(None, f"checkpoint of {checkpoint.origin} signed as {name}", {})
            break
        times: dict[str, int] = {}
        try:
            for witness, witness_key in trust.witnesses:
                for who, when in notes.verify_cosignatures(note, {witness: witness_key}).items():
                    times[who] = min(when, times.get(who, when))
        except notes.NoteError as exc:
            result = _Checkpoint(None, f"checkpoint: {first_line(exc)}", {})
            break
        result = _Checkpoint(checkpoint, None, times)
        break
    return _checkpoints.put(key, result)  # type: ignore[no-any-return]


def _check_log(bundle: ProvBundle, record: _Record, trust: _Trust) -> tuple[Check, _Checkpoint]:
    if trust.body is None:
        return _skip("log", "no trusted log key"), _Checkpoint(None, "untrusted", {})
    opened = _open_checkpoint(bundle.log.checkpoint, trust)
    if opened.checkpoint is None:
        return check_failed("log", opened.error or "checkpoint does not verify"), opened
    checkpoint, proof = opened.checkpoint, bundle.log
    if checkpoint.origin != proof.origin or checkpoint.size != proof.size:
        return check_failed(
            "log",
            f"the proof is for {proof.origin} at size {proof.size}, the checkpoint for "
            f"{checkpoint.origin} at size {checkpoint.size}",
        ), opened
    try:
        hashes = _decode_hashes(proof.hashes, "log proof")
        merkle.verify_inclusion(
            record.leaf_hash, proof.index, proof.size, hashes, checkpoint.root_hash
        )
    except merkle.ProofError as exc:
        return check_failed("log", f"entry {proof.index}: {first_line(exc)}"), opened
    witnessed = ", ".join(sorted(opened.witnessed)) or "no witness"
    detail = (
        f"entry {proof.index} is in {checkpoint.origin} at size {checkpoint.size} ({witnessed})"
    )
    return check_passed("log", detail), opened


def _state_file(state_dir: Path, origin: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", origin)[:80]
    return state_dir / f"{safe}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}.checkpoint"


def _consistency_proof(
    bundle: ProvBundle, old: int, new: int, fetch: Callable[[str], bytes] | None
) -> list[bytes]:
    supplied = bundle.log.consistency
    if supplied is not None and supplied.from_ == old and bundle.log.size == new:
        return _decode_hashes(supplied.hashes, "consistency proof")
    if fetch is None:
        raise merkle.ProofError(
            f"no consistency proof from size {old} to {new}: give a way to fetch it, or a "
            "bundle with log.consistency"
        )
    try:
        answer = json.loads(fetch(_CONSISTENCY_PATH.format(old=old, new=new)))
        hashes = answer["hashes"]
        if answer.get("from") != old or answer.get("to") != new or not isinstance(hashes, list):
            raise ValueError(f"the answer is not a proof from {old} to {new}")
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise merkle.ProofError(f"fetched consistency proof unusable: {first_line(exc)}") from exc
    return _decode_hashes(hashes, "consistency proof")


def _check_consistency(
    bundle: ProvBundle,
    opened: _Checkpoint,
    state_dir: Path,
    fetch: Callable[[str], bytes] | None,
) -> Check:
    current = opened.checkpoint
    if current is None:
        return _skip("consistency", "no verified checkpoint")
    path = _state_file(state_dir, current.origin)
    try:
        kept_note = path.read_text(encoding="utf-8") if path.exists() else None
        kept = None if kept_note is None else notes.Checkpoint.parse(note_body(kept_note))
    except (OSError, UnicodeDecodeError, notes.NoteError) as exc:
        return check_failed(
            "consistency", f"cannot read the kept checkpoint {path}: {first_line(exc)}"
        )
    if kept is not None and kept.origin != current.origin:
        return check_failed("consistency", f"{path} holds a checkpoint of {kept.origin}")
    try:
        if kept is None:
            detail = f"first checkpoint of {current.origin} seen (size {current.size}); kept"
        elif kept.size <= current.size:
            proof = (
                []
                if kept.size == current.size
                else _consistency_proof(bundle, kept.size, current.size, fetch)
            )
            merkle.verify_consistency(
                kept.size, current.size, kept.root_hash, current.root_hash, proof
            )
            detail = f"size {current.size} extends the kept size {kept.size}"
        else:
            proof = _consistency_proof(bundle, current.size, kept.size, fetch)
            merkle.verify_consistency(
                current.size, kept.size, current.root_hash, kept.root_hash, proof
            )
            return check_passed(
                "consistency", f"size {current.size} is a prefix of the kept {kept.size}"
            )
    except merkle.ProofError as exc:
        before = "none" if kept is None else kept.size
        return check_failed(
            "consistency",
            f"the log at size {current.size} is not consistent with the kept checkpoint (size "
            f"{before}): {first_line(exc)}",
        )
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(bundle.log.checkpoint, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        return check_failed("consistency", f"cannot keep the checkpoint in {state_dir}: {exc}")
    return check_passed("consistency", detail)


# --- steps 6 and 7: certificate at log time, signature -----------------------------------------


def _log_time(record: _Record, opened: _Checkpoint) -> tuple[datetime | None, str]:
    if opened.witnessed:
        first = min(opened.witnessed.values())
        return datetime.fromtimestamp(first, UTC), "earliest witness cosignature"
    if record.statement is not None:
        ended = record.statement.predicate.activity.ended_at
    else:
        try:
            ended = datetime.fromisoformat(str(dig(predicate_of(record), "activity", "ended_at")))
        except ValueError:
            return None, "no time"
        if ended.tzinfo is None:
            return None, "no time"
    return ended, "no witness time: the record's activity.ended_at"


def _chain(bundle: ProvBundle) -> list[bytes]:
    return [base64.b64decode(text, validate=True) for text in bundle.cert_chain]


def _check_certificate(
    bundle: ProvBundle, record: _Record, trust: _Trust, at: datetime | None, source: str
) -> tuple[Check, Ed25519PublicKey | None]:
    if trust.body is None:
        return _skip("certificate", "no trusted root"), None
    if at is None:
        return _skip("certificate", "the record gives no time to check the chain at"), None
    key = (tuple(bundle.cert_chain), trust.serial, at)
    found = record.certificates.get(key)
    if found is not None:
        return found[1], found[0]
    hub = dig(predicate_of(record), "hub", "id")
    public: Ed25519PublicKey | None = None
    if not isinstance(hub, str) or hub.rstrip("/") != trust.body.hub_id.rstrip("/"):
        check = check_failed(
            "certificate", f"the record names hub {hub}, the trust bundle {trust.body.hub_id}"
        )
    else:
        try:
            chain = _chain(bundle)
            leaf = x509.load_der_x509_certificate(chain[0])
            # The trust bundle's CRL is its root's: it speaks for leaves that root issued.
            crl = trust.crl if trust.crl is not None and trust.crl.issuer == leaf.issuer else None
            public = verify_signing_certificate(
                chain, trust.roots, at=at, hub_id=trust.body.hub_id, crl=crl
            )
        except (CertificateError, ValueError, binascii.Error) as exc:
            check = check_failed("certificate", f"{first_line(exc)} ({source})")
        else:
            check = check_passed(
                "certificate",
                f"certificate {leaf.serial_number:x} is valid and unrevoked at {utc_text(at)} "
                f"({source})",
            )
    if len(record.certificates) < 64:
        record.certificates[key] = (public, check)
    return check, public


def _check_signature(
    bundle: ProvBundle, record: _Record, certified: Ed25519PublicKey | None
) -> Check:
    leaf_text = bundle.cert_chain[0]
    found = record.signatures.get(leaf_text) if certified is not None else None
    if found is not None:
        return found
    qualifier = ""
    public = certified
    if public is None:
        # Still worth knowing whether the envelope is signed by the certificate it comes with.
        try:
            candidate = x509.load_der_x509_certificate(_chain(bundle)[0]).public_key()
        except (ValueError, binascii.Error):
            return _skip("signature", "no readable signing certificate")
        if not isinstance(candidate, Ed25519PublicKey):
            return check_failed("signature", "the signing certificate does not hold an Ed25519 key")
        public, qualifier = candidate, " (by an unverified certificate)"
    try:
        dsse.verify(bundle.envelope, public)
    except dsse.SignatureError as exc:
        check = check_failed("signature", f"{first_line(exc)}{qualifier}")
    else:
        check = check_passed(
            "signature", f"Ed25519 signature over the envelope verifies{qualifier}"
        )
    if certified is not None and len(record.signatures) < 64:
        record.signatures[leaf_text] = check
    return check


# --- step 8: raw bytes --------------------------------------------------------------------------


def _check_raw(bundle: ProvBundle, record: _Record, raw: bytes) -> Check:
    message = dig(predicate_of(record), "raw_messages", bundle.binding.raw)
    digest, size = dig(message, "digest", "sha256"), dig(message, "size")
    if not isinstance(digest, str) or not isinstance(size, int):
        return _skip("raw", f"the record lists no raw message {bundle.binding.raw}")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != digest or len(raw) != size:
        return check_failed(
            "raw",
            f"the bytes ({len(raw)} bytes, sha256 {actual[:16]}…) are not raw message "
            f"{bundle.binding.raw} ({size} bytes, sha256 {digest[:16]}…)",
        )
    return check_passed(
        "raw", f"{size} bytes match raw message {bundle.binding.raw} (sha256 {digest[:16]}…)"
    )


# --- the verdict --------------------------------------------------------------------------------


def verify_bundle(
    bundle: ProvBundle,
    trust: SignedTrustBundle,
    *,
    observation: Mapping[str, Any] | None,
    raw: bytes | None,
    state_dir: Path | None,
    pinned_root_sha256: str | None = None,
    fetch: Callable[[str], bytes] | None = None,
) -> Verdict:
    """Check one observation's bundle against the producer's trust bundle (§5.7 steps 1-8).

    ``observation`` is the harvested STA Observation or Features item JSON (None: the bundle's
    own core is checked against the binding); ``raw`` the raw message bytes (None: not
    checked). With ``state_dir`` the newest checkpoint per log origin is kept there and a new
    one must be consistent with it; the proof comes from ``bundle.log.consistency`` or from
    ``fetch(path)``, called with the hub-relative path ``/prov/log/proof/consistency?from=&to=``
    and returning the response body.
    """
    tb = _trust(trust, pinned_root_sha256)
    record = record_of(bundle.envelope)
    checks = [
        tb.check,
        _check_observation(bundle, observation),
        _check_batch(bundle, record),
        _check_envelope(bundle, record, tb),
    ]
    log_check, opened = _check_log(bundle, record, tb)
    checks.append(log_check)
    if state_dir is not None:
        if log_check.ok:
            checks.append(_check_consistency(bundle, opened, Path(state_dir), fetch))
        else:
            checks.append(_skip("consistency", "the checkpoint did not verify"))
    at, source = _log_time(record, opened) if log_check.ok else (None, "no verified log")
    certificate, public = _check_certificate(bundle, record, tb, at, source)
    checks.append(certificate)
    checks.append(_check_signature(bundle, record, public))
    if raw is not None:
        checks.append(_check_raw(bundle, record, raw))
    return _verdict(bundle, record, checks, at)


def _verdict(
    bundle: ProvBundle, record: _Record, checks: list[Check], at: datetime | None
) -> Verdict:
    predicate = predicate_of(record)
    message = dig(predicate, "raw_messages", bundle.binding.raw)
    device = dig(predicate, "devices", dig(message, "device"))
    name, version = dig(predicate, "adapter", "name"), dig(predicate, "adapter", "version")
    ok = all(check.ok for check in checks)
    verdict = Verdict(
        ok=ok,
        checks=checks,
        failed=None,
        assurance=dig(device, "assurance") if device is not None else "L1",
        agency=dig(predicate, "agency", "name"),
        devices=[device["id"]] if isinstance(dig(device, "id"), str) else [],
        adapter=f"{name}@{version}" if name is not None else None,
        t_log=utc_text(at) if at is not None else None,
    )
    first = verdict.first_failure()
    if first is None:
        return verdict
    return verdict.model_copy(update={"failed": f"{first.name}: {first.detail}"})


def with_check(verdict: Verdict, check: Check) -> Verdict:
    """``verdict`` with one more check (the replay) appended and ``ok``/``failed`` updated."""
    checks = [*verdict.checks, check]
    updated = verdict.model_copy(update={"checks": checks, "ok": verdict.ok and check.ok})
    first = updated.first_failure()
    failed = None if first is None else f"{first.name}: {first.detail}"
    return updated.model_copy(update={"failed": failed})
