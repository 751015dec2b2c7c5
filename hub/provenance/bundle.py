"""The per-observation provenance bundle (provenance.md §5.4): everything a partner needs to
check one observation offline, short of the hub's trust bundle and the raw bytes.

A bundle carries the signed record (DSSE envelope) that binds the observation, the signing
certificate chain, the observation's binding and its proof of inclusion in the record's batch
tree, the record's proof of inclusion in the hub's log with the signed checkpoint the proof
leads to, and the observation's canonical core as the sealer hashed it (rebuilt here from the
stored row with :func:`hub.provenance.sealer.observation_core`). :mod:`hub.provenance.verify`
checks it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from sqlalchemy import Connection, select

from hub.provenance import dsse, merkle, notes
from hub.provenance.canonical import utc_text
from hub.provenance.log import StoredLog
from hub.provenance.pki import HubKeys, keys_dir
from hub.provenance.records import Envelope, ObservationBinding
from hub.provenance.sealer import (
    StreamContext,
    entity_uri,
    observation_core,
    phenomenon_text,
)
from hub.store.schema import (
    datastreams,
    observations,
    observed_properties,
    prov_log_entries,
    prov_records,
)

__all__ = [
    "BatchProof",
    "BundleError",
    "CheckpointNeeded",
    "LogConsistency",
    "LogProof",
    "NotSealed",
    "ObservationMissing",
    "ProvBundle",
    "harvested_core",
    "latest_covering_checkpoint",
    "note_body",
    "observation_bundle",
    "record_bindings",
    "signing_chain",
]

Count = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
HashText = Annotated[StrictStr, Field(min_length=44, max_length=44)]  # base64 of 32 bytes


class BundleError(LookupError):
    """No bundle can be made for an observation; the message says why (an HTTP 404)."""


class ObservationMissing(BundleError):
    """The hub holds no observation with that id."""


class NotSealed(BundleError):
    """The observation exists but no signed record binds its current value (it was stored
    before provenance, written through the API, or belongs to a MultiDatastream)."""


class CheckpointNeeded(LookupError):
    """No stored checkpoint covers the record yet and the caller asked not to issue one."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BatchProof(_Model):
    """The binding's RFC 9162 inclusion proof in the record's batch tree (hashes base64)."""

    leaf_index: Count
    size: Count
    hashes: list[HashText]


class LogConsistency(_Model):
    """An optional consistency proof from an older tree size to ``LogProof.size``, for a
    verifier that keeps the last checkpoint it saw (provenance.md §5.7 step 5)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: Count = Field(alias="from")
    hashes: list[HashText]


class LogProof(_Model):
    """The record's inclusion proof in the hub's log and the signed checkpoint (full C2SP note
    text, cosignatures included) whose root it leads to."""

    origin: StrictStr
    index: Count
    size: Count
    hashes: list[HashText]
    checkpoint: StrictStr
    consistency: LogConsistency | None = None


class ProvBundle(_Model):
    """One observation's provenance bundle (provenance.md §5.4)."""

    envelope: Envelope
    cert_chain: Annotated[list[StrictStr], Field(min_length=1)]  # base64 DER, leaf first
    batch_proof: BatchProof
    log: LogProof
    binding: ObservationBinding
    observation_core: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The bundle as JSON data (what ``/prov/bundle`` answers)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def note_body(note: str) -> str:
    """The text of a signed note before its signature block (unverified)."""
    split = note.find("\n\n")
    if split < 0:
        raise notes.NoteError("note has no blank line before its signatures")
    return note[: split + 1]


def latest_covering_checkpoint(
    conn: Connection, log: StoredLog, entry: int
) -> tuple[str, notes.Checkpoint] | None:
    """The newest stored checkpoint note if its tree holds ``entry``, else None."""
    note = log.latest_checkpoint(conn)
    if note is None:
        return None
    checkpoint = notes.Checkpoint.parse(note_body(note))
    return (note, checkpoint) if checkpoint.size > entry else None


# --- record bindings: the batch trees, kept for the records asked about most recently ---------

_TREE_CACHE_SIZE = 32
_trees: OrderedDict[bytes, tuple[list[bytes], merkle.SubtreeHash]] = OrderedDict()
_trees_lock = threading.Lock()


def record_bindings(compressed: bytes) -> list[bytes]:
    """The canonical binding lines of a record (``prov_records.bindings``), in leaf order."""
    text = zlib.decompress(compressed)
    return text.split(b"\n") if text else []


def _batch_tree(compressed: bytes) -> tuple[list[bytes], merkle.SubtreeHash]:
    # Keyed by the digest of the stored bytes, not the entry: what is cached can never be
    # served for other bindings than the ones it was built from.
    key = hashlib.sha256(compressed).digest()
    with _trees_lock:
        found = _trees.get(key)
        if found is not None:
            _trees.move_to_end(key)
            return found
    lines = record_bindings(compressed)
    leaf_hash = merkle.leaf_hash
    tree = (lines, merkle.memory_subtree([leaf_hash(line) for line in lines]))
    with _trees_lock:
        _trees[key] = tree
        while len(_trees) > _TREE_CACHE_SIZE:
            _trees.popitem(last=False)
    return tree


