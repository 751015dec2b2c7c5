"""The registry as adapters see it: device profiles looked up by vendor device id."""

from __future__ import annotations

import threading
import time

from adapters.base import DeviceProfile
from hub.store import Store


class StoreDeviceDirectory:
    """A cached :class:`adapters.base.DeviceDirectory` over the store's station registry.

    An unknown device id triggers a reload (so a station imported while the hub runs is seen
    within seconds), rate-limited so a flood of frames from unknown loggers cannot hammer the
    database.
    """

    def __init__(self, store: Store, *, reload_interval_s: float = 5.0) -> None:
        self._store = store
        self._reload_interval_s = reload_interval_s
        self._profiles: dict[tuple[str, str], DeviceProfile] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def reload(self) -> None:
        profiles: dict[tuple[str, str], DeviceProfile] = {}
        for record in self._store.stations():
            profile = record.device_profile()
            if profile is not None:
                profiles[(record.source, profile.device_id)] = profile
        with self._lock:
            self._profiles = profiles
            self._loaded_at = time.monotonic()

    def device(self, source: str, device_id: str) -> DeviceProfile | None:
        with self._lock:
            found = self._profiles.get((source, device_id))
            stale = time.monotonic() - self._loaded_at >= self._reload_interval_s
        if found is None and stale:
            self.reload()
            with self._lock:
                found = self._profiles.get((source, device_id))
        return found
