"""``auasu keys …`` and ``auasu trust …``: the hub's provenance identity and its partners' trust.

:func:`register` adds both command groups to the ``auasu`` parser. Every handler returns the
exit code itself: 0, or 2 with one line on stderr saying what is wrong. Private key material is
never printed; ``keys show`` gives fingerprints and public keys only.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config import ConfigError, HubConfig, load_config
from hub.provenance import pki, trust
from hub.provenance.certificates import CertificateError, fingerprint

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and ``trust`` with their subcommands; each sets ``func``."""
    keys = commands.add_parser("keys", help="the hub's provenance keys and certificates")
    keys_cmds = keys.add_subparsers(dest="keys_command", required=True)

    init = keys_cmds.add_parser("init", help="create the root, signing, log and witness keys")
    init.add_argument(
        "--hub-id", help="URI naming this hub (default: [provenance] hub_id, public_url or a URN)"
    )
    init.add_argument("--agency", help="agency running the hub (default: [provenance] agency)")
    init.add_argument("--origin", help="log origin (default: <host>/auasu/prov-log/v1)")
    init.add_argument("--force", action="store_true", help="move existing keys aside first")
    _agency_ca_args(init, root=True)
    _common(init, cmd_keys_init)

    rotate = keys_cmds.add_parser("rotate", help="start a new generation of one key")
    rotate.add_argument("which", choices=("signing", "log", "witness"))
    rotate.add_argument(
        "--revoke-old", action="store_true", help="also revoke the old signing certificate"
    )
    rotate.add_argument("--reason", default="superseded", help="CRL reason for --revoke-old")
    rotate.add_argument("--origin", help="new log origin (with `rotate log`)")
    _agency_ca_args(rotate, root=False)
    _root_key_arg(rotate)
    _common(rotate, cmd_keys_rotate)

    revoke = keys_cmds.add_parser("revoke", help="revoke a retired signing certificate")
    revoke.add_argument("serial", help="certificate serial in hex, as `keys show` prints it")
    revoke.add_argument("--reason", default="unspecified", help="CRL reason, e.g. keyCompromise")
    revoke.add_argument("--at", help="revocation time, ISO 8601 with zone (default: now)")
    _root_key_arg(revoke)
    _common(revoke, cmd_keys_revoke)

    show = keys_cmds.add_parser("show", help="fingerprints and public keys (never private ones)")
    show.add_argument("--json", action="store_true")
    _common(show, cmd_keys_show)

    export = keys_cmds.add_parser("export-trust", help="sign and print this hub's trust bundle")
    export.add_argument("-o", "--output", type=Path, help="write to FILE instead of stdout")
    _root_key_arg(export)
    _common(export, cmd_keys_export_trust)

    trust_parser = commands.add_parser("trust", help="partner hubs' trust bundles")
    trust_cmds = trust_parser.add_subparsers(dest="trust_command", required=True)
    add = trust_cmds.add_parser("add", help="verify and store a partner's trust bundle")
    add.add_argument("file", type=Path)
    add.add_argument("--name", help="store name (default: the partner's host)")
    add.add_argument("--pin", help="SHA-256 fingerprint of the partner's root, agreed out of band")
    _common(add, cmd_trust_add)
    listing = trust_cmds.add_parser("list", help="stored partner bundles")
    listing.add_argument("--json", action="store_true")
    _common(listing, cmd_trust_list)


def _common(parser: argparse.ArgumentParser, handler: Handler) -> None:
    parser.add_argument("--data-dir", type=Path, help="hub data directory (default: ./data)")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.set_defaults(func=_one_line_errors(handler))


def _root_key_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root-key", type=Path, help="root key file kept outside keys/")


def _agency_ca_args(parser: argparse.ArgumentParser, *, root: bool) -> None:
    if root:
        parser.add_argument("--ca-cert", type=Path, help="agency CA root certificate (PEM)")
    parser.add_argument("--signing-cert", type=Path, help="signing certificate from agency CA")
    parser.add_argument("--signing-key", type=Path, help="its Ed25519 private key (PEM)")
    parser.add_argument(
        "--intermediate", type=Path, action="append", default=[], help="intermediate CA (PEM)"
    )


