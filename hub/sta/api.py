"""The read-only SensorThings API 1.1 under ``/v1.1`` (18-088 §9; ``sta.md`` §1.3-1.4).

Every answer is JSON (``$value`` excepted); every refusal is ``{"code", "error", "message"}``
with the status the parsing and compiling layers chose: 400 malformed, 404 unknown, 501 not
implemented (``$expand``, ``$resultFormat``, MultiDatastreams, spatial functions, ...). Writes
are not served yet: any other method answers 405.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import DataError

from hub.sta.columns import NotSupported
from hub.sta.compiler import CompileError
from hub.sta.entities import ENTITY_TYPES, UnknownProperty
from hub.sta.filter import FilterError
from hub.sta.options import OptionError, QueryOptions, parse_query_options
from hub.sta.paths import PathError, ResourcePath, parse_resource_path
from hub.sta.query import Page, fetch_entity, fetch_page, parent_exists
from hub.sta.serialize import (
    ABSENT,
    Extras,
    entity_json,
    property_value,
    raw_value,
    self_link,
    served,
)
from hub.store import Store
from hub.store.queries import datastream_extent

PREFIX = "/v1.1"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class ApiError(Exception):
    """A refusal with an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> tuple[Response, int]:
    phrase = HTTPStatus(status).phrase
    one_line = " ".join(message.split())
    return jsonify({"code": status, "error": phrase, "message": one_line}), status


def create_blueprint(store: Store) -> Blueprint:
    """The ``/v1.1`` blueprint over ``store``."""
    blueprint = Blueprint("sta", __name__)

    @blueprint.route(PREFIX, methods=_METHODS)
    @blueprint.route(PREFIX + "/", methods=_METHODS)
    @blueprint.route(PREFIX + "/<path:path>", methods=_METHODS)
    def resource(path: str = "") -> Any:
        if request.method not in ("GET", "HEAD"):
            return error_response(
                405, f"{request.method} is not supported: the SensorThings API is read-only for now"
            )
        try:
            return _answer(store, path)
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


def _root_url() -> str:
    return request.url_root.rstrip("/") + PREFIX


def _service_root(root: str) -> dict[str, Any]:
    sets = [{"name": e.set_name, "url": f"{root}/{e.set_name}"} for e in ENTITY_TYPES if served(e)]
    # Conformance lists nothing yet: no requirements class passes its full conformance suite
    # (ets-sta10 / FROST tests), and 18-088 only lets a server claim what it fully implements.
    return {"value": sets, "serverSettings": {"conformance": []}}


def _answer(store: Store, path: str) -> Any:
    root = _root_url()
    parsed = parse_resource_path(path)
    if parsed.entity is None:
        return jsonify(_service_root(root))
    for segment in parsed.segments:
        if not served(segment.entity):
            raise ApiError(501, f"{segment.entity.set_name} are not supported yet")
    options = parse_query_options(list(request.args.items(multi=True)), parsed.entity)
    if options.expand:
        raise ApiError(501, "$expand is not supported yet")
    if options.result_format is not None:
        raise ApiError(501, "$resultFormat is not supported yet")
    with store.connect() as conn:
        extras = Extras(lambda ds: datastream_extent(conn, ds))
        if parsed.is_collection:
            if not parent_exists(conn, parsed):
                raise ApiError(404, "the entity this path navigates from does not exist")
            page = fetch_page(conn, parsed, options)
            return jsonify(_collection(parsed, options, page, root, extras))
        row = fetch_entity(conn, parsed)
        if row is None:
            raise ApiError(404, f"no such {parsed.entity.name}")
        mapping = row._mapping
        if parsed.ref:
            return jsonify({"@iot.selfLink": self_link(root, parsed.entity, mapping["id"])})
        if parsed.property is not None:
            value = property_value(parsed.entity, parsed.property.name, mapping, extras)
            if value is ABSENT or value is None:
                return Response(status=204)  # null or not held: no content (as FROST)
            if parsed.value:
                return Response(raw_value(value), mimetype="text/plain")
            return jsonify({parsed.property.name: value})
        return jsonify(entity_json(parsed.entity, mapping, root, options.select, extras))


def _collection(
    path: ResourcePath, options: QueryOptions, page: Page, root: str, extras: Extras
) -> dict[str, Any]:
    entity = options.entity
    body: dict[str, Any] = {}
    if page.count is not None:
        body["@iot.count"] = page.count
    if path.ref:
        body["value"] = [{"@iot.selfLink": self_link(root, entity, r.id)} for r in page.rows]
    else:
        body["value"] = [
            entity_json(entity, r._mapping, root, options.select, extras) for r in page.rows
        ]
    if page.more and options.top > 0:
        body["@iot.nextLink"] = _next_link(options.skip + options.top)
    return body


def _next_link(skip: int) -> str:
    """This request's absolute URL with ``$skip`` advanced and every other parameter kept."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k.lower() != "$skip"]
    pairs.append(("$skip", str(skip)))
    query = urlencode(pairs, quote_via=quote, safe="$'(),/:")
    return f"{request.base_url}?{query}"
