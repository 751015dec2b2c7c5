"""Creating entities, one or a whole deep-insert tree, inside one transaction (18-088 §10.2).

:class:`Creator` walks a :class:`~hub.sta.write.drafts.Draft`: entities a new one points to
(its Thing, Sensor, ObservedProperty, FeatureOfInterest, ...) are created or checked first,
then the new row, then what points back at it (a Thing's Datastreams, a Datastream's
Observations). Integrity rules are checked on the way: a Datastream needs a Thing, a Sensor and
an ObservedProperty; a MultiDatastream as many ObservedProperties as unitOfMeasurements; an
Observation exactly one stream, and a FeatureOfInterest (derived from the Thing's Location when
none is given); a HistoricalLocation a Thing and at least one Location. Any refusal is an
:class:`ApiError` that rolls the whole transaction back: all or nothing.

Observations are collected and written at the end in one batch, attributed to the archived
request (:func:`hub.store.api_writes.write_observations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from hub.sta.entities import EntityType, entity_by_name
from hub.sta.errors import ApiError
from hub.sta.paths import ResourcePath
from hub.sta.write import links, locations
from hub.sta.write.changes import record
from hub.sta.write.context import Outcome, WriteContext
from hub.sta.write.drafts import Draft, Ref
from hub.sta.write.models import TABLES, HistoricalLocationBody, ObservationBody
from hub.sta.write.targets import addressed_id
from hub.sta.write.values import check_array_result
from hub.store.api_writes import ApiObservation, write_observations
from hub.store.schema import (
    datastreams,
    multi_datastream_observed_properties,
    multi_datastreams,
)

OBSERVATION = entity_by_name("Observation")
# Parent links a create may get from its URL or enclosing entity: navigation -> id.
Implied = Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Pending:
    """An Observation queued for the batch write; its id exists after :meth:`Creator.flush`."""

    index: int


class Creator:
    """Creates drafts on one connection for one request (see the module docstring)."""

    def __init__(self, conn: Connection, context: WriteContext, raw: bytes) -> None:
        self.conn = conn
        self.context = context
        self.raw = raw
        self.features = locations.FeatureDeriver(conn)
        self._pending: list[ApiObservation] = []
        self._last_now = context.received_at - timedelta(microseconds=1)
        # A CreateObservations array names the same streams and features row after row.
        self._resolved: dict[Ref, int] = {}
        self._streams: dict[tuple[str, int], tuple[int, Any]] = {}

    # --- entry points ---------------------------------------------------------------------

    def create(self, draft: Draft, implied: Implied) -> int | Pending:
        """Create ``draft`` (and everything inline in it), linked to ``implied`` parents."""
        for name in implied:
            if draft.linked(name):
                raise ApiError(
                    400,
                    f"{draft.where}: {name} is given by the enclosing entity or URL; "
                    "leave it out of the payload",
                )
        makers = {
            "Thing": self._thing,
            "Location": self._location,
            "HistoricalLocation": self._history,
            "Datastream": self._datastream,
            "MultiDatastream": self._multi_datastream,
            "Sensor": self._sensor,
            "ObservedProperty": self._observed_property,
            "FeatureOfInterest": self._feature,
        }
        if draft.entity is OBSERVATION:
            return self._observation(draft, implied)
        return makers[draft.entity.name](draft, implied)

    def flush(self) -> list[int]:
        """Write the queued Observations; their ids in queue order."""
        pending, self._pending = self._pending, []
        ids = write_observations(self.conn, self.context.archive(self.raw), pending)
        record(self.conn, OBSERVATION.set_name, ids, "create")
        return ids

    # --- helpers ----------------------------------------------------------------------------

    def _insert(self, entity: EntityType, values: dict[str, Any]) -> int:
        table: Any = TABLES[entity.name]
        new_id = int(
            self.conn.execute(insert(table).values(values).returning(table.c.id)).scalar_one()
        )
        record(self.conn, entity.set_name, (new_id,), "create")
        return new_id

    def _ref(self, ref: Ref, where: str) -> int:
        found = self._resolved.get(ref)
        if found is None:
            found = self._resolved[ref] = self.context.resolve(self.conn, ref, where)
        return found

    def _stream(self, table: Any, stream_id: int) -> tuple[int, Any]:
        """(thing id, unitOfMeasurements or None) of a Datastream or MultiDatastream."""
        key = (table.name, stream_id)
        found = self._streams.get(key)
        if found is None:
            columns = [table.c.thing_id]
            if table is multi_datastreams:
                columns.append(table.c.unit_of_measurements)
            row = self.conn.execute(select(*columns).where(table.c.id == stream_id)).one()
            found = self._streams[key] = (int(row[0]), row[1] if len(row) > 1 else None)
        return found

    def _one(self, draft: Draft, navigation: str, implied: Implied) -> int | None:
        """The id behind a single-valued navigation: the parent, a link, or created inline."""
        if navigation in implied:
            return implied[navigation]
        items = draft.linked(navigation)
        if not items:
            return None
        item = items[0]
        if isinstance(item, Ref):
            return self._ref(item, f"{draft.where}/{navigation}")
        return self._create_one(item)

    def _many_existing(self, draft: Draft, navigation: str, implied: Implied) -> list[int]:
        """Ids of linked (not inline) entities under a collection navigation, and the parent."""
        ids = [
            self._ref(item, f"{draft.where}/{navigation}[{index}]")
            for index, item in enumerate(draft.linked(navigation))
            if isinstance(item, Ref)
        ]
        if navigation in implied:
            ids.append(implied[navigation])
        return ids

    def _children(self, draft: Draft, new_id: int, skip: tuple[str, ...] = ()) -> None:
        """Create inline entities under collections (linked back to ``new_id``) and bind the
        linked ones; association navigations named in ``skip`` are handled by the caller."""
        entity = draft.entity
        for navigation, items in draft.links.items():
            nav = entity.navigation(navigation)
            if not nav.to_many or navigation in skip:
                continue
            back = links.INVERSE.get((entity.name, navigation))
            existing: list[int] = []
            for index, item in enumerate(items):
                if isinstance(item, Ref):
                    existing.append(self._ref(item, f"{draft.where}/{navigation}[{index}]"))
                elif back is None:
                    raise ApiError(
                        400,
                        f"{item.where}: {nav.target.set_name} cannot be created inside a "
                        f"{entity.name}",
                    )
                else:
                    self.create(item, {back: new_id})
            if existing:
                links.bind(
                    self.conn,
                    entity,
                    new_id,
                    navigation,
                    existing,
                    self.context.received_at,
                    f"{draft.where}/{navigation}",
                )

    def _now(self) -> datetime:
        """The phenomenon time of an Observation posted without one: the time of the request,
        one microsecond apart for each so that several in one request stay several."""
        self._last_now = max(self._last_now + timedelta(microseconds=1), datetime.now(UTC))
        return self._last_now

    def _required(self, draft: Draft, navigation: str, implied: Implied) -> int:
        found = self._one(draft, navigation, implied)
        if found is None:
            raise ApiError(400, f"{draft.where}: a {draft.entity.name} needs a {navigation}")
        return found

    # --- one maker per entity type (chosen by create) -----------------------------------------

    def _thing(self, draft: Draft, implied: Implied) -> int:
        thing_id = self._insert(draft.entity, draft.body.columns())
        where = self._many_existing(draft, "Locations", implied)
        for item in draft.linked("Locations"):
            if isinstance(item, Draft):
                where.append(self._create_one(item))
        locations.move_thing(self.conn, thing_id, where, self.context.received_at)
        self._children(draft, thing_id, skip=("Locations",))
        return thing_id

    def _create_one(self, draft: Draft) -> int:
        """Create an inline entity that the caller links itself (never an Observation)."""
        created = self.create(draft, {})
        assert isinstance(created, int)
        return created

    def _location(self, draft: Draft, implied: Implied) -> int:
        location_id = self._insert(draft.entity, draft.body.columns())
        for thing_id in self._many_existing(draft, "Things", implied):
            locations.move_thing(self.conn, thing_id, [location_id], self.context.received_at)
        for item in draft.linked("Things"):
            if isinstance(item, Draft):
                self.create(item, {"Locations": location_id})
        histories = self._many_existing(draft, "HistoricalLocations", implied)
        for history_id in histories:
            locations.link_history(self.conn, history_id, [location_id])
        for item in draft.linked("HistoricalLocations"):
            if isinstance(item, Draft):
                self.create(item, {"Locations": location_id})
        return location_id

    def _history(self, draft: Draft, implied: Implied) -> int:
        thing_id = self._required(draft, "Thing", implied)
        where = self._many_existing(draft, "Locations", implied)
        inline = [item for item in draft.linked("Locations") if isinstance(item, Draft)]
        if not where and not inline:
            raise ApiError(400, f"{draft.where}: a HistoricalLocation needs at least one Location")
        body = draft.body
        assert isinstance(body, HistoricalLocationBody)
        values = {**body.columns(), "thing_id": thing_id}
        history_id = self._insert(draft.entity, values)
        for item in inline:
            where.append(self._create_one(item))
        # Linking its Locations moves the Thing when this is its newest HistoricalLocation.
        locations.link_history(self.conn, history_id, where)
        return history_id

    def _datastream(self, draft: Draft, implied: Implied) -> int:
        values = {
            **draft.body.columns(),
            "thing_id": self._required(draft, "Thing", implied),
            "sensor_id": self._required(draft, "Sensor", implied),
            "observed_property_id": self._required(draft, "ObservedProperty", implied),
        }
        datastream_id = self._insert(draft.entity, values)
        self._children(draft, datastream_id)
        return datastream_id

    def _multi_datastream(self, draft: Draft, implied: Implied) -> int:
        if "ObservedProperties" in implied:
            raise ApiError(
                400,
                f"{draft.where}: create a MultiDatastream with its ObservedProperties listed in "
                "order, not under one ObservedProperty",
            )
        values = {
            **draft.body.columns(),
            "thing_id": self._required(draft, "Thing", implied),
            "sensor_id": self._required(draft, "Sensor", implied),
        }
        properties = []
        for index, item in enumerate(draft.linked("ObservedProperties")):
            where = f"{draft.where}/ObservedProperties[{index}]"
            if isinstance(item, Ref):
                properties.append(self._ref(item, where))
            else:
                properties.append(self._create_one(item))
        units = values["unit_of_measurements"]
        if len(properties) != len(units):
            raise ApiError(
                400,
                f"{draft.where}: {len(properties)} ObservedProperties for {len(units)} "
                "unitOfMeasurements (they must match one to one, in order)",
            )
        md_id = self._insert(draft.entity, values)
        self.conn.execute(
            insert(multi_datastream_observed_properties),
            [
                {"multi_datastream_id": md_id, "position": position, "observed_property_id": op}
                for position, op in enumerate(properties)
            ],
        )
        self._children(draft, md_id, skip=("ObservedProperties",))
        return md_id

    def _sensor(self, draft: Draft, implied: Implied) -> int:
        sensor_id = self._insert(draft.entity, draft.body.columns())
        self._children(draft, sensor_id)
        return sensor_id

    def _observed_property(self, draft: Draft, implied: Implied) -> int:
        property_id = self._insert(draft.entity, draft.body.columns())
        self._children(draft, property_id)
        return property_id

    def _feature(self, draft: Draft, implied: Implied) -> int:
        feature_id = self._insert(draft.entity, draft.body.columns())
        self._children(draft, feature_id)
        return feature_id

    def _observation(self, draft: Draft, implied: Implied) -> Pending:
        body = draft.body
        assert isinstance(body, ObservationBody)
        datastream_id = self._one(draft, "Datastream", implied)
        multi_id = self._one(draft, "MultiDatastream", implied)
        if (datastream_id is None) == (multi_id is None):
            raise ApiError(
                400,
                f"{draft.where}: an Observation needs exactly one Datastream or MultiDatastream",
            )
        feature_id = self._one(draft, "FeatureOfInterest", implied)
        columns = body.columns()
        if multi_id is not None:
            thing_id, units = self._stream(multi_datastreams, multi_id)
            try:
                check_array_result(body.result, units)
            except ValueError as exc:
                raise ApiError(400, f"{draft.where}: {exc}") from None
        else:
            assert datastream_id is not None
            thing_id, _units = self._stream(datastreams, datastream_id)
        if feature_id is None:
            feature_id = self.features.for_thing(thing_id)
        if "phenomenon_time_start" not in columns:
            columns["phenomenon_time_start"] = columns["phenomenon_time_end"] = self._now()
        self._pending.append(
            ApiObservation(
                datastream_id=datastream_id,
                multi_datastream_id=multi_id,
                feature_of_interest_id=feature_id,
                phenomenon_time_start=columns["phenomenon_time_start"],
                phenomenon_time_end=columns["phenomenon_time_end"],
                result_time=columns["result_time"],
                result=columns["result"],
                result_json=columns["result_json"],
                result_quality=columns["result_quality"],
                result_quality_json=columns["result_quality_json"],
                valid_time_start=columns["valid_time_start"],
                valid_time_end=columns["valid_time_end"],
                parameters=columns["parameters"],
            )
        )
        return Pending(len(self._pending) - 1)


@dataclass(frozen=True, slots=True)
class CreateEntity:
    """POST of one entity (maybe a deep insert) to a collection, or to a navigation collection
    (``parent`` the entity navigated from, ``back`` the new entity's navigation to it)."""

    draft: Draft
    raw: bytes
    parent: ResourcePath | None = None
    back: str | None = None

    @property
    def writes_observations(self) -> bool:
        return _has_observations(self.draft)

    def run(self, conn: Connection, context: WriteContext) -> Outcome:
        implied: dict[str, int] = {}
        if self.parent is not None:
            assert self.back is not None
            implied[self.back] = addressed_id(conn, self.parent)
        creator = Creator(conn, context, self.raw)
        created = creator.create(self.draft, implied)
        ids = creator.flush()
        entity_id = ids[created.index] if isinstance(created, Pending) else created
        return Outcome(201, self.draft.entity, entity_id)


def _has_observations(draft: Draft) -> bool:
    if draft.entity is OBSERVATION:
        return True
    return any(
        isinstance(item, Draft) and _has_observations(item)
        for items in draft.links.values()
        for item in items
    )
