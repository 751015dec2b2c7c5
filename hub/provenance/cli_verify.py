"""``auasu verify``: check one observation's provenance offline (provenance.md §5.7).

::

    auasu verify BUNDLE --trust TRUST [--observation FILE] [--raw FILE]
                 [--replay --registry FILE] [--state DIR] [--pin SHA256]
    auasu verify --url OBSERVATION_URL --trust TRUST [--state DIR] [--pin SHA256]

The second form fetches ``<hub>/prov/bundle?observation=URL`` and the Observation's own JSON,
then verifies exactly as the first. The verdict is printed as JSON on stdout. Exit codes: 0 when
every check passed; 1 when one failed, with one line ``verify: <check> failed: <reason>`` on
stderr; 2 when the command cannot run (usage, unreadable or malformed files, an unreachable
hub), with one line saying why.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import requests
from pydantic import ValidationError

from hub.provenance.bundle import ProvBundle
from hub.provenance.replay import replay_check
from hub.provenance.trust import SignedTrustBundle, TrustError, load_bundle
from hub.provenance.verify import Verdict, verify_bundle, with_check

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "cmd_verify", "register"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TIMEOUT_S = 30.0
_OBSERVATION_URL = re.compile(
    r"(https?://[^/?#\s]+(?:/[^?#\s]*)?)/v1\.1/Observations\([0-9]{1,19}\)"
)


class _Usage(Exception):
    """The command cannot run; the message is the one line printed."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify`` (sets ``func`` to :func:`cmd_verify`)."""
    parser = commands.add_parser(
        "verify", help="check an observation's signed provenance offline (exit 1 if it fails)"
    )
    parser.add_argument("bundle", nargs="?", type=Path, help="bundle JSON (from /prov/bundle)")
    parser.add_argument("--url", help="STA Observation URL: fetch its bundle and JSON first")
    parser.add_argument("--trust", type=Path, required=True, help="the hub's trust bundle JSON")
    parser.add_argument("--observation", type=Path, help="harvested STA or Features JSON")
    parser.add_argument("--raw", type=Path, help="the raw message bytes")
    parser.add_argument(
        "--replay", action="store_true", help="re-run the recorded adapter on the raw bytes"
    )
    parser.add_argument("--registry", type=Path, help="station registry JSON for --replay")
    parser.add_argument("--state", type=Path, help="directory keeping the last checkpoint seen")
    parser.add_argument("--pin", help="SHA-256 fingerprint of the hub's root certificate")
    parser.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify, print the verdict, and return the exit code."""
    try:
        verdict = _run(args)
    except _Usage as exc:
        print(f"verify: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    print(verdict.model_dump_json(indent=2))
    first = verdict.first_failure()
    if first is None:
        return EXIT_OK
    reason = first.detail.removeprefix("not checked: ")
    print(f"verify: {first.name} failed: {' '.join(reason.split())}", file=sys.stderr)
    return EXIT_FAILED


def _run(args: argparse.Namespace) -> Verdict:
    if (args.bundle is None) == (args.url is None):
        raise _Usage("give a bundle file or --url OBSERVATION_URL (one of them)")
    if args.url is not None and args.observation is not None:
        raise _Usage("--observation cannot be used with --url (the observation is fetched)")
    if args.registry is not None and not args.replay:
        raise _Usage("--registry is only used with --replay")
    trust = _trust(args.trust)
    raw = _read_bytes(args.raw) if args.raw is not None else None
    fetch = None
    if args.url is not None:
        base = _hub_base(args.url)
        bundle = _bundle(_get(f"{base}/prov/bundle", {"observation": args.url}), args.url)
        observation = _json_object(_get(args.url, {}), args.url)

        def fetch(path: str) -> bytes:
            return _get(base + path, {})

    else:
        bundle = _bundle(_read_bytes(args.bundle), str(args.bundle))
        observation = None
        if args.observation is not None:
            observation = _json_object(_read_bytes(args.observation), str(args.observation))
    devices = _registry(args.registry) if args.registry is not None else None
    verdict = verify_bundle(
        bundle,
        trust,
        observation=observation,
        raw=raw,
        state_dir=args.state,
        pinned_root_sha256=args.pin,
        fetch=fetch,
    )
    if args.replay:
        verdict = with_check(verdict, replay_check(bundle, raw, devices=devices))
    return verdict


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Usage(f"cannot read {path}: {exc.strerror or exc}") from None


def _trust(path: Path) -> SignedTrustBundle:
    try:
        return load_bundle(path)
    except TrustError as exc:
        raise _Usage(str(exc)) from None


def _bundle(data: bytes, where: str) -> ProvBundle:
    try:
        return ProvBundle.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"]) or "document"
        raise _Usage(f"{where} is not a provenance bundle: {location}: {error['msg']}") from None


def _json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Usage(f"{where} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _Usage(f"{where} is not a JSON object")
    return value


def _registry(path: Path) -> Any:
    from hub.model.registry import RegistryError, StationDirectory, load_registry

    try:
        return StationDirectory(load_registry(path))
    except (RegistryError, OSError) as exc:
        raise _Usage(f"registry {path}: {exc}") from None


def _hub_base(url: str) -> str:
    match = _OBSERVATION_URL.fullmatch(url.strip())
    if match is None:
        raise _Usage(f"not an STA Observation URL (http(s)://…/v1.1/Observations(<id>)): {url}")
    return match.group(1)


def _get(url: str, params: dict[str, str]) -> bytes:
    try:
        response = requests.get(url, params=params, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise _Usage(f"cannot fetch {url}: {exc}") from None
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message", "") if isinstance(body, dict) else response.text[:200]
        raise _Usage(f"{url} answered {response.status_code}: {message}")
    return response.content
