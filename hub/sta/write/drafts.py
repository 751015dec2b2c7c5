"""A write payload as a tree: the entity's validated properties and its links (18-088 §10.2).

Under a navigation property a payload holds either a link to an existing entity,
``{"@iot.id": 5}`` (a :class:`Ref`), or an entity written inline (a nested :class:`Draft`: deep
insert). In a ``$batch`` a link may name an entity created earlier in the batch,
``{"@iot.id": "$1"}``. Annotations (``@iot.selfLink``, ``…@iot.navigationLink``) are ignored,
and so is the ``@iot.id`` of the entity being created: the server assigns ids.

A nested object that carries an ``@iot.id`` is a link even when it carries other properties
too (they are ignored), as FROST-Server reads it: clients such as ``frost-sta-client`` send the
full state of an entity they created earlier, and reading that as a deep insert would create a
duplicate.

An update never creates related entities (18-088 §10.3). Under its navigations it takes links
and, from clients that re-send an entity they created by deep insert (whose inline children
they never learnt the ids of), :class:`Echo` objects: inline entities without ``@iot.id`` that
are accepted only when they restate an entity already related (:mod:`hub.sta.write.echoes`).

Everything here is checked before the database is touched: property names and values against
the models, navigation names against the entity whitelist, ids against the id syntax, and the
size of the tree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.sta.entities import EntityType, quote_name
from hub.sta.errors import ApiError
from hub.sta.paths import MAX_ID
from hub.sta.write.models import Body, validate

# Inline entities inside inline entities: Thing/Datastreams/Observations/FeatureOfInterest is
# four; nothing in the model needs more than a few more.
MAX_DEPTH = 8
MAX_ENTITIES = 50_000
ID = "@iot.id"
# $batch references: Content-ID values / JSON batch ids (OData: a-zA-Z0-9_.:,;- characters).
_REFERENCE_RE = re.compile(r"\$[A-Za-z0-9_.:,;\-]{1,64}")


@dataclass(frozen=True, slots=True)
class Ref:
    """A link to an entity that exists: by id, or by the name of a ``$batch`` request."""

    target: EntityType
    id: int | None = None
    name: str | None = None

    def describe(self) -> str:
        return f"{self.target.name} {self.id if self.id is not None else self.name}"


@dataclass(slots=True)
class Draft:
    """An entity to create, with the links and inline entities under its navigations."""

    entity: EntityType
    body: Body
    where: str
    links: dict[str, list[Ref | Draft]] = field(default_factory=dict)

    def linked(self, navigation: str) -> list[Ref | Draft]:
        return self.links.get(navigation, [])


def is_annotation(key: str) -> bool:
    """``@iot.id``, ``@iot.selfLink``, ``Datastreams@iot.navigationLink`` and the like."""
    return "@" in key


def split(entity: EntityType, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain properties, navigation properties) of a payload; annotations dropped."""
    plain: dict[str, Any] = {}
    navigations: dict[str, Any] = {}
    for key, value in data.items():
        if is_annotation(key):
            continue
        if entity.has_navigation(key):
            navigations[key] = value
        else:
            plain[key] = value
    return plain, navigations


def parse_ref(target: EntityType, value: Any, where: str) -> Ref | None:
    """The link in ``value`` if it is one (an object with an ``@iot.id``), else None."""
    if not isinstance(value, dict) or ID not in value:
        return None
    raw = value[ID]
    if isinstance(raw, str) and _REFERENCE_RE.fullmatch(raw):
        return Ref(target, name=raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ApiError(400, f"{where}: {ID} must be a positive integer")
    if not 1 <= raw <= MAX_ID:
        raise ApiError(400, f"{where}: {ID} {raw} is not a valid id (1 to 2^63-1)")
    return Ref(target, id=raw)


class _Budget:
    """Counts the entities of one payload so a huge deep insert is refused early."""

    def __init__(self) -> None:
        self.entities = 0

    def take(self, where: str) -> None:
        self.entities += 1
        if self.entities > MAX_ENTITIES:
            raise ApiError(400, f"{where}: more than {MAX_ENTITIES} entities in one request")


def parse_draft(entity: EntityType, data: Any, where: str | None = None) -> Draft:
    """The payload of a create, as a tree of drafts and links (400 on anything wrong)."""
    return _draft(entity, data, where or entity.name, 0, _Budget())


def _draft(entity: EntityType, data: Any, where: str, depth: int, budget: _Budget) -> Draft:
    if not isinstance(data, dict):
        raise ApiError(400, f"{where}: expected a JSON object for a {entity.name}")
    if depth > MAX_DEPTH:
        raise ApiError(400, f"{where}: inline entities nested deeper than {MAX_DEPTH} levels")
    budget.take(where)
    plain, navigations = split(entity, data)
    draft = Draft(entity, validate(entity, plain, where), where)
    for name, value in navigations.items():
        nav = entity.navigation(name)
        inner = f"{where}/{name}"
        if nav.to_many:
            if not isinstance(value, list):
                raise ApiError(400, f"{inner}: expected a JSON array of {nav.target.set_name}")
            items = [
                _link(nav.target, item, f"{inner}[{index}]", depth, budget)
                for index, item in enumerate(value)
            ]
        else:
            items = [_link(nav.target, value, inner, depth, budget)]
        draft.links[name] = items
    return draft


def _link(target: EntityType, value: Any, where: str, depth: int, budget: _Budget) -> Ref | Draft:
    ref = parse_ref(target, value, where)
    if ref is not None:
        return ref
    return _draft(target, value, where, depth + 1, budget)


@dataclass(frozen=True, slots=True)
class Echo:
    """An inline entity without ``@iot.id`` under a navigation of an update: taken for the
    related entity it restates, or refused (:func:`hub.sta.write.echoes.identify`). Its own
    navigations are not looked at: nothing under it is created or changed."""

    target: EntityType
    plain: dict[str, Any]
    where: str


def parse_update_links(
    entity: EntityType, navigations: Mapping[str, Any], where: str
) -> dict[str, list[Ref | Echo]]:
    """The links of an update: ``{"@iot.id": …}`` bindings, and inline entities without an id
    that may only restate related ones (18-088 §10.3: an update must not carry new entities)."""
    links: dict[str, list[Ref | Echo]] = {}
    for name, value in navigations.items():
        nav = entity.navigation(name)
        inner = f"{where}/{name}"
        items = value if nav.to_many else [value]
        if nav.to_many and not isinstance(value, list):
            raise ApiError(400, f"{inner}: expected a JSON array of links")
        found: list[Ref | Echo] = []
        for index, item in enumerate(items):
            here = f"{inner}[{index}]" if nav.to_many else inner
            ref = parse_ref(nav.target, item, here)
            if ref is not None:
                found.append(ref)
                continue
            plain = split(nav.target, item)[0] if isinstance(item, dict) else {}
            if not plain:
                raise ApiError(
                    400,
                    f"{here}: an update links existing entities ({{{quote_name(ID)}: n}}); it "
                    "cannot create new ones inline",
                )
            found.append(Echo(nav.target, plain, here))
        links[name] = found
    return links
