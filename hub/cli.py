"""The ``auasu`` command line. User errors exit 2 with one line on stderr saying what is wrong."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.config import ConfigError, HubConfig, load_config

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A user-facing failure; its message is the one line printed."""


def _common_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="hub data directory (default: ./data)")
    parser.add_argument("--db", help="database URL (default: SQLite in the data directory)")
    parser.add_argument("--config", type=Path, help="TOML configuration file")


def _config(args: argparse.Namespace, **extra: Any) -> HubConfig:
    overrides = {"data_dir": args.data_dir, "db": args.db, **extra}
    return load_config(args.config, overrides)


def _open_store(args: argparse.Namespace) -> Any:
    from hub.store import Store

    return Store.open(_config(args).database_url)


# --- commands ----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    config = _config(
        args,
        **{
            "http.port": args.http_port,
            "http.host": args.http_host,
            "hj212.port": args.hj212_port,
            "hj212.host": args.hj212_host,
        },
    )
    return _serve(config)


def _serve(
    config: HubConfig,
    after_start: Callable[[Any], None] | None = None,
    *,
    broker: Any = None,
) -> int:
    from hub.server import HubServer

    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = HubServer(config, broker=broker)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(
        f"auasu: serving http://{config.http.host}:{server.http_port} "
        f"and HJ 212 on {config.hj212.host}:{server.hj212_port} "
        f"(store: {server.store.backend})",
        flush=True,
    )
    if config.mqtt.enabled:
        kind = "private Mosquitto" if broker is not None else "broker"
        print(
            f"auasu: MQTT on mqtt://{config.mqtt.host}:{config.mqtt.port} ({kind}); "
            f"notifications link to {server.public_root()}",
            flush=True,
        )
    if after_start is not None:
        after_start(server)
    stop.wait()
    print("auasu: stopping (draining in-flight frames)", flush=True)
    server.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import PILOT_REGISTRY
    from hub.ingest.simulator import Simulator, loggers_from_registry
    from hub.model.registry import load_registry
    from hub.store import Store

    data_dir = args.data_dir or Path(".auasu-demo")
    config = _config(
        argparse.Namespace(**{**vars(args), "data_dir": data_dir}),
        **{"http.port": args.http_port, "hj212.port": args.hj212_port},
    )
    store = Store.open(config.database_url)
    store.import_stations(load_registry(PILOT_REGISTRY))
    store.close()
    document = json.loads(PILOT_REGISTRY.read_text(encoding="utf-8"))
    loggers = loggers_from_registry(document)

    config, broker = _demo_broker(config)

    def start_simulator(server: Any) -> None:
        simulator = Simulator(
            "127.0.0.1", server.hj212_port, loggers, rate_per_minute=args.rate, seed=1
        )
        server.run_in_background([simulator.run()])
        print(
            f"auasu: demo simulator playing {len(loggers)} pilot loggers "
            f"({args.rate:g} frames/min each)",
            flush=True,
        )

    try:
        return _serve(config, start_simulator, broker=broker)
    finally:
        if broker is not None:
            broker.stop()


def _demo_broker(config: HubConfig) -> tuple[HubConfig, Any]:
    """A private Mosquitto for the demo, started, and the config pointing the hub at it; or the
    config unchanged and None (MQTT configured for a broker already, or no mosquitto)."""
    from hub.sta.mqtt.wiring import demo_broker

    mqtt, process = demo_broker(config.mqtt, config.data_dir)
    return config.model_copy(update={"mqtt": mqtt}), process


def cmd_stations_import(args: argparse.Namespace) -> int:
    """Import a registry file. When ``[mqtt]`` is enabled this process, which the hub's MQTT
    connection never hears of, then publishes what the import created or changed itself, after
    the commit, with the hub's notifier and broker account (:mod:`hub.sta.mqtt.oneshot` says
    why and how). An unreachable broker costs only the notifications: a warning, exit 0."""
    from hub.model.registry import load_registry
    from hub.store import Store, registry

    records = load_registry(args.file)
    config = _config(args)
    store = Store.open(config.database_url)
    try:
        with registry.recording() as written:
            store.import_stations(records)
        devices = sum(1 for r in records if r.device_id)
        print(f"imported {len(records)} stations ({devices} with devices) from {args.file}")
        if written and config.mqtt.enabled:
            _notify_import(config, store, written)
    finally:
        store.close()
    return 0


def _notify_import(config: HubConfig, store: Any, written: Any) -> None:
    """Publish the committed import's ``written`` (a ``registry.WriteLog``) over MQTT."""
    from hub.ingest.contracts import EntityChange
    from hub.sta.mqtt.oneshot import publish_changes

    changes = [EntityChange(*change) for change in written.grouped()]
    result = publish_changes(config, store, changes)
    if result.published:
        print(f"auasu: {result.message}")
    else:
        print(f"auasu: warning: {result.message}", file=sys.stderr)


