"""Stations and the SensorThings entities that describe them (Thing, Location, Sensor, ...).

What these functions create or change is reported to whoever asked for it with
:func:`recording` (the ingest pipeline, ``auasu stations import``), so that it can be announced
to MQTT subscribers after the commit like the SensorThings API's own writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Table, delete, insert, select, update

from adapters.base import Aggregation
from hub.mapping import ObservedPropertyDef
from hub.model.registry import StationRecord
from hub.store.batches import dialect_insert
from hub.store.schema import (
    datastreams,
    features_of_interest,
    historical_location_locations,
    historical_locations,
    locations,
    observed_properties,
    sensors,
    stations,
    thing_locations,
    things,
)

GEOJSON = "application/geo+json"
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"

WriteEvent = Literal["create", "update"]
# SensorThings property names of the registry-maintained columns (for update notifications).
_THING_PROPERTIES = {"name": "name", "description": "description", "properties": "properties"}
_SENSOR_PROPERTIES = {
    **_THING_PROPERTIES,
    "encoding_type": "encodingType",
    "metadata": "metadata",
}


class WriteLog:
    """SensorThings entities the registry created or updated while it was :func:`recording`.

    Entities are grouped by (entity set, event) in the order first written; an entity created
    and then updated under the same log is reported once, as a create (its committed state is
    what subscribers get either way).
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, WriteEvent], dict[int, None]] = {}
        # Per updated entity: the SensorThings properties changed.
        self._changed: dict[tuple[str, int], frozenset[str]] = {}

    def add(
        self,
        entity_set: str,
        entity_id: int,
        event: WriteEvent,
        changed: frozenset[str] = frozenset(),
    ) -> None:
        self._ids.setdefault((entity_set, event), {})[entity_id] = None
        if event == "update":
            key = (entity_set, entity_id)
            self._changed[key] = self._changed.get(key, frozenset()) | changed

    def __bool__(self) -> bool:
        return bool(self._ids)

    def grouped(self) -> list[tuple[str, tuple[int, ...], WriteEvent, frozenset[str] | None]]:
        """(entity set, ids, event, changed properties) per entity set and event, creates
        before updates; ``changed`` is None for creates. The field order of
        :class:`hub.ingest.contracts.EntityChange`."""
        created = {
            (entity_set, entity_id)
            for (entity_set, event), ids in self._ids.items()
            if event == "create"
            for entity_id in ids
        }
        found: list[tuple[str, tuple[int, ...], WriteEvent, frozenset[str] | None]] = []
        for (entity_set, event), ids in self._ids.items():
            if event == "create":
                found.append((entity_set, tuple(ids), "create", None))
        for (entity_set, event), ids in self._ids.items():
            if event != "update":
                continue
            groups: dict[frozenset[str], list[int]] = {}
            for entity_id in ids:
                if (entity_set, entity_id) not in created:
                    groups.setdefault(self._changed[(entity_set, entity_id)], []).append(entity_id)
            found += [
                (entity_set, tuple(group), "update", names) for names, group in groups.items()
            ]
        return found


# A context variable rather than an argument: the store's own methods (Store.import_stations,
# Store.ensure_datastreams) call these functions and return only ids, and the log must reach
# the caller of those methods, on the same thread, without widening their signatures.
_LOG: ContextVar[WriteLog | None] = ContextVar("auasu_registry_writes", default=None)


@contextmanager
def recording() -> Iterator[WriteLog]:
    """Collect into a new :class:`WriteLog` what the registry functions write inside the block
    (on this thread or task). The log says what the block's transactions *did*; use it only
    when they committed -- after an exception it is incomplete and must be dropped."""
    log = WriteLog()
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


def _record(
    entity_set: str, entity_id: int, event: WriteEvent, changed: frozenset[str] = frozenset()
) -> None:
    log = _LOG.get()
    if log is not None:
        log.add(entity_set, entity_id, event, changed)


def _changed_properties(
    current: Mapping[Any, Any], wanted: Mapping[str, Any], names: Mapping[str, str]
) -> frozenset[str]:
    """The SensorThings names of the columns of ``wanted`` whose value differs in ``current``."""
    return frozenset(names[column] for column, value in wanted.items() if current[column] != value)


