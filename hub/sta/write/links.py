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
a unit of measurement and to every stored result array): creating is the only way to set it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from hub.sta.entities import EntityType
from hub.sta.errors import ApiError
from hub.sta.write import locations
from hub.sta.write.changes import record
from hub.sta.write.models import TABLES
from hub.store.schema import multi_datastream_observed_properties, observations

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
        conn.execute(update(table).where(table.c.id == entity_id).values({OWN_KEY[key]: other}))
        # A new link, no property changed: entity topics are told, property topics are not.
        record(conn, entity.set_name, (entity_id,), "update", ())
    elif key in OTHER_KEY:
        target = entity.navigation(navigation).target
        if key == ("Datastream", "Observations") or key == ("MultiDatastream", "Observations"):
            for other in others:
                stream = "Datastream" if entity.name == "Datastream" else "MultiDatastream"
                _check_stream_switch(conn, target, other, stream, entity_id, where)
        other_table: Any = TABLES[target.name]
        conn.execute(
            update(other_table)
            .where(other_table.c.id.in_(others))
            .values({OTHER_KEY[key]: entity_id})
        )
        record(conn, target.set_name, others, "update", ())
        if key == ("Thing", "HistoricalLocations"):
            for other in others:
                _replay_history(conn, other)
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
    else:
        raise ApiError(
            400,
            f"{where}: {entity.name}.{navigation} is fixed when the {entity.name} is created",
        )


def _replay_history(conn: Connection, history_id: int) -> None:
    """A HistoricalLocation moved to another Thing may now be that Thing's newest."""
    row = conn.execute(
        select(TABLES["HistoricalLocation"].c.thing_id, TABLES["HistoricalLocation"].c.time).where(
            TABLES["HistoricalLocation"].c.id == history_id
        )
    ).one()
    locations.after_history_posted(conn, history_id, int(row.thing_id), row.time)


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
