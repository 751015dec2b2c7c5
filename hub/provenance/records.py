"""The signed provenance record: an in-toto Statement v1 whose predicate describes one ingest.

Models are the boundary between the hub, the log and the offline verifier, so they are strict:
frozen, no extra fields, no floats anywhere in the predicate, times only with an offset and
rendered by ``canonical.utc_text``, names and identifiers NFC-normalised. The payload that gets
signed is the RFC 8785 form of ``model_dump(mode="json", by_alias=True, exclude_none=True)``,
and ``parse_payload`` accepts exactly those bytes and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from hub.provenance.canonical import CanonicalError, canonical_json, check_canonical, nfc, utc_text

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Activity",
    "AdapterRef",
    "AgentRef",
    "DeviceRef",
    "Digest",
    "Envelope",
    "IngestPredicate",
    "ObservationBinding",
    "ObservationCore",
    "ObservationsSummary",
    "RawMessage",
    "Signature",
    "Statement",
    "Subject",
    "parse_payload",
    "statement_payload",
]

PREDICATE_TYPE: Final = "https://w3id.org/auasu/prov/ingest/v1"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"

# The STA parameters key that points back at the provenance; it is excluded from the core.
PROV_PARAMETER = "aqhub:prov"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+")


def _check_uri(value: str) -> str:
    if not _URI.fullmatch(value):
        raise ValueError(f"{value!r} is not an absolute URI")
    return value


def _check_base64(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not standard base64") from exc
    # Only one spelling per byte string, so the envelope's bytes cannot vary under a signature.
    if base64.b64encode(raw).decode("ascii") != value:
        raise ValueError("base64 is not in canonical form (padding or trailing bits)")
    return value


def _time_input(value: Any) -> Any:
    # Pydantic would otherwise read numbers as Unix times; records carry only RFC 3339 text.
    if not isinstance(value, str | datetime):
        raise ValueError("a time must be RFC 3339 text with an offset")
    return value


def _utc_instant(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from exc
    try:
        return utc_text(moment)
    except CanonicalError as exc:
        raise ValueError(str(exc)) from exc


def _time_text(value: Any) -> Any:
    """Times of the observation core: an instant or ``start/end``, re-rendered as utc_text."""
    if isinstance(value, datetime):
        try:
            return utc_text(value)
        except CanonicalError as exc:
            raise ValueError(str(exc)) from exc
    if not isinstance(value, str):
        raise ValueError("a time must be text or a datetime")
    parts = value.split("/")
    if len(parts) > 2:
        raise ValueError(f"{value!r} is neither an instant nor a start/end interval")
    return "/".join(_utc_instant(part) for part in parts)


Name = Annotated[StrictStr, Field(min_length=1), AfterValidator(nfc)]
"""A name or identifier: non-empty text, NFC-normalised."""
Uri = Annotated[StrictStr, AfterValidator(nfc), AfterValidator(_check_uri)]
Count = Annotated[StrictInt, Field(ge=0, le=2**53 - 1)]
Time = Annotated[
    AwareDatetime,
    BeforeValidator(_time_input),
    PlainSerializer(utc_text, return_type=str),
]
TimeText = Annotated[StrictStr, BeforeValidator(_time_text)]
Base64 = Annotated[StrictStr, AfterValidator(_check_base64)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Digest(_Record):
    """SHA-256 of exact bytes (raw messages, canonical JSON), as 64 lower-case hex digits."""

    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]


class AgentRef(_Record):
    """A responsible party: the hub, the agency it acts for, an adapter or an operator."""

    id: Uri
    kind: Literal["hub", "agency", "adapter", "operator"]
    name: Name


class DeviceRef(_Record):
    """A device that produced raw messages, and how strongly the hub knows it was that device."""

    id: Name
    serial: Name | None = None
    firmware: Name | None = None
    auth: Literal["none", "api-key", "password", "mtls", "device-sig"]
    credential: Digest | None = None
    assurance: Literal["L1", "L2", "L3"]


class AdapterRef(_Record):
    """The adapter version and configuration that turned raw messages into observations."""

    name: Name
    version: Name
    config: Digest
    artifact: Digest | None = None
    source: Uri | None = None


class RawMessage(_Record):
    """One raw message exactly as received (hashed, not embedded)."""

    digest: Digest
    size: Count
    media_type: Name
    received_at: Time
    channel: Name
    device: Count | None = None
    archive: Name | None = None


class Activity(_Record):
    """The ingest run that produced the batch."""

    id: Name
    started_at: Time
    ended_at: Time

    @model_validator(mode="after")
    def _ordered(self) -> Activity:
        if self.ended_at < self.started_at:
            raise ValueError("activity ends before it starts")
        return self


class ObservationCore(_Record):
    """The server-independent view of one observation whose canonical bytes get hashed.

    Times are normalised to ``utc_text`` forms on input; ``result``, ``result_quality`` and
    ``parameters`` are JSON values kept as given (they are data, not names).
    """

    obs_id: Name
    datastream: Name
    foi: Name
    observed_property: Name
    unit: Name | None = None
    phenomenon_time: TimeText
    result_time: TimeText | None = None
    result: Any
    result_quality: Any | None = None
    valid_time: TimeText | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("result", "result_quality", "parameters")
    @classmethod
    def _json_value(cls, value: Any) -> Any:
        try:
            canonical_json(value)
        except CanonicalError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("parameters")
    @classmethod
    def _no_prov_pointer(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and PROV_PARAMETER in value:
            raise ValueError(f"parameters[{PROV_PARAMETER!r}] is not part of the core")
        return value


class ObservationBinding(_Record):
    """A leaf of the batch tree: which observation, the hash of its core, which raw message."""

    obs_id: Name
    core: Digest
    raw: Count


class ObservationsSummary(_Record):
    """Count and RFC 9162 root of the batch's binding leaves, in ingest order."""

    count: Count
    root: Digest


