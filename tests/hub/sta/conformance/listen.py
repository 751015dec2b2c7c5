"""Waiting for MQTT messages in the MQTT conformance modules.

The clients come from the private-broker rig (``tests/hub/sta/mqtt/conftest.py``): a
``Client`` records every message it receives per topic. These helpers decode them as JSON and
wait for the one a test is about, because a topic may also carry notifications of what other
steps created.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.hub.sta.mqtt.conftest import Client

WAIT_S = 10.0


def payloads(client: Client, topic: str) -> list[Any]:
    """Every message received on ``topic`` so far, decoded."""
    return [json.loads(raw) for raw in client.received.on(topic)]


def wait_for(
    client: Client,
    topic: str,
    matches: Callable[[Any], bool],
    timeout: float = WAIT_S,
) -> Any:
    """The first message on ``topic`` that ``matches``; fails after ``timeout`` seconds."""
    found: list[Any] = []

    def check() -> bool:
        found[:] = [p for p in payloads(client, topic) if matches(p)]
        return bool(found)

    assert client.received.wait(check, timeout), (
        f"no matching message on {topic!r} within {timeout} s; got {payloads(client, topic)}"
    )
    return found[0]


def with_id(entity_id: int) -> Callable[[Any], bool]:
    """Matches an entity payload with this ``@iot.id``."""
    return lambda payload: isinstance(payload, dict) and payload.get("@iot.id") == entity_id