@dataclass(frozen=True, slots=True)
class StationEntities:
    """Ids of the entities one station owns."""

    station_key: str
    station_id: int
    thing_id: int
    sensor_id: int
    feature_of_interest_id: int
    location_id: int


def _point(record: StationRecord) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [record.lon, record.lat]}


def upsert_station(conn: Connection, record: StationRecord, now: datetime) -> StationEntities:
    """Create or update a station and its Thing, Location, Sensor and FeatureOfInterest.

    A moved station gets a new Location and a HistoricalLocation; the old one stays in history.
    """
    values = {
        "source": record.source,
        "kind": record.kind,
        "device_id": record.device_id,
        "system_code": record.system_code,
        "secret_hash": record.secret_hash,
        "timezone": record.logger_timezone,
        "name": record.name.model_dump(),
        "lat": record.lat,
        "lon": record.lon,
        "operator": record.operator,
        "factors": {code: spec.model_dump() for code, spec in record.factors.items()},
        "options": dict(record.options),
        "properties": _station_properties(record),
        "updated_at": now,
    }
    station_id = conn.execute(select(stations.c.id).where(stations.c.key == record.id)).scalar()
    if station_id is None:
        station_id = conn.execute(
            insert(stations).values(key=record.id, **values).returning(stations.c.id)
        ).scalar_one()
    else:
        conn.execute(update(stations).where(stations.c.id == station_id).values(**values))

    thing_values = {
        "name": record.name.en,
        "description": f"{record.kind} monitoring station operated by {record.operator}",
        "properties": _thing_properties(record),
    }
    thing = conn.execute(select(things).where(things.c.station_id == station_id)).first()
    if thing is None:
        thing_id = conn.execute(
            insert(things).values(station_id=station_id, **thing_values).returning(things.c.id)
        ).scalar_one()
        _record("Things", int(thing_id), "create")
    else:
        thing_id = thing.id
        _update_if_changed(conn, things, thing._mapping, thing_values, "Things", _THING_PROPERTIES)

    location_id = _ensure_location(conn, thing_id, record, now)
    sensor_id = _ensure_sensor(conn, record)
    foi_id = _ensure_feature(conn, record)
    return StationEntities(record.id, station_id, thing_id, sensor_id, foi_id, location_id)


def _station_properties(record: StationRecord) -> dict[str, Any]:
    extra = dict(record.properties)
    if record.post_id is not None:
        extra["post_id"] = record.post_id
    if record.automatic is not None:
        extra["automatic"] = record.automatic
    return extra


def _thing_properties(record: StationRecord) -> dict[str, Any]:
    props: dict[str, Any] = {
        "station_id": record.id,
        "source": record.source,
        "kind": record.kind,
        "operator": record.operator,
        "names": record.name.model_dump(exclude_none=True),
        "timezone": record.logger_timezone,
    }
    if record.device_id is not None:
        props["device_id"] = record.device_id
    if record.system_code is not None:
        props["system_code"] = record.system_code
    props.update(_station_properties(record))
    return props


def _ensure_location(conn: Connection, thing_id: int, record: StationRecord, now: datetime) -> int:
    point = _point(record)
    current = conn.execute(
        select(locations.c.id, locations.c.location)
        .join(thing_locations, thing_locations.c.location_id == locations.c.id)
        .where(thing_locations.c.thing_id == thing_id)
    ).first()
    if current is not None and current.location == point:
        return int(current.id)
    location_id = conn.execute(
        insert(locations)
        .values(
            name=f"{record.name.en} location",
            description=f"Where {record.name.en} stands (WGS 84)",
            encoding_type=GEOJSON,
            location=point,
            properties={"station_id": record.id},
        )
        .returning(locations.c.id)
    ).scalar_one()
    _record("Locations", int(location_id), "create")
    conn.execute(delete(thing_locations).where(thing_locations.c.thing_id == thing_id))
    conn.execute(insert(thing_locations).values(thing_id=thing_id, location_id=location_id))
    history_id = conn.execute(
        insert(historical_locations)
        .values(thing_id=thing_id, time=now)
        .returning(historical_locations.c.id)
    ).scalar_one()
    _record("HistoricalLocations", int(history_id), "create")
    conn.execute(
        insert(historical_location_locations).values(
            historical_location_id=history_id, location_id=location_id
        )
    )
    return int(location_id)