# --- certificate chains --------------------------------------------------------------------------


def signing_chain(keys: HubKeys, keyid: str) -> tuple[bytes, ...]:
    """DER certificates (leaf first) of the signing key whose DSSE ``keyid`` is ``keyid``: the
    current one or an earlier generation kept in ``keys.json``; the current chain when no
    generation matches (the verifier then reports the signature as not by that certificate)."""
    for entry in keys.document.entries("signing"):
        if entry.cert_file is None or dsse.key_id(entry.public()) != keyid:
            continue
        directory = keys_dir(keys.data_dir)
        chain = directory / entry.chain_file if entry.chain_file is not None else None
        return _read_chain(directory / entry.cert_file, chain)
    return keys.chain


_chains: dict[tuple[Path, Path | None], tuple[bytes, ...]] = {}


def _read_chain(cert_file: Path, chain_file: Path | None) -> tuple[bytes, ...]:
    key = (cert_file, chain_file)
    found = _chains.get(key)
    if found is None:
        der = serialization.Encoding.DER
        certs = [x509.load_pem_x509_certificate(cert_file.read_bytes())]
        if chain_file is not None and chain_file.is_file():
            certs += x509.load_pem_x509_certificates(chain_file.read_bytes())
        # Certificate files are written once and never changed (pki keeps every generation).
        found = _chains[key] = tuple(cert.public_bytes(der) for cert in certs)
    return found


# --- the bundle ----------------------------------------------------------------------------------

_o = observations.c


def observation_bundle(
    conn: Connection,
    observation_id: int,
    *,
    keys: HubKeys,
    log: StoredLog,
    hub_id: str | None = None,
    issue: bool = True,
    now: datetime | None = None,
) -> ProvBundle:
    """The provenance bundle of observation ``observation_id``.

    The log proof leads to the newest stored checkpoint when it covers the record; otherwise a
    new checkpoint is signed and stored on ``conn`` (which must then be able to write), or,
    with ``issue=False``, :class:`CheckpointNeeded` is raised. Entity URIs in the core are
    built from the hub id the record names (what the sealer used); ``hub_id`` overrides it.
    Raises :class:`ObservationMissing` or :class:`NotSealed`.
    """
    row = conn.execute(
        select(
            _o.id,
            _o.datastream_id,
            _o.feature_of_interest_id,
            _o.phenomenon_time_start,
            _o.phenomenon_time_end,
            _o.result_time,
            _o.result,
            _o.result_json,
            _o.result_quality,
            _o.result_quality_json,
            _o.valid_time_start,
            _o.valid_time_end,
            _o.parameters,
            _o.prov_entry,
            _o.prov_leaf,
            datastreams.c.unit,
            observed_properties.c.definition,
        )
        .select_from(
            observations.outerjoin(datastreams, datastreams.c.id == _o.datastream_id).outerjoin(
                observed_properties,
                observed_properties.c.id == datastreams.c.observed_property_id,
            )
        )
        .where(_o.id == observation_id)
    ).first()
    if row is None:
        raise ObservationMissing(f"no observation {observation_id}")
    if row.prov_entry is None or row.prov_leaf is None or row.datastream_id is None:
        raise NotSealed(
            f"observation {observation_id} has no signed provenance record: it was stored "
            "before provenance was enabled or written through the API"
        )
    entry, leaf_index = int(row.prov_entry), int(row.prov_leaf)
    record = conn.execute(
        select(prov_log_entries.c.leaf, prov_records.c.bindings)
        .select_from(
            prov_log_entries.join(prov_records, prov_records.c.entry == prov_log_entries.c.idx)
        )
        .where(prov_log_entries.c.idx == entry)
    ).first()
    if record is None:
        raise NotSealed(f"observation {observation_id} names log entry {entry}, which is missing")
    leaf = bytes(record.leaf)
    envelope = Envelope.model_validate_json(leaf)
    lines, subtree = _batch_tree(bytes(record.bindings))
    if not 0 <= leaf_index < len(lines):
        raise NotSealed(f"observation {observation_id} names leaf {leaf_index} of record {entry}")
    binding = ObservationBinding.model_validate_json(lines[leaf_index])
    batch_hashes = merkle.inclusion_proof(leaf_index, len(lines), subtree)

    covering = latest_covering_checkpoint(conn, log, entry)
    if covering is None:
        if not issue:
            raise CheckpointNeeded(f"no checkpoint covers log entry {entry} yet")
        note = log.checkpoint(
            conn,
            origin=keys.origin,
            key=keys.log_key,
            now=now or datetime.now(UTC),
            key_name=keys.log_name,
        )
        checkpoint = notes.Checkpoint.parse(note_body(note))
    else:
        note, checkpoint = covering
    log_hashes = log.inclusion_proof(conn, entry, checkpoint.size)

    statement = json.loads(base64.b64decode(envelope.payload))
    base = (hub_id or statement["predicate"]["hub"]["id"]).rstrip("/")
    unit = row.unit.get("symbol") if isinstance(row.unit, dict) else None
    stream = StreamContext(
        entity_uri(base, "Datastreams", int(row.datastream_id)), row.definition, unit
    )
    valid_time = None
    if row.valid_time_start is not None:
        valid_end = row.valid_time_end or row.valid_time_start
        valid_time = phenomenon_text(row.valid_time_start, valid_end)
    core = observation_core(
        stream,
        entity_uri(base, "FeaturesOfInterest", int(row.feature_of_interest_id)),
        phenomenon_text(row.phenomenon_time_start, row.phenomenon_time_end),
        row.result_json if row.result_json is not None else row.result,
        result_time=utc_text(row.result_time) if row.result_time is not None else None,
        result_quality=(
            row.result_quality_json if row.result_quality_json is not None else row.result_quality
        ),
        valid_time=valid_time,
        parameters=row.parameters,
    )
    keyid = envelope.signatures[0].keyid
    return ProvBundle(
        envelope=envelope,
        cert_chain=[_b64(der) for der in signing_chain(keys, keyid)],
        batch_proof=BatchProof(
            leaf_index=leaf_index, size=len(lines), hashes=_hashes(batch_hashes)
        ),
        log=LogProof(
            origin=checkpoint.origin,
            index=entry,
            size=checkpoint.size,
            hashes=_hashes(log_hashes),
            checkpoint=note,
        ),
        binding=binding,
        observation_core=core,
    )


