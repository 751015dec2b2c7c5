"""Pydantic models of the plain (non-navigation) properties each entity type accepts on writes.

One model per entity type (18-088 §8, ``sta.md`` §1.2): mandatory properties are required,
unknown ones refused (``extra="forbid"``), strings are checked against the store's column
lengths so PostgreSQL never sees a value it would refuse. :func:`validate` turns a pydantic
error into a one-line 400 naming the property. Each model maps itself to store columns
(:meth:`Body.columns`) and :func:`representation` maps a stored row back, which is what PATCH
merges into and JSON Patch edits.

Server-derived Datastream properties (``phenomenonTime``, ``resultTime``, ``observedArea``) are
accepted and ignored: the hub computes them from the Observations (FROST does the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import String, Table

from hub.sta.entities import EntityType, quote_name
from hub.sta.errors import ApiError
from hub.sta.serialize import interval as format_interval
from hub.sta.serialize import iso
from hub.sta.write import values
from hub.store.schema import (
    datastreams,
    features_of_interest,
    historical_locations,
    locations,
    multi_datastreams,
    observations,
    observed_properties,
    sensors,
    things,
)


def column_length(table: Table, column: str) -> int:
    """The declared length of a string column (what PostgreSQL enforces)."""
    kind = table.c[column].type
    assert isinstance(kind, String) and kind.length is not None
    return int(kind.length)


# The column lengths of hub.store.schema, spelled out for the type checker; a test keeps
# them equal to the schema (tests/hub/sta/write/test_models.py).
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text200 = Annotated[str, StringConstraints(max_length=200)]
Text300 = Annotated[str, StringConstraints(max_length=300)]
Uri200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Uri300 = Annotated[str, StringConstraints(min_length=1, max_length=300)]
LENGTHS: tuple[tuple[Table, str, int], ...] = (
    (things, "name", 200),
    (locations, "name", 200),
    (features_of_interest, "name", 200),
    (sensors, "name", 200),
    (sensors, "encoding_type", 64),
    (observed_properties, "name", 200),
    (observed_properties, "definition", 300),
    (datastreams, "name", 300),
    (datastreams, "observation_type", 200),
    (multi_datastreams, "name", 300),
    (multi_datastreams, "observation_type", 200),
)

JsonObject = dict[str, Any]
_GeoJsonType = Literal["application/geo+json", "application/vnd.geo+json"]
QUALITY_LIMIT = column_length(observations, "result_quality")


class Body(BaseModel):
    """The plain properties of one entity type, validated; ``columns`` gives the store row."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    entity_name: ClassVar[str]

    def columns(self) -> dict[str, Any]:
        raise NotImplementedError


class ThingBody(Body):
    entity_name = "Thing"
    name: Text200
    description: str
    properties: JsonObject | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "properties": self.properties or {},
        }


class _GeoBody(Body):
    name: Text200
    description: str
    encoding_type: _GeoJsonType = Field(alias="encodingType")
    properties: JsonObject | None = None


class LocationBody(_GeoBody):
    entity_name = "Location"
    location: JsonObject

    @field_validator("location")
    @classmethod
    def _geometry(cls, value: Any) -> Any:
        return values.geometry(value)

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            # One spelling stored: 1.1's, whatever 1.0 clients sent (sta.md §1.2).
            "encoding_type": values.GEOJSON,
            "location": self.location,
            "properties": self.properties or {},
        }


class FeatureOfInterestBody(_GeoBody):
    entity_name = "FeatureOfInterest"
    feature: JsonObject

    @field_validator("feature")
    @classmethod
    def _geometry(cls, value: Any) -> Any:
        return values.geometry(value)

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "encoding_type": values.GEOJSON,
            "feature": self.feature,
            "properties": self.properties or {},
        }


class HistoricalLocationBody(Body):
    entity_name = "HistoricalLocation"
    time: str

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        values.instant(value)
        return value

    def columns(self) -> dict[str, Any]:
        return {"time": values.instant(self.time)}


