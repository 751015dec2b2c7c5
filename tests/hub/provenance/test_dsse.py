"""DSSE: the PAE vector, sign/verify, and every way an envelope must fail."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.provenance.dsse import SignatureError, key_id, pae, sign, verify
from hub.provenance.records import PAYLOAD_TYPE, Envelope, Signature

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'


def test_pae_vector() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "
    # Lengths count bytes, not characters.
    assert pae("тип", b"\xff") == "DSSEv1 6 тип 1 ".encode() + b"\xff"


def test_key_id_is_sha256_of_spki() -> None:
    spki = KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert key_id(KEY.public_key()) == hashlib.sha256(spki).hexdigest()
    assert len(spki) == 44


def test_sign_and_verify_round_trip() -> None:
    envelope = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    assert base64.b64decode(envelope.payload) == PAYLOAD
    assert envelope.payloadType == PAYLOAD_TYPE
    assert envelope.signatures[0].keyid == key_id(KEY.public_key())
    signature = base64.b64decode(envelope.signatures[0].sig)
    KEY.public_key().verify(signature, pae(PAYLOAD_TYPE, PAYLOAD))
    assert verify(envelope, KEY.public_key()) == PAYLOAD
    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert verify(again, KEY.public_key()) == PAYLOAD


def test_any_matching_signature_is_enough() -> None:
    ours = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    theirs = sign(PAYLOAD, PAYLOAD_TYPE, OTHER_KEY)
    both = ours.model_copy(update={"signatures": [*theirs.signatures, *ours.signatures]})
    assert verify(both, KEY.public_key()) == PAYLOAD
    assert verify(both, OTHER_KEY.public_key()) == PAYLOAD


def test_changed_payload_fails() -> None:
    envelope = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    changed = envelope.model_copy(
        update={"payload": base64.b64encode(PAYLOAD.replace(b"v1", b"v2")).decode()}
    )
    with pytest.raises(SignatureError, match="no signature"):
        verify(changed, KEY.public_key())


def test_changed_payload_type_fails() -> None:
    envelope = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    changed = envelope.model_copy(update={"payloadType": "application/json"})
    with pytest.raises(SignatureError):
        verify(changed, KEY.public_key())


def test_wrong_key_fails() -> None:
    envelope = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    with pytest.raises(SignatureError):
        verify(envelope, OTHER_KEY.public_key())


def test_changed_signature_fails() -> None:
    envelope = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    raw = bytearray(base64.b64decode(envelope.signatures[0].sig))
    raw[0] ^= 1
    changed = envelope.model_copy(
        update={"signatures": [Signature(keyid="hint", sig=base64.b64encode(raw).decode())]}
    )
    with pytest.raises(SignatureError):
        verify(changed, KEY.public_key())
    short = envelope.model_copy(update={"signatures": [Signature(keyid="hint", sig="AAAA")]})
    with pytest.raises(SignatureError):
        verify(short, KEY.public_key())


@pytest.mark.parametrize("bad", ["not base64!", "YWJj=", "YWJ", "YW-j", "YWJjZA"])
def test_malformed_base64_fails(bad: str) -> None:
    envelope = sign(PAYLOAD, PAYLOAD_TYPE, KEY)
    # model_construct skips validation, as a careless caller might; verify must still refuse.
    bad_payload = Envelope.model_construct(
        payload=bad, payloadType=PAYLOAD_TYPE, signatures=envelope.signatures
    )
    with pytest.raises(SignatureError, match="base64"):
        verify(bad_payload, KEY.public_key())
    bad_signature = Envelope.model_construct(
        payload=envelope.payload,
        payloadType=PAYLOAD_TYPE,
        signatures=[Signature.model_construct(keyid="k", sig=bad)],
    )
    with pytest.raises(SignatureError, match="base64"):
        verify(bad_signature, KEY.public_key())
