"""Schema step 3: the users who may write (see :func:`apply`)."""

from __future__ import annotations

from sqlalchemy import Connection


def apply(conn: Connection) -> None:
    """Bring a version-2 database to version 3. Idempotent: a fresh database already has the
    version-3 tables from ``metadata.create_all`` in step 1."""
