"""Hostile transport traffic against a whole hub (reliability.md §6 row 11, §7 row 13):
a connection storm, a socket flood past the caps and binary garbage must not disturb a
legitimate logger, and the garbage ends up in quarantine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.demo import PILOT_REGISTRY
from hub.ingest.simulator import Simulator, SimulatorStats, loggers_from_registry
from hub.server import HubServer
from tests.hub.conftest import running_hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    # Small caps, so the flood below goes past them quickly.
    with running_hub(
        tmp_path, **{"hj212.max_connections_per_address": 32, "hj212.max_connections": 64}
    ) as server:
        yield server


def play_one_logger(port: int, seconds: float) -> tuple[threading.Thread, list[SimulatorStats]]:
    logger = loggers_from_registry(json.loads(PILOT_REGISTRY.read_text()))[0]
    out: list[SimulatorStats] = []
    simulator = Simulator(
        "127.0.0.1", port, [logger], rate_per_minute=300, duration_s=seconds, ack_timeout_s=5
    )
    thread = threading.Thread(target=lambda: out.append(asyncio.run(simulator.run())))
    thread.start()
    return thread, out


def test_connection_storm_and_socket_flood_leave_a_logger_unaffected(hub: HubServer) -> None:
    thread, out = play_one_logger(hub.hj212_port, 4)
    time.sleep(0.5)  # the logger is connected before the flood starts
    held = []
    for _ in range(200):  # far past both caps: the excess is accepted and closed at once
        with contextlib.suppress(OSError):
            held.append(socket.create_connection(("127.0.0.1", hub.hj212_port), timeout=2))
    for _ in range(300):  # connect/disconnect storm
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", hub.hj212_port), timeout=2).close()
    thread.join(30)
    for sock in held:
        sock.close()
    (stats,) = out
    assert stats.frames_sent >= 15
    assert stats.frames_acked == stats.frames_sent and stats.frames_given_up == 0
    assert hub.listener.stats.connections_rejected > 0
    assert hub.ready()


def test_binary_garbage_is_quarantined_and_the_connection_survives(hub: HubServer) -> None:
    garbage = b"\x00\xff\xfe" + "数据传输".encode("gbk") + b"##00a1\x00\r\n" * 3
    with socket.create_connection(("127.0.0.1", hub.hj212_port), timeout=5) as sock:
        sock.sendall(garbage)
        time.sleep(1.0)
        sock.sendall(b"more garbage")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not hub.store.quarantine(code="framing"):
        time.sleep(0.1)
    entries = hub.store.quarantine(code="framing")
    assert entries and all(e.outcome == "rejected" for e in entries)
    assert hub.store.observation_total() == 0
    thread, out = play_one_logger(hub.hj212_port, 1)
    thread.join(30)
    assert out[0].frames_acked == out[0].frames_sent >= 1
