"""Answers to SensorThings GET requests: service root, collections, entities, properties, refs.

Evaluation follows 18-088 §9.3 (``sta.md`` §1.4): the SQL comes from :mod:`hub.sta.query`, the
order from :mod:`hub.sta.ordering`, nextLinks from :mod:`hub.sta.paging`, expansions from
:mod:`hub.sta.expand` and the other result formats from :mod:`hub.sta.formats`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response, current_app, jsonify, request

from hub.sta import formats, paging
from hub.sta.entities import ENTITY_TYPES
from hub.sta.errors import ApiError
from hub.sta.expand import ExpandNode, Writer, expand_tree
from hub.sta.extents import datastream_extents, multi_datastream_extent, multi_datastream_extents
from hub.sta.mqtt.wiring import mqtt_server_settings
from hub.sta.observed_area import observed_areas
from hub.sta.options import MAX_SKIP, QueryOptions, parse_query_options
from hub.sta.ordering import Ordering, ordering
from hub.sta.paths import ResourcePath, parse_resource_path
from hub.sta.query import Page, fetch_entity, fetch_page, parent_exists, path_ordering
from hub.sta.serialize import ABSENT, Extras, property_value, raw_value, self_link
from hub.store import Store
from hub.store.queries import datastream_extent
from hub.store.timeouts import limited_connection

PREFIX = "/v1.1"


def _root_url() -> str:
    return request.url_root.rstrip("/") + PREFIX


# The requirements classes of 18-088 (sta.md §1.1) this server implements in full; each has a
# module of tests in tests/hub/sta/conformance/ that runs on both stores. The MQTT classes are
# added by hub.sta.mqtt when the extension is configured.
_REQ = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
CONFORMANCE: tuple[str, ...] = tuple(
    _REQ + name
    for name in (
        "datamodel/thing",
        "datamodel/location",
        "datamodel/historical-location",
        "datamodel/datastream",
        "datamodel/sensor",
        "datamodel/observed-property",
        "datamodel/observation",
        "datamodel/feature-of-interest",
        "datamodel/entity-control-information",
        "resource-path/resource-path-to-entities",
        "request-data",
        "create-update-delete",
        "batch-request/batch-request",
        "multi-datastream",
        "data-array/data-array",
    )
)


def _service_root(root: str) -> dict[str, Any]:
    sets = [{"name": e.set_name, "url": f"{root}/{e.set_name}"} for e in ENTITY_TYPES]
    mqtt = mqtt_server_settings()
    conformance = [*CONFORMANCE, *(key for key in mqtt if key.startswith(_REQ))]
    return {"value": sets, "serverSettings": {"conformance": conformance, **mqtt}}


def answer(store: Store, path: str) -> Any:
    """The response to ``GET /v1.1/<path>`` with the request's query options."""
    root = _root_url()
    parsed = parse_resource_path(path)
    if parsed.entity is None:
        return jsonify(_service_root(root))
    options = parse_query_options(list(request.args.items(multi=True)), parsed.entity)
    kind = parsed.kind
    if options.result_format is not None and kind != "collection":
        raise ApiError(400, f"$resultFormat applies to a collection of entities, not to a {kind}")
    if options.skiptoken is not None and not parsed.is_collection:
        raise ApiError(400, "$skiptoken applies to collections only")
    # $expand shapes entities; a $ref, a property or a $value has none to shape.
    nodes = expand_tree(options.expand) if kind in ("collection", "entity") else []
    if kind == "collection":
        formats.check(options.entity, options, nodes)
    # The request's statement budget (hub.web.limits) stops a runaway query; StatementTimeout
    # propagates to the app's handler, which answers 503.
    with limited_connection(store) as conn:
        extras = Extras(
            lambda ds: datastream_extent(conn, ds),
            lambda ids: datastream_extents(conn, ids),
            lambda md: multi_datastream_extent(conn, md),
            lambda ids: multi_datastream_extents(conn, ids),
            observed_areas=lambda ids, multi: observed_areas(conn, ids, multi=multi),
            hub_root=root.removesuffix("/v1.1"),
        )
        writer = Writer(conn, root, extras)
        if parsed.is_collection:
            if not parent_exists(conn, parsed):
                raise ApiError(404, "the entity this path navigates from does not exist")
            order = path_ordering(parsed, options, ordering(options.entity, options.orderby_text))
            bound = paging.binding(path, options)
            resume = None
            if options.skiptoken is not None:
                if order.keys is None:
                    raise ApiError(400, "$skiptoken: this query pages with $skip, not a token")
                resume = paging.decode_token(options.skiptoken, order.keys, bound)
            page = fetch_page(conn, parsed, options, order, resume)
            return _collection(
                writer, parsed, options, nodes, page, _next_url(page, options, order, bound)
            )
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
        (body,) = writer.entities(parsed.entity, [mapping], options.select, nodes)
        return _json_response(body)


