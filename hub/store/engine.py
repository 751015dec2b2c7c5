"""Engines for the two supported stores: SQLite (embedded default) and PostgreSQL + PostGIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from hub.store import jsoncodec, sqlite_functions


class StoreError(Exception):
    """The store cannot be used as asked (bad URL, unsupported backend, newer schema)."""


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# Constant statements (PRAGMA takes no bound parameters): the mapping is address space only,
# the OS pages in what is read (asked: 64 GiB; the library caps it at its build maximum, 2 GiB
# for Debian's); the private cache is per connection (64 MiB).
_PRAGMA_MMAP = "PRAGMA mmap_size=68719476736"
_PRAGMA_CACHE = "PRAGMA cache_size=-65536"


def default_url(data_dir: Path) -> str:
    """The embedded default: one SQLite file in the data directory."""
    return f"sqlite:///{(data_dir / 'auasu.sqlite3').resolve()}"


def make_engine(url: str) -> Engine:
    """Create an engine with the durability settings an acknowledgement relies on."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError variants
        raise StoreError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_pre_ping=True,
            json_deserializer=jsoncodec.loads,
            pool_size=5,
            max_overflow=5,
            # A statement that waits on a lock or a dead server must not hang a writer forever.
            # A UTC session makes psycopg hand back datetimes already in datetime.UTC, which
            # hub.store.types passes through instead of converting every value it reads.
            connect_args={
                "connect_timeout": 5,
                "options": "-c statement_timeout=60000 -c timezone=UTC",
            },
        )
    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 30}, json_deserializer=jsoncodec.loads)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling leaves DDL outside transactions and upgrades read
    # locks lazily; we issue BEGIN ourselves. Writers ask for IMMEDIATE so two processes
    # never both read and then fight over the write lock.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; FULL syncs the WAL at every commit,
    # which is what makes "acknowledged" mean "survives power loss" (reliability.md §3.2).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Reads of a large store are B-tree descents over pages the OS already caches: mapping
    # the file saves a read() system call and a copy per page, and a larger private cache
    # keeps the upper index levels. Both are ceilings, not allocations.
    cursor.execute(_PRAGMA_MMAP)
    cursor.execute(_PRAGMA_CACHE)
    cursor.close()
    sqlite_functions.register(dbapi_connection)
