"""The conformance suite's HTTP client: absolute URLs, HTTP Basic, checked status codes.

Its status checks fail with the method, URL, status and body, which is what a conformance
report needs; an error answer must also be the hub's JSON error object (``code``, one-line
``message``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import requests

from hub.server import HubServer

USER = "conformance"
PASSWORD = "correct horse battery staple"
# An id no test creates: a hub answers 404 for it on every entity set.
MISSING_ID = 987654321
_LOCATION = re.compile(r"^(?P<root>.+)/(?P<set>[A-Za-z]+)\((?P<id>[^()]*)\)$")
_NO_BODY = object()
T = TypeVar("T")


class Sta:
    """An STA client for one live hub (``server``): absolute URLs below ``root``, every request
    with the admin's Basic credentials unless sent ``anonymous``."""

    def __init__(
        self, root: str, server: HubServer, backend: str, seeded: dict[str, Any] | None = None
    ) -> None:
        self.root = root
        self.server = server
        self.backend = backend
        self.seeded = seeded if seeded is not None else {}
        self.http = requests.Session()
        self.http.auth = (USER, PASSWORD)
        self.anonymous = requests.Session()

    def keep(self, name: str, build: Callable[[], T]) -> T:
        """What ``build`` seeded into this store, built on the first call only (the store
        outlives the hub; see ``KeptStores`` in the conftest)."""
        if name not in self.seeded:
            self.seeded[name] = build()
        return cast(T, self.seeded[name])

    def url(self, path: str) -> str:
        """``path`` below the service root (``Things(1)?$filter=...``), or an absolute URL
        (a nextLink) unchanged. In a query ``+`` means a space, so a literal plus sign
        (``'application/geo+json'``) is sent as ``%2B``; requests encodes spaces itself."""
        if path.startswith(("http://", "https://")):
            return path
        resource, mark, query = path.partition("?")
        path = resource + mark + query.replace("+", "%2B")
        return self.root + ("/" + path.lstrip("/") if path else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = _NO_BODY,
        *,
        status: int | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> requests.Response:
        """Send one request; with ``status``, fail unless the hub answered exactly that."""
        sent = dict(headers or {})
        payload = data
        if body is not _NO_BODY:
            payload = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = content_type or "application/json"
        elif content_type is not None:
            sent["Content-Type"] = content_type
        session = self.anonymous if anonymous else self.http
        response = session.request(method, self.url(path), data=payload, headers=sent, timeout=60)
        if status is not None:
            assert response.status_code == status, describe(response, f"expected {status}")
        if status is not None and status >= 400:
            check_error(response)
        return response

    def get(self, path: str, status: int = 200) -> Any:
        """The JSON body of ``GET path`` (which must answer ``status``)."""
        response = self.request("GET", path, status=status)
        return response.json() if response.content else None

    def create(self, path: str, body: Any) -> int:
        """POST as ets-sta10 does: exactly 201, the id read as a long from the Location
        header, and a GET of that Location answering 200 with the same ``@iot.id``."""
        response = self.request("POST", path, body, status=201)
        set_name, entity_id = parse_location(self, response)
        created = self.get(f"{set_name}({entity_id})")
        assert created["@iot.id"] == entity_id, created
        return entity_id

    def collect(self, path: str, *, max_pages: int = 50) -> list[dict[str, Any]]:
        """Every entity of a collection, following ``@iot.nextLink`` to the last page."""
        entities: list[dict[str, Any]] = []
        url: str | None = path
        for _ in range(max_pages):
            assert url is not None
            page = self.get(url)
            entities.extend(page["value"])
            url = page.get("@iot.nextLink")
            if url is None:
                return entities
        raise AssertionError(f"more than {max_pages} pages for {path}")

    def ids(self, path: str) -> list[int]:
        """The ``@iot.id`` of every entity of a collection, in the order served."""
        return [entity["@iot.id"] for entity in self.collect(path)]

    def count(self, path: str) -> int:
        """``@iot.count`` of a collection (``path`` may carry options already)."""
        joiner = "&" if "?" in path else "?"
        body = self.get(f"{path}{joiner}$count=true&$top=1")
        count = body["@iot.count"]
        assert isinstance(count, int), body
        return count


def describe(response: requests.Response, expectation: str) -> str:
    """One line for an assertion message: request, expectation, what came back."""
    request = response.request
    body = response.text[:700].replace("\n", " ")
    return f"{request.method} {request.url} -> {response.status_code} ({expectation}): {body}"


def check_error(response: requests.Response) -> None:
    """An error answer is the hub's JSON error: ``code`` equal to the status, a one-line
    ``message``."""
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(describe(response, "a JSON error body")) from None
    assert isinstance(body, dict), describe(response, "a JSON error object")
    assert body.get("code") == response.status_code, describe(response, "code == status")
    message = body.get("message")
    assert isinstance(message, str), describe(response, "a message")
    assert message and "\n" not in message, describe(response, "a one-line message")


def parse_location(sta: Sta, response: requests.Response) -> tuple[str, int]:
    """(entity set, id) from a 201's ``Location``, which must be ``root/Set(<long>)``."""
    location = response.headers.get("Location")
    assert location, describe(response, "a Location header")
    match = _LOCATION.match(location)
    assert match is not None, f"Location {location!r} is not <root>/<Set>(<id>)"
    assert match["root"] == sta.root, f"Location {location!r} is not below {sta.root}"
    raw = match["id"]
    # ets-sta10 and frost-sta-client parse the id between the parentheses as a long.
    assert re.fullmatch(r"-?[0-9]{1,19}", raw), f"Location id {raw!r} is not a long"
    return match["set"], int(raw)


def wait_until(check: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``check()`` until it is truthy or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
