"""The hub's read-only provenance endpoints (provenance.md §5.5) and the raw-message archive.

=================================================  ============================================
``GET /prov/log/checkpoint``                       the signed C2SP checkpoint of the log as it is
                                                   (a new one is signed when the log grew)
``GET /prov/log/entries?start=&end=``              up to 1000 entries: index, leaf hash, envelope
``GET /prov/log/proof/inclusion?index=&size=``     RFC 9162 inclusion proof (hashes base64)
``GET /prov/log/proof/consistency?from=&to=``      RFC 9162 consistency proof
``GET /prov/records/{entry or record id}``         the signed record, its statement and links
``GET /prov/records/{id}/bindings``                the record's observation bindings, leaf order
``GET /prov/records/{id}/prov.json``, ``prov.xml`` the record as W3C PROV-JSON / PROV-XML
``GET /prov/bundle?observation=URL``               one observation's provenance bundle (§5.4);
                                                   ``?observation_id=123`` for the bare id
``GET /prov/trust-bundle``                         the hub's signed trust bundle
``GET /raw/sha256/{hex}``                          archived raw bytes, for authenticated callers
=================================================  ============================================

Every refusal is :func:`hub.web.errors.json_error` (400 for a malformed request, 404 for
something the hub does not hold). Raw messages need credentials even to read: HJ 212 frames
carry the device password in clear.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import Connection, select

from hub.provenance import merkle, notes, prov_export
from hub.provenance.bundle import (
    BundleError,
    CheckpointNeeded,
    ProvBundle,
    note_body,
    observation_bundle,
    record_bindings,
)
from hub.provenance.log import MAX_PAGE, LogError, StoredLog
from hub.provenance.pki import HubKeys, KeysError
from hub.provenance.records import Envelope, parse_payload
from hub.provenance.trust import (
    SignedTrustBundle,
    TrustError,
    build_trust_bundle,
    own_bundle,
    stale_reason,
    verify_trust_bundle,
)
from hub.store import Store
from hub.store.schema import prov_log_entries, prov_records
from hub.web.auth import current_principal, unauthorized
from hub.web.errors import json_error

__all__ = ["ProvContext", "create_prov_blueprint", "observation_id_from_url"]

_MAX_NUMBER = 2**62  # larger than any log or observation id; keeps integers exact everywhere
_NUMBER = re.compile(r"[0-9]{1,19}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# An STA Observation URL of a hub (absolute or a path); only the id is ever used.
_OBSERVATION_URL = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+)?(?:/[^?#\s]*)?/v1\.1/Observations\(([0-9]{1,19})\)"
)


@dataclass(frozen=True, slots=True)
class ProvContext:
    """What the provenance endpoints serve from: the hub's keys (log key, certificate chains,
    trust bundle), its stored log, and its public base URL for links (None: the request's)."""

    keys: HubKeys
    log: StoredLog = field(default_factory=StoredLog)
    public_url: str | None = None

    @property
    def origin(self) -> str:
        """The log origin checkpoints are signed for."""
        return self.keys.origin


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def observation_id_from_url(url: str) -> int:
    """The id in an STA Observation URL (``…/v1.1/Observations(123)``); ValueError otherwise."""
    match = _OBSERVATION_URL.fullmatch(url.strip())
    if match is None or int(match.group(1)) > _MAX_NUMBER:
        raise ValueError(f"not an STA Observation URL (…/v1.1/Observations(<id>)): {url!r}")
    return int(match.group(1))


def _number(name: str, *, required: bool = True) -> int | None:
    values = request.args.getlist(name)
    if not values:
        if required:
            raise _Refusal(400, f"missing query parameter {name}")
        return None
    if len(values) > 1:
        raise _Refusal(400, f"query parameter {name} given more than once")
    text = values[0]
    if _NUMBER.fullmatch(text) is None or int(text) > _MAX_NUMBER:
        raise _Refusal(400, f"{name} must be a non-negative integer up to {_MAX_NUMBER}")
    return int(text)


def _required(name: str) -> int:
    value = _number(name)
    assert value is not None
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _envelope(leaf: bytes) -> dict[str, Any] | None:
    """The envelope a log leaf holds (every leaf the sealer appends is one), else None."""
    try:
        value = json.loads(leaf)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("payload"), str) else None


def _entry(index: int, leaf: bytes) -> dict[str, Any]:
    envelope = _envelope(leaf)
    found: dict[str, Any] = {"index": index, "leaf_hash": merkle.leaf_hash(leaf).hex()}
    if envelope is not None:
        found["envelope"] = envelope
    else:
        found["leaf"] = _b64(leaf)
    return found


