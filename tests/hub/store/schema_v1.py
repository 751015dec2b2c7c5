"""The store's schema as version 1 of the hub made it (hub/store/schema.py before the
SensorThings write path), frozen here so the upgrade to version 2 can be tested on a database
that really has the old shape. Do not change it: it is history.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hub.store.types import Id, Json, UTCDateTime

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

stations = Table(
    "stations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("source", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("device_id", String(64)),
    Column("system_code", String(8)),
    Column("secret_hash", String(200)),
    Column("timezone", String(64), nullable=False),
    Column("name", Json, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("operator", String(200), nullable=False),
    Column("factors", Json, nullable=False),
    Column("options", Json, nullable=False),
    Column("properties", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "device_id", name="uq_stations_device"),
)

things = Table(
    "things",
    metadata,
    Column("id", Id, primary_key=True),
    Column("station_id", Id, ForeignKey("stations.id"), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("properties", Json, nullable=False),
)

locations = Table(
    "locations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("encoding_type", String(64), nullable=False),
    Column("location", Json, nullable=False),
    Column("properties", Json, nullable=False),
)

thing_locations = Table(
    "thing_locations",
    metadata,
    Column("thing_id", Id, ForeignKey("things.id"), primary_key=True),
    Column("location_id", Id, ForeignKey("locations.id"), primary_key=True),
)

historical_locations = Table(
    "historical_locations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("thing_id", Id, ForeignKey("things.id"), nullable=False, index=True),
    Column("time", UTCDateTime, nullable=False),
)

historical_location_locations = Table(
    "historical_location_locations",
    metadata,
    Column("historical_location_id", Id, ForeignKey("historical_locations.id"), primary_key=True),
    Column("location_id", Id, ForeignKey("locations.id"), primary_key=True),
)

sensors = Table(
    "sensors",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(128), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("encoding_type", String(64), nullable=False),
    Column("metadata", Text, nullable=False),
    Column("properties", Json, nullable=False),
)

observed_properties = Table(
    "observed_properties",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("definition", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("properties", Json, nullable=False),
)

features_of_interest = Table(
    "features_of_interest",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(128), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("encoding_type", String(64), nullable=False),
    Column("feature", Json, nullable=False),
    Column("properties", Json, nullable=False),
)

datastreams = Table(
    "datastreams",
    metadata,
    Column("id", Id, primary_key=True),
    Column("thing_id", Id, ForeignKey("things.id"), nullable=False),
    Column("sensor_id", Id, ForeignKey("sensors.id"), nullable=False),
    Column("observed_property_id", Id, ForeignKey("observed_properties.id"), nullable=False),
    Column("aggregation", String(16), nullable=False),
    Column("factor", String(32), nullable=False),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("observation_type", String(200), nullable=False),
    Column("unit", Json, nullable=False),
    Column("properties", Json, nullable=False),
    UniqueConstraint("thing_id", "observed_property_id", "aggregation", name="uq_datastream"),
)

raw_frames = Table(
    "raw_frames",
    metadata,
    Column("id", Id, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("content", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("adapter", String(64), nullable=False),
    Column("adapter_version", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("peer", String(300), nullable=False),
    Column("station_key", String(64), index=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("last_received_at", UTCDateTime, nullable=False),
    Column("receive_count", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("observations", Integer, nullable=False),
)

# Why a frame (or part of it) was refused. A frame with outcome 'rejected' is in quarantine;
# a stored frame may still carry issues for the values that were dropped from it.
frame_issues = Table(
    "frame_issues",
    metadata,
    Column("id", Id, primary_key=True),
    Column("frame_id", Id, ForeignKey("raw_frames.id"), nullable=False, index=True),
    Column("code", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("device_id", String(64)),
    Column("station_key", String(64)),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("frame_id", "code", "reason", name="uq_frame_issue"),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("datastream_id", Id, ForeignKey("datastreams.id"), nullable=False),
    Column("feature_of_interest_id", Id, ForeignKey("features_of_interest.id"), nullable=False),
    # For an instant, end == start: a NULL end would defeat the uniqueness constraint.
    Column("phenomenon_time_start", UTCDateTime, nullable=False),
    Column("phenomenon_time_end", UTCDateTime, nullable=False),
    Column("result_time", UTCDateTime),
    Column("result", Float, nullable=False),
    Column("result_quality", String(64), nullable=False),
    Column("parameters", Json, nullable=False),
    Column("frame_id", Id, ForeignKey("raw_frames.id"), nullable=False),
    UniqueConstraint(
        "datastream_id", "phenomenon_time_start", "phenomenon_time_end", name="uq_observation"
    ),
)

Index(
    "ix_observations_stream_time",
    observations.c.datastream_id,
    observations.c.phenomenon_time_start,
    observations.c.id,
)
Index("ix_observations_frame", observations.c.frame_id)
