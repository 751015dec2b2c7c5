"""Creates, updates and deletes through the SensorThings API (18-088 §10-11, ``sta.md`` §1.5)."""

from __future__ import annotations

from typing import Any

from flask import request

from hub.ingest.pipeline import IngestPipeline
from hub.sta.errors import ApiError
from hub.store import Store


def answer(store: Store, pipeline: IngestPipeline | None, path: str) -> Any:
    """Answer a POST, PATCH, PUT or DELETE on ``path`` below ``/v1.1``."""
    raise ApiError(
        405, f"{request.method} is not supported: the SensorThings API is read-only for now"
    )
