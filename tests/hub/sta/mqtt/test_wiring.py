"""The hub-side pieces of the MQTT wiring: the write path adapter and the broker account sync."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.sta.mqtt import BrokerUser
from hub.sta.mqtt.broker import hash_password
from hub.sta.mqtt.wiring import BrokerAuthSync, WritePathCreate, file_writer, reload_broker
from hub.store import Store
from hub.store.schema import observations, raw_frames
from hub.store.users import add_user, remove_user, set_broker_hash
from tests.hub.sta.mqtt.conftest import ROOT, SECRETS, World


def test_the_write_path_answers_like_http(world: World) -> None:
    create = WritePathCreate(world.store, None, root_url=ROOT, peer="mqtt://127.0.0.1:1883")
    stream = world.ids["D"]
    body = {"phenomenonTime": "2026-03-01T12:00:00Z", "result": 15.2}
    made = create(f"Datastreams({stream})/Observations", json.dumps(body).encode())
    assert made.status == 201 and made.created and len(made.ids) == 1
    with world.store.connect() as conn:
        row = conn.execute(
            select(observations.c.result, raw_frames.c.channel, raw_frames.c.peer)
            .join(raw_frames, raw_frames.c.id == observations.c.frame_id)
            .where(observations.c.id == made.ids[0])
        ).one()
    assert tuple(row) == (15.2, "mqtt", "mqtt://127.0.0.1:1883")  # archived as an MQTT input

    missing = create("Datastreams(999999)/Observations", json.dumps(body).encode())
    assert missing.status == 404 and not missing.retry
    bad = create(f"Datastreams({stream})/Observations", b'{"phenomenonTime": "soon", "result": 1}')
    assert bad.status == 400 and "\n" not in bad.message
    thing = create("Things", b'{"name": "x", "description": "y"}')
    assert thing.status == 400 and "Observations" in thing.message


class Applied:
    def __init__(self) -> None:
        self.calls: list[list[BrokerUser]] = []

    def __call__(self, users: Sequence[BrokerUser]) -> None:
        self.calls.append(list(users))


def test_broker_accounts_follow_the_users(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        applied = Applied()
        sync = BrokerAuthSync(store, applied, interval_s=60)
        assert sync.sync() and applied.calls == [[]]  # the first sync always writes
        assert not sync.sync()
        add_user(store, "logger", "create", "pw")
        add_user(store, "viewer", "read", "pw")
        assert not sync.sync()  # no broker secret yet: not an account
        set_broker_hash(store, "logger", hash_password("logger-secret-0123456789"))
        set_broker_hash(store, "viewer", hash_password("viewer-secret-0123456789"))
        assert sync.sync()
        assert [(u.name, u.role, u.may_publish) for u in applied.calls[-1]] == [
            ("logger", "create", True),
            ("viewer", "read", False),
        ]
        remove_user(store, "logger")
        assert sync.sync() and [u.name for u in applied.calls[-1]] == ["viewer"]
        assert len(applied.calls) == 3
    finally:
        store.close()


def test_files_are_written_and_a_failed_reload_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = BrokerUser.from_secret("auasu-hub", "admin", SECRETS["hub"])
    user = BrokerUser.from_secret("alice", "create", SECRETS["alice"])
    pid_file = tmp_path / "gone.pid"
    pid_file.write_text("999999999\n")
    file_writer(tmp_path / "auth", hub, pid_file)([user])
    assert (tmp_path / "auth" / "passwd").read_text().splitlines()[1].startswith("alice:$7$")
    assert "topic write v1.1/+/Observations" in (tmp_path / "auth" / "acl").read_text()
    assert "could not make the broker re-read" in caplog.text
    assert not reload_broker(tmp_path / "missing.pid")
