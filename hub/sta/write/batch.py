"""``POST /v1.1/$batch``: many requests in one, in either wire format (:mod:`.multipart`).

Parts run in order. A GET is answered by the read path; a write runs like a plain request, in a
transaction of its own; a change set (multipart) or atomicity group (JSON) runs all its writes
in one transaction, so they all apply or none does. A change set that fails answers with the
failing request's error (multipart: one response for the whole change set, as OData 4.0 says;
JSON: that error for the failing request and 424 Failed Dependency for the others).

URLs may be absolute (``http://host/v1.1/Things``), absolute paths (``/v1.1/Things``), relative
to the service root (``Things``) or start with ``$name``, the entity an earlier request named
(``Content-ID`` / JSON ``id``) created; a link in a body may name it too (``{"@iot.id":
"$1"}``). Each part needs the role of its method (:mod:`.authorize`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from flask import Response, jsonify, request
from sqlalchemy import Connection

from hub.ingest.pipeline import IngestPipeline
from hub.sta.entities import entity_by_name
from hub.sta.errors import ApiError
from hub.sta.paths import parse_resource_path
from hub.sta.write.authorize import refusal
from hub.sta.write.body import JSON, media_type, parse_json
from hub.sta.write.context import Operation, Outcome, WriteContext
from hub.sta.write.execute import problem, transact
from hub.sta.write.multipart import (
    Answer,
    ChangeSet,
    Item,
    Part,
    parse_json_batch,
    parse_multipart,
    render_json,
    render_multipart,
)
from hub.sta.write.operations import build, raw_request
from hub.sta.write.respond import PREFIX, outcome_parts, read_back
from hub.store import Store

log = logging.getLogger(__name__)
MULTIPART = "multipart/mixed"
# Stands in for the id of an entity a change set creates before it exists, so that its later
# requests can be parsed and validated before the transaction starts.
_PLACEHOLDER_ID = 1


def answer(
    store: Store, pipeline: IngestPipeline | None, context: WriteContext, body: bytes
) -> Response:
    """Run a ``$batch`` request and answer in its own format."""
    if request.method != "POST":
        raise ApiError(405, "$batch takes POST only")
    content_type = request.headers.get("Content-Type", "")
    kind = media_type(content_type)
    runner = _Runner(store, pipeline, context)
    if kind == MULTIPART:
        answers = [runner.run(item) for item in parse_multipart(content_type, body)]
        multipart_type, payload = render_multipart(answers)
        return Response(payload, status=200, content_type=multipart_type)
    if kind in (None, JSON):
        answers = [runner.run(item) for item in parse_json_batch(parse_json(body))]
        flat = [a for item in answers for a in (item if isinstance(item, list) else [item])]
        return jsonify(render_json(flat))
    raise ApiError(415, f"$batch takes {MULTIPART} or {JSON}, not {kind!r}")


def _error(status: int, message: str, name: str | None) -> Answer:
    body = {
        "code": status,
        "error": HTTPStatus(status).phrase,
        "message": " ".join(message.split()),
    }
    return Answer(status, body, {}, name)


@dataclass(slots=True)
class _Progress:
    """How far a change set's transaction got (read after it failed)."""

    index: int = 0
    named: list[str] = field(default_factory=list)


