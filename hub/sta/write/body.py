"""Reading a write request's body: its media type and its JSON, refused with a 4xx when wrong.

JSON is parsed strictly: ``NaN``/``Infinity`` and numbers that overflow a float are refused
(they cannot be stored or written back as JSON), text must be UTF-8, and nesting beyond the
interpreter's recursion limit is a 400 rather than a crash.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hub.sta.errors import ApiError

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


def media_type(content_type: str | None) -> str | None:
    """``application/json`` from ``application/json; charset=utf-8`` (None when absent)."""
    if content_type is None or not content_type.strip():
        return None
    return content_type.split(";", 1)[0].strip().lower()


def require_media_type(content_type: str | None, allowed: tuple[str, ...]) -> str:
    """The request's media type if it is one of ``allowed``; an absent header counts as the
    first (clients such as curl scripts often omit it), anything else is 415."""
    found = media_type(content_type)
    if found is None:
        return allowed[0]
    if found not in allowed:
        raise ApiError(415, f"Content-Type must be {' or '.join(allowed)}, not {found!r}")
    return found


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """The JSON document in ``raw``, or :class:`ApiError` 400 saying where it is broken."""
    if not raw.strip():
        raise ApiError(400, f"the {what} is empty: a JSON document is required")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, f"the {what} is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        message = f"the {what} is not valid JSON: {exc.msg} at position {exc.pos}"
        raise ApiError(400, message) from None
    except RecursionError:
        raise ApiError(400, f"the {what} nests too deeply") from None
    except ValueError as exc:
        raise ApiError(400, f"the {what} is not valid JSON: {exc}") from None


def require_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    return value
