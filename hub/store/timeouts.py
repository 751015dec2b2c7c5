"""Statement time limits for API reads, so one expensive query cannot hold the database.

``with limited_connection(store) as conn:`` is ``store.connect()`` with a time limit:

* PostgreSQL: ``statement_timeout`` set for the connection's transaction only (``set_config``
  with ``is_local``, the bindable form of ``SET LOCAL``), so every statement in the block is
  cancelled by the server after the limit, and the pooled connection is clean afterwards.
* SQLite: a progress handler interrupts whatever runs once the block is older than the limit
  (one deadline for the whole block: SQLite has no per-statement timer).

A statement stopped either way surfaces as :class:`StatementTimeout`. The limit is the
``seconds`` argument or, when omitted, the budget of the current context that the web layer
sets per request (:func:`statement_budget`), so request handlers need not know the setting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    from hub.store import Store

# How many SQLite VM instructions pass between deadline checks: small enough to stop within
# milliseconds, large enough that the check (one monotonic clock read) costs nothing.
_SQLITE_CHECK_EVERY = 4096
_PG_QUERY_CANCELED = "57014"

_budget: ContextVar[float | None] = ContextVar("auasu_statement_budget", default=None)


class StatementTimeout(Exception):
    """A statement ran past its time limit and was stopped."""

    def __init__(self, seconds: float | None = None) -> None:
        limit = f" of {seconds:g} s" if seconds else ""
        super().__init__(f"the query ran longer than the hub's time limit{limit}")
        self.seconds = seconds


def set_budget(seconds: float | None) -> Token[float | None]:
    """Make ``seconds`` the default limit of :func:`limited_connection` in this context."""
    return _budget.set(seconds if seconds and seconds > 0 else None)


def reset_budget(token: Token[float | None]) -> None:
    _budget.reset(token)


def current_budget() -> float | None:
    return _budget.get()


@contextmanager
def statement_budget(seconds: float | None) -> Iterator[None]:
    """Within the block, :func:`limited_connection` without ``seconds`` uses ``seconds``."""
    token = set_budget(seconds)
    try:
        yield
    finally:
        reset_budget(token)


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is a database refusal caused by a statement time limit."""
    if isinstance(exc, StatementTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig: Any = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_QUERY_CANCELED:
        return True
    # sqlite3 reports an interrupt from the progress handler as OperationalError("interrupted").
    return type(orig).__module__.startswith("sqlite3") and str(orig) == "interrupted"


@contextmanager
def limited_connection(store: Store, seconds: float | None = None) -> Iterator[Connection]:
    """A read connection whose statements stop after ``seconds`` (default: the context's
    budget; no limit when neither is set). Raises :class:`StatementTimeout` when they do."""
    limit = current_budget() if seconds is None else (seconds if seconds > 0 else None)
    conn = store.connect()
    raw: Any = None
    try:
        if limit is not None:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT set_config('statement_timeout', :ms, true)"),
                    {"ms": str(max(1, round(limit * 1000)))},
                )
            else:
                raw = conn.connection.driver_connection
                deadline = time.monotonic() + limit
                raw.set_progress_handler(
                    lambda: 1 if time.monotonic() > deadline else 0, _SQLITE_CHECK_EVERY
                )
        yield conn
    except OperationalError as exc:
        if limit is not None and is_statement_timeout(exc):
            raise StatementTimeout(limit) from exc
        raise
    finally:
        if raw is not None:
            # The connection goes back to the pool: the next user must not inherit the handler.
            raw.set_progress_handler(None, 0)
        conn.close()
