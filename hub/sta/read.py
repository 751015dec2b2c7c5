"""Answers to SensorThings GET requests: service root, collections, entities, properties, refs.

Evaluation follows 18-088 §9.3 (``sta.md`` §1.4); the SQL comes from :mod:`hub.sta.query`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask import Response, jsonify, request

from hub.sta.entities import ENTITY_TYPES
from hub.sta.errors import ApiError
from hub.sta.options import QueryOptions, parse_query_options
from hub.sta.paths import ResourcePath, parse_resource_path
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


def _root_url() -> str:
    return request.url_root.rstrip("/") + PREFIX


def _service_root(root: str) -> dict[str, Any]:
    sets = [{"name": e.set_name, "url": f"{root}/{e.set_name}"} for e in ENTITY_TYPES if served(e)]
    # Conformance lists nothing yet: no requirements class passes its full conformance suite
    # (ets-sta10 / FROST tests), and 18-088 only lets a server claim what it fully implements.
    return {"value": sets, "serverSettings": {"conformance": []}}


def answer(store: Store, path: str) -> Any:
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
