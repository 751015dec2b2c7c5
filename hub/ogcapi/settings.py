"""The pygeoapi configuration behind ``/oapi``, built from the hub's own configuration.

pygeoapi reads a YAML file normally; the hub builds the same structure as a dict so that a new
deployment needs no hand-edited YAML. Three parts:

* ``server``: the public URL of ``/oapi`` (every link pygeoapi writes starts with it), the
  languages (English first, the default; Russian, Kazakh), page sizes from ``[ogcapi]``;
* ``metadata``: AuaSu, Astana, the licence (CC-BY-4.0 unless ``[ogcapi]`` says otherwise) and
  the contact of ``[ogcapi]`` when one is configured;
* ``resources``: one collection per :data:`COLLECTIONS` entry, its providers' entries from their
  ``provider_config(store_key)`` classmethod and its title, keywords and extents from the first
  provider's ``collection_metadata(store)``. A provider class that cannot be imported is skipped
  with a warning (the collection too when none of its classes can), so that the rest of
  ``/oapi`` works while a provider is missing.

``limits.on_exceed`` is ``throttle``: OGC API - Features Part 1 (/req/core/fc-limit-response-1)
says a ``limit`` above the maximum is not an error but is served as the maximum.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from hub.config import HubConfig, OgcApiSettings
from hub.ogcapi import csvformat
from hub.store import Store

log = logging.getLogger(__name__)

PREFIX = "/oapi"
LANGUAGES = ("en", "ru", "kk")
# The extent shown when a collection's provider could not say (its store was unreachable).
WORLD_BBOX = [-180.0, -90.0, 180.0, 90.0]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """One collection of ``/oapi``: its id and its providers' classes (dotted names); the first
    class that imports gives the collection's metadata."""

    id: str
    providers: tuple[str, ...]


# EDR rides on ``stations`` (its locations are the stations), so one collection answers both
# ``/items`` (Features) and ``/position``, ``/radius``, ``/area``, ``/locations`` (EDR).
COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec(
        "stations",
        (
            "hub.ogcapi.providers.stations.StationsProvider",
            "hub.ogcapi.edr.StationSeriesEDRProvider",
        ),
    ),
    CollectionSpec("observations", ("hub.ogcapi.providers.observations.ObservationsProvider",)),
    CollectionSpec("latest", ("hub.ogcapi.providers.latest.LatestProvider",)),
)


class HubProvider(Protocol):
    """What a provider class offers the settings (helpers' providers implement it)."""

    @classmethod
    def provider_config(cls, store_key: str) -> dict[str, Any]: ...

    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]: ...


class DisplayedExtents(dict[str, Any]):
    """A collection's ``extents`` whose temporal part is shown but not enforced.

    pygeoapi answers 400 "datetime parameter out of range" to a ``datetime`` outside the
    configured temporal extent (``pygeoapi.api.validate_datetime`` asks ``'temporal' in
    extents``). OGC API - Features wants such a query answered with no features, and the hub's
    extents move as data arrive, so the membership test says no while ``get``/``[]`` (what
    ``/collections/{id}`` reads) still give the interval; the providers parse ``datetime``.
    """

    def __contains__(self, key: object) -> bool:
        return key != "temporal" and super().__contains__(key)


def load_provider_class(dotted: str) -> type[HubProvider] | None:
    """The class at ``dotted`` (``package.module.Class``); None, logged, when it is missing."""
    module_name, _, class_name = dotted.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        log.warning("OGC API provider %s is not available (%s); skipped", dotted, exc)
        return None
    if not (hasattr(found, "provider_config") and hasattr(found, "collection_metadata")):
        log.warning("OGC API provider %s lacks provider_config/collection_metadata", dotted)
        return None
    return cast(type[HubProvider], found)


def _ogcapi(config: HubConfig | None) -> OgcApiSettings:
    return config.ogcapi if config is not None else OgcApiSettings()


def server_settings(config: HubConfig | None, base_url: str) -> dict[str, Any]:
    """pygeoapi's ``server`` section for ``/oapi`` at ``base_url`` (absolute, ending ``/oapi``)."""
    ogc = _ogcapi(config)
    http = config.http if config is not None else None
    return {
        # Informational only: the hub's own listener serves /oapi.
        "bind": {"host": http.host if http else "127.0.0.1", "port": http.port if http else 8080},
        "url": base_url,
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "gzip": False,
        "languages": list(LANGUAGES),
        "pretty_print": False,
        "admin": False,
        "limits": {
            "default_items": ogc.default_items,
            "max_items": ogc.max_items,
            "on_exceed": "throttle",
        },
        "map": {
            "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "attribution": (
                '&copy; <a href="https://openstreetmap.org/copyright">'
                "OpenStreetMap contributors</a>"
            ),
        },
    }


