"""``/oapi``: pygeoapi's OGC API - Features and EDR, as a blueprint of the hub's Flask app.

pygeoapi's own ``flask_app`` module is not used: it reads one configuration per process from
``PYGEOAPI_CONFIG`` at import time, while the hub (and its tests) make many apps over different
stores. Instead each app gets its own :class:`HubAPI` objects and routes that call pygeoapi's
API functions the way ``flask_app.execute_from_flask`` does. Only the read side is routed:
landing page, OpenAPI, conformance, collections, schema, queryables, items (GET, and POST for a
CQL2-JSON filter), one item, and the EDR queries; no processes, tiles, maps, STAC, admin,
pub/sub, transactions. Each route first checks the request's query parameters against the
ones it honours (:mod:`hub.ogcapi.params_gate`): pygeoapi ignores the others, the hub answers
400.

Links. pygeoapi builds every link from ``server.url``. With ``[http] public_url`` set that is
``<public_url>/oapi``; without it the links follow the request's scheme and ``Host`` (as the
SensorThings links do), so a hub reached as ``127.0.0.1:8080`` and as ``hub.lan`` links to
itself either way. pygeoapi keeps the URL in its ``API`` object, so the app keeps one object
per base URL (a few, least recently used first out; a ``Host`` that is not a host name or
address is refused with 400 before it reaches a link).

Freshness. The collections' extents come from the store; they are re-read at most every
``[ogcapi] extents_refresh_s`` seconds (on the first request after that), never at app
creation, so building an app touches neither pygeoapi's providers nor the database.

OpenAPI. ``/oapi/openapi`` serves the document pygeoapi generates from this app's settings
(:mod:`hub.ogcapi.openapi`; up to a second of work), made once per app, lazily, on the first
request for it, and kept; each base URL gets it with the placeholder address replaced by its
own. ``openapi/oapi.yaml`` is the same document for the default configuration.

Four changes to pygeoapi's behaviour, made here once for the process:

* logging belongs to the hub: pygeoapi's ``setup_logger`` (a ``logging.basicConfig`` call made
  by every ``API`` object) does nothing, its logger defaults to WARNING, and its client errors
  (400/404) are logged at DEBUG without the traceback it attaches;
* JSON is faithful: pygeoapi turns ``<`` and ``>`` in every JSON string into ``&lt;``/``&gt;``;
  the hub's responses keep the data and write them as ``\\u003c``/``\\u003e`` instead (same
  value for any JSON reader, still inert inside an HTML ``<script>``);
* HTML pages are rendered from their own app's configuration: pygeoapi caches the
  configuration of the first page per language for the whole process, which is switched off;
* HTML is escaped: pygeoapi's item pages embed the features as JSON in a script and build map
  pop-ups from their strings, so the JSON given to its templates has every string
  HTML-escaped (the rest of each page is escaped by Jinja's autoescape).

Errors are pygeoapi's OGC exception JSON (``{"code", "type", "description"}``) with their
status, except that nothing answers 500: pygeoapi's 500s become 503, an exception pygeoapi did
not catch is logged and answered 503 in the same shape, and a statement past the hub's time
limit gets the hub's usual 503 (:func:`hub.web.limits.timeout_response`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import pygeoapi.api as core_api
import pygeoapi.api.environmental_data_retrieval as edr_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.l10n as pygeoapi_l10n
import pygeoapi.util as pygeoapi_util
from flask import Blueprint, Response, g, request
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest
from pygeoapi.formats import F_HTML, FORMAT_TYPES
from werkzeug.datastructures import MultiDict

from hub.config import HubConfig
from hub.ogcapi import crs, params_gate, registry, settings
from hub.ogcapi import openapi as oapi_document
from hub.ogcapi.params_gate import Route
from hub.ogcapi.providers import cqlparse
from hub.store import Store
from hub.store.timeouts import StatementTimeout, is_statement_timeout
from hub.web.errors import json_error
from hub.web.limits import timeout_response

log = logging.getLogger(__name__)

PREFIX = settings.PREFIX
# Distinct base URLs one app keeps an API object for (each is a few kB).
MAX_BASE_URLS = 16
# How soon a collection whose provider failed to describe it is asked again (seconds).
RETRY_METADATA_S = 5.0
STATIC_FOLDER = Path(pygeoapi_util.__file__).resolve().parent / "static"
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")
_EDR_QUERIES = ",".join(params_gate.EDR_QUERIES)
_CQL2_JSON = frozenset({"cql2-json", "cql-json"})

ApiFunction = Callable[..., tuple[dict[str, Any], int, Any]]


# --- the process-wide adjustments to pygeoapi --------------------------------------------------


def _hub_owns_logging(_logging_config: dict[str, Any]) -> None:
    """Stands in for ``pygeoapi.log.setup_logger``: the hub configures logging itself."""


def faithful_json(value: Any, pretty: bool = False) -> str:
    """JSON text of ``value`` with ``<``, ``>`` and ``&`` written as ``\\u`` escapes."""
    text = json.dumps(
        value,
        default=pygeoapi_util.json_serial,
        indent=4 if pretty else None,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html_escaped(value: Any) -> Any:
    if isinstance(value, str):
        return str(markupsafe.escape(value))
    if isinstance(value, dict):
        return {_html_escaped(k): _html_escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_html_escaped(v) for v in value]
    return value


def html_safe_json(value: Any, pretty: bool = False) -> str:
    """The templates' ``to_json``: every string HTML-escaped, for scripts that paste strings
    into markup (pygeoapi's map pop-ups)."""
    return faithful_json(_html_escaped(value), pretty)


class _HtmlSafeTemplates(jinja2.Environment):
    """pygeoapi's template environment with :func:`html_safe_json` as ``to_json``.

    ``pygeoapi.util.render_j2_template`` makes an ``Environment`` per page and installs its
    ``to_json`` before asking for the template, so the filter is swapped at that moment.
    """

    def get_template(self, *args: Any, **kwargs: Any) -> jinja2.Template:
        self.filters["to_json"] = html_safe_json
        self.globals["to_json"] = html_safe_json
        return super().get_template(*args, **kwargs)


class _ClientNoise(logging.Filter):
    """Drops what pygeoapi logs about ordinary client requests: the ``TypeError`` it logs at
    WARNING for every items request without ``offset``, and its ERROR lines for a filter that
    does not parse (answered 400 all the same)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, TypeError):
            return False
        return not (isinstance(record.msg, str) and record.msg.startswith("Bad CQL"))


class _NoCache(dict[Any, Any]):
    """Stands in for ``pygeoapi.l10n._cfg_cache``, which keeps the first configuration each
    language's HTML pages were rendered with for the whole process (the first app's address
    and collections for every app and every ``Host``): it keeps nothing."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


