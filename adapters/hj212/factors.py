"""The factor-code table (``mappings/hj212/factors.v1.json``): code -> observed-property key.

The table is data, versioned next to the other mappings. It holds no units on purpose: units never
travel in HJ 212 packets and the standard's printed defaults are unreliable, so every unit comes
from the device registry. The one unit rule kept here is how the unit of a ``-Cou`` (cumulative)
value follows from the concentration or flow unit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adapters.base import AdapterError

__all__ = ["FACTORS_PATH", "FactorTable", "load_factor_table"]

FACTORS_PATH = Path(__file__).resolve().parents[2] / "mappings" / "hj212" / "factors.v1.json"
_UNMAPPED_PREFIX = "hj212:"


@dataclass(frozen=True, slots=True)
class FactorTable:
    """Lookups built from the factor table; codes and legacy (2005) aliases both resolve."""

    version: str
    keys: Mapping[str, str]  # factor code or legacy alias -> observed-property key
    cou_units: Mapping[str, str]  # concentration/flow unit -> unit of the -Cou total

    def observed_property(self, code: str) -> str:
        """The observed-property key for a code as sent; ``hj212:<code>`` when not in the table."""
        key = self.keys.get(code)
        return key if key is not None else _UNMAPPED_PREFIX + code

    def cou_unit(self, unit: str) -> str | None:
        """Unit of the cumulative value of a factor measured in ``unit``, if derivable."""
        return self.cou_units.get(unit)


def load_factor_table(path: Path = FACTORS_PATH) -> FactorTable:
    """Read and check the factor table; a broken table is a deployment error (AdapterError)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return _build(document)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise AdapterError(f"cannot load HJ 212 factor table {path}: {exc}") from exc


def _build(document: Any) -> FactorTable:
    keys: dict[str, str] = {}

    def alias(code: str, key: str) -> None:
        if not isinstance(code, str) or not isinstance(key, str) or not code or not key:
            raise ValueError(f"bad factor entry {code!r} -> {key!r}")
        if code in keys:
            raise ValueError(f"factor code {code!r} listed twice")
        keys[code] = key

    for code, entry in document["factors"].items():
        alias(code, entry["key"])
        for legacy in entry["legacy_codes"]:
            alias(legacy, entry["key"])
    # Codes without an agreed key still resolve legacy aliases to one 'hj212:<2017 code>' key.
    for code, entry in document.get("unmapped_factors", {}).items():
        alias(code, _UNMAPPED_PREFIX + code)
        for legacy in entry["legacy_codes"]:
            alias(legacy, _UNMAPPED_PREFIX + code)
    cou_units = {str(unit): str(total) for unit, total in document["cou_units"].items()}
    return FactorTable(
        version=str(document["version"]),
        keys=MappingProxyType(keys),
        cou_units=MappingProxyType(cou_units),
    )
