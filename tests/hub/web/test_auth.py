"""The authentication gate: anonymous reads, credentials and roles for writes (both stores).

The write handlers behind the gate are built elsewhere; these tests check the gate's decision:
refused requests get 401/403 from the gate, admitted ones reach the handler (any other status).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import update
from werkzeug.test import TestResponse

from hub.store import Store
from hub.store.users import ROLES, add_user, issue_token, list_users, role_includes, users
from hub.web.auth import (
    CHALLENGE,
    Principal,
    authenticate_basic,
    authenticate_bearer,
    current_principal,
    required_role,
)
from tests.hub.web.conftest import AppFactory, basic, bearer

GATE = (401, 403)
THING = {"name": "gate test", "description": "posted by a test"}


def _refusal(response: TestResponse, status: int) -> dict[str, object]:
    assert response.status_code == status
    body: dict[str, object] = response.get_json()
    assert body["code"] == status and isinstance(body["message"], str)
    assert "\n" not in body["message"]
    return body


@pytest.fixture
def app(make_app: AppFactory, store: Store) -> Flask:
    for role in ROLES:
        add_user(store, f"{role}-user", role, f"{role}-secret")
    return make_app()


def test_fresh_hub_has_no_users_and_refuses_every_write(make_app: AppFactory, store: Store) -> None:
    assert list_users(store) == []
    client = make_app().test_client()
    for name, password in (("admin", "admin"), ("write", "write"), ("read", "read")):
        response = client.post("/v1.1/Things", json=THING, headers=basic(name, password))
        _refusal(response, 401)


def test_anonymous_reads_and_refused_anonymous_writes(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/v1.1/Things").status_code == 200
    assert client.head("/v1.1/Things").status_code == 200
    assert client.get("/healthz").status_code == 200
    for method in ("post", "patch", "put", "delete"):
        response = getattr(client, method)("/v1.1/Things", json=THING)
        body = _refusal(response, 401)
        assert body["error"] == "Unauthorized"
        assert response.headers["WWW-Authenticate"] == CHALLENGE
    _refusal(client.post("/v1.1"), 401)
    _refusal(client.post("/v1.1/$batch", json={"requests": []}), 401)


# (method, path, the roles the gate lets through)
ROLE_MATRIX = [
    ("post", "/v1.1/Things", {"create", "update", "delete", "admin"}),
    ("post", "/v1.1/CreateObservations", {"create", "update", "delete", "admin"}),
    ("patch", "/v1.1/Things(1)", {"update", "delete", "admin"}),
    ("put", "/v1.1/Things(1)", {"update", "delete", "admin"}),
    ("delete", "/v1.1/Things(1)", {"delete", "admin"}),
    ("post", "/v1.1/$batch", set(ROLES)),
    ("post", "/v1.1/Things/$batch", {"create", "update", "delete", "admin"}),
]


def test_roles_with_basic_auth(app: Flask) -> None:
    client = app.test_client()
    for method, path, allowed in ROLE_MATRIX:
        for role in ROLES:
            headers = basic(f"{role}-user", f"{role}-secret")
            response = getattr(client, method)(path, json=THING, headers=headers)
            if role in allowed:
                assert response.status_code not in GATE, (method, path, role)
            else:
                body = _refusal(response, 403)
                assert body["error"] == "Forbidden" and f"{role}-user" in str(body["message"])


def test_bearer_tokens(app: Flask, store: Store) -> None:
    client = app.test_client()
    token = issue_token(store, "create-user")
    assert token.startswith("auasu_") and len(token) > 40
    response = client.post("/v1.1/Things", json=THING, headers=bearer(token))
    assert response.status_code not in GATE
    _refusal(client.delete("/v1.1/Things(1)", headers=bearer(token)), 403)
    wrong = bearer(token[:-2] + ("aa" if not token.endswith("aa") else "bb"))
    response = client.post("/v1.1/Things", json=THING, headers=wrong)
    _refusal(response, 401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    expired = issue_token(store, "admin-user", expires_in=timedelta(0))
    _refusal(client.post("/v1.1/Things", json=THING, headers=bearer(expired)), 401)
    assert [u.tokens for u in list_users(store) if u.name in ("create-user", "admin-user")] == [
        1,
        1,
    ]


MALFORMED = [
    ("Basic !!!notbase64", "malformed Basic credentials"),
    ("Basic " + "dXNlcg==", "malformed Basic credentials"),  # "user", no colon
    ("Basic " + "/w==", "malformed Basic credentials"),  # not UTF-8
    ("Digest username=x", "unsupported authorization scheme"),
    ("Bearer ", "unknown or expired bearer token"),
    ("Basic " + "A" * 10_000, "too long"),
]


def test_malformed_credentials_are_401(app: Flask) -> None:
    client = app.test_client()
    for header, message in MALFORMED:
        response = client.post("/v1.1/Things", json=THING, headers={"Authorization": header})
        body = _refusal(response, 401)
        assert message in str(body["message"]), header


def test_wrong_unknown_disabled_and_oversized_credentials(app: Flask, store: Store) -> None:
    client = app.test_client()
    for headers in (
        basic("create-user", "wrong"),
        basic("nobody", "create-secret"),
        basic("create-user", ""),
        basic("create-user", "x" * 2_000),
        basic("x" * 1000, "create-secret"),
    ):
        body = _refusal(client.post("/v1.1/Things", json=THING, headers=headers), 401)
        assert body["message"] == "wrong user name or password"
    with store.engine.begin() as conn:
        conn.execute(update(users).where(users.c.name == "admin-user").values(disabled=True))
    headers = basic("admin-user", "admin-secret")
    _refusal(client.post("/v1.1/Things", json=THING, headers=headers), 401)
    token = issue_token(store, "admin-user")
    _refusal(client.post("/v1.1/Things", json=THING, headers=bearer(token)), 401)


def test_oversized_password_is_refused_without_hashing(store: Store) -> None:
    add_user(store, "alice", "create", "correct horse")
    started = time.perf_counter()
    for _ in range(50):
        assert authenticate_basic(store, "alice", "y" * 2_000_000) is None
    # 50 scrypt runs would take seconds; refusing by length takes milliseconds.
    assert time.perf_counter() - started < 1.0


def test_credentials_on_reads_are_checked(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/v1.1/Things", headers=basic("read-user", "read-secret")).status_code == 200
    _refusal(client.get("/v1.1/Things", headers=basic("read-user", "nope")), 401)
    # Outside the API, credentials are not looked at.
    assert client.get("/healthz", headers=basic("read-user", "nope")).status_code == 200


def test_current_principal_for_the_batch_handler(app: Flask, store: Store) -> None:
    assert current_principal() is None
    with app.test_request_context(
        "/v1.1/$batch", method="POST", headers=basic("update-user", "update-secret")
    ):
        assert app.preprocess_request() is None
        principal = current_principal()
        assert principal == Principal("update-user", "update", "basic")
        assert principal.may("create") and principal.may("update")
        assert not principal.may("delete") and not principal.may("admin")
    token = issue_token(store, "read-user")
    with app.test_request_context("/v1.1/$batch", method="POST", headers=bearer(token)):
        assert app.preprocess_request() is None
        principal = current_principal()
        assert principal is not None and principal.scheme == "bearer"
        assert principal.may("read") and not principal.may("create")
    with app.test_request_context("/v1.1/Things", method="GET"):
        assert app.preprocess_request() is None
        assert current_principal() is None


def test_authenticate_functions_for_the_mqtt_bridge(store: Store) -> None:
    add_user(store, "logger-7", "create", "s3cret")
    assert authenticate_basic(store, "logger-7", "s3cret") == Principal(
        "logger-7", "create", "basic"
    )
    assert authenticate_basic(store, "logger-7", "S3cret") is None
    assert authenticate_basic(store, "logger-8", "s3cret") is None
    token = issue_token(store, "logger-7")
    principal = authenticate_bearer(store, token)
    assert principal is not None and principal.name == "logger-7"
    assert authenticate_bearer(store, token + "x") is None
    assert authenticate_bearer(store, "") is None


def test_role_ladder_and_required_roles() -> None:
    assert role_includes("admin", "delete") and role_includes("delete", "create")
    assert role_includes("create", "read") and not role_includes("create", "update")
    assert not role_includes("bogus", "read")
    with pytest.raises(ValueError, match="unknown role"):
        role_includes("admin", "superuser")
    assert required_role("POST", "/v1.1/Things") == "create"
    assert required_role("POST", "/v1.1/CreateObservations") == "create"
    assert required_role("POST", "/v1.1/$batch") is None
    assert required_role("POST", "/v1.1/Things/$batch") == "create"  # no side door
    assert required_role("PATCH", "/v1.1/Things(1)") == "update"
    assert required_role("PUT", "/v1.1/Things(1)") == "update"
    assert required_role("DELETE", "/v1.1/Things(1)") == "delete"


def test_failed_logins_are_rate_limited_per_address(make_app: AppFactory, store: Store) -> None:
    add_user(store, "alice", "create", "right")
    client = make_app(**{"rate_limits.login_failures": "3/min"}).test_client()
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(3):
        response = client.post(
            "/v1.1/Things", json=THING, headers=basic("alice", "guess"), environ_base=attacker
        )
        _refusal(response, 401)
    # Even the right password is not checked any more from that address...
    response = client.post(
        "/v1.1/Things", json=THING, headers=basic("alice", "right"), environ_base=attacker
    )
    body = _refusal(response, 429)
    assert "failed logins" in str(body["message"])
    assert 1 <= int(response.headers["Retry-After"]) <= 20
    assert response.headers["RateLimit-Limit"] == "3"
    assert response.headers["RateLimit-Remaining"] == "0"
    # ...while anonymous reads from it, and logins from elsewhere, go on.
    assert client.get("/v1.1/Things", environ_base=attacker).status_code == 200
    response = client.post(
        "/v1.1/Things",
        json=THING,
        headers=basic("alice", "right"),
        environ_base={"REMOTE_ADDR": "198.51.100.1"},
    )
    assert response.status_code not in (*GATE, 429)


def test_token_use_is_recorded(store: Store, make_app: AppFactory) -> None:
    add_user(store, "bob", "admin", "pw")
    token = issue_token(store, "bob")
    with store.connect() as conn:
        from hub.store.users import api_tokens

        assert conn.execute(api_tokens.select()).one().last_used_at is None
    make_app().test_client().delete("/v1.1/Things(9)", headers=bearer(token))
    with store.connect() as conn:
        row = conn.execute(api_tokens.select()).one()
    assert row.last_used_at is not None and row.last_used_at >= row.created_at
    assert token not in str(tuple(row)) and len(row.token_hash) == 64
