"""The OpenAPI 3.1 description of the SensorThings API the hub serves, built from the entity model.

``openapi/sta.yaml`` is this document written out (``python -m hub.sta.openapi``); a test keeps
the file and the model in step, and schemathesis checks the running API against it. Built from
:mod:`hub.sta.entities` rather than written by hand so that every path a client can name is the
one the whitelist accepts.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from hub.sta.entities import ENTITY_TYPES, EntityType, PropertySpec

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "openapi" / "sta.yaml"
_JSON = "application/json"
_ERR = {"$ref": "#/components/responses/Error"}
_ERRORS = {
    "400": _ERR,
    "404": _ERR,
    "413": _ERR,
    "414": _ERR,
    "429": {"$ref": "#/components/responses/TooManyRequests"},
    "501": _ERR,
    "503": _ERR,
}
_WRITE_ERRORS = {**_ERRORS, "401": _ERR, "403": _ERR, "405": _ERR, "409": _ERR, "415": _ERR}
_QUERY_OPTIONS = ("top", "skip", "count", "filter", "orderby", "select", "expand")

_KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "json": {"type": ["object", "array", "null"]},
    "number": {"type": "integer", "format": "int64"},
    "any": {},
    "time-instant": {"type": ["string", "null"], "format": "date-time"},
    # An instant or ``start/end`` (ISO 8601); null when a Datastream has no observations.
    "time-interval": {"type": ["string", "null"]},
    "geometry": {"$ref": "#/components/schemas/GeoJSON"},
    "uri": {"type": "string"},
    "unit": {"$ref": "#/components/schemas/UnitOfMeasurement"},
}


def _property_schema(spec: PropertySpec) -> dict[str, Any]:
    return dict(_KIND_SCHEMAS[spec.kind])


def _entity_schema(entity: EntityType) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "@iot.id": {"type": "integer", "format": "int64"},
        "@iot.selfLink": {"type": "string", "format": "uri"},
    }
    for spec in entity.properties:
        if spec.name != "id":
            properties[spec.name] = _property_schema(spec)
    for nav in entity.navigations:
        properties[f"{nav.name}@iot.navigationLink"] = {"type": "string", "format": "uri"}
        target = {"$ref": f"#/components/schemas/{nav.target.name}"}
        properties[nav.name] = {"type": "array", "items": target} if nav.to_many else target
        if nav.to_many:
            properties[f"{nav.name}@iot.count"] = {"type": "integer"}
            properties[f"{nav.name}@iot.nextLink"] = {"type": "string", "format": "uri"}
    # $select may leave out any property, so nothing is required in a response.
    return {"type": "object", "properties": properties}


def _entity_input_schema(entity: EntityType) -> dict[str, Any]:
    required = [spec.name for spec in entity.properties if spec.required_on_create]
    schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
    if required:
        schema["required"] = required
    return schema


def _collection_schema(entity: EntityType) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["value"],
        "properties": {
            "@iot.count": {"type": "integer"},
            "value": {"type": "array", "items": {"$ref": f"#/components/schemas/{entity.name}"}},
            "@iot.nextLink": {"type": "string", "format": "uri"},
        },
    }


def _options(*, collection: bool) -> list[dict[str, Any]]:
    names = _QUERY_OPTIONS if collection else ("select", "expand")
    params: list[dict[str, Any]] = [{"$ref": f"#/components/parameters/{n}"} for n in names]
    if collection:
        params.append({"$ref": "#/components/parameters/resultFormat"})
        params.append({"$ref": "#/components/parameters/skiptoken"})
    return params


def _id_param() -> dict[str, Any]:
    return {"$ref": "#/components/parameters/id"}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _collection_get(entity: EntityType, summary: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        _JSON: {"schema": {"$ref": f"#/components/schemas/{entity.set_name}Collection"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/geo+json": {"schema": {"type": "object"}},
    }
    return {
        "summary": summary,
        "tags": [entity.set_name],
        "parameters": _options(collection=True),
        "responses": {"200": {"description": "one page of the collection", "content": content}},
    }


def _create(entity: EntityType, summary: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{entity.name}Input"}
    return {
        "summary": summary,
        "tags": [entity.set_name],
        "security": [{"basic": []}, {"bearer": []}],
        "requestBody": {"required": True, "content": {_JSON: {"schema": ref}}},
        "responses": {
            "201": {
                "description": "created; Location holds the new entity's selfLink",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{entity.name}"}}},
            },
            **_WRITE_ERRORS,
        },
    }


def _entity_paths(entity: EntityType) -> dict[str, Any]:
    set_name, tag = entity.set_name, [entity.set_name]
    one = f"/v1.1/{set_name}({{id}})"
    security: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}]
    entity_ref = {"$ref": f"#/components/schemas/{entity.name}"}
    paths: dict[str, Any] = {
        f"/v1.1/{set_name}": {
            "get": {
                **_collection_get(entity, f"List {set_name}"),
                "responses": {
                    **_collection_get(entity, "")["responses"],
                    **_ERRORS,
                },
            },
            "post": _create(entity, f"Create a {entity.name} (deep insert allowed)"),
        },
        one: {
            "parameters": [_id_param()],
            "get": {
                "summary": f"One {entity.name}",
                "tags": tag,
                "parameters": _options(collection=False),
                "responses": {"200": _ok(entity_ref, f"the {entity.name}"), **_ERRORS},
            },
            "patch": {
                "summary": f"Update a {entity.name} (merge, or JSON Patch)",
                "tags": tag,
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {"schema": {"type": "object"}},
                        "application/json-patch+json": {"schema": {"type": "array"}},
                    },
                },
                "responses": {"200": _ok(entity_ref, "the updated entity"), **_WRITE_ERRORS},
            },
            "put": {
                "summary": f"Replace a {entity.name}",
                "tags": tag,
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {"schema": {"$ref": f"#/components/schemas/{entity.name}Input"}}
                    },
                },
                "responses": {"200": _ok(entity_ref, "the replaced entity"), **_WRITE_ERRORS},
            },
            "delete": {
                "summary": f"Delete a {entity.name} and what depends on it",
                "tags": tag,
                "security": security,
                "responses": {"200": {"description": "deleted"}, **_WRITE_ERRORS},
            },
        },
    }
    for spec in entity.properties:
        if spec.name == "id":
            continue
        prop_schema = {"type": "object", "properties": {spec.name: _property_schema(spec)}}
        paths[f"{one}/{spec.name}"] = {
            "parameters": [_id_param()],
            "get": {
                "summary": f"The {spec.name} of a {entity.name}",
                "tags": tag,
                "responses": {
                    "200": _ok(prop_schema, "the property as an object"),
                    "204": {"description": "the property is null"},
                    **_ERRORS,
                },
            },
        }
        paths[f"{one}/{spec.name}/$value"] = {
            "parameters": [_id_param()],
            "get": {
                "summary": f"The raw {spec.name} of a {entity.name}",
                "tags": tag,
                "responses": {
                    "200": {
                        "description": "the raw value",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "204": {"description": "the property is null"},
                    **_ERRORS,
                },
            },
        }
    for nav in entity.navigations:
        target = nav.target
        path = f"{one}/{nav.name}"
        if nav.to_many:
            paths[path] = {
                "parameters": [_id_param()],
                "get": {
                    **_collection_get(target, f"The {nav.name} of a {entity.name}"),
                    "responses": {**_collection_get(target, "")["responses"], **_ERRORS},
                },
                "post": _create(target, f"Create a {target.name} linked to this {entity.name}"),
            }
            paths[f"{path}/$ref"] = {
                "parameters": [_id_param()],
                "get": {
                    "summary": f"Links to the {nav.name} of a {entity.name}",
                    "tags": tag,
                    "parameters": _options(collection=True)[:5],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/RefCollection"}, "the links"),
                        **_ERRORS,
                    },
                },
            }
        else:
            paths[path] = {
                "parameters": [_id_param()],
                "get": {
                    "summary": f"The {nav.name} of a {entity.name}",
                    "tags": tag,
                    "parameters": _options(collection=False),
                    "responses": {
                        "200": _ok({"$ref": f"#/components/schemas/{target.name}"}, "the entity"),
                        **_ERRORS,
                    },
                },
            }
    return paths


def _parameters() -> dict[str, Any]:
    def option(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {
            "name": f"${name}",
            "in": "query",
            "required": False,
            "schema": schema,
            "description": description,
        }

    return {
        "id": {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "format": "int64", "minimum": 0},
        },
        "top": option("top", {"type": "integer", "minimum": 0}, "page size (default 100)"),
        "skip": option("skip", {"type": "integer", "minimum": 0}, "rows to skip"),
        "count": option("count", {"type": "boolean"}, "include @iot.count"),
        "filter": option("filter", {"type": "string"}, "OData filter expression"),
        "orderby": option("orderby", {"type": "string"}, "sort expressions"),
        "select": option("select", {"type": "string"}, "properties to return"),
        "expand": option("expand", {"type": "string"}, "related entities to include"),
        "resultFormat": option(
            "resultFormat", {"type": "string", "enum": ["dataArray", "csv", "geojson"]}, "format"
        ),
        "skiptoken": option("skiptoken", {"type": "string"}, "opaque keyset-paging token"),
    }


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["code", "error", "message"],
            "properties": {
                "code": {"type": "integer"},
                "error": {"type": "string"},
                "message": {"type": "string"},
            },
        },
        "GeoJSON": {"type": ["object", "null"]},
        "UnitOfMeasurement": {
            "type": ["object", "null"],
            "properties": {
                "name": {"type": ["string", "null"]},
                "symbol": {"type": ["string", "null"]},
                "definition": {"type": ["string", "null"]},
            },
        },
        "RefCollection": {
            "type": "object",
            "required": ["value"],
            "properties": {
                "@iot.count": {"type": "integer"},
                "value": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"@iot.selfLink": {"type": "string", "format": "uri"}},
                    },
                },
                "@iot.nextLink": {"type": "string", "format": "uri"},
            },
        },
    }
    for entity in ENTITY_TYPES:
        schemas[entity.name] = _entity_schema(entity)
        schemas[f"{entity.name}Input"] = _entity_input_schema(entity)
        schemas[f"{entity.set_name}Collection"] = _collection_schema(entity)
    error = {"schema": {"$ref": "#/components/schemas/Error"}}
    return {
        "schemas": schemas,
        "parameters": _parameters(),
        "responses": {
            "Error": {
                "description": "a refusal, with a one-line message",
                "content": {_JSON: error},
            },
            "TooManyRequests": {
                "description": "rate limit reached; retry after the given seconds",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                "content": {_JSON: error},
            },
        },
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer"},
        },
    }


@cache
def build_document() -> dict[str, Any]:
    """The whole OpenAPI document as plain data."""
    paths: dict[str, Any] = {
        "/v1.1": {
            "get": {
                "summary": "Service root: entity sets and server settings (conformance, MQTT)",
                "tags": ["Service"],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["value", "serverSettings"],
                            "properties": {
                                "value": {"type": "array"},
                                "serverSettings": {"type": "object"},
                            },
                        },
                        "the service root",
                    ),
                    **_ERRORS,
                },
            }
        },
        "/v1.1/CreateObservations": {
            "post": {
                "summary": "Create Observations from data arrays (18-088 §13)",
                "tags": ["Observations"],
                "security": [{"basic": []}, {"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": {"type": "array"}}},
                },
                "responses": {
                    "201": _ok(
                        {"type": "array", "items": {"type": "string"}},
                        "one selfLink per row in input order, or 'error'",
                    ),
                    **_WRITE_ERRORS,
                },
            }
        },
        "/v1.1/$batch": {
            "post": {
                "summary": "Batch requests: OData multipart/mixed or JSON (18-088 §11)",
                "tags": ["Batch"],
                "security": [{"basic": []}, {"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {"schema": {"type": "object", "required": ["requests"]}},
                        "multipart/mixed": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "one response per request",
                        "content": {
                            _JSON: {"schema": {"type": "object"}},
                            "multipart/mixed": {"schema": {"type": "string"}},
                        },
                    },
                    **_WRITE_ERRORS,
                },
            }
        },
    }
    for entity in ENTITY_TYPES:
        paths.update(_entity_paths(entity))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AuaSu SensorThings API",
            "version": "1.1",
            "description": (
                "OGC SensorThings API 1.1 (18-088) over the AuaSu hub's store: anonymous "
                "reads, authenticated writes (HTTP Basic or bearer token)."
            ),
            "license": {"name": "Open data; see the hub's README"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": _components(),
    }


@cache
def render() -> str:
    """The document as YAML text, as committed in ``openapi/sta.yaml``."""
    header = "# Generated by `python -m hub.sta.openapi` from hub/sta/entities.py: do not edit.\n"
    body: str = yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True)
    return header + body


def main() -> int:
    """Write ``openapi/sta.yaml`` (or check it with ``--check``; exit 1 when it is stale)."""
    text = render()
    if "--check" in sys.argv[1:]:
        current = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
        if current != text:
            print("openapi/sta.yaml is stale: run python -m hub.sta.openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
