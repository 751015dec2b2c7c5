"""Which query parameters each ``/oapi`` route takes; any other answers 400.

pygeoapi reads the query parameters it knows for a route and silently ignores the rest, so a
misspelt ``bbox``, a ``limit`` on a query that is not paged or OWSLib's ``parameter_names``
(for ``parameter-name``) would get an answer that looks right and is not. The hub's rule is
that a parameter it cannot honour answers 400, so :mod:`hub.ogcapi.embed` asks
:func:`refusal` before handing a request to pygeoapi. Each :class:`Route` lists the names its
handler and the collections' providers honour:

* Features ``items``: pygeoapi's parameters and the collection's queryable properties as
  equality filters (the names ``/queryables`` lists: :func:`queryable_names`); ``q`` is not
  there, the hub's collections have no free-text search;
* one item: ``f``, ``lang``, ``crs``; the descriptive pages (landing page, conformance,
  collections, schema): ``f``, ``lang``; queryables also ``properties`` (the fields to list);
  the OpenAPI document also ``ui`` (Swagger UI or ReDoc);
* EDR queries: what OGC API - EDR defines for each query type and
  :mod:`hub.ogcapi.edr` answers (``z`` and ``crs`` are taken here and refused by value there).
  ``limit`` is not one: the queries are not paged. pygeoapi hands the EDR provider a default
  ``limit`` whatever the client sent, which is why the gate reads the client's query string.

A parameter given twice is refused too: pygeoapi would use the first and drop the other.
``lang`` is taken everywhere: pygeoapi answers in that language (``Content-Language``, HTML
titles) on every route. Messages name the parameter when its name is a plain one (letters,
digits, ``_.:$[]-``, up to 64 characters); nothing else a client sent is repeated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pygeoapi.plugin import load_plugin
from pygeoapi.provider import get_provider_by_type
from werkzeug.datastructures import MultiDict

log = logging.getLogger(__name__)

_PLAIN_NAME: Final = re.compile(r"[\w.:$\[\]-]{1,64}", re.ASCII)
_COMMON: Final = frozenset({"f", "lang"})


@dataclass(frozen=True, slots=True)
class Route:
    """One kind of ``/oapi`` resource and the query parameters it honours.

    ``queryables``: the collection's queryable properties are parameters too (equality
    filters); ``refused`` gives the reason shown for a name a client may well expect here."""

    path: str
    takes: frozenset[str]
    queryables: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)


def _route(path: str, *names: str, **kwargs: Any) -> Route:
    return Route(path, _COMMON | frozenset(names), **kwargs)


_NO_Q = {"q": "q: the hub's collections have no free-text search; use filter (CQL2)"}

LANDING: Final = _route("/oapi")
OPENAPI: Final = _route("/oapi/openapi", "ui")
CONFORMANCE: Final = _route("/oapi/conformance")
COLLECTIONS: Final = _route("/oapi/collections")
COLLECTION: Final = _route("/oapi/collections/{collectionId}")
SCHEMA: Final = _route("/oapi/collections/{collectionId}/schema")
QUERYABLES: Final = _route("/oapi/collections/{collectionId}/queryables", "properties")
ITEMS: Final = _route(
    "/oapi/collections/{collectionId}/items",
    "bbox",
    "bbox-crs",
    "datetime",
    "limit",
    "offset",
    "properties",
    "sortby",
    "skipGeometry",
    "resulttype",
    "crs",
    "filter",
    "filter-lang",
    "filter-crs",
    queryables=True,
    refused=_NO_Q,
)
ITEM: Final = _route("/oapi/collections/{collectionId}/items/{featureId}", "crs")

_EDR_COMMON: Final = ("parameter-name", "datetime", "crs", "z")


def _edr(query_type: str, *names: str) -> Route:
    return _route(
        "/oapi/collections/{collectionId}/" + query_type,
        *names,
        *_EDR_COMMON,
        refused={"limit": "limit: EDR queries are not paged; every matching station is answered"},
    )


EDR_QUERIES: Final[Mapping[str, Route]] = {
    "position": _edr("position", "coords"),
    "radius": _edr("radius", "coords", "within", "within-units"),
    "area": _edr("area", "coords"),
    # Not offered by the hub's EDR provider (pygeoapi answers 400 "Unsupported query type");
    # listed with their EDR parameters so that this is the answer a client gets.
    "cube": _edr("cube", "bbox"),
    "trajectory": _edr("trajectory", "coords"),
    "corridor": _edr(
        "corridor", "coords", "corridor-width", "width-units", "corridor-height", "height-units"
    ),
}
LOCATIONS: Final = _route(
    "/oapi/collections/{collectionId}/locations",
    "bbox",
    "datetime",
    "parameter-name",
    refused={
        "limit": "limit: the locations list is not paged; it holds every matching station",
        "coords": "coords: the locations list is filtered with bbox",
    },
)
LOCATION: Final = _route(
    "/oapi/collections/{collectionId}/locations/{locId}",
    "parameter-name",
    "datetime",
    "crs",
    refused={
        "limit": "limit: a location's series is not paged",
        "bbox": "bbox: a location is already one station; bbox is for the locations list",
    },
)


def _shown(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return repr(name)
    return f"(a name of {len(name)} characters that is not a plain name)"


def _listing(route: Route) -> str:
    takes = ", ".join(sorted(route.takes, key=str.lower))
    if route.queryables:
        takes += ", and the collection's queryable properties as equality filters"
    return f"{route.path} takes {takes}"


def refusal(
    route: Route, args: MultiDict[str, str], queryables: Collection[str] = ()
) -> str | None:
    """Why a request to ``route`` with query ``args`` answers 400 (None: it does not).

    ``queryables`` are the collection's property names (for a route with ``queryables``)."""
    unknown: list[str] = []
    for name, values in args.lists():
        known = name in route.takes or (route.queryables and name in queryables)
        if not known:
            unknown.append(name)
        elif len(values) > 1:
            return (
                f"query parameter {_shown(name)} is given {len(values)} times; give it once "
                "(a parameter taking several values takes them comma-separated)"
            )
    if not unknown:
        return None
    for name in unknown:
        reason = route.refused.get(name)
        if reason is not None:
            return reason
    names = ", ".join(_shown(name) for name in unknown[:5])
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    noun = "parameter" if len(unknown) == 1 else "parameters"
    return f"unknown query {noun} {names}{more}: {_listing(route)}"


def queryable_names(resources: Mapping[str, Any], collection_id: str) -> frozenset[str] | None:
    """The property-equality parameters of collection ``collection_id``: its feature
    provider's fields that ``/queryables`` lists (all of them unless the provider names the
    queryable ones in ``properties``, as pygeoapi's queryables handler reads it).

    None when there is no such collection or its provider cannot be made; pygeoapi then
    answers (404, or the provider's error) without the gate."""
    resource = resources.get(collection_id)
    if not isinstance(resource, Mapping) or resource.get("type") != "collection":
        return None
    try:
        provider = load_plugin("provider", get_provider_by_type(resource["providers"], "feature"))
        fields: Iterable[str] = provider.fields
        listed = set(provider.properties or ())
    except Exception:
        # pygeoapi makes the same provider next and answers the failure its own way.
        log.debug("OGC API: no queryables for %s", collection_id, exc_info=True)
        return None
    return frozenset(name for name in fields if not listed or name in listed)
