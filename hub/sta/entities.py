"""The SensorThings API 1.1 entity model as data: the whitelist every client path resolves against.

Each :class:`EntityType` lists its properties (:class:`PropertySpec`) and navigation properties
(:class:`NavigationSpec`) exactly as OGC 18-088 §8 defines them (see ``sta.md`` §1.2), plus the
MultiDatastream extension, which the hub always serves. ``id`` is listed as an ordinary numeric
property so that ``$select=id``, ``$orderby=id`` and ``id eq 1`` resolve like any other name; the
serialiser writes it as ``@iot.id`` (``@iot.id`` is accepted as an alias on lookup).

:func:`resolve_path` is the single gate between a client-supplied property path (``$filter``,
``$orderby``, ``$select``, ``$expand``) and anything that touches storage: a name that is not in
this module is an :class:`UnknownProperty`, never an identifier that reaches SQL.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from typing import Literal

PropertyKind = Literal[
    "string", "json", "number", "any", "time-instant", "time-interval", "geometry", "uri", "unit"
]

MAX_NAVIGATION_HOPS = 5
MAX_JSON_DEPTH = 8
# JSON keys are matched against this before they become (bound) path elements; a key made only
# of dots is refused separately because the class admits '.' and '..'.
JSON_KEY_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# The members of a unitOfMeasurement object (18-088 §8.2.4, table 8).
UNIT_KEYS = frozenset({"name", "symbol", "definition"})
ID_ALIAS = "@iot.id"


class UnknownEntity(ValueError):
    """An entity type or entity set name that STA 1.1 does not define; the message is one line."""


class UnknownProperty(ValueError):
    """A property path that does not resolve against the model; the message is one line."""


def quote_name(text: str, limit: int = 64) -> str:
    """Quote client text for a one-line error message (``repr`` escapes newlines; long is cut)."""
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One property of an entity type: its value kind, and what clients may do with it.

    ``required_on_create`` means the client must supply it in a POST (server-filled mandatory
    properties such as ``Observation.resultTime`` are not). ``sortable`` refers to the property as
    a whole: JSON, unit and geometry values have no order, but a JSON member path may (see
    :attr:`ResolvedPath.sortable`).
    """

    name: str
    kind: PropertyKind
    required_on_create: bool = False
    filterable: bool = True
    sortable: bool = True

    @property
    def has_members(self) -> bool:
        """Whether a path may continue below this property (``properties/owner``)."""
        return self.kind in ("json", "unit")


@dataclass(frozen=True, slots=True)
class NavigationSpec:
    """A navigation property: the entity set it leads to, and whether it is a collection."""

    name: str
    target_set: str
    to_many: bool

    @property
    def target(self) -> EntityType:
        """The entity type at the far end of this navigation."""
        return entity_by_set(self.target_set)


@dataclass(frozen=True, slots=True, repr=False)
class EntityType:
    """One STA entity type (``Thing`` served as ``Things``) with its whitelisted members.

    The navigation tuple is called ``navigations`` because :meth:`navigation` is the lookup.
    """

    name: str
    set_name: str
    properties: tuple[PropertySpec, ...]
    navigations: tuple[NavigationSpec, ...]

    def __repr__(self) -> str:
        # Short: entity types sit inside every QueryOptions/ResourcePath repr and log line.
        return f"EntityType({self.name!r})"

    def property(self, name: str) -> PropertySpec:
        """The property called ``name`` (``@iot.id`` means ``id``), or :class:`UnknownProperty`."""
        wanted = "id" if name == ID_ALIAS else name
        for spec in self.properties:
            if spec.name == wanted:
                return spec
        raise UnknownProperty(f"{self.name} has no property {quote_name(name)}")

    def navigation(self, name: str) -> NavigationSpec:
        """The navigation property called ``name``, or :class:`UnknownProperty`."""
        for spec in self.navigations:
            if spec.name == name:
                return spec
        raise UnknownProperty(f"{self.name} has no navigation property {quote_name(name)}")

    def has_property(self, name: str) -> bool:
        """Whether ``name`` is a (non-navigation) property of this entity type."""
        wanted = "id" if name == ID_ALIAS else name
        return any(spec.name == wanted for spec in self.properties)

    def has_navigation(self, name: str) -> bool:
        """Whether ``name`` is a navigation property of this entity type."""
        return any(spec.name == name for spec in self.navigations)


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """A client property path resolved against the model.

    ``hops`` are the navigations walked from ``start`` (possibly none), ``entity`` is the type
    reached, ``property`` the final property (``None`` when the path names an entity, e.g. a
    ``$select``/``$expand`` of a navigation property) and ``json_keys`` the members below a JSON
    or unit property, already checked against :data:`JSON_KEY_RE`.
    """

    start: EntityType
    hops: tuple[NavigationSpec, ...]
    entity: EntityType
    property: PropertySpec | None
    json_keys: tuple[str, ...] = ()

    @builtins.property  # the field 'property' shadows the builtin here
    def crosses_to_many(self) -> bool:
        """Whether a hop is a collection, so the path can match several values (``any``)."""
        return any(hop.to_many for hop in self.hops)

    @builtins.property  # the field 'property' shadows the builtin here
    def sortable(self) -> bool:
        """Whether ``$orderby`` may use this path: a sortable property, or a JSON/unit member."""
        if self.property is None or self.crosses_to_many:
            return False
        return self.property.sortable or bool(self.json_keys)

    @builtins.property  # the field 'property' shadows the builtin here
    def filterable(self) -> bool:
        """Whether ``$filter`` may use this path as a value (entities themselves are not)."""
        return self.property is not None and self.property.filterable


