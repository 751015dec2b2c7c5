"""A whole hub in-process: HTTP health and metrics, and live simulated loggers over TCP."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.demo import PILOT_REGISTRY
from hub.ingest.simulator import Simulator, loggers_from_registry
from hub.server import HubServer
from tests.hub.conftest import running_hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    with running_hub(tmp_path) as server:
        yield server


def get(server: HubServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_and_json_errors(hub: HubServer) -> None:
    status, body = get(hub, "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    status, body = get(hub, "/no/such/path")
    assert status == 404 and json.loads(body)["code"] == 404


def test_live_loggers_are_stored_acknowledged_and_counted(hub: HubServer) -> None:
    loggers = loggers_from_registry(json.loads(PILOT_REGISTRY.read_text()))
    simulator = Simulator(
        "127.0.0.1", hub.hj212_port, loggers, rate_per_minute=120, duration_s=3, ack_timeout_s=5
    )
    stats = asyncio.run(simulator.run())
    assert stats.frames_given_up == 0 and stats.frames_rejected == 0
    assert stats.frames_acked == stats.frames_sent >= 8
    assert set(stats.acked_by_logger) == {logger.mn for logger in loggers}
    per_station = {s.station: s.observations for s in hub.store.station_stats()}
    for logger in loggers:
        assert per_station[logger.station] > 0
    status, metrics = get(hub, "/metrics")
    assert status == 200
    assert 'auasu_frames_total{adapter="lihe-hj212",outcome="stored"}' in metrics
    assert "auasu_ack_latency_seconds_bucket" in metrics
    assert "auasu_observations_stored_total" in metrics
    assert "auasu_ingest_queue_depth" in metrics
    assert "auasu_hj212_connections_accepted_total 8.0" in metrics
    assert "auasu_hj212_connections " in metrics


def test_healthz_is_503_when_ingest_stopped(hub: HubServer) -> None:
    hub._running = False
    status, body = get(hub, "/healthz")
    assert status == 503 and json.loads(body)["status"] == "unavailable"
    hub._running = True
