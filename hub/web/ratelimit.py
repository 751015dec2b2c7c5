"""Per-client rate limits for the HTTP APIs: token buckets, answered with 429 when empty.

Reads (GET/HEAD/OPTIONS) and writes (POST/PATCH/PUT/DELETE) have separate buckets per client:
the user when the request is authenticated, else the client address (the TCP peer, or the
``X-Forwarded-For`` entry added by a configured trusted proxy). Buckets live in this process:
with several hub processes behind a balancer each process counts on its own, so the effective
limit is the configured one times the number of processes.

Every limited response carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
(draft-ietf-httpapi-ratelimit-headers) and ``RateLimit-Policy``; a 429 adds ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Flask, Response, g, request

from hub.config import Rate, RateLimitSettings
from hub.web.errors import json_error

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Monitoring must keep working while a client is being throttled.
EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})
# Enough clients for a city's users and harvesters; beyond it the least recently seen client
# is forgotten (its bucket was most likely full again anyway), so memory stays bounded.
MAX_CLIENTS = 100_000


@dataclass(frozen=True, slots=True)
class Decision:
    """One bucket's answer: whether the request may go on, and what the headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # seconds until one request is allowed again (0 when allowed)
    window_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class TokenBuckets:
    """Token buckets of one :class:`Rate`, one per key; thread-safe, bounded in memory."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_CLIENTS,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> Decision:
        """Spend one token of ``key``'s bucket if there is one."""
        return self._decide(key, spend=True)

    def peek(self, key: str) -> Decision:
        """Whether ``key`` has a token, without spending it."""
        return self._decide(key, spend=False)

    def _decide(self, key: str, *, spend: bool) -> Decision:
        rate, burst = self.rate.per_second, self.rate.burst
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - updated) * rate)
            allowed = tokens >= 1.0
            if allowed and spend:
                tokens -= 1.0
            if tokens < burst:
                self._buckets[key] = (tokens, now)
                self._buckets.move_to_end(key)
                while len(self._buckets) > self._max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.pop(key, None)  # a full bucket is the same as none
        return Decision(
            allowed=allowed,
            limit=burst,
            remaining=int(tokens),
            reset_s=math.ceil((burst - tokens) / rate),
            retry_after_s=0 if allowed else max(1, math.ceil((1.0 - tokens) / rate)),
            window_s=max(1, math.ceil(self.rate.window_s)),
        )


def trusted_networks(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: the TCP ``peer``, unless it is a trusted proxy, in which case the
    nearest ``X-Forwarded-For`` hop that is not itself a trusted proxy."""
    address = _parse(peer)
    if address is None:
        return peer or "unknown"
    if not trusted or not forwarded_for or not _is_trusted(address, trusted):
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        parsed = _parse(hop.strip())
        if parsed is None:
            break  # a proxy we trust never writes garbage; stop at the last good hop
        address = parsed
        if not _is_trusted(parsed, trusted):
            break
    return str(address)


def _parse(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        return None


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[IPNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def request_address(trusted: Sequence[IPNetwork]) -> str:
    """:func:`client_address` of the current Flask request."""
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted)


class RateLimiter:
    """The read and write buckets of one app (see the module docstring)."""

    def __init__(
        self,
        settings: RateLimitSettings,
        trusted: Sequence[IPNetwork] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reads = TokenBuckets(settings.read, clock=clock) if settings.read else None
        self.writes = TokenBuckets(settings.write, clock=clock) if settings.write else None
        self.trusted = tuple(trusted)

    def check(self, user: str | None) -> Decision | None:
        """The decision for the current request; None when it is not limited."""
        if request.path in EXEMPT_PATHS:
            return None
        buckets = self.writes if request.method in WRITE_METHODS else self.reads
        if buckets is None:
            return None
        key = f"user:{user}" if user is not None else f"addr:{request_address(self.trusted)}"
        return buckets.take(key)


def install(
    app: Flask,
    settings: RateLimitSettings,
    *,
    trusted: Sequence[IPNetwork] = (),
    identify: Callable[[], str | None] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
) -> RateLimiter:
    """Limit ``app``'s requests; ``identify`` names the authenticated user (run after the
    authentication gate, so it can)."""
    limiter = RateLimiter(settings, trusted, clock=clock)

    @app.before_request
    def _limit() -> Response | None:
        decision = limiter.check(identify())
        if decision is None:
            return None
        g.auasu_rate_decision = decision
        if decision.allowed:
            return None
        return json_error(
            429,
            f"rate limit exceeded for this client; retry in {decision.retry_after_s} s",
            decision.headers(),
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        decision: Decision | None = g.get("auasu_rate_decision")
        if decision is not None:
            for name, value in decision.headers().items():
                response.headers.setdefault(name, value)
        return response

    return limiter
