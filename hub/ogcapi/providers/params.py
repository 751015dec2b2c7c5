"""Reading pygeoapi's query arguments and writing property values, for the feature providers.

:class:`FieldSpec` describes an output property (type, whether it is queryable and sortable,
whether it depends only on the station or datastream); :func:`parse_datetime` reads the
``datetime`` parameter; :func:`coerce_parameter` reads a property filter's query-string value;
the rest turn stored values into the JSON the features carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import g, has_request_context
from pygeoapi.provider.base import ProviderInvalidQueryError
from sqlalchemy import ColumnElement, bindparam

from hub.ogcapi import cql
from hub.ogcapi.cql import CqlError, Kind
from hub.store.types import UTCDateTime


class BadQuery(ProviderInvalidQueryError):  # type: ignore[misc]
    """A request the provider cannot honour as asked: pygeoapi answers 400 with the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message, user_msg=" ".join(message.split()))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One output property of a collection: its type and what a request may do with it.
    ``stream`` marks values that depend on the station or datastream only."""

    name: str
    kind: Kind | None
    title: str
    description: str
    queryable: bool = True
    sortable: bool = True
    nullable: bool = False
    stream: bool = False
    schema: Mapping[str, Any] | None = None  # for array/object properties

    def json_schema(self) -> dict[str, Any]:
        if self.schema is not None:
            out = dict(self.schema)
        elif self.kind is Kind.DATETIME:
            out = {"type": "string", "format": "date-time"}
        else:
            assert self.kind is not None
            out = {"type": self.kind.value}
        return out | {"title": self.title, "description": self.description}


@dataclass(frozen=True, slots=True)
class Span:
    """A ``datetime`` parameter: bounds (None: open); ``end`` exclusive for a date's day."""

    start: datetime | None
    end: datetime | None
    end_inclusive: bool = True

    def conditions(self, column: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.start is not None:
            out.append(column >= bindparam(None, self.start, type_=UTCDateTime()))
        if self.end is not None:
            hi = bindparam(None, self.end, type_=UTCDateTime())
            out.append(column <= hi if self.end_inclusive else column < hi)
        return out


def parse_datetime(text: str) -> Span:
    """The ``datetime`` parameter (RFC 3339 instant or interval, ``..``/empty open ends)."""
    value = text.strip()
    if value.count("/") > 1:
        raise BadQuery("datetime is an instant or one interval 'start/end'")
    if "/" not in value:
        if value in ("", ".."):
            raise BadQuery("datetime needs an instant or an interval")
        moment, day_end = _moment(value)
        return Span(moment, day_end, end_inclusive=False) if day_end else Span(moment, moment)
    first, last = (part.strip() for part in value.split("/"))
    if first in ("", "..") and last in ("", ".."):
        return Span(None, None)
    start = None if first in ("", "..") else _moment(first)[0]
    end: datetime | None = None
    inclusive = True
    if last not in ("", ".."):
        moment, day_end = _moment(last)
        end, inclusive = (day_end, False) if day_end else (moment, True)
    if start is not None and end is not None and end < start:
        raise BadQuery("datetime interval ends before it starts")
    return Span(start, end, inclusive)


def _moment(text: str) -> tuple[datetime, datetime | None]:
    """(the instant, or a date's start; the end of that date's day, None for an instant)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadQuery(f"datetime {text!r} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), None


def coerce_parameter(spec: FieldSpec, raw: str) -> Any:
    """A property filter's query-string value as a value of the field's type."""
    text = str(raw)
    if "\x00" in text:
        raise BadQuery(f"{spec.name}: NUL characters are not allowed")
    kind = spec.kind
    try:
        if kind is Kind.STRING:
            return text
        if kind is Kind.INTEGER:
            return cql.coerce(int(text), Kind.INTEGER)
        if kind is Kind.NUMBER:
            return cql.coerce(float(text), Kind.NUMBER)
        if kind is Kind.BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind is Kind.DATETIME:
            return _moment(text)[0]
    except (ValueError, CqlError):
        raise BadQuery(f"{spec.name}: {text!r} is not a {kind}") from None
    raise BadQuery(f"{spec.name} cannot be used as a filter parameter")


def iso(moment: datetime | None) -> str | None:
    """A UTC datetime as RFC 3339 text with ``Z`` (None stays None)."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def localized_names(name: Any) -> dict[str, str | None]:
    """``name_en``/``name_ru``/``name_kk`` from a station's stored name object."""
    names = name if isinstance(name, Mapping) else {}
    return {f"name_{lang}": _text(names.get(lang)) for lang in ("en", "ru", "kk")}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def observation_value(result: Any, result_json: Any) -> Any:
    """An observation's result as the store reads it back: ``result_json`` when set."""
    return result_json if result_json is not None else result


def observation_quality(quality: Any, quality_json: Any) -> Any:
    return quality_json if quality_json is not None else quality


PROVENANCE_REL = "http://www.w3.org/ns/prov#has_provenance"  # PROV-AQ (provenance.md §1.1)


def provenance_links(entry: int | None) -> tuple[dict[str, Any], ...]:
    """The link from an observation to the signed provenance record that binds its current
    value (log entry ``entry``; None: the observation has none, so no link)."""
    if entry is None:
        return ()
    root = g.get("auasu_hub_root", "") if has_request_context() else ""
    return (
        {
            "rel": PROVENANCE_REL,
            "type": "application/json",
            "title": "signed provenance record (log entry " + str(entry) + ")",
            "href": f"{root}/prov/records/{entry}",
        },
    )