def _collection(
    writer: Writer,
    path: ResourcePath,
    options: QueryOptions,
    nodes: list[ExpandNode],
    page: Page,
    next_url: str | None,
) -> Any:
    entity = options.entity
    rows = [row._mapping for row in page.rows]
    fmt = options.result_format
    if fmt == "csv":
        bodies = writer.entities(entity, rows, options.select, nodes)
        response = Response(
            formats.csv_text(entity, bodies, options.select, nodes), mimetype="text/csv"
        )
        if next_url is not None:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response
    body: dict[str, Any] = {}
    if page.count is not None:
        body["@iot.count"] = page.count.value
        if page.count.estimated:
            body["@auasu.countEstimated"] = True
    if path.ref:
        body["value"] = [{"@iot.selfLink": self_link(writer.root, entity, r["id"])} for r in rows]
    elif fmt == "dataArray":
        body["value"] = formats.data_array(rows, options, writer.root, writer.extras)
    elif fmt == "geojson":
        bodies = writer.entities(entity, rows, options.select, nodes)
        collection = {"type": "FeatureCollection", **body}
        collection["features"] = formats.features(writer.conn, entity, rows, bodies)
        if next_url is not None:
            collection["@iot.nextLink"] = next_url
        response = jsonify(collection)
        response.mimetype = "application/geo+json"
        return response
    else:
        body["value"] = writer.entities(entity, rows, options.select, nodes)
    if next_url is not None:
        body["@iot.nextLink"] = next_url
    return _json_response(body)


def _json_response(body: Any) -> Response:
    """``body`` as compact UTF-8 JSON.

    A page of 10,000 observations or the map query's thousands of entities is megabytes of
    JSON: orjson writes it several times faster than the standard encoder, and non-ASCII text
    (station names, ``µg/m³``) as itself. Datetimes and dataclasses go through the app's own
    ``default`` so that the bytes say what ``jsonify`` would have said.
    """
    default = getattr(current_app.json, "default", None)
    try:
        data = orjson.dumps(body, default=default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        # An integer beyond 64 bits (a client may store one in properties) is valid JSON
        # that orjson will not write; the standard encoder will.
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=default)
        data = (text + "\n").encode()
    return Response(data, mimetype="application/json")


_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_APPEND_NEWLINE
)


def _next_url(page: Page, options: QueryOptions, order: Ordering, bound: str) -> str | None:
    """This request's URL for the next page: a ``$skiptoken`` when the order is keyed, else
    ``$skip`` advanced; every other parameter is kept."""
    if not page.more or options.top == 0:
        return None
    args = list(request.args.items(multi=True))
    if order.keys is not None:
        token = paging.encode_token(order.keys, page.rows[-1]._mapping, bound)
        return paging.next_link(request.base_url, args, "$skiptoken", token)
    skip = min(options.skip + options.top, MAX_SKIP)
    return paging.next_link(request.base_url, args, "$skip", str(skip))