def _adjust_pygeoapi() -> None:
    # Each is a module attribute the pygeoapi function looks up when it runs, so the change
    # holds whatever imported pygeoapi first.
    core_api.setup_logger = _hub_owns_logging
    pygeoapi_util.Environment = _HtmlSafeTemplates
    pygeoapi_l10n._cfg_cache = _NoCache()
    for module in (core_api, itemtypes_api, edr_api):
        module.to_json = faithful_json
    pygeoapi_logger = logging.getLogger("pygeoapi")
    if pygeoapi_logger.level == logging.NOTSET:
        pygeoapi_logger.setLevel(logging.WARNING)
    # Its l10n module warns about every configuration key that is not a language code.
    l10n_logger = logging.getLogger("pygeoapi.l10n")
    if l10n_logger.level == logging.NOTSET:
        l10n_logger.setLevel(logging.ERROR)
    for module in (itemtypes_api, edr_api):
        logging.getLogger(module.__name__).addFilter(_ClientNoise())
    # bbox-crs/filter-crs through the hub's transformations (Pulkovo 1942 by EPSG:15865, not
    # PROJ's pick) and the CQL2 grammar with what pygeofilter lacks: in place before the first
    # request, which may transform a bbox before any provider module is imported.
    crs.install()
    cqlparse.install()


_adjust_pygeoapi()


# --- pygeoapi's API object, one per base URL -----------------------------------------------------


