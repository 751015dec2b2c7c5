"""Creates, updates and deletes through the SensorThings API (18-088 §10-13, ``sta.md`` §1.5-1.7).

:func:`answer` takes every non-GET request below ``/v1.1``:

* a request is first turned into a validated operation (:mod:`.operations`: payload models,
  deep-insert trees, links), so malformed input is refused before the store is touched;
* the operation runs in one transaction (:mod:`.execute`): through the ingest pipeline's
  writer when it stores observations, so they are archived and committed like device data,
  directly otherwise; creates (:mod:`.create`), updates (:mod:`.update`), deletes
  (:mod:`.delete`) and CreateObservations (:mod:`.dataarray`) keep the spec's integrity rules,
  with automatic FeaturesOfInterest and HistoricalLocations (:mod:`.locations`);
* the response is made after the commit (:mod:`.respond`): 201 with ``Location`` and the
  entity as the read path shows it, 200 for updates and deletes;
* ``$batch`` (:mod:`.batch`) runs many requests, atomic change sets in one transaction each.

Authentication is the web layer's gate; inside a ``$batch`` each part's role is checked here
(:mod:`.authorize`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request

from hub.ingest.pipeline import IngestPipeline
from hub.sta.write import batch
from hub.sta.write.context import WriteContext
from hub.sta.write.execute import transact
from hub.sta.write.operations import build, raw_request
from hub.sta.write.respond import respond, root_url
from hub.store import Store

BATCH = "$batch"


def request_context() -> WriteContext:
    """The origin of the current HTTP request, for the archive and for URLs."""
    return WriteContext(
        root=root_url(),
        peer=request.remote_addr or "unknown",
        channel="http",
        received_at=datetime.now(UTC),
    )


def answer(store: Store, pipeline: IngestPipeline | None, path: str) -> Any:
    """Answer a POST, PATCH, PUT or DELETE on ``path`` below ``/v1.1``."""
    context = request_context()
    body = request.get_data(cache=False)
    if path.strip("/") == BATCH:
        return batch.answer(store, pipeline, context, body)
    content_type = request.headers.get("Content-Type")
    target = request.full_path if request.query_string else request.path
    raw = raw_request(request.method, target, content_type, body)
    operation = build(request.method, path, content_type, body, raw)
    outcome = transact(
        store,
        pipeline,
        context,
        lambda conn: operation.run(conn, context),
        observations=operation.writes_observations,
    )
    return respond(outcome, context)
