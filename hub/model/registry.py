"""The station registry: which stations and devices the hub knows, read from a JSON file.

The file format is the pilot's (``hub/demo/astana-pilot.json``): ``{"city", "crs", "stations":
[...]}``, one object per station. HJ 212 stations carry the logger's MN, ST and clear-text password
``pw``; the password is hashed with :func:`adapters.base.hash_secret` as soon as it is read and the
clear text is never stored, logged, shown in a ``repr`` or put in an error message. A file may give
``pw_hash`` instead (a ``hash_secret`` result) so that production registries hold no clear secrets.

Every problem is reported as a :class:`RegistryError` whose message is one line naming the station
and the field, e.g. ``station 'x': lat 91 is outside -90..90``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.base import DeviceProfile, hash_secret
from hub.mapping import UnitError, default_mappings

# File keys that become model fields, and the model field each one fills.
_FIELD_FOR_KEY = {
    "id": "id",
    "source": "source",
    "kind": "kind",
    "name": "name",
    "lat": "lat",
    "lon": "lon",
    "operator": "operator",
    "mn": "device_id",
    "st": "system_code",
    "logger_timezone": "logger_timezone",
    "factors": "factors",
    "post_id": "post_id",
    "automatic": "automatic",
    "options": "options",
}
_KEY_FOR_FIELD = {field: key for key, field in _FIELD_FOR_KEY.items()} | {"secret_hash": "pw"}
# Keys that look like a clear secret under another name: refused, because unknown keys are kept
# verbatim in ``properties`` and would otherwise end up in dumps and reprs.
_SECRET_LOOKING = frozenset({"password", "passwd", "pwd", "pass", "secret", "token"})


class RegistryError(ValueError):
    """The registry file is wrong; the message is one line naming the station and the field."""


class LocalizedName(BaseModel):
    """A station name in English, Russian and Kazakh.

    ``en`` is always present: when the file gives no English name (Kazhydromet posts are named in
    Russian only), it falls back to the Russian, then the Kazakh name, so every station can be
    displayed.
    """

    model_config = ConfigDict(frozen=True)

    en: str
    ru: str | None = None
    kk: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_english(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"en": data}
        if not isinstance(data, Mapping):
            return data
        names = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in data.items()}
        if names.get("en") is None:
            fallback = names.get("ru") or names.get("kk")
            if fallback is None:
                raise ValueError("name needs at least one of en, ru, kk")
            names["en"] = fallback
        return names


class FactorSpec(BaseModel):
    """What a device sends for one vendor factor code: a label and the UCUM unit of its values.

    Units are normalised through the hub's unit aliases ('µg/m³' -> 'ug/m3'); ``cou_unit`` is the
    unit of HJ 212 ``-Cou`` totals (e.g. 'm3' for flow, 'kg' for a pollutant load).
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    unit: str
    cou_unit: str | None = None

    @field_validator("unit", "cou_unit")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return default_mappings().normalise_unit(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from None


class StationRecord(BaseModel):
    """One registered station: where it is, who runs it, and (for loggers) how to recognise it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    source: str = Field(min_length=1, description="Adapter source, e.g. 'lihe-hj212'")
    kind: str = Field(min_length=1, description="'air', 'water', 'effluent', ...")
    name: LocalizedName
    lat: float
    lon: float
    operator: str = Field(min_length=1)
    device_id: str | None = Field(default=None, min_length=1, description="HJ 212 MN")
    system_code: str | None = Field(default=None, description="HJ 212 ST")
    secret_hash: str | None = Field(default=None, repr=False, description="hash_secret() output")
    logger_timezone: str = "Asia/Almaty"
    factors: dict[str, FactorSpec] = Field(default_factory=dict)
    post_id: str | None = None
    automatic: bool | None = None
    options: dict[str, str] = Field(default_factory=dict, description="Per-device opt-ins")
    properties: dict[str, Any] = Field(default_factory=dict, description="Other keys, verbatim")

    @field_validator("lat")
    @classmethod
    def _lat_range(cls, value: float) -> float:
        if not (math.isfinite(value) and -90.0 <= value <= 90.0):
            raise ValueError(f"lat {value:g} is outside -90..90")
        return value

    @field_validator("lon")
    @classmethod
    def _lon_range(cls, value: float) -> float:
        if not (math.isfinite(value) and -180.0 <= value <= 180.0):
            raise ValueError(f"lon {value:g} is outside -180..180")
        return value

    @field_validator("logger_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"logger_timezone {value!r} is not a known IANA time zone") from None
        return value

    @field_validator("secret_hash")
    @classmethod
    def _hash_shape(cls, value: str | None) -> str | None:
        # Never echo the value: a wrongly filled pw_hash may well be a clear password.
        if value is not None and (not value.startswith("scrypt$") or value.count("$") != 5):
            raise ValueError("pw_hash is not a hash_secret() result")
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_text(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {k: _option_text(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _device_needs_secret(self) -> StationRecord:
        if self.device_id is not None and self.secret_hash is None:
            raise ValueError("mn is set but pw (or pw_hash) is missing")
        return self

    def __hash__(self) -> int:
        # Stations are identified by id; the generated hash would fail on the dict fields.
        return hash((self.source, self.id))

    def device_profile(self) -> DeviceProfile | None:
        """What an adapter may know about this station's device, or None if it has no device."""
        if self.device_id is None:
            return None
        units = {code: spec.unit for code, spec in self.factors.items()}
        units |= {f"{code}-Cou": s.cou_unit for code, s in self.factors.items() if s.cou_unit}
        return DeviceProfile(
            station=self.id,
            device_id=self.device_id,
            system_code=self.system_code,
            kind=self.kind,
            timezone=self.logger_timezone,
            secret_hash=self.secret_hash,
            units=units,
            options=dict(self.options),
        )


class StationDirectory:
    """A parsed registry indexed for look-ups; satisfies :class:`adapters.base.DeviceDirectory`."""

    def __init__(self, stations: Iterable[StationRecord]) -> None:
        self._stations = {station.id: station for station in stations}
        self._devices: dict[tuple[str, str], DeviceProfile] = {}
        for station in self._stations.values():
            profile = station.device_profile()
            if profile is not None:
                self._devices[(station.source, profile.device_id)] = profile

    def device(self, source: str, device_id: str) -> DeviceProfile | None:
        """The device registered under ``source`` with vendor id ``device_id`` (HJ 212 MN)."""
        return self._devices.get((source, device_id))

    def station(self, station_id: str) -> StationRecord | None:
        """The station with registry id ``station_id``."""
        return self._stations.get(station_id)

    def __iter__(self) -> Iterator[StationRecord]:
        return iter(self._stations.values())

    def __len__(self) -> int:
        return len(self._stations)


def load_registry(path: Path) -> list[StationRecord]:
    """Read and validate a registry file; raises RegistryError (or OSError if unreadable)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise RegistryError(f"{path}: not valid JSON ({where})") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: not UTF-8 text") from None
    if not isinstance(document, Mapping):
        raise RegistryError(f"{path}: the top level must be an object with 'stations'")
    return parse_registry(document)


def parse_registry(document: Mapping[str, Any]) -> list[StationRecord]:
    """Validate a parsed registry document (``{"stations": [...]}``; other top-level keys are
    ignored) and return its stations in file order, clear passwords replaced by hashes."""
    raw_stations = document.get("stations")
    if not isinstance(raw_stations, list):
        raise RegistryError("registry: 'stations' must be a list")
    records: list[StationRecord] = []
    ids: set[str] = set()
    by_device: dict[str, str] = {}
    by_post: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(raw_stations, start=1):
        label = _label(raw, index)
        if not isinstance(raw, Mapping):
            raise RegistryError(f"{label}: expected an object")
        record = _parse_station(raw, label)
        if record.id in ids:
            raise RegistryError(f"{label}: id is used by an earlier station too")
        ids.add(record.id)
        if record.device_id is not None:
            owner = by_device.setdefault(record.device_id, record.id)
            if owner != record.id:
                raise RegistryError(
                    f"{label}: mn {record.device_id!r} is already used by station {owner!r}"
                )
        if record.post_id is not None:
            owner = by_post.setdefault((record.source, record.post_id), record.id)
            if owner != record.id:
                raise RegistryError(
                    f"{label}: post_id {record.post_id!r} is already used by station {owner!r}"
                )
        records.append(record)
    return records


def _parse_station(raw: Mapping[str, Any], label: str) -> StationRecord:
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("pw", "pw_hash"):
            continue
        if not isinstance(key, str):
            raise RegistryError(f"{label}: keys must be text")
        if key.casefold() in _SECRET_LOOKING:
            raise RegistryError(f"{label}: {key!r} looks like a secret; use 'pw' or 'pw_hash'")
        if key in _FIELD_FOR_KEY:
            fields[_FIELD_FOR_KEY[key]] = value
        elif key == "properties" and isinstance(value, Mapping):
            extra.update(value)
        else:
            extra[key] = value
    fields["properties"] = extra
    fields["secret_hash"] = _secret_hash(raw, label)
    try:
        return StationRecord.model_validate(fields)
    except ValidationError as exc:
        # ``from None``: the pydantic error text echoes input values, which we never show.
        raise RegistryError(f"{label}: {_describe(exc)}") from None


def _secret_hash(raw: Mapping[str, Any], label: str) -> str | None:
    if "pw" in raw and "pw_hash" in raw:
        raise RegistryError(f"{label}: pw and pw_hash are both given; keep one")
    if "pw_hash" in raw:
        given = raw["pw_hash"]
        if not isinstance(given, str):
            raise RegistryError(f"{label}: pw_hash must be text")
        return given
    if "pw" not in raw:
        return None
    clear = raw["pw"]
    if not isinstance(clear, str) or not clear:
        raise RegistryError(f"{label}: pw must be non-empty text")
    return hash_secret(clear)


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    if loc:
        loc[0] = _KEY_FOR_FIELD.get(loc[0], loc[0])
    field = ".".join(loc)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = f"{field} is missing"
    elif first["type"] == "string_pattern_mismatch" and field == "id":
        message = "id must be 2-64 characters of a-z, 0-9 and '-', starting with a letter or digit"
    elif field and not message.startswith(field.split(".")[-1]):
        message = f"{field}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return " ".join(message.split())


def _label(raw: Any, index: int) -> str:
    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str) and raw["id"]:
        return f"station {raw['id']!r}"
    return f"station #{index}"


def _option_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
