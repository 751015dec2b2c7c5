"""Server-driven paging (18-088 §9.3.3.6): opaque ``$skiptoken`` nextLinks over keyset paging.

When the order is keyed (:mod:`hub.sta.ordering`), a nextLink carries the last row's sort-key
values in a ``$skiptoken`` instead of a larger ``$skip``, and the next page starts with
``WHERE (keys) > (values)`` on the index: page 10,000 costs what page 1 costs. A client's own
``$skip`` still works (client-driven paging), and an unkeyed order (JSON members, expressions,
related entities) falls back to ``$skip`` in the nextLink.

The token is ``base64url(JSON) "." base64url(MAC)``. The JSON holds a format version, a hash of
the path, ``$filter`` and ``$orderby`` the token belongs to, and the values. The MAC catches a
garbled or edited token, and the hash a token pasted onto another query: both are a 400 with a
message, never a 500, and each value is checked against its column's type before it is bound.
The MAC key is not a secret the hub keeps: a token grants nothing (any position it names is
reachable with ``$filter``), and a fixed key lets every hub process sharing a database, and a
restarted one, continue each other's pages. ``AUASU_STA_TOKEN_KEY`` replaces the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import ColumnElement, and_, false, literal, or_
from sqlalchemy.types import TypeDecorator, TypeEngine

from hub.sta.errors import ApiError
from hub.sta.options import QueryOptions
from hub.sta.ordering import SortKey

TOKEN_VERSION = 1
_KEY = os.environ.get("AUASU_STA_TOKEN_KEY", "auasu-sta-skiptoken-v1").encode()
_MAC_BYTES = 12
MAX_STRING_VALUE = 4096
_BAD = "$skiptoken: not a token this server issued for this query"


def binding(path: str, options: QueryOptions) -> str:
    """What a token is bound to: the resource path, ``$filter`` and ``$orderby``."""
    text = "\x00".join((path, options.filter_text or "", options.orderby_text or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(keys: Sequence[SortKey], row: Mapping[str, Any], bound_to: str) -> str:
    """The token that continues after ``row``."""
    values: list[Any] = []
    for key in keys:
        value = row[key.column.name]
        # NaN and infinities travel as JSON's NaN/Infinity extension, which json.loads reads.
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    payload = json.dumps([TOKEN_VERSION, bound_to, values], separators=(",", ":")).encode()
    return _b64(payload) + "." + _b64(_mac(payload))


def decode_token(token: str, keys: Sequence[SortKey], bound_to: str) -> list[Any]:
    """The sort-key values in ``token``, checked against ``keys``; ApiError 400 otherwise."""
    body, dot, mac = token.partition(".")
    try:
        payload = _unb64(body)
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        raise ApiError(400, _BAD) from None
    if not dot or not hmac.compare_digest(given, _mac(payload)):
        raise ApiError(400, "$skiptoken: damaged or altered token")
    try:
        version, bound, values = json.loads(payload)
    except (ValueError, TypeError, RecursionError):  # RecursionError: '[[[[...' nested deep
        raise ApiError(400, _BAD) from None
    if version != TOKEN_VERSION:
        raise ApiError(400, "$skiptoken: token from another server version; start again")
    if bound != bound_to:
        raise ApiError(400, "$skiptoken: the token belongs to a different path, filter or order")
    if not isinstance(values, list) or len(values) != len(keys):
        raise ApiError(400, _BAD)
    return [_checked(key, value) for key, value in zip(keys, values, strict=True)]


def after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows that come after ``values`` in the order of ``keys`` (NULLs as the largest value).

    ``k1 > v1 OR (k1 = v1 AND k2 > v2) OR ...``, plus a redundant bound on the first key
    (``k1 >= v1``) so that both planners see an index range rather than a disjunction.
    """
    clauses: list[ColumnElement[bool]] = []
    same: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        clauses.append(and_(*same, _beyond(key, value)))
        same.append(key.column.is_(None) if value is None else key.column == _bind(key, value))
    condition = or_(*clauses)
    first, value = keys[0], values[0]
    if len(keys) > 1 and value is not None and not first.nullable:
        bound = _bind(first, value)
        condition = and_(
            first.column <= bound if first.descending else first.column >= bound, condition
        )
    return condition


def next_link(base_url: str, args: Sequence[tuple[str, str]], name: str, value: str) -> str:
    """``base_url`` with the request's parameters, ``$skip``/``$skiptoken`` replaced by one."""
    pairs = [(k, v) for k, v in args if k.lower() not in ("$skip", "$skiptoken")]
    pairs.append((name, value))
    return f"{base_url}?{query_string(pairs)}"


def query_string(pairs: Sequence[tuple[str, str]]) -> str:
    """Percent-encoded ``k=v&...`` that keeps the characters OData URLs are read with."""
    return urlencode(pairs, quote_via=quote, safe="$'(),/:=")


def _beyond(key: SortKey, value: Any) -> ColumnElement[bool]:
    column = key.column
    if key.descending:  # NULLs come first, then values downwards
        if value is None:
            return column.is_not(None) if key.nullable else false()
        return column < _bind(key, value)
    if value is None:  # NULLs come last: nothing is beyond them
        return false()
    larger = column > _bind(key, value)
    return or_(larger, column.is_(None)) if key.nullable else larger


def _bind(key: SortKey, value: Any) -> ColumnElement[Any]:
    # The column's own type: SQLite compares the UTC text the store writes, PostgreSQL the type.
    return literal(value, key.column.type)


def _checked(key: SortKey, value: Any) -> Any:
    """``value`` as the Python type of ``key``'s column, or ApiError 400."""
    if value is None:
        if key.nullable:
            return None
        raise ApiError(400, _BAD)
    kind = _python_type(key.column.type)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        if -(2**63) <= value < 2**63:
            return value
    elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any double
            raise ApiError(400, _BAD) from None
    elif kind is str and isinstance(value, str) and len(value) <= MAX_STRING_VALUE:
        return value
    elif kind is datetime and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ApiError(400, _BAD) from None
        if moment.tzinfo is not None:
            return moment
    raise ApiError(400, _BAD)


def _python_type(sql_type: TypeEngine[Any]) -> type:
    """The Python type a column holds (a TypeDecorator such as UTCDateTime: its impl's)."""
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    try:
        return sql_type.python_type
    except NotImplementedError:
        return object


def _mac(payload: bytes) -> bytes:
    return hmac.new(_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
