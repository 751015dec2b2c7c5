"""``auasu users``: add, list, remove and token, on both stores, run in-process."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from hub.cli import main
from hub.sta.mqtt.broker import verify_password
from hub.store import Store
from hub.store.users import api_tokens, broker_accounts, users
from hub.web.auth import authenticate_basic, authenticate_bearer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, expected: int = 2) -> None:
    assert code == expected
    assert err.count("\n") == 1 and err.startswith("auasu: error: "), err


def test_add_list_token_remove(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", store_url]
    code, out, _ = run(capsys, "users", "list", *db)
    assert code == 0 and "no users" in out
    code, out, _ = run(
        capsys, "users", "add", "alice", "--role", "create", "--password", "pw1", *db
    )
    assert code == 0 and "added user alice (role create)" in out
    code, out, _ = run(capsys, "users", "list", *db)
    assert code == 0 and "alice" in out and "create" in out and "active" in out

    code, out, err = run(capsys, "users", "token", "alice", "--expires-days", "30", *db)
    assert code == 0 and "expires in 30 days" in err and "shown only now" in err
    token = out.strip()
    assert out.count("\n") == 1 and token.startswith("auasu_")
    code, out, _ = run(capsys, "users", "list", "--json", *db)
    listed = json.loads(out)
    assert [(u["name"], u["role"], u["tokens"], u["disabled"]) for u in listed] == [
        ("alice", "create", 1, False)
    ]

    store = Store.open(store_url)
    try:
        assert authenticate_basic(store, "alice", "pw1") is not None
        principal = authenticate_bearer(store, token)
        assert principal is not None and principal.name == "alice"
        with store.connect() as conn:
            stored = [tuple(map(str, r)) for r in conn.execute(select(users)).all()]
            stored += [tuple(map(str, r)) for r in conn.execute(select(api_tokens)).all()]
            expiry = conn.execute(select(api_tokens.c.expires_at)).scalar_one()
        dump = json.dumps(stored)
        assert "pw1" not in dump and token not in dump and expiry is not None

        code, out, _ = run(capsys, "users", "remove", "alice", *db)
        assert code == 0 and "removed user alice" in out
        assert authenticate_bearer(store, token) is None
        assert authenticate_basic(store, "alice", "pw1") is None
        with store.connect() as conn:
            assert conn.execute(select(api_tokens)).all() == []
    finally:
        store.close()


def test_password_from_stdin(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\nnext line\n"))
    code, _, _ = run(capsys, "users", "add", "bob", "--role", "admin", "--db", store_url)
    assert code == 0
    store = Store.open(store_url)
    try:
        assert authenticate_basic(store, "bob", "correct horse battery") is not None
        assert authenticate_basic(store, "bob", "correct horse battery\n") is None
    finally:
        store.close()


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
def test_empty_password_is_refused(
    stdin: str,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code, _, err = run(capsys, "users", "add", "carol", "--role", "read", "--db", sqlite_url)
    _one_line_error(code, err)
    assert "empty password" in err
    assert run(capsys, "users", "list", "--json", "--db", sqlite_url)[1].strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["users", "add", "dave", "--role", "root", "--password", "x"], "unknown role 'root'"),
        (["users", "add", "bad name", "--role", "read", "--password", "x"], "bad user name"),
        (["users", "add", "a:b", "--role", "read", "--password", "x"], "bad user name"),
        (["users", "add", "ann\n", "--role", "read", "--password", "x"], "bad user name"),
        (["users", "add", "x" * 65, "--role", "read", "--password", "x"], "bad user name"),
        (["users", "remove", "nobody"], "no user named 'nobody'"),
        (["users", "token", "nobody"], "no user named 'nobody'"),
        (["users", "token", "erin", "--expires-days", "0"], "--expires-days must be at least 1"),
        (["users", "mqtt-secret", "nobody"], "no user named 'nobody'"),
        (["users", "mqtt-secret", "bad name"], "bad user name"),
        (["users", "mqtt-secret", "nobody", "--revoke"], "no user named 'nobody'"),
    ],
)
def test_user_errors_exit_2_in_one_line(
    argv: list[str], message: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(
            capsys, "users", "add", "erin", "--role", "read", "--password", "e", "--db", sqlite_url
        )[0]
        == 0
    )
    code, _, err = run(capsys, *argv, "--db", sqlite_url)
    _one_line_error(code, err)
    assert message in err


def test_duplicate_user(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["users", "add", "frank", "--role", "update", "--password", "f", "--db", store_url]
    assert run(capsys, *argv)[0] == 0
    code, _, err = run(capsys, *argv)
    _one_line_error(code, err)
    assert "user 'frank' already exists" in err and "f\n" not in err.split(":", 2)[-1][:-1]


def test_unreachable_database_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "users", "list", "--db", "postgresql://nobody@127.0.0.1:1/none")
    _one_line_error(code, err, expected=1)
    assert err.startswith("auasu: error: database:")


def test_mqtt_secret_is_shown_once_and_only_its_broker_hash_kept(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", store_url]
    assert run(capsys, "users", "add", "logger", "--role", "create", "--password", "p", *db)[0] == 0
    code, out, err = run(capsys, "users", "mqtt-secret", "logger", *db)
    assert code == 0 and "shown only now" in err
    secret = out.strip()
    assert out.count("\n") == 1 and len(secret) >= 40
    listed = json.loads(run(capsys, "users", "list", "--json", *db)[1])
    assert [(u["name"], u["mqtt"]) for u in listed] == [("logger", True)]
    assert "yes" in run(capsys, "users", "list", *db)[1]

    store = Store.open(store_url)
    try:
        (account,) = broker_accounts(store)
        assert (account.name, account.role) == ("logger", "create")
        assert account.broker_hash.startswith("$7$")
        assert verify_password(secret, account.broker_hash)
        with store.connect() as conn:
            dump = json.dumps([tuple(map(str, r)) for r in conn.execute(select(users)).all()])
        assert secret not in dump
        # A new secret replaces the old one.
        again = run(capsys, "users", "mqtt-secret", "logger", *db)[1].strip()
        (account,) = broker_accounts(store)
        assert again != secret and verify_password(again, account.broker_hash)
        assert not verify_password(secret, account.broker_hash)
        code, out, _ = run(capsys, "users", "mqtt-secret", "logger", "--revoke", *db)
        assert code == 0 and "removed the MQTT account of logger" in out
        assert broker_accounts(store) == []
    finally:
        store.close()
