"""Size and time caps on one HTTP request, refused as JSON before any work is done.

* a query string (or path) longer than ``max_query_string_bytes``: 414;
* a body larger than ``max_body_bytes``: 413, from the declared ``Content-Length`` at once, and
  from Flask's ``MAX_CONTENT_LENGTH`` while reading a chunked body;
* reads (GET/HEAD) get ``statement_timeout_s`` as the budget of
  :func:`hub.store.timeouts.limited_connection`; a query past it answers 503 (see
  :func:`timeout_response`), never 500.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from hub.config import LimitSettings
from hub.store.timeouts import StatementTimeout, reset_budget, set_budget
from hub.web.errors import json_error

READ_METHODS = frozenset({"GET", "HEAD"})


def install(app: Flask, settings: LimitSettings) -> None:
    """Apply ``settings`` to every request of ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    @app.before_request
    def _sizes() -> Response | None:
        limit = settings.max_query_string_bytes
        if len(request.query_string) > limit:
            return json_error(414, f"the query string is longer than {limit} bytes")
        if len(request.path.encode("utf-8")) > limit:
            return json_error(414, f"the path is longer than {limit} bytes")
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            return json_error(
                413, f"the request body is larger than {settings.max_body_bytes} bytes"
            )
        if request.method in READ_METHODS:
            g.auasu_budget_token = set_budget(settings.statement_timeout_s)
        return None

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        token = g.pop("auasu_budget_token", None)
        if token is not None:
            try:
                reset_budget(token)
            except ValueError:  # made in another context (a copied one): just clear it
                set_budget(None)


def timeout_response(exc: StatementTimeout) -> Response:
    """503 for a query stopped by its time limit: the client may narrow it or retry."""
    return json_error(
        503,
        f"{exc}: narrow the request ($filter, $top, a time window) or retry later",
        {"Retry-After": "1"},
    )
