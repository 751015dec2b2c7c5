"""What every write operation shares: the request's origin, ``$batch`` names, and its outcome.

A write request is parsed and validated into an :class:`Operation` before anything touches the
store; :mod:`hub.sta.write.execute` then runs operations in a transaction (the pipeline's
writer when they store observations) and each returns an :class:`Outcome`, from which the
response is made after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from hub.sta.entities import EntityType, entity_by_name
from hub.sta.errors import ApiError
from hub.sta.write.drafts import Ref
from hub.sta.write.links import require
from hub.store.api_writes import ApiRequest

ADAPTER = "sta"
"""``raw_frames.adapter`` of requests archived by the SensorThings write path."""
ADAPTER_VERSION = "1.1"
"""The SensorThings API version whose requests are archived (``raw_frames.adapter_version``)."""


@dataclass(slots=True)
class WriteContext:
    """The origin of one HTTP request (a ``$batch`` shares one across its parts) and the
    entities its earlier parts created, by ``$name``."""

    root: str
    peer: str
    channel: str
    received_at: datetime
    names: dict[str, tuple[str, int]] = field(default_factory=dict)

    def archive(self, raw: bytes) -> ApiRequest:
        """The raw input of one operation, as the archive records it."""
        return ApiRequest(
            content=raw,
            adapter=ADAPTER,
            adapter_version=ADAPTER_VERSION,
            channel=self.channel,
            peer=self.peer,
            received_at=self.received_at,
        )

    def resolve(self, conn: Connection, ref: Ref, where: str) -> int:
        """The id a link names, checked to exist (404) and, for ``$name``, to be of the type
        the navigation leads to (400)."""
        if ref.id is not None:
            return require(conn, ref.target, ref.id, where)
        assert ref.name is not None
        found = self.names.get(ref.name[1:])
        if found is None:
            raise ApiError(400, f"{where}: {ref.name} names no entity created earlier in the batch")
        entity_name, entity_id = found
        if entity_name != ref.target.name:
            raise ApiError(400, f"{where}: {ref.name} is a {entity_name}, not a {ref.target.name}")
        return require(conn, ref.target, entity_id, where)

    def named(self, name: str) -> tuple[EntityType, int]:
        """The entity a ``$name`` at the start of a batch URL refers to."""
        found = self.names.get(name)
        if found is None:
            raise ApiError(404, f"${name} names no entity created earlier in the batch")
        return entity_by_name(found[0]), found[1]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one operation did: ``status``, the entity it created or changed (for the
    ``Location`` header and the response body), or a body of its own."""

    status: int
    entity: EntityType | None = None
    entity_id: int | None = None
    body: Any = None


class Operation(Protocol):
    """A validated write, ready to run in a transaction."""

    @property
    def writes_observations(self) -> bool:
        """Whether it stores observations (and so goes through the ingest pipeline)."""
        ...

    def run(self, conn: Connection, context: WriteContext) -> Outcome: ...
