"""C2SP signed notes, checkpoints and cosignatures, including the Go reference note vector."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from hub.provenance.notes import (
    Checkpoint,
    NoteError,
    add_signature_lines,
    cosign,
    note_key_id,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
    verify_cosignatures,
)

LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG = "example.com/log"
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
WITNESS = "partner.example.kz/witness"
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(200, 232)))

# golang.org/x/mod/sumdb/note's documented example (key, text and signature).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
    "pRZb6KE6RyyBwJnAM=\n"
)

ROOT = hashlib.sha256(b"root").digest()
CHECKPOINT = Checkpoint(LOG, 20852163, ROOT)


def test_key_id_formula() -> None:
    raw = LOG_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = hashlib.sha256(LOG.encode() + b"\n" + b"\x01" + raw).digest()[:4]
    assert note_key_id(LOG, LOG_KEY.public_key()) == expected
    assert expected.hex() == "d455c521"
    cosigning = hashlib.sha256(LOG.encode() + b"\n" + b"\x04" + raw).digest()[:4]
    assert note_key_id(LOG, LOG_KEY.public_key(), 0x04) == cosigning
    assert cosigning.hex() == "07bdbe2a"


def test_verifier_keys() -> None:
    vkey = verifier_key(LOG, LOG_KEY.public_key())
    assert vkey == "example.com/log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
    name, sig_type, key = parse_verifier_key(vkey)
    assert (name, sig_type) == (LOG, 0x01)
    assert key.public_bytes_raw() == LOG_KEY.public_key().public_bytes_raw()
    witness = verifier_key(WITNESS, WITNESS_KEY.public_key(), 0x04)
    assert parse_verifier_key(witness)[:2] == (WITNESS, 0x04)
    body = "AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
    for bad in [
        f"example.com/log+d455c522+{body}",
        f"example.com/log+D455C521+{body}",
        f"example.com/log+d455c5+{body}",
        f"example.com/other+d455c521+{body}",
        f"example.com/log+d455c521+{body[:-4]}",
        f"example.com/log+d455c521+{body}=",
        "example.com/log+d455c521+Ag" + body[2:],
        "example.com/log+d455c521",
        f"a+b+d455c521+{body}",
        f"+d455c521+{body}",
    ]:
        with pytest.raises(NoteError):
            parse_verifier_key(bad)
    with pytest.raises(NoteError):
        verifier_key("has space", LOG_KEY.public_key())


def test_go_reference_note() -> None:
    name, sig_type, key = parse_verifier_key(GO_VKEY)
    assert (name, sig_type) == ("PeterNeumann", 0x01)
    signer = Ed25519PrivateKey.from_private_bytes(GO_SEED)
    assert verifier_key(name, signer.public_key()) == GO_VKEY
    note = sign_note(GO_TEXT, name, signer)
    assert note == GO_TEXT + "\n" + GO_SIG
    assert open_note(note, {name: key}) == (GO_TEXT, [name])


def test_open_note_ignores_unknown_keys() -> None:
    note = sign_note(CHECKPOINT.body(), LOG, LOG_KEY)
    stranger = sign_note(CHECKPOINT.body(), "stranger.example", OTHER_KEY).split("\n\n")[-1]
    same_name_other_key = sign_note(CHECKPOINT.body(), LOG, OTHER_KEY).split("\n\n")[-1]
    noisy = add_signature_lines(note, [stranger, same_name_other_key])
    assert noisy.count("\u2014 ") == 3
    body, names = open_note(noisy, {LOG: LOG_KEY.public_key()})
    assert (body, names) == (CHECKPOINT.body(), [LOG])
    assert open_note(
        noisy, {LOG: LOG_KEY.public_key(), "stranger.example": OTHER_KEY.public_key()}
    )[1] == [LOG, "stranger.example"]


def test_open_note_rejects_notes_without_a_valid_known_signature() -> None:
    note = sign_note(CHECKPOINT.body(), LOG, LOG_KEY)
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, {})
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, {LOG: OTHER_KEY.public_key()})
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, {"other.example": LOG_KEY.public_key()})
    tampered = note.replace("20852163", "20852164")
    with pytest.raises(NoteError, match="does not verify"):
        open_note(tampered, {LOG: LOG_KEY.public_key()})
    # A witness cosignature is not a log signature, even by the same name and key.
    cosigned_only = CHECKPOINT.body() + "\n" + cosign(CHECKPOINT.body(), LOG, LOG_KEY, 1) + "\n"
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(cosigned_only, {LOG: LOG_KEY.public_key()})


def test_open_note_rejects_malformed_notes() -> None:
    note = sign_note(CHECKPOINT.body(), LOG, LOG_KEY)
    body, signature = note.split("\n\n")
    encoded = signature.split(" ")[2].rstrip("\n")
    known = {LOG: LOG_KEY.public_key()}
    for bad in [
        note.rstrip("\n"),
        body + "\n" + signature,
        body + "\n\n",
        body + "\n\n" + signature.replace("\u2014", "-"),
        body + "\n\n" + signature.replace(" ", "", 1),
        body + "\n\n" + f"\u2014 {LOG}\n",
        body + "\n\n" + f"\u2014 {LOG} {encoded[:-2]}\n",
        body + "\n\n" + f"\u2014 {LOG} {encoded} extra\n",
        body + "\n\n" + f"\u2014 {LOG} AAAAAA==\n",
        body + "\n\n" + f"\u2014 a+b {encoded}\n",
        body + "\n\n" + signature + "garbage\n",
        body.replace(LOG, LOG + "\r") + "\n\n" + signature,
        body + "\n\n" + (signature * 101),
        "",
    ]:
        with pytest.raises(NoteError):
            open_note(bad, known)


def test_sign_note_checks_its_input() -> None:
    for body, name in [("no newline", LOG), ("", LOG), ("x\n", "bad name"), ("x\n", "a+b")]:
        with pytest.raises(NoteError):
            sign_note(body, name, LOG_KEY)
    with pytest.raises(NoteError):
        sign_note("tab\there\n", LOG, LOG_KEY)


def test_checkpoint_body_and_parse() -> None:
    body = CHECKPOINT.body()
    assert body == f"{LOG}\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    assert Checkpoint.parse(body) == CHECKPOINT
    with_extensions = Checkpoint(LOG, 0, ROOT, ("ext one", "ext two"))
    assert with_extensions.body().endswith("\next one\next two\n")
    assert Checkpoint.parse(with_extensions.body()) == with_extensions
    spec_example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    parsed = Checkpoint.parse(spec_example)
    assert (parsed.origin, parsed.size) == ("example.com/behind-the-sofa", 20852163)
    assert parsed.body() == spec_example


@pytest.mark.parametrize(
    "body",
    [
        "origin\n01\nROOT\n",
        "origin\n-1\nROOT\n",
        "origin\n1.0\nROOT\n",
        "origin\n\nROOT\n",
        "origin\n 1\nROOT\n",
        "origin\n\u0661\nROOT\n",
        "origin\n99999999999999999999\nROOT\n",
        "origin\n1\nnot base64!\n",
        "origin\n1\n" + base64.b64encode(b"x" * 31).decode() + "\n",
        "origin\n1\n" + base64.b64encode(b"x" * 32).decode().rstrip("=") + "\n",
        "origin\n1\n",
        "origin\n1\nROOT",
        "\n1\nROOT\n",
        "origin\n1\nROOT\n\n",
        "origin\n1\nROOT\next\n\n",
        "",
    ],
)
def test_checkpoint_parse_rejects(body: str) -> None:
    body = body.replace("ROOT", base64.b64encode(ROOT).decode())
    with pytest.raises(NoteError):
        Checkpoint.parse(body)


def test_checkpoint_fields_are_checked() -> None:
    with pytest.raises(NoteError):
        Checkpoint(LOG, -1, ROOT)
    with pytest.raises(NoteError):
        Checkpoint(LOG, 1, ROOT[:31])
    with pytest.raises(NoteError):
        Checkpoint("two\nlines", 1, ROOT)
    with pytest.raises(NoteError):
        Checkpoint(LOG, 1, ROOT, ("",))


@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\n", min_codepoint=0x20),
        min_size=1,
    ),
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_checkpoint_round_trip(origin: str, size: int, root_hash: bytes) -> None:
    checkpoint = Checkpoint(origin, size, root_hash)
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


def test_cosignature_format() -> None:
    body = CHECKPOINT.body()
    line = cosign(body, WITNESS, WITNESS_KEY, 1679315147)
    assert line.startswith(f"\u2014 {WITNESS} ") and "\n" not in line
    raw = base64.b64decode(line.split(" ")[2], validate=True)
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == note_key_id(WITNESS, WITNESS_KEY.public_key(), 0x04)
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    WITNESS_KEY.public_key().verify(raw[12:], message)


def test_cosignatures_verify_alongside_the_log_signature() -> None:
    body = CHECKPOINT.body()
    note = sign_note(body, LOG, LOG_KEY)
    late = cosign(body, WITNESS, WITNESS_KEY, 1_775_000_100)
    early = cosign(body, WITNESS, WITNESS_KEY, 1_775_000_000)
    other = cosign(body, "other.example/w", OTHER_KEY, 5)
    cosigned = add_signature_lines(note, [late + "\n", early, other, late])
    assert cosigned.count(late) == 1
    assert add_signature_lines(cosigned, [early]) == cosigned
    assert open_note(cosigned, {LOG: LOG_KEY.public_key()}) == (body, [LOG])
    witnesses = {WITNESS: WITNESS_KEY.public_key()}
    assert verify_cosignatures(cosigned, witnesses) == {WITNESS: 1_775_000_000}
    assert verify_cosignatures(cosigned, {WITNESS: OTHER_KEY.public_key()}) == {}
    assert verify_cosignatures(note, witnesses) == {}
    # The log's own note signature is not a cosignature.
    assert verify_cosignatures(cosigned, {LOG: LOG_KEY.public_key()}) == {}
    both = {WITNESS: WITNESS_KEY.public_key(), "other.example/w": OTHER_KEY.public_key()}
    assert verify_cosignatures(cosigned, both) == {WITNESS: 1_775_000_000, "other.example/w": 5}


def test_cosignature_over_another_checkpoint_fails() -> None:
    body = CHECKPOINT.body()
    line = cosign(Checkpoint(LOG, CHECKPOINT.size + 1, ROOT).body(), WITNESS, WITNESS_KEY, 7)
    note = add_signature_lines(sign_note(body, LOG, LOG_KEY), [line])
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(note, {WITNESS: WITNESS_KEY.public_key()})
    raw = base64.b64decode(line.split(" ")[2])
    forged_time = raw[:4] + (8).to_bytes(8, "big") + raw[12:]
    forged = f"\u2014 {WITNESS} {base64.b64encode(forged_time).decode()}"
    note = add_signature_lines(sign_note(body, LOG, LOG_KEY), [forged])
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(note, {WITNESS: WITNESS_KEY.public_key()})
    truncated = f"\u2014 {WITNESS} {base64.b64encode(raw[:-1]).decode()}"
    note = add_signature_lines(sign_note(body, LOG, LOG_KEY), [truncated])
    with pytest.raises(NoteError, match="8 \\+ 64"):
        verify_cosignatures(note, {WITNESS: WITNESS_KEY.public_key()})


def test_cosign_and_add_lines_check_input() -> None:
    body = CHECKPOINT.body()
    with pytest.raises(NoteError):
        cosign("not a checkpoint\n", WITNESS, WITNESS_KEY, 1)
    with pytest.raises(NoteError):
        cosign(body, WITNESS, WITNESS_KEY, -1)
    with pytest.raises(NoteError):
        cosign(body, WITNESS, WITNESS_KEY, 2**63)
    assert cosign(body, WITNESS, WITNESS_KEY, 2**63 - 1)
    note = sign_note(body, LOG, LOG_KEY)
    for bad in ["no dash", f"\u2014 {WITNESS}", f"\u2014 {WITNESS} !!", "\u2014 a\n\u2014 b"]:
        with pytest.raises(NoteError):
            add_signature_lines(note, [bad])
    with pytest.raises(NoteError):
        add_signature_lines("not a note", [])


@given(
    st.binary(min_size=32, max_size=32),
    st.text(
        alphabet=st.characters(codec="utf-8", min_codepoint=0x21, exclude_characters="+"),
        min_size=1,
        max_size=20,
    ).filter(lambda name: not any(char.isspace() for char in name)),
    st.sampled_from([0x01, 0x04]),
)
def test_verifier_key_round_trip(seed: bytes, name: str, sig_type: int) -> None:
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    parsed_name, parsed_type, parsed_key = parse_verifier_key(
        verifier_key(name, public_key, sig_type)
    )
    assert (parsed_name, parsed_type) == (name, sig_type)
    assert parsed_key.public_bytes_raw() == public_key.public_bytes_raw()
