"""Roles of the parts of a ``$batch`` (the web layer's gate only sees the outer POST).

The gate (:mod:`hub.web.auth`) admits a ``$batch`` from any authenticated caller; each part
then needs the role its method needs: ``create`` for POST, ``update`` for PATCH and PUT,
``delete`` for DELETE; GET parts are reads, open to anyone as plain GETs are. The principal
comes from ``hub.web.auth.current_principal()``, looked up when needed: when the hub runs
without that module (an older web layer, a rig that mounts only the API), parts are allowed,
which is what the outer request was.
"""

from __future__ import annotations

import importlib
from typing import Any

ROLES = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}


def _principal_source() -> Any:
    try:
        module = importlib.import_module("hub.web.auth")
    except ImportError:
        return None
    return getattr(module, "current_principal", None)


def refusal(method: str) -> tuple[int, str] | None:
    """(401 or 403, message) when the caller may not make a ``method`` part, else None."""
    role = ROLES.get(method)
    if role is None:
        return None
    source = _principal_source()
    if source is None:
        return None
    principal = source()
    if principal is None:
        return 401, f"a {method} needs credentials (HTTP Basic or a bearer token)"
    may = getattr(principal, "may", None)
    if callable(may) and not may(role):
        return 403, f"a {method} needs the {role} role"
    return None