class UnitBody(BaseModel):
    """A unitOfMeasurement: name, symbol, definition; null values allowed (truth observations)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    name: str | None = None
    symbol: str | None = None
    definition: str | None = None


class DatastreamBody(Body):
    entity_name = "Datastream"
    name: Text300
    description: str
    unit_of_measurement: UnitBody = Field(alias="unitOfMeasurement")
    observation_type: Uri200 = Field(alias="observationType")
    properties: JsonObject | None = None
    # Server-derived (see the module docstring): accepted, not stored.
    phenomenon_time: Any = Field(default=None, alias="phenomenonTime")
    result_time: Any = Field(default=None, alias="resultTime")
    observed_area: Any = Field(default=None, alias="observedArea")

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "unit": self.unit_of_measurement.model_dump(),
            "observation_type": self.observation_type,
            "properties": self.properties or {},
        }


class MultiDatastreamBody(Body):
    entity_name = "MultiDatastream"
    name: Text300
    description: str
    unit_of_measurements: list[UnitBody] = Field(alias="unitOfMeasurements", min_length=1)
    observation_type: Literal[
        "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
    ] = Field(alias="observationType")
    multi_observation_data_types: list[Uri200] = Field(
        alias="multiObservationDataTypes", min_length=1
    )
    properties: JsonObject | None = None
    phenomenon_time: Any = Field(default=None, alias="phenomenonTime")
    result_time: Any = Field(default=None, alias="resultTime")
    observed_area: Any = Field(default=None, alias="observedArea")

    @field_validator("multi_observation_data_types")
    @classmethod
    def _same_length(cls, types: list[str], info: Any) -> list[str]:
        units = info.data.get("unit_of_measurements")
        if units is not None and len(units) != len(types):
            raise ValueError(
                f"{len(types)} multiObservationDataTypes for {len(units)} unitOfMeasurements"
            )
        return types

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "unit_of_measurements": [u.model_dump() for u in self.unit_of_measurements],
            "observation_type": self.observation_type,
            "multi_observation_data_types": list(self.multi_observation_data_types),
            "properties": self.properties or {},
        }


class SensorBody(Body):
    entity_name = "Sensor"
    name: Text200
    description: str
    encoding_type: Text64 = Field(alias="encodingType")
    metadata: str
    properties: JsonObject | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "encoding_type": self.encoding_type,
            "metadata": self.metadata,
            "properties": self.properties or {},
        }


class ObservedPropertyBody(Body):
    entity_name = "ObservedProperty"
    name: Text200
    definition: Uri300
    description: str
    properties: JsonObject | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "definition": self.definition,
            "description": self.description,
            "properties": self.properties or {},
        }


class ObservationBody(Body):
    """An Observation's own properties; the stream and feature come from its links."""

    entity_name = "Observation"
    # Optional on create: the server uses the time of the request (18-088 §10.2).
    phenomenon_time: str | None = Field(default=None, alias="phenomenonTime")
    result: Any
    result_time: str | None = Field(default=None, alias="resultTime")
    result_quality: Any = Field(default=None, alias="resultQuality")
    valid_time: str | None = Field(default=None, alias="validTime")
    parameters: JsonObject | None = None

    @field_validator("phenomenon_time", "valid_time")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            values.interval(value)
        return value

    @field_validator("result_time")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None:
            values.instant(value)
        return value

    @field_validator("result")
    @classmethod
    def _result(cls, value: Any) -> Any:
        values.split_result(value)
        return value

    def columns(self) -> dict[str, Any]:
        """The row's values, except the stream, the feature, the frame and (when the client
        gave none) the phenomenon time, which the caller fills in."""
        result = values.split_result(self.result)
        quality = values.split_quality(self.result_quality, QUALITY_LIMIT)
        out: dict[str, Any] = {
            "result": result.number,
            "result_json": result.json,
            "result_time": None if self.result_time is None else values.instant(self.result_time),
            "result_quality": quality.text,
            "result_quality_json": quality.json,
            "valid_time_start": None,
            "valid_time_end": None,
            "parameters": self.parameters or {},
        }
        if self.phenomenon_time is not None:
            span = values.interval(self.phenomenon_time)
            out["phenomenon_time_start"], out["phenomenon_time_end"] = span.start, span.end
        if self.valid_time is not None:
            span = values.interval(self.valid_time)
            out["valid_time_start"], out["valid_time_end"] = span.start, span.end
        return out


