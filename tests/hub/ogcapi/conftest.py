"""Shared fixtures of the OGC API (``/oapi``) tests.

``oapi_world`` (module scope, once per store: SQLite and PostgreSQL): the three-station network
of :mod:`tests.hub.sta.readworld` (air-one with PM2.5 and PM10, air-two with PM2.5, river-three
with pH; hourly observations from ``T0``) behind the hub's whole app, with a Flask test client
(:meth:`OapiWorld.get`). Read-only: a test that writes builds its own store.

``oapi_live`` (module scope): the same app served over HTTP on a loopback port, for OWSLib and
other real clients; its value is the URL of ``/oapi`` (no trailing slash).

``build_oapi_world(url, ...)`` and ``live_server(app)`` make the same things for a test's own
store. :class:`PlaceholderStationsProvider` is a minimal stations provider over the ``stations``
table, so that the embedding tests do not depend on the real providers.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pygeoapi.provider.base import BaseProvider, ProviderItemNotFoundError
from sqlalchemy import create_engine, func, select, text
from werkzeug.serving import make_server

from hub.config import HubConfig
from hub.metrics import HubMetrics
from hub.ogcapi import registry
from hub.ogcapi.settings import CollectionSpec
from hub.store import Store
from hub.store.schema import stations
from hub.web import create_app
from tests.conftest import PG_ADMIN_URL, _pg_reachable, require
from tests.hub.sta.readworld import HOST, T0, build_world

__all__ = ["HOST", "T0"]

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PLACEHOLDER = f"{__name__}.PlaceholderStationsProvider"
PLACEHOLDER_COLLECTIONS = (CollectionSpec("stations", (PLACEHOLDER,)),)


@dataclass
class OapiWorld:
    """A store with stations and observations, the hub's app over it, and a test client."""

    store: Store
    app: Flask
    client: FlaskClient
    ids: dict[str, int]
    backend: str

    def get(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        """GET ``path`` (absolute ``http://localhost`` links too), check ``status``; the body
        as JSON when it is JSON, else as text."""
        response = self.client.get(path.removeprefix(HOST), **kwargs)
        assert response.status_code == status, (
            path,
            response.status_code,
            response.get_data(as_text=True)[:800],
        )
        if response.is_json:
            return json.loads(response.get_data(as_text=True))
        return response.get_data(as_text=True)


def build_oapi_world(
    url: str,
    *,
    config: HubConfig | None = None,
    collections: Sequence[CollectionSpec] | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> OapiWorld:
    """The three-station network at ``url`` and an app over it; ``collections`` (with
    ``monkeypatch``) replaces the hub's collections for that app."""
    world = build_world(url)
    if collections is not None:
        assert monkeypatch is not None, "replacing the collections needs monkeypatch"
        monkeypatch.setattr("hub.ogcapi.settings.COLLECTIONS", tuple(collections))
    app = create_app(world.store, HubMetrics(), lambda: True, config=config)
    app.testing = True
    return OapiWorld(world.store, app, app.test_client(), world.ids, world.store.backend)


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """``app`` on a free loopback port (threaded Werkzeug); the server's root URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oapi-live", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database (its URL), dropped afterwards."""
    problem = _pg_reachable()
    require(problem is None, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    name = f"auasu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + quoted))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)"))
        admin.dispose()


@contextmanager
def module_store_url(backend: str, directory: Path) -> Iterator[str]:
    """A store URL for a module-scoped fixture: SQLite in ``directory`` or a scratch database."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'auasu.sqlite3'}"
    else:
        with scratch_database() as url:
            yield url


@pytest.fixture(scope="module", params=STORES)
def oapi_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OapiWorld]:
    """The three-station network behind the hub's app, on each store (read-only)."""
    with module_store_url(request.param, tmp_path_factory.mktemp("oapi")) as url:
        world = build_oapi_world(url)
        try:
            yield world
        finally:
            world.store.close()


@pytest.fixture(scope="module")
def oapi_live(oapi_world: OapiWorld) -> Iterator[str]:
    """``oapi_world``'s app over HTTP: the URL of its ``/oapi``."""
    with live_server(oapi_world.app) as root:
        yield root + "/oapi"


class PlaceholderStationsProvider(BaseProvider):  # type: ignore[misc]
    """Stations as point features straight from the ``stations`` table (English name, kind),
    enough for the embedding tests: paging, one item, unknown ids. Filters are not applied;
    the last ``filterq`` it was given is kept in :attr:`last_filter` for the tests to see."""

    last_filter: Any = None

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.store = registry.store_for(self.data)
        self._fields = self.get_fields()

    @classmethod
    def provider_config(cls, store_key: str) -> dict[str, Any]:
        return {
            "type": "feature",
            "name": PLACEHOLDER,
            "data": store_key,
            "id_field": "id",
            "title_field": "name",
        }

    @classmethod
    def collection_metadata(cls, store: Store) -> dict[str, Any]:
        with store.connect() as conn:
            box = conn.execute(
                select(
                    func.min(stations.c.lon),
                    func.min(stations.c.lat),
                    func.max(stations.c.lon),
                    func.max(stations.c.lat),
                )
            ).one()
        return {
            "title": {"en": "Stations", "ru": "Станции", "kk": "Станциялар"},
            "description": "Monitoring stations (placeholder provider of the tests)",
            "keywords": ["stations"],
            "extents": {"spatial": {"bbox": list(box) if box[0] is not None else None}},
        }

    def get_fields(self) -> dict[str, Any]:
        return {"name": {"type": "string"}, "kind": {"type": "string"}}

    def _feature(self, row: Any) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": row.key,
            "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
            "properties": {"name": row.name.get("en"), "kind": row.kind},
        }

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        filterq: Any = None,
        **_: Any,
    ) -> dict[str, Any]:
        type(self).last_filter = filterq
        with self.store.connect() as conn:
            total = conn.execute(select(func.count()).select_from(stations)).scalar_one()
            rows = conn.execute(
                select(stations).order_by(stations.c.key).offset(offset).limit(limit)
            ).all()
        features = [] if resulttype == "hits" else [self._feature(row) for row in rows]
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": total,
            "numberReturned": len(features),
        }

    def get(self, identifier: str, **_: Any) -> dict[str, Any]:
        with self.store.connect() as conn:
            row = conn.execute(select(stations).where(stations.c.key == identifier)).first()
        if row is None:
            raise ProviderItemNotFoundError(f"no station {identifier}")
        return self._feature(row)