def _one_line_errors(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (pki.KeysError, trust.TrustError, CertificateError, ConfigError) as exc:
            message = " ".join(str(exc).split())
        except OSError as exc:
            message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
        print(f"auasu: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    run.__doc__ = handler.__doc__
    return run


# --- handlers ----------------------------------------------------------------------------------


def cmd_keys_init(args: argparse.Namespace) -> int:
    """Create the key directory (or adopt an agency CA's signing certificate)."""
    config = _config(args)
    hub_id = args.hub_id or default_hub_id(config)
    ca_root = None
    issued = _issued(args)
    if args.ca_cert is not None or issued is not None:
        if args.ca_cert is None or issued is None:
            raise pki.KeysError("--ca-cert, --signing-cert and --signing-key go together")
        ca_root = _read_certs(args.ca_cert)[0]
    keys = pki.init_keys(
        config.data_dir,
        hub_id=hub_id,
        agency=args.agency or config.provenance.agency,
        origin=args.origin or pki.default_origin(hub_id),
        force=args.force,
        ca_root=ca_root,
        issued=issued,
    )
    print(f"created provenance keys in {pki.keys_dir(config.data_dir)}")
    _print_summary(keys)
    print("partners pin the root sha256 above; send them `auasu keys export-trust`")
    _refresh_own_bundle(keys, None)
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Rotate the signing certificate, the log key or the witness key."""
    config = _config(args)
    old = pki.load_keys(config.data_dir)
    keys = pki.rotate(
        config.data_dir,
        args.which,
        revoke_old=args.revoke_old,
        reason=args.reason,
        origin=args.origin,
        issued=_issued(args),
        root_key_file=args.root_key,
    )
    if args.which == "signing":
        print(
            f"signing certificate {old.signing_cert.serial_number:x} retired"
            f"{' and revoked' if args.revoke_old else ''}; "
            f"now {keys.signing_cert.serial_number:x}"
        )
    else:
        print(f"{args.which} key rotated; now {_vkey(keys, args.which)}")
    _refresh_own_bundle(keys, args.root_key)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a signing certificate and rewrite the CRL."""
    config = _config(args)
    serial = parse_serial(args.serial)
    when = None
    if args.at is not None:
        try:
            when = datetime.fromisoformat(args.at)
        except ValueError:
            raise pki.KeysError(f"--at is not an ISO 8601 time: {args.at!r}") from None
        if when.tzinfo is None:
            raise pki.KeysError("--at needs a timezone, e.g. 2026-01-01T06:00:00+05:00")
    keys = pki.revoke(
        config.data_dir, serial, reason=args.reason, when=when, root_key_file=args.root_key
    )
    record = next(r for r in keys.document.revocations if r.serial == serial)
    print(f"revoked {serial:x} ({record.reason}) as of {record.revoked_at.isoformat()}")
    _refresh_own_bundle(keys, args.root_key)
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    """Print the hub's identity: fingerprints and public keys only."""
    config = _config(args)
    keys = pki.load_keys(config.data_dir)
    description = describe(keys)
    if args.json:
        print(json.dumps(description, indent=2))
        return 0
    _print_summary(keys)
    for entry in description["history"]:
        state = "current" if entry["current"] else f"retired {entry['retired_at']}"
        serial = f" serial {entry['serial']}" if entry.get("serial") else ""
        print(f"  {entry['id']:12} {state}{serial} {entry.get('vkey', '')}".rstrip())
    for item in description["revocations"]:
        print(f"revoked      {item['serial']} {item['reason']} as of {item['revoked_at']}")
    print(f"trust bundle {description['trust_bundle']}")
    return 0


def cmd_keys_export_trust(args: argparse.Namespace) -> int:
    """Sign this hub's trust bundle, keep it for publishing, and print or write it."""
    config = _config(args)
    keys = pki.load_keys(config.data_dir)
    bundle = trust.write_own_bundle(keys, root_key_file=args.root_key)
    if args.output is None:
        sys.stdout.write(trust.bundle_json(bundle))
    else:
        trust.save_bundle(bundle, args.output)
        print(f"wrote trust bundle to {args.output}", file=sys.stderr)
    print(f"auasu: root sha256 {fingerprint(keys.root_cert)}", file=sys.stderr)
    return 0


def cmd_trust_add(args: argparse.Namespace) -> int:
    """Verify a partner's trust bundle and store it."""
    config = _config(args)
    name, root = trust.add_partner_bundle(
        config.data_dir, args.file, name=args.name, pinned_root_sha256=args.pin
    )
    body = trust.load_bundle(trust.trust_dir(config.data_dir) / f"{name}.json").body
    print(f"trusted {name}: {body.hub_id} ({body.agency}), root sha256 {root}")
    if args.pin is None:
        print(
            "auasu: warning: no --pin given; compare the root sha256 above with the partner "
            "out of band before relying on it",
            file=sys.stderr,
        )
    return 0


def cmd_trust_list(args: argparse.Namespace) -> int:
    """List the stored partner bundles."""
    config = _config(args)
    partners = trust.partner_bundles(config.data_dir)
    rows = [
        {
            "name": name,
            "hub_id": body.hub_id,
            "agency": body.agency,
            "origin": body.origin,
            "issued_at": body.issued_at.isoformat(),
            "root_sha256": trust.root_fingerprint(body),
            "log_keys": len(body.log_keys),
            "witness_keys": len(body.witness_keys),
        }
        for name, body in partners.items()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no partner bundles (add one with `auasu trust add FILE --pin SHA256`)")
        return 0
    for row in rows:
        print(
            f"{row['name']:24} {row['hub_id']} ({row['agency']}) origin {row['origin']} "
            f"root sha256 {row['root_sha256']} issued {row['issued_at']}"
        )
    return 0


# --- helpers -----------------------------------------------------------------------------------


def default_hub_id(config: HubConfig) -> str:
    """``[provenance] hub_id``, else ``http.public_url``, else ``urn:auasu:hub:<hostname>``."""
    if config.provenance.hub_id:
        return config.provenance.hub_id
    if config.http.public_url:
        return config.http.public_url
    host = re.sub(r"[^a-z0-9.-]+", "-", socket.gethostname().lower()).strip(".-")
    return f"urn:auasu:hub:{host or 'localhost'}"


def parse_serial(text: str) -> int:
    """A certificate serial in hex (``0x`` and colons allowed), as ``keys show`` prints it."""
    value = text.strip().lower().removeprefix("0x").replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{1,40}", value):
        raise pki.KeysError(f"serial must be hexadecimal, as `auasu keys show` prints it: {text!r}")
    return int(value, 16)


def describe(keys: pki.HubKeys) -> dict[str, Any]:
    """The public description ``keys show`` prints (no private material)."""
    document = keys.document
    current = {document.current.signing, document.current.log, document.current.witness}
    history = []
    for entry in document.history:
        item: dict[str, Any] = {
            "id": entry.id,
            "role": entry.role,
            "current": entry.id in current,
            "created_at": entry.created_at.isoformat(),
            "retired_at": entry.retired_at.isoformat() if entry.retired_at else None,
        }
        if entry.serial is not None:
            item["serial"] = f"{entry.serial:x}"
        else:
            item["vkey"] = trust.vkey_of(entry)
        history.append(item)
    stored = trust.own_bundle(keys.data_dir)
    if stored is None:
        bundle_state = "not exported yet (auasu keys export-trust)"
    else:
        why = trust.stale_reason(stored.body, keys)
        bundle_state = "current" if why is None else f"stale ({why}): run auasu keys export-trust"
    return {
        "hub_id": keys.hub_id,
        "agency": keys.agency,
        "origin": keys.origin,
        "root_sha256": fingerprint(keys.root_cert),
        "root_key": "in keys/" if _root_key_present(keys) else "offline",
        "root_not_after": keys.root_cert.not_valid_after_utc.isoformat(),
        "signing_serial": f"{keys.signing_cert.serial_number:x}",
        "signing_sha256": fingerprint(keys.signing_cert),
        "signing_not_after": keys.signing_cert.not_valid_after_utc.isoformat(),
        "log_vkey": _vkey(keys, "log"),
        "witness_vkey": _vkey(keys, "witness"),
        "history": history,
        "revocations": [
            {
                "serial": f"{r.serial:x}",
                "reason": r.reason,
                "revoked_at": r.revoked_at.isoformat(),
            }
            for r in document.revocations
        ],
        "trust_bundle": bundle_state,
    }


def _print_summary(keys: pki.HubKeys) -> None:
    info = describe(keys)
    print(f"hub id       {info['hub_id']}")
    print(f"agency       {info['agency']}")
    print(f"origin       {info['origin']}")
    print(f"root         sha256 {info['root_sha256']} (key {info['root_key']})")
    print(
        f"signing      serial {info['signing_serial']} sha256 {info['signing_sha256']} "
        f"until {info['signing_not_after']}"
    )
    print(f"log key      {info['log_vkey']}")
    print(f"witness key  {info['witness_vkey']}")


def _vkey(keys: pki.HubKeys, which: str) -> str:
    document = keys.document
    return trust.vkey_of(document.entry(getattr(document.current, which)))


def _root_key_present(keys: pki.HubKeys) -> bool:
    name = keys.document.root.key_file
    return name is not None and (pki.keys_dir(keys.data_dir) / name).exists()


def _refresh_own_bundle(keys: pki.HubKeys, root_key: Path | None) -> None:
    """Re-sign the published bundle after a change, when the root key is at hand."""
    try:
        trust.write_own_bundle(keys, root_key_file=root_key)
    except pki.KeysError:
        print(
            "auasu: warning: the published trust bundle is now stale; run "
            "`auasu keys export-trust --root-key FILE` where the root key is kept",
            file=sys.stderr,
        )
        return
    print(f"trust bundle updated in {pki.keys_dir(keys.data_dir) / trust.OWN_BUNDLE}")


def _config(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config, {"data_dir": args.data_dir})


def _issued(args: argparse.Namespace) -> pki.IssuedSigning | None:
    if args.signing_cert is None and args.signing_key is None:
        if args.intermediate:
            raise pki.KeysError("--intermediate goes with --signing-cert and --signing-key")
        return None
    if args.signing_cert is None or args.signing_key is None:
        raise pki.KeysError("--signing-cert and --signing-key go together")
    try:
        key = serialization.load_pem_private_key(args.signing_key.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise pki.KeysError(f"{args.signing_key} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise pki.KeysError(f"{args.signing_key} is not an Ed25519 key")
    intermediates = tuple(c for path in args.intermediate for c in _read_certs(path))
    return pki.IssuedSigning(_read_certs(args.signing_cert)[0], key, intermediates)


def _read_certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError:
        raise pki.KeysError(f"{path} is not a PEM certificate") from None
