"""The hub's domain model: the station registry (and, later, the entities built from it)."""

from __future__ import annotations

from hub.model.registry import (
    FactorSpec,
    LocalizedName,
    RegistryError,
    StationDirectory,
    StationRecord,
    load_registry,
    parse_registry,
)

__all__ = [
    "FactorSpec",
    "LocalizedName",
    "RegistryError",
    "StationDirectory",
    "StationRecord",
    "load_registry",
    "parse_registry",
]
