"""Responses to writes, made after the commit: status, ``Location`` header and the entity.

The body of a created or updated entity is what a GET of its URL returns, produced by the read
path itself (dispatched in a nested request context with no query options), so a write answers
with exactly the representation readers see.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from hub.sta.write.context import Outcome, WriteContext

PREFIX = "/v1.1"


def root_url() -> str:
    """The service root of the current request, e.g. ``http://host/v1.1``."""
    return request.url_root.rstrip("/") + PREFIX


def read_back(relative: str, query: bytes | str = b"") -> tuple[int, Any, dict[str, str]]:
    """GET ``relative`` (below the service root) through the read path: (status, JSON body
    or None, headers). Runs without the app's before-request hooks (auth, rate limits): the
    caller is already inside an admitted request."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with app.test_request_context(
        PREFIX + "/" + relative,
        base_url=request.url_root,
        method="GET",
        query_string=query,
        environ_overrides={"REMOTE_ADDR": request.remote_addr or ""},
    ):
        try:
            response = app.make_response(app.dispatch_request())
        except Exception as exc:  # the app's own handlers (timeouts, 503) decide the answer
            response = app.make_response(app.handle_user_exception(exc))
        body = response.get_json(silent=True) if response.is_json else None
        text = None if response.is_json else response.get_data(as_text=True)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return response.status_code, body if body is not None else text, headers


def self_link(context: WriteContext, outcome: Outcome) -> str:
    assert outcome.entity is not None and outcome.entity_id is not None
    return f"{context.root}/{outcome.entity.set_name}({outcome.entity_id})"


def outcome_parts(outcome: Outcome, context: WriteContext) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body or None, headers) for one write's outcome."""
    if outcome.body is not None:
        return outcome.status, outcome.body, {}
    if outcome.entity is None:
        return outcome.status, None, {}
    assert outcome.entity_id is not None
    link = self_link(context, outcome)
    status, body, _headers = read_back(f"{outcome.entity.set_name}({outcome.entity_id})")
    if status != 200:
        # The write is committed whatever the read-back says (a concurrent delete, a read
        # stopped by its time limit): answer with the entity's control information rather
        # than an error that would suggest the write failed.
        body = {"@iot.id": outcome.entity_id, "@iot.selfLink": link}
    headers = {"Location": link} if outcome.status == 201 else {}
    return outcome.status, body, headers


def respond(outcome: Outcome, context: WriteContext) -> Response:
    status, body, headers = outcome_parts(outcome, context)
    response = jsonify(body) if body is not None else Response(status=status)
    response.status_code = status
    for name, value in headers.items():
        response.headers[name] = value
    return response
