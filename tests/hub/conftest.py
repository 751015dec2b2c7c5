"""Fixtures for tests that run a whole hub in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.config import load_config
from hub.demo import PILOT_REGISTRY
from hub.model.registry import load_registry
from hub.server import HubServer
from hub.store import Store


@contextmanager
def running_hub(data_dir: Path, **settings: Any) -> Iterator[HubServer]:
    """A hub on free ports with the pilot registry imported; ``settings`` use dotted keys."""
    config = load_config(
        None, {"data_dir": str(data_dir), "http.port": 0, "hj212.port": 0, **settings}
    )
    store = Store.open(config.database_url)
    store.import_stations(load_registry(PILOT_REGISTRY))
    server = HubServer(config, store=store)
    server.start()
    try:
        yield server
    finally:
        server.stop()
