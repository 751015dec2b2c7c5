"""The hub's refusal shape for HTTP: ``{"code", "error", "message"}``, one line, never HTML."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from flask import Response, jsonify


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON refusal with ``status``; the message is folded onto one line."""
    response = jsonify(
        {"code": status, "error": HTTPStatus(status).phrase, "message": " ".join(message.split())}
    )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