def _hashes(values: Sequence[bytes]) -> list[str]:
    return [_b64(value) for value in values]


# --- the core of a harvested observation ------------------------------------------------------


def _instant(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError(f"a time must be text, got {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return utc_text(moment)


def _period(start: Any, end: Any = None) -> str:
    """An instant or ``start/end`` the way the sealer writes it (equal ends: an instant)."""
    if end is None and isinstance(start, str) and "/" in start:
        start, _, end = start.partition("/")
    first = _instant(start)
    last = first if end is None else _instant(end)
    return first if first == last else f"{first}/{last}"


def harvested_core(observation: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical core of a harvested observation: STA Observation JSON (``phenomenonTime``,
    ``result``, ``resultTime``, ``resultQuality``, ``validTime``, ``parameters``) or an OGC API
    Features item of the ``observations`` collection (``properties.phenomenon_time_start`` …).

    What neither representation states in the core's terms (the Datastream, feature of interest
    and observed property URIs, the unit; for a Features item also the parameters) comes from
    ``reference``, the bundle's core: the hash comparison then binds them to the signature. The
    Datastream (and feature of interest) the JSON does name -- a Features item's ``datastream``,
    an STA Observation's expanded entities -- must be the reference's. ValueError when the JSON
    has no observation in either shape or names other entities.
    """
    stream = StreamContext(
        str(reference["datastream"]), str(reference["observed_property"]), reference.get("unit")
    )
    foi = str(reference["foi"])
    properties = observation.get("properties")
    if observation.get("type") == "Feature" and isinstance(properties, Mapping):
        if "phenomenon_time_start" not in properties:
            raise ValueError("the Features item has no phenomenon_time_start")
        datastream = properties.get("datastream")
        if datastream is not None and not stream.uri.endswith(f"/Datastreams({datastream})"):
            raise ValueError(f"the item is of Datastream {datastream}, the bundle of {stream.uri}")
        start = properties["phenomenon_time_start"]
        result_time = properties.get("result_time")
        return observation_core(
            stream,
            foi,
            _period(start, properties.get("phenomenon_time_end") or start),
            properties.get("value"),
            result_time=None if result_time is None else _instant(result_time),
            result_quality=properties.get("quality"),
            valid_time=None,
            parameters=reference.get("parameters"),
        )
    if "phenomenonTime" not in observation:
        raise ValueError("neither an STA Observation (phenomenonTime) nor a Features item")
    result_time = observation.get("resultTime")
    valid_time = observation.get("validTime")
    parameters = observation.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise ValueError("the Observation's parameters are not an object")
    # Plain Observation JSON does not name its Datastream; an expanded one ($expand) does.
    for entity_set, uri in (("Datastream", stream.uri), ("FeatureOfInterest", foi)):
        expanded = observation.get(entity_set)
        entity_id = expanded.get("@iot.id") if isinstance(expanded, Mapping) else None
        if entity_id is not None and not uri.endswith(f"s({entity_id})"):
            raise ValueError(f"the Observation's {entity_set} is {entity_id}, the bundle's {uri}")
    return observation_core(
        stream,
        foi,
        _period(observation["phenomenonTime"]),
        observation.get("result"),
        result_time=None if result_time is None else _instant(result_time),
        result_quality=observation.get("resultQuality"),
        valid_time=None if valid_time is None else _period(valid_time),
        parameters=parameters,
    )
