"""The stores that pygeoapi's providers read, by key.

pygeoapi builds a provider from a plain configuration dict on every request
(``pygeoapi.plugin.load_plugin``), so a provider cannot be handed the hub's
:class:`~hub.store.Store` object; its ``data`` entry holds a key instead, and the provider looks
the store up here. The hub registers its store when it builds the ``/oapi`` blueprint, so every
provider shares the hub's engine and connection pool rather than opening its own per request.
"""

from __future__ import annotations

import threading

from hub.store import Store

_lock = threading.Lock()
_stores: dict[str, Store] = {}


class UnknownStore(LookupError):
    """A provider's ``data`` names no registered store (a configuration error)."""


def register(store: Store) -> str:
    """Make ``store`` available to providers; the key to put in their ``data``."""
    key = f"auasu-store:{id(store):x}"
    with _lock:
        _stores[key] = store
    return key


def unregister(key: str) -> None:
    """Forget the store under ``key`` (its app is gone); unknown keys are ignored."""
    with _lock:
        _stores.pop(key, None)


def store_for(key: str) -> Store:
    """The store registered under ``key``."""
    try:
        return _stores[key]
    except KeyError:
        raise UnknownStore(f"no store registered as {key!r}") from None
