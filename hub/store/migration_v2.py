"""Schema step 2: what the SensorThings write path needs (see :func:`apply`)."""

from __future__ import annotations

from sqlalchemy import Connection


def apply(conn: Connection) -> None:
    """Bring a version-1 database to version 2. Idempotent: a fresh database already has the
    version-2 tables and columns from ``metadata.create_all`` in step 1."""
