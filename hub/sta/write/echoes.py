"""Related entities restated inline in an update without ``@iot.id``: echoes.

18-088 §10.3 forbids related entities inline in an update: an update binds existing entities
(``{"@iot.id": n}``) and never creates them. ``frost-sta-client``'s ``update()`` (a PUT of the
whole entity object) re-sends everything the object holds, and after a deep insert that is
every inline child as it was created, without an id: the client learns only the top entity's
id, from the ``Location`` header. FROST-Server answers such a body with 404 ("no id"). The hub
accepts it under rules that keep "an update creates and changes no related entity" true:

* a related entity given with ``@iot.id`` is a link; any other fields it carries are ignored,
  whether or not they match the stored entity (as FROST-Server does: an update is never a deep
  update; a related entity is changed at its own URL);
* one given without ``@iot.id`` is an *echo*. It must restate an entity already related
  through that navigation: merged into that entity as a PATCH would be, it changes nothing.
  It then stands for that entity. A navigation listing only echoes is left as it is; one that
  also holds links is bound as if each echo were a link to the entity it restates. What an echo
  holds under its own navigations is not looked at;
* anything else, a new entity or a related one with changed properties, is a 400 that says
  which: deep insert is not allowed in an update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Select

from hub.sta.entities import ID_ALIAS, EntityType
from hub.sta.errors import ApiError
from hub.sta.write import links, values
from hub.sta.write.drafts import Echo
from hub.sta.write.models import TABLES, column_length, representation, validate

# Related entities compared with one echo. The query is narrowed by the echo's name or
# phenomenon time first, so only a pathological set of look-alikes reaches this.
MAX_CANDIDATES = 100


def identify(
    conn: Connection, entity: EntityType, entity_id: int, navigation: str, echo: Echo
) -> int:
    """The id of the entity related to ``entity_id`` through ``navigation`` that ``echo``
    restates unchanged, or a 400 saying that an update does not create or change it."""
    target = echo.target
    table: Any = TABLES[target.name]
    query = _narrow(links.related(entity, entity_id, navigation), table, echo.plain)
    rows = conn.execute(query.order_by(table.c.id).limit(MAX_CANDIDATES)).mappings()
    for row in rows:
        if _restates(target, row, echo):
            return int(row["id"])
    raise ApiError(
        400,
        f"{echo.where}: this {target.name} has no {ID_ALIAS} and is not one of the "
        f"{entity.name}'s {navigation} as stored; an update links existing entities by "
        f"{ID_ALIAS} and cannot create or change them inline (update a related entity at its "
        "own URL)",
    )


def _restates(target: EntityType, row: Any, echo: Echo) -> bool:
    """Whether ``echo`` merged into the stored ``row`` leaves its stored columns as they are."""
    current = representation(target, row)
    try:
        stored = validate(target, current).columns()
    except ApiError:
        return False  # a row the API's model would not accept (registry-made); not restated
    # An echo that is not a valid patch (unknown or malformed property) is refused as such.
    merged = validate(target, {**current, **echo.plain}, echo.where).columns()
    return merged == stored


def _narrow(query: Select[Any], table: Any, plain: Mapping[str, Any]) -> Select[Any]:
    """Only the related rows that can match: same name, or same phenomenon time. Values the
    store could not compare (too long, NUL, unpaired surrogates) narrow nothing."""
    name = plain.get("name")
    if "name" in table.c and _comparable(name, column_length(table, "name")):
        query = query.where(table.c.name == name)
    if "phenomenon_time_start" in table.c:
        try:
            span = values.interval(plain.get("phenomenonTime"))
        except ValueError:
            return query  # absent or malformed: the comparison decides (and names the problem)
        query = query.where(
            table.c.phenomenon_time_start == span.start,
            table.c.phenomenon_time_end == span.end,
        )
    return query


def _comparable(text: Any, limit: int) -> bool:
    if not isinstance(text, str) or len(text) > limit or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