def metadata(config: HubConfig | None, base_url: str) -> dict[str, Any]:
    """pygeoapi's ``metadata`` section: who publishes the data, under which licence."""
    ogc = _ogcapi(config)
    contact: dict[str, Any] = {
        "name": ogc.contact_name or "AuaSu",
        "city": "Astana",
        "country": "Kazakhstan",
    }
    if ogc.contact_email:
        contact["email"] = ogc.contact_email
    if ogc.contact_url:
        contact["url"] = ogc.contact_url
    about = f"{base_url}?f=html"
    return {
        "identification": {
            "title": {
                "en": "AuaSu: air and water quality in Astana",
                "ru": "AuaSu: качество воздуха и воды в Астане",
                "kk": "AuaSu: Астанадағы ауа мен су сапасы",  # noqa: RUF001
            },
            "description": {
                "en": (
                    "Open data of the air and water quality monitoring stations in Astana: "
                    "stations, observations and latest values (OGC API - Features) and "
                    "station time series (OGC API - EDR)."
                ),
                "ru": (
                    "Открытые данные станций мониторинга качества воздуха и воды в Астане: "
                    "станции, наблюдения и последние значения (OGC API - Features) и "
                    "временные ряды станций (OGC API - EDR)."
                ),
                "kk": (
                    "Астанадағы ауа мен су сапасын "  # noqa: RUF001
                    "бақылау станцияларының ашық деректері: "
                    "станциялар, бақылаулар және соңғы мәндер (OGC API - Features), "
                    "станциялардың уақыттық қатарлары (OGC API - EDR)."
                ),
            },
            "keywords": {
                "en": ["air quality", "water quality", "monitoring", "Astana", "Kazakhstan"],
                "ru": ["качество воздуха", "качество воды", "мониторинг", "Астана", "Казахстан"],
                "kk": ["ауа сапасы", "су сапасы", "мониторинг", "Астана", "Қазақстан"],  # noqa: RUF001
            },
            "keywords_type": "theme",
            "terms_of_service": ogc.licence_url,
            "url": about,
        },
        "license": {"name": ogc.licence_name, "url": ogc.licence_url},
        "provider": {"name": ogc.contact_name or "AuaSu", "url": ogc.contact_url or about},
        "contact": contact,
    }


@dataclass(frozen=True, slots=True)
class Resources:
    """The ``resources`` section, and whether every provider could describe its collection
    (when one could not, the caller asks again sooner)."""

    collections: dict[str, Any]
    complete: bool


def resources(
    store: Store, store_key: str, collections: Sequence[CollectionSpec] = COLLECTIONS
) -> Resources:
    """pygeoapi's ``resources``: each collection with its providers and current extents."""
    found: dict[str, Any] = {}
    complete = True
    for spec in collections:
        classes = [c for c in map(load_provider_class, spec.providers) if c is not None]
        if not classes:
            continue
        try:
            described = classes[0].collection_metadata(store)
        except Exception:
            # The store may be down at this moment; the collection stays listed.
            log.warning("OGC API collection %s: no metadata from its provider", spec.id,
                        exc_info=True)  # fmt: skip
            described, complete = {}, False
        found[spec.id] = collection_resource(spec.id, described, classes, store_key)
    return Resources(found, complete)


def collection_resource(
    collection_id: str,
    described: Mapping[str, Any],
    classes: Sequence[type[HubProvider]],
    store_key: str,
) -> dict[str, Any]:
    """One ``resources`` entry from a provider's ``collection_metadata`` and provider classes."""
    extents = dict(described.get("extents") or {})
    spatial = dict(extents.get("spatial") or {})
    if not spatial.get("bbox"):
        spatial["bbox"] = list(WORLD_BBOX)
    spatial.setdefault("crs", CRS84)
    extents["spatial"] = spatial
    temporal = extents.get("temporal")
    if isinstance(temporal, Mapping) and "interval" in temporal and "begin" not in temporal:
        begin, end = temporal["interval"]
        extents["temporal"] = {"begin": begin, "end": end}
    entry: dict[str, Any] = {
        "type": "collection",
        "title": described.get("title") or collection_id,
        "description": described.get("description") or collection_id,
        "keywords": list(described.get("keywords") or []),
        "extents": DisplayedExtents(extents),
        "providers": [cls.provider_config(store_key) for cls in classes],
        # f=csv through the hub's writer (nested values as JSON, coordinates as columns).
        "formatters": [csvformat.formatter_config()],
    }
    # Enclosure links make pygeoapi send HEAD requests out of the hub: not passed on.
    links = [link for link in described.get("links") or [] if link.get("rel") != "enclosure"]
    if links:
        entry["links"] = links
    for key in ("limits", "linked-data"):
        if key in described:
            entry[key] = described[key]
    return entry


def build_settings(
    config: HubConfig | None,
    base_url: str,
    collections: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole pygeoapi configuration for ``/oapi`` at ``base_url`` over ``collections``
    (a :func:`resources` result)."""
    return {
        "server": server_settings(config, base_url),
        # pygeoapi's own logging set-up is switched off (hub.ogcapi.embed); the level is
        # required by its API object all the same.
        "logging": {"level": "WARNING"},
        "metadata": metadata(config, base_url),
        "resources": dict(collections),
    }