class HubAPI(API):  # type: ignore[misc]
    """pygeoapi's ``API`` with the hub's error rules (no 500, quiet client errors), and the
    collections' queryable names for the parameter gate (:mod:`hub.ogcapi.params_gate`)."""

    def __init__(self, config: dict[str, Any], openapi: dict[str, Any]) -> None:
        super().__init__(config, openapi)
        # Per collection; an API object lives for one generation of the settings.
        self._queryable_names: dict[str, frozenset[str]] = {}

    def queryable_names(self, collection_id: str) -> frozenset[str] | None:
        """The collection's property-equality parameters (None: no such collection, or its
        provider failed, which pygeoapi answers itself)."""
        names = self._queryable_names.get(collection_id)
        if names is None:
            names = params_gate.queryable_names(self.config["resources"], collection_id)
            if names is not None:
                self._queryable_names[collection_id] = names
        return names

    def gate(self, route: Route, collection_id: str | None) -> str | None:
        """Why the current request's query parameters answer 400 (None: they do not). Not
        asked for an unknown collection, so that it is the 404 pygeoapi gives."""
        queryables: frozenset[str] = frozenset()
        if collection_id is not None:
            if collection_id not in self.config["resources"]:
                return None
            if route.queryables:
                found = self.queryable_names(collection_id)
                if found is None:
                    return None
                queryables = found
        return params_gate.refusal(route, request.args, queryables)

    def get_exception(
        self,
        status: int,
        headers: dict[str, Any],
        format_: str | None,
        code: str,
        description: str,
    ) -> tuple[dict[str, Any], int, str]:
        """OGC exception JSON (HTML when asked for) with ``status``; 500 becomes 503."""
        if status >= 500:
            log.error(
                "OGC API: %s (%s, %s)",
                description,
                code,
                int(status),
                exc_info=sys.exc_info()[0] is not None,
            )
            if status == HTTPStatus.INTERNAL_SERVER_ERROR:
                status = HTTPStatus.SERVICE_UNAVAILABLE
        else:
            log.debug("OGC API: %s (%s, %s)", description, code, int(status))
        if status == HTTPStatus.NO_CONTENT:
            return headers, status, ""
        exception = {"code": code, "type": code, "description": description}
        if format_ == F_HTML:
            headers["Content-Type"] = FORMAT_TYPES[F_HTML]
            content = pygeoapi_util.render_j2_template(
                self.tpl_config,
                self.config["server"]["templates"],
                "exception.html",
                exception,
                SYSTEM_LOCALE,
            )
            return headers, status, content
        headers["Content-Type"] = FORMAT_TYPES["json"]
        return headers, status, faithful_json(exception)

    def get_format_exception(self, request: APIRequest) -> tuple[dict[str, Any], int, str]:
        """400 for an ``f`` the resource does not offer (pygeoapi logs this at ERROR)."""
        headers = request.get_response_headers(SYSTEM_LOCALE, **self.api_headers)
        return self.get_exception(
            HTTPStatus.BAD_REQUEST,
            headers,
            request.format,
            "InvalidParameterValue",
            "Invalid format requested",
        )


