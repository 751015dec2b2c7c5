"""A hub process's provenance: its keys, its log, the sealer the ingest pipeline signs with,
and the schedule that issues checkpoints (provenance.md §5.5: every few minutes while entries
arrive, and on demand through ``/prov/log/checkpoint``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.base import Adapter
from hub.config import HubConfig
from hub.provenance import pki
from hub.provenance.cli_keys import default_hub_id
from hub.provenance.log import StoredLog
from hub.provenance.records import AgentRef
from hub.provenance.sealer import HubIdentity, Sealer
from hub.store import Store

log = logging.getLogger(__name__)


class ProvenanceUnavailable(RuntimeError):
    """Provenance is enabled but the hub has no keys and may not make them."""


@dataclass
class Provenance:
    """Everything provenance of one hub process: keys, log, sealer, checkpoint schedule."""

    store: Store
    keys: pki.HubKeys
    log: StoredLog
    sealer: Sealer
    checkpoint_every_s: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return self.keys.origin

    def issue_checkpoint(self) -> str:
        """The signed checkpoint of the log's current size (a new one when the log grew)."""
        with self.store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            return self.log.checkpoint(
                conn,
                origin=self.keys.origin,
                key=self.keys.log_key,
                now=datetime.now(UTC),
                key_name=self.keys.log_name,
            )

    def start(self) -> None:
        """Issue checkpoints on the schedule until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="auasu-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self.issue_checkpoint()
            except Exception:  # the store may be down for a while; the next round retries
                log.exception("provenance: could not issue a checkpoint")
            if self._stop.wait(self.checkpoint_every_s):
                return


def open_provenance(
    config: HubConfig, store: Store, adapters: Mapping[str, Adapter]
) -> Provenance | None:
    """The hub's provenance as configured (None when ``[provenance] enabled = false``).

    Keys come from ``<data_dir>/keys``; a hub that has none makes them when
    ``[provenance] create_keys`` allows (the default), and says so in the log.
    """
    settings = config.provenance
    if not settings.enabled:
        return None
    try:
        keys = pki.load_keys(config.data_dir)
    except pki.KeysMissing as exc:
        if not settings.create_keys:
            raise ProvenanceUnavailable(str(exc)) from exc
        hub_id = default_hub_id(config)
        keys = pki.init_keys(
            config.data_dir,
            hub_id=hub_id,
            agency=settings.agency,
            origin=pki.default_origin(hub_id),
        )
        log.info(
            "provenance: made the hub's keys in %s (hub id %s, log origin %s)",
            pki.keys_dir(config.data_dir),
            keys.hub_id,
            keys.origin,
        )
    identity = HubIdentity(
        hub=AgentRef(id=keys.hub_id, kind="hub", name=f"AuaSu hub {pki.hub_host(keys.hub_id)}"),
        agency=AgentRef(id=f"{keys.hub_id}#agency", kind="agency", name=keys.agency),
        license=settings.licence_url,
        signing_key=keys.signing_key,
    )
    stored_log = StoredLog()
    sealer = Sealer(identity, stored_log, adapters, qc_level=settings.qc_level)
    return Provenance(store, keys, stored_log, sealer, settings.checkpoint_every_s)
