"""Observed-property definitions and unit conversion, from the versioned files in ``mappings/``.

The hub stores every value of an observed property in one canonical UCUM unit, so that values from
Lihe loggers, Kazhydromet posts and anything added later compare directly with each other and with
Kazakh norms. This module is the only place that knows those canonical units and how to get there:
adapters report values in whatever unit the registry says the device sends, and the pipeline calls
:meth:`MappingSet.canonical` once per value (tens of thousands of times a second), so conversions
are planned once and then served from dictionaries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[1] / "mappings"
GENERIC_DEFINITION_PREFIX = "urn:auasu:def:observed-property:"

_PROPERTIES_STEM = "observed-properties"
_UNITS_STEM = "units"
# Memo tables fed by callers' text are capped so odd input cannot grow them without bound.
_MEMO_LIMIT = 4096


class UnitError(ValueError):
    """A unit text that is unknown, ambiguous, or not convertible to the unit asked for."""


class ObservedPropertyDef(BaseModel):
    """What the hub publishes about one observed property (a SensorThings ObservedProperty plus
    the canonical unit its Datastreams use)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Stable hub key, e.g. 'pm2_5'")
    name: str
    description: str
    definition: str = Field(description="URI: EEA vocabulary entry or a project URN")
    unit: str = Field(description="Canonical UCUM code")
    unit_name: str
    unit_symbol: str


