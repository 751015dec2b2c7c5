"""Entities made outside the SensorThings API reach MQTT subscribers like API creations (both
stores):

1. the Datastream (and ObservedProperty) the ingest pipeline creates when a logger first reports
   a factor, on ``v1.1/Datastreams``, ``v1.1/Things(n)/Datastreams``, ...; once;
2. what ``auasu stations import`` creates and changes (Things, Locations, HistoricalLocations,
   Sensors, FeaturesOfInterest), published by the command itself after its commit; nothing for
   an unchanged registry; and the import stands when the broker cannot be reached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.hj212.lihe import LiheHJ212Adapter
from hub.cli import main
from hub.config import load_config
from hub.demo import PILOT_REGISTRY
from hub.ingest.contracts import EntityChange
from hub.ingest.pipeline import IngestPipeline
from hub.mapping import MappingSet
from hub.model.registry import load_registry
from hub.sta.entities import entity_by_set
from hub.sta.mqtt.oneshot import publish_changes
from hub.sta.mqtt.process import free_port
from hub.sta.observed_area import observed_areas
from hub.sta.paths import parse_resource_path
from hub.sta.query import fetch_entity
from hub.sta.serialize import Extras, entity_json
from hub.store import Store, registry
from hub.store.queries import datastream_extent
from hub.store.schema import datastreams, observed_properties, things
from tests.hub.ingest.test_pipeline import ingest, saryarka_frame
from tests.hub.sta.mqtt.conftest import ROOT, SECRETS, Broker, Client, ClientFactory, Hub

SARYARKA = "lihe-air-saryarka"
# Computed from the Datastream's observations when it is serialised: absent until its first
# one is committed, which may be before or after the notifier loads the new Datastream.
EXTENT = ("phenomenonTime", "resultTime", "observedArea")


def document(store: Store, entity_set: str, entity_id: int) -> dict[str, Any]:
    """What ``GET /v1.1/<entity_set>(<entity_id>)`` answers, with the notifications' root."""
    with store.engine.connect() as conn:
        row = fetch_entity(conn, parse_resource_path(f"{entity_set}({entity_id})"))
        assert row is not None
        extras = Extras(
            lambda ds: datastream_extent(conn, ds),
            observed_areas=lambda ids, multi: observed_areas(conn, ids, multi=multi),
        )
        return entity_json(entity_by_set(entity_set), row._mapping, ROOT, (), extras)


def same_datastream(notified: dict[str, Any], current: dict[str, Any]) -> None:
    """``notified`` is ``current`` as of its creation (the extent, when there, as now)."""
    assert {k: v for k, v in notified.items() if k not in EXTENT} == {
        k: v for k, v in current.items() if k not in EXTENT
    }
    for name in EXTENT:
        if name in notified:
            assert notified[name] == current[name]


def payloads(client: Client, topic: str, count: int = 1) -> list[Any]:
    return [json.loads(p) for p in client.received.wait_on(topic, count)]


def ids_by(store: Store, table: Any, column: str) -> dict[str, int]:
    with store.connect() as conn:
        return {str(k): int(i) for k, i in conn.execute(select(table.c[column], table.c.id))}


@pytest.fixture
def pilot_store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    opened.import_stations(load_registry(PILOT_REGISTRY))
    yield opened
    opened.close()


