"""One hub process: store, ingest pipeline, HJ 212 listener and HTTP, started and stopped as one."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any

from waitress.server import create_server

from hub.config import HubConfig
from hub.ingest.pipeline import IngestPipeline, PipelineSettings
from hub.ingest.tcp import ListenerLimits, TcpListener
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.plugins import load_adapters
from hub.store import Store
from hub.web import create_app

log = logging.getLogger(__name__)


class HubServer:
    """Owns every long-lived component; ``start`` returns once all listen, ``stop`` drains."""

    def __init__(self, config: HubConfig, *, store: Store | None = None) -> None:
        self.config = config
        self.metrics = HubMetrics()
        self.store = store or Store.open(config.database_url)
        self.pipeline = IngestPipeline(
            self.store,
            MappingSet.load(),
            load_adapters(),
            settings=PipelineSettings(
                max_batch_frames=config.ingest.max_batch_frames,
                linger_s=config.ingest.linger_ms / 1000,
            ),
            metrics=self.metrics,
        )
        self.listener = TcpListener(
            self.pipeline,
            adapter="lihe-hj212",
            host=config.hj212.host,
            port=config.hj212.port,
            limits=ListenerLimits(
                max_connections=config.hj212.max_connections,
                max_connections_per_address=config.hj212.max_connections_per_address,
                idle_timeout_s=config.hj212.idle_timeout_s,
            ),
        )
        self.metrics.connections.set_function(lambda: float(self.listener.connections))
        self.metrics.watch_listener(lambda: self.listener.stats)
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="auasu-asyncio", daemon=True
        )
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self._running = False
        self._background: list[Future[Any]] = []

    @property
    def hj212_port(self) -> int:
        return self.listener.port

    @property
    def http_port(self) -> int:
        return int(self._http.effective_port) if self._http is not None else 0

    def ready(self) -> bool:
        return self._running

    def start(self) -> None:
        self.pipeline.start()
        self._loop_thread.start()
        self.run_async(self.listener.start()).result(timeout=30)
        app = create_app(
            self.store, self.metrics, self.ready, pipeline=self.pipeline, config=self.config
        )
        self._http = create_server(
            app,
            host=self.config.http.host,
            port=self.config.http.port,
            threads=self.config.http.threads,
            ident="auasu",
            # Waitress would otherwise buffer up to 1 GiB before the app could refuse it; twice
            # the app's own limit lets the app answer 413 in JSON for all but absurd bodies.
            max_request_body_size=2 * self.config.limits.max_body_bytes,
        )
        self._http_thread = threading.Thread(target=self._http.run, name="auasu-http", daemon=True)
        self._http_thread.start()
        self._running = True
        log.info(
            "hub ready: http://%s:%d  hj212 tcp %s:%d  store %s",
            self.config.http.host,
            self.http_port,
            self.config.hj212.host,
            self.hj212_port,
            self.store.backend,
        )

    def run_async(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Run a coroutine on the hub's event loop (the simulator in ``auasu demo`` uses it)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run_in_background(self, coros: Sequence[Coroutine[Any, Any, Any]]) -> None:
        self._background.extend(self.run_async(c) for c in coros)

    def stop(self) -> None:
        """Stop accepting, let in-flight frames commit and get their replies, then close."""
        self._running = False
        for future in self._background:
            future.cancel()
        if self._loop.is_running():
            try:
                self.run_async(self.listener.stop()).result(timeout=30)
            except Exception:  # shutting down anyway; the listener logs its own errors
                log.exception("listener did not stop cleanly")
        self.pipeline.stop()
        if self._http is not None:
            self._http.close()
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(5)
        self.store.close()
