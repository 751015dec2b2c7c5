"""The SensorThings API's refusal: an HTTP status and a one-line message, answered as JSON."""

from __future__ import annotations

from http import HTTPStatus

from flask import Response, jsonify


class ApiError(Exception):
    """A refusal with an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> tuple[Response, int]:
    """``{"code", "error", "message"}`` with ``status``; the message is folded onto one line."""
    phrase = HTTPStatus(status).phrase
    one_line = " ".join(message.split())
    return jsonify({"code": status, "error": phrase, "message": one_line}), status