def cmd_stations_list(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        records = store.stations()
    finally:
        store.close()
    print(f"{'station':32} {'source':12} {'kind':9} {'device':26} {'tz':14} lat,lon")
    for r in records:
        print(
            f"{r.id:32} {r.source:12} {r.kind:9} {r.device_id or '-':26} "
            f"{r.logger_timezone:14} {r.lat:.4f},{r.lon:.4f}"
        )
    return 0


def cmd_adapters_list(args: argparse.Namespace) -> int:
    from hub.plugins import describe_adapters

    infos = describe_adapters()
    if args.json:
        print(json.dumps([dataclasses.asdict(info) for info in infos]))
        return 0
    print(f"{'adapter':16} {'version':8} {'source':12} {'distribution':12} description")
    for info in infos:
        print(
            f"{info.name:16} {info.version:8} {info.source:12} {info.distribution:12} "
            f"{info.description}"
        )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from adapters.base import ChannelContext
    from hub.ingest.contracts import Outcome
    from hub.ingest.pipeline import IngestPipeline
    from hub.mapping import MappingSet
    from hub.plugins import load_adapter
    from hub.store import Store

    adapter = load_adapter(args.adapter)
    for path in args.files:
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    from hub.provenance.service import open_provenance

    config = _config(args)
    store = Store.open(config.database_url)
    # A backfill is sealed like live ingest: one signed record per committed batch.
    provenance = open_provenance(config, store, {adapter.name: adapter})
    sealer = provenance.sealer if provenance is not None else None
    pipeline = IngestPipeline(store, MappingSet.load(), {adapter.name: adapter}, sealer=sealer)
    pipeline.start()
    totals = dict.fromkeys(("units", "stored", "pending", "rejected", "failed", "new"), 0)
    try:
        for path in args.files:
            units = list(adapter.split(path.read_bytes()))
            received = datetime.now(UTC)
            context = ChannelContext(channel="file", peer=str(path), received_at=received)
            progress = tqdm(
                total=len(units),
                desc=path.name,
                unit="frame",
                disable=args.quiet or not sys.stderr.isatty(),
            )
            futures = [pipeline.submit_nowait(adapter.name, unit, context) for unit in units]
            for future in futures:
                result = future.result()
                totals["units"] += 1
                totals[result.outcome.value] += 1
                totals["new"] += result.observations_new
                progress.update(1)
            progress.close()
    finally:
        pipeline.stop()
        store.close()
    print(
        f"{totals['units']} inputs: {totals['stored']} stored, {totals['pending']} pending, "
        f"{totals['rejected']} rejected; {totals['new']} new observations"
    )
    if totals[Outcome.FAILED.value]:
        raise CliError(f"{totals['failed']} inputs could not be committed")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        rows = store.station_stats()
        unattributed = store.unattributed_rejections()
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "station": r.station,
                        "source": r.source,
                        "kind": r.kind,
                        "observations": r.observations,
                        "first": r.first_time.isoformat() if r.first_time else None,
                        "last": r.last_time.isoformat() if r.last_time else None,
                        "rejected_frames": r.rejected_frames,
                    }
                    for r in rows
                ]
                + [{"station": None, "rejected_frames": unattributed}]
            )
        )
        return 0
    print(f"{'station':32} {'observations':>12} {'first (UTC)':20} {'last (UTC)':20} rejected")
    for r in rows:
        first = r.first_time.strftime("%Y-%m-%d %H:%M:%S") if r.first_time else "-"
        last = r.last_time.strftime("%Y-%m-%d %H:%M:%S") if r.last_time else "-"
        print(f"{r.station:32} {r.observations:>12} {first:20} {last:20} {r.rejected_frames}")
    print(f"{'(no station: unknown device, garbage)':32} {'':>12} {'':20} {'':20} {unattributed}")
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        entries = store.quarantine(limit=args.limit, code=args.code, station=args.station)
    finally:
        store.close()
    for e in entries:
        print(
            f"{e.received_at:%Y-%m-%dT%H:%M:%SZ} {e.outcome:8} {e.code:14} "
            f"{e.station_key or e.device_id or '-':28} {e.sha256[:12]} {e.peer}: {e.reason}"
        )
    if not entries:
        print("quarantine is empty")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """``--password``, else one line from stdin (without echo on a terminal)."""
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"password for {args.name}: ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users_add(args: argparse.Namespace) -> int:
    from hub.store.users import add_user, check_name, check_role

    # Checked before asking for a password, so a typo does not cost a prompt.
    check_name(args.name)
    check_role(args.role)
    password = _read_password(args)
    store = _open_store(args)
    try:
        add_user(store, args.name, args.role, password)
    finally:
        store.close()
    print(f"added user {args.name} (role {args.role})")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from hub.store.users import list_users

    store = _open_store(args)
    try:
        infos = list_users(store)
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": u.name,
                        "role": u.role,
                        "created_at": u.created_at.isoformat(),
                        "disabled": u.disabled,
                        "tokens": u.tokens,
                        "mqtt": u.mqtt,
                    }
                    for u in infos
                ]
            )
        )
        return 0
    if not infos:
        print("no users: nobody can write until one is added (auasu users add)")
        return 0
    print(f"{'user':32} {'role':8} {'created (UTC)':20} {'status':9} {'tokens':6} mqtt")
    for u in infos:
        status = "disabled" if u.disabled else "active"
        mqtt = "yes" if u.mqtt else "no"
        print(
            f"{u.name:32} {u.role:8} {u.created_at:%Y-%m-%d %H:%M:%S} {status:9} "
            f"{u.tokens:<6} {mqtt}"
        )
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    from hub.store.users import remove_user

    store = _open_store(args)
    try:
        remove_user(store, args.name)
    finally:
        store.close()
    print(f"removed user {args.name} and their tokens")
    return 0


