"""C2SP signed notes, log checkpoints and witness cosignatures (Ed25519 only).

The hub signs each checkpoint of its log as a note (signature type 0x01); partner hubs acting
as witnesses add ``cosignature/v1`` lines (type 0x04) after checking consistency. Parsing is
strict: anything that is not exactly the C2SP text format raises NoteError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "COSIGNATURE_TYPE",
    "ED25519_TYPE",
    "Checkpoint",
    "NoteError",
    "add_signature_lines",
    "cosign",
    "note_key_id",
    "open_note",
    "parse_verifier_key",
    "sign_note",
    "verifier_key",
    "verify_cosignatures",
]

ED25519_TYPE = 0x01
COSIGNATURE_TYPE = 0x04
MAX_SIGNATURES = 100

_DASH = "\u2014 "
_SIZE = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_MAX_TIMESTAMP = 2**63 - 1


class NoteError(ValueError):
    """A note, checkpoint, key or cosignature is malformed or does not verify."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not standard base64") from exc
    if _b64(raw) != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _check_name(name: str) -> None:
    if not name or any(char.isspace() or char == "+" for char in name):
        raise NoteError(f"key name {name!r} is empty or contains a space or '+'")
    if _CONTROL.search(name) or "\n" in name:
        raise NoteError("key name contains control characters")