def _ensure_sensor(conn: Connection, record: StationRecord) -> int:
    key = f"{record.source}:{record.device_id or record.id}"
    if record.device_id is not None:
        name = f"{record.operator.split(' (')[0]} data logger {record.device_id}"
        description = (
            f"Station data logger (HJ 212 MN {record.device_id}, ST {record.system_code}) "
            f"and its analysers at {record.name.en}"
        )
    else:
        name = f"{record.operator} analysers at {record.name.en}"
        description = f"Measuring equipment of {record.name.en}"
    values = {
        "name": name,
        "description": description,
        "encoding_type": "text/html",
        "metadata": f"urn:auasu:sensor:{key}",
        "properties": {"station_id": record.id, "source": record.source},
    }
    sensor = conn.execute(select(sensors).where(sensors.c.key == key)).first()
    if sensor is None:
        sensor_id = int(
            conn.execute(
                insert(sensors).values(key=key, **values).returning(sensors.c.id)
            ).scalar_one()
        )
        _record("Sensors", sensor_id, "create")
        return sensor_id
    _update_if_changed(conn, sensors, sensor._mapping, values, "Sensors", _SENSOR_PROPERTIES)
    return int(sensor.id)


def _update_if_changed(
    conn: Connection,
    table: Table,
    current: Mapping[Any, Any],
    values: Mapping[str, Any],
    entity_set: str,
    names: Mapping[str, str],
) -> None:
    """Write ``values`` over the row ``current`` only when they differ (a re-import of an
    unchanged registry then writes, and announces, nothing)."""
    changed = _changed_properties(current, values, names)
    if changed:
        conn.execute(update(table).where(table.c.id == current["id"]).values(**values))
        _record(entity_set, int(current["id"]), "update", changed)


def _ensure_feature(conn: Connection, record: StationRecord) -> int:
    key = f"station:{record.id}:{record.lon}:{record.lat}"
    foi_id = conn.execute(
        select(features_of_interest.c.id).where(features_of_interest.c.key == key)
    ).scalar()
    if foi_id is not None:
        return int(foi_id)
    foi_id = int(
        conn.execute(
            insert(features_of_interest)
            .values(
                key=key,
                name=record.name.en,
                description=f"The {record.kind} sampled at {record.name.en}",
                encoding_type=GEOJSON,
                feature=_point(record),
                properties={"station_id": record.id},
            )
            .returning(features_of_interest.c.id)
        ).scalar_one()
    )
    _record("FeaturesOfInterest", foi_id, "create")
    return foi_id


