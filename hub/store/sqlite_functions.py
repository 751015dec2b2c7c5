"""SQL functions the hub registers on every SQLite connection (PostgreSQL has them built in)."""

from __future__ import annotations

from typing import Any


def register(dbapi_connection: Any) -> None:
    """Register the hub's SQL functions on one raw ``sqlite3`` connection."""
