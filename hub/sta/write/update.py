"""Updating an entity: PATCH (merge), PUT (replace) and JSON Patch (18-088 §10.3).

All three end the same way: the entity's full set of plain properties is validated by its
model (so a PATCH cannot leave an entity that a create would refuse), written, and the binding
links in the payload applied (:func:`hub.sta.write.links.bind`).

Related entities in the payload (under a navigation property) are read by one rule, so that a
client re-sending a whole entity object, as ``frost-sta-client``'s ``update()`` does, is
understood and nothing is created behind its back:

* with ``@iot.id`` it is a link, even when it carries other fields: they are ignored, changed
  or not (as FROST-Server does; a related entity is updated at its own URL);
* without ``@iot.id`` it must restate, unchanged, an entity already related through that
  navigation (an *echo*, :mod:`hub.sta.write.echoes`), and stands for it; a navigation of
  echoes only is left as it is;
* anything else (a new entity inline, or a related one with changes and no id) is a 400: an
  update is never a deep insert.

* PATCH merges the payload's top-level properties into the stored ones (a JSON object such as
  ``properties`` is replaced as a whole, as FROST-Server does);
* PUT replaces them: a mandatory property missing is a 400, an optional one is cleared;
* JSON Patch (``application/json-patch+json``, RFC 6902) edits the stored properties; a patch
  that touches anything else is refused.

Updating an Observation archives the request like any observation write and makes it the
observation's raw frame, so its provenance points at the edit.

Updating a HistoricalLocation (its ``time``, its Thing or its Locations) keeps the Things'
current Locations those of their newest HistoricalLocation: the Thing whose newest it was or
has become follows (:func:`hub.sta.write.locations.after_history_changed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import jsonpatch
import jsonpointer
from sqlalchemy import Connection, func, select, update

from hub.sta.entities import EntityType
from hub.sta.errors import ApiError
from hub.sta.paths import ResourcePath
from hub.sta.write import echoes, links, locations
from hub.sta.write.changes import record
from hub.sta.write.context import Outcome, WriteContext
from hub.sta.write.drafts import Echo, Ref
from hub.sta.write.models import TABLES, representation, validate
from hub.sta.write.targets import addressed_id
from hub.sta.write.values import check_array_result
from hub.store.api_writes import archive_request
from hub.store.schema import multi_datastream_observed_properties, multi_datastreams

Mode = Literal["merge", "replace", "json-patch"]
MAX_PATCH_OPERATIONS = 1000


@dataclass(frozen=True, slots=True)
class UpdateEntity:
    """A validated PATCH/PUT/JSON Patch of the entity ``path`` addresses."""

    path: ResourcePath
    mode: Mode
    raw: bytes
    plain: dict[str, Any] = field(default_factory=dict)
    links: dict[str, list[Ref | Echo]] = field(default_factory=dict)
    patch: list[Any] = field(default_factory=list)

    @property
    def entity(self) -> EntityType:
        entity = self.path.entity
        assert entity is not None
        return entity

    @property
    def writes_observations(self) -> bool:
        return self.entity.name == "Observation"

    def run(self, conn: Connection, context: WriteContext) -> Outcome:
        entity = self.entity
        entity_id = addressed_id(conn, self.path)
        table: Any = TABLES[entity.name]
        row = conn.execute(select(table).where(table.c.id == entity_id)).mappings().one()
        current = representation(entity, row)
        # Echoes name entities related *before* this update.
        bindings = self._resolve_links(conn, context, entity_id)
        history = None
        if entity.name == "HistoricalLocation":
            history = (int(row["thing_id"]), locations.is_newest(conn, entity_id))
        if self.mode == "merge":
            wanted = {**current, **self.plain}
        elif self.mode == "replace":
            wanted = dict(self.plain)
            if entity.name == "Observation" and "phenomenonTime" not in wanted:
                # Mandatory in the model, only defaulted on create (sta.md §1.5: PUT without a
                # non-nullable property is a 400).
                raise ApiError(400, "Observation: missing mandatory property 'phenomenonTime'")
        else:
            wanted = _apply_patch(current, self.patch)
        body = validate(entity, wanted)
        values = body.columns()
        if entity.name == "Observation":
            rebound = "MultiDatastream" in bindings  # then the binding checks the width
            values = self._observation_values(conn, context, row, values, rebound)
        elif entity.name == "MultiDatastream":
            _check_width(conn, entity_id, len(values["unit_of_measurements"]))
        conn.execute(update(table).where(table.c.id == entity_id).values(values))
        after = representation(entity, {**row, **values})
        changed = [name for name in {**current, **after} if current.get(name) != after.get(name)]
        record(conn, entity.set_name, (entity_id,), "update", changed)
        for navigation, ids in bindings.items():
            where = f"{entity.name}/{navigation}"
            links.bind(conn, entity, entity_id, navigation, ids, context.received_at, where)
        if history is not None:
            locations.after_history_changed(conn, entity_id, *history)
        return Outcome(200, entity, entity_id)

    def _resolve_links(
        self, conn: Connection, context: WriteContext, entity_id: int
    ) -> dict[str, list[int]]:
        """The ids to bind per navigation: links checked to exist, echoes identified. A
        navigation holding only echoes binds nothing (it already is as they say)."""
        bindings: dict[str, list[int]] = {}
        for navigation, items in self.links.items():
            where = f"{self.entity.name}/{navigation}"
            ids = [
                context.resolve(conn, item, where)
                if isinstance(item, Ref)
                else echoes.identify(conn, self.entity, entity_id, navigation, item)
                for item in items
            ]
            if any(isinstance(item, Ref) for item in items):
                bindings[navigation] = ids
        return bindings

    def _observation_values(
        self,
        conn: Connection,
        context: WriteContext,
        row: Any,
        values: dict[str, Any],
        rebound: bool,
    ) -> dict[str, Any]:
        multi_id = row["multi_datastream_id"]
        if multi_id is not None and not rebound:
            units = conn.execute(
                select(multi_datastreams.c.unit_of_measurements).where(
                    multi_datastreams.c.id == multi_id
                )
            ).scalar_one()
            result = values["result_json"]
            try:
                check_array_result(result, units)
            except ValueError as exc:
                raise ApiError(400, f"Observation: {exc}") from None
        values["frame_id"] = archive_request(conn, context.archive(self.raw), 1)
        return values


def _check_width(conn: Connection, multi_id: int, units: int) -> None:
    """A MultiDatastream keeps one unit per ObservedProperty (its results keep their width)."""
    link = multi_datastream_observed_properties.c
    width = conn.execute(
        select(func.count())
        .select_from(multi_datastream_observed_properties)
        .where(link.multi_datastream_id == multi_id)
    ).scalar_one()
    if units != width:
        raise ApiError(
            400,
            f"MultiDatastream: {units} unitOfMeasurements for {width} ObservedProperties "
            "(they must match one to one)",
        )


def _apply_patch(current: dict[str, Any], patch: list[Any]) -> dict[str, Any]:
    """RFC 6902 operations applied to the stored properties (400 when they do not apply)."""
    if len(patch) > MAX_PATCH_OPERATIONS:
        raise ApiError(400, f"a JSON Patch may hold at most {MAX_PATCH_OPERATIONS} operations")
    for index, operation in enumerate(patch):
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise ApiError(400, f"JSON Patch operation {index} needs an 'op' and a 'path'")
    try:
        result = jsonpatch.JsonPatch(patch).apply(current)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ApiError(400, f"the JSON Patch does not apply: {exc}") from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ApiError(400, f"malformed JSON Patch: {exc}") from None
    if not isinstance(result, dict):
        raise ApiError(400, "the JSON Patch must leave an object of properties")
    return result
