"""How each navigation property is stored, and binding existing entities through it.

A binding (``"Thing": {"@iot.id": 3}`` in a create or an update, 18-088 §10.3) replaces a
single-valued navigation and adds to a collection. Three storage shapes exist:

* a foreign key on this entity (``Datastream.Thing`` → ``datastreams.thing_id``);
* a foreign key on the other entity (``Thing.Datastreams`` → ``datastreams.thing_id``), so
  adding to the collection moves that entity here;
* an association table (``Thing.Locations``, ``HistoricalLocation.Locations``), where linking a
  Thing to Locations goes through :func:`~hub.sta.write.locations.move_thing` so that the
  Thing's history stays true.

The ordered ``MultiDatastream.ObservedProperties`` cannot be rebound (each position is tied to
a unit of measurement and to every stored result array): creating is the only way to set it;
restating the same properties in the same order (as clients re-sending a whole entity do) is
accepted and changes nothing.

Giving a Thing HistoricalLocations of another Thing may move both: each follows its newest
HistoricalLocation (:func:`~hub.sta.write.locations.after_history_changed`).

:data:`ASSOCIATION` and :func:`related` say which entities a navigation of a stored entity
leads to; an update uses them to recognise related entities restated inline
(:mod:`hub.sta.write.echoes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, func, select, update

from hub.sta.entities import EntityType
from hub.sta.errors import ApiError
from hub.sta.write import locations
from hub.sta.write.changes import record
from hub.sta.write.models import TABLES
from hub.store.api_writes import (
    observation_streams,
    prune_stream_features,
    record_observation_features,
)
from hub.store.schema import (
    historical_location_locations,
    multi_datastream_observed_properties,
    observations,
    thing_locations,
)


def _refresh_stream_features(
    conn: Connection, moved: Sequence[int], before: tuple[list[int], list[int], list[int]]
) -> None:
    """Keep ``stream_features`` (what observedArea is computed from) true after observations
    ``moved`` were given another stream or feature: their new pairs in, their old ones out
    when no observation has them any more."""
    if not moved:
        return
    record_observation_features(conn, moved)
    prune_stream_features(conn, *before)


# (entity, navigation) -> the column of this entity's table holding the other's id.
OWN_KEY: dict[tuple[str, str], str] = {
    ("HistoricalLocation", "Thing"): "thing_id",
    ("Datastream", "Thing"): "thing_id",
    ("Datastream", "Sensor"): "sensor_id",
    ("Datastream", "ObservedProperty"): "observed_property_id",
    ("MultiDatastream", "Thing"): "thing_id",
    ("MultiDatastream", "Sensor"): "sensor_id",
    ("Observation", "Datastream"): "datastream_id",
    ("Observation", "MultiDatastream"): "multi_datastream_id",
    ("Observation", "FeatureOfInterest"): "feature_of_interest_id",
}
# (entity, navigation) -> the column of the *other* entity's table holding this one's id.
OTHER_KEY: dict[tuple[str, str], str] = {
    ("Thing", "HistoricalLocations"): "thing_id",
    ("Thing", "Datastreams"): "thing_id",
    ("Thing", "MultiDatastreams"): "thing_id",
    ("Sensor", "Datastreams"): "sensor_id",
    ("Sensor", "MultiDatastreams"): "sensor_id",
    ("ObservedProperty", "Datastreams"): "observed_property_id",
    ("Datastream", "Observations"): "datastream_id",
    ("MultiDatastream", "Observations"): "multi_datastream_id",
    ("FeatureOfInterest", "Observations"): "feature_of_interest_id",
}
# (entity, navigation) -> (association table, its column naming this entity, its column naming
# the other).
ASSOCIATION: dict[tuple[str, str], tuple[Table, str, str]] = {
    ("Thing", "Locations"): (thing_locations, "thing_id", "location_id"),
    ("Location", "Things"): (thing_locations, "location_id", "thing_id"),
    ("HistoricalLocation", "Locations"): (
        historical_location_locations,
        "historical_location_id",
        "location_id",
    ),
    ("Location", "HistoricalLocations"): (
        historical_location_locations,
        "location_id",
        "historical_location_id",
    ),
    ("MultiDatastream", "ObservedProperties"): (
        multi_datastream_observed_properties,
        "multi_datastream_id",
        "observed_property_id",
    ),
    ("ObservedProperty", "MultiDatastreams"): (
        multi_datastream_observed_properties,
        "observed_property_id",
        "multi_datastream_id",
    ),
}
# The navigation of a child created inside a parent that points back at the parent:
# (parent entity, parent's navigation) -> child's navigation.
INVERSE: dict[tuple[str, str], str] = {
    ("Thing", "Locations"): "Things",
    ("Thing", "HistoricalLocations"): "Thing",
    ("Thing", "Datastreams"): "Thing",
    ("Thing", "MultiDatastreams"): "Thing",
    ("Location", "Things"): "Locations",
    ("Location", "HistoricalLocations"): "Locations",
    ("HistoricalLocation", "Locations"): "HistoricalLocations",
    ("Datastream", "Observations"): "Datastream",
    ("MultiDatastream", "Observations"): "MultiDatastream",
    ("Sensor", "Datastreams"): "Sensor",
    ("Sensor", "MultiDatastreams"): "Sensor",
    ("ObservedProperty", "Datastreams"): "ObservedProperty",
    ("ObservedProperty", "MultiDatastreams"): "ObservedProperties",
    ("FeatureOfInterest", "Observations"): "FeatureOfInterest",
}


def exists(conn: Connection, entity: EntityType, entity_id: int) -> bool:
    table: Any = TABLES[entity.name]
    return conn.execute(select(table.c.id).where(table.c.id == entity_id)).first() is not None


def related(entity: EntityType, entity_id: int, navigation: str) -> Select[Any]:
    """The rows of the entities that ``navigation`` of stored entity ``entity_id`` leads to
    (what a GET of ``…(entity_id)/navigation`` lists), all columns of the target's table."""
    key = (entity.name, navigation)
    table: Any = TABLES[entity.navigation(navigation).target.name]
    if key in OWN_KEY:
        own: Any = TABLES[entity.name]
        pointer = select(own.c[OWN_KEY[key]]).where(own.c.id == entity_id).scalar_subquery()
        return select(table).where(table.c.id == pointer)
    if key in OTHER_KEY:
        return select(table).where(table.c[OTHER_KEY[key]] == entity_id)
    through, here, there = ASSOCIATION[key]
    return (
        select(table)
        .join(through, through.c[there] == table.c.id)
        .where(through.c[here] == entity_id)
    )


