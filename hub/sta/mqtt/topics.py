"""SensorThings MQTT topics (18-088 §14; ``sta.md`` §1.8), checked against the path grammar.

Topics are resource paths below the version prefix, without a leading slash:
``v1.1/Datastreams(1)/Observations``. Three questions are answered here:

* :func:`create_path`: may a PUBLISH on this topic create an Observation, and at which path?
* :func:`parse_subscription`: what does a client's subscription ask for (an entity set, an
  entity, a property, optionally with ``?$select=``)? Wildcard filters and other query options
  are not STA topics the hub can serve and are refused with a reason.
* :func:`parse_log_line`: the client id and topic filter in one line of Mosquitto's
  subscribe/unsubscribe log (``1700000000: client-id 1 v1.1/Things?$select=name``).

Every path goes through :func:`hub.sta.paths.parse_resource_path` and every ``$select`` through
:func:`hub.sta.options.parse_query_options`, so a topic names only what the model whitelists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hub.sta.columns import TABLES
from hub.sta.mqtt.settings import TOPIC_PREFIX
from hub.sta.options import OptionError, parse_query_options
from hub.sta.paths import PathError, ResourcePath, parse_resource_path

# Mosquitto's own limit is 65535 bytes; nobody needs more than a long resource path plus $select.
MAX_TOPIC_LENGTH = 4096
SUBSCRIBE_LOG = "$SYS/broker/log/M/subscribe"
UNSUBSCRIBE_LOG = "$SYS/broker/log/M/unsubscribe"
# Mosquitto 2.0: "<unix time>: <client id> <qos> <filter>" and "<unix time>: <client id> <filter>".
# Client ids may contain spaces, so the id is everything up to the last " <qos> v1.1/" or
# " v1.1/" separator that starts a topic of ours (topics of other prefixes are of no interest).
_TIMESTAMP = re.compile(r"^[0-9]{1,20}: ")
_SHARED = re.compile(r"^\$share/[^/]+/")


def strip_shared(topic: str) -> str:
    """``$share/group/v1.1/Things`` → ``v1.1/Things`` (a shared subscription's topic filter)."""
    return _SHARED.sub("", topic, count=1)


TopicKind = Literal["collection", "entity", "property"]


class TopicError(ValueError):
    """A topic the hub will not act on; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription topic the hub can serve.

    ``path_text`` is the resource path as written in the topic (ids in canonical form, since the
    path grammar accepts no other spelling), ``select`` the ``$select`` list (empty: all).
    ``direct`` topics are those the notifier publishes to without being told anyone listens
    (entity sets, one-hop navigation collections, entities and their properties); the others
    (longer paths, ``$select``) are published to only once learned from the broker's log.
    """

    topic: str
    path: ResourcePath
    path_text: str
    select: tuple[str, ...]

    @property
    def kind(self) -> TopicKind:
        kind = self.path.kind
        assert kind in ("collection", "entity", "property")
        return kind

    @property
    def entity_name(self) -> str:
        """The entity type whose changes this topic reports (``Observation``)."""
        entity = self.path.entity
        assert entity is not None
        return entity.name

    @property
    def deep(self) -> bool:
        """Whether the path is longer than the notifier derives from an entity: anything but
        ``Set``, ``Set(id)``, ``Set(id)/property`` and the one-hop ``Set(id)/Navigation``."""
        segments = self.path.segments
        if len(segments) == 1:
            return False
        return not (len(segments) == 2 and segments[0].id is not None and self.kind == "collection")

    @property
    def direct(self) -> bool:
        """Whether the notifier publishes to this topic without having learned it."""
        return not self.select and not self.deep


def _strip_prefix(topic: str, prefix: str) -> str:
    if len(topic) > MAX_TOPIC_LENGTH:
        raise TopicError(f"topic longer than {MAX_TOPIC_LENGTH} characters")
    head = prefix + "/"
    if not topic.startswith(head):
        raise TopicError(f"topic does not start with {head!r}")
    return topic[len(head) :]


def create_path(topic: str, prefix: str = TOPIC_PREFIX) -> str:
    """The resource path an Observation published on ``topic`` is created at.

    Only ``Observations``, ``Datastreams(n)/Observations`` and
    ``FeaturesOfInterest(n)/Observations`` (and ``MultiDatastreams(n)/Observations``, which the
    write path answers for itself) are creation topics (18-088 §14.1).
    """
    relative = _strip_prefix(topic, prefix)
    try:
        path = parse_resource_path(relative)
    except PathError as exc:
        raise TopicError(f"not a resource path: {exc}") from None
    entity = path.entity
    if path.kind != "collection" or entity is None or entity.name != "Observation":
        raise TopicError("Observations are created on an Observations collection topic")
    segments = path.segments
    if len(segments) > 2 or (len(segments) == 2 and segments[0].id is None):
        raise TopicError("create topics are v1.1/Observations or v1.1/<Set>(id)/Observations")
    return relative


def parse_subscription(topic: str, prefix: str = TOPIC_PREFIX) -> Subscription:
    """Validate a subscription topic; :class:`TopicError` says why the hub cannot serve it."""
    topic_text = strip_shared(topic)
    relative = _strip_prefix(topic_text, prefix)
    if "+" in relative or "#" in relative:
        raise TopicError("wildcard subscriptions cannot carry SensorThings options or paths")
    path_text, question, query = relative.partition("?")
    try:
        path = parse_resource_path(path_text)
    except PathError as exc:
        raise TopicError(f"not a resource path: {exc}") from None
    if path.kind not in ("collection", "entity", "property"):
        raise TopicError(f"a {path.kind} path is not a SensorThings MQTT topic")
    for segment in path.segments:
        if segment.entity.name not in TABLES:
            raise TopicError(f"{segment.entity.set_name} are not served")
    select: tuple[str, ...] = ()
    if question:
        if path.kind == "property":
            raise TopicError("$select does not apply to a property topic")
        select = _select(query, path)
    return Subscription(topic_text, path, path_text, select)


def _select(query: str, path: ResourcePath) -> tuple[str, ...]:
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        key, _equals, value = part.partition("=")
        pairs.append((key, value))
    if len(pairs) != 1 or pairs[0][0].lower() != "$select":
        raise TopicError("only $select is supported in topics")
    entity = path.entity
    assert entity is not None
    try:
        options = parse_query_options(pairs, entity)
    except OptionError as exc:
        raise TopicError(str(exc)) from None
    return options.select


@dataclass(frozen=True, slots=True)
class LogLine:
    """One subscribe or unsubscribe line of Mosquitto's log."""

    client_id: str
    topic: str
    subscribed: bool


def parse_log_line(log_topic: str, payload: bytes, prefix: str = TOPIC_PREFIX) -> LogLine | None:
    """The (client, topic filter) of a subscribe/unsubscribe log line about our prefix, or None.

    Lines about other topics (``$SYS/#``, another application's) are None, as is anything not
    in Mosquitto 2.0's format.
    """
    if log_topic not in (SUBSCRIBE_LOG, UNSUBSCRIBE_LOG):
        return None
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = _TIMESTAMP.sub("", text, count=1)
    subscribed = log_topic == SUBSCRIBE_LOG
    # Find the separator before our topic; shared subscriptions carry a "$share/g/" head.
    pattern = (
        r"^(?P<client>.+?) [0-2] (?P<topic>(?:\$share/[^/ ]+/)?" + re.escape(prefix) + r"/.*)$"
        if subscribed
        else r"^(?P<client>.+?) (?P<topic>(?:\$share/[^/ ]+/)?" + re.escape(prefix) + r"/.*)$"
    )
    match = re.match(pattern, text, flags=re.DOTALL)
    if match is None:
        return None
    return LogLine(match.group("client"), match.group("topic"), subscribed)
