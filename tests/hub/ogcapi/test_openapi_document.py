"""openapi/oapi.yaml and /oapi/openapi: current, valid OpenAPI 3.0, self-contained, and served
with the hub's own address."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from pygeoapi.openapi import validate_openapi_document
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from hub.metrics import HubMetrics
from hub.ogcapi import openapi
from hub.ogcapi import settings as oapi_settings
from hub.web import create_app
from tests.hub.ogcapi.conftest import OapiWorld

OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(openapi.DOCUMENT_PATH.read_text(encoding="utf-8"))
    return document


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


def test_committed_document_is_current() -> None:
    text = openapi.render()
    assert openapi.DOCUMENT_PATH.read_text(encoding="utf-8") == text, (
        "run: python -m hub.ogcapi.openapi"
    )
    assert openapi.render() == text  # generation is deterministic


def test_document_is_valid_openapi_3(committed: dict[str, Any]) -> None:
    assert committed["openapi"].startswith("3.0")
    assert validate_openapi_document(committed)
    assert committed["servers"][0]["url"] == openapi.PLACEHOLDER_URL
    # schemathesis resolves every operation without the network.
    loaded = schemathesis.openapi.from_dict(committed)
    results = list(loaded.get_all_operations())
    failures = [str(r.err()) for r in results if isinstance(r, Err)]
    assert results and not failures, failures


def test_document_is_self_contained_and_promises_no_500(committed: dict[str, Any]) -> None:
    refs = _refs(committed)
    assert refs and all(ref.startswith("#/components/") for ref in refs)
    for ref in set(refs):
        kind, name = ref.removeprefix("#/components/").split("/")
        assert name in committed["components"][kind], ref
    for path, operations in committed["paths"].items():
        for operation in operations.values():
            assert "500" not in operation["responses"], path


def test_every_collection_with_a_provider_is_documented(committed: dict[str, Any]) -> None:
    for spec in oapi_settings.COLLECTIONS:
        classes = [oapi_settings.load_provider_class(name) for name in spec.providers]
        if any(cls is not None for cls in classes):
            assert f"/collections/{spec.id}" in committed["paths"], spec.id
    for core in ("/", "/conformance", "/collections", "/openapi"):
        assert core in committed["paths"]


def test_unknown_external_references_fail_the_generation() -> None:
    document = {
        "paths": {
            "/x": {
                "get": {
                    "responses": {
                        "200": {"$ref": "https://example.org/api.yaml#/components/responses/Nope"},
                        "500": {"description": "boom"},
                    }
                }
            }
        }
    }
    with pytest.raises(openapi.UnresolvableReference):
        openapi.self_contained(document)
    lenient = openapi.self_contained(document, strict=False)
    responses = lenient["paths"]["/x"]["get"]["responses"]
    assert responses["200"]["$ref"].startswith("https://example.org/")
    assert set(responses) == {"200", "503"}


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, committed: dict[str, Any]
) -> None:
    target = tmp_path / "oapi.yaml"
    monkeypatch.setattr(openapi, "DOCUMENT_PATH", target)
    monkeypatch.setattr(openapi, "render", lambda document=None: "current\n")
    target.write_text("stale\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["hub.ogcapi.openapi", "--check"])
    assert openapi.main() == 1
    monkeypatch.setattr(sys, "argv", ["hub.ogcapi.openapi"])
    assert openapi.main() == 0 and target.read_text(encoding="utf-8") == "current\n"
    monkeypatch.setattr(sys, "argv", ["hub.ogcapi.openapi", "--check"])
    assert openapi.main() == 0


# --- served by the app --------------------------------------------------------------------------


def test_served_document_is_the_apps_own(oapi_world: OapiWorld, committed: dict[str, Any]) -> None:
    response = oapi_world.client.get("/oapi/openapi")
    assert response.status_code == 200 and response.content_type == OPENAPI_TYPE
    served = response.get_json()
    assert validate_openapi_document(served)
    assert served["servers"][0]["url"] == "http://localhost/oapi"
    assert openapi.PLACEHOLDER_URL not in response.get_data(as_text=True)
    # The same document as the committed one (same configuration), at this app's address.
    assert served["info"] == openapi.rebase(committed["info"], "http://localhost/oapi")
    assert set(served["paths"]) == set(committed["paths"])
    other = oapi_world.client.get("/oapi/openapi?f=json", base_url="http://hub.lan:8080")
    assert other.get_json()["servers"][0]["url"] == "http://hub.lan:8080/oapi"


def test_document_is_generated_once_per_app(
    oapi_world: OapiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    generate = openapi.generate

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return generate(*args, **kwargs)

    monkeypatch.setattr(openapi, "generate", counting)
    client = create_app(oapi_world.store, HubMetrics(), lambda: True).test_client()
    assert calls == []  # not at app creation
    for root in ("http://localhost", "http://hub.lan", "http://localhost"):
        assert client.get("/oapi/openapi", base_url=root).status_code == 200
    assert calls == [1]


def test_swagger_page(oapi_world: OapiWorld) -> None:
    page = oapi_world.get("/oapi/openapi?f=html")
    assert "http://localhost/oapi/openapi" in page


@pytest.mark.slow
def test_no_operation_answers_5xx(oapi_world: OapiWorld) -> None:
    """schemathesis' generated requests for every documented operation: none answers 5xx."""
    api_schema = schemathesis.openapi.from_wsgi("/oapi/openapi", oapi_world.app)
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(str(result.err()))
            continue
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # each failure names its operation
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            failures.append(f"{operation.label}: {' | '.join(lines[:6])[:400]}")
    assert operations >= 5
    assert not failures, "\n".join(failures)
