"""A small monitoring network for the read-path suites (expand, formats, paging, latest, count).

Three stations: air-one (PM2.5 ``D25a`` with 6 hourly observations, PM10 ``D10a`` with 3),
air-two (PM2.5 ``D25b`` with 4, PM10 ``D10b`` with none) and river-three (pH ``Dph`` with 5,
two of them without a resultTime). air-two's Thing also stands at air-one's Location, so
Location ``LA`` has two Things and Thing ``TB`` two Locations. Built with the Store APIs; the
bulk helper adds many observations with one ``executemany`` for the index and count tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.store import Store
from hub.store.schema import observations, raw_frames, thing_locations
from hub.web import create_app
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOST = "http://localhost"
ROOT = HOST + "/v1.1"


@dataclass
class ReadWorld:
    """The store, a test client on the hub's app, the ids by name, and executed statements."""

    store: Store
    client: FlaskClient
    ids: dict[str, int]
    statements: list[str] = field(default_factory=list)

    def get(self, path: str, status: int = 200) -> Any:
        """GET ``path`` (absolute links are accepted), check ``status``, return the body."""
        response = self.client.get(path.removeprefix(HOST))
        assert response.status_code == status, (path, response.get_data(as_text=True))
        if status >= 400:
            body = response.get_json()
            assert body["code"] == status and "\n" not in body["message"], body
            return body
        return response.get_json() if response.is_json else response.get_data(as_text=True)

    @contextmanager
    def capturing(self) -> Iterator[list[tuple[str, Any]]]:
        """The (statement, parameters) pairs executed inside the block."""
        seen: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            seen.append((statement, parameters))

        event.listen(self.store.engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(self.store.engine, "before_cursor_execute", record)

    def plan(self, statement: str, parameters: Any) -> str:
        """The query plan of an executed statement, one line per step (both stores)."""
        sqlite = self.store.backend == "sqlite"
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        with self.store.engine.connect() as conn:
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
        return "\n".join(str(row[-1]) for row in rows)

    def analyze(self) -> None:
        """Fresh planner statistics (after a bulk load, as autovacuum would)."""
        with self.store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    def walk(self, path: str) -> tuple[list[dict[str, Any]], int]:
        """Every entity of a collection, following ``@iot.nextLink``; and the number of pages."""
        found: list[dict[str, Any]] = []
        pages = 0
        url: str | None = path
        while url is not None:
            body = self.get(url)
            found += body["value"]
            pages += 1
            url = body.get("@iot.nextLink")
        return found, pages


def build_world(url: str) -> ReadWorld:
    """The three-station network on a fresh store at ``url``."""
    store = Store.open(url)
    air, air2, river = store.import_stations(
        [
            station_record("air-one", "air", "Air One", properties={"height": 12}),
            station_record("air-two", "air", 'Air, "Two"', properties={"height": 7}),
            station_record("river-three", "water", "River Three", properties={"height": 3.5}),
        ]
    )
    mapping = MappingSet.load()
    pm25, pm10, ph = (mapping.observed_property(key) for key in ("pm2_5", "pm10", "ph"))
    assert pm25 is not None and pm10 is not None and ph is not None
    d25a = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    d10a = store.ensure_datastream("air-one", pm10, Aggregation.MEAN, "a34002")
    d25b = store.ensure_datastream("air-two", pm25, Aggregation.MEAN, "a34004")
    d10b = store.ensure_datastream("air-two", pm10, Aggregation.MEAN, "a34002")
    dph = store.ensure_datastream("river-three", ph, Aggregation.INSTANT, "w01001")

    def rows(ds: tuple[int, int], n: int, base: float, **kw: Any) -> list[Any]:
        return [
            observation_row(ds, T0 + i * HOUR, base + i, result_time=T0 + i * HOUR, **kw)
            for i in range(n)
        ]

    river_rows = rows(dph, 3, 7.0, unit="pH") + [
        observation_row(dph, T0 + i * HOUR, 7.0 + i, unit="pH") for i in (3, 4)
    ]
    store.write_batch(
        [
            frame_record("a", "air-one", rows(d25a, 6, 10.0) + rows(d10a, 3, 80.0), T0),
            frame_record("b", "air-two", rows(d25b, 4, 20.0), T0),
            frame_record("c", "river-three", river_rows, T0),
        ]
    )
    with store.engine.begin() as conn:
        conn.execute(
            thing_locations.insert().values(thing_id=air2.thing_id, location_id=air.location_id)
        )
    app = create_app(store, HubMetrics(), lambda: True)
    ids = {"TA": air.thing_id, "TB": air2.thing_id, "TC": river.thing_id}
    ids |= {"LA": air.location_id, "LB": air2.location_id, "LC": river.location_id}
    ids |= {"FA": air.feature_of_interest_id, "FC": river.feature_of_interest_id}
    ids |= {"D25a": d25a[0], "D10a": d10a[0], "D25b": d25b[0], "D10b": d10b[0], "Dph": dph[0]}
    return ReadWorld(store, app.test_client(), ids)


def add_observations(
    store: Store,
    streams: list[tuple[int, int]],
    per_stream: int,
    *,
    start: datetime = T0 + 1000 * HOUR,
    step: timedelta = timedelta(minutes=1),
    value: Callable[[int, int], float] = lambda s, i: float(s * 1000 + i),
) -> int:
    """Add ``per_stream`` observations to each (datastream, feature) in one transaction, in
    time order across streams (as live ingest writes them); return how many."""
    with store.engine.begin() as conn:
        frame = conn.execute(select(raw_frames.c.id).limit(1)).scalar_one()
        batch = [
            {
                "datastream_id": ds,
                "feature_of_interest_id": foi,
                "phenomenon_time_start": start + i * step,
                "phenomenon_time_end": start + i * step,
                "result_time": start + i * step,
                "result": value(ds, i),
                "result_quality": "valid",
                "parameters": {},
                "frame_id": frame,
            }
            for i in range(per_stream)
            for ds, foi in streams
        ]
        conn.execute(observations.insert(), batch)
    return len(batch)
