"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
Id = BigInteger().with_variant(Integer(), "sqlite")

Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes: ``timestamptz`` on PostgreSQL, fixed-width text on SQLite.

    SQLite text is ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, so text order is time order.
    Naive datetimes are refused on the way in, so no local time can slip into the store.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            # Our own formatting (C-level isoformat) is several times faster than SQLAlchemy's
            # SQLite DateTime processor, and this runs for every observation.
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused by the store: attach a time zone")
        if value.utcoffset():
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Slicing off "+00:00" is much cheaper than datetime.replace(tzinfo=None).
            return value.isoformat(" ", "microseconds")[:26]
        return value

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # Replaces TypeDecorator's wrapper (impl processor, then process_result_value): this
        # runs for every time of every row read, five per observation, so one plain function
        # per dialect is worth it. The values are the same as process_result_value's.
        if dialect.name == "sqlite":
            return _from_sqlite_text
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            # The engine's sessions run in UTC (hub.store.engine), so psycopg hands back
            # aware datetimes in datetime.UTC already: no per-value work at all.
            return None
        return _from_postgresql

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return self.process_result_value_of(value)

    @staticmethod
    def process_result_value_of(value: Any) -> datetime | None:
        """A stored value as an aware UTC datetime (None stays None)."""
        if value is None:
            return None
        if isinstance(value, str):
            return _parse_text(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _from_postgresql(value: Any) -> datetime | None:
    # The engine's sessions run in UTC (hub.store.engine), so psycopg's values carry
    # datetime.UTC already; anything else (another session time zone) is converted.
    if value is not None and value.tzinfo is UTC:
        return value  # type: ignore[no-any-return]
    return UTCDateTime.process_result_value_of(value)


def _from_sqlite_text(value: Any) -> datetime | None:
    # Stored text, the common case, first; anything else (None, or a value a caller converted
    # already, as hub.store.queries does for aggregates) takes the general path.
    if value.__class__ is str:
        return _parse_text(value)
    return UTCDateTime.process_result_value_of(value)


# Observations of many datastreams share their times (the bulk paths write one instant per
# stream, a page in time or id order repeats each), so most parses are cache hits; datetimes
# are immutable, so handing out one object many times is safe.
@functools.lru_cache(maxsize=8192)
def _parse_text(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