def _raw_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def note_key_id(name: str, public_key: Ed25519PublicKey, sig_type: int = ED25519_TYPE) -> bytes:
    """The 4-byte key ID: SHA-256(name || "\\n" || type || 32-byte key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([sig_type]) + _raw_key(public_key)
    return hashlib.sha256(material).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey, sig_type: int = ED25519_TYPE) -> str:
    """The C2SP vkey text ``<name>+<hex key id>+<base64(type || key)>``."""
    _check_name(name)
    key_id = note_key_id(name, public_key, sig_type).hex()
    return f"{name}+{key_id}+{_b64(bytes([sig_type]) + _raw_key(public_key))}"


def parse_verifier_key(vkey: str) -> tuple[str, int, Ed25519PublicKey]:
    """``(name, signature type, key)`` from vkey text; the embedded key ID must match."""
    # The base64 key material may itself contain '+'; only the first two separate fields.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key has three '+'-separated fields")
    name, key_id, material = parts
    _check_name(name)
    if not _HEX8.fullmatch(key_id):
        raise NoteError("verifier key ID must be 8 lower-case hex digits")
    raw = _unb64(material, "verifier key")
    if len(raw) != 33 or raw[0] not in (ED25519_TYPE, COSIGNATURE_TYPE):
        raise NoteError("verifier key is not an Ed25519 note or cosignature key")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if note_key_id(name, public_key, raw[0]).hex() != key_id:
        raise NoteError("verifier key ID does not match the name and key")
    return name, raw[0], public_key


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A C2SP checkpoint body: log origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not line or "\n" in line or _CONTROL.search(line):
                raise NoteError("checkpoint lines must be non-empty single lines")
        if not 0 <= self.size <= _MAX_TIMESTAMP:
            raise NoteError(f"checkpoint size {self.size} out of range")
        if len(self.root_hash) != 32:
            raise NoteError("checkpoint root hash must be 32 bytes")

    def body(self) -> str:
        """The note text: origin, size and base64 root, each newline-terminated."""
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """The checkpoint in a note text; strict about every line."""
        if not body.endswith("\n"):
            raise NoteError("checkpoint text must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root hash lines")
        origin, size, root_hash, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise NoteError(f"checkpoint size {size!r} is not a decimal without leading zeros")
        root = _unb64(root_hash, "checkpoint root hash")
        return cls(origin, int(size), root, tuple(extensions))


def _check_text(text: str) -> None:
    if not text or not text.endswith("\n"):
        raise NoteError("note text must be non-empty and end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note contains control characters")


@dataclass(frozen=True, slots=True)
class _SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def _parse_line(line: str) -> _SignatureLine:
    if not line.startswith(_DASH):
        raise NoteError("signature line does not start with an em dash and a space")
    name, space, encoded = line[len(_DASH) :].partition(" ")
    if not space:
        raise NoteError("signature line has no signature")
    _check_name(name)
    raw = _unb64(encoded, "signature")
    if len(raw) < 5:
        raise NoteError("signature is shorter than a key ID and one byte")
    return _SignatureLine(name, raw[:4], raw[4:])


def _split(note: str) -> tuple[str, list[_SignatureLine]]:
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    body, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return body, [_parse_line(line) for line in lines]


def _signature_line(name: str, signature: bytes) -> str:
    return f"{_DASH}{name} {_b64(signature)}"


def sign_note(body: str, name: str, key: Ed25519PrivateKey) -> str:
    """The full signed note: ``body``, a blank line and one Ed25519 signature line."""
    _check_text(body)
    _check_name(name)
    key_id = note_key_id(name, key.public_key(), ED25519_TYPE)
    signature = key.sign(body.encode("utf-8"))
    return body + "\n" + _signature_line(name, key_id + signature) + "\n"


def add_signature_lines(note: str, lines: Sequence[str]) -> str:
    """``note`` with extra signature lines (e.g. cosignatures) appended, skipping duplicates."""
    body, existing = _split(note)
    present = set(note[len(body) + 1 :].splitlines())
    extra: list[str] = []
    for line in lines:
        text = line.removesuffix("\n")
        if "\n" in text:
            raise NoteError("a signature line must be one line")
        _parse_line(text)
        if text not in present:
            present.add(text)
            extra.append(text)
    if len(existing) + len(extra) > MAX_SIGNATURES:
        raise NoteError(f"note would have more than {MAX_SIGNATURES} signatures")
    return note + "".join(text + "\n" for text in extra)


def open_note(note: str, known: Mapping[str, Ed25519PublicKey]) -> tuple[str, list[str]]:
    """``(body, names of known keys whose signature verifies)``.

    Signatures from unknown keys (name or key ID not matching) are ignored; a failing signature
    from a known key, or no valid known signature at all, raises NoteError.
    """
    body, signatures = _split(note)
    message = body.encode("utf-8")
    verified: list[str] = []
    for line in signatures:
        public_key = known.get(line.name)
        if public_key is None or line.key_id != note_key_id(line.name, public_key):
            continue
        try:
            public_key.verify(line.signature, message)
        except InvalidSignature as exc:
            raise NoteError(f"signature by known key {line.name!r} does not verify") from exc
        if line.name not in verified:
            verified.append(line.name)
    if not verified:
        raise NoteError("note has no valid signature from a known key")
    return body, verified


def _cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


def cosign(checkpoint_body: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """One ``cosignature/v1`` line by witness ``name`` over a checkpoint body at ``timestamp``."""
    Checkpoint.parse(checkpoint_body)
    _check_name(name)
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature time {timestamp} out of range")
    key_id = note_key_id(name, key.public_key(), COSIGNATURE_TYPE)
    signature = key.sign(_cosigned_message(checkpoint_body, timestamp))
    return _signature_line(name, key_id + timestamp.to_bytes(8, "big") + signature)


def verify_cosignatures(note: str, witnesses: Mapping[str, Ed25519PublicKey]) -> dict[str, int]:
    """Witness name -> cosigned Unix time for each valid cosignature by a known witness.

    A witness with several valid cosignatures reports its earliest time (the tightest bound
    on when the tree existed); a known witness's cosignature that fails raises NoteError.
    """
    body, signatures = _split(note)
    times: dict[str, int] = {}
    for line in signatures:
        public_key = witnesses.get(line.name)
        if public_key is None:
            continue
        if line.key_id != note_key_id(line.name, public_key, COSIGNATURE_TYPE):
            continue
        if len(line.signature) != 8 + 64:
            raise NoteError(f"cosignature by {line.name!r} is not 8 + 64 bytes")
        timestamp = int.from_bytes(line.signature[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise NoteError(f"cosignature by {line.name!r} has an out-of-range time")
        try:
            public_key.verify(line.signature[8:], _cosigned_message(body, timestamp))
        except InvalidSignature as exc:
            raise NoteError(f"cosignature by {line.name!r} does not verify") from exc
        times[line.name] = min(timestamp, times.get(line.name, timestamp))
    return times