def test_a_new_factor_announces_its_datastream_like_an_api_creation(
    pilot_store: Store, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    store = pilot_store
    started = hub(store)
    pipeline = IngestPipeline(store, MappingSet.load(), {"lihe-hj212": LiheHJ212Adapter()})
    pipeline.add_observer(started.service.notifier)
    pipeline.start()
    try:
        with store.connect() as conn:
            station = registry.station_entities(conn, SARYARKA)
        assert station is not None
        thing, sensor = station.thing_id, station.sensor_id
        subscriber = mqtt_client()
        subscriber.subscribe(
            "v1.1/Datastreams",
            f"v1.1/Things({thing})/Datastreams",
            f"v1.1/Sensors({sensor})/Datastreams",
            "v1.1/ObservedProperties",
            "v1.1/Observations",
        )
        ingest(pipeline, saryarka_frame([{"DataTime": "20250115101000"}, {"a34004-Rtd": "41"}]))
        (created,) = payloads(subscriber, "v1.1/Datastreams")
        pm25 = ids_by(store, datastreams, "factor")["a34004"]
        assert created["@iot.id"] == pm25
        assert created["@iot.selfLink"] == f"{ROOT}/Datastreams({pm25})"
        same_datastream(created, document(store, "Datastreams", pm25))
        assert created["unitOfMeasurement"]["symbol"] == "µg/m³"
        for topic in (f"v1.1/Things({thing})/Datastreams", f"v1.1/Sensors({sensor})/Datastreams"):
            assert payloads(subscriber, topic) == [created]
        prop = ids_by(store, observed_properties, "key")["pm2_5"]
        assert payloads(subscriber, "v1.1/ObservedProperties") == [
            document(store, "ObservedProperties", prop)
        ]

        # The same factor again: nothing new; a factor the logger had not sent yet: its own.
        ingest(pipeline, saryarka_frame([{"DataTime": "20250115102000"}, {"a34004-Rtd": "42"}]))
        ingest(
            pipeline,
            saryarka_frame(
                [{"DataTime": "20250115103000"}, {"a34004-Rtd": "43"}, {"a21005-Rtd": "1.2"}],
                qn="20250115103000001",
            ),
        )
        assert len(payloads(subscriber, "v1.1/Observations", 4)) == 4
        started.service.notifier.flush()
        first, second = payloads(subscriber, "v1.1/Datastreams", 2)
        assert first == created
        co = ids_by(store, datastreams, "factor")["a21005"]
        assert second["@iot.id"] == co
        same_datastream(second, document(store, "Datastreams", co))
        assert len(subscriber.received.on(f"v1.1/Things({thing})/Datastreams")) == 2
        assert len(subscriber.received.on("v1.1/ObservedProperties")) == 2
    finally:
        pipeline.stop()


# --- auasu stations import ---------------------------------------------------------------------

IMPORT_TOPICS = (
    "v1.1/Things",
    "v1.1/Locations",
    "v1.1/HistoricalLocations",
    "v1.1/Sensors",
    "v1.1/FeaturesOfInterest",
)


def registry_file(path: Path, count: int = 2, **changes: Any) -> Path:
    """The first ``count`` pilot stations; ``changes`` replace fields of the first one."""
    pilot = json.loads(PILOT_REGISTRY.read_text(encoding="utf-8"))
    pilot["stations"] = pilot["stations"][:count]
    pilot["stations"][0].update(changes)
    path.write_text(json.dumps(pilot), encoding="utf-8")
    return path


def mqtt_config(path: Path, broker: Broker) -> Path:
    path.write_text(
        "[mqtt]\n"
        "enabled = true\n"
        f'host = "{broker.host}"\n'
        f"port = {broker.port}\n"
        'username = "auasu-hub"\n'
        f'password = "{SECRETS["hub"]}"\n'
        f'service_root_url = "{ROOT}"\n',
        encoding="utf-8",
    )
    return path


def test_stations_import_publishes_what_it_created_and_changed(
    store_url: str,
    tmp_path: Path,
    broker: Broker,
    mqtt_client: ClientFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = mqtt_config(tmp_path / "hub.toml", broker)
    args = ["--db", store_url, "--config", str(config), "--data-dir", str(tmp_path)]
    subscriber = mqtt_client()
    subscriber.subscribe(*IMPORT_TOPICS)

    assert main(["stations", "import", str(registry_file(tmp_path / "r.json")), *args]) == 0
    out = capsys.readouterr().out
    assert "imported 2 stations" in out and "notifications published" in out
    store = Store.open(store_url)
    try:
        with store.connect() as conn:
            station = registry.station_entities(conn, SARYARKA)
        assert station is not None
        things_now = ids_by(store, things, "name")
        assert len(things_now) == 2
        notified = payloads(subscriber, "v1.1/Things", 2)
        assert sorted(notified, key=lambda t: t["@iot.id"]) == [
            document(store, "Things", i) for i in sorted(things_now.values())
        ]
        for topic in IMPORT_TOPICS[1:]:
            assert len(payloads(subscriber, topic, 2)) == 2, topic
        assert document(store, "Locations", station.location_id) in payloads(
            subscriber, "v1.1/Locations", 2
        )

        # The same registry again changes nothing and so publishes nothing.
        assert main(["stations", "import", str(tmp_path / "r.json"), *args]) == 0
        assert "mqtt" not in capsys.readouterr().out

        # A renamed, moved station: its Thing and Sensor are updated (with their property
        # topics), and it gets a new Location, HistoricalLocation and FeatureOfInterest.
        thing = station.thing_id
        watcher = mqtt_client()
        watcher.subscribe(f"v1.1/Things({thing})", f"v1.1/Things({thing})/name")
        renamed = {"en": "Saryarka (moved)", "ru": "Сарыарка", "kk": "Сарыарқа"}
        moved = registry_file(tmp_path / "moved.json", name=renamed, lat=51.18)
        assert main(["stations", "import", str(moved), *args]) == 0
        assert "notifications published" in capsys.readouterr().out
        (updated,) = payloads(watcher, f"v1.1/Things({thing})")
        assert updated == document(store, "Things", thing)
        assert updated["name"] == "Saryarka (moved)"
        assert payloads(watcher, f"v1.1/Things({thing})/name") == [{"name": "Saryarka (moved)"}]
        for topic in IMPORT_TOPICS:
            assert len(payloads(subscriber, topic, 3)) == 3, topic
        with store.connect() as conn:
            now = registry.station_entities(conn, SARYARKA)
        assert now is not None and now.location_id != station.location_id
        assert payloads(subscriber, "v1.1/Locations", 3)[-1] == document(
            store, "Locations", now.location_id
        )
        assert payloads(subscriber, "v1.1/Things", 3)[-1] == updated
        time.sleep(0.2)  # nothing else on the way
        assert len(subscriber.received.on("v1.1/Things")) == 3
    finally:
        store.close()


def test_an_unreachable_broker_costs_only_the_notifications(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {
        "data_dir": str(tmp_path),
        "db": store_url,
        "mqtt.enabled": True,
        "mqtt.port": free_port(),  # nobody listens there
        "mqtt.password": SECRETS["hub"],
    }
    config = load_config(None, settings)
    store = Store.open(store_url)
    try:
        with registry.recording() as written:
            store.import_stations(load_registry(registry_file(tmp_path / "r.json")))
        changes = [EntityChange(*change) for change in written.grouped()]
        assert {c.entity_set for c in changes} == {
            "Things",
            "Locations",
            "HistoricalLocations",
            "Sensors",
            "FeaturesOfInterest",
        }
        result = publish_changes(config, store, changes, connect_timeout_s=0.5)
        assert not result.published and "no connection" in result.message
        # Without a password and without the hub's secret file nothing is even tried (a new
        # secret made here would not be the broker's).
        secretless = load_config(None, {**settings, "mqtt.password": None})
        result = publish_changes(secretless, store, changes)
        assert not result.published and "no broker secret" in result.message
        assert not (tmp_path / "mqtt" / "hub.secret").exists()
    finally:
        store.close()