def create_prov_blueprint(store: Store, context: ProvContext) -> Blueprint:
    """The ``/prov`` and ``/raw`` endpoints over ``store`` (see the module docstring)."""
    blueprint = Blueprint("prov", __name__)
    log, keys = context.log, context.keys
    # A checkpoint is written only when the log grew; SQLite's writer takes the lock at BEGIN.
    writer = store.engine.execution_options(sqlite_immediate=True)
    trust_cache: dict[str, tuple[str, SignedTrustBundle]] = {}

    def base_url() -> str:
        return (context.public_url or request.url_root).rstrip("/")

    @blueprint.errorhandler(_Refusal)
    def _refused(exc: _Refusal) -> Response:
        return json_error(exc.status, str(exc))

    def issue_checkpoint() -> str:
        with writer.begin() as conn:
            return log.checkpoint(
                conn,
                origin=keys.origin,
                key=keys.log_key,
                now=datetime.now(UTC),
                key_name=keys.log_name,
            )

    @blueprint.get("/prov/log/checkpoint")
    def checkpoint() -> Response:
        with store.connect() as conn:
            size = log.size(conn)
            note = log.latest_checkpoint(conn)
        if note is None or notes.Checkpoint.parse(note_body(note)).size < size:
            note = issue_checkpoint()
        response = Response(note, content_type="text/plain; charset=utf-8")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @blueprint.get("/prov/log/entries")
    def entries() -> Response:
        start, end = _required("start"), _required("end")
        if start >= end:
            raise _Refusal(400, f"start ({start}) must be below end ({end})")
        with store.connect() as conn:
            try:
                found = log.entries(conn, start, min(end, start + MAX_PAGE))
            except LogError as exc:
                raise _Refusal(400, str(exc)) from None
        return jsonify([_entry(index, leaf) for index, leaf in found])

    @blueprint.get("/prov/log/proof/inclusion")
    def inclusion() -> Response:
        index, size = _required("index"), _required("size")
        if index >= size:
            raise _Refusal(400, f"index ({index}) must be below size ({size})")
        with store.connect() as conn:
            try:
                hashes = log.inclusion_proof(conn, index, size)
                root = log.root(conn, size)
            except LogError as exc:
                raise _Refusal(400, str(exc)) from None
        return jsonify(
            {"index": index, "size": size, "root": _b64(root), "hashes": [_b64(h) for h in hashes]}
        )

    @blueprint.get("/prov/log/proof/consistency")
    def consistency() -> Response:
        old, new = _required("from"), _required("to")
        if old > new:
            raise _Refusal(400, f"from ({old}) must not exceed to ({new})")
        with store.connect() as conn:
            try:
                hashes = log.consistency_proof(conn, old, new)
            except LogError as exc:
                raise _Refusal(400, str(exc)) from None
        return jsonify({"from": old, "to": new, "hashes": [_b64(h) for h in hashes]})

    def find_record(conn: Connection, ident: str) -> tuple[int, str, bytes]:
        cols = prov_log_entries.c
        if _NUMBER.fullmatch(ident) is not None and int(ident) <= _MAX_NUMBER:
            where = cols.idx == int(ident)
        else:
            try:
                parsed = uuid.UUID(ident)
            except ValueError:
                raise _Refusal(400, f"{ident!r} is neither a log entry nor a record UUID") from None
            if str(parsed) != ident:
                raise _Refusal(400, f"record UUIDs are lower-case with hyphens: {ident!r}")
            where = cols.record_id == ident
        row = conn.execute(select(cols.idx, cols.record_id, cols.leaf).where(where)).first()
        if row is None:
            raise _Refusal(404, f"no provenance record {ident}")
        return int(row.idx), str(row.record_id), bytes(row.leaf)

    def record_links(entry: int) -> dict[str, str]:
        record = f"{base_url()}/prov/records/{entry}"
        return {
            "self": record,
            "bindings": f"{record}/bindings",
            "prov.json": f"{record}/prov.json",
            "prov.xml": f"{record}/prov.xml",
            "checkpoint": f"{base_url()}/prov/log/checkpoint",
        }

    @blueprint.get("/prov/records/<ident>")
    def record(ident: str) -> Response:
        with store.connect() as conn:
            entry, record_id, leaf = find_record(conn, ident)
        envelope = _envelope(leaf)
        try:
            statement = json.loads(base64.b64decode(envelope["payload"])) if envelope else None
        except ValueError:
            statement = None
        if envelope is None or not isinstance(statement, dict):
            raise _Refusal(404, f"log entry {entry} is not a signed record")
        return jsonify(
            {
                "entry": entry,
                "record_id": record_id,
                "digest": hashlib.sha256(leaf).hexdigest(),
                "envelope": envelope,
                "statement": statement,
                "links": record_links(entry),
            }
        )

    @blueprint.get("/prov/records/<ident>/bindings")
    def bindings(ident: str) -> Response:
        with store.connect() as conn:
            entry, _record_id, _leaf = find_record(conn, ident)
            stored = conn.execute(
                select(prov_records.c.bindings).where(prov_records.c.entry == entry)
            ).scalar_one_or_none()
        if stored is None:
            raise _Refusal(404, f"log entry {entry} has no observation bindings")
        body = b"[" + b",".join(record_bindings(bytes(stored))) + b"]"
        return Response(body, content_type="application/json")

    def export(ident: str, render: Callable[..., Any]) -> Any:
        with store.connect() as conn:
            entry, _record_id, leaf = find_record(conn, ident)
        try:
            envelope = Envelope.model_validate_json(leaf)
            statement = parse_payload(base64.b64decode(envelope.payload))
            return render(
                envelope,
                statement,
                entry=entry,
                record_url=f"{base_url()}/prov/records/{entry}",
                hub_id=statement.predicate.hub.id,
            )
        except ValueError as exc:  # pydantic's, CanonicalError and ProvExportError among them
            raise _Refusal(404, f"record {entry} has no PROV form: {exc}") from None

    @blueprint.get("/prov/records/<ident>/prov.json")
    def record_prov_json(ident: str) -> Response:
        document = export(ident, prov_export.prov_document)
        response = jsonify(document)
        response.content_type = "application/json"
        return response

    @blueprint.get("/prov/records/<ident>/prov.xml")
    def record_prov_xml(ident: str) -> Response:
        return Response(
            export(ident, prov_export.prov_xml), content_type="application/xml; charset=utf-8"
        )

    @blueprint.get("/prov/bundle")
    def bundle() -> Response:
        urls = request.args.getlist("observation")
        given = _number("observation_id", required=False)
        if len(urls) + (given is not None) != 1 or len(urls) > 1:
            raise _Refusal(
                400, "give exactly one of observation=<STA Observation URL> and observation_id=<id>"
            )
        if urls:
            try:
                given = observation_id_from_url(urls[0])
            except ValueError as exc:
                raise _Refusal(400, str(exc)) from None
        assert given is not None

        def read() -> ProvBundle:
            with store.connect() as conn:
                return observation_bundle(conn, given, keys=keys, log=log, issue=False)

        try:
            try:
                found = read()
            except CheckpointNeeded:
                issue_checkpoint()
                found = read()
        except (BundleError, CheckpointNeeded) as exc:
            raise _Refusal(404, str(exc)) from None
        return jsonify(found.to_json())

    def trust_bundle() -> SignedTrustBundle | str:
        # Built or read once per key state (keys.json's content): the root key may be offline,
        # so the stored export is preferred while it still describes the keys.
        state = keys.document.model_dump_json()
        cached = trust_cache.get("bundle")
        if cached is not None and cached[0] == state:
            return cached[1]
        try:
            stored = own_bundle(keys.data_dir)
            reason = None if stored is None else stale_reason(verify_trust_bundle(stored), keys)
        except TrustError as exc:
            stored, reason = None, str(exc)
        if stored is not None and reason is None:
            answer = stored
        else:
            try:
                answer = build_trust_bundle(keys)
            except KeysError:
                # Not remembered: the operator may export one while the hub runs.
                why = "none was exported" if reason is None else f"the export is stale: {reason}"
                return f"no current trust bundle ({why}): run `auasu keys export-trust`"
        trust_cache["bundle"] = (state, answer)
        return answer

    @blueprint.get("/prov/trust-bundle")
    def trust() -> Response:
        answer = trust_bundle()
        if isinstance(answer, str):
            raise _Refusal(404, answer)
        return jsonify(answer.model_dump(mode="json", exclude_none=True))

    @blueprint.get("/raw/sha256/<digest>")
    def raw(digest: str) -> Response:
        if current_principal() is None:
            return unauthorized(
                "raw messages need credentials (they may carry device passwords): "
                "HTTP Basic or a bearer token"
            )
        if _SHA256.fullmatch(digest) is None:
            raise _Refusal(400, "a raw message is named by its SHA-256: 64 lower-case hex digits")
        content = store.frame_content(digest)
        if content is None:
            raise _Refusal(404, f"no raw message with SHA-256 {digest}")
        response = Response(content, content_type="application/octet-stream")
        response.headers["Digest"] = "sha-256=" + _b64(hashlib.sha256(content).digest())
        response.headers["ETag"] = f'"{digest}"'
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Disposition"] = f'attachment; filename="{digest}.bin"'
        return response

    return blueprint