def _uuid_text(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _check_uuid(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a UUID") from exc
    if str(parsed) != value:
        raise ValueError(f"{value!r} is not the canonical lower-case UUID form")
    return value


class IngestPredicate(_Record):
    """What the hub asserts about one ingested batch (the predicate of the Statement)."""

    record_id: Annotated[StrictStr, BeforeValidator(_uuid_text), AfterValidator(_check_uuid)]
    hub: AgentRef
    agency: AgentRef
    activity: Activity
    adapter: AdapterRef
    devices: list[DeviceRef] = Field(default_factory=list)
    raw_messages: list[RawMessage] = Field(default_factory=list)
    observations: ObservationsSummary
    qc_level: Literal["raw", "auto-qc", "validated"]
    derived_from: list[Digest] = Field(default_factory=list)
    supersedes: list[Digest] = Field(default_factory=list)
    license: Uri

    @model_validator(mode="after")
    def _device_indices(self) -> IngestPredicate:
        for message in self.raw_messages:
            if message.device is not None and message.device >= len(self.devices):
                raise ValueError(f"raw message device index {message.device} has no device")
        return self


def _check_digest_set(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("a subject needs at least one digest")
    for algorithm, digest in value.items():
        if not algorithm or not _HEX.fullmatch(digest):
            raise ValueError(f"digest {algorithm!r} must be lower-case hex")
    if "sha256" in value and not _HEX64.fullmatch(value["sha256"]):
        raise ValueError("sha256 digest must be 64 hex digits")
    return value


class Subject(_Record):
    """An in-toto subject: here the batch, named by URN, with the batch root as digest."""

    name: Name
    digest: Annotated[dict[StrictStr, StrictStr], AfterValidator(_check_digest_set)]


class Statement(_Record):
    """An in-toto Statement v1 carrying an IngestPredicate."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(default=STATEMENT_TYPE, alias="_type")
    subject: Annotated[list[Subject], Field(min_length=1)]
    predicateType: Literal["https://w3id.org/auasu/prov/ingest/v1"] = PREDICATE_TYPE
    predicate: IngestPredicate


class Signature(_Record):
    """One DSSE signature; ``keyid`` is an unauthenticated hint."""

    keyid: StrictStr
    sig: Base64


class Envelope(_Record):
    """A DSSE envelope; ``canonical_json(model_dump())`` is the record's log leaf."""

    payload: Base64
    payloadType: StrictStr
    signatures: Annotated[list[Signature], Field(min_length=1)]


def statement_payload(statement: Statement) -> bytes:
    """The canonical bytes of a Statement, as signed (§5.3 rule 1)."""
    return canonical_json(statement.model_dump(mode="json", by_alias=True, exclude_none=True))


def parse_payload(payload: bytes) -> Statement:
    """The Statement in ``payload``, accepted only if ``payload`` is exactly its canonical form.

    Raises CanonicalError for non-canonical bytes and pydantic.ValidationError for content
    that does not fit the model (both are ValueError).
    """
    check_canonical(payload)
    statement = Statement.model_validate_json(payload)
    if statement_payload(statement) != payload:
        # Validation changed something (NFC, time offset, precision): the signer's bytes are
        # not what this model would have produced.
        raise CanonicalError("payload does not re-encode to the same bytes")
    return statement