class OapiState:
    """One app's ``/oapi``: its store and configuration, the API objects per base URL, the
    collections with their extents (refreshed), and the OpenAPI document (made once)."""

    def __init__(
        self,
        store: Store,
        config: HubConfig | None,
        collections: Sequence[settings.CollectionSpec],
    ) -> None:
        self.store = store
        self.config = config
        self.collections = tuple(collections)
        self.store_key = registry.register(store)
        self.refresh_s = config.ogcapi.extents_refresh_s if config is not None else 60.0
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._openapi_lock = threading.Lock()
        # (generation, resources, monotonic expiry): replaced whole, so readers need no lock.
        self._snapshot: tuple[int, dict[str, Any], float] | None = None
        self._apis: OrderedDict[str, tuple[int, HubAPI]] = OrderedDict()
        self._openapi: dict[str, Any] | None = None

    def base_url(self) -> str | None:
        """``/oapi``'s absolute URL for this request; None when the ``Host`` is unusable."""
        public = self.config.http.public_url if self.config is not None else None
        if public:
            return public + PREFIX
        if _HOST.match(request.host) is None:
            return None
        return request.url_root.rstrip("/") + PREFIX

    def resources(self) -> tuple[int, dict[str, Any]]:
        """The current generation of the collections and their ``resources`` section."""
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() < snapshot[2]:
            return snapshot[0], snapshot[1]
        # A stale snapshot is served while another request refreshes it; only the very first
        # request (no snapshot yet) waits.
        if not self._refresh_lock.acquire(blocking=snapshot is None):
            assert snapshot is not None
            return snapshot[0], snapshot[1]
        try:
            current = self._snapshot
            if current is None or time.monotonic() >= current[2]:
                fresh = settings.resources(self.store, self.store_key, self.collections)
                ttl = self.refresh_s if fresh.complete else min(self.refresh_s, RETRY_METADATA_S)
                generation = 1 if current is None else current[0] + 1
                self._snapshot = (generation, fresh.collections, time.monotonic() + ttl)
            assert self._snapshot is not None
            return self._snapshot[0], self._snapshot[1]
        finally:
            self._refresh_lock.release()

    def api(self, base_url: str) -> HubAPI:
        """The API object for ``base_url`` over the current collections."""
        generation, collections = self.resources()
        with self._lock:
            entry = self._apis.get(base_url)
            if entry is not None and entry[0] == generation:
                self._apis.move_to_end(base_url)
                return entry[1]
        api = HubAPI(settings.build_settings(self.config, base_url, collections), {})
        with self._lock:
            self._apis[base_url] = (generation, api)
            self._apis.move_to_end(base_url)
            while len(self._apis) > MAX_BASE_URLS:
                self._apis.popitem(last=False)
        return api

    def openapi(self, base_url: str) -> dict[str, Any]:
        """The OpenAPI document, generated on the first call, for ``base_url``."""
        with self._openapi_lock:
            if self._openapi is None:
                _, collections = self.resources()
                self._openapi = oapi_document.generate(collections, self.config, strict=False)
            document = self._openapi
        rebased: dict[str, Any] = oapi_document.rebase(document, base_url)
        return rebased

    def execute(
        self,
        function: ApiFunction,
        *args: Any,
        gate: Route,
        collection_id: str | None = None,
        skip_valid_check: bool = False,
        with_openapi: bool = False,
    ) -> Response:
        """Answer the current request with pygeoapi's ``function`` (``flask_app``'s
        ``execute_from_flask``, with the hub's error rules), unless its query has a parameter
        ``gate`` does not take (400)."""
        base_url = self.base_url()
        if base_url is None:
            return json_error(400, "the Host header is not a host name or address")
        # Providers link observations to their provenance records (outside /oapi).
        g.auasu_hub_root = base_url.removesuffix(PREFIX)
        try:
            api = self.api(base_url)
            if with_openapi and not api.openapi:
                api.openapi = self.openapi(base_url)
            api_request = APIRequest.from_flask(request, api.locales)
            refused = api.gate(gate, collection_id)
            if function is itemtypes_api.get_collection_items:
                _cql2_json_from_query(api_request)
            if refused is not None:
                headers = api_request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
                headers, status, content = api.get_exception(
                    HTTPStatus.BAD_REQUEST,
                    headers,
                    api_request.format,
                    "InvalidParameterValue",
                    refused,
                )
            elif not skip_valid_check and not api_request.is_valid():
                headers, status, content = api.get_format_exception(api_request)
            else:
                headers, status, content = function(api, api_request, *args)
        except StatementTimeout as exc:
            return timeout_response(exc)
        except Exception as exc:
            if is_statement_timeout(exc):
                return timeout_response(StatementTimeout())
            log.exception("OGC API: unhandled error in %s", request.path)
            return _unavailable()
        return Response(content, status=int(status), headers=headers)


def _cql2_json_from_query(api_request: APIRequest) -> None:
    """``filter-lang=cql2-json`` with ``filter`` in the query: pygeoapi parses a query
    ``filter`` as CQL2 text whatever the language says, and CQL2 JSON only from a body, so
    the JSON moves to where it looks for it."""
    params = api_request.params
    if params.get("filter-lang") in _CQL2_JSON and params.get("filter") is not None:
        moved = MultiDict(params)
        body = moved.pop("filter")
        api_request._args = moved  # APIRequest has no setter
        api_request._data = body.encode("utf-8")


def _unavailable() -> Response:
    """503 in the OGC exception shape, for a failure pygeoapi did not turn into one."""
    description = "the hub could not answer this request; retry later"
    body = {"code": "NoApplicableCode", "type": "NoApplicableCode", "description": description}
    return Response(faithful_json(body), status=503, mimetype="application/json")


# --- store registration for the app's lifetime ----------------------------------------------

_live_lock = threading.Lock()
_live: dict[str, int] = {}


def _retain(app: App, key: str, store: Store) -> None:
    """Keep ``key`` registered while ``app`` lives (apps may share a store, hence a count)."""
    with _live_lock:
        _live[key] = _live.get(key, 0) + 1
        registry.register(store)  # again: an earlier app's release may have dropped it
    weakref.finalize(app, _release, key)


def _release(key: str) -> None:
    with _live_lock:
        count = _live.get(key, 0) - 1
        if count > 0:
            _live[key] = count
            return
        _live.pop(key, None)
        registry.unregister(key)


