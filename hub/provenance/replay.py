"""Step 9 of the verifier (provenance.md §5.7): re-run the adapter a record names on the raw
bytes it hashed and check that it reproduces the observation -- what ties a value to the
device's own message rather than to the hub's word about it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from adapters.base import Adapter, ChannelContext, DeviceDirectory, Rejection
from hub.mapping import MappingSet, UnitError, default_mappings
from hub.plugins import AdapterLoadError, load_adapter
from hub.provenance.bundle import ProvBundle
from hub.provenance.canonical import canonical_json
from hub.provenance.sealer import phenomenon_text
from hub.provenance.verify import (
    Check,
    check_failed,
    check_passed,
    dig,
    first_line,
    predicate_of,
    record_of,
)


def replay_check(
    bundle: ProvBundle,
    raw: bytes | None,
    *,
    devices: DeviceDirectory | None,
    adapters: Mapping[str, Adapter] | None = None,
    mappings: MappingSet | None = None,
) -> Check:
    """Re-run the adapter the record names on ``raw`` and check that one of its readings, at
    the observation's phenomenon time and mapped to the core's observed property, converted to
    the core's unit with the hub's mappings, is the core's result (§5.7 step 9).

    ``devices`` is the station registry (the adapter authenticates the device exactly as at
    ingest; without a registry the replay fails rather than skip that check). ``adapters``
    defaults to the installed ones (entry points ``auasu.adapters``), ``mappings`` to the
    hub's newest mapping files.
    """
    core = bundle.observation_core
    if raw is None:
        return check_failed("replay", "the replay needs the raw message bytes (--raw FILE)")
    if devices is None:
        return check_failed(
            "replay",
            "the replay needs the station registry (--registry FILE) so the adapter can "
            "authenticate the device as it did at ingest",
        )
    if core is None:
        return check_failed("replay", "the bundle carries no observation_core to compare with")
    record = record_of(bundle.envelope)
    predicate = predicate_of(record)
    name, version = dig(predicate, "adapter", "name"), dig(predicate, "adapter", "version")
    message = dig(predicate, "raw_messages", bundle.binding.raw)
    if not isinstance(name, str) or not isinstance(message, dict):
        return check_failed("replay", "the record names no adapter or raw message")
    try:
        adapter = (adapters or {}).get(name) or load_adapter(name)
    except AdapterLoadError as exc:
        return check_failed("replay", first_line(exc))
    if adapter.version != version:
        return check_failed(
            "replay", f"installed {name} is version {adapter.version}, the record's {version}"
        )
    config = hashlib.sha256(canonical_json(dict(adapter.provenance_config()))).hexdigest()
    if config != dig(predicate, "adapter", "config", "sha256"):
        return check_failed(
            "replay", f"{name}@{version} here is configured differently (config digest)"
        )
    context = ChannelContext(
        channel=str(message.get("channel", "replay")),
        peer="replay",
        received_at=datetime.fromisoformat(str(message.get("received_at"))),
    )
    decoded = adapter.decode(raw, context, devices)
    if isinstance(decoded, Rejection):
        return check_failed(
            "replay", f"{name} rejects the raw message: {decoded.code}: {decoded.reason}"
        )
    table = mappings if mappings is not None else default_mappings()
    received = dig(core, "parameters", "received", "value")
    found: list[str] = []
    for reading in decoded.readings:
        definition = table.observed_property_or_generic(reading.observed_property, reading.unit)
        start = reading.phenomenon_time.start
        when = phenomenon_text(start, reading.phenomenon_time.end or start)
        if (definition.definition, when) != (
            core.get("observed_property"),
            core.get("phenomenon_time"),
        ):
            continue
        try:
            value, unit = table.canonical(definition.key, reading.value, reading.unit)
            same_unit = core.get("unit") is None or table.normalise_unit(core["unit"]) == unit
        except UnitError as exc:
            found.append(f"{reading.factor}: {exc}")
            continue
        # Readings of one factor at one time differ by aggregation (Avg, Min, Max): the value
        # as received tells which one this observation is.
        if same_unit and value == core.get("result") and received in (None, reading.raw_value):
            detail = f"{name}@{version} reproduces {reading.factor} = {value:g} {unit} at {when}"
            return check_passed("replay", detail)
        found.append(f"{reading.factor} = {value:g} {unit} (received {reading.raw_value!r})")
    signed = f"the signed {core.get('result')!r} (received {received!r})"
    if found:
        return check_failed("replay", f"{name} yields {'; '.join(found)}, not {signed}")
    return check_failed(
        "replay",
        f"{name} yields no reading of {core.get('observed_property')} at "
        f"{core.get('phenomenon_time')} from these bytes",
    )
