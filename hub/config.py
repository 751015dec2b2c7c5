"""Hub configuration: defaults, then a TOML file (``--config``), then environment, then flags."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.store import default_url


class ConfigError(ValueError):
    """The configuration is unusable; the message is one line saying what is wrong."""


class HttpSettings(BaseModel):
    """The HTTP API listener (loopback unless the operator opens it up)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    threads: int = Field(default=8, ge=1, le=256)


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


class HubConfig(BaseModel):
    """Everything one hub process needs to know."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Path("data")
    db: str | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)
    hj212: HJ212Settings = Field(default_factory=HJ212Settings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    log_level: str = "INFO"

    @property
    def database_url(self) -> str:
        return self.db or default_url(self.data_dir)


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
        raise ConfigError(f"config {where}: {first['msg']}") from exc
