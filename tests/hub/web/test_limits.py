"""Request limits: 414 and 413 as JSON, and statement time limits (503) on both stores."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from flask import Flask, jsonify, request
from sqlalchemy import Connection, text

from hub.store import Store
from hub.store.timeouts import (
    StatementTimeout,
    current_budget,
    limited_connection,
    statement_budget,
)
from tests.hub.web.conftest import AppFactory

# Runs for many seconds unless interrupted (SQLite: ~10^7 rows per second at best).
_SLOW_SQLITE = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) "
    "SELECT count(*) FROM c"
)


def _slow(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT pg_sleep(:s)"), {"s": 20}).scalar()
    return conn.execute(_SLOW_SQLITE, {"n": 200_000_000}).scalar()


def _quick(conn: Connection) -> int:
    # Enough SQLite VM steps to reach the progress handler many times over.
    return int(conn.execute(_SLOW_SQLITE, {"n": 50_000}).scalar_one())


def test_long_query_string_is_414(make_app: AppFactory) -> None:
    client = make_app(**{"limits.max_query_string_bytes": 1024}).test_client()
    response = client.get("/v1.1/Things?$filter=" + "name%20eq%20'x'%20or%20" * 60 + "true")
    assert response.status_code == 414
    body = response.get_json()
    assert body["code"] == 414 and "1024 bytes" in body["message"]
    assert client.get("/v1.1/Things(" + "1" * 2000 + ")").status_code == 414
    assert client.get("/v1.1/Things?$top=1").status_code == 200
    default = make_app().test_client()
    assert default.get("/v1.1/Things?$filter=" + "x" * 9000).status_code == 414


def test_large_body_is_413_before_authentication(make_app: AppFactory) -> None:
    app = make_app(**{"limits.max_body_bytes": 2048})

    @app.post("/test-echo-size")
    def echo() -> Any:
        return jsonify(size=len(request.get_data()))

    client = app.test_client()
    response = client.post("/v1.1/Things", data=b"x" * 5000, content_type="application/json")
    assert response.status_code == 413
    body = response.get_json()
    assert body["code"] == 413 and "2048 bytes" in body["message"]
    assert client.post("/test-echo-size", data=b"x" * 100).get_json() == {"size": 100}
    # A body of unknown length (a server passing chunked input through): Flask's
    # MAX_CONTENT_LENGTH stops it while it is read.
    chunked = client.post(
        "/test-echo-size",
        input_stream=io.BytesIO(b"x" * 5000),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.status_code == 413 and chunked.get_json()["code"] == 413


def test_limited_connection_stops_a_slow_statement(store: Store) -> None:
    started = time.monotonic()
    with (
        pytest.raises(StatementTimeout, match=r"limit of 0\.3 s"),
        limited_connection(store, 0.3) as conn,
    ):
        _slow(conn)
    assert time.monotonic() - started < 5
    with limited_connection(store, 5) as conn:
        assert _quick(conn) == 50_000
    # The pooled connection keeps no limit: neither the progress handler nor the setting.
    with store.connect() as conn:
        assert _quick(conn) == 50_000
        if conn.dialect.name == "postgresql":
            assert conn.execute(text("SHOW statement_timeout")).scalar() != "300ms"


def test_budget_of_the_context_is_the_default(store: Store) -> None:
    assert current_budget() is None
    with statement_budget(0.3):
        assert current_budget() == 0.3
        with pytest.raises(StatementTimeout), limited_connection(store) as conn:
            _slow(conn)
    assert current_budget() is None
    with statement_budget(0), limited_connection(store) as conn:  # 0 means no limit
        assert _quick(conn) == 50_000


@pytest.fixture
def timed_app(make_app: AppFactory, store: Store) -> Flask:
    app = make_app(**{"limits.statement_timeout_s": 0.3})

    @app.route("/test-slow", methods=["GET", "POST"])
    def slow() -> Any:
        with limited_connection(store) as conn:
            if request.method == "POST":
                return jsonify(budget=current_budget())
            return jsonify(value=_slow(conn))

    @app.get("/test-engine-timeout")
    def engine_timeout() -> Any:
        # A query outside limited_connection stopped by the server's own timeout.
        with store.connect() as conn:
            conn.execute(text("SELECT set_config('statement_timeout', '200', true)"))
            return jsonify(value=_slow(conn))

    return app


def test_timed_out_read_is_503_json(timed_app: Flask, store: Store) -> None:
    client = timed_app.test_client()
    started = time.monotonic()
    response = client.get("/test-slow")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == 503 and body["error"] == "Service Unavailable"
    assert "longer than the hub's time limit of 0.3 s" in body["message"]
    assert "\n" not in body["message"] and response.headers["Retry-After"] == "1"
    # Writes are not under the read budget, and the budget does not outlive its request.
    assert client.post("/test-slow").get_json() == {"budget": None}
    assert current_budget() is None
    if store.backend == "postgresql":
        response = client.get("/test-engine-timeout")
        assert response.status_code == 503
        assert "longer than the hub's time limit" in response.get_json()["message"]