def require(conn: Connection, entity: EntityType, entity_id: int, where: str) -> int:
    """``entity_id`` if such an entity exists, else 404 (as FROST answers a dangling link)."""
    if not exists(conn, entity, entity_id):
        raise ApiError(404, f"{where}: no {entity.name} with id {entity_id}")
    return entity_id


def bind(
    conn: Connection,
    entity: EntityType,
    entity_id: int,
    navigation: str,
    others: Sequence[int],
    now: datetime,
    where: str,
) -> None:
    """Link existing entities ``others`` (checked to exist) to ``entity_id`` through
    ``navigation``: replace a single link, add to a collection."""
    key = (entity.name, navigation)
    table: Any = TABLES[entity.name]
    if key in OWN_KEY:
        (other,) = others
        _check_stream_switch(conn, entity, entity_id, navigation, other, where)
        moving = [entity_id] if entity.name == "Observation" else []
        before = observation_streams(conn, moving)
        conn.execute(update(table).where(table.c.id == entity_id).values({OWN_KEY[key]: other}))
        _refresh_stream_features(conn, moving, before)
        # A new link, no property changed: entity topics are told, property topics are not.
        record(conn, entity.set_name, (entity_id,), "update", ())
    elif key in OTHER_KEY:
        target = entity.navigation(navigation).target
        if key == ("Datastream", "Observations") or key == ("MultiDatastream", "Observations"):
            for other in others:
                stream = "Datastream" if entity.name == "Datastream" else "MultiDatastream"
                _check_stream_switch(conn, target, other, stream, entity_id, where)
        # HistoricalLocations given to this Thing: the Things they leave or join may move.
        moved = [
            (other, locations.history_thing(conn, other), locations.is_newest(conn, other))
            for other in (others if key == ("Thing", "HistoricalLocations") else ())
        ]
        other_table: Any = TABLES[target.name]
        moving = list(others) if target.name == "Observation" else []
        before = observation_streams(conn, moving)
        conn.execute(
            update(other_table)
            .where(other_table.c.id.in_(others))
            .values({OTHER_KEY[key]: entity_id})
        )
        _refresh_stream_features(conn, moving, before)
        record(conn, target.set_name, others, "update", ())
        for other, former, was_newest in moved:
            locations.after_history_changed(conn, other, former, was_newest)
    elif key == ("Thing", "Locations"):
        locations.move_thing(conn, entity_id, others, now)
    elif key == ("Location", "Things"):
        for thing in others:
            locations.move_thing(conn, thing, [entity_id], now)
    elif key == ("HistoricalLocation", "Locations"):
        locations.link_history(conn, entity_id, others)
    elif key == ("Location", "HistoricalLocations"):
        for history in others:
            locations.link_history(conn, history, [entity_id])
    elif key == ("MultiDatastream", "ObservedProperties") and list(others) == _measured(
        conn, entity_id
    ):
        return  # the same properties in the same order (a client restating them): no change
    else:
        raise ApiError(
            400,
            f"{where}: {entity.name}.{navigation} is fixed when the {entity.name} is created",
        )


def _measured(conn: Connection, multi_id: int) -> list[int]:
    """A MultiDatastream's ObservedProperties, in the order of its results."""
    link = multi_datastream_observed_properties.c
    rows = conn.execute(
        select(link.observed_property_id)
        .where(link.multi_datastream_id == multi_id)
        .order_by(link.position)
    )
    return [int(value) for value in rows.scalars()]


def _check_stream_switch(
    conn: Connection, entity: EntityType, entity_id: int, navigation: str, other: int, where: str
) -> None:
    """An Observation keeps its kind of stream, and a MultiDatastream result keeps fitting."""
    if entity.name != "Observation" or navigation not in ("Datastream", "MultiDatastream"):
        return
    row = conn.execute(
        select(observations.c.datastream_id, observations.c.result_json).where(
            observations.c.id == entity_id
        )
    ).one()
    is_multi = row.datastream_id is None
    if is_multi != (navigation == "MultiDatastream"):
        kind = "a MultiDatastream" if is_multi else "a Datastream"
        raise ApiError(400, f"{where}: Observation {entity_id} belongs to {kind}; it stays so")
    if is_multi:
        width = conn.execute(
            select(func.count())
            .select_from(multi_datastream_observed_properties)
            .where(multi_datastream_observed_properties.c.multi_datastream_id == other)
        ).scalar_one()
        result = row.result_json
        if not isinstance(result, list) or len(result) != width:
            raise ApiError(
                400,
                f"{where}: Observation {entity_id}'s result does not fit MultiDatastream {other}",
            )