class _Runner:
    """Runs the items of one batch, remembering the names of what they create."""

    def __init__(
        self, store: Store, pipeline: IngestPipeline | None, context: WriteContext
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.context = context

    def run(self, item: Item) -> Answer | list[Answer]:
        if isinstance(item, Part):
            return self._single(item)
        return self._change_set(item)

    # --- URLs ------------------------------------------------------------------------------

    def _target(self, url: str, planned: dict[str, str] | None = None) -> tuple[str, str]:
        """(path below the service root with ``$name`` replaced, query string)."""
        parts = urlsplit(url)
        if parts.scheme and parts.scheme not in ("http", "https"):
            raise ApiError(400, f"batch URL scheme must be http or https: {url[:80]!r}")
        path = unquote(parts.path)
        if path.startswith("/"):
            if path != PREFIX and not path.startswith(PREFIX + "/"):
                raise ApiError(404, f"batch URL is not below the service root {PREFIX}")
            path = path[len(PREFIX) :].lstrip("/")
        if path.startswith("$") and not path.startswith("$batch"):
            name, slash, rest = path[1:].partition("/")
            if planned is not None and name in planned:
                entity, entity_id = entity_by_name(planned[name]), _PLACEHOLDER_ID
            else:
                entity, entity_id = self.context.named(name)
            path = f"{entity.set_name}({entity_id})" + (slash + rest if slash else "")
        return path, parts.query

    def _operation(self, part: Part, planned: dict[str, str] | None = None) -> Operation:
        path, query = self._target(part.url, planned)
        target = PREFIX + "/" + path + ("?" + query if query else "")
        raw = raw_request(part.method, target, part.content_type, part.body)
        return build(part.method, path, part.content_type, part.body, raw)

    def _remember(self, part: Part, outcome: Outcome) -> str | None:
        if part.name is None or part.method != "POST" or outcome.entity is None:
            return None
        assert outcome.entity_id is not None
        self.context.names[part.name] = (outcome.entity.name, outcome.entity_id)
        return part.name

    def _answer(self, part: Part, outcome: Outcome) -> Answer:
        status, body, headers = outcome_parts(outcome, self.context)
        return Answer(status, body, headers, part.name)

    # --- one request -------------------------------------------------------------------------

    def _single(self, part: Part) -> Answer:
        try:
            if part.method == "GET":
                return self._read(part)
            denied = refusal(part.method)
            if denied is not None:
                return _error(*denied, part.name)
            operation = self._operation(part)
            outcome = transact(
                self.store,
                self.pipeline,
                self.context,
                lambda conn: operation.run(conn, self.context),
                observations=operation.writes_observations,
            )
            self._remember(part, outcome)
            return self._answer(part, outcome)
        except Exception as exc:
            return self._failure(exc, part)

    def _read(self, part: Part) -> Answer:
        path, query = self._target(part.url)
        status, body, headers = read_back(path, query)
        kept = {k: v for k, v in headers.items() if k.lower() == "content-type"}
        return Answer(status, body, kept, part.name)

    def _failure(self, exc: Exception, part: Part) -> Answer:
        found = problem(exc)
        if found is None:
            log.exception("batch part %s %s failed", part.method, part.url[:200])
            found = (503, "the hub could not answer this request; retry later")
        return _error(*found, part.name)

    # --- change sets ---------------------------------------------------------------------------

    def _change_set(self, change_set: ChangeSet) -> Answer | list[Answer]:
        parts = change_set.parts
        if not parts:
            return []
        planned: dict[str, str] = {}
        observations = False
        for index, part in enumerate(parts):
            try:
                if part.method == "GET":
                    raise ApiError(400, "a change set may hold only POST, PATCH, PUT and DELETE")
                denied = refusal(part.method)
                if denied is not None:
                    raise ApiError(*denied)
                operation = self._operation(part, planned)
            except Exception as exc:
                return self._set_failed(change_set, index, exc)
            observations = observations or operation.writes_observations
            if part.name is not None and part.method == "POST":
                path, _query = self._target(part.url, planned)
                entity = parse_resource_path(path).entity
                assert entity is not None
                planned[part.name] = entity.name
        progress = _Progress()

        def work(conn: Connection) -> list[Outcome]:
            outcomes = []
            for index, part in enumerate(parts):
                progress.index = index
                outcome = self._operation(part).run(conn, self.context)
                name = self._remember(part, outcome)
                if name is not None:
                    progress.named.append(name)
                outcomes.append(outcome)
            return outcomes

        try:
            outcomes = transact(
                self.store, self.pipeline, self.context, work, observations=observations
            )
        except Exception as exc:
            for name in progress.named:
                self.context.names.pop(name, None)  # rolled back: the names name nothing
            return self._set_failed(change_set, progress.index, exc)
        return [self._answer(part, outcome) for part, outcome in zip(parts, outcomes, strict=True)]

    def _set_failed(
        self, change_set: ChangeSet, index: int, exc: Exception
    ) -> Answer | list[Answer]:
        failed = self._failure(exc, change_set.parts[index])
        if change_set.group is None:  # multipart: one response stands for the change set
            return failed
        answers = []
        for number, part in enumerate(change_set.parts):
            if number == index:
                answers.append(failed)
            else:
                message = (
                    f"not applied: request {change_set.parts[index].name!r} of atomicity group "
                    f"{change_set.group!r} failed"
                )
                answers.append(_error(424, message, part.name))
        return answers
