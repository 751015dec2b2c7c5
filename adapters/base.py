"""The adapter contract: raw vendor bytes in, vendor-neutral readings (or a typed rejection) out.

An adapter knows one vendor protocol or feed format. It never touches the store, the network or
the mapping tables: the hub gives it the raw bytes, where they came from and a read-only view of the
device registry, and takes back :class:`Decoded` or :class:`Rejection`. Everything downstream
(unit conversion, SensorThings entities, provenance, acknowledgement) is the hub's job.

Adapters are discovered through the entry-point group ``auasu.adapters``; each entry point names a
zero-argument factory (usually the adapter class) returning an :class:`Adapter`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENTRY_POINT_GROUP = "auasu.adapters"

DeviceAuth = Literal["none", "api-key", "password", "mtls", "device-sig"]
"""How a device authenticates on its channel (provenance assurance L1 for all but the last two)."""


class Aggregation(StrEnum):
    """How a value summarises the phenomenon over its phenomenon time."""

    INSTANT = "instant"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    TOTAL = "total"


class Quality(StrEnum):
    """Vendor-neutral result quality derived from a source data flag (hj212.md §1.6)."""

    VALID = "valid"
    INVALID_STOPPED = "invalid:stopped"
    INVALID_MAINTENANCE = "invalid:maintenance"
    SUBSTITUTED = "substituted:manual"
    INVALID_FAULT = "invalid:fault"
    INVALID_CALIBRATION = "invalid:calibration"
    CENSORED_ABOVE_RANGE = "censored:above-range"
    MISSING_COMMS = "missing:communication"
    INVALID_POWER = "invalid:power"
    INVALID = "invalid"
    UNKNOWN = "unknown"


class PhenomenonTime(BaseModel):
    """An instant (``end`` is None) or a half-open interval ``[start, end)``, always in UTC."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime | None = None

    @field_validator("start", "end")
    @classmethod
    def _must_be_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        offset = value.utcoffset()
        if offset is None or offset != timedelta(0):
            raise ValueError("phenomenon time must be timezone-aware UTC")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> PhenomenonTime:
        if self.end is not None and self.end <= self.start:
            raise ValueError("interval end must be after its start")
        return self

    @property
    def is_interval(self) -> bool:
        return self.end is not None

    def iso(self) -> str:
        """ISO 8601 text as SensorThings writes it (``start/end`` for intervals)."""
        start = _iso_utc(self.start)
        return start if self.end is None else f"{start}/{_iso_utc(self.end)}"


def _iso_utc(value: datetime) -> str:
    text = value.isoformat().replace("+00:00", "Z")
    return text


class Reading(BaseModel):
    """One vendor-neutral value: what a device said, about what, when, and how trustworthy."""

    model_config = ConfigDict(frozen=True)

    station: str = Field(description="Registry station id, e.g. 'lihe-air-saryarka'")
    factor: str = Field(description="Vendor factor code as sent, e.g. 'a34004'")
    observed_property: str = Field(description="Stable observed-property key, e.g. 'pm2_5'")
    value: float
    raw_value: str = Field(description="The value exactly as received")
    unit: str = Field(description="UCUM unit the device sent the value in (from the registry)")
    aggregation: Aggregation
    phenomenon_time: PhenomenonTime
    result_time: datetime | None = None
    source_flag: str | None = None
    quality: Quality = Quality.VALID
    extra: dict[str, str] = Field(default_factory=dict, description="Vendor fields kept verbatim")


class ChannelContext(BaseModel):
    """Where raw bytes came from."""

    model_config = ConfigDict(frozen=True)

    channel: str = Field(description="'hj212-tcp', 'file', 'http', ...")
    peer: str = Field(description="Remote address, or the file path for batch ingest")
    received_at: datetime


class DeviceProfile(BaseModel):
    """What the registry knows about one device, as an adapter may see it (no clear secrets)."""

    model_config = ConfigDict(frozen=True)

    station: str
    device_id: str = Field(description="Vendor device id (HJ 212 MN)")
    system_code: str | None = Field(default=None, description="HJ 212 ST")
    kind: str
    timezone: str = "Asia/Almaty"
    secret_hash: str | None = Field(default=None, description="Output of hash_secret()")
    units: dict[str, str] = Field(default_factory=dict, description="factor code -> UCUM unit")
    options: dict[str, str] = Field(default_factory=dict, description="Per-device opt-ins")

    def verify_secret(self, candidate: str) -> bool:
        """True when ``candidate`` matches the stored secret hash (constant time)."""
        return self.secret_hash is not None and verify_secret(candidate, self.secret_hash)


@runtime_checkable
class DeviceDirectory(Protocol):
    """Read-only lookup of registered devices by vendor device id."""

    def device(self, source: str, device_id: str) -> DeviceProfile | None: ...


