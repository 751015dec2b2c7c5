"""The users and api_tokens tables: created fresh by step 1, added to old databases by step 3."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, inspect, text, update

from hub.sta.mqtt.broker import hash_password
from hub.store import LATEST_VERSION, Store, migration_v3
from hub.store.schema import schema_migrations, stream_feature_prunes, stream_features
from hub.store.users import (
    UserError,
    add_user,
    api_tokens,
    broker_accounts,
    list_users,
    set_broker_hash,
    users,
)


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
    # Make it what a version-2 hub left behind: no user tables (nor the later steps' tables),
    # no step 3 or later recorded.
    with store.engine.begin() as conn:
        stream_feature_prunes.drop(conn)
        stream_features.drop(conn)
        api_tokens.drop(conn)
        users.drop(conn)
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version >= 3))
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


def test_a_step_3_database_without_broker_hashes_gets_the_column(store_url: str) -> None:
    # What a development build of step 3 left behind: users without the broker_hash column.
    store = Store.open(store_url)
    add_user(store, "ops", "admin", "pw")
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE users DROP COLUMN broker_hash"))
    try:
        with store.engine.begin() as conn:
            migration_v3.apply(conn)
            migration_v3.apply(conn)  # idempotent
            columns = {c["name"] for c in inspect(conn).get_columns("users")}
        assert "broker_hash" in columns
        assert [(u.name, u.mqtt) for u in list_users(store)] == [("ops", False)]
    finally:
        store.close()


def test_broker_accounts_are_the_enabled_users_with_a_secret(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        for name, role in (("ann", "create"), ("bob", "read"), ("cid", "admin"), ("dot", "update")):
            add_user(store, name, role, "pw")
        hashed = {
            name: hash_password(f"{name}-secret-0123456789") for name in ("ann", "bob", "cid")
        }
        for name, value in hashed.items():
            set_broker_hash(store, name, value)
        with store.engine.begin() as conn:  # cid is disabled: not a broker account either
            conn.execute(update(users).where(users.c.name == "cid").values(disabled=True))
        accounts = broker_accounts(store)
        assert [(a.name, a.role, a.broker_hash) for a in accounts] == [
            ("ann", "create", hashed["ann"]),
            ("bob", "read", hashed["bob"]),
        ]
        set_broker_hash(store, "ann", None)
        assert [a.name for a in broker_accounts(store)] == ["bob"]
        with pytest.raises(UserError, match="no user named"):
            set_broker_hash(store, "nobody", hashed["bob"])
        # Only Mosquitto $7$ lines: the files are line based, and nothing else is checkable.
        for bad in ("plain", "$6$salt$hash", hashed["bob"] + "\nroot:x", "$7$1$a b$c"):
            with pytest.raises(UserError, match="not a Mosquitto"):
                set_broker_hash(store, "bob", bad)
    finally:
        store.close()
