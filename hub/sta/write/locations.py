"""Where Things are: their current Locations, HistoricalLocations and derived features.

Three automatic behaviours of 18-088 (``sta.md`` §1.5):

* a Thing that gets new Locations (created with them, linked to them by an update, or named by
  a new Location) has its current Locations *replaced* by them and gets a HistoricalLocation
  recording the move, as FROST-Server does;
* a HistoricalLocation posted with a time later than the Thing's latest one moves the Thing to
  that HistoricalLocation's Locations (and no second HistoricalLocation is made);
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

from sqlalchemy import Connection, delete, func, insert, select

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
    """Add Locations to a HistoricalLocation (those already linked are skipped)."""
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


def after_history_posted(conn: Connection, history_id: int, thing_id: int, time: datetime) -> None:
    """A HistoricalLocation was created: when it is the Thing's newest, the Thing now is
    where it says (18-088 §10.2, historical-location-manual-creation)."""
    later = conn.execute(
        select(func.count())
        .select_from(historical_locations)
        .where(
            historical_locations.c.thing_id == thing_id,
            historical_locations.c.id != history_id,
            historical_locations.c.time >= time,
        )
    ).scalar_one()
    if later:
        return
    where = conn.execute(
        select(historical_location_locations.c.location_id).where(
            historical_location_locations.c.historical_location_id == history_id
        )
    ).scalars()
    wanted = sorted({int(value) for value in where})
    if wanted and wanted != current_locations(conn, thing_id):
        _set_current(conn, thing_id, wanted)


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
