"""The conformance rig: a live hub per test module on each store, spoken to over real HTTP.

This is what the OGC suites (ets-sta10, FROST-Server's statests) do against a deployed server:
every test module gets its own hub (:func:`tests.hub.conftest.running_hub`: waitress on a free
port) over a fresh store -- SQLite, or a PostgreSQL database copied from a migrated template --
with rate limits off and one admin user whose HTTP Basic credentials every request carries.
Tests seed their own entities through the API (deep insert, as the suites do) and scope their
queries to them, because the hub also holds the 18 pilot stations it imports at start.

The client is :class:`tests.hub.sta.conformance.client.Sta`. The MQTT classes add the session's
private Mosquitto (``tests/hub/sta/mqtt/conftest.py``) and configure the hub's ``[mqtt]`` table
for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from hub.store.users import UserError, add_user
from tests.conftest import PG_ADMIN_URL
from tests.hub.conftest import running_hub
from tests.hub.sta.conformance.client import PASSWORD, USER, Sta
from tests.hub.sta.mqtt import conftest as mqtt_rig
from tests.hub.sta.mqtt.conftest import SECRETS, Broker
from tests.hub.sta.write import conftest as write_rig

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# The neighbouring rigs' fixtures, registered here by name: the session's private Mosquitto and
# its test clients, and the migrated PostgreSQL template.
broker = mqtt_rig.broker
mqtt_client = mqtt_rig.mqtt_client
pg_template = write_rig.pg_template

# --- stores and hubs ------------------------------------------------------------------------


@contextmanager
def copied_database(template: str) -> Iterator[str]:
    """A PostgreSQL database copied from the migrated ``template`` (its URL), dropped after."""
    name = f"auasu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + name + " TEMPLATE " + template))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"))
        admin.dispose()


@dataclass
class KeptStore:
    """One module's store on one backend and what its tests seeded into it (by name)."""

    url: str
    data_dir: Path
    seeded: dict[str, Any] = field(default_factory=dict)


class KeptStores:
    """Each module's stores, kept for the worker's whole session.

    pytest-xdist hands a worker a module's tests in several runs, interleaved with other
    modules', and a module-scoped fixture is set up again for every run. The hub is cheap to
    restart; seeding is not, so the store (with the ids of what was seeded) outlives the hub.
    """

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.stores: dict[tuple[str, str], KeptStore] = {}
        self.cleanup = ExitStack()

    def get(self, module: str, backend: str, template: Callable[[], str]) -> KeptStore:
        key = (module, backend)
        if key not in self.stores:
            if backend == "sqlite":
                url = f"sqlite:///{self.factory.mktemp('store') / 'auasu.sqlite3'}"
            else:
                url = self.cleanup.enter_context(copied_database(template()))
            self.stores[key] = KeptStore(url, self.factory.mktemp("hub"))
        return self.stores[key]


@pytest.fixture(scope="session")
def kept_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeptStores]:
    kept = KeptStores(tmp_path_factory)
    with kept.cleanup:
        yield kept


@pytest.fixture(scope="module", params=STORES)
def store(request: pytest.FixtureRequest, kept_stores: KeptStores) -> KeptStore:
    """The module's store on each backend (SQLite; PostgreSQL copied from the template)."""
    return kept_stores.get(
        request.module.__name__, request.param, lambda: request.getfixturevalue("pg_template")
    )


@contextmanager
def live_hub(kept: KeptStore, **settings: Any) -> Iterator[Sta]:
    """A running hub over the ``kept`` store with an admin user and rate limits off."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUASU_RATE_LIMITS", "off")
        with running_hub(kept.data_dir, db=kept.url, **settings) as server:
            with suppress(UserError):  # made by an earlier run of the module
                add_user(server.store, USER, "admin", PASSWORD)
            root = f"http://127.0.0.1:{server.http_port}/v1.1"
            backend = "sqlite" if kept.url.startswith("sqlite") else "postgresql"
            client = Sta(root, server, backend, kept.seeded)
            try:
                yield client
            finally:
                client.http.close()
                client.anonymous.close()


@pytest.fixture(scope="module")
def sta(store: KeptStore) -> Iterator[Sta]:
    """The module's hub."""
    with live_hub(store) as client:
        yield client


# --- MQTT -------------------------------------------------------------------------------------

WAIT_S = 10.0


def mqtt_settings(target: Broker) -> dict[str, Any]:
    """The hub's ``[mqtt]`` table for the session's private broker, whose accounts (the hub,
    ``alice`` with the create role, ``rita`` with the read role) the broker fixture made."""
    return {
        "enabled": True,
        "host": target.host,
        "port": target.port,
        "username": "auasu-hub",
        "password": SECRETS["hub"],
        # A fresh session per hub: a session another module's hub left behind must not
        # deliver that module's queued creates here.
        "client_id": f"hub-{uuid.uuid4().hex[:12]}",
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
    }


@pytest.fixture(scope="module")
def mqtt_sta(store: KeptStore, broker: Broker) -> Iterator[Sta]:
    """The module's hub, connected to the session's private Mosquitto."""
    with live_hub(store, mqtt=mqtt_settings(broker)) as client:
        service = client.server.mqtt
        assert service is not None, "the hub did not start its MQTT service"
        assert service.wait_connected(WAIT_S), "the hub did not connect to the broker"
        yield client