def ensure_observed_property(conn: Connection, definition: ObservedPropertyDef) -> int:
    """Id of the shared ObservedProperty for ``definition.key``, created on first use."""
    query = select(observed_properties.c.id).where(observed_properties.c.key == definition.key)
    found = conn.execute(query).scalar()
    if found is not None:
        return int(found)
    return _insert_once(
        conn,
        dialect_insert(conn, observed_properties)
        .values(
            key=definition.key,
            name=definition.name,
            definition=definition.definition,
            description=definition.description,
            properties={"key": definition.key, "unit": definition.unit},
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(observed_properties.c.id),
        query,
        "ObservedProperties",
    )


def _insert_once(conn: Connection, statement: Any, query: Any, entity_set: str) -> int:
    """Run ``statement`` (an INSERT ... ON CONFLICT DO NOTHING RETURNING id) and return the new
    id, recorded as created; or, when another hub process sharing the database created the row
    at the same moment (no id returned, and that process announces it), the id ``query``
    finds."""
    created = conn.execute(statement).scalar()
    if created is None:
        return int(conn.execute(query).scalar_one())
    _record(entity_set, int(created), "create")
    return int(created)


def ensure_datastream(
    conn: Connection,
    *,
    entities: StationEntities,
    thing_name: str,
    property_id: int,
    definition: ObservedPropertyDef,
    aggregation: Aggregation,
    factor: str,
) -> int:
    """Id of the datastream for one station (``entities``), property and aggregation."""
    query = select(datastreams.c.id).where(
        datastreams.c.thing_id == entities.thing_id,
        datastreams.c.observed_property_id == property_id,
        datastreams.c.aggregation == aggregation.value,
    )
    found = conn.execute(query).scalar()
    if found is not None:
        return int(found)
    return _insert_once(
        conn,
        dialect_insert(conn, datastreams)
        .values(
            thing_id=entities.thing_id,
            sensor_id=entities.sensor_id,
            observed_property_id=property_id,
            aggregation=aggregation.value,
            factor=factor,
            name=f"{thing_name}: {definition.name} ({aggregation.value})",
            description=(
                f"{definition.name} at {thing_name}, {aggregation.value} values "
                f"in {definition.unit_symbol}"
            ),
            observation_type=OM_MEASUREMENT,
            unit={
                "name": definition.unit_name,
                "symbol": definition.unit_symbol,
                "definition": f"http://unitsofmeasure.org/ucum.html#{definition.unit}",
            },
            properties={
                "station_id": entities.station_key,
                "factor": factor,
                "aggregation": aggregation.value,
                "observed_property": definition.key,
                "ucum": definition.unit,
            },
        )
        .on_conflict_do_nothing(index_elements=["thing_id", "observed_property_id", "aggregation"])
        .returning(datastreams.c.id),
        query,
        "Datastreams",
    )


def thing_name(conn: Connection, thing_id: int) -> str:
    return str(conn.execute(select(things.c.name).where(things.c.id == thing_id)).scalar_one())


def station_entities(conn: Connection, station_key: str) -> StationEntities | None:
    """The entity ids of a registered station, or None."""
    row = conn.execute(
        select(
            stations.c.id,
            things.c.id.label("thing_id"),
            stations.c.source,
            stations.c.device_id,
            stations.c.lon,
            stations.c.lat,
        )
        .join(things, things.c.station_id == stations.c.id)
        .where(stations.c.key == station_key)
    ).first()
    if row is None:
        return None
    sensor_key = f"{row.source}:{row.device_id or station_key}"
    sensor_id = conn.execute(select(sensors.c.id).where(sensors.c.key == sensor_key)).scalar_one()
    foi_key = f"station:{station_key}:{row.lon}:{row.lat}"
    foi_id = conn.execute(
        select(features_of_interest.c.id).where(features_of_interest.c.key == foi_key)
    ).scalar_one()
    # The first of the Thing's current Locations: clients of the SensorThings API may have
    # given a station's Thing several (an update binding Locations), which must not stop ingest.
    location_id = conn.execute(
        select(thing_locations.c.location_id)
        .where(thing_locations.c.thing_id == row.thing_id)
        .order_by(thing_locations.c.location_id)
        .limit(1)
    ).scalar_one()
    return StationEntities(
        station_key, int(row.id), int(row.thing_id), int(sensor_id), int(foi_id), int(location_id)
    )


def station_records(conn: Connection) -> list[StationRecord]:
    """Every registered station, as the registry model."""
    rows = conn.execute(select(stations).order_by(stations.c.key)).all()
    records = []
    for row in rows:
        properties = dict(row.properties)
        post_id = properties.pop("post_id", None)
        automatic = properties.pop("automatic", None)
        records.append(
            StationRecord(
                id=row.key,
                source=row.source,
                kind=row.kind,
                name=row.name,
                lat=row.lat,
                lon=row.lon,
                operator=row.operator,
                device_id=row.device_id,
                system_code=row.system_code,
                secret_hash=row.secret_hash,
                logger_timezone=row.timezone,
                factors=row.factors,
                post_id=post_id,
                automatic=automatic,
                options=row.options,
                properties=properties,
            )
        )
    return records
