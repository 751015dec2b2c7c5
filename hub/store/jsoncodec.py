"""The JSON decoder the store's engines hand to their drivers.

Reads of the map query decode tens of thousands of small JSON values (units, properties,
parameters) per request; orjson does it several times faster than the standard library. It is
stricter, though: ``NaN``/``Infinity`` literals and integers beyond 64 bits, which ``json.dumps``
may have written in older rows, are not JSON to it, so those values fall back to ``json.loads``
and still read back as they were written.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    """``text`` decoded as JSON (orjson, or the standard library where orjson refuses)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
