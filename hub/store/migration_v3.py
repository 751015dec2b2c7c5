"""Schema step 3: the users who may write, and their bearer tokens (see :func:`apply`)."""

from __future__ import annotations

from sqlalchemy import Connection

# Importing the module puts the tables on the shared ``metadata``, so step 1's create_all
# makes them on a fresh database.
from hub.store.users import api_tokens, users


def apply(conn: Connection) -> None:
    """Bring a version-2 database to version 3. Idempotent: a fresh database already has the
    version-3 tables from ``metadata.create_all`` in step 1."""
    users.create(conn, checkfirst=True)
    api_tokens.create(conn, checkfirst=True)
