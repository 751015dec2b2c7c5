"""The hub's HTTP face: a Flask app whose every error is JSON (never an HTML 500).

In front of the APIs, in this order: request size caps (414/413, :mod:`hub.web.limits`), the
authentication gate (401/403, :mod:`hub.web.auth`), per-client rate limits (429,
:mod:`hub.web.ratelimit`); API reads get a statement time limit (503 past it). The APIs:
SensorThings at ``/v1.1`` (:mod:`hub.sta`), OGC API - Features and EDR at ``/oapi``
(:mod:`hub.ogcapi.embed`); reads of both are open to any origin (:mod:`hub.web.cors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from hub.config import HubConfig, LimitSettings, RateLimitSettings
from hub.ingest.pipeline import IngestPipeline
from hub.metrics import HubMetrics
from hub.store import Store
from hub.store.timeouts import StatementTimeout, is_statement_timeout
from hub.web import auth, cors, limits, ratelimit

if TYPE_CHECKING:
    from hub.provenance.service import Provenance

log = logging.getLogger(__name__)


def create_app(
    store: Store,
    metrics: HubMetrics,
    ready: Callable[[], bool],
    *,
    pipeline: IngestPipeline | None = None,
    config: HubConfig | None = None,
    provenance: Provenance | None = None,
) -> Flask:
    """Build the WSGI app. ``ready`` says whether ingest is accepting input; ``pipeline``
    (absent in read-only rigs) carries observations written through the APIs.

    ``config`` supplies the rate limits, request limits and trusted proxies, and the MQTT
    settings the service root advertises (``app.config["AUASU_MQTT_SETTINGS"]``, read by
    :func:`hub.sta.mqtt.wiring.mqtt_server_settings`). Without it (test rigs that hammer the
    API) every rate limit is off, the failed-login limit included; authentication and the
    request limits (sizes, statement time) keep their defaults, and no MQTT is advertised.
    """
    # Imported here, not at module level: API handlers import hub.web.auth (the batch handler's
    # current_principal), and a module-level import would make that a cycle.
    from hub.ogcapi.embed import create_oapi_blueprint
    from hub.sta.api import create_blueprint
    from hub.sta.mqtt.wiring import APP_CONFIG_KEY

    app = Flask("auasu")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config[APP_CONFIG_KEY] = config.mqtt if config is not None else None
    if config is not None:
        rates, request_limits = config.rate_limits, config.limits
        trusted = ratelimit.trusted_networks(config.http.trusted_proxies)
    else:
        rates = RateLimitSettings.off()
        request_limits, trusted = LimitSettings(), ()
    limits.install(app, request_limits)
    auth.install(app, store, login_failures=rates.login_failures, trusted=trusted)
    ratelimit.install(app, rates, trusted=trusted, identify=_principal_name)
    app.register_blueprint(create_blueprint(store, pipeline))
    app.register_blueprint(create_oapi_blueprint(store, config))
    if provenance is not None:
        from hub.provenance.web import ProvContext, create_prov_blueprint

        public_url = config.http.public_url if config is not None else None
        context = ProvContext(provenance.keys, provenance.log, public_url)
        app.register_blueprint(create_prov_blueprint(store, context))
    cors.install(app)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        store_ok = store.ping()
        ingest_ok = ready()
        body = {
            "status": "ok" if store_ok and ingest_ok else "unavailable",
            "store": {"backend": store.backend, "reachable": store_ok},
            "ingest": {"running": ingest_ok},
        }
        return jsonify(body), 200 if store_ok and ingest_ok else 503

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        return jsonify({"code": code, "error": exc.name, "message": exc.description}), code

    @app.errorhandler(StatementTimeout)
    def statement_timeout(exc: StatementTimeout) -> Response:
        return limits.timeout_response(exc)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int] | Response:
        if is_statement_timeout(exc):
            # The store's own ceiling (engine-wide statement_timeout) stopped a query that did
            # not run under limited_connection: still the client's request that was too heavy.
            return limits.timeout_response(StatementTimeout())
        log.exception("unhandled error in request")
        body: dict[str, Any] = {
            "code": 503,
            "error": "Service Unavailable",
            "message": "the hub could not answer this request; retry later",
        }
        return jsonify(body), 503

    return app


def _principal_name() -> str | None:
    principal = auth.current_principal()
    return None if principal is None else principal.name
