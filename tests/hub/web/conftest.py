"""Apps over a fresh store (both backends), configured through the real config layers."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from hub.config import load_config
from hub.metrics import HubMetrics
from hub.store import Store
from hub.web import create_app

AppFactory = Callable[..., Flask]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def make_app(store: Store, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """``make_app(**{"rate_limits.read": "2/min"})``: an app with those settings (dotted keys,
    as the CLI passes flags); ``make_app(config=False)`` is a test rig's app without config."""
    # A rig's AUASU_RATE_LIMITS must not leak in; tests that want it set it themselves.
    monkeypatch.delenv("AUASU_RATE_LIMITS", raising=False)

    def build(config: bool = True, **settings: Any) -> Flask:
        hub_config = load_config(None, settings) if config else None
        app = create_app(store, HubMetrics(), lambda: True, config=hub_config)
        app.testing = True
        return app

    return build


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
