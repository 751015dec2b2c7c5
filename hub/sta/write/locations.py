"""Where Things are: their current Locations, HistoricalLocations and derived features.

Three automatic behaviours of 18-088 (``sta.md`` §1.5):

* a Thing that gets new Locations (created with them, linked to them by an update, or named by
  a new Location) has its current Locations *replaced* by them and gets a HistoricalLocation
  recording the move, as FROST-Server does;
* the Thing's current Locations are those of its *newest* HistoricalLocation: the one with the
  latest ``time``, of equal times the one recorded last (a total order, so "newest" never
  depends on how the database breaks a tie). Whatever changes which HistoricalLocation is the
  newest, or what the newest one says, makes the Thing follow it (:func:`follow_newest`):
  posting one dated after the others (no second HistoricalLocation is made), changing a
  ``time`` so that it becomes or stops being the newest, moving one to another Thing, adding
  Locations to the newest, deleting the newest (the Thing goes back to where the newest
  remaining one says; with none left it stays where it is, since deleting a record of a move
  does not make the Thing be nowhere);
* an Observation created without a FeatureOfInterest gets the one generated from its Thing's
  current Location: found again by the key ``location:<id>:<digest of the geometry>`` (so a
  Location whose geometry changed yields a new feature), or created from the Location's name,
  description, properties and geometry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from hub.sta.errors import ApiError
from hub.sta.write.changes import record
from hub.sta.write.values import GEOJSON, GEOJSON_TYPES
from hub.store.batches import dialect_insert
from hub.store.schema import (
    features_of_interest,
    historical_location_locations,
    historical_locations,
    locations,
    thing_locations,
)


def current_locations(conn: Connection, thing_id: int) -> list[int]:
    rows = conn.execute(
        select(thing_locations.c.location_id)
        .where(thing_locations.c.thing_id == thing_id)
        .order_by(thing_locations.c.location_id)
    )
    return [int(value) for value in rows.scalars()]


def move_thing(conn: Connection, thing_id: int, location_ids: Iterable[int], now: datetime) -> None:
    """Make ``location_ids`` the Thing's current Locations and record a HistoricalLocation
    (nothing changes when they already are)."""
    wanted = sorted(set(location_ids))
    if not wanted or wanted == current_locations(conn, thing_id):
        return
    _set_current(conn, thing_id, wanted)
    history_id = conn.execute(
        insert(historical_locations)
        .values(thing_id=thing_id, time=now)
        .returning(historical_locations.c.id)
    ).scalar_one()
    record(conn, "HistoricalLocations", (int(history_id),), "create")
    link_history(conn, int(history_id), wanted)


def _set_current(conn: Connection, thing_id: int, location_ids: list[int]) -> None:
    conn.execute(delete(thing_locations).where(thing_locations.c.thing_id == thing_id))
    conn.execute(
        insert(thing_locations),
        [{"thing_id": thing_id, "location_id": location_id} for location_id in location_ids],
    )


def link_history(conn: Connection, history_id: int, location_ids: Iterable[int]) -> None:
    """Add Locations to a HistoricalLocation (those already linked are skipped); when it is its
    Thing's newest, the Thing is now there too."""
    wanted = set(location_ids)
    if not wanted:
        return
    existing = set(
        conn.execute(
            select(historical_location_locations.c.location_id).where(
                historical_location_locations.c.historical_location_id == history_id
            )
        ).scalars()
    )
    rows = [
        {"historical_location_id": history_id, "location_id": location_id}
        for location_id in sorted(wanted - existing)
    ]
    if rows:
        conn.execute(insert(historical_location_locations), rows)
        after_history_posted(conn, history_id, history_thing(conn, history_id))


