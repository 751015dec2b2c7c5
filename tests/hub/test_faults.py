"""Faults the hub must survive with nothing acknowledged lost and nothing duplicated.

* ``kill -9`` of the hub while the simulator streams; the restarted hub plus the simulator's
  resends must end with every frame stored exactly once.
* PostgreSQL restarted during ingest: the hub reconnects by itself.

Each test runs a real ``auasu serve`` subprocess. The PostgreSQL restart affects every client
of the cluster, so that test is marked ``serial`` and runs alone after the parallel suite.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.demo import PILOT_REGISTRY
from hub.ingest.simulator import (
    SimulatedLogger,
    Simulator,
    SimulatorStats,
    loggers_from_registry,
    make_realtime_frame,
)
from hub.model.registry import load_registry
from hub.store import Store
from hub.store.schema import observations, raw_frames
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
FRAMES_PER_LOGGER = 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubProcess:
    """``auasu serve`` in a subprocess on fixed ports, so a restart listens where it did."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url, self.data_dir = url, data_dir
        self.http_port, self.hj212_port = free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "hub.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = self._spawn(log)
        self._wait_healthy()

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub.cli",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--db",
                self.url,
                "--http-port",
                str(self.http_port),
                "--hj212-port",
                str(self.hj212_port),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.http_port}/healthz", timeout=1
                ) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("hub did not become healthy:\n" + self.log.read_text()[-3000:])

    def frames_stored(self) -> float:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/metrics", timeout=2
            ) as resp:
                text = resp.read().decode()
        except OSError:
            return 0.0
        for line in text.splitlines():
            if line.startswith('auasu_frames_total{adapter="lihe-hj212",outcome="stored"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM (graceful: drain, then exit 0); the exit code, None if never started."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
        return self.process.returncode


def prepared_store(url: str) -> tuple[bytes, int, int]:
    """Register the pilot stations in ``url``; return their capture (bytes, frames, values)."""
    store = Store.open(url)
    store.import_stations(load_registry(PILOT_REGISTRY))
    store.close()
    return pilot_capture()


def pilot_capture() -> tuple[bytes, int, int]:
    """Interleaved real-time frames of the 8 pilot loggers: (bytes, frames, values)."""
    import random

    loggers: list[SimulatedLogger] = loggers_from_registry(json.loads(PILOT_REGISTRY.read_text()))
    rng = random.Random(7)
    start = datetime(2025, 2, 1, tzinfo=UTC)
    frames = [
        make_realtime_frame(logger, start + timedelta(minutes=5 * k), k + 1, rng)
        for k in range(FRAMES_PER_LOGGER)
        for logger in loggers
    ]
    values = FRAMES_PER_LOGGER * sum(len(logger.factors) for logger in loggers)
    return b"".join(frames), len(frames), values


def replay_in_thread(port: int, capture: bytes, rate: float) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []

    def play() -> None:
        try:
            box.append(
                asyncio.run(
                    Simulator.replay(
                        "127.0.0.1",
                        port,
                        capture,
                        rate_per_minute=rate,
                        ack_timeout_s=1.5,
                        retries=8,
                    )
                )
            )
        except BaseException as exc:  # surfaced by the test
            box.append(exc)

    thread = threading.Thread(target=play)
    thread.start()
    return thread, box


def check_store(url: str, frames: int, values: int) -> None:
    store = Store.open(url)
    with store.connect() as conn:
        stored_frames = conn.execute(
            select(func.count()).select_from(raw_frames).where(raw_frames.c.outcome == "stored")
        ).scalar_one()
        stored_values = conn.execute(select(func.count()).select_from(observations)).scalar_one()
        replays = conn.execute(select(func.sum(raw_frames.c.receive_count))).scalar_one()
    store.close()
    assert stored_frames == frames  # every frame, once (content-addressed)
    assert stored_values == values  # every value, once
    assert replays >= frames


def wait_for(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_while_streaming_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'auasu.sqlite3'}"
    capture, frames, values = prepared_store(url)
    hub = HubProcess(url, tmp_path)
    hub.start()
    try:
        thread, box = replay_in_thread(hub.hj212_port, capture, rate=600)  # 10 frames/s/logger
        # Two kills, each after 40 more acknowledged frames: a kill that happens to fall
        # between two exchanges cuts nothing off, two such kills in a row are rare enough.
        for _kill in range(2):
            wait_for(lambda: hub.frames_stored() >= 40, 20)
            assert hub.frames_stored() >= 40, "nothing was acknowledged before the kill"
            hub.kill()
            hub.start()  # same ports: the simulator reconnects and resends what had no ack
        thread.join(120)
        assert not thread.is_alive()
        (stats,) = box
        assert isinstance(stats, SimulatorStats), stats
        assert stats.frames_given_up == 0 and stats.frames_rejected == 0
        assert stats.frames_acked == frames
        assert stats.frames_resent > 0  # a kill really cut frames off mid-exchange
    finally:
        exit_code = hub.stop()
    assert exit_code == 0  # the restarted hub shut down gracefully on SIGTERM
    check_store(url, frames, values)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.serial
def test_postgresql_restart_during_ingest_resumes_by_itself(tmp_path: Path, pg_url: str) -> None:
    ctl = shutil.which("pg_ctlcluster")
    require(
        ctl is not None and os.geteuid() == 0, "restarting PostgreSQL needs pg_ctlcluster as root"
    )
    assert ctl is not None
    version = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    capture, frames, values = prepared_store(pg_url)
    hub = HubProcess(pg_url, tmp_path)
    hub.start()
    try:
        thread, box = replay_in_thread(hub.hj212_port, capture, rate=300)
        wait_for(lambda: hub.frames_stored() >= 40, 20)
        assert hub.frames_stored() >= 40
        subprocess.run(
            [ctl, "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
            check=True,
            capture_output=True,
        )
        thread.join(180)
        assert not thread.is_alive()
        (stats,) = box
        assert isinstance(stats, SimulatorStats), stats
        assert stats.frames_given_up == 0 and stats.frames_acked == frames
        assert hub.process is not None and hub.process.poll() is None  # never crashed
    finally:
        hub.stop()
    check_store(pg_url, frames, values)
    assert "retrying" in hub.log.read_text()  # the outage was real and was ridden out
