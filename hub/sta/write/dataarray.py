"""``POST /v1.1/CreateObservations``: many Observations in the dataArray form (18-088 §13.2).

The body is an array of objects, each naming a Datastream (or MultiDatastream) by
``@iot.id``, the ``components`` of its rows (``phenomenonTime``, ``result``, ``resultTime``,
``resultQuality``, ``validTime``, ``parameters``, ``FeatureOfInterest/id``; ``id`` is accepted
and ignored) and the rows themselves in ``dataArray``. The answer is 201 with one entry per row,
in input order: the new Observation's URL, or ``"error"`` for a row that could not be created
(a malformed row, a FeatureOfInterest that does not exist, no Location to derive one from).
A malformed body as a whole is a 400; a stream that does not exist makes its rows errors.

The rows that succeed are written in one batch attributed to the archived request, in one
transaction (through the ingest pipeline's writer when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from hub.sta.entities import entity_by_name, quote_name
from hub.sta.errors import ApiError
from hub.sta.write.context import Outcome, WriteContext
from hub.sta.write.create import OBSERVATION, Creator, Pending
from hub.sta.write.drafts import Draft, Ref, is_annotation, parse_ref
from hub.sta.write.models import validate

COMPONENTS = frozenset(
    {
        "phenomenonTime",
        "result",
        "resultTime",
        "resultQuality",
        "validTime",
        "parameters",
        "FeatureOfInterest/id",
        "id",
    }
)
FEATURE = "FeatureOfInterest/id"
MAX_ROWS = 100_000
FEATURE_OF_INTEREST = entity_by_name("FeatureOfInterest")


@dataclass(slots=True)
class Group:
    """One stream's rows: each a ready Observation draft, or None when the row is malformed."""

    stream: str  # "Datastream" or "MultiDatastream"
    ref: Ref
    rows: list[Draft | None] = field(default_factory=list)


def parse(document: Any) -> list[Group]:
    """The groups of a CreateObservations body (400 for a malformed body)."""
    if not isinstance(document, list):
        raise ApiError(400, "CreateObservations expects a JSON array of dataArray objects")
    groups = []
    total = 0
    for index, item in enumerate(document):
        where = f"CreateObservations[{index}]"
        group = _group(item, where)
        total += len(group.rows)
        if total > MAX_ROWS:
            raise ApiError(400, f"CreateObservations holds more than {MAX_ROWS} rows")
        groups.append(group)
    return groups


def _group(item: Any, where: str) -> Group:
    if not isinstance(item, dict):
        raise ApiError(400, f"{where}: expected an object with components and dataArray")
    unknown = [
        key
        for key in item
        if key not in ("Datastream", "MultiDatastream", "components", "dataArray")
        and not is_annotation(key)
    ]
    if unknown:
        raise ApiError(400, f"{where}: unknown member {quote_name(unknown[0])}")
    streams = [name for name in ("Datastream", "MultiDatastream") if name in item]
    if len(streams) != 1:
        raise ApiError(400, f"{where}: name exactly one Datastream or MultiDatastream")
    stream = streams[0]
    ref = parse_ref(entity_by_name(stream), item[stream], f"{where}/{stream}")
    if ref is None:
        raise ApiError(400, f"{where}/{stream}: expected {{'@iot.id': n}}")
    components = item.get("components")
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise ApiError(400, f"{where}: components must be an array of property names")
    for name in components:
        if name not in COMPONENTS:
            raise ApiError(400, f"{where}: unknown component {quote_name(name)}")
    if len(set(components)) != len(components):
        raise ApiError(400, f"{where}: a component is listed twice")
    if "result" not in components:
        raise ApiError(400, f"{where}: components must include 'result'")
    rows = item.get("dataArray")
    if not isinstance(rows, list):
        raise ApiError(400, f"{where}: dataArray must be an array of rows")
    group = Group(stream, ref)
    for number, row in enumerate(rows):
        group.rows.append(_row(stream, ref, components, row, f"{where}/dataArray[{number}]"))
    return group


def _row(stream: str, ref: Ref, components: list[str], row: Any, where: str) -> Draft | None:
    if not isinstance(row, list) or len(row) != len(components):
        return None
    plain: dict[str, Any] = {}
    feature: Ref | None = None
    for name, value in zip(components, row, strict=True):
        if name == FEATURE:
            if value is None:
                continue  # no feature given: derived from the Thing's Location
            try:
                feature = parse_ref(FEATURE_OF_INTEREST, {"@iot.id": value}, where)
            except ApiError:
                return None
        elif name != "id":
            plain[name] = value
    try:
        body = validate(OBSERVATION, plain, where)
    except ApiError:
        return None
    draft = Draft(OBSERVATION, body, where, {stream: [ref]})
    if feature is not None:
        draft.links["FeatureOfInterest"] = [feature]
    return draft


@dataclass(frozen=True, slots=True)
class CreateObservations:
    """The validated CreateObservations request."""

    groups: list[Group]
    raw: bytes

    @property
    def writes_observations(self) -> bool:
        return True

    def run(self, conn: Connection, context: WriteContext) -> Outcome:
        creator = Creator(conn, context, self.raw)
        created: list[Pending | None] = []
        for group in self.groups:
            for draft in group.rows:
                if draft is None:
                    created.append(None)
                    continue
                try:
                    # The checks that can refuse a row (a missing stream or feature, no
                    # Location to derive one from) all run before it writes anything.
                    made = creator.create(draft, {})
                except ApiError:
                    created.append(None)
                    continue
                assert isinstance(made, Pending)
                created.append(made)
        ids = creator.flush()
        urls = [
            "error" if item is None else f"{context.root}/Observations({ids[item.index]})"
            for item in created
        ]
        return Outcome(201, body=urls)