# --- the model ---------------------------------------------------------------------------------


def _p(
    name: str, kind: PropertyKind, required: bool = False, *, sortable: bool | None = None
) -> PropertySpec:
    # Values without a total order (objects, geometries, units) are not sortable by default.
    if sortable is None:
        sortable = kind not in ("json", "geometry", "unit")
    return PropertySpec(name, kind, required, True, sortable)


def _one(name: str, target_set: str) -> NavigationSpec:
    return NavigationSpec(name, target_set, to_many=False)


def _many(name: str) -> NavigationSpec:
    return NavigationSpec(name, name, to_many=True)


_ID = _p("id", "number")
_NAME = _p("name", "string", True)
_DESCRIPTION = _p("description", "string", True)
_PROPERTIES = _p("properties", "json")
_ENCODING = _p("encodingType", "string", True)

THING = EntityType(
    "Thing",
    "Things",
    (_ID, _NAME, _DESCRIPTION, _PROPERTIES),
    (
        _many("Locations"),
        _many("HistoricalLocations"),
        _many("Datastreams"),
        _many("MultiDatastreams"),
    ),
)
LOCATION = EntityType(
    "Location",
    "Locations",
    (_ID, _NAME, _DESCRIPTION, _ENCODING, _p("location", "geometry", True), _PROPERTIES),
    (_many("Things"), _many("HistoricalLocations")),
)
HISTORICAL_LOCATION = EntityType(
    "HistoricalLocation",
    "HistoricalLocations",
    (_ID, _p("time", "time-instant", True)),
    (_one("Thing", "Things"), _many("Locations")),
)
# observedArea, phenomenonTime and resultTime are derived by the server from the Observations.
_STREAM_TAIL = (
    _p("observedArea", "geometry"),
    _p("phenomenonTime", "time-interval"),
    _p("resultTime", "time-interval"),
    _PROPERTIES,
)
DATASTREAM = EntityType(
    "Datastream",
    "Datastreams",
    (
        _ID,
        _NAME,
        _DESCRIPTION,
        _p("unitOfMeasurement", "unit", True),
        _p("observationType", "uri", True),
        *_STREAM_TAIL,
    ),
    (
        _one("Thing", "Things"),
        _one("Sensor", "Sensors"),
        _one("ObservedProperty", "ObservedProperties"),
        _many("Observations"),
    ),
)
MULTI_DATASTREAM = EntityType(
    "MultiDatastream",
    "MultiDatastreams",
    (
        _ID,
        _NAME,
        _DESCRIPTION,
        # Arrays, one element per ObservedProperty: 'json' so that members ('0/name') resolve.
        _p("unitOfMeasurements", "json", True),
        _p("observationType", "uri", True),
        _p("multiObservationDataTypes", "json", True),
        *_STREAM_TAIL,
    ),
    (
        _one("Thing", "Things"),
        _one("Sensor", "Sensors"),
        _many("ObservedProperties"),
        _many("Observations"),
    ),
)
SENSOR = EntityType(
    "Sensor",
    "Sensors",
    (_ID, _NAME, _DESCRIPTION, _ENCODING, _p("metadata", "any", True), _PROPERTIES),
    (_many("Datastreams"), _many("MultiDatastreams")),
)
OBSERVED_PROPERTY = EntityType(
    "ObservedProperty",
    "ObservedProperties",
    (_ID, _NAME, _p("definition", "uri", True), _DESCRIPTION, _PROPERTIES),
    (_many("Datastreams"), _many("MultiDatastreams")),
)
OBSERVATION = EntityType(
    "Observation",
    "Observations",
    (
        _ID,
        # An instant or an interval; an instant is the degenerate interval. Not required on
        # create: the server uses the current time when the client omits it (18-088 §10.2).
        _p("phenomenonTime", "time-interval"),
        _p("result", "any", True),
        # Mandatory in the model, but the server stores null when the client omits it.
        _p("resultTime", "time-instant"),
        _p("resultQuality", "any", sortable=False),
        _p("validTime", "time-interval"),
        _p("parameters", "json"),
    ),
    (
        _one("Datastream", "Datastreams"),
        _one("MultiDatastream", "MultiDatastreams"),
        _one("FeatureOfInterest", "FeaturesOfInterest"),
    ),
)
FEATURE_OF_INTEREST = EntityType(
    "FeatureOfInterest",
    "FeaturesOfInterest",
    (_ID, _NAME, _DESCRIPTION, _ENCODING, _p("feature", "geometry", True), _PROPERTIES),
    (_many("Observations"),),
)

