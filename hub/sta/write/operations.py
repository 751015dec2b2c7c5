"""From a write request (method, path, media type, body) to a validated :class:`Operation`.

Shared by plain requests and the parts of a ``$batch``: everything that can be checked
without the store is checked here, before a transaction is opened or the writer is asked.

* POST to a collection creates (``Things``), to a navigation collection creates and links
  (``Things(1)/Datastreams``); ``CreateObservations`` takes the dataArray form;
* PATCH merges (``application/json`` or ``application/merge-patch+json``) or applies a JSON
  Patch (``application/json-patch+json``); PUT replaces; DELETE deletes; each on an entity URL.

Anything else is refused: 405 for a method the URL does not take, 415 for a media type.
"""

from __future__ import annotations

from hub.sta.errors import ApiError
from hub.sta.paths import ResourcePath, parse_resource_path
from hub.sta.write import dataarray
from hub.sta.write.body import (
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    parse_json,
    require_media_type,
    require_object,
)
from hub.sta.write.context import Operation
from hub.sta.write.create import CreateEntity
from hub.sta.write.delete import DeleteEntity
from hub.sta.write.drafts import parse_draft, parse_update_links, split
from hub.sta.write.links import INVERSE
from hub.sta.write.targets import parent_path
from hub.sta.write.update import UpdateEntity

CREATE_OBSERVATIONS = "CreateObservations"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def raw_request(
    method: str, target: str, content_type: str | None, body: bytes, protocol: str = "HTTP/1.1"
) -> bytes:
    """What the archive keeps of a request: its line, its media type and its body. Nothing
    else (credentials in particular never reach the archive)."""
    head = f"{method} {target} {protocol}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode("utf-8", "replace") + b"\r\n" + body


def build(
    method: str, path_text: str, content_type: str | None, body: bytes, raw: bytes
) -> Operation:
    """The operation for ``method`` on ``path_text`` (below the service root)."""
    if method not in WRITE_METHODS:
        raise ApiError(405, f"{method} is not a SensorThings method")
    if path_text.strip("/") == CREATE_OBSERVATIONS:
        if method != "POST":
            raise ApiError(405, f"{CREATE_OBSERVATIONS} takes POST only")
        require_media_type(content_type, (JSON,))
        return dataarray.CreateObservations(dataarray.parse(parse_json(body)), raw)
    path = parse_resource_path(path_text)
    _check_addressable(method, path)
    if method == "POST":
        return _create(path, content_type, body, raw)
    if method == "DELETE":
        return DeleteEntity(path)
    return _update(method, path, content_type, body, raw)


def _check_addressable(method: str, path: ResourcePath) -> None:
    kind = path.kind
    if kind == "root":
        raise ApiError(405, f"{method} is not allowed on the service root")
    if kind in ("property", "value", "ref"):
        raise ApiError(
            405,
            f"{method} on a {kind} URL is not supported: write the entity, with binding links "
            "({'@iot.id': n}) for relations",
        )
    if method == "POST" and kind != "collection":
        raise ApiError(405, "POST creates in a collection; use PATCH or PUT on an entity")
    if method != "POST" and kind != "entity":
        raise ApiError(405, f"{method} applies to one entity, not to a collection")


def _create(path: ResourcePath, content_type: str | None, body: bytes, raw: bytes) -> Operation:
    require_media_type(content_type, (JSON,))
    entity = path.entity
    assert entity is not None
    draft = parse_draft(entity, parse_json(body))
    if len(path.segments) == 1:
        return CreateEntity(draft, raw)
    last = path.segments[-1]
    parent = path.segments[-2].entity
    assert last.navigation is not None
    back = INVERSE.get((parent.name, last.navigation.name))
    if back is None:  # every collection navigation has an inverse; kept as a guard
        raise ApiError(405, f"cannot create {entity.set_name} under a {parent.name}")
    return CreateEntity(draft, raw, parent_path(path), back)


def _update(
    method: str, path: ResourcePath, content_type: str | None, body: bytes, raw: bytes
) -> Operation:
    entity = path.entity
    assert entity is not None
    if method == "PUT":
        require_media_type(content_type, (JSON,))
        mode = "replace"
    else:
        found = require_media_type(content_type, (JSON, MERGE_PATCH, JSON_PATCH))
        mode = "json-patch" if found == JSON_PATCH else "merge"
    document = parse_json(body)
    if mode == "json-patch":
        if not isinstance(document, list):
            raise ApiError(400, "a JSON Patch is a JSON array of operations")
        return UpdateEntity(path, "json-patch", raw, patch=document)
    plain, navigations = split(entity, require_object(document, f"a {method} body"))
    links = parse_update_links(entity, navigations, entity.name)
    return UpdateEntity(path, "replace" if mode == "replace" else "merge", raw, plain, links)
