"""A station network for the feature-collection tests (stations, observations, latest).

Five registry stations at Astana landmarks (astana-geo-time.md §3.1), so that bbox, spatial
filters and CRS output have distinct points to tell apart:

* ``bayterek`` (air): PM2.5 hourly means (24, some without result time, some invalid), PM10
  hourly means (12) and PM2.5 instants (6);
* ``khan-shatyr`` (air): PM2.5 hourly means (10);
* ``airport`` (air, Kazhydromet, a quote in its name): PM10 three-hourly means (8);
* ``yesil-central`` (water): pH instants (10, every other one without result time);
* ``ak-orda`` (air): no data.

And one Thing without a station (as the SensorThings API creates them) with a datastream and
observations, which no feature collection may show. :func:`truth` reads every observation back
with a plain query: the reference the tests compare the providers' answers with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.model.registry import StationRecord
from hub.ogcapi import registry
from hub.store import ObservationRow, Store
from hub.store.schema import (
    datastreams,
    features_of_interest,
    observations,
    observed_properties,
    sensors,
    stations,
    things,
)
from hub.web import create_app
from tests.hub.ogcapi.conftest import module_store_url
from tests.hub.sta.conftest import frame_record

T0 = datetime(2025, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

# key: (kind, names, lat, lon, source, operator)
STATIONS: dict[str, tuple[str, dict[str, str], float, float, str, str]] = {
    "bayterek": (
        "air",
        {"en": "Bayterek", "ru": "Байтерек", "kk": "Бәйтерек"},
        51.1283,
        71.4305,
        "lihe-hj212",
        "Astana EcoLab",
    ),
    "khan-shatyr": (
        "air",
        {"en": "Khan Shatyr", "ru": "Хан Шатыр"},
        51.1323,
        71.4036,
        "lihe-hj212",
        "Astana EcoLab",
    ),
    "airport": ("air", {"en": "Airport O'Hara"}, 51.0222, 71.4669, "kazhydromet", "Kazhydromet"),
    "yesil-central": (
        "water",
        {"en": "Yesil central", "kk": "Есіл орталық"},
        51.150,
        71.420,
        "lihe-hj212",
        "Astana EcoLab",
    ),
    "ak-orda": ("air", {"en": "Ak Orda"}, 51.1257, 71.4463, "lihe-hj212", "Astana EcoLab"),
}


@dataclass
class FeatureWorld:
    """The store, its registry key, an app over it and the ids by name."""

    store: Store
    key: str
    app: Flask
    client: FlaskClient
    streams: dict[str, int]
    foreign_stream: int

    def get(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        """GET ``path`` on the app, check ``status``; JSON (or text) body."""
        response = self.client.get(path, **kwargs)
        assert response.status_code == status, (path, response.get_data(as_text=True)[:600])
        return response.get_json() if response.is_json else response.get_data(as_text=True)


def _row(
    ds: tuple[int, int],
    start: datetime,
    value: float,
    *,
    end: datetime | None = None,
    quality: str = "valid",
    result_time: datetime | None = None,
) -> ObservationRow:
    return ObservationRow(
        datastream_id=ds[0],
        feature_of_interest_id=ds[1],
        phenomenon_time_start=start,
        phenomenon_time_end=end or start,
        result_time=result_time,
        result=value,
        result_quality=quality,
        parameters={},
    )


def build_feature_world(url: str, *, foreign: bool = True) -> FeatureWorld:
    """The network above on a fresh store at ``url``, registered for the providers; without
    the station-less Thing when ``foreign`` is false."""
    store = Store.open(url)
    records = [
        StationRecord.model_validate(
            {
                "id": key,
                "source": source,
                "kind": kind,
                "name": names,
                "lat": lat,
                "lon": lon,
                "operator": op,
            }
        )
        for key, (kind, names, lat, lon, source, op) in STATIONS.items()
    ]
    store.import_stations(records)
    mapping = MappingSet.load()
    pm25, pm10, ph = (mapping.observed_property(k) for k in ("pm2_5", "pm10", "ph"))
    assert pm25 is not None and pm10 is not None and ph is not None
    mean, instant = Aggregation.MEAN, Aggregation.INSTANT
    ds = {
        "bayterek/pm2_5/mean": store.ensure_datastream("bayterek", pm25, mean, "a34004"),
        "bayterek/pm10/mean": store.ensure_datastream("bayterek", pm10, mean, "a34002"),
        "bayterek/pm2_5/instant": store.ensure_datastream("bayterek", pm25, instant, "a34004"),
        "khan-shatyr/pm2_5/mean": store.ensure_datastream("khan-shatyr", pm25, mean, "a34004"),
        "airport/pm10/mean": store.ensure_datastream("airport", pm10, mean, "a34002"),
        "yesil-central/ph/instant": store.ensure_datastream("yesil-central", ph, instant, "w01001"),
    }
    rows: dict[str, list[ObservationRow]] = {}
    s = ds["bayterek/pm2_5/mean"]
    rows["bayterek"] = [
        _row(
            s,
            T0 + i * HOUR,
            10 + i * 1.5,
            end=T0 + (i + 1) * HOUR,
            quality="invalid:maintenance" if i % 7 == 3 else "valid",
            result_time=None if i % 5 == 0 else T0 + (i + 1) * HOUR,
        )
        for i in range(24)
    ]
    s = ds["bayterek/pm10/mean"]
    rows["bayterek"] += [
        _row(s, T0 + i * HOUR, 40.0 + (i * 7) % 23, end=T0 + (i + 1) * HOUR, result_time=T0)
        for i in range(12)
    ]
    s = ds["bayterek/pm2_5/instant"]
    rows["bayterek"] += [
        _row(s, T0 + i * 4 * HOUR + HOUR / 2, 12.5 + i, result_time=T0 + i * 4 * HOUR)
        for i in range(6)
    ]
    s = ds["khan-shatyr/pm2_5/mean"]
    rows["khan-shatyr"] = [
        _row(s, T0 + (5 + i) * HOUR, 30.0 - i, end=T0 + (6 + i) * HOUR, result_time=T0)
        for i in range(10)
    ]
    s = ds["airport/pm10/mean"]
    rows["airport"] = [
        _row(s, T0 + 3 * i * HOUR, 55.0 + i, end=T0 + 3 * (i + 1) * HOUR, result_time=T0)
        for i in range(8)
    ]
    s = ds["yesil-central/ph/instant"]
    rows["yesil-central"] = [
        _row(s, T0 + 2 * i * HOUR, round(7.0 + i * 0.1, 2), result_time=None if i % 2 else T0)
        for i in range(10)
    ]
    store.write_batch(
        [
            frame_record(f"{n}", station, station_rows, T0)
            for n, (station, station_rows) in enumerate(rows.items())
        ]
    )
    foreign_stream = _foreign_stream(store, pm25.key) if foreign else 0
    app = create_app(store, HubMetrics(), lambda: True)
    app.testing = True
    return FeatureWorld(
        store,
        registry.register(store),
        app,
        app.test_client(),
        {name: pair[0] for name, pair in ds.items()},
        foreign_stream,
    )


def _foreign_stream(store: Store, property_key: str) -> int:
    """A datastream of a Thing without a station (as the SensorThings API makes them), with
    three observations at the same times as the station data."""
    with store.engine.begin() as conn:
        thing = conn.execute(
            things.insert()
            .values(name="API thing", description="no station", properties={})
            .returning(things.c.id)
        ).scalar_one()
        sensor = conn.execute(
            sensors.insert()
            .values(
                name="API sensor",
                description="",
                encoding_type="text/plain",
                metadata="",
                properties={},
            )
            .returning(sensors.c.id)
        ).scalar_one()
        prop = conn.execute(
            select(observed_properties.c.id).where(observed_properties.c.key == property_key)
        ).scalar_one()
        feature = conn.execute(
            features_of_interest.insert()
            .values(
                name="API place",
                description="",
                encoding_type="application/geo+json",
                feature={"type": "Point", "coordinates": [71.43, 51.13]},
                properties={},
            )
            .returning(features_of_interest.c.id)
        ).scalar_one()
        stream = conn.execute(
            datastreams.insert()
            .values(
                thing_id=thing,
                sensor_id=sensor,
                observed_property_id=prop,
                name="API stream",
                description="",
                observation_type="OM_Measurement",
                unit={"name": "microgram per cubic metre", "symbol": "µg/m³", "definition": ""},
                properties={},
            )
            .returning(datastreams.c.id)
        ).scalar_one()
    rows = [_row((stream, feature), T0 + i * HOUR, 999.0 + i, result_time=T0) for i in range(3)]
    store.write_batch([frame_record("f", "api", rows, T0)])
    return int(stream)


def truth(store: Store) -> list[dict[str, Any]]:
    """Every observation of a station datastream, read with one plain query, in the default
    order of the ``observations`` collection (datastream, phenomenon time start, id)."""
    query = (
        select(
            observations.c.id,
            observations.c.datastream_id,
            observations.c.phenomenon_time_start,
            observations.c.phenomenon_time_end,
            observations.c.result_time,
            observations.c.result,
            observations.c.result_quality,
            datastreams.c.unit,
            datastreams.c.aggregation,
            stations.c.key,
            stations.c.lat,
            stations.c.lon,
            observed_properties.c.key.label("property"),
        )
        .join(datastreams, datastreams.c.id == observations.c.datastream_id)
        .join(things, things.c.id == datastreams.c.thing_id)
        .join(stations, stations.c.id == things.c.station_id)
        .join(observed_properties, observed_properties.c.id == datastreams.c.observed_property_id)
        .order_by(
            observations.c.datastream_id,
            observations.c.phenomenon_time_start,
            observations.c.id,
        )
    )
    with store.engine.connect() as conn:
        return [
            {
                "id": row.id,
                "datastream": row.datastream_id,
                "start": row.phenomenon_time_start,
                "end": row.phenomenon_time_end,
                "result_time": row.result_time,
                "value": row.result,
                "quality": row.result_quality,
                "unit": row.unit["symbol"],
                "aggregation": row.aggregation,
                "station": row.key,
                "lat": row.lat,
                "lon": row.lon,
                "observed_property": row.property,
            }
            for row in conn.execute(query)
        ]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def walk(provider: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every feature of a provider query, page by page with ``offset``/``limit``."""
    limit = kwargs.pop("limit", 7)
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = provider.query(offset=offset, limit=limit, **kwargs)
        found += page["features"]
        assert page["numberReturned"] == len(page["features"])
        if len(page["features"]) < limit:
            return found
        offset += limit


@contextmanager
def feature_world_at(backend: str, directory: Path) -> Iterator[FeatureWorld]:
    """The feature world in a fresh ``backend`` store (``directory`` for SQLite), released
    (registry entry and store) when the block ends: the module fixture of each test file."""
    with module_store_url(backend, directory) as url:
        built = build_feature_world(url)
        try:
            yield built
        finally:
            registry.unregister(built.key)
            built.store.close()
