"""Deleting an entity and what cannot exist without it (18-088 §10.4; FROST-Server's cascades).

* Thing: its Datastreams and MultiDatastreams (with their Observations), its
  HistoricalLocations, its links to Locations (the Locations stay: other Things may be there);
* Location: its links to Things and HistoricalLocations, and HistoricalLocations left without
  any Location (a HistoricalLocation has at least one). A Thing that was there is not moved
  back to an older place: the place is gone, not the move;
* HistoricalLocation: its links to Locations. Deleting a Thing's newest HistoricalLocation
  retracts the last move it records: the Thing goes back to the Locations of its newest
  remaining HistoricalLocation (so its Locations stay those of its newest one, 18-088 §8.2.3).
  With none remaining it keeps its current Locations: a Thing without a history still has a
  place, and deleting the record of a move does not make it be nowhere;
* Datastream / MultiDatastream: their Observations (and a MultiDatastream's property links);
* Sensor: its Datastreams and MultiDatastreams; ObservedProperty: its Datastreams and the
  MultiDatastreams that measure it; FeatureOfInterest: its Observations;
* Observation: itself.

Raw frames stay: the archive keeps every input, including what later was deleted.

Entities the station registry maintains (a station's Thing, its current Location, its Sensor
and FeatureOfInterest, device Datastreams and the mapping's ObservedProperties) are refused
with 409: ingest relies on them, and the registry would only recreate them. They are managed
with ``auasu stations``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, delete, exists, select

from hub.sta.entities import EntityType
from hub.sta.errors import ApiError
from hub.sta.paths import ResourcePath
from hub.sta.write import locations as location_rules  # `locations` is the table below
from hub.sta.write.context import Outcome, WriteContext
from hub.sta.write.targets import addressed_id
from hub.store.api_writes import observation_streams, prune_stream_features
from hub.store.schema import (
    datastreams,
    features_of_interest,
    historical_location_locations,
    historical_locations,
    locations,
    multi_datastream_observed_properties,
    multi_datastreams,
    observations,
    observed_properties,
    sensors,
    thing_locations,
    things,
)


@dataclass(frozen=True, slots=True)
class DeleteEntity:
    """DELETE of the entity ``path`` addresses."""

    path: ResourcePath

    @property
    def writes_observations(self) -> bool:
        return False  # deleting observations archives nothing; no need for the writer

    def run(self, conn: Connection, context: WriteContext) -> Outcome:
        entity = self.path.entity
        assert entity is not None
        entity_id = addressed_id(conn, self.path)
        _REFUSE[entity.name](conn, entity_id)
        _DELETE[entity.name](conn, entity_id)
        return Outcome(200)  # no body: the entity is gone


def _refuse(entity: EntityType | str, entity_id: int, why: str) -> ApiError:
    name = entity if isinstance(entity, str) else entity.name
    return ApiError(
        409,
        f"{name} {entity_id} {why}; the station registry maintains it (auasu stations), "
        "so it cannot be deleted through the API",
    )


def _first(conn: Connection, query: Select[Any]) -> Any:
    return conn.execute(query.limit(1)).first()


# --- what the registry owns -------------------------------------------------------------------


def _device_streams(conn: Connection, condition: Any) -> None:
    found = _first(
        conn, select(datastreams.c.id).where(condition, datastreams.c.aggregation.is_not(None))
    )
    if found is not None:
        raise _refuse("Datastream", int(found.id), "carries device data")


def _guard_thing(conn: Connection, thing_id: int) -> None:
    row = _first(conn, select(things.c.station_id).where(things.c.id == thing_id))
    if row is not None and row.station_id is not None:
        raise _refuse("Thing", thing_id, "describes a registered station")
    _device_streams(conn, datastreams.c.thing_id == thing_id)


def _guard_location(conn: Connection, location_id: int) -> None:
    station_thing = _first(
        conn,
        select(things.c.id)
        .join(thing_locations, thing_locations.c.thing_id == things.c.id)
        .where(thing_locations.c.location_id == location_id, things.c.station_id.is_not(None)),
    )
    if station_thing is not None:
        raise _refuse("Location", location_id, "is where a registered station stands")


def _guard_sensor(conn: Connection, sensor_id: int) -> None:
    row = _first(conn, select(sensors.c.key).where(sensors.c.id == sensor_id))
    if row is not None and row.key is not None:
        raise _refuse("Sensor", sensor_id, "is a registered station's equipment")
    _device_streams(conn, datastreams.c.sensor_id == sensor_id)


def _guard_observed_property(conn: Connection, property_id: int) -> None:
    row = _first(
        conn, select(observed_properties.c.key).where(observed_properties.c.id == property_id)
    )
    if row is not None and row.key is not None:
        raise _refuse("ObservedProperty", property_id, "is defined by the hub's mappings")
    _device_streams(conn, datastreams.c.observed_property_id == property_id)


def _guard_feature(conn: Connection, feature_id: int) -> None:
    row = _first(
        conn, select(features_of_interest.c.key).where(features_of_interest.c.id == feature_id)
    )
    if row is not None and row.key is not None and row.key.startswith("station:"):
        raise _refuse("FeatureOfInterest", feature_id, "is a registered station's feature")


def _guard_datastream(conn: Connection, datastream_id: int) -> None:
    _device_streams(conn, datastreams.c.id == datastream_id)


def _nothing(_conn: Connection, _entity_id: int) -> None:
    return None


_REFUSE = {
    "Thing": _guard_thing,
    "Location": _guard_location,
    "HistoricalLocation": _nothing,
    "Datastream": _guard_datastream,
    "MultiDatastream": _nothing,
    "Sensor": _guard_sensor,
    "ObservedProperty": _guard_observed_property,
    "Observation": _nothing,
    "FeatureOfInterest": _guard_feature,
}


# --- cascades ---------------------------------------------------------------------------------


def _delete_datastreams(conn: Connection, condition: Any) -> None:
    ids = select(datastreams.c.id).where(condition)
    conn.execute(delete(observations).where(observations.c.datastream_id.in_(ids)))
    conn.execute(delete(datastreams).where(condition))


def _delete_multi_datastreams(conn: Connection, condition: Any) -> None:
    ids = [int(v) for v in conn.execute(select(multi_datastreams.c.id).where(condition)).scalars()]
    if not ids:
        return
    link = multi_datastream_observed_properties.c
    conn.execute(delete(observations).where(observations.c.multi_datastream_id.in_(ids)))
    conn.execute(
        delete(multi_datastream_observed_properties).where(link.multi_datastream_id.in_(ids))
    )
    conn.execute(delete(multi_datastreams).where(multi_datastreams.c.id.in_(ids)))


def _delete_histories(conn: Connection, condition: Any) -> None:
    ids = select(historical_locations.c.id).where(condition)
    link = historical_location_locations.c
    conn.execute(delete(historical_location_locations).where(link.historical_location_id.in_(ids)))
    conn.execute(delete(historical_locations).where(condition))


def _thing(conn: Connection, thing_id: int) -> None:
    _delete_datastreams(conn, datastreams.c.thing_id == thing_id)
    _delete_multi_datastreams(conn, multi_datastreams.c.thing_id == thing_id)
    _delete_histories(conn, historical_locations.c.thing_id == thing_id)
    conn.execute(delete(thing_locations).where(thing_locations.c.thing_id == thing_id))
    conn.execute(delete(things).where(things.c.id == thing_id))


def _location(conn: Connection, location_id: int) -> None:
    link = historical_location_locations.c
    touched = [
        int(value)
        for value in conn.execute(
            select(link.historical_location_id).where(link.location_id == location_id)
        ).scalars()
    ]
    conn.execute(delete(thing_locations).where(thing_locations.c.location_id == location_id))
    conn.execute(delete(historical_location_locations).where(link.location_id == location_id))
    if touched:
        history = historical_locations.c
        linked = select(link.historical_location_id).where(
            link.historical_location_id == history.id
        )
        orphans = [
            int(value)
            for value in conn.execute(
                select(history.id).where(history.id.in_(touched), ~exists(linked))
            ).scalars()
        ]
        if orphans:
            _delete_histories(conn, history.id.in_(orphans))
    conn.execute(delete(locations).where(locations.c.id == location_id))


def _history(conn: Connection, history_id: int) -> None:
    follower = location_rules.before_history_deleted(conn, history_id)
    _delete_histories(conn, historical_locations.c.id == history_id)
    if follower is not None:
        location_rules.follow_newest(conn, follower)


def _datastream(conn: Connection, datastream_id: int) -> None:
    _delete_datastreams(conn, datastreams.c.id == datastream_id)


def _multi_datastream(conn: Connection, md_id: int) -> None:
    _delete_multi_datastreams(conn, multi_datastreams.c.id == md_id)


def _sensor(conn: Connection, sensor_id: int) -> None:
    _delete_datastreams(conn, datastreams.c.sensor_id == sensor_id)
    _delete_multi_datastreams(conn, multi_datastreams.c.sensor_id == sensor_id)
    conn.execute(delete(sensors).where(sensors.c.id == sensor_id))


def _observed_property(conn: Connection, property_id: int) -> None:
    _delete_datastreams(conn, datastreams.c.observed_property_id == property_id)
    link = multi_datastream_observed_properties.c
    measuring = select(link.multi_datastream_id).where(link.observed_property_id == property_id)
    _delete_multi_datastreams(conn, multi_datastreams.c.id.in_(measuring))
    conn.execute(delete(observed_properties).where(observed_properties.c.id == property_id))


def _observation(conn: Connection, observation_id: int) -> None:
    # The (stream, feature) pair behind observedArea goes when its last observation does.
    streams, multis, features = observation_streams(conn, [observation_id])
    conn.execute(delete(observations).where(observations.c.id == observation_id))
    prune_stream_features(conn, streams, multis, features)


def _feature(conn: Connection, feature_id: int) -> None:
    conn.execute(delete(observations).where(observations.c.feature_of_interest_id == feature_id))
    conn.execute(delete(features_of_interest).where(features_of_interest.c.id == feature_id))


_DELETE = {
    "Thing": _thing,
    "Location": _location,
    "HistoricalLocation": _history,
    "Datastream": _datastream,
    "MultiDatastream": _multi_datastream,
    "Sensor": _sensor,
    "ObservedProperty": _observed_property,
    "Observation": _observation,
    "FeatureOfInterest": _feature,
}
