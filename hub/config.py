"""Hub configuration: defaults, then a TOML file (``--config``), then environment, then flags.

Security and abuse limits (README "Security"):

``[http] trusted_proxies``
    Addresses or CIDR networks of reverse proxies whose ``X-Forwarded-For`` is believed. Empty
    (the default) means the TCP peer is the client, whatever headers say.

``[rate_limits]`` (env ``AUASU_RATE_LIMITS``)
    Token buckets, in-process (each hub process counts on its own). ``read`` applies to GET/HEAD
    per client (the user when authenticated, else the address), ``write`` to POST/PATCH/PUT/
    DELETE per user, ``login_failures`` to failed credential checks per address. A rate is
    ``"N/s"``, ``"N/min"`` or ``"N/h"`` with an optional ``" burst B"`` (bucket size; default
    N), or ``"off"``. ``AUASU_RATE_LIMITS=off`` turns every bucket off (test rigs);
    ``AUASU_RATE_LIMITS="read=50/s burst 200,write=off"`` overrides single buckets.

``[limits]``
    ``max_query_string_bytes`` (414 above it), ``max_body_bytes`` (413), and
    ``statement_timeout_s``: how long one API read may keep the database busy (503 after it;
    0 turns it off).

``[http] public_url`` (env ``AUASU_PUBLIC_URL``)
    The address clients reach the hub at (``https://data.example.kz``, with a path when a proxy
    mounts the hub below one). Absolute links of OGC API (``/oapi``) are built from it; unset,
    they follow each request's own scheme and ``Host`` (what a loopback or test hub wants).

``[ogcapi]``
    OGC API - Features/EDR at ``/oapi`` (:class:`OgcApiSettings`): licence and contact shown in
    its metadata, page sizes, and how often collection extents are re-read from the store.

``[mqtt]`` (env ``AUASU_MQTT_URL``)
    The SensorThings MQTT extension on a Mosquitto broker
    (:class:`hub.sta.mqtt.settings.MqttSettings`). Off unless ``enabled = true``;
    ``AUASU_MQTT_URL=mqtt://host:1883`` turns it on for that broker, ``AUASU_MQTT_URL=off``
    turns it off.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hub.sta.mqtt.settings import MqttSettings
from hub.store import default_url


class ConfigError(ValueError):
    """The configuration is unusable; the message is one line saying what is wrong."""


class HttpSettings(BaseModel):
    """The HTTP API listener (loopback unless the operator opens it up)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    threads: int = Field(default=8, ge=1, le=256)
    trusted_proxies: list[str] = Field(default_factory=list)
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if _PUBLIC_URL.match(value) is None:
            raise ValueError(
                f"not an http(s) URL without query or fragment: {value!r} "
                "(e.g. https://data.example.kz or https://example.kz/auasu)"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network: {entry!r}") from exc
        return value


_PUBLIC_URL = re.compile(
    r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$"
)


class OgcApiSettings(BaseModel):
    """OGC API - Features and EDR at ``/oapi`` (:mod:`hub.ogcapi`)."""

    model_config = ConfigDict(extra="forbid")

    licence_name: str = Field(default="CC-BY-4.0", min_length=1)
    licence_url: str = "https://creativecommons.org/licenses/by/4.0/"
    contact_name: str | None = None
    contact_email: str | None = None
    contact_url: str | None = None
    # The standard's default page is small; 10,000 keeps one page of a station-month in reach.
    default_items: int = Field(default=100, ge=1)
    max_items: int = Field(default=10000, ge=1)
    # Extents grow as data arrive; re-read at most this often (seconds).
    extents_refresh_s: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _pages(self) -> OgcApiSettings:
        if self.default_items > self.max_items:
            raise ValueError("default_items is larger than max_items")
        return self


class ProvenanceSettings(BaseModel):
    """Signed provenance of every ingest batch (:mod:`hub.provenance`, provenance.md §5).

    The keys live in ``<data_dir>/keys`` (``auasu keys init``); with ``create_keys`` a hub that
    finds none makes them at start-up. ``hub_id`` is the hub's stable URI, written into the
    keys when they are made (default: ``[http] public_url``, else ``urn:auasu:hub:<host>``).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    create_keys: bool = True
    hub_id: str | None = None
    agency: str = Field(default="AuaSu hub", min_length=1, max_length=64)  # an X.509 name
    licence_url: str = "https://creativecommons.org/licenses/by/4.0/"
    qc_level: Literal["raw", "auto-qc", "validated"] = "raw"
    # A new checkpoint is signed at most this often while entries arrive (seconds).
    checkpoint_every_s: float = Field(default=300.0, gt=0)


class HJ212Settings(BaseModel):
    """The HJ 212 TCP listener for station data loggers."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=9212, ge=0, le=65535)
    max_connections: int = Field(default=2000, ge=1)
    max_connections_per_address: int = Field(default=64, ge=1)
    idle_timeout_s: float = Field(default=120.0, gt=0)


class IngestSettings(BaseModel):
    """Group-commit tuning."""

    model_config = ConfigDict(extra="forbid")

    max_batch_frames: int = Field(default=2000, ge=1)
    linger_ms: float = Field(default=2.0, ge=0)


_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*(?:burst\s+(\d+))?\s*$")


class Rate(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"20/s burst 100"``, ``"10/min"`` (burst = the count), ``"1000/h burst 50"``."""
        match = _RATE.match(text.lower())
        if match is None or match.group(2) not in _UNITS or float(match.group(1)) <= 0:
            raise ValueError(f"not a rate: {text!r} (use e.g. '20/s burst 100' or 'off')")
        count = float(match.group(1))
        burst = int(match.group(3)) if match.group(3) else max(1, math.ceil(count))
        return cls(per_second=count / _UNITS[match.group(2)], burst=burst)

    @property
    def window_s(self) -> float:
        """Seconds an empty bucket takes to fill: the ``w`` of the RateLimit-Policy header."""
        return self.burst / self.per_second


def _rate_or_off(value: Any) -> Any:
    if isinstance(value, str):
        return None if value.strip().lower() == "off" else Rate.parse(value)
    return value


class RateLimitSettings(BaseModel):
    """Per-client token buckets (per process). ``None`` turns a bucket off."""

    model_config = ConfigDict(extra="forbid")

    read: Rate | None = Field(default_factory=lambda: Rate(per_second=20, burst=100))
    write: Rate | None = Field(default_factory=lambda: Rate(per_second=50, burst=100))
    login_failures: Rate | None = Field(default_factory=lambda: Rate(per_second=10 / 60, burst=10))

    @field_validator("read", "write", "login_failures", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _rate_or_off(value)

    @classmethod
    def off(cls) -> RateLimitSettings:
        """Every bucket off: what ``AUASU_RATE_LIMITS=off`` gives."""
        return cls(read=None, write=None, login_failures=None)


class LimitSettings(BaseModel):
    """Size and time caps on one API request."""

    model_config = ConfigDict(extra="forbid")

    max_query_string_bytes: int = Field(default=8192, ge=256)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    statement_timeout_s: float = Field(default=15.0, ge=0)


class HubConfig(BaseModel):
    """Everything one hub process needs to know."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Path("data")
    db: str | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)
    hj212: HJ212Settings = Field(default_factory=HJ212Settings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ogcapi: OgcApiSettings = Field(default_factory=OgcApiSettings)
    provenance: ProvenanceSettings = Field(default_factory=ProvenanceSettings)
    log_level: str = "INFO"

    @property
    def database_url(self) -> str:
        return self.db or default_url(self.data_dir)


def parse_rate_limits_env(text: str) -> dict[str, str]:
    """``AUASU_RATE_LIMITS``: ``off``, ``on`` (defaults), or ``read=…,write=…,login_failures=…``."""
    text = text.strip()
    if text.lower() == "off":
        return dict.fromkeys(RateLimitSettings.model_fields, "off")
    if text.lower() in ("", "on"):
        return {}
    settings: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in RateLimitSettings.model_fields:
            known = ", ".join(RateLimitSettings.model_fields)
            raise ConfigError(
                f"AUASU_RATE_LIMITS: {item.strip()!r} is not NAME=RATE with NAME one of {known}"
            )
        settings[key] = value.strip()
    return settings


_MQTT_URL = re.compile(
    r"^mqtt://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?/?$"
)


def parse_mqtt_url_env(text: str) -> dict[str, Any]:
    """``AUASU_MQTT_URL``: ``off``, or ``mqtt://host[:port]`` (MQTT on, with that broker)."""
    text = text.strip()
    if text.lower() == "off":
        return {"enabled": False}
    match = _MQTT_URL.match(text)
    if match is None:
        # The value is not echoed: a URL with credentials in it would end up in logs.
        raise ConfigError(
            "AUASU_MQTT_URL is not 'off' or mqtt://HOST[:PORT] "
            "(credentials go in the [mqtt] table or its password_path, not in the URL)"
        )
    settings: dict[str, Any] = {"enabled": True, "host": match.group("host").strip("[]")}
    if match.group("port"):
        settings["port"] = int(match.group("port"))
    return settings


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> HubConfig:
    """Merge the layers; flags (``overrides``, dotted keys like ``http.port``) win."""
    document: dict[str, Any] = {}
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    env = {"data_dir": os.environ.get("AUASU_DATA_DIR"), "db": os.environ.get("AUASU_DB")}
    for key, value in env.items():
        if value:
            document[key] = value
    rate_limits = os.environ.get("AUASU_RATE_LIMITS")
    if rate_limits is not None:
        section = document.setdefault("rate_limits", {})
        if not isinstance(section, dict):
            raise ConfigError("config rate_limits: must be a table")
        section.update(parse_rate_limits_env(rate_limits))
    public_url = os.environ.get("AUASU_PUBLIC_URL")
    if public_url:
        section = document.setdefault("http", {})
        if not isinstance(section, dict):
            raise ConfigError("config http: must be a table")
        section["public_url"] = public_url
    mqtt_url = os.environ.get("AUASU_MQTT_URL")
    if mqtt_url:
        section = document.setdefault("mqtt", {})
        if not isinstance(section, dict):
            raise ConfigError("config mqtt: must be a table")
        section.update(parse_mqtt_url_env(mqtt_url))
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        target = document
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    try:
        return HubConfig.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = " ".join(str(first["msg"]).split())
        raise ConfigError(f"config {where}: {message}") from exc
