"""Observations created by MQTT PUBLISH (18-088 §14.1): from the broker to the write path.

The MQTT client hands every message on a creation topic to :meth:`CreateBridge.submit` (from
its network thread); one worker thread takes them in arrival order, checks topic and payload,
and calls the injected :class:`CreateObservation` -- the same write path HTTP POST uses, so the
same validation applies. Authorisation happened at the broker (its ACL lets only accounts with
the ``create`` role or above publish there; see :mod:`hub.sta.mqtt.broker`).

**Acknowledge after commit.** The client runs with manual acks: the PUBACK for a message goes
out only after the write path returned an outcome. If the hub dies before that, the broker
still holds the message in the hub's persistent session and delivers it again, so creates are
at-least-once; the store's idempotence (one observation per datastream and phenomenon time)
makes a repeat harmless.

What becomes of a message:

* ``2xx`` outcome: created, acked;
* ``4xx`` outcome, a malformed topic or payload: refused, logged, counted, acked (sending it
  again would fail the same way);
* ``503`` outcome (the store is unavailable, the hub is stopping): not acked; retried with
  backoff while the bridge runs, and left to the broker to redeliver if it stops meanwhile;
* the write path raises: retried ``max_attempts`` times, then logged as a hub bug, counted as
  ``failed`` and acked, so that one poisonous message cannot block every later create.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from hub.sta.mqtt.metrics import MqttMetrics
from hub.sta.mqtt.settings import TOPIC_PREFIX
from hub.sta.mqtt.topics import TopicError, create_path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """What the write path did with one Observation: the HTTP status it would have answered.

    ``201`` with the new ids; ``4xx`` with a one-line ``message`` when the Observation is
    refused; ``503`` when it could not be committed now and should be tried again.
    """

    status: int
    message: str = ""
    ids: tuple[int, ...] = ()

    @property
    def created(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retry(self) -> bool:
        return self.status >= 500


class CreateObservation(Protocol):
    """The write path's entry for MQTT: create the Observation in ``payload`` at ``path``.

    ``path`` is relative to the service root (``Datastreams(5)/Observations``), already checked
    to be an Observations collection; ``payload`` is the PUBLISH body, a JSON object. Must not
    raise for bad input (answer a 4xx outcome instead).
    """

    def __call__(self, path: str, payload: bytes) -> CreateOutcome: ...


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received PUBLISH and what is needed to acknowledge it on the right connection."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


Acknowledge = Callable[[Inbound], None]
_STOP = object()


class CreateBridge:
    """The worker thread between received creation messages and the write path."""

    def __init__(
        self,
        create: CreateObservation,
        acknowledge: Acknowledge,
        *,
        metrics: MqttMetrics,
        prefix: str = TOPIC_PREFIX,
        max_payload_bytes: int = 1_048_576,
        max_attempts: int = 5,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 10.0,
    ) -> None:
        self.create = create
        self.acknowledge = acknowledge
        self.metrics = metrics
        self.prefix = prefix
        self.max_payload_bytes = max_payload_bytes
        self.max_attempts = max_attempts
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        # Unbounded in type only: the broker sends no more unacknowledged messages than the
        # client's Receive Maximum, so this never holds more than that.
        self._queue: queue.Queue[Inbound | object] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="auasu-mqtt-creates", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the message in hand (unless it is waiting to retry) and stop; queued messages
        stay unacknowledged, so the broker delivers them again after the next connect."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._queue.put(_STOP)
        thread.join(timeout)

    def submit(self, message: Inbound) -> None:
        """Queue a received message (called from the MQTT network thread; never blocks)."""
        self._queue.put(message)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is _STOP or not isinstance(item, Inbound):
                return
            try:
                if self._handle(item):
                    self.acknowledge(item)
            except Exception:  # the bridge must outlive anything one message does
                log.exception("mqtt: unexpected error on a create from %.200r", item.topic)
                self.metrics.creates.labels("failed").inc()
                self.acknowledge(item)

    def _handle(self, item: Inbound) -> bool:
        """Process one message; True when it should be acknowledged."""
        try:
            path = create_path(item.topic, self.prefix)
        except TopicError as exc:
            log.warning("mqtt: refused create on %.200r: %s", item.topic, exc)
            self.metrics.creates.labels("bad_topic").inc()
            return True
        problem = self._payload_problem(item.payload)
        if problem is not None:
            log.warning("mqtt: refused create on %.200r: %s", item.topic, problem)
            self.metrics.creates.labels("bad_payload").inc()
            return True
        outcome = self._create_with_retries(path, item)
        if outcome == "stopping":
            return False  # leave it to the broker
        if outcome == "failed":
            self.metrics.creates.labels("failed").inc()
        elif outcome.created:
            self.metrics.creates.labels("created").inc()
            log.debug("mqtt: created %s at %s", outcome.ids, path)
        else:
            log.info("mqtt: create at %s refused (%d): %s", path, outcome.status, outcome.message)
            self.metrics.creates.labels("rejected").inc()
        return True

    def _payload_problem(self, payload: bytes) -> str | None:
        if len(payload) > self.max_payload_bytes:
            return f"payload of {len(payload)} bytes is over {self.max_payload_bytes}"
        try:
            document = json.loads(payload)
        except UnicodeDecodeError:
            return "payload is not UTF-8"
        except ValueError as exc:
            return f"payload is not JSON: {exc}"
        except RecursionError:
            return "payload is nested too deeply"
        if not isinstance(document, dict):
            return "payload is not a JSON object (one Observation)"
        return None

    def _create_with_retries(
        self, path: str, item: Inbound
    ) -> CreateOutcome | Literal["stopping", "failed"]:
        """The write path's outcome; "stopping" when the bridge stops before it could commit,
        "failed" when it raised on every attempt."""
        delay = self.retry_initial_s
        failures = 0
        while True:
            try:
                outcome = self.create(path, item.payload)
            except Exception:
                failures += 1
                if failures >= self.max_attempts:
                    log.exception(
                        "mqtt: create at %s raised %d times; dropping the message", path, failures
                    )
                    return "failed"
                log.warning("mqtt: create at %s raised, retrying", path, exc_info=True)
            else:
                if not outcome.retry:
                    return outcome
                log.warning(
                    "mqtt: create at %s not committed (%s), retrying", path, outcome.message
                )
            self.metrics.create_retries.inc()
            if self._stop.wait(delay):
                return "stopping"
            delay = min(delay * 2, self.retry_max_s)
