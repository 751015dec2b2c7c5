"""Cross-origin reads: browsers on any site may read the open-data APIs.

Every GET, HEAD and OPTIONS answer below ``/v1.1`` (SensorThings) and ``/oapi`` (OGC API) --
errors included, so a web client can show why it was refused -- carries
``Access-Control-Allow-Origin: *``. No credentials are involved (``*`` forbids them), so
cross-origin writes stay with clients that are not browsers. A preflight (OPTIONS, answered by
Flask's automatic handler) also learns the methods and request headers a read may use.
"""

from __future__ import annotations

from flask import Flask, Response, request

OPEN_PREFIXES: tuple[str, ...] = ("/v1.1", "/oapi")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALLOW_METHODS = "GET, HEAD, OPTIONS"
_ALLOW_HEADERS = "Accept, Accept-Language, Content-Language, Content-Type"
# Headers a script may read besides the safelisted ones: paging and CRS (OGC API Part 2).
_EXPOSE_HEADERS = "Content-Crs, Link, Retry-After, Location"
_PREFLIGHT_MAX_AGE_S = "3600"


def _is_open(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in OPEN_PREFIXES)


def install(app: Flask) -> None:
    """Add the CORS headers to ``app``'s read answers under :data:`OPEN_PREFIXES`."""

    @app.after_request
    def _cors(response: Response) -> Response:
        if request.method not in READ_METHODS or not _is_open(request.path):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE_S
        return response
