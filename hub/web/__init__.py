"""The hub's HTTP face: a Flask app whose every error is JSON (never an HTML 500)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from hub.ingest.pipeline import IngestPipeline
from hub.metrics import HubMetrics
from hub.sta.api import create_blueprint
from hub.store import Store

log = logging.getLogger(__name__)


def create_app(
    store: Store,
    metrics: HubMetrics,
    ready: Callable[[], bool],
    *,
    pipeline: IngestPipeline | None = None,
) -> Flask:
    """Build the WSGI app. ``ready`` says whether ingest is accepting input; ``pipeline``
    (absent in read-only rigs) carries observations written through the APIs."""
    app = Flask("auasu")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(create_blueprint(store, pipeline))

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

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error in request")
        body: dict[str, Any] = {
            "code": 503,
            "error": "Service Unavailable",
            "message": "the hub could not answer this request; retry later",
        }
        return jsonify(body), 503

    return app