def cmd_users_mqtt_secret(args: argparse.Namespace) -> int:
    from hub.store.users import check_name, set_broker_hash

    check_name(args.name)
    store = _open_store(args)
    try:
        if args.revoke:
            set_broker_hash(store, args.name, None)
            print(f"removed the MQTT account of {args.name}")
            return 0
        from hub.sta.mqtt import generate_secret, hash_password

        secret = generate_secret()
        set_broker_hash(store, args.name, hash_password(secret))
    finally:
        store.close()
    # The secret alone on stdout (scripts capture it); the advice on stderr.
    print(secret)
    print(
        f"auasu: MQTT broker secret for {args.name} (replaces any earlier one); shown only now. "
        "A running hub hands it to the broker within seconds.",
        file=sys.stderr,
    )
    return 0


def cmd_users_token(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from hub.store.users import issue_token

    if args.expires_days is not None and args.expires_days < 1:
        raise CliError(f"--expires-days must be at least 1, got {args.expires_days}")
    expires = timedelta(days=args.expires_days) if args.expires_days is not None else None
    store = _open_store(args)
    try:
        token = issue_token(store, args.name, expires_in=expires)
    finally:
        store.close()
    # The token alone on stdout (scripts capture it); the advice on stderr.
    print(token)
    until = f"expires in {args.expires_days} days" if expires else "does not expire"
    print(
        f"auasu: bearer token for {args.name} ({until}); shown only now, store it safely",
        file=sys.stderr,
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio

    from hub.demo import PILOT_REGISTRY
    from hub.ingest.simulator import Simulator, loggers_from_registry

    host, _, port_text = args.to.rpartition(":")
    if not host or not port_text.isdigit():
        raise CliError(f"--to must be HOST:PORT, got {args.to!r}")
    port = int(port_text)
    if args.replay is not None:
        if not args.replay.is_file():
            raise CliError(f"no such file: {args.replay}")
        stats = asyncio.run(
            Simulator.replay(host, port, args.replay.read_bytes(), ack_timeout_s=args.ack_timeout)
        )
    else:
        registry_path = args.registry or PILOT_REGISTRY
        try:
            document = json.loads(registry_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read registry {registry_path}: {exc}") from exc
        loggers = loggers_from_registry(document)
        simulator = Simulator(
            host,
            port,
            loggers,
            rate_per_minute=args.rate,
            duration_s=args.duration,
            ack_timeout_s=args.ack_timeout,
        )
        try:
            stats = asyncio.run(simulator.run())
        except KeyboardInterrupt:
            return 0
    print(stats)
    return 0


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auasu", description="AuaSu air and water data hub")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the hub (HTTP + HJ 212 listener)")
    _common_store_args(serve)
    serve.add_argument("--http-port", type=int)
    serve.add_argument("--http-host")
    serve.add_argument("--hj212-port", type=int)
    serve.add_argument("--hj212-host")
    serve.set_defaults(func=cmd_serve)

    demo = commands.add_parser("demo", help="serve with the pilot registry and live simulator")
    _common_store_args(demo)
    demo.add_argument("--http-port", type=int)
    demo.add_argument("--hj212-port", type=int)
    demo.add_argument("--rate", type=float, default=6.0, help="frames per logger per minute")
    demo.set_defaults(func=cmd_demo)

    stations = commands.add_parser("stations", help="the station registry")
    stations_cmds = stations.add_subparsers(dest="stations_command", required=True)
    imp = stations_cmds.add_parser("import", help="import a registry file (astana-pilot format)")
    imp.add_argument("file", type=Path)
    _common_store_args(imp)
    imp.set_defaults(func=cmd_stations_import)
    lst = stations_cmds.add_parser("list", help="list registered stations")
    _common_store_args(lst)
    lst.set_defaults(func=cmd_stations_list)

    adapters = commands.add_parser("adapters", help="installed vendor adapters")
    adapters_cmds = adapters.add_subparsers(dest="adapters_command", required=True)
    alist = adapters_cmds.add_parser("list", help="list adapters found via entry points")
    alist.add_argument("--json", action="store_true")
    alist.set_defaults(func=cmd_adapters_list)

    ingest = commands.add_parser("ingest", help="batch-ingest files through an adapter")
    ingest.add_argument("--adapter", required=True)
    ingest.add_argument("files", type=Path, nargs="+")
    ingest.add_argument("--quiet", action="store_true")
    _common_store_args(ingest)
    ingest.set_defaults(func=cmd_ingest)

    stats = commands.add_parser("stats", help="observations and rejections per station")
    stats.add_argument("--json", action="store_true")
    _common_store_args(stats)
    stats.set_defaults(func=cmd_stats)

    quarantine = commands.add_parser("quarantine", help="rejected input and why")
    q_cmds = quarantine.add_subparsers(dest="quarantine_command", required=True)
    qlist = q_cmds.add_parser("list", help="newest refusals first")
    qlist.add_argument("--limit", type=int, default=50)
    qlist.add_argument("--code")
    qlist.add_argument("--station")
    _common_store_args(qlist)
    qlist.set_defaults(func=cmd_quarantine_list)

    users = commands.add_parser("users", help="API users who may write (no user: no writes)")
    users_cmds = users.add_subparsers(dest="users_command", required=True)
    uadd = users_cmds.add_parser("add", help="add a user (password from --password or stdin)")
    uadd.add_argument("name")
    uadd.add_argument("--role", required=True, help="read, create, update, delete or admin")
    uadd.add_argument("--password", help="default: one line read from stdin")
    _common_store_args(uadd)
    uadd.set_defaults(func=cmd_users_add)
    ulist = users_cmds.add_parser("list", help="list users (never their secrets)")
    ulist.add_argument("--json", action="store_true")
    _common_store_args(ulist)
    ulist.set_defaults(func=cmd_users_list)
    uremove = users_cmds.add_parser("remove", help="remove a user and their tokens")
    uremove.add_argument("name")
    _common_store_args(uremove)
    uremove.set_defaults(func=cmd_users_remove)
    utoken = users_cmds.add_parser("token", help="issue a bearer token (printed once)")
    utoken.add_argument("name")
    utoken.add_argument("--expires-days", type=int, help="default: no expiry")
    _common_store_args(utoken)
    utoken.set_defaults(func=cmd_users_token)
    umqtt = users_cmds.add_parser(
        "mqtt-secret", help="issue a broker secret for MQTT publishing (printed once)"
    )
    umqtt.add_argument("name")
    umqtt.add_argument("--revoke", action="store_true", help="remove the MQTT account instead")
    _common_store_args(umqtt)
    umqtt.set_defaults(func=cmd_users_mqtt_secret)

    simulate = commands.add_parser("simulate", help="play loggers against a hub")
    sim_cmds = simulate.add_subparsers(dest="protocol", required=True)
    hj = sim_cmds.add_parser("hj212", help="HJ 212 loggers over TCP")
    hj.add_argument("--to", required=True, help="HOST:PORT of the hub's HJ 212 listener")
    hj.add_argument("--registry", type=Path, help="station registry (default: the pilot)")
    hj.add_argument("--rate", type=float, default=1.0, help="frames per logger per minute")
    hj.add_argument("--duration", type=float, help="seconds to run (default: until stopped)")
    hj.add_argument("--replay", type=Path, help="replay a capture file instead")
    hj.add_argument("--ack-timeout", type=float, default=15.0)
    hj.set_defaults(func=cmd_simulate)

    from hub.provenance import cli_keys, cli_verify

    cli_keys.register(commands)  # keys, trust
    cli_verify.register(commands)  # verify
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hub.model.registry import RegistryError
    from hub.plugins import AdapterLoadError
    from hub.store import StoreError
    from hub.store.users import UserError

    try:
        return int(args.func(args))
    except (CliError, ConfigError, RegistryError, StoreError, AdapterLoadError, UserError) as exc:
        print(f"auasu: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"auasu: error: no such file: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # operational failure (database down, ...): one line, exit 1
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            print(f"auasu: error: database: {detail}", file=sys.stderr)
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    sys.exit(main())
