"""Canonical bytes for everything the hub signs or hashes (RFC 8785 JCS plus the §5.3 rules).

``canonical_json`` is the reference (the ``rfc8785`` package). ``core_bytes`` and
``binding_bytes`` are fast paths for the ingest hot path (one call per observation); they
produce the same bytes as ``canonical_json`` for every input, handing anything unusual to
``rfc8785``, and the tests prove the equality with hypothesis.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

import rfc8785

__all__ = [
    "CanonicalError",
    "binding_bytes",
    "canonical_json",
    "check_canonical",
    "core_bytes",
    "nfc",
    "sha256_hex",
    "utc_text",
]

_INT_MAX = 2**53 - 1

# Keys of an ObservationCore in JCS order, each with its ready-made ``"key":`` prefix.
_CORE_KEYS = (
    "datastream",
    "foi",
    "obs_id",
    "observed_property",
    "parameters",
    "phenomenon_time",
    "result",
    "result_quality",
    "result_time",
    "unit",
    "valid_time",
)
_CORE_KEY_SET = frozenset(_CORE_KEYS)
# Parameter keys repeat across observations (vendor codes, flags); their encoded ``,"key":``
# prefixes are kept, bounded, and only ASCII keys (whose code-point order is JCS order) enter.
_CACHE_LIMIT = 4096
_KEY_PREFIXES: dict[str, str] = {}
_CORE_ITEMS = tuple((key, f',"{key}":') for key in _CORE_KEYS)


class CanonicalError(ValueError):
    """A value has no canonical form (NaN, infinity, an unsafe integer, a naive time, …)."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value (integers limited to ±(2**53 - 1))."""
    try:
        return rfc8785.dumps(value)
    except (ValueError, RecursionError) as exc:
        # rfc8785 lets UnicodeEncodeError escape when sorting keys with lone surrogates.
        raise CanonicalError(f"no canonical JSON form: {exc}") from exc


def utc_text(moment: datetime) -> str:
    """An aware time as UTC text with ``Z``; microseconds kept, trailing zeros removed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CanonicalError(f"naive time {moment.isoformat()} has no UTC offset")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError as exc:
        raise CanonicalError(f"time {moment.isoformat()} is outside the UTC range") from exc
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def nfc(text: str) -> str:
    """Unicode NFC, so precomposed and decomposed Cyrillic/Kazakh names hash the same."""
    return unicodedata.normalize("NFC", text)


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_canonical(payload: bytes) -> None:
    """Raise CanonicalError unless ``payload`` is exactly the JCS form of the JSON it holds."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CanonicalError(f"payload is not UTF-8 JSON: {exc}") from exc
    if canonical_json(value) != payload:
        raise CanonicalError("payload is not in RFC 8785 canonical form")


# --- fast paths -------------------------------------------------------------------------
# Each encoder returns the JCS text of one value as a str; the whole document is encoded to
# UTF-8 once at the end, which also rejects lone surrogates as rfc8785 does.


def _slow(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def _float(value: float) -> str:
    magnitude = abs(value)
    # In this range repr() is the shortest round-trip form without an exponent, which is
    # what ECMAScript prints too, except that it marks integral values with ".0".
    if 1e-4 <= magnitude < 1e16:
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return _slow(value)


def _int(value: int) -> str:
    if -_INT_MAX <= value <= _INT_MAX:
        return str(value)
    return _slow(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _null(value: None) -> str:
    return "null"


def _list(value: list[Any]) -> str:
    encoders = _ENCODERS
    parts = []
    for item in value:
        encode = encoders.get(type(item))
        parts.append(encode(item) if encode is not None else _slow(item))
    return "[" + ",".join(parts) + "]"


def _dict(value: dict[Any, Any]) -> str:
    try:
        items = sorted(value.items())
    except TypeError:
        return _slow(value)
    prefixes = _KEY_PREFIXES
    encoders = _ENCODERS
    text = ""
    for key, item in items:
        prefix = prefixes.get(key)
        if prefix is None:
            if type(key) is not str or not key.isascii():
                # Keys outside ASCII sort by their UTF-16 code units, not by code point.
                return _slow(value)
            prefix = "," + encode_basestring(key) + ":"
            if len(prefixes) < _CACHE_LIMIT:
                prefixes[key] = prefix
        kind = type(item)
        if kind is str:
            text += prefix + encode_basestring(item)
        else:
            encode = encoders.get(kind)
            text += prefix + (encode(item) if encode is not None else _slow(item))
    return "{" + text[1:] + "}"


_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    float: _float,
    int: _int,
    bool: _bool,
    type(None): _null,
    dict: _dict,
    list: _list,
    tuple: _list,
}


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError(f"no canonical JSON form: {exc}") from exc


def core_bytes(core: Mapping[str, Any]) -> bytes:
    """``canonical_json(core)`` for an ObservationCore dump, fast (a few microseconds)."""
    if type(core) is not dict or not core.keys() <= _CORE_KEY_SET:
        return canonical_json(core)
    encoders = _ENCODERS
    text = ""
    try:
        for key, prefix in _CORE_ITEMS:
            if key in core:
                item = core[key]
                kind = type(item)
                # Most core values are strings; skipping the table lookup for them matters here.
                if kind is str:
                    text += prefix + encode_basestring(item)
                else:
                    encode = encoders.get(kind)
                    text += prefix + (encode(item) if encode is not None else _slow(item))
    except RecursionError as exc:
        raise CanonicalError(f"no canonical JSON form: {exc}") from exc
    return _utf8("{" + text[1:] + "}")


def binding_bytes(obs_id: str, core_sha256: str, raw: int) -> bytes:
    """``canonical_json({"core": {"sha256": core_sha256}, "obs_id": obs_id, "raw": raw})``, fast."""
    if type(obs_id) is not str or type(core_sha256) is not str or type(raw) is not int:
        return canonical_json({"core": {"sha256": core_sha256}, "obs_id": obs_id, "raw": raw})
    return _utf8(
        '{"core":{"sha256":'
        + encode_basestring(core_sha256)
        + '},"obs_id":'
        + encode_basestring(obs_id)
        + ',"raw":'
        + _int(raw)
        + "}"
    )
