"""``column IN (ids)`` for thousands of ids as *one* bound parameter.

Expanding a page (4,000 Datastreams of the map query) binds every parent id. As an ``IN (?, ?,
...)`` list that is thousands of parameters, which SQLAlchemy renders and psycopg re-parses on
every request (tens of milliseconds, more than the query itself on PostgreSQL). One parameter
instead: ``= ANY(:ids::bigint[])`` on PostgreSQL, ``IN (SELECT value FROM json_each(:ids))``
on SQLite (a JSON array of integers). Both planners still look each id up in the index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

# Ids per statement; the parameter count no longer grows with it, so this only bounds memory.
CHUNK = 5000


def id_in(dialect: str, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids`` (integers), with the ids bound as a single parameter."""
    values = [int(i) for i in ids]
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(BigInteger())))  # type: ignore[no-any-return]
    each = func.json_each(bindparam(None, json.dumps(values), type_=String())).table_valued("value")
    return column.in_(select(each.c.value))  # type: ignore[no-any-return]


def chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    """``ids`` in slices of at most :data:`CHUNK`."""
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
