"""One hub process: store, ingest pipeline, HJ 212 listener, HTTP and (when ``[mqtt] enabled``)
the SensorThings MQTT extension, started and stopped as one.

MQTT wiring (:mod:`hub.sta.mqtt`): the hub's :class:`~hub.sta.mqtt.MqttService` is registered
as a commit observer of the pipeline, so every committed device batch and API write is
published to subscribers; Observations published by clients are created through the HTTP write
path (:class:`~hub.sta.mqtt.wiring.WritePathCreate`); the broker's password and ACL files follow
the hub's users (:class:`~hub.sta.mqtt.wiring.BrokerAuthSync`), rewritten into
``<data_dir>/mqtt/auth`` -- or, when the hub was given the broker process (``auasu demo``),
into that broker's own directory, which is then told to re-read them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from waitress.server import create_server

from hub.config import HubConfig
from hub.ingest.pipeline import IngestPipeline, PipelineSettings
from hub.ingest.tcp import ListenerLimits, TcpListener
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.plugins import load_adapters
from hub.provenance.service import open_provenance
from hub.sta.mqtt import oneshot
from hub.store import Store
from hub.web import create_app

if TYPE_CHECKING:
    from hub.sta.mqtt import MosquittoProcess, MqttService
    from hub.sta.mqtt.settings import MqttSettings
    from hub.sta.mqtt.wiring import BrokerAuthSync

log = logging.getLogger(__name__)


class HubServer:
    """Owns every long-lived component; ``start`` returns once all listen, ``stop`` drains."""

    def __init__(
        self,
        config: HubConfig,
        *,
        store: Store | None = None,
        broker: MosquittoProcess | None = None,
    ) -> None:
        """``broker``: a Mosquitto process this hub manages (its users and reloads); the
        caller starts and stops it. Without it an MQTT-enabled hub connects to the broker of
        ``config.mqtt`` and writes the auth files into ``config.mqtt.auth_dir``."""
        self.config = config
        self.broker = broker
        self.metrics = HubMetrics()
        self.store = store or Store.open(config.database_url)
        adapters = load_adapters()
        # Every batch the pipeline commits is sealed: a signed record in the provenance log.
        self.provenance = open_provenance(config, self.store, adapters)
        self.pipeline = IngestPipeline(
            self.store,
            MappingSet.load(),
            adapters,
            settings=PipelineSettings(
                max_batch_frames=config.ingest.max_batch_frames,
                linger_s=config.ingest.linger_ms / 1000,
            ),
            metrics=self.metrics,
            sealer=self.provenance.sealer if self.provenance is not None else None,
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
        self.mqtt: MqttService | None = None
        self._auth_sync: BrokerAuthSync | None = None

    @property
    def hj212_port(self) -> int:
        return self.listener.port

    @property
    def http_port(self) -> int:
        return int(self._http.effective_port) if self._http is not None else 0

    def ready(self) -> bool:
        return self._running

    def start(self) -> None:
        # The HTTP socket is bound first (not yet served): its port makes the public URL that
        # MQTT notifications link to, and the MQTT observer must be registered before the
        # pipeline commits anything.
        app = create_app(
            self.store,
            self.metrics,
            self.ready,
            pipeline=self.pipeline,
            config=self.config,
            provenance=self.provenance,
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
        if self.config.mqtt.enabled:
            self._make_mqtt()
        self.pipeline.start()
        if self.provenance is not None:
            self.provenance.start()
        if self.mqtt is not None:
            assert self._auth_sync is not None
            self._auth_sync.start()
            self.mqtt.start()
        self._loop_thread.start()
        self.run_async(self.listener.start()).result(timeout=30)
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

    def public_root(self) -> str:
        """The service root URL clients use (``[mqtt] service_root_url``, else the listener)."""
        return oneshot.public_root(self.config, self.http_port)

    def mqtt_settings(self) -> MqttSettings:
        """``config.mqtt`` with the data-directory defaults filled in."""
        settings = self.config.mqtt
        base = self.config.data_dir / "mqtt"
        defaults: dict[str, Any] = {}
        if settings.password is None and settings.password_path is None:
            defaults["password_path"] = base / "hub.secret"
        if settings.learned_topics_path is None:
            defaults["learned_topics_path"] = base / "learned-topics.json"
        if settings.auth_dir is None:
            defaults["auth_dir"] = base / "auth"
        return settings.model_copy(update=defaults)

    def _make_mqtt(self) -> None:
        from hub.sta.mqtt import BrokerUser, MqttMetrics, MqttService
        from hub.sta.mqtt.wiring import ApplyUsers, BrokerAuthSync, WritePathCreate, file_writer

        settings = self.mqtt_settings()
        root = self.public_root()
        hub_user = BrokerUser.from_secret(settings.username, "admin", settings.hub_password())
        apply: ApplyUsers
        if self.broker is not None:
            apply = self.broker.update_users
        else:
            assert settings.auth_dir is not None
            apply = file_writer(settings.auth_dir, hub_user, settings.broker_pid_file)
        self._auth_sync = BrokerAuthSync(self.store, apply, interval_s=settings.auth_sync_s)
        create = WritePathCreate(
            self.store,
            self.pipeline,
            root_url=root,
            peer=f"mqtt://{settings.host}:{settings.port}",
        )
        self.mqtt = MqttService(
            settings,
            self.store,
            root_url=root,
            create_observation=create,
            metrics=MqttMetrics(self.metrics.registry),
        )
        self.pipeline.add_observer(self.mqtt.notifier)

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
        if self.provenance is not None:
            self.provenance.stop()
        if self._http is not None:
            self._http.close()
        # After every producer: what they committed last is still published.
        if self.mqtt is not None:
            self.mqtt.stop()
        if self._auth_sync is not None:
            self._auth_sync.stop()
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(5)
        self.store.close()