ENTITY_TYPES: tuple[EntityType, ...] = (
    THING,
    LOCATION,
    HISTORICAL_LOCATION,
    DATASTREAM,
    MULTI_DATASTREAM,
    SENSOR,
    OBSERVED_PROPERTY,
    OBSERVATION,
    FEATURE_OF_INTEREST,
)
_BY_SET = {entity.set_name: entity for entity in ENTITY_TYPES}
_BY_NAME = {entity.name: entity for entity in ENTITY_TYPES}


def entity_by_set(name: str) -> EntityType:
    """The entity type served under the entity set ``name`` (``Things``), or UnknownEntity."""
    try:
        return _BY_SET[name]
    except KeyError:
        raise UnknownEntity(f"no entity set {quote_name(name)}") from None


def entity_by_name(name: str) -> EntityType:
    """The entity type called ``name`` (``Thing``), or :class:`UnknownEntity`."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownEntity(f"no entity type {quote_name(name)}") from None


def resolve_path(entity: EntityType, segments: tuple[str, ...]) -> ResolvedPath:
    """Resolve ``Datastream/Thing/properties/owner``-style segments starting at ``entity``.

    Navigation segments come first (at most :data:`MAX_NAVIGATION_HOPS`), then optionally one
    property, then -- only below a JSON property -- up to :data:`MAX_JSON_DEPTH` member keys (below
    a unit property: one of name, symbol, definition). Anything else is :class:`UnknownProperty`.
    """
    if not segments:
        raise UnknownProperty(f"empty property path on {entity.name}")
    hops: list[NavigationSpec] = []
    current = entity
    for index, segment in enumerate(segments):
        if current.has_navigation(segment):
            if len(hops) == MAX_NAVIGATION_HOPS:
                raise UnknownProperty(
                    f"property path has more than {MAX_NAVIGATION_HOPS} navigation hops"
                )
            nav = current.navigation(segment)
            hops.append(nav)
            current = nav.target
            continue
        spec = current.property(segment)
        keys = segments[index + 1 :]
        _check_members(current, spec, keys)
        return ResolvedPath(entity, tuple(hops), current, spec, keys)
    return ResolvedPath(entity, tuple(hops), current, None)


def _check_members(entity: EntityType, spec: PropertySpec, keys: tuple[str, ...]) -> None:
    if not keys:
        return
    where = f"{entity.name}.{spec.name}"
    if not spec.has_members:
        raise UnknownProperty(f"{where} has no member {quote_name(keys[0])}")
    if spec.kind == "unit":
        if len(keys) > 1 or keys[0] not in UNIT_KEYS:
            raise UnknownProperty(f"{where} has no member {quote_name('/'.join(keys))}")
        return
    if len(keys) > MAX_JSON_DEPTH:
        raise UnknownProperty(f"{where}: JSON path deeper than {MAX_JSON_DEPTH} keys")
    for key in keys:
        # Dot-only keys look like directory traversal to anyone reading logs or mapping paths
        # onto files; no real member key needs them.
        if JSON_KEY_RE.fullmatch(key) is None or key.strip(".") == "":
            raise UnknownProperty(
                f"{where}: bad JSON key {quote_name(key)} (allowed: A-Z a-z 0-9 _ . -, 1-64 chars)"
            )
