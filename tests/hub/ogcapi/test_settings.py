"""hub.ogcapi.settings: the pygeoapi configuration built from the hub's configuration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pygeoapi import l10n
from pygeoapi.api import validate_datetime
from pygeoapi.config import validate_config

from hub.config import ConfigError, HubConfig, load_config
from hub.ogcapi import registry, settings
from hub.store import Store
from tests.hub.ogcapi.conftest import (
    PLACEHOLDER,
    PLACEHOLDER_COLLECTIONS,
    PlaceholderStationsProvider,
)
from tests.hub.sta.conftest import station_record

BASE = "https://data.example.kz/oapi"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    store.import_stations(
        [
            station_record("air-one", "air", "Air One", lat=51.10, lon=71.40),
            station_record("air-two", "air", "Air Two", lat=51.20, lon=71.50),
        ]
    )
    key = registry.register(store)
    try:
        yield store
    finally:
        registry.unregister(key)
        store.close()


def _config(**overrides: Any) -> HubConfig:
    return load_config(None, overrides)


def test_server_section_from_the_hub_configuration() -> None:
    server = settings.server_settings(_config(**{"ogcapi.max_items": 500}), BASE)
    assert server["url"] == BASE
    assert server["languages"] == ["en", "ru", "kk"]
    assert server["limits"] == {"default_items": 100, "max_items": 500, "on_exceed": "throttle"}
    # pygeoapi accepts every configured language (the first is the default).
    locales = l10n.get_locales({"server": server})
    assert [locale.language for locale in locales] == ["en", "ru", "kk"]


def test_default_page_sizes_and_licence() -> None:
    config = settings.build_settings(None, BASE, {})
    assert config["server"]["limits"]["default_items"] == 100
    assert config["server"]["limits"]["max_items"] == 10000
    licence = config["metadata"]["license"]
    assert licence == {"name": "CC-BY-4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
    contact = config["metadata"]["contact"]
    assert contact["city"] == "Astana" and contact["country"] == "Kazakhstan"
    assert "email" not in contact and "url" not in contact
    title = config["metadata"]["identification"]["title"]
    assert set(title) == {"en", "ru", "kk"} and "Astana" in title["en"]


def test_licence_and_contact_from_the_configuration() -> None:
    config = _config(
        **{
            "ogcapi.licence_name": "ODbL-1.0",
            "ogcapi.licence_url": "https://opendatacommons.org/licenses/odbl/1-0/",
            "ogcapi.contact_name": "Astana Ecology Office",
            "ogcapi.contact_email": "data@example.kz",
            "ogcapi.contact_url": "https://example.kz/contact",
        }
    )
    metadata = settings.metadata(config, BASE)
    assert metadata["license"]["name"] == "ODbL-1.0"
    assert metadata["contact"]["name"] == "Astana Ecology Office"
    assert metadata["contact"]["email"] == "data@example.kz"
    assert metadata["provider"] == {
        "name": "Astana Ecology Office",
        "url": "https://example.kz/contact",
    }


def test_bad_page_sizes_and_public_urls_are_refused() -> None:
    with pytest.raises(ConfigError, match="default_items"):
        _config(**{"ogcapi.default_items": 200, "ogcapi.max_items": 100})
    for bad in ("ftp://example.kz", "https://example.kz/?q=1", "example.kz", "https://a b"):
        with pytest.raises(ConfigError, match="public_url"):
            _config(**{"http.public_url": bad})
    assert _config(**{"http.public_url": "https://example.kz/hub/"}).http.public_url == (
        "https://example.kz/hub"
    )


def test_public_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUASU_PUBLIC_URL", "https://data.example.kz")
    assert load_config(None).http.public_url == "https://data.example.kz"


def test_resources_from_the_provider_classes(store: Store) -> None:
    key = registry.register(store)
    found = settings.resources(store, key, PLACEHOLDER_COLLECTIONS)
    assert found.complete
    (stations,) = found.collections.values()
    assert stations["type"] == "collection"
    assert stations["title"]["ru"] == "Станции"
    assert stations["providers"] == [PlaceholderStationsProvider.provider_config(key)]
    assert stations["providers"][0]["data"] == key
    # The extent is the stations' own bounding box, in CRS84.
    assert stations["extents"]["spatial"]["bbox"] == [71.40, 51.10, 71.50, 51.20]
    assert stations["extents"]["spatial"]["crs"].endswith("CRS84")


def test_whole_configuration_is_valid_for_pygeoapi(store: Store) -> None:
    key = registry.register(store)
    collections = settings.resources(store, key, PLACEHOLDER_COLLECTIONS).collections
    assert validate_config(settings.build_settings(_config(), BASE, collections))
    assert validate_config(settings.build_settings(None, BASE, collections))


def test_the_hubs_collections_are_valid_for_pygeoapi(store: Store) -> None:
    """Whatever providers exist now, the configuration they give is one pygeoapi accepts."""
    key = registry.register(store)
    collections = settings.resources(store, key).collections
    assert validate_config(settings.build_settings(None, BASE, collections))
    assert set(collections) <= {spec.id for spec in settings.COLLECTIONS}


def test_missing_provider_classes_are_skipped_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    key = registry.register(store)
    specs = (
        settings.CollectionSpec("gone", ("hub.ogcapi.providers.nowhere.Nothing",)),
        settings.CollectionSpec("half", (PLACEHOLDER, "tests.hub.ogcapi.conftest.NoSuchClass")),
        settings.CollectionSpec("plain", ("builtins.object",)),
    )
    with caplog.at_level(logging.WARNING, logger="hub.ogcapi.settings"):
        found = settings.resources(store, key, specs)
    assert list(found.collections) == ["half"]
    assert [p["name"] for p in found.collections["half"]["providers"]] == [PLACEHOLDER]
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "nowhere.Nothing" in warned and "NoSuchClass" in warned and "builtins.object" in warned


class _Failing(PlaceholderStationsProvider):
    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]:
        raise RuntimeError("store down")


def test_a_provider_that_cannot_describe_its_collection_leaves_it_listed(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    key = registry.register(store)
    spec = settings.CollectionSpec("stations", (f"{__name__}._Failing",))
    with caplog.at_level(logging.WARNING, logger="hub.ogcapi.settings"):
        found = settings.resources(store, key, (spec,))
    assert not found.complete
    stations = found.collections["stations"]
    assert stations["title"] == "stations"
    assert stations["extents"]["spatial"]["bbox"] == settings.WORLD_BBOX
    assert "no metadata" in caplog.text


def test_temporal_extent_is_shown_but_not_enforced() -> None:
    begin = datetime(2025, 1, 1, tzinfo=UTC)
    resource = settings.collection_resource(
        "observations",
        {"extents": {"temporal": {"interval": [begin, None]}}},
        [PlaceholderStationsProvider],
        "key",
    )
    extents = resource["extents"]
    assert extents.get("temporal") == {"begin": begin, "end": None}
    assert extents["temporal"]["begin"] == begin
    # pygeoapi's validator would answer 400 "out of range" for a datetime before the data:
    # the standard wants an empty result instead, which the provider gives.
    assert validate_datetime(extents, "1990-01-01T00:00:00Z") == "1990-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="out of range"):
        validate_datetime(dict(extents), "1990-01-01T00:00:00Z")


def test_enclosure_links_are_not_passed_on() -> None:
    links = [
        {"type": "text/html", "rel": "enclosure", "title": "x", "href": "https://example.org/big"},
        {"type": "text/html", "rel": "license", "title": "CC", "href": "https://example.org/l"},
    ]
    resource = settings.collection_resource(
        "stations", {"links": links}, [PlaceholderStationsProvider], "key"
    )
    assert [link["rel"] for link in resource["links"]] == ["license"]