class UnitDef(BaseModel):
    """One supported UCUM unit, with the name and symbol used for SensorThings unitOfMeasurement."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    symbol: str
    dimension: str


# --- file formats -------------------------------------------------------------------------------


class _PropertyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    definition: str = Field(pattern=r"^(https?://|urn:)\S+$")
    unit: str
    unit_name: str = Field(min_length=1)
    unit_symbol: str = Field(min_length=1)


class _PropertiesFile(BaseModel):
    version: str = Field(pattern=r"^[1-9][0-9]*$")
    updated: date
    description: str = ""
    properties: dict[str, _PropertyEntry]

    @field_validator("properties")
    @classmethod
    def _keys_are_stable_identifiers(
        cls, value: dict[str, _PropertyEntry]
    ) -> dict[str, _PropertyEntry]:
        for key in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"property key {key!r} must match [a-z][a-z0-9_]*")
        return value


def _exact(text: str | int) -> Fraction:
    # Factors are written as text ("1e-6", "5/9") and kept as fractions so that, say,
    # mg/m3 -> ug/m3 is exactly 1000 rather than 999.9999999999999.
    return Fraction(text) if isinstance(text, int) else Fraction(text.strip())


class _UnitEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    factor: str | int
    offset: str | int = "0"

    @field_validator("factor", "offset")
    @classmethod
    def _is_exact_number(cls, value: str | int) -> str | int:
        try:
            _exact(value)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{value!r} is not a decimal or fraction") from None
        return value

    @field_validator("factor")
    @classmethod
    def _factor_positive(cls, value: str | int) -> str | int:
        if _exact(value) <= 0:
            raise ValueError("factor must be positive")
        return value


class _Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    base: str
    units: dict[str, _UnitEntry] = Field(min_length=1)


class _UnitsFile(BaseModel):
    version: str = Field(pattern=r"^[1-9][0-9]*$")
    updated: date
    description: str = ""
    folds: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    ambiguous: dict[str, str] = Field(default_factory=dict)
    dimensions: dict[str, _Dimension]


# --- the mapping set ------------------------------------------------------------------------------


class MappingSet:
    """One observed-properties file plus one units file, loaded and checked against each other.

    Instances are immutable as far as callers can tell; internally they memoise conversion plans
    (plain dict writes, safe under the GIL for the single ingest writer and any readers).
    """

    def __init__(self, properties: Mapping[str, Any], units: Mapping[str, Any]) -> None:
        """Build from the two parsed JSON documents; raises ValueError if they are inconsistent."""
        try:
            props_file = _PropertiesFile.model_validate(properties)
            units_file = _UnitsFile.model_validate(units)
        except ValidationError as exc:
            raise ValueError(f"invalid mapping document: {_one_line(exc)}") from None
        self._folds = tuple(units_file.folds.items())
        self._units: dict[str, UnitDef] = {}
        # code -> (dimension, factor to base, offset to base), exact
        scales: dict[str, tuple[str, Fraction, Fraction]] = {}
        for dim_name, dim in units_file.dimensions.items():
            if dim.base not in dim.units:
                raise ValueError(f"dimension {dim_name!r}: base {dim.base!r} not in its units")
            for code, entry in dim.units.items():
                if code in self._units:
                    raise ValueError(f"unit {code!r} appears in more than one dimension")
                self._units[code] = UnitDef(
                    code=code, name=entry.name, symbol=entry.symbol, dimension=dim_name
                )
                scales[code] = (dim_name, _exact(entry.factor), _exact(entry.offset))
        self._pairs: dict[tuple[str, str], tuple[float, float]] = {}
        for a, (dim_a, fa, oa) in scales.items():
            for b, (dim_b, fb, ob) in scales.items():
                if dim_a == dim_b:
                    # base = v*fa + oa = w*fb + ob  =>  w = v*(fa/fb) + (oa-ob)/fb
                    self._pairs[(a, b)] = (float(fa / fb), float((oa - ob) / fb))
        self._normal: dict[str, str] = {code: code for code in self._units}
        self._folded: dict[str, str] = {}
        for code in self._units:
            self._folded[self._fold(code)] = code
        for alias, target in units_file.aliases.items():
            if target not in self._units:
                raise ValueError(f"alias {alias!r} points at unknown unit {target!r}")
            folded = self._fold(alias)
            if self._folded.get(folded, target) != target:
                raise ValueError(f"alias {alias!r} clashes with {self._folded[folded]!r}")
            self._folded[folded] = target
        self._ambiguous = {self._fold(k).casefold(): v for k, v in units_file.ambiguous.items()}
        lowered: dict[str, str | None] = {}
        for text, target in self._folded.items():
            key = text.casefold()
            lowered[key] = target if lowered.get(key, target) == target else None
        self._lowered = {k: v for k, v in lowered.items() if v is not None}

        self._properties: dict[str, ObservedPropertyDef] = {}
        for key, prop in props_file.properties.items():
            if prop.unit not in self._units:
                raise ValueError(f"property {key!r}: unit {prop.unit!r} is not a known UCUM code")
            self._properties[key] = ObservedPropertyDef(key=key, **prop.model_dump())
        self._plans: dict[tuple[str, str], tuple[float, float, str]] = {}
        versions = (props_file.version, units_file.version)
        self.version = f"{_PROPERTIES_STEM}.v{versions[0]}+{_UNITS_STEM}.v{versions[1]}"
        """Which files this set came from, e.g. 'observed-properties.v1+units.v1' (provenance)."""

    @classmethod
    def load(
        cls,
        directory: Path | None = None,
        *,
        properties_version: int | None = None,
        units_version: int | None = None,
    ) -> MappingSet:
        """Read ``observed-properties.vN.json`` and ``units.vN.json`` from ``directory``
        (default: the repository's ``mappings/``), the newest version of each unless told."""
        root = directory if directory is not None else DEFAULT_DIRECTORY
        props = _read_versioned(root, _PROPERTIES_STEM, properties_version)
        units = _read_versioned(root, _UNITS_STEM, units_version)
        return cls(props, units)

    # --- observed properties ---------------------------------------------------------------

    @property
    def properties(self) -> Mapping[str, ObservedPropertyDef]:
        """All defined observed properties by key (read-only view)."""
        return MappingProxyType(self._properties)

    def observed_property(self, key: str) -> ObservedPropertyDef | None:
        """The definition for ``key``, or None when the hub has none (e.g. 'hj212:w99999')."""
        return self._properties.get(key)

    def observed_property_or_generic(self, key: str, unit: str) -> ObservedPropertyDef:
        """The definition for ``key``, or a generic one for keys without a definition.

        The generic definition is ``urn:auasu:def:observed-property:<key>`` and keeps the value in
        ``unit`` (normalised), so unknown vendor factors are still published, just not harmonised.
        """
        known = self._properties.get(key)
        if known is not None:
            return known
        info = self.unit_info(unit)
        return ObservedPropertyDef(
            key=key,
            name=key,
            description="Observed property without a hub definition, kept as the source sent it.",
            definition=GENERIC_DEFINITION_PREFIX + quote(key, safe=":._-"),
            unit=info.code,
            unit_name=info.name,
            unit_symbol=info.symbol,
        )

    # --- units ------------------------------------------------------------------------------

    @property
    def units(self) -> Mapping[str, UnitDef]:
        """All supported UCUM codes (read-only view)."""
        return MappingProxyType(self._units)

    def unit_info(self, text: str) -> UnitDef:
        """Name, symbol and dimension of a unit given as a UCUM code or an accepted alias."""
        return self._units[self.normalise_unit(text)]

    def normalise_unit(self, text: str) -> str:
        """The UCUM code for ``text`` (a code or an alias such as 'µg/m³' or '°C').

        Raises UnitError for unknown or ambiguous text ('degree' could be an angle or a colour).
        """
        hit = self._normal.get(text)
        if hit is not None:
            return hit
        if not isinstance(text, str):
            raise UnitError(f"unit must be text, not {type(text).__name__}")
        folded = self._fold(text)
        code = self._folded.get(folded)
        if code is None:
            hint = self._ambiguous.get(folded.casefold())
            if hint is not None:
                raise UnitError(hint)
            code = self._lowered.get(folded.casefold())
        if code is None:
            raise UnitError(f"unknown unit {text!r}")
        if len(self._normal) < _MEMO_LIMIT:
            self._normal[text] = code
        return code

    def dimension(self, text: str) -> str:
        """The dimension name of a unit, e.g. 'mass_concentration'."""
        return self.unit_info(text).dimension

    def convert(self, value: float, from_unit: str, to_unit: str) -> float:
        """``value`` expressed in ``to_unit``; UnitError if either is unknown or they differ in
        dimension (mg/m3 -> [ppm] needs a molar mass and is refused)."""
        if from_unit == to_unit and from_unit in self._units:
            return value
        pair = self._pairs.get((from_unit, to_unit))
        if pair is None:
            pair = self._pair(from_unit, to_unit)
        return value * pair[0] + pair[1]

    def canonical(self, observed_property: str, value: float, unit: str) -> tuple[float, str]:
        """``value`` converted to the property's canonical unit, and that unit.

        For keys without a definition the value stays in its own (normalised) unit.
        """
        plan = self._plans.get((observed_property, unit))
        if plan is None:
            plan = self._plan(observed_property, unit)
        factor, offset, target = plan
        if factor == 1.0 and offset == 0.0:
            return value, target
        return value * factor + offset, target

    # --- internals ----------------------------------------------------------------------------

    def _fold(self, text: str) -> str:
        for old, new in self._folds:
            text = text.replace(old, new)
        # UCUM codes contain no whitespace, so spacing in registry text carries no meaning.
        return "".join(text.split())

    def _pair(self, from_unit: str, to_unit: str) -> tuple[float, float]:
        a = self.normalise_unit(from_unit)
        b = self.normalise_unit(to_unit)
        pair = self._pairs.get((a, b))
        if pair is None:
            dim_a, dim_b = self._units[a].dimension, self._units[b].dimension
            raise UnitError(f"cannot convert {from_unit!r} ({dim_a}) to {to_unit!r} ({dim_b})")
        if len(self._pairs) < len(self._units) ** 2 + _MEMO_LIMIT:
            self._pairs[(from_unit, to_unit)] = pair
        return pair

    def _plan(self, observed_property: str, unit: str) -> tuple[float, float, str]:
        definition = self._properties.get(observed_property)
        if definition is None:
            plan = (1.0, 0.0, self.normalise_unit(unit))
        else:
            try:
                factor, offset = self._pair(unit, definition.unit)
            except UnitError as exc:
                raise UnitError(f"{observed_property}: {exc}") from None
            plan = (factor, offset, definition.unit)
        if len(self._plans) < _MEMO_LIMIT:
            self._plans[(observed_property, unit)] = plan
        return plan


@cache
def default_mappings() -> MappingSet:
    """The newest mapping files shipped in the repository, loaded once per process."""
    return MappingSet.load()


def _read_versioned(directory: Path, stem: str, version: int | None) -> Mapping[str, Any]:
    pattern = re.compile(rf"{re.escape(stem)}\.v([1-9][0-9]*)\.json")
    found = {
        int(match.group(1)): path
        for path in directory.glob(f"{stem}.v*.json")
        if (match := pattern.fullmatch(path.name))
    }
    if not found:
        raise FileNotFoundError(f"no {stem}.vN.json in {directory}")
    chosen = max(found) if version is None else version
    if chosen not in found:
        raise FileNotFoundError(f"{stem}.v{chosen}.json not in {directory}")
    document = json.loads(found[chosen].read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("version") != str(chosen):
        raise ValueError(f"{found[chosen].name}: 'version' must be \"{chosen}\" to match its name")
    return document


def _one_line(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}".replace("\n", " ")
