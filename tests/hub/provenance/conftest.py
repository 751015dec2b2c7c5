"""A hub with provenance keys and a few sealed batches, for the bundle, verifier and web tests.

Batches go through the store's own ``write_batch`` with the real :class:`Sealer`, so rows,
records, bindings and log entries are exactly what ingest writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from adapters.base import Aggregation
from adapters.hj212.lihe import LiheHJ212Adapter
from hub.demo import PILOT_REGISTRY
from hub.mapping import MappingSet
from hub.model.registry import load_registry
from hub.provenance import pki, trust
from hub.provenance.bundle import ProvBundle, observation_bundle
from hub.provenance.log import StoredLog
from hub.provenance.records import AgentRef
from hub.provenance.sealer import HubIdentity, Sealer
from hub.provenance.trust import SignedTrustBundle
from hub.provenance.web import ProvContext, create_prov_blueprint
from hub.store import BatchSummary, FrameRecord, ObservationRow, Store
from hub.store.batches import write_batch
from hub.store.schema import observations
from hub.web import auth

HUB = "https://aq.example.kz"
STATION = "lihe-air-saryarka"
T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)


def identity(keys: pki.HubKeys, signing_key: Any = None) -> HubIdentity:
    """The sealing identity a hub process builds from its keys."""
    return HubIdentity(
        hub=AgentRef(id=keys.hub_id, kind="hub", name="AuaSu hub aq.example.kz"),
        agency=AgentRef(id=f"{keys.hub_id}#agency", kind="agency", name=keys.agency),
        license="https://creativecommons.org/licenses/by/4.0/",
        signing_key=signing_key or keys.signing_key,
    )


@dataclass
class ProvHub:
    """A store, its provenance keys and log, a sealer and the PM2.5 / NO2 streams."""

    store: Store
    keys: pki.HubKeys
    log: StoredLog
    sealer: Sealer
    pm25: tuple[int, int]  # (datastream id, feature of interest id)
    no2: tuple[int, int]
    data_dir: Path

    def seal(self, frames: Sequence[FrameRecord], sealer: Any = None) -> BatchSummary:
        """Write one batch in one transaction, sealed (``sealer=False``: not sealed)."""
        chosen = self.sealer if sealer is None else (sealer or None)
        with self.store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            return write_batch(conn, frames, chosen)

    def bundle(self, observation_id: int) -> ProvBundle:
        with self.store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            return observation_bundle(conn, observation_id, keys=self.keys, log=self.log)

    def trust(self) -> SignedTrustBundle:
        return trust.build_trust_bundle(self.keys)

    def root_sha256(self) -> str:
        return self.keys.document.root.sha256

    def ids(self) -> list[int]:
        with self.store.connect() as conn:
            return list(
                conn.execute(select(observations.c.id).order_by(observations.c.id)).scalars()
            )

    def prov_entry(self, observation_id: int) -> int:
        with self.store.connect() as conn:
            return int(
                conn.execute(
                    select(observations.c.prov_entry).where(observations.c.id == observation_id)
                ).scalar_one()
            )

    def reload_keys(self) -> None:
        self.keys = pki.load_keys(self.data_dir)


def make_hub(url: str, data_dir: Path) -> ProvHub:
    store = Store.open(url)
    store.import_stations(load_registry(PILOT_REGISTRY))
    mappings = MappingSet.load()
    pm25, no2 = mappings.observed_property("pm2_5"), mappings.observed_property("no2")
    assert pm25 is not None and no2 is not None
    keys = pki.init_keys(data_dir, hub_id=HUB, agency="Kazhydromet", origin=pki.default_origin(HUB))
    log = StoredLog()
    sealer = Sealer(identity(keys), log, {"lihe-hj212": LiheHJ212Adapter()})
    return ProvHub(
        store,
        keys,
        log,
        sealer,
        store.ensure_datastream(STATION, pm25, Aggregation.INSTANT, "a34004"),
        store.ensure_datastream(STATION, no2, Aggregation.INSTANT, "a21004"),
        data_dir,
    )


def row(stream: tuple[int, int], minute: int, value: float, **changes: Any) -> ObservationRow:
    start = T0 + timedelta(minutes=minute)
    values: dict[str, Any] = {
        "datastream_id": stream[0],
        "feature_of_interest_id": stream[1],
        "phenomenon_time_start": start,
        "phenomenon_time_end": start,
        "result_time": start,
        "result": value,
        "result_quality": "valid",
        "parameters": {"received": {"value": f"{value:g}", "unit": "ug/m3"}},
    }
    values.update(changes)
    return ObservationRow(**values)


def frame(content: bytes, rows: list[ObservationRow], *, minute: int = 5) -> FrameRecord:
    """A raw input (its sha256 the real digest of ``content``) carrying ``rows``."""
    return FrameRecord(
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        adapter="lihe-hj212",
        adapter_version="0.1.0",
        channel="hj212-tcp",
        peer="127.0.0.1:5000",
        station_key=STATION,
        received_at=T0 + timedelta(minutes=minute),
        outcome="stored",
        observations=rows,
    )


def seal_three_batches(hub: ProvHub) -> None:
    """Log entries 0, 1, 2: two frames with 4 values, one frame with 3, one with 2."""
    hub.seal(
        [
            frame(b"frame-a PW=secret", [row(hub.pm25, 0, 41.0), row(hub.no2, 0, 17.5)]),
            frame(b"frame-b", [row(hub.pm25, 1, 42.25), row(hub.no2, 1, 18.0)], minute=6),
        ]
    )
    hub.seal([frame(b"frame-c", [row(hub.pm25, m, 40.0 + m) for m in (2, 3, 4)], minute=7)])
    hub.seal([frame(b"frame-d", [row(hub.no2, m, 20.0 + m) for m in (2, 3)], minute=8)])


@pytest.fixture
def prov_hub(tmp_path: Path) -> Iterator[ProvHub]:
    """SQLite hub with three sealed batches (9 observations, log entries 0-2)."""
    hub = make_hub(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "data")
    seal_three_batches(hub)
    yield hub
    hub.store.close()


@pytest.fixture
def any_prov_hub(store_url: str, tmp_path: Path) -> Iterator[ProvHub]:
    """The same on SQLite and on PostgreSQL."""
    hub = make_hub(store_url, tmp_path / "data")
    seal_three_batches(hub)
    yield hub
    hub.store.close()


def prov_app(hub: ProvHub, *, public_url: str | None = None) -> Flask:
    """The provenance endpoints behind the hub's authentication gate, plus SensorThings (for
    Observation URLs), as the hub's app arranges them."""
    from hub.sta.api import create_blueprint

    app = Flask("prov-test")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    auth.install(app, hub.store, login_failures=None)
    app.register_blueprint(create_blueprint(hub.store, None))
    context = ProvContext(hub.keys, hub.log, public_url)
    app.register_blueprint(create_prov_blueprint(hub.store, context))
    app.testing = True
    return app