class RejectionCode(StrEnum):
    """Why raw input was refused. Each code maps to a protocol reply and an HTTP status."""

    FRAMING = "framing"
    CHECKSUM = "checksum"
    UNKNOWN_DEVICE = "unknown-device"
    BAD_SECRET = "bad-secret"
    MALFORMED = "malformed"
    BAD_TIME = "bad-time"
    BAD_VALUE = "bad-value"
    UNSUPPORTED = "unsupported"
    INCOMPLETE = "incomplete"

    @property
    def http_status(self) -> int:
        return {
            RejectionCode.UNKNOWN_DEVICE: 403,
            RejectionCode.BAD_SECRET: 401,
            RejectionCode.UNSUPPORTED: 415,
        }.get(self, 400)


class Rejection(BaseModel):
    """A typed refusal of raw input; the hub quarantines the bytes with this reason."""

    model_config = ConfigDict(frozen=True)

    code: RejectionCode
    reason: str
    station: str | None = None
    device_id: str | None = None
    reply: bytes | None = Field(default=None, description="Protocol reply to send, if any")
    related_frames: tuple[str, ...] = Field(
        default=(), description="SHA-256 of earlier raw inputs this rejection also covers"
    )


class Decoded(BaseModel):
    """The outcome of decoding accepted raw input.

    ``readings`` may be empty (a split piece waiting for its siblings, a heartbeat). ``partial``
    lists values that were dropped with the reason (e.g. NaN); the hub keeps the raw bytes in
    quarantine with those reasons, so nothing is lost even though the bad values are not stored.
    ``ack`` is the reply to send once the readings are durably stored; ``None`` means no reply.
    ``related_frames`` names the SHA-256 of earlier raw inputs whose content these readings
    also came from (split-packet pieces).
    """

    model_config = ConfigDict(frozen=True)

    station: str | None
    device_id: str | None
    readings: tuple[Reading, ...] = ()
    partial: tuple[str, ...] = ()
    ack: bytes | None = None
    pending: bool = Field(default=False, description="Held back: part of an incomplete set")
    related_frames: tuple[str, ...] = ()


class AdapterError(Exception):
    """An adapter bug or misconfiguration (not bad input: bad input is a Rejection)."""


class Adapter(ABC):
    """A vendor adapter. Instances are created once per hub process and must be thread-safe
    for :meth:`decode` calls made from the single ingest writer thread."""

    name: str
    version: str
    source: Literal["lihe-hj212", "kazhydromet"] | str
    description: str
    # What provenance records say of this adapter's input (provenance.md §5.2): the media type
    # of one unit of raw input, and how a device proves who it is on this channel.
    media_type: str = "application/octet-stream"
    device_auth: DeviceAuth = "none"

    def provenance_config(self) -> Mapping[str, Any]:
        """The configuration that decides what this adapter makes of raw bytes (tables,
        coefficients, their versions), as JSON data without floats: its digest goes into every
        provenance record, so a replay can tell it runs the adapter as it was configured."""
        return {}

    @abstractmethod
    def decode(
        self, raw: bytes, context: ChannelContext, devices: DeviceDirectory
    ) -> Decoded | Rejection:
        """Turn one unit of raw input (one frame, one file) into readings or a rejection."""

    def split(self, stream: bytes) -> Iterable[bytes]:
        """Cut a recorded byte stream (a capture file) into decodable units.

        The default treats the whole input as one unit; stream protocols override it.
        """
        return (stream,)

    def expire(self, now: datetime) -> list[Rejection]:
        """Give up on held-back state older than the adapter's timeout (default: none)."""
        return []


# Device secrets: HJ 212 passwords are 6-character shared secrets sent in clear on the wire;
# the registry keeps only a salted scrypt hash so a leaked database does not leak them.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """Salted scrypt hash of a device secret, in a self-describing text form."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(candidate: str, stored: str) -> bool:
    """Check ``candidate`` against a :func:`hash_secret` result in constant time.

    scrypt costs tens of milliseconds by design, and a logger sends its secret with every frame,
    so verdicts are cached per (stored hash, SHA-256 of the candidate) for the process lifetime.
    """
    key = (stored, hashlib.sha256(candidate.encode("utf-8")).digest())
    cached = _verdicts.get(key)
    if cached is None:
        if len(_verdicts) >= _VERDICT_CACHE_SIZE:
            _verdicts.clear()
        cached = _verdicts[key] = _verify_uncached(candidate, stored)
    return cached


_VERDICT_CACHE_SIZE = 4096
_verdicts: dict[tuple[str, bytes], bool] = {}


def _verify_uncached(candidate: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            candidate.encode("utf-8"),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)
