"""Adapter discovery through the ``auasu.adapters`` entry-point group (built-ins included).

Nothing is loaded at import time: callers ask for the adapters when they need them.
``AUASU_LOAD_ADAPTERS=name1,name2`` restricts loading to the named ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from adapters.base import ENTRY_POINT_GROUP, Adapter


class AdapterLoadError(RuntimeError):
    """An entry point does not give a working adapter."""


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """What ``auasu adapters list`` shows."""

    name: str
    version: str
    source: str
    description: str
    distribution: str
    target: str


def _entry_points() -> list[EntryPoint]:
    allowed = os.environ.get("AUASU_LOAD_ADAPTERS")
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if allowed:
        names = {n.strip() for n in allowed.split(",") if n.strip()}
        found = [ep for ep in found if ep.name in names]
    return found


def _instantiate(entry_point: EntryPoint) -> Adapter:
    try:
        factory = entry_point.load()
        adapter = factory()
    except Exception as exc:
        raise AdapterLoadError(f"adapter {entry_point.name!r} failed to load: {exc}") from exc
    if not isinstance(adapter, Adapter):
        raise AdapterLoadError(f"entry point {entry_point.name!r} did not return an Adapter")
    if adapter.name != entry_point.name:
        raise AdapterLoadError(
            f"entry point {entry_point.name!r} returned adapter named {adapter.name!r}"
        )
    return adapter


def load_adapters() -> dict[str, Adapter]:
    """Every discoverable adapter, by name."""
    return {ep.name: _instantiate(ep) for ep in _entry_points()}


def load_adapter(name: str) -> Adapter:
    """One adapter by name; AdapterLoadError names the ones that exist when it is unknown."""
    for ep in _entry_points():
        if ep.name == name:
            return _instantiate(ep)
    known = ", ".join(ep.name for ep in _entry_points()) or "none"
    raise AdapterLoadError(f"no adapter named {name!r} (installed: {known})")


def describe_adapters() -> list[AdapterInfo]:
    """Metadata of every discoverable adapter."""
    infos = []
    for ep in _entry_points():
        adapter = _instantiate(ep)
        dist = ep.dist.name if ep.dist is not None else "?"
        infos.append(
            AdapterInfo(
                adapter.name, adapter.version, adapter.source, adapter.description, dist, ep.value
            )
        )
    return infos
