"""The hub's tables: the station registry, SensorThings entities and the raw-frame archive.

SensorThings entities keep the names and shapes of OGC SensorThings API 1.1 (sta.md §1.2) so the
API layer maps columns one to one. Ids are numeric. Times are UTC (see :class:`UTCDateTime`).

Entities come from two places: the station registry and device ingest (which fill ``key``,
``station_id``, ``aggregation`` and ``factor``) and clients of the SensorThings API (which
leave them NULL). New columns go at the end of their table: :mod:`hub.store.migration_v2`
upgrades older databases to exactly this shape.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from hub.store.types import Id, Json, UTCDateTime

metadata = MetaData()

# For optional JSON values: Python None is SQL NULL (plain Json would store the JSON text
# 'null', which a reader checking "IS NOT NULL" would mistake for a value).
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

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
    # NULL for Things created through the SensorThings API (no registry station behind them).
    Column("station_id", Id, ForeignKey("stations.id"), unique=True),
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
    # The registry's natural key; NULL for Sensors created through the API.
    Column("key", String(128), unique=True),
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
    # The mapping's property key (pm2_5); NULL for ObservedProperties created through the API.
    Column("key", String(64), unique=True),
    Column("name", String(200), nullable=False),
    Column("definition", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("properties", Json, nullable=False),
)

features_of_interest = Table(
    "features_of_interest",
    metadata,
    Column("id", Id, primary_key=True),
    # station:<key>:<lon>:<lat> for station features, location:<id>:<digest> for features the
    # API derived from a Location (so they are found again), NULL for features clients posted.
    Column("key", String(128), unique=True),
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
    # Device streams only (the pipeline finds its stream by thing, property and aggregation);
    # NULL for Datastreams created through the API. NULLs are distinct in a UNIQUE constraint
    # on both stores, so uq_datastream keeps device streams unique and never binds API ones.
    Column("aggregation", String(16)),
    Column("factor", String(32)),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("observation_type", String(200), nullable=False),
    Column("unit", Json, nullable=False),
    Column("properties", Json, nullable=False),
    # No stored phenomenon/result time extents: maintaining them per row or per batch is
    # FROST's known ingest bottleneck (reliability.md §4.2); queries.datastream_extent reads
    # them from the (datastream, phenomenon time) index instead.
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

# The MultiDatastream extension (18-088 §12): one stream of array results, element i measured
# in unit_of_measurements[i] of observed property i (multi_datastream_observed_properties).
multi_datastreams = Table(
    "multi_datastreams",
    metadata,
    Column("id", Id, primary_key=True),
    Column("thing_id", Id, ForeignKey("things.id"), nullable=False, index=True),
    Column("sensor_id", Id, ForeignKey("sensors.id"), nullable=False, index=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("observation_type", String(200), nullable=False),
    Column("unit_of_measurements", Json, nullable=False),  # array of unit objects
    Column("multi_observation_data_types", Json, nullable=False),  # array of type URIs
    Column("properties", Json, nullable=False),
)

multi_datastream_observed_properties = Table(
    "multi_datastream_observed_properties",
    metadata,
    Column("multi_datastream_id", Id, ForeignKey("multi_datastreams.id"), primary_key=True),
    # 0-based: the index of this property's element in every result array.
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column(
        "observed_property_id", Id, ForeignKey("observed_properties.id"), nullable=False, index=True
    ),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Id, primary_key=True),
    # Exactly one of datastream_id and multi_datastream_id (ck_observation_stream).
    Column("datastream_id", Id, ForeignKey("datastreams.id")),
    Column("feature_of_interest_id", Id, ForeignKey("features_of_interest.id"), nullable=False),
    # For an instant, end == start: a NULL end would defeat the uniqueness constraint.
    Column("phenomenon_time_start", UTCDateTime, nullable=False),
    Column("phenomenon_time_end", UTCDateTime, nullable=False),
    Column("result_time", UTCDateTime),
    # A numeric result (device values, numbers posted through the API); NULL otherwise.
    Column("result", Float),
    # A quality flag string (device data, short strings posted through the API), else NULL.
    Column("result_quality", String(64)),
    Column("parameters", Json, nullable=False),
    Column("frame_id", Id, ForeignKey("raw_frames.id"), nullable=False),
    Column("multi_datastream_id", Id, ForeignKey("multi_datastreams.id")),
    # The result exactly as posted when the float column cannot hold it: strings, booleans,
    # objects, arrays (MultiDatastreams) and integers (so 42 reads back as 42, not 42.0).
    # Readers take result_json when it is not NULL, else result.
    Column("result_json", NullableJson),
    # resultQuality that is not a short string (a DQ_Element object, an array, a number).
    Column("result_quality_json", NullableJson),
    Column("valid_time_start", UTCDateTime),
    Column("valid_time_end", UTCDateTime),
    # The provenance record that binds the current value: its log index (prov_records.entry)
    # and the value's leaf in that record's batch tree. NULL when nothing signed it (API
    # writes, values stored before schema step 5 or by a hub without a signing key).
    Column("prov_entry", BigInteger),
    Column("prov_leaf", Integer),
    UniqueConstraint(
        "datastream_id", "phenomenon_time_start", "phenomenon_time_end", name="uq_observation"
    ),
    CheckConstraint(
        "(datastream_id IS NULL) <> (multi_datastream_id IS NULL)", name="ck_observation_stream"
    ),
)

Index(
    "ix_observations_stream_time",
    observations.c.datastream_id,
    observations.c.phenomenon_time_start,
    observations.c.id,
)
Index("ix_observations_frame", observations.c.frame_id)
# FeaturesOfInterest(x)/Observations, in time order or by id, without a scan of every row.
Index(
    "ix_observations_feature_time",
    observations.c.feature_of_interest_id,
    observations.c.phenomenon_time_start,
    observations.c.id,
)
# MultiDatastreams(x)/Observations by phenomenon time with the id tiebreaker and keyset paging
# (uq_multi_observation ends in phenomenon_time_end, not id, so it cannot deliver that order).
# Partial: Datastream observations (nearly all rows) leave it alone, so device ingest does not
# pay for it; "multi_datastream_id = x" implies the predicate on both planners.
Index(
    "ix_observations_multi_time",
    observations.c.multi_datastream_id,
    observations.c.phenomenon_time_start,
    observations.c.id,
    sqlite_where=observations.c.multi_datastream_id.is_not(None),
    postgresql_where=observations.c.multi_datastream_id.is_not(None),
)
# The MultiDatastream twin of uq_observation; an index rather than a constraint so that
# migration_v2 can add it to an existing table on both stores.
Index(
    "uq_multi_observation",
    observations.c.multi_datastream_id,
    observations.c.phenomenon_time_start,
    observations.c.phenomenon_time_end,
    unique=True,
)

# Which FeaturesOfInterest each (Multi)Datastream has observations of: what a stream's
# observedArea is the bounding box of (hub.sta.observed_area). Kept by every observation insert
# (ON CONFLICT DO NOTHING, in the insert's transaction) and pruned when observations go
# (hub.store.api_writes.prune_stream_features), so reading a page of 4,000 streams' areas is an
# index range per stream instead of a scan of their observations. Schema step 4
# (hub.store.migration_v4) adds it to older databases. Deleting a stream or a feature takes its
# rows along (ON DELETE CASCADE): the STA delete cascades need no extra step for them.
stream_features = Table(
    "stream_features",
    metadata,
    # Exactly one of datastream_id and multi_datastream_id (ck_stream_feature_stream).
    Column("datastream_id", Id, ForeignKey("datastreams.id", ondelete="CASCADE")),
    Column("multi_datastream_id", Id, ForeignKey("multi_datastreams.id", ondelete="CASCADE")),
    Column(
        "feature_of_interest_id",
        Id,
        ForeignKey("features_of_interest.id", ondelete="CASCADE"),
        nullable=False,
    ),
    UniqueConstraint("datastream_id", "feature_of_interest_id", name="uq_stream_feature"),
    CheckConstraint(
        "(datastream_id IS NULL) <> (multi_datastream_id IS NULL)", name="ck_stream_feature_stream"
    ),
)
# The MultiDatastream twin of uq_stream_feature (NULLs are distinct in both, so each binds only
# its own kind of stream).
Index(
    "uq_multi_stream_feature",
    stream_features.c.multi_datastream_id,
    stream_features.c.feature_of_interest_id,
    unique=True,
)
# A deleted feature's rows are found (the cascade) without a scan of the table.
Index("ix_stream_features_feature", stream_features.c.feature_of_interest_id)

# How many times pairs were pruned from stream_features, in one row (id 1). Device ingest keeps
# the pairs it found stored in a per-process cache (hub.store.feature_pairs) and re-reads this count
# with every batch: a prune by any process on the same database empties those caches.
stream_feature_prunes = Table(
    "stream_feature_prunes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("prunes", BigInteger, nullable=False),
)

# --- Provenance (schema step 5, hub.store.migration_v5; provenance.md §5.5) ---------------------
# The hub's append-only RFC 9162 log (hub.provenance.log): one entry per signed record, leaf
# bytes = the canonical bytes of the record's DSSE envelope. Rows are only ever inserted.
prov_log_entries = Table(
    "prov_log_entries",
    metadata,
    # Id: a plain INTEGER PRIMARY KEY on SQLite is the rowid itself (no second index).
    Column("idx", Id, primary_key=True, autoincrement=False),
    # Before the leaf: SQLite reads a record's columns in order, and a proof only needs the
    # hash, not the envelope (which may spill onto overflow pages).
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("record_id", String(36), nullable=False, unique=True),
    Column("appended_at", UTCDateTime, nullable=False),
)

# The hash of every complete subtree of the log: 2**level leaves starting at leaf
# idx * 2**level, level >= 1 (level 0 is prov_log_entries.leaf_hash). Written in the
# transaction of the append that completes it; never changes. Any MTH(leaves[a:b]) a proof
# needs is then O(log n) of these rows.
prov_log_subtrees = Table(
    "prov_log_subtrees",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    # Clustered on the key on SQLite: every read is a key lookup, and rows are tiny.
    sqlite_with_rowid=False,
)

# The log's size, in one row (id 1, inserted by step 5): every appender locks it (SELECT ...
# FOR UPDATE, or the UPDATE itself) so that hubs sharing one PostgreSQL append in one total
# order without gaps; on SQLite the writer holds the database write lock already.
prov_log_head = Table(
    "prov_log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

# One row per signed record, keyed by the log index of its envelope.
prov_records = Table(
    "prov_records",
    metadata,
    Column("entry", Id, ForeignKey("prov_log_entries.idx"), primary_key=True, autoincrement=False),
    Column("record_id", String(36), nullable=False, unique=True),
    Column("created_at", UTCDateTime),
    Column("adapter", String(64)),
    Column("agency", String(200)),
    Column("observations", Integer),  # how many bindings (leaves of the batch tree)
    Column("root", LargeBinary(32)),  # the batch tree's root
    # zlib-compressed canonical binding JSON lines, newline-separated, in batch (leaf) order.
    Column("bindings", LargeBinary, nullable=False),
    Column("supersedes", Json),  # log entries of the records whose values this one corrected
)

# Every checkpoint the hub issued: the C2SP signed note of the log at ``size`` (witness
# cosignature lines are appended to ``note`` by federation).
prov_checkpoints = Table(
    "prov_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
)