BODIES: dict[str, type[Body]] = {
    model.entity_name: model
    for model in (
        ThingBody,
        LocationBody,
        HistoricalLocationBody,
        DatastreamBody,
        MultiDatastreamBody,
        SensorBody,
        ObservedPropertyBody,
        ObservationBody,
        FeatureOfInterestBody,
    )
}
TABLES: dict[str, Table] = {
    "Thing": things,
    "Location": locations,
    "HistoricalLocation": historical_locations,
    "Datastream": datastreams,
    "MultiDatastream": multi_datastreams,
    "Sensor": sensors,
    "ObservedProperty": observed_properties,
    "Observation": observations,
    "FeatureOfInterest": features_of_interest,
}


def validate(entity: EntityType, data: Mapping[str, Any], where: str | None = None) -> Body:
    """``data`` checked against the model of ``entity``, or :class:`ApiError` 400."""
    try:
        return BODIES[entity.name].model_validate(dict(data))
    except ValidationError as exc:
        raise ApiError(400, describe(where or entity.name, exc)) from None


def describe(where: str, exc: ValidationError) -> str:
    """The first problem of ``exc`` as one line that names the property."""
    error = exc.errors()[0]
    location = "/".join(str(part) for part in error["loc"])
    name = quote_name(location)
    if error["type"] == "missing":
        return f"{where}: missing mandatory property {name}"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown property {name}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "literal_error":
        message = message.replace("Input should be ", "expected ")
    return f"{where}: {name}: {message}"


def representation(entity: EntityType, row: Any) -> dict[str, Any]:
    """The writable properties of a stored row, as a client would send them."""
    name = entity.name
    common = {"name": row.get("name"), "description": row.get("description")}
    if name == "Thing":
        return {**common, "properties": row["properties"]}
    if name in ("Location", "FeatureOfInterest"):
        geometry = "location" if name == "Location" else "feature"
        return {
            **common,
            "encodingType": row["encoding_type"],
            geometry: row[geometry],
            "properties": row["properties"],
        }
    if name == "HistoricalLocation":
        return {"time": iso(row["time"])}
    if name == "Datastream":
        return {
            **common,
            "unitOfMeasurement": row["unit"],
            "observationType": row["observation_type"],
            "properties": row["properties"],
        }
    if name == "MultiDatastream":
        return {
            **common,
            "unitOfMeasurements": row["unit_of_measurements"],
            "observationType": row["observation_type"],
            "multiObservationDataTypes": row["multi_observation_data_types"],
            "properties": row["properties"],
        }
    if name == "Sensor":
        return {
            **common,
            "encodingType": row["encoding_type"],
            "metadata": row["metadata"],
            "properties": row["properties"],
        }
    if name == "ObservedProperty":
        return {**common, "definition": row["definition"], "properties": row["properties"]}
    assert name == "Observation"
    quality = row["result_quality_json"]
    return {
        "phenomenonTime": format_interval(row["phenomenon_time_start"], row["phenomenon_time_end"]),
        "result": row["result"] if row["result_json"] is None else row["result_json"],
        "resultTime": iso(row["result_time"]),
        "resultQuality": row["result_quality"] if quality is None else quality,
        "validTime": format_interval(row["valid_time_start"], row["valid_time_end"]),
        "parameters": row["parameters"],
    }
