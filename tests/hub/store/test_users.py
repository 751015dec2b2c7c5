"""The users and api_tokens tables: created fresh by step 1, added to old databases by step 3."""

from __future__ import annotations

from sqlalchemy import delete, inspect

from hub.store import LATEST_VERSION, Store, migration_v3
from hub.store.schema import schema_migrations
from hub.store.users import add_user, api_tokens, list_users, users


def test_fresh_database_has_the_tables_and_no_users(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        assert {"users", "api_tokens"} <= tables
        assert store.schema_version() == LATEST_VERSION >= 3
        assert list_users(store) == []
    finally:
        store.close()


def test_version_2_database_is_upgraded(store_url: str) -> None:
    store = Store.open(store_url)
    # Make it what a version-2 hub left behind: no user tables, no step 3 recorded.
    with store.engine.begin() as conn:
        api_tokens.drop(conn)
        users.drop(conn)
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 3))
    assert store.schema_version() == 2
    store.close()
    store = Store.open(store_url)
    try:
        assert store.schema_version() == LATEST_VERSION
        add_user(store, "ops", "admin", "pw")
        assert [u.name for u in list_users(store)] == ["ops"]
        # Idempotent: running the step again on an upgraded database changes nothing.
        with store.engine.begin() as conn:
            migration_v3.apply(conn)
            migration_v3.apply(conn)
        assert [u.name for u in list_users(store)] == ["ops"]
    finally:
        store.close()
