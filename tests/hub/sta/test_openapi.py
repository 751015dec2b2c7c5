"""openapi/sta.yaml: current with the model, a valid OpenAPI document, and true of the live API.

The schemathesis run generates requests for every operation in the document against a hub over
a seeded store and checks that none answers 5xx and that every answer (status, content type,
headers, body) is one the document declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import schemathesis
import yaml
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from sqlalchemy import insert, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.sta import openapi
from hub.sta.entities import ENTITY_TYPES
from hub.store import Store
from hub.store.schema import (
    datastreams,
    multi_datastream_observed_properties,
    multi_datastreams,
    observations,
)
from hub.web import create_app
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 1, 15, 0, 0, tzinfo=UTC)
COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def test_committed_document_is_current() -> None:
    committed = openapi.DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == openapi.render(), "run: python -m hub.sta.openapi"


def test_document_covers_every_entity_set_and_navigation() -> None:
    paths = yaml.safe_load(openapi.render())["paths"]
    for entity in ENTITY_TYPES:
        assert f"/v1.1/{entity.set_name}" in paths
        for nav in entity.navigations:
            assert f"/v1.1/{entity.set_name}({{id}})/{nav.name}" in paths
        for spec in entity.properties:
            if spec.name != "id":
                assert f"/v1.1/{entity.set_name}({{id}})/{spec.name}/$value" in paths


def _seeded_app(path: Path) -> Flask:
    store = Store.open(f"sqlite:///{path}")
    store.import_stations([station_record("air-one", "air", "Air One")])
    mapping = MappingSet.load()
    pm25 = mapping.observed_property("pm2_5")
    assert pm25 is not None
    stream = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    rows = [
        observation_row(stream, T0 + timedelta(hours=i), 5.0 + i, unit="ug/m3") for i in range(5)
    ]
    store.write_batch([frame_record("a", "air-one", rows, T0)])
    _seed_multi_datastream(store)
    return create_app(store, HubMetrics(), lambda: True)


def _seed_multi_datastream(store: Store) -> None:
    """A MultiDatastream over the stream's Thing, Sensor and ObservedProperty (twice) with two
    array-valued Observations, so that the generated requests also reach those paths."""
    with store.engine.begin() as conn:
        stream = conn.execute(select(datastreams).limit(1)).mappings().one()
        seeded = conn.execute(select(observations).limit(1)).mappings().one()
        unit = stream["unit"]
        multi = conn.execute(
            insert(multi_datastreams)
            .values(
                thing_id=stream["thing_id"],
                sensor_id=stream["sensor_id"],
                name="PM2.5 twice",
                description="Two PM2.5 channels",
                observation_type=COMPLEX,
                unit_of_measurements=[unit, unit],
                multi_observation_data_types=[MEASUREMENT, MEASUREMENT],
                properties={},
            )
            .returning(multi_datastreams.c.id)
        ).scalar_one()
        conn.execute(
            insert(multi_datastream_observed_properties),
            [
                {"multi_datastream_id": multi, "position": position,
                 "observed_property_id": stream["observed_property_id"]}
                for position in (0, 1)
            ],
        )  # fmt: skip
        conn.execute(
            insert(observations),
            [
                {
                    "multi_datastream_id": multi,
                    "feature_of_interest_id": seeded["feature_of_interest_id"],
                    "phenomenon_time_start": T0 + timedelta(hours=i),
                    "phenomenon_time_end": T0 + timedelta(hours=i),
                    "result_json": [5.0 + i, 6.0 + i],
                    "parameters": {},
                    "frame_id": seeded["frame_id"],
                }
                for i in range(2)
            ],
        )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    yield _seeded_app(tmp_path_factory.mktemp("openapi") / "hub.sqlite3")


def test_the_seeded_multi_datastream_is_served(app: Flask) -> None:
    client = app.test_client()
    (multi,) = client.get("/v1.1/MultiDatastreams").get_json()["value"]
    assert len(multi["unitOfMeasurements"]) == 2
    observations_link = multi["Observations@iot.navigationLink"].removeprefix("http://localhost")
    assert [o["result"] for o in client.get(observations_link).get_json()["value"]] == [
        [5.0, 6.0],
        [6.0, 7.0],
    ]


def test_document_is_served(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/openapi/sta.json").get_json() == openapi.build_document()
    assert client.get("/openapi/sta.yaml").get_data(as_text=True) == openapi.render()


@pytest.mark.slow
def test_api_matches_document(app: Flask) -> None:
    # schemathesis' pytest plugin does not run under pytest 9, so each operation's hypothesis
    # strategy is driven here; failures are gathered so one run reports every operation at fault.
    api_schema = schemathesis.openapi.from_wsgi("/openapi/sta.json", app)
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            # A $filter or $select string the schema admits (any text) is mostly not a valid
            # expression, so "schema-valid data accepted" cannot hold for this API; everything
            # else does: no 5xx, and every status, header, content type and body is declared.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # each failure names its operation
            failures.append(f"{operation.label}: {_summary(exc)}")
    assert operations > 200
    assert not failures, "\n".join(failures)


def _summary(exc: BaseException) -> str:
    """The failure's headline lines (check names and the offending status), on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " | ".join(lines[:6])[:400]
