"""A SensorThings read runs under the request's statement time limit: past it, 503 JSON.

The slow statement stands in for an expensive query (a filter over tens of millions of rows),
run on the connection the read path opened, so what is tested is the wiring: the read path's
connection carries the budget, and the timeout reaches the app's handler through the blueprint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, text

from hub.config import load_config
from hub.metrics import HubMetrics
from hub.sta import read
from hub.store import Store
from hub.web import create_app


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _slow(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT pg_sleep(:s)"), {"s": 20}).scalar()
    # Counts to 2·10^8 unless interrupted: many seconds on SQLite.
    return conn.execute(
        text(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) "
            "SELECT count(*) FROM c"
        ),
        {"n": 200_000_000},
    ).scalar()


def test_a_timed_out_read_answers_503_json(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUASU_RATE_LIMITS", raising=False)
    config = load_config(None, {"limits.statement_timeout_s": 0.3})
    app = create_app(store, HubMetrics(), lambda: True, config=config)
    app.testing = True
    client = app.test_client()
    assert client.get("/v1.1/MultiDatastreams").get_json() == {"value": []}

    def slow_page(conn: Connection, *_args: Any) -> Any:
        _slow(conn)
        raise AssertionError("the statement should have been stopped")

    fetch_page = read.fetch_page
    monkeypatch.setattr(read, "fetch_page", slow_page)
    started = time.monotonic()
    response = client.get("/v1.1/Observations?$top=5")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == 503 and body["error"] == "Service Unavailable"
    assert "longer than the hub's time limit of 0.3 s" in body["message"]
    assert response.headers["Retry-After"] == "1"
    # The pooled connection keeps no limit and the next request is served normally.
    monkeypatch.setattr(read, "fetch_page", fetch_page)
    assert client.get("/v1.1/Things").get_json() == {"value": []}
