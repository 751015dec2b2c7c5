"""Per-client rate limits: token buckets, client addresses, 429 with headers, and ``off``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hub.config import Rate, load_config
from hub.store import Store
from hub.store.users import add_user
from hub.web.ratelimit import TokenBuckets, client_address, trusted_networks
from tests.hub.web.conftest import AppFactory, basic


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spends_refills_and_says_when() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Rate(per_second=2, burst=4), clock=clock)
    decisions = [buckets.take("a") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after_s == 1 and refused.reset_s == 2 and refused.limit == 4
    assert refused.headers()["Retry-After"] == "1"
    assert refused.headers()["RateLimit-Policy"] == "4;w=2"
    assert "Retry-After" not in decisions[0].headers()
    assert buckets.take("b").allowed  # another client has its own bucket
    clock.now += 0.5  # one token back
    assert buckets.take("a").allowed and not buckets.take("a").allowed
    clock.now += 60
    assert buckets.peek("a").remaining == 4  # full, and capped at the burst
    assert buckets.peek("a").remaining == 4  # peeking spends nothing


def test_slow_rates_round_retry_after_up() -> None:
    buckets = TokenBuckets(Rate.parse("10/min"), clock=FakeClock())
    for _ in range(10):
        assert buckets.take("x").allowed
    refused = buckets.take("x")
    assert not refused.allowed and refused.retry_after_s == 6 and refused.reset_s == 60


def test_memory_is_bounded() -> None:
    buckets = TokenBuckets(Rate(per_second=1, burst=2), clock=FakeClock(), max_keys=100)
    for i in range(1000):
        buckets.take(f"client-{i}")
    assert len(buckets._buckets) == 100


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    none: tuple[ipaddress.IPv4Network, ...] = ()
    proxies = trusted_networks(["10.0.0.0/8", "::1"])
    assert client_address("203.0.113.5", "1.2.3.4", none) == "203.0.113.5"
    # A client cannot pick its own address by sending the header past no proxy.
    assert client_address("203.0.113.5", "1.2.3.4", proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", "198.51.100.7", proxies) == "198.51.100.7"
    # The nearest untrusted hop counts; what the client wrote further left does not.
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.9", proxies) == (
        "198.51.100.7"
    )
    assert client_address("10.0.0.2", "garbage, 10.0.0.9", proxies) == "10.0.0.9"
    assert client_address("10.0.0.2", None, proxies) == "10.0.0.2"
    assert client_address("::1", "2001:db8::0001", proxies) == "2001:db8::1"
    assert client_address(None, "1.2.3.4", proxies) == "unknown"


def _limited_app(make_app: AppFactory, **settings: Any) -> Flask:
    return make_app(**{"rate_limits.read": "2/min", "rate_limits.write": "1/min", **settings})


def test_anonymous_reads_get_429_with_headers(make_app: AppFactory) -> None:
    client = _limited_app(make_app).test_client()
    first = client.get("/v1.1/Things")
    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert first.headers["RateLimit-Policy"] == "2;w=60"
    assert int(first.headers["RateLimit-Reset"]) == 30
    assert client.get("/v1.1/Things").status_code == 200
    refused = client.get("/v1.1/Things")
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["code"] == 429 and body["error"] == "Too Many Requests"
    assert "rate limit" in body["message"]
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == "60"
    # Other addresses and monitoring are not affected.
    other = client.get("/v1.1/Things", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert other.status_code == 200
    assert client.get("/healthz").status_code == 200
    assert "RateLimit-Limit" not in client.get("/metrics").headers


def test_writes_are_limited_per_user(make_app: AppFactory, store: Store) -> None:
    add_user(store, "alice", "admin", "a")
    add_user(store, "bob", "admin", "b")
    client = _limited_app(make_app).test_client()
    first = client.delete("/v1.1/Things(1)", headers=basic("alice", "a"))
    assert first.status_code not in (401, 403, 429)
    assert first.headers["RateLimit-Limit"] == "1"
    second = client.delete("/v1.1/Things(1)", headers=basic("alice", "a"))
    assert second.status_code == 429 and second.headers["Retry-After"] == "60"
    # Same address, another user: their own bucket.
    assert client.delete("/v1.1/Things(1)", headers=basic("bob", "b")).status_code != 429
    # Alice's reads have their own bucket, keyed by her name rather than the address.
    for _ in range(2):
        response = client.get("/v1.1/Things", headers=basic("alice", "a"))
        assert response.status_code == 200
    assert client.get("/v1.1/Things", headers=basic("alice", "a")).status_code == 429
    assert client.get("/v1.1/Things").status_code == 200  # the address's anonymous bucket


def test_trusted_proxy_separates_clients(make_app: AppFactory) -> None:
    app = _limited_app(make_app, **{"http.trusted_proxies": ["127.0.0.1"]})
    client = app.test_client()
    for _ in range(2):
        response = client.get("/v1.1/Things", headers={"X-Forwarded-For": "198.51.100.1"})
        assert response.status_code == 200
    assert client.get("/v1.1/Things", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == (
        429
    )
    assert client.get("/v1.1/Things", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == (
        200
    )


def test_auasu_rate_limits_off(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUASU_RATE_LIMITS", "off")
    client = make_app().test_client()
    for _ in range(150):
        response = client.get("/v1.1/Things")
        assert response.status_code == 200 and "RateLimit-Limit" not in response.headers
    # The environment wins over the file (flags would win over both).
    path = tmp_path / "auasu.toml"
    path.write_text('[rate_limits]\nread = "2/min"\nlogin_failures = "3/min"\n')
    assert load_config(path).rate_limits.model_dump() == {
        "read": None,
        "write": None,
        "login_failures": None,
    }


def test_environment_overrides_single_buckets(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUASU_RATE_LIMITS", "read=1/h burst 1,write=off")
    client = make_app().test_client()
    assert client.get("/v1.1/Things").headers["RateLimit-Policy"] == "1;w=3600"
    assert client.get("/v1.1/Things").status_code == 429


def test_defaults_apply_with_a_config_and_test_rigs_without_one(make_app: AppFactory) -> None:
    limited = make_app().test_client().get("/v1.1/Things")
    assert limited.headers["RateLimit-Limit"] == "100"
    assert limited.headers["RateLimit-Policy"] == "100;w=5"
    rig = make_app(config=False).test_client()
    for _ in range(150):
        response = rig.get("/v1.1/Things")
        assert response.status_code == 200
    assert "RateLimit-Limit" not in response.headers
    for _ in range(20):  # nor are failed logins counted
        response = rig.post("/v1.1/Things", headers=basic("nobody", "guess"))
        assert response.status_code == 401
