"""Which stored entity a write URL addresses (``Things(1)``, ``Things(1)/Datastreams(2)``).

One-segment paths are looked up here (every entity type, MultiDatastreams included); nested
paths go through the read path's resolution (:func:`hub.sta.query.fetch_entity`), so a write
addresses exactly what a GET of the same URL would return.
"""

from __future__ import annotations

from sqlalchemy import Connection

from hub.sta.errors import ApiError
from hub.sta.paths import ResourcePath
from hub.sta.query import fetch_entity
from hub.sta.write.links import exists


def addressed_id(conn: Connection, path: ResourcePath) -> int:
    """The id of the one entity ``path`` addresses, or 404."""
    entity = path.entity
    assert entity is not None
    last = path.segments[-1]
    if len(path.segments) == 1:
        assert last.id is not None
        if not exists(conn, entity, last.id):
            raise ApiError(404, f"no {entity.name} with id {last.id}")
        return last.id
    row = fetch_entity(conn, path)
    if row is None:
        raise ApiError(404, f"no {entity.name} at this path")
    return int(row._mapping["id"])


def parent_path(path: ResourcePath) -> ResourcePath:
    """The path of the entity a collection path navigates from (``Things(1)`` of
    ``Things(1)/Datastreams``)."""
    return ResourcePath(path.segments[:-1])
