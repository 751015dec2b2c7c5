"""The two ``$batch`` wire formats, read into and written from one model of parts.

* OData 4.0 ``multipart/mixed`` (18-088 §11): each part is an ``application/http`` request; a
  nested ``multipart/mixed`` part is a change set. ``Content-ID`` (in the part's MIME headers,
  or tolerated among the inner request's headers) names what a request creates.
* OData 4.01 JSON (a FROST-Server extension, ``sta.md`` §1.6): ``{"requests": [...]}`` with
  ``id``, ``method``, ``url``, optional ``body``, ``headers`` and ``atomicityGroup``; adjacent
  requests of one atomicity group are a change set; every ``id`` names its request.

Only what is needed is parsed, with limits, and anything malformed is a 400 for the batch.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from hub.sta.errors import ApiError

MAX_PARTS = 1000
_NAME_RE = re.compile(r"[A-Za-z0-9_.:,;\-]{1,64}")
_REQUEST_LINE_RE = re.compile(r"([A-Za-z]+) +(\S+)(?: +HTTP/1\.[01])?")


@dataclass(slots=True)
class Part:
    """One request of a batch."""

    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    name: str | None = None  # Content-ID / JSON id

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass(slots=True)
class ChangeSet:
    """Requests that succeed or fail together (one transaction)."""

    parts: list[Part] = field(default_factory=list)
    group: str | None = None  # the JSON atomicityGroup


Item = Part | ChangeSet


@dataclass(frozen=True, slots=True)
class Answer:
    """The response to one part."""

    status: int
    body: Any = None  # JSON value, text, or None
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None


# --- multipart/mixed -------------------------------------------------------------------------


def boundary_of(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if 1 <= len(value) <= 70:
                return value
    raise ApiError(400, "multipart/mixed needs a boundary parameter (1 to 70 characters)")


def _sections(body: bytes, boundary: str) -> list[bytes]:
    """The bodies between the delimiters of ``boundary`` (RFC 2046 §5.1.1)."""
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|\Z)"
    )
    marks = list(delimiter.finditer(body))
    sections = []
    for start, end in itertools.pairwise(marks):
        if start.group(1):
            break
        sections.append(body[start.end() : end.start()])
    if not marks or not any(mark.group(1) for mark in marks):
        raise ApiError(400, f"the multipart body lacks its closing delimiter --{boundary}--")
    if len(sections) > MAX_PARTS:
        raise ApiError(400, f"a batch holds at most {MAX_PARTS} parts")
    return sections


def _headers_and_rest(section: bytes) -> tuple[dict[str, str], bytes]:
    """Header lines up to the first empty line, and what follows it."""
    for newline in (b"\r\n", b"\n"):
        if section.startswith(newline):  # no headers at all
            return {}, section[len(newline) :]
    match = re.search(rb"\r?\n\r?\n", section)
    if match is None:
        head, rest = section, b""
    else:
        head, rest = section[: match.start()], section[match.end() :]
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ApiError(400, f"malformed header line in a batch part: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def parse_multipart(content_type: str, body: bytes, *, nested: bool = False) -> list[Item]:
    items: list[Item] = []
    for section in _sections(body, boundary_of(content_type)):
        headers, rest = _headers_and_rest(section)
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/mixed":
            if nested:
                raise ApiError(400, "a change set cannot contain another change set")
            parts = parse_multipart(headers["content-type"], rest, nested=True)
            items.append(ChangeSet([part for part in parts if isinstance(part, Part)]))
        elif kind == "application/http":
            items.append(_http_request(rest, headers.get("content-id")))
        else:
            raise ApiError(400, f"batch parts must be application/http, not {kind or 'untyped'}")
    return items


def _http_request(text: bytes, content_id: str | None) -> Part:
    text = text.lstrip(b"\r\n")
    line, newline, rest = text.partition(b"\n")
    head = line.decode("utf-8", "replace").strip()
    match = _REQUEST_LINE_RE.fullmatch(head)
    if match is None:
        raise ApiError(400, f"malformed request line in a batch part: {head[:60]!r}")
    headers, body = _headers_and_rest(rest) if newline else ({}, b"")
    length = headers.get("content-length", "")
    # Without a usable Content-Length the body ends where the part does, less line breaks.
    usable = length.isdigit() and len(length) <= 12
    body = body[: int(length)] if usable else body.rstrip(b"\r\n")
    name = content_id or headers.get("content-id")
    return Part(match.group(1).upper(), match.group(2), headers, body, _checked_name(name))


def _checked_name(name: str | None) -> str | None:
    if name is None:
        return None
    if _NAME_RE.fullmatch(name) is None:
        raise ApiError(400, f"batch request names use A-Z a-z 0-9 _ . : , ; - ({name[:40]!r})")
    return name


def _status_line(status: int) -> str:
    return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"


def _http_response(answer: Answer) -> bytes:
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
    ]
    if answer.name is not None:
        lines.append(f"Content-ID: {answer.name}")
    lines += ["", _status_line(answer.status)]
    payload = b""
    if answer.body is not None:
        if isinstance(answer.body, str) and answer.headers.get("Content-Type", "").startswith(
            "text/"
        ):
            payload = answer.body.encode()
            lines.append(f"Content-Type: {answer.headers['Content-Type']}")
        else:
            payload = json.dumps(answer.body, ensure_ascii=False).encode()
            lines.append("Content-Type: application/json")
    for key, value in answer.headers.items():
        if key.lower() != "content-type":
            lines.append(f"{key}: {value}")
    lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def render_multipart(answers: list[Answer | list[Answer]]) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart batch response; a list is a change set's answers."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks = []
    for answer in answers:
        if isinstance(answer, list):
            inner = f"changesetresponse_{uuid.uuid4()}"
            nested = b"".join(
                b"--" + inner.encode() + b"\r\n" + _http_response(a) + b"\r\n" for a in answer
            )
            nested += b"--" + inner.encode() + b"--\r\n"
            head = f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()
            chunks.append(head + nested)
        else:
            chunks.append(_http_response(answer))
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + chunk + b"\r\n" for chunk in chunks)
    body += b"--" + boundary.encode() + b"--\r\n"
    return f"multipart/mixed; boundary={boundary}", body


# --- JSON ------------------------------------------------------------------------------------


def parse_json_batch(document: Any) -> list[Item]:
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        raise ApiError(400, "a JSON batch is an object with a 'requests' array")
    requests = document["requests"]
    if len(requests) > MAX_PARTS:
        raise ApiError(400, f"a batch holds at most {MAX_PARTS} requests")
    items: list[Item] = []
    seen_groups: set[str] = set()
    for index, request in enumerate(requests):
        part, group = _json_request(request, index)
        last = items[-1] if items else None
        if group is not None and isinstance(last, ChangeSet) and last.group == group:
            last.parts.append(part)
            continue
        if group is not None:
            if group in seen_groups:
                raise ApiError(400, f"the requests of atomicity group {group!r} must be adjacent")
            seen_groups.add(group)
            items.append(ChangeSet([part], group))
        else:
            items.append(part)
    return items


def _json_request(request: Any, index: int) -> tuple[Part, str | None]:
    where = f"requests[{index}]"
    if not isinstance(request, dict):
        raise ApiError(400, f"{where} must be an object")
    name, method, url = request.get("id"), request.get("method"), request.get("url")
    if not isinstance(name, str) or not isinstance(method, str) or not isinstance(url, str):
        raise ApiError(400, f"{where} needs string members id, method and url")
    headers_in = request.get("headers", {})
    if not isinstance(headers_in, dict) or not all(isinstance(v, str) for v in headers_in.values()):
        raise ApiError(400, f"{where}: headers must be an object of strings")
    headers = {str(k).lower(): v for k, v in headers_in.items()}
    body = b""
    if "body" in request and request["body"] is not None:
        headers.setdefault("content-type", "application/json")
        body = json.dumps(request["body"]).encode()
    group = request.get("atomicityGroup")
    if group is not None and not isinstance(group, str):
        raise ApiError(400, f"{where}: atomicityGroup must be a string")
    return Part(method.upper(), url, headers, body, _checked_name(name)), group


def render_json(answers: list[Answer]) -> dict[str, Any]:
    responses = []
    for answer in answers:
        item: dict[str, Any] = {"id": answer.name, "status": answer.status}
        if answer.headers:
            item["headers"] = {k.lower(): v for k, v in answer.headers.items()}
        if answer.body is not None:
            item["body"] = answer.body
        responses.append(item)
    return {"responses": responses}
