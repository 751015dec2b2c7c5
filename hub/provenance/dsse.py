"""DSSE envelopes (secure-systems-lab/dsse v1) signed with Ed25519.

The signature covers PAE(payloadType, payload), so neither the type nor the bytes can be
swapped without breaking it; the envelope's ``keyid`` is only a hint for finding the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.provenance.records import Envelope, Signature

__all__ = ["SignatureError", "key_id", "pae", "sign", "verify"]


class SignatureError(ValueError):
    """An envelope is malformed or carries no signature that verifies with the given key."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: ``DSSEv1 SP len(type) SP type SP len(body) SP body``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the key's SubjectPublicKeyInfo DER (the DSSE ``keyid`` hint)."""
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise SignatureError(f"{what} is not standard base64") from exc
    if _b64(raw) != text:
        raise SignatureError(f"{what} is not canonical base64")
    return raw


def sign(payload: bytes, payload_type: str, key: Ed25519PrivateKey) -> Envelope:
    """An envelope over ``payload`` with one Ed25519 signature by ``key``."""
    signature = key.sign(pae(payload_type, payload))
    return Envelope(
        payload=_b64(payload),
        payloadType=payload_type,
        signatures=[Signature(keyid=key_id(key.public_key()), sig=_b64(signature))],
    )


def verify(envelope: Envelope, public_key: Ed25519PublicKey) -> bytes:
    """The payload of ``envelope`` if one of its signatures verifies with ``public_key``."""
    # Envelopes built with model_construct skip validation, so decode strictly here as well.
    payload = _unb64(envelope.payload, "payload")
    if not isinstance(envelope.payloadType, str):
        raise SignatureError("payloadType is not text")
    message = pae(envelope.payloadType, payload)
    for signature in envelope.signatures:
        try:
            public_key.verify(_unb64(signature.sig, "signature"), message)
        except InvalidSignature:
            continue
        return payload
    raise SignatureError("no signature in the envelope verifies with this key")