def newest_history(conn: Connection, thing_id: int) -> int | None:
    """The id of the Thing's newest HistoricalLocation (latest time, then latest recorded)."""
    history = historical_locations.c
    found = conn.execute(
        select(history.id)
        .where(history.thing_id == thing_id)
        .order_by(history.time.desc(), history.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def history_places(conn: Connection, history_id: int) -> list[int]:
    """The Locations of a HistoricalLocation, by id."""
    link = historical_location_locations.c
    rows = conn.execute(
        select(link.location_id)
        .where(link.historical_location_id == history_id)
        .order_by(link.location_id)
    )
    return [int(value) for value in rows.scalars()]


def history_thing(conn: Connection, history_id: int) -> int:
    """The Thing a HistoricalLocation belongs to."""
    history = historical_locations.c
    return int(conn.execute(select(history.thing_id).where(history.id == history_id)).scalar_one())


def is_newest(conn: Connection, history_id: int) -> bool:
    """Whether a HistoricalLocation is its Thing's newest."""
    return newest_history(conn, history_thing(conn, history_id)) == history_id


def follow_newest(conn: Connection, thing_id: int) -> None:
    """Make the Thing's current Locations those of its newest HistoricalLocation. A Thing
    without history, or whose newest HistoricalLocation names no Location, stays where it is."""
    newest = newest_history(conn, thing_id)
    if newest is None:
        return
    wanted = history_places(conn, newest)
    if wanted and wanted != current_locations(conn, thing_id):
        _set_current(conn, thing_id, wanted)


def after_history_posted(conn: Connection, history_id: int, thing_id: int) -> None:
    """A HistoricalLocation was created or got Locations: when it is the Thing's newest, the
    Thing now is where it says (18-088 §10.2, historical-location-manual-creation)."""
    if newest_history(conn, thing_id) == history_id:
        follow_newest(conn, thing_id)


def after_history_changed(
    conn: Connection, history_id: int, former_thing: int, was_newest: bool
) -> None:
    """A HistoricalLocation's time, Thing or Locations changed. The Thing whose newest it was
    follows its (possibly other) newest now; the Thing it belongs to now follows it when it is
    that Thing's newest. Things it neither was nor is the newest of are left alone."""
    thing_id = history_thing(conn, history_id)
    touched = {former_thing} if was_newest else set()
    if newest_history(conn, thing_id) == history_id:
        touched.add(thing_id)
    for thing in sorted(touched):
        follow_newest(conn, thing)


def before_history_deleted(conn: Connection, history_id: int) -> int | None:
    """The Thing that must follow its newest remaining HistoricalLocation once ``history_id``
    is deleted (None when ``history_id`` is not its newest: nothing changes then)."""
    return history_thing(conn, history_id) if is_newest(conn, history_id) else None


class FeatureDeriver:
    """Finds or makes the FeatureOfInterest of a Thing's current Location (cached per Thing
    for one request: a CreateObservations array often repeats the same Thing)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._by_thing: dict[int, int] = {}

    def for_thing(self, thing_id: int) -> int:
        found = self._by_thing.get(thing_id)
        if found is None:
            found = self._by_thing[thing_id] = self._derive(thing_id)
        return found

    def _derive(self, thing_id: int) -> int:
        row = self.conn.execute(
            select(locations)
            .join(thing_locations, thing_locations.c.location_id == locations.c.id)
            .where(
                thing_locations.c.thing_id == thing_id,
                locations.c.encoding_type.in_(GEOJSON_TYPES),
            )
            .order_by(locations.c.id)  # several encodings: the first GeoJSON one is the default
            .limit(1)
        ).first()
        if row is None:
            raise ApiError(
                400,
                "the Observation has no FeatureOfInterest and its Thing has no GeoJSON Location "
                "to derive one from: link or include a FeatureOfInterest",
            )
        geometry = json.dumps(row.location, sort_keys=True, separators=(",", ":"))
        key = f"location:{row.id}:{hashlib.sha256(geometry.encode()).hexdigest()[:16]}"
        query = select(features_of_interest.c.id).where(features_of_interest.c.key == key)
        existing = self.conn.execute(query).scalar()
        if existing is not None:
            return int(existing)
        # ON CONFLICT: a concurrent writer (another hub on the same database) may derive the
        # same feature at the same moment.
        inserted = self.conn.execute(
            dialect_insert(self.conn, features_of_interest)
            .values(
                key=key,
                name=row.name,
                description=row.description,
                encoding_type=GEOJSON,
                feature=row.location,
                properties=row.properties,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        feature_id = int(self.conn.execute(query).scalar_one())
        if inserted.rowcount:
            record(self.conn, "FeaturesOfInterest", (feature_id,), "create")
        return feature_id
