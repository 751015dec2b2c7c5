"""Creating an Observation from a message rather than an HTTP request (MQTT PUBLISH, 18-088 §14.1).

The same path as ``POST …/Observations``: the payload is validated by the same models, the
automatic FeatureOfInterest applies, deep insert works, and the observation is archived and
committed by the ingest pipeline's writer (``raw_frames.channel`` says where it came from). It
needs no Flask request, never raises for bad input, and answers with the HTTP status the same
POST would have had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from hub.ingest.pipeline import IngestPipeline
from hub.sta.write.body import JSON
from hub.sta.write.context import WriteContext
from hub.sta.write.create import CreateEntity
from hub.sta.write.execute import problem, transact
from hub.sta.write.operations import build, raw_request
from hub.sta.write.respond import PREFIX
from hub.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``201`` with the new id; a 4xx with a one-line ``message``; ``503`` to retry later."""

    status: int
    message: str = ""
    ids: tuple[int, ...] = ()


def create_observation(
    store: Store,
    pipeline: IngestPipeline | None,
    path: str,
    payload: bytes,
    *,
    root: str,
    peer: str,
    channel: str = "mqtt",
) -> WriteResult:
    """Create the Observation in ``payload`` at ``path`` (below the service root, e.g.
    ``Datastreams(5)/Observations``); ``root`` is the service root URL for links."""
    context = WriteContext(root=root, peer=peer, channel=channel, received_at=datetime.now(UTC))
    target = PREFIX.lstrip("/") + "/" + path
    raw = raw_request("PUBLISH", target, JSON, payload, protocol="MQTT/3.1.1")
    try:
        operation = build("POST", path, JSON, payload, raw)
        if not isinstance(operation, CreateEntity) or operation.draft.entity.name != "Observation":
            return WriteResult(400, "only Observations can be created by a message")
        outcome = transact(
            store,
            pipeline,
            context,
            lambda conn: operation.run(conn, context),
            observations=True,
        )
    except Exception as exc:
        found = problem(exc)
        if found is None:
            log.exception("creating an Observation from a %s message failed", channel)
            return WriteResult(503, "the hub could not store the Observation; retry later")
        return WriteResult(found[0], " ".join(found[1].split()))
    assert outcome.entity_id is not None
    return WriteResult(outcome.status, ids=(outcome.entity_id,))