# --- the blueprint -----------------------------------------------------------------------------


def create_oapi_blueprint(
    store: Store,
    config: HubConfig | None,
    *,
    collections: Sequence[settings.CollectionSpec] | None = None,
) -> Blueprint:
    """``/oapi`` for an app over ``store``; ``collections`` replaces the hub's
    (:data:`hub.ogcapi.settings.COLLECTIONS`, read when the blueprint is made)."""
    state = OapiState(store, config, settings.COLLECTIONS if collections is None else collections)
    blueprint = Blueprint(
        "oapi",
        __name__,
        url_prefix=PREFIX,
        static_folder=str(STATIC_FOLDER),
        static_url_path="/static",
    )

    def on_register(setup: BlueprintSetupState) -> None:
        _retain(setup.app, state.store_key, store)

    blueprint.record(on_register)
    run = state.execute

    def landing_page() -> Response:
        return run(core_api.landing_page, gate=params_gate.LANDING)

    def openapi() -> Response:
        return run(core_api.openapi_, gate=params_gate.OPENAPI, with_openapi=True)

    def conformance() -> Response:
        return run(core_api.conformance, gate=params_gate.CONFORMANCE)

    def collections_() -> Response:
        return run(core_api.describe_collections, None, gate=params_gate.COLLECTIONS)

    def collection(collection_id: str) -> Response:
        return run(
            core_api.describe_collections,
            collection_id,
            gate=params_gate.COLLECTION,
            collection_id=collection_id,
        )

    def schema(collection_id: str) -> Response:
        return run(
            core_api.get_collection_schema,
            collection_id,
            gate=params_gate.SCHEMA,
            collection_id=collection_id,
        )

    def queryables(collection_id: str) -> Response:
        return run(
            itemtypes_api.get_collection_queryables,
            collection_id,
            gate=params_gate.QUERYABLES,
            collection_id=collection_id,
        )

    def items(collection_id: str) -> Response:
        if request.method == "POST" and request.mimetype == "application/geo+json":
            return json_error(405, "the hub's OGC API collections are read-only")
        return run(
            itemtypes_api.get_collection_items,
            collection_id,
            gate=params_gate.ITEMS,
            collection_id=collection_id,
            skip_valid_check=True,
        )

    def item(collection_id: str, item_id: str) -> Response:
        return run(
            itemtypes_api.get_collection_item,
            collection_id,
            item_id,
            gate=params_gate.ITEM,
            collection_id=collection_id,
        )

    def edr_query(collection_id: str, query_type: str) -> Response:
        return run(
            edr_api.get_collection_edr_query,
            collection_id,
            None,
            query_type,
            None,
            gate=params_gate.EDR_QUERIES[query_type],
            collection_id=collection_id,
            skip_valid_check=True,
        )

    def edr_locations(collection_id: str, location_id: str | None = None) -> Response:
        return run(
            edr_api.get_collection_edr_query,
            collection_id,
            None,
            "locations",
            location_id,
            gate=params_gate.LOCATIONS if location_id is None else params_gate.LOCATION,
            collection_id=collection_id,
            skip_valid_check=True,
        )

    rules: list[tuple[str, str, Callable[..., Response], list[str]]] = [
        ("", "landing_page", landing_page, ["GET"]),
        ("/", "landing_page_slash", landing_page, ["GET"]),
        ("/openapi", "openapi", openapi, ["GET"]),
        ("/conformance", "conformance", conformance, ["GET"]),
        ("/collections", "collections", collections_, ["GET"]),
        ("/collections/<collection_id>", "collection", collection, ["GET"]),
        ("/collections/<collection_id>/schema", "schema", schema, ["GET"]),
        ("/collections/<collection_id>/queryables", "queryables", queryables, ["GET"]),
        ("/collections/<collection_id>/items", "items", items, ["GET", "POST"]),
        ("/collections/<collection_id>/items/<item_id>", "item", item, ["GET"]),
        (
            "/collections/<collection_id>/<any(" + _EDR_QUERIES + "):query_type>",
            "edr_query",
            edr_query,
            ["GET"],
        ),
        ("/collections/<collection_id>/locations", "edr_locations", edr_locations, ["GET"]),
        (
            "/collections/<collection_id>/locations/<location_id>",
            "edr_location",
            edr_locations,
            ["GET"],
        ),
    ]
    for rule, endpoint, view, methods in rules:
        blueprint.add_url_rule(rule, endpoint, view, methods=methods)
    return blueprint
