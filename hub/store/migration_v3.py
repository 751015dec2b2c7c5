"""Schema step 3: the users who may write, their bearer tokens and broker secrets (see
:func:`apply`)."""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

# Importing the module puts the tables on the shared ``metadata``, so step 1's create_all
# makes them on a fresh database.
from hub.store.users import api_tokens, users

# Constant DDL (no input reaches it). Databases made by development builds of step 3 have the
# users table without this column.
_ADD_BROKER_HASH = "ALTER TABLE users ADD COLUMN broker_hash VARCHAR(200)"


def apply(conn: Connection) -> None:
    """Bring a version-2 database to version 3. Idempotent: a fresh database already has the
    version-3 tables from ``metadata.create_all`` in step 1."""
    users.create(conn, checkfirst=True)
    api_tokens.create(conn, checkfirst=True)
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    if "broker_hash" not in columns:
        conn.execute(text(_ADD_BROKER_HASH))
