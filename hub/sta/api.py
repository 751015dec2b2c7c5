"""The SensorThings API 1.1 under ``/v1.1`` (18-088 §9; ``sta.md`` §1.3-1.8): one blueprint.

Reads are answered by :mod:`hub.sta.read`, creates, updates and deletes by :mod:`hub.sta.write`.
Every refusal is ``{"code", "error", "message"}`` with the status the parsing and compiling
layers chose: 400 malformed, 404 unknown, 501 not implemented. A read stopped by its statement
time limit (:class:`hub.store.timeouts.StatementTimeout`) is deliberately not caught here: the
app's handler answers it with 503 and ``Retry-After`` (:mod:`hub.web.limits`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import DataError

from hub.ingest.pipeline import IngestPipeline
from hub.sta import openapi, read, write
from hub.sta.columns import NotSupported
from hub.sta.compiler import CompileError
from hub.sta.entities import UnknownProperty
from hub.sta.errors import ApiError, error_response
from hub.sta.filter import FilterError
from hub.sta.options import OptionError
from hub.sta.paths import PathError
from hub.store import Store

PREFIX = "/v1.1"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

__all__ = ["PREFIX", "ApiError", "create_blueprint", "error_response"]


def create_blueprint(store: Store, pipeline: IngestPipeline | None = None) -> Blueprint:
    """The ``/v1.1`` blueprint over ``store``; writes of observations go through ``pipeline``."""
    blueprint = Blueprint("sta", __name__)

    @blueprint.get("/openapi/sta.json")
    def openapi_json() -> Any:
        return jsonify(openapi.build_document())

    @blueprint.get("/openapi/sta.yaml")
    def openapi_yaml() -> Any:
        return Response(openapi.render(), mimetype="application/yaml")

    @blueprint.route(PREFIX, methods=_METHODS)
    @blueprint.route(PREFIX + "/", methods=_METHODS)
    @blueprint.route(PREFIX + "/<path:path>", methods=_METHODS)
    def resource(path: str = "") -> Any:
        try:
            if request.method in ("GET", "HEAD"):
                return read.answer(store, path)
            return write.answer(store, pipeline, path)
        except ApiError as exc:
            return error_response(exc.status, exc.message)
        except (PathError, OptionError, CompileError, NotSupported) as exc:
            return error_response(exc.status, str(exc))
        except FilterError as exc:
            return error_response(400, str(exc))
        except UnknownProperty as exc:
            return error_response(400, str(exc))
        except DataError:
            # The database refused a client value (PostgreSQL: a bound integer beyond 32 bits,
            # 'id eq 3000000000'); the request is at fault, not the hub.
            return error_response(400, "a value in the request is out of range for the store")

    return blueprint
