"""Who is asking: the authentication gate in front of the hub's write APIs.

Reads are anonymous. ``POST``, ``PATCH``, ``PUT`` and ``DELETE`` below a protected prefix
(``/v1.1``) need credentials, HTTP Basic (what FROST clients send) or ``Authorization: Bearer
<token>`` (``auasu users token``), and a role on the ladder of :mod:`hub.store.users`:

=====================  ==========================================================
POST                   ``create`` (also ``CreateObservations``)
PATCH, PUT             ``update``
DELETE                 ``delete``
POST ``$batch``        authentication only; the batch handler checks each inner
                       request with :func:`current_principal` and ``Principal.may``
=====================  ==========================================================

Missing or wrong credentials answer 401 with ``WWW-Authenticate``; valid ones without the role
403. Credentials sent with a read are checked too (a wrong password is 401, not ignored).
Failed checks are counted per client address; past the ``login_failures`` rate the address gets
429 before anything is verified, which slows password guessing to that rate.

:func:`authenticate_basic` and :func:`authenticate_bearer` need no request, so the MQTT bridge
can use the same accounts.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Flask, Response, g, has_request_context, request

from hub.config import Rate
from hub.store import Store
from hub.store.users import check_password_login, check_token_login, role_includes
from hub.web.errors import json_error
from hub.web.ratelimit import WRITE_METHODS, IPNetwork, TokenBuckets, request_address

CHALLENGE = 'Basic realm="AuaSu", Bearer'
# Paths whose requests are authenticated when they carry credentials and whose writes need them;
# /raw also needs them to read (archived device bytes carry HJ 212 passwords in clear).
PROTECTED_PREFIXES: tuple[str, ...] = ("/v1.1", "/prov", "/raw")
# Longer than any honest Basic or bearer header; refused before decoding anything.
MAX_AUTHORIZATION_LENGTH = 4096
_METHOD_ROLES = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the user's name and role, and how they proved it."""

    name: str
    role: str
    scheme: str  # "basic" or "bearer"

    def may(self, role: str) -> bool:
        """Whether this caller holds ``role`` (``read``, ``create``, ``update``, ``delete``,
        ``admin``); roles include the ones below them, ``admin`` includes all."""
        return role_includes(self.role, role)


def authenticate_basic(store: Store, name: str, password: str) -> Principal | None:
    """The principal for a user name and password, or None (unknown, wrong, disabled)."""
    account = check_password_login(store, name, password)
    return None if account is None else Principal(account.name, account.role, "basic")


def authenticate_bearer(store: Store, token: str) -> Principal | None:
    """The principal for a bearer token, or None (unknown, expired, user disabled)."""
    account = check_token_login(store, token)
    return None if account is None else Principal(account.name, account.role, "bearer")


def current_principal() -> Principal | None:
    """Who made the current request (None: anonymous, or outside a request)."""
    if not has_request_context():
        return None
    principal: Principal | None = g.get("auasu_principal")
    return principal


def required_role(
    method: str, path: str, prefixes: Sequence[str] = PROTECTED_PREFIXES
) -> str | None:
    """The role a write needs; None for ``$batch`` (exactly ``PREFIX/$batch``), which needs
    authentication only, its inner requests being checked one by one, and for non-writes."""
    if method == "POST" and path.rstrip("/") in {p + "/$batch" for p in prefixes}:
        return None
    return _METHOD_ROLES.get(method)


def is_protected(path: str, prefixes: Sequence[str] = PROTECTED_PREFIXES) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


class _Refusal(Exception):
    """Credentials that do not authenticate; the message says which way (one line)."""


def _principal_from_header(store: Store, header: str) -> Principal:
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise _Refusal("the Authorization header is too long")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise _Refusal("malformed Basic credentials: expected base64 of NAME:PASSWORD") from exc
        name, colon, password = decoded.partition(":")
        if not colon:
            raise _Refusal("malformed Basic credentials: expected base64 of NAME:PASSWORD")
        principal = authenticate_basic(store, name, password)
        if principal is None:
            raise _Refusal("wrong user name or password")
        return principal
    if scheme.lower() == "bearer":
        principal = authenticate_bearer(store, value)
        if principal is None:
            raise _Refusal("unknown or expired bearer token")
        return principal
    raise _Refusal("unsupported authorization scheme: use Basic or Bearer")


def unauthorized(message: str) -> Response:
    return json_error(401, message, {"WWW-Authenticate": CHALLENGE})


def install(
    app: Flask,
    store: Store,
    *,
    login_failures: Rate | None,
    trusted: Sequence[IPNetwork] = (),
    prefixes: Sequence[str] = PROTECTED_PREFIXES,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Put the gate in front of every request of ``app`` (see the module docstring)."""
    failures = TokenBuckets(login_failures, clock=clock) if login_failures else None

    @app.before_request
    def _gate() -> Response | None:
        if not is_protected(request.path, prefixes):
            return None
        header = request.headers.get("Authorization", "")
        if header.strip():
            address = request_address(trusted)
            if failures is not None:
                state = failures.peek(address)
                if not state.allowed:
                    return json_error(
                        429,
                        "too many failed logins from this address; "
                        f"retry in {state.retry_after_s} s",
                        state.headers(),
                    )
            try:
                g.auasu_principal = _principal_from_header(store, header)
            except _Refusal as exc:
                if failures is not None:
                    failures.take(address)
                return unauthorized(str(exc))
        if request.method not in WRITE_METHODS:
            return None
        principal = current_principal()
        if principal is None:
            return unauthorized(f"{request.method} needs credentials: HTTP Basic or a bearer token")
        needed = required_role(request.method, request.path, prefixes)
        if needed is not None and not principal.may(needed):
            return json_error(
                403,
                f"user {principal.name!r} (role {principal.role}) may not {needed}: "
                f"{request.method} needs the role {needed} or higher",
            )
        return None
