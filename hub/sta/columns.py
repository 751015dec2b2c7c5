"""Where each SensorThings property and navigation lives in the store, as data.

The filter compiler (:mod:`hub.sta.compiler`) never derives a table or column name from client
text: it resolves a path with :func:`hub.sta.entities.resolve_path` and then looks the resolved
names up here. Anything the model knows but the store does not hold (the computed time extents
and observed areas of Datastreams and MultiDatastreams, ``Observation/validTime`` in filters)
raises :class:`NotSupported`, which the API answers with 501 rather than a wrong result.

The second half reads stored values the same way on both backends (:class:`PerDialect`): JSON
members with bound paths, date parts of UTC times, and the functions SQLite spells differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Dialect,
    Float,
    FromClause,
    Integer,
    Numeric,
    String,
    Table,
    Time,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

from hub.sta.entities import EntityType
from hub.sta.filter.functions import ValueType
from hub.store.schema import (
    datastreams,
    features_of_interest,
    historical_location_locations,
    historical_locations,
    locations,
    multi_datastream_observed_properties,
    multi_datastreams,
    observations,
    observed_properties,
    sensors,
    thing_locations,
    things,
)
from hub.store.types import UTCDateTime

StorageKind = Literal["value", "json", "interval", "geometry"]


class NotSupported(ValueError):
    """A valid STA path or function that this hub cannot evaluate yet (HTTP 501)."""

    status = 501


@dataclass(frozen=True, slots=True)
class Stored:
    """How one property is stored.

    ``value``: one column of type ``value_type``; ``json``: one JSON column whose members a path
    may name; ``interval``: a (start, end) column pair, end == start for an instant;
    ``geometry``: a GeoJSON column, mirrored on PostgreSQL by the generated PostGIS column
    :data:`GEOMETRY_COLUMN` (see ``hub/store/migrations.py``).
    """

    kind: StorageKind
    columns: tuple[str, ...]
    value_type: ValueType | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """How one navigation hop reaches the target entity's table.

    ``fk``: the source row holds ``column`` referencing the target id (to-one);
    ``reverse``: the target row holds ``column`` referencing the source id (to-many);
    ``through``: an association table with ``source_key`` / ``target_key`` columns, and
    ``position`` when it orders the targets of one source (MultiDatastream/ObservedProperties:
    element i of every result array is the ObservedProperty at position i).
    """

    kind: Literal["fk", "reverse", "through"]
    column: str = ""
    through: Table | None = None
    source_key: str = ""
    target_key: str = ""
    position: str = ""


@dataclass(frozen=True, slots=True)
class EntityTable:
    """The base table of one entity type, its stored properties and its navigation links."""

    table: Table
    properties: dict[str, Stored]
    links: dict[str, Link]


def _value(column: str, value_type: ValueType) -> Stored:
    return Stored("value", (column,), value_type)


def _json(column: str) -> Stored:
    return Stored("json", (column,))


def _geometry(column: str) -> Stored:
    return Stored("geometry", (column,), ValueType.GEOMETRY)


_S, _I, _D, _T = ValueType.STRING, ValueType.INTEGER, ValueType.DECIMAL, ValueType.DATETIME
_COMMON = {
    "id": _value("id", _I),
    "name": _value("name", _S),
    "description": _value("description", _S),
}

TABLES: dict[str, EntityTable] = {
    "Thing": EntityTable(
        things,
        {**_COMMON, "properties": _json("properties")},
        {
            "Locations": Link(
                "through", through=thing_locations, source_key="thing_id", target_key="location_id"
            ),
            "HistoricalLocations": Link("reverse", "thing_id"),
            "Datastreams": Link("reverse", "thing_id"),
            "MultiDatastreams": Link("reverse", "thing_id"),
        },
    ),
    "Location": EntityTable(
        locations,
        {
            **_COMMON,
            "encodingType": _value("encoding_type", _S),
            "location": _geometry("location"),
            "properties": _json("properties"),
        },
        {
            "Things": Link(
                "through", through=thing_locations, source_key="location_id", target_key="thing_id"
            ),
            "HistoricalLocations": Link(
                "through",
                through=historical_location_locations,
                source_key="location_id",
                target_key="historical_location_id",
            ),
        },
    ),
    "HistoricalLocation": EntityTable(
        historical_locations,
        {"id": _value("id", _I), "time": _value("time", _T)},
        {
            "Thing": Link("fk", "thing_id"),
            "Locations": Link(
                "through",
                through=historical_location_locations,
                source_key="historical_location_id",
                target_key="location_id",
            ),
        },
    ),
    "Datastream": EntityTable(
        datastreams,
        {
            **_COMMON,
            "unitOfMeasurement": _json("unit"),
            "observationType": _value("observation_type", _S),
            "properties": _json("properties"),
        },
        {
            "Thing": Link("fk", "thing_id"),
            "Sensor": Link("fk", "sensor_id"),
            "ObservedProperty": Link("fk", "observed_property_id"),
            "Observations": Link("reverse", "datastream_id"),
        },
    ),
    "MultiDatastream": EntityTable(
        multi_datastreams,
        {
            **_COMMON,
            "unitOfMeasurements": _json("unit_of_measurements"),
            "observationType": _value("observation_type", _S),
            "multiObservationDataTypes": _json("multi_observation_data_types"),
            "properties": _json("properties"),
        },
        {
            "Thing": Link("fk", "thing_id"),
            "Sensor": Link("fk", "sensor_id"),
            "ObservedProperties": Link(
                "through",
                through=multi_datastream_observed_properties,
                source_key="multi_datastream_id",
                target_key="observed_property_id",
                position="position",
            ),
            "Observations": Link("reverse", "multi_datastream_id"),
        },
    ),
    "Sensor": EntityTable(
        sensors,
        {
            **_COMMON,
            "encodingType": _value("encoding_type", _S),
            "metadata": _value("metadata", _S),
            "properties": _json("properties"),
        },
        {
            "Datastreams": Link("reverse", "sensor_id"),
            "MultiDatastreams": Link("reverse", "sensor_id"),
        },
    ),
    "ObservedProperty": EntityTable(
        observed_properties,
        {**_COMMON, "definition": _value("definition", _S), "properties": _json("properties")},
        {
            "Datastreams": Link("reverse", "observed_property_id"),
            "MultiDatastreams": Link(
                "through",
                through=multi_datastream_observed_properties,
                source_key="observed_property_id",
                target_key="multi_datastream_id",
            ),
        },
    ),
    "Observation": EntityTable(
        observations,
        {
            "id": _value("id", _I),
            "phenomenonTime": Stored("interval", ("phenomenon_time_start", "phenomenon_time_end")),
            "result": _value("result", _D),
            "resultTime": _value("result_time", _T),
            "resultQuality": _value("result_quality", _S),
            "parameters": _json("parameters"),
        },
        {
            # Exactly one of the two is set (ck_observation_stream); a NULL key joins nothing.
            "Datastream": Link("fk", "datastream_id"),
            "MultiDatastream": Link("fk", "multi_datastream_id"),
            "FeatureOfInterest": Link("fk", "feature_of_interest_id"),
        },
    ),
    "FeatureOfInterest": EntityTable(
        features_of_interest,
        {
            **_COMMON,
            "encodingType": _value("encoding_type", _S),
            "feature": _geometry("feature"),
            "properties": _json("properties"),
        },
        {"Observations": Link("reverse", "feature_of_interest_id")},
    ),
}

# Known to the model, absent from the store (or computed): say so instead of guessing.
_WHY_NOT: dict[tuple[str, str], str] = {
    # The box is computed in Python from stream_features after the page is fetched
    # (hub.sta.observed_area), not a column the SQL of a filter or an order could use.
    ("Datastream", "observedArea"): "Datastream/observedArea is computed, not stored",
    ("Datastream", "phenomenonTime"): "Datastream/phenomenonTime is computed, not stored",
    ("Datastream", "resultTime"): "Datastream/resultTime is computed, not stored",
    ("MultiDatastream", "observedArea"): "MultiDatastream/observedArea is computed, not stored",
    ("MultiDatastream", "phenomenonTime"): "MultiDatastream/phenomenonTime is computed, not stored",
    ("MultiDatastream", "resultTime"): "MultiDatastream/resultTime is computed, not stored",
    ("Observation", "validTime"): "Observation/validTime is not stored",
}


def entity_table(entity: EntityType) -> EntityTable:
    """The storage of ``entity``, or :class:`NotSupported` for a type without a table."""
    found = TABLES.get(entity.name)
    if found is None:
        raise NotSupported(f"{entity.set_name} are not supported yet")
    return found


def stored(entity: EntityType, name: str) -> Stored:
    """How property ``name`` of ``entity`` is stored, or :class:`NotSupported`."""
    found = entity_table(entity).properties.get(name)
    if found is None:
        why = _WHY_NOT.get((entity.name, name), f"{entity.name}/{name} is not stored")
        raise NotSupported(f"{why}: not supported in filters yet")
    return found


def link(entity: EntityType, navigation: str) -> Link:
    """How navigation ``navigation`` of ``entity`` is joined, or :class:`NotSupported`."""
    found = entity_table(entity).links.get(navigation)
    if found is None:
        raise NotSupported(f"navigation {entity.name}/{navigation} is not supported yet")
    return found


def link_condition(
    hop: Link, source: FromClause, target: FromClause
) -> tuple[ColumnElement[bool], tuple[FromClause, ...]]:
    """The join condition from ``source`` to ``target`` and any association table it needs."""
    src: Any = source.c
    tgt: Any = target.c
    if hop.kind == "fk":
        return tgt.id == src[hop.column], ()
    if hop.kind == "reverse":
        return tgt[hop.column] == src.id, ()
    assert hop.through is not None
    via = hop.through.alias()
    cols: Any = via.c
    return and_(cols[hop.source_key] == src.id, cols[hop.target_key] == tgt.id), (via,)


# --- reading stored values: one spelling per backend ------------------------------------------


class PerDialect(ColumnElement[Any]):
    """One value spelled differently on SQLite and PostgreSQL, chosen when the SQL is compiled."""

    inherit_cache = False  # holds arbitrary sub-expressions; not worth a custom cache key
    _traverse_internals = [
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement[Any], postgresql: ColumnElement[Any]) -> None:
        self.sqlite = sqlite
        self.postgresql = postgresql
        self.type = sqlite.type

    @property
    def _from_objects(self) -> list[FromClause]:
        return [*self.sqlite._from_objects, *self.postgresql._from_objects]


@compiles(PerDialect)
def _compile_default(element: PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.sqlite, **kw)


@compiles(PerDialect, "postgresql")
def _compile_postgresql(element: PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.postgresql, **kw)


class _DateValue(TypeDecorator[date]):
    """A date: ``date`` on PostgreSQL, ``YYYY-MM-DD`` text on SQLite (the first ten characters of
    the store's UTC text, so the two compare as text in date order)."""

    impl = Date()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(10))
        return dialect.type_descriptor(Date())

    def process_bind_param(self, value: date | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return value.isoformat()


class _TimeValue(TypeDecorator[time]):
    """A time of day: ``time`` on PostgreSQL, ``HH:MM:SS.ffffff`` text on SQLite (characters
    12-26 of the store's UTC text)."""

    impl = Time()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(15))
        return dialect.type_descriptor(Time())

    def process_bind_param(self, value: time | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return value.isoformat("microseconds")


_BIND_TYPES: dict[ValueType, TypeEngine[Any]] = {
    _S: String(),
    _I: BigInteger(),  # ids and counts are 64-bit; a 32-bit bind overflows on PostgreSQL
    _D: Float(),
    ValueType.BOOLEAN: Boolean(),
    # The store's own type, so SQLite compares the same UTC text the rows hold.
    _T: UTCDateTime(),
    ValueType.DATE: _DateValue(),
    ValueType.TIME: _TimeValue(),
    # Durations travel as whole microseconds (see micros()): exact on both backends.
    ValueType.DURATION: BigInteger(),
    # Canonical WKT rebuilt by hub.sta.filter.wkt; PostGIS reads it with ST_GeomFromText.
    ValueType.GEOMETRY: String(),
}
# JSON types a member must have to be read as a value type: SQLite json_type, PostgreSQL
# jsonb_typeof, and how SQLAlchemy casts the PostgreSQL text.
_JSON_TYPES: dict[ValueType, tuple[tuple[str, ...], str, str]] = {
    _S: (("text",), "string", "as_string"),
    _I: (("integer", "real"), "number", "as_float"),
    _D: (("integer", "real"), "number", "as_float"),
    ValueType.BOOLEAN: (("true", "false"), "boolean", "as_boolean"),
}
# The PostGIS column that PostgreSQL generates from each GeoJSON column (SRID 4326, GiST index).
GEOMETRY_COLUMN = "geom"


def micros(value: timedelta) -> int:
    """A duration as whole microseconds (exact, unlike float seconds)."""
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def bind_value(value: Any, vtype: ValueType | None) -> ColumnElement[Any]:
    """``value`` as a bound parameter of the SQL type for ``vtype`` (never SQL text)."""
    if vtype not in _BIND_TYPES:
        raise NotSupported(f"a {vtype} value is not supported here yet")
    if vtype is ValueType.DURATION:
        value = micros(value)
    return literal(value, _BIND_TYPES[vtype])


def geometry_columns(source: FromClause, spec: Stored) -> tuple[Any, Any]:
    """A geometry property of ``source`` as (SQLite GeoJSON text, PostgreSQL PostGIS column).

    The PostGIS column is created by the migration, not declared in the schema's ``Table``, so it
    is named here as a column of ``source`` (a constant name, never client text).
    """
    columns: Any = source.c
    return columns[spec.columns[0]], ColumnClause(GEOMETRY_COLUMN, _selectable=source)


def json_member(
    col: ColumnElement[Any], keys: tuple[str, ...], want: ValueType | None, any_type: bool = False
) -> Any:
    """The member at ``keys`` as ``want`` (NULL when it has another JSON type); keys are bound.

    ``any_type``: the member of whatever type, NULL only when missing or JSON null (for
    ``eq null``); ``want`` None: a value with a natural order, for ``$orderby``.
    """
    # The keys passed JSON_KEY_RE (no quotes), so the quoted SQLite path is unambiguous.
    path = literal("$" + "".join(f'."{key}"' for key in keys), String())
    raw = func.json_extract(col, path)
    member: Any = col[keys[0]] if len(keys) == 1 else col[keys]
    if any_type:  # ->> gives SQL NULL for a JSON null, -> would give a jsonb 'null'
        return PerDialect(raw, member.as_string())
    if want is None:  # ordering: SQLite's native values, PostgreSQL's jsonb order
        return PerDialect(raw, member)
    if want not in _JSON_TYPES:
        raise NotSupported(f"comparing a JSON member with a {want} is not supported yet")
    lite_types, pg_type, reader = _JSON_TYPES[want]
    # Typed by a guard, not a bare cast: 'abc'::float would abort the whole query on PostgreSQL.
    names: list[Any] = [literal_column(f"'{name}'") for name in lite_types]
    return PerDialect(
        case((func.json_type(col, path).in_(names), raw)),
        case(
            (func.jsonb_typeof(member) == literal_column(f"'{pg_type}'"), getattr(member, reader)())
        ),
    )


def strpos(haystack: Any, needle: Any) -> ColumnElement[Any]:
    """1-based position of ``needle`` in ``haystack``, 0 when absent (instr / strpos)."""
    return PerDialect(func.instr(haystack, needle), func.strpos(haystack, needle))


def math_function(name: str, value: Any) -> ColumnElement[Any]:
    """round (half away from zero), floor or ceiling of a number on both backends."""
    if name == "round":
        # PostgreSQL's round(double) rounds half to even; round(numeric) matches SQLite.
        return PerDialect(func.round(value), cast(func.round(cast(value, Numeric)), Float))
    whole = cast(value, Integer)  # SQLite (no floor/ceil before 3.44): truncates toward zero
    if name == "floor":
        return PerDialect(case((value < whole, whole - 1), else_=whole), func.floor(value))
    return PerDialect(case((value > whole, whole + 1), else_=whole), func.ceil(value))


def real_mod(dividend: Any, divisor: Any) -> ColumnElement[Any]:
    """The remainder of a division of reals, sign of the dividend (C fmod); NULL for 0."""
    # SQLite's % truncates both operands to integers; PostgreSQL has no double-precision mod.
    return PerDialect(
        func.auasu_fmod(dividend, divisor, type_=Float),
        cast(func.mod(cast(dividend, Numeric), func.nullif(cast(divisor, Numeric), 0)), Float),
    )
