"""STA resource paths (18-088 §9.2): ``Things(1)/Datastreams/$ref``, checked against the model.

:func:`parse_resource_path` takes the part of a URL after the service root (``…/v1.1/``),
already percent-decoded by the caller, and returns a :class:`ResourcePath` or raises
:class:`PathError` carrying the HTTP status: 400 for a malformed path (bad id, wrong shape),
404 for a well-formed path naming something the model does not have.

Ids are the hub's 64-bit positive integers written as plain decimal digits. Everything else --
``('1')``, ``(1.0)``, ``(+1)``, ``( 1)``, ``(01)``, ``(1 or 1 eq 1)``, a 20-digit number -- is a
400, so no spelling other than ``(1)`` can ever address entity 1.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from typing import Literal

from hub.sta.entities import (
    MAX_NAVIGATION_HOPS,
    EntityType,
    NavigationSpec,
    PropertySpec,
    UnknownEntity,
    entity_by_set,
    quote_name,
)

MAX_ID = 2**63 - 1
MAX_SEGMENT_LENGTH = 128
# Root segment + hops + property + $value fits easily; longer input is refused before splitting.
MAX_PATH_LENGTH = 2048

# A name, optionally followed by one parenthesised key; the key is validated separately so that a
# malformed key is a 400 naming the key rather than a generic "bad segment".
_SEGMENT_RE = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_]*)(?:\((?P<key>[^()]*)\))?")
_ID_RE = re.compile(r"[0-9]{1,19}")
_DIGITS_RE = re.compile(r"[0-9]+")

PathKind = Literal["root", "collection", "entity", "property", "value", "ref"]


class PathError(ValueError):
    """A resource path the server cannot serve; ``status`` is 400 (malformed) or 404 (unknown)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PathSegment:
    """One entity-addressing segment: an entity set or a navigation property, maybe with an id.

    ``navigation`` is ``None`` for the first segment (an entity set of the service root).
    """

    name: str
    entity: EntityType
    navigation: NavigationSpec | None
    id: int | None = None

    @property
    def is_collection(self) -> bool:
        """Whether this segment addresses a collection (an entity set or to-many hop, no id)."""
        if self.id is not None:
            return False
        return self.navigation is None or self.navigation.to_many


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """A parsed resource path: entity segments, then optionally a property, ``$value`` or ``$ref``.

    ``property`` and ``ref`` exclude each other; ``value`` implies ``property``. The empty path
    (no segments) is the service root.
    """

    segments: tuple[PathSegment, ...]
    property: PropertySpec | None = None
    value: bool = False
    ref: bool = False

    @builtins.property  # the field 'property' shadows the builtin here
    def kind(self) -> PathKind:
        """What the path addresses, i.e. which response shape the server must produce."""
        if not self.segments:
            return "root"
        if self.ref:
            return "ref"
        if self.value:
            return "value"
        if self.property is not None:
            return "property"
        return "collection" if self.segments[-1].is_collection else "entity"

    @builtins.property  # the field 'property' shadows the builtin here
    def entity(self) -> EntityType | None:
        """The entity type of the last segment (``None`` for the service root)."""
        return self.segments[-1].entity if self.segments else None

    @builtins.property  # the field 'property' shadows the builtin here
    def is_collection(self) -> bool:
        """Whether the last entity segment is a collection (query options like $top apply)."""
        return bool(self.segments) and self.segments[-1].is_collection


def parse_resource_path(path: str) -> ResourcePath:
    """Parse ``path`` (relative to the service root; one leading '/' is tolerated)."""
    if path.startswith("/"):
        path = path[1:]
    if path == "":
        return ResourcePath(())
    if len(path) > MAX_PATH_LENGTH:
        raise PathError(f"resource path longer than {MAX_PATH_LENGTH} characters")
    raw = path.split("/")
    for text in raw:
        _check_raw_segment(text)

    segments: list[PathSegment] = []
    prop: PropertySpec | None = None
    value = ref = False
    for position, text in enumerate(raw):
        if value or ref:
            raise PathError(f"nothing may follow {'$value' if value else '$ref'}")
        if text == "$value":
            if prop is None:
                raise PathError("$value must follow a property")
            value = True
            continue
        if text == "$ref":
            if prop is not None or not segments:
                raise PathError("$ref must follow an entity or a collection")
            ref = True
            continue
        if prop is not None:
            raise PathError(f"property {prop.name!r} has no member {quote_name(text)}", 404)
        match = _SEGMENT_RE.fullmatch(text)
        if match is None:
            raise PathError(f"malformed path segment {quote_name(text)}")
        name, key = match.group("name"), match.group("key")
        if position == 0:
            segments.append(_first_segment(name, key))
            continue
        previous = segments[-1]
        if previous.is_collection:
            # Navigating or reading a property needs one entity, not a whole collection.
            raise PathError(f"{quote_name(text)} cannot follow the collection {previous.name!r}")
        if previous.entity.has_navigation(name):
            if len(segments) > MAX_NAVIGATION_HOPS:
                raise PathError(f"resource path has more than {MAX_NAVIGATION_HOPS} navigations")
            segments.append(_navigation_segment(previous.entity, name, key))
        elif previous.entity.has_property(name) and key is None:
            prop = previous.entity.property(name)
        elif previous.entity.has_property(name):
            raise PathError(f"property {name!r} cannot take a key")
        else:
            raise PathError(f"{previous.entity.name} has no property {quote_name(name)}", 404)
    return ResourcePath(tuple(segments), prop, value, ref)


def _check_raw_segment(text: str) -> None:
    if text == "":
        raise PathError("empty path segment")
    if text in (".", ".."):
        raise PathError("'.' and '..' are not path segments")
    if len(text) > MAX_SEGMENT_LENGTH:
        raise PathError(f"path segment longer than {MAX_SEGMENT_LENGTH} characters")


def _first_segment(name: str, key: str | None) -> PathSegment:
    try:
        entity = entity_by_set(name)
    except UnknownEntity as exc:
        raise PathError(str(exc), 404) from None
    return PathSegment(name, entity, None, _parse_id(name, key))


def _navigation_segment(entity: EntityType, name: str, key: str | None) -> PathSegment:
    nav = entity.navigation(name)
    if key is not None and not nav.to_many:
        raise PathError(f"{entity.name}.{name} is a single entity and cannot take an id")
    return PathSegment(name, nav.target, nav, _parse_id(name, key))


def parse_id(text: str) -> int:
    """Parse an entity id written as plain decimal digits (no sign, no leading zero, <= 2^63-1).

    Raises :class:`PathError` 400 for anything else and 404 for ``0`` (well-formed, but ids start
    at 1, so no entity can have it). Shared by anything that reads ids from clients (``@iot.id``
    references in bodies are ints already; this is for text).
    """
    if _DIGITS_RE.fullmatch(text) is not None and len(text) > 19:
        raise PathError(f"malformed id {quote_name(text)}: larger than 2^63-1")
    if _ID_RE.fullmatch(text) is None:
        raise PathError(f"malformed id {quote_name(text)}: ids are positive integers")
    if len(text) > 1 and text.startswith("0"):
        raise PathError(f"malformed id {quote_name(text)}: leading zero")
    number = int(text)
    if number > MAX_ID:
        raise PathError(f"malformed id {quote_name(text)}: larger than 2^63-1")
    if number == 0:
        raise PathError("no entity has id 0", 404)
    return number


def _parse_id(name: str, key: str | None) -> int | None:
    if key is None:
        return None
    try:
        return parse_id(key)
    except PathError as exc:
        raise PathError(f"{name}: {exc}", exc.status) from None
