"""A SensorThings app with a running ingest pipeline over a fresh store (both backends), and a
client that writes with a bearer token of an admin user.

Every test gets an empty, migrated store. On PostgreSQL that store is a copy of a template
database migrated once per test session (``CREATE DATABASE … TEMPLATE``): creating PostGIS and
migrating for each of the many write tests would dominate their run time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from werkzeug.test import TestResponse

from hub.ingest.pipeline import IngestPipeline
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.store import Store
from hub.store.users import add_user, issue_token
from hub.web import create_app
from tests.conftest import PG_ADMIN_URL, _pg_reachable, require

ROOT = "http://localhost/v1.1"


@dataclass
class Rig:
    """The app, its store and pipeline, and helpers that check status codes."""

    store: Store
    pipeline: IngestPipeline | None
    client: FlaskClient
    auth: dict[str, str]
    metrics: HubMetrics

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int | None = None,
        content_type: str = "application/json",
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        kwargs: dict[str, Any] = {"headers": {**self.auth, **(headers or {})}}
        if data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = content_type
        elif body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = content_type
        response = self.client.open("/v1.1/" + path, method=method, **kwargs)
        if status is not None:
            assert response.status_code == status, (
                method,
                path,
                response.status_code,
                response.get_data(as_text=True)[:800],
            )
        if response.status_code >= 400:
            error = response.get_json()
            assert error["code"] == response.status_code
            assert "\n" not in error["message"]
        return response

    def create(self, path: str, body: Any) -> int:
        """POST and return the new id, read from the Location header as clients do."""
        response = self.send("POST", path, body, status=201)
        location = response.headers["Location"]
        assert location.startswith(ROOT + "/")
        return int(location[location.rindex("(") + 1 : location.rindex(")")])

    def get(self, path: str, status: int = 200) -> Any:
        response = self.client.get("/v1.1/" + path)
        assert response.status_code == status, (path, response.get_data(as_text=True)[:500])
        return response.get_json()

    def count(self, table: Any) -> int:
        with self.store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def make_rig(store_url: str, *, with_pipeline: bool) -> tuple[Rig, IngestPipeline | None]:
    store = Store.open(store_url)
    metrics = HubMetrics()
    pipeline = None
    if with_pipeline:
        pipeline = IngestPipeline(store, MappingSet.load(), {}, metrics=metrics)
        pipeline.start()
    add_user(store, "writer", "admin", "correct horse battery")
    token = issue_token(store, "writer")
    app = create_app(store, metrics, lambda: True, pipeline=pipeline)
    app.testing = True
    rig = Rig(store, pipeline, app.test_client(), {"Authorization": f"Bearer {token}"}, metrics)
    return rig, pipeline


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated, empty PostgreSQL database to copy (its name)."""
    problem = _pg_reachable()
    require(problem is None, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    name = f"auasu_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + name))
    Store.open(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name).close()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def write_store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both backends, each test on an empty migrated store."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("sqlite_url"))
        return
    template = request.getfixturevalue("pg_template")
    name = f"auasu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + name + " TEMPLATE " + template))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def rig(write_store_url: str) -> Iterator[Rig]:
    """Writes of observations go through a running pipeline, as in the hub."""
    made, pipeline = make_rig(write_store_url, with_pipeline=True)
    try:
        yield made
    finally:
        if pipeline is not None:
            pipeline.stop()
        made.store.close()


@pytest.fixture
def direct_rig(write_store_url: str) -> Iterator[Rig]:
    """No pipeline (a read-only rig's app): writes go to the store directly."""
    made, _pipeline = make_rig(write_store_url, with_pipeline=False)
    try:
        yield made
    finally:
        made.store.close()


THING = {"name": "Weather station", "description": "On the roof", "properties": {"floor": 9}}
LOCATION = {
    "name": "Roof",
    "description": "The roof of building 7",
    "encodingType": "application/geo+json",
    "location": {"type": "Point", "coordinates": [71.42, 51.17]},
}
SENSOR = {
    "name": "TMP36",
    "description": "Analog temperature sensor",
    "encodingType": "application/pdf",
    "metadata": "https://example.org/tmp36.pdf",
}
OBSERVED_PROPERTY = {
    "name": "Air temperature",
    "definition": "http://vocab.nerc.ac.uk/collection/P07/current/CFSN0023/",
    "description": "Temperature of the air",
}
UNIT = {
    "name": "degree Celsius",
    "symbol": "degC",
    "definition": "http://qudt.org/vocab/unit/DEG_C",
}
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def datastream(**links: Any) -> dict[str, Any]:
    return {
        "name": "Roof temperature",
        "description": "Air temperature on the roof",
        "unitOfMeasurement": UNIT,
        "observationType": MEASUREMENT,
        **links,
    }
