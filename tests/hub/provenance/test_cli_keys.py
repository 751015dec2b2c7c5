"""``auasu keys`` and ``auasu trust`` handlers, run through a parser built with ``register``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from hub.provenance import cli_keys, pki, trust
from hub.provenance.certificates import issue_signing_certificate, make_root

HUB = "https://aq.example.kz"


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUASU_PUBLIC_URL", "AUASU_DATA_DIR", "AUASU_DB"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="auasu")
    commands = parser.add_subparsers(dest="command", required=True)
    cli_keys.register(commands)
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("auasu: error: "), err
    assert fragment in err, err
    assert "Traceback" not in err


def _pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_init_defaults_to_a_hostname_urn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "Station_7.local")
    code, out, err = run(capsys, "keys", "init", "--data-dir", str(tmp_path))
    assert code == 0, err
    keys = pki.load_keys(tmp_path)
    assert keys.hub_id == "urn:auasu:hub:station-7.local"
    assert keys.origin == "station-7.local/auasu/prov-log/v1"
    assert keys.agency == "AuaSu hub"
    assert pki.fingerprint(keys.root_cert) in out
    assert "trust bundle updated" in out and trust.own_bundle(tmp_path) is not None
    assert "PRIVATE KEY" not in out + err


def test_init_takes_the_hub_id_from_the_public_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.toml"
    data = tmp_path / "data"
    config.write_text(f'data_dir = "{data}"\n[http]\npublic_url = "https://aq.example.kz/auasu"\n')
    code, _, err = run(capsys, "keys", "init", "--config", str(config), "--agency", "Kazhydromet")
    assert code == 0, err
    keys = pki.load_keys(data)
    assert (keys.hub_id, keys.origin, keys.agency, keys.witness_name) == (
        "https://aq.example.kz/auasu",
        "aq.example.kz/auasu/prov-log/v1",
        "Kazhydromet",
        "aq.example.kz/witness",
    )
    config.write_text(
        f'data_dir = "{data}"\n[http]\npublic_url = "https://aq.example.kz/auasu"\n'
        '[provenance]\nhub_id = "urn:auasu:hub:kazhydromet-astana"\nagency = "Kazhydromet"\n'
    )
    code, _, err = run(capsys, "keys", "init", "--config", str(config), "--force")
    assert code == 0, err
    keys = pki.load_keys(data)
    assert (keys.hub_id, keys.origin, keys.agency) == (
        "urn:auasu:hub:kazhydromet-astana",
        "kazhydromet-astana/auasu/prov-log/v1",
        "Kazhydromet",
    )


def test_init_refuses_to_overwrite_and_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("keys", "init", "--data-dir", str(tmp_path), "--hub-id", HUB)
    assert run(capsys, *base)[0] == 0
    code, _, err = run(capsys, *base)
    _one_line_error(code, err, "already exist")
    code, _, err = run(capsys, *base, "--force")
    assert code == 0, err
    code, _, err = run(capsys, "keys", "init", "--data-dir", str(tmp_path / "x"), "--hub-id", "no")
    _one_line_error(code, err, "hub id must be")
    code, _, err = run(capsys, "keys", "show", "--config", str(tmp_path / "missing.toml"))
    _one_line_error(code, err, "config file not found")


def test_show_needs_keys_and_prints_only_public_material(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "keys", "show", "--data-dir", str(tmp_path))
    _one_line_error(code, err, "run `auasu keys init`")
    run(capsys, "keys", "init", "--data-dir", str(tmp_path), "--hub-id", HUB)
    code, out, _ = run(capsys, "keys", "show", "--data-dir", str(tmp_path))
    keys = pki.load_keys(tmp_path)
    assert code == 0
    assert pki.fingerprint(keys.root_cert) in out and f"{keys.signing_cert.serial_number:x}" in out
    assert "trust bundle current" in out and "(key in keys/)" in out
    for path in (tmp_path / "keys").glob("*.key.pem"):
        body = "".join(path.read_text().splitlines()[1:-1])
        assert body not in out
    code, out, _ = run(capsys, "keys", "show", "--json", "--data-dir", str(tmp_path))
    shown = json.loads(out)
    assert shown["hub_id"] == HUB and shown["root_key"] == "in keys/"
    assert [e["id"] for e in shown["history"]] == ["signing-1", "log-1", "witness-1"]
    assert "PRIVATE" not in out


def test_rotate_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ("--data-dir", str(tmp_path))
    run(capsys, "keys", "init", *data, "--hub-id", HUB)
    first = pki.load_keys(tmp_path).signing_cert.serial_number
    code, out, err = run(capsys, "keys", "rotate", "signing", *data)
    assert code == 0, err
    second = pki.load_keys(tmp_path).signing_cert.serial_number
    assert f"{first:x} retired; now {second:x}" in out

    code, _, err = run(capsys, "keys", "rotate", "witness", "--revoke-old", *data)
    _one_line_error(code, err, "only the signing certificate")
    code, out, _ = run(capsys, "keys", "rotate", "log", "--origin", "aq.example.kz/v2", *data)
    assert code == 0 and "log key rotated; now aq.example.kz/v2+" in out

    code, _, err = run(capsys, "keys", "revoke", "xyz", *data)
    _one_line_error(code, err, "serial must be hexadecimal")
    code, _, err = run(capsys, "keys", "revoke", f"{first:x}", "--at", "2026-01-01T00:00", *data)
    _one_line_error(code, err, "--at needs a timezone")
    code, _, err = run(capsys, "keys", "revoke", f"{first:x}", "--at", "yesterday", *data)
    _one_line_error(code, err, "not an ISO 8601 time")
    code, _, err = run(capsys, "keys", "revoke", "abc123", *data)
    _one_line_error(code, err, "no signing certificate with serial abc123")
    code, _, err = run(capsys, "keys", "revoke", f"{second:x}", *data)
    _one_line_error(code, err, "the one in use")
    code, _, err = run(capsys, "keys", "revoke", f"{first:x}", "--reason", "nope", *data)
    _one_line_error(code, err, "unknown revocation reason")

    hex_text = f"{first:040x}"
    with_colons = "0x" + ":".join(hex_text[i : i + 2] for i in range(0, 40, 2)).upper()
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    code, out, err = run(
        capsys, "keys", "revoke", with_colons, "--reason", "keyCompromise", "--at", at, *data
    )
    assert code == 0, err
    assert f"revoked {first:x} (keyCompromise) as of {at}" in out
    keys = pki.load_keys(tmp_path)
    assert keys.crl is not None
    assert keys.crl.get_revoked_certificate_by_serial_number(first) is not None
    code, out, _ = run(capsys, "keys", "show", *data)
    assert f"revoked      {first:x} keyCompromise" in out and "trust bundle current" in out


def test_export_trust_and_add_it_as_a_partner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    run(capsys, "keys", "init", "--data-dir", str(theirs), "--hub-id", "https://p.example.org")
    code, out, err = run(capsys, "keys", "export-trust", "--data-dir", str(theirs))
    assert code == 0, err
    pin = pki.fingerprint(pki.load_keys(theirs).root_cert)
    assert f"root sha256 {pin}" in err
    bundle = trust.SignedTrustBundle.model_validate_json(out)
    assert (
        trust.verify_trust_bundle(bundle, pinned_root_sha256=pin).hub_id == "https://p.example.org"
    )

    path = tmp_path / "theirs.json"
    code, out, _ = run(capsys, "keys", "export-trust", "-o", str(path), "--data-dir", str(theirs))
    assert code == 0 and out == "" and path.is_file()

    code, out, err = run(capsys, "trust", "list", "--data-dir", str(ours))
    assert code == 0 and "no partner bundles" in out
    wrong = "0" * 64
    code, _, err = run(capsys, "trust", "add", str(path), "--pin", wrong, "--data-dir", str(ours))
    _one_line_error(code, err, "not the pinned root")
    code, _, err = run(capsys, "trust", "add", str(path), "--name", "../x", "--data-dir", str(ours))
    _one_line_error(code, err, "partner name")
    code, _, err = run(capsys, "trust", "add", str(tmp_path / "nope.json"), "--data-dir", str(ours))
    _one_line_error(code, err, "cannot read trust bundle")

    code, out, err = run(capsys, "trust", "add", str(path), "--pin", pin, "--data-dir", str(ours))
    assert code == 0 and "trusted p.example.org: https://p.example.org" in out
    assert "warning" not in err
    code, out, err = run(capsys, "trust", "add", str(path), "--name", "p2", "--data-dir", str(ours))
    assert code == 0 and "no --pin given" in err
    code, out, _ = run(capsys, "trust", "list", "--data-dir", str(ours))
    assert code == 0 and out.count(pin) == 2 and "p.example.org" in out
    code, out, _ = run(capsys, "trust", "list", "--json", "--data-dir", str(ours))
    assert [(r["name"], r["root_sha256"]) for r in json.loads(out)] == [
        ("p.example.org", pin),
        ("p2", pin),
    ]


def test_an_offline_root_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ("--data-dir", str(tmp_path / "data"))
    run(capsys, "keys", "init", *data, "--hub-id", HUB)
    offline = tmp_path / "usb.key.pem"
    (tmp_path / "data" / "keys" / "root.key.pem").rename(offline)

    code, out, err = run(capsys, "keys", "rotate", "witness", *data)
    assert code == 0 and "published trust bundle is now stale" in err
    code, out, _ = run(capsys, "keys", "show", *data)
    assert "(key offline)" in out and "stale (the witness keys changed)" in out
    code, _, err = run(capsys, "keys", "export-trust", *data)
    _one_line_error(code, err, "--root-key")
    code, _, err = run(capsys, "keys", "rotate", "signing", *data)
    _one_line_error(code, err, "--root-key")
    code, out, err = run(capsys, "keys", "export-trust", "--root-key", str(offline), *data)
    assert code == 0, err
    code, out, _ = run(capsys, "keys", "show", *data)
    assert "trust bundle current" in out
    code, out, err = run(capsys, "keys", "rotate", "signing", "--root-key", str(offline), *data)
    assert code == 0 and "trust bundle updated" in out


def test_init_with_an_agency_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_key, ca_cert = make_root("Agency", datetime.now(UTC))
    signing = Ed25519PrivateKey.generate()
    cert = issue_signing_certificate(
        ca_key, ca_cert, signing.public_key(), hub_id=HUB, agency="Agency"
    )
    files = {
        "ca": ca_cert.public_bytes(serialization.Encoding.PEM),
        "cert": cert.public_bytes(serialization.Encoding.PEM),
        "key": _pem(signing),
        "ec": _pem(ec.generate_private_key(ec.SECP256R1())),
        "ca-key": _pem(ca_key),
    }
    for name, content in files.items():
        (tmp_path / f"{name}.pem").write_bytes(content)
    data = ("--data-dir", str(tmp_path / "data"), "--hub-id", HUB)
    p = {name: str(tmp_path / f"{name}.pem") for name in files}

    code, _, err = run(capsys, "keys", "init", *data, "--ca-cert", p["ca"])
    _one_line_error(code, err, "go together")
    code, _, err = run(capsys, "keys", "init", *data, "--signing-cert", p["cert"])
    _one_line_error(code, err, "--signing-cert and --signing-key go together")
    code, _, err = run(capsys, "keys", "init", *data, "--intermediate", p["ca"])
    _one_line_error(code, err, "--intermediate goes with")
    bad_key = ("--ca-cert", p["ca"], "--signing-cert", p["cert"], "--signing-key", p["ec"])
    code, _, err = run(capsys, "keys", "init", *data, *bad_key)
    _one_line_error(code, err, "is not an Ed25519 key")
    not_pem = ("--ca-cert", p["key"], "--signing-cert", p["cert"], "--signing-key", p["key"])
    code, _, err = run(capsys, "keys", "init", *data, *not_pem)
    _one_line_error(code, err, "is not a PEM certificate")
    garbage = ("--ca-cert", p["ca"], "--signing-cert", p["cert"], "--signing-key", p["ca"])
    code, _, err = run(capsys, "keys", "init", *data, *garbage)
    _one_line_error(code, err, "not an unencrypted PEM private key")
    missing = ("--ca-cert", p["ca"], "--signing-cert", p["cert"], "--signing-key", "/nonexistent")
    code, _, err = run(capsys, "keys", "init", *data, *missing)
    _one_line_error(code, err, "/nonexistent")

    good = ("--ca-cert", p["ca"], "--signing-cert", p["cert"], "--signing-key", p["key"])
    code, out, err = run(capsys, "keys", "init", *data, *good)
    assert code == 0, err
    assert "published trust bundle is now stale" in err  # the agency keeps its CA key
    keys = pki.load_keys(tmp_path / "data")
    assert keys.root_cert == ca_cert and keys.signing_cert == cert
    code, out, err = run(
        capsys,
        "keys",
        "export-trust",
        "--root-key",
        p["ca-key"],
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert code == 0, err
    bundle = trust.SignedTrustBundle.model_validate_json(out)
    trust.verify_trust_bundle(bundle, pinned_root_sha256=pki.fingerprint(ca_cert))

    renewal = Ed25519PrivateKey.generate()
    renewed = issue_signing_certificate(
        ca_key, ca_cert, renewal.public_key(), hub_id=HUB, agency="Agency"
    )
    (tmp_path / "new.pem").write_bytes(renewed.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "new.key.pem").write_bytes(_pem(renewal))
    code, out, err = run(
        capsys,
        "keys",
        "rotate",
        "signing",
        "--signing-cert",
        str(tmp_path / "new.pem"),
        "--signing-key",
        str(tmp_path / "new.key.pem"),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert code == 0, err
    assert pki.load_keys(tmp_path / "data").signing_cert == renewed
