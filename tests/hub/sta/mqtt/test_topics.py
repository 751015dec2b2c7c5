"""Topic grammar, Mosquitto's subscribe log lines, and the learned-topic registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.sta.mqtt.learned import LearnedTopics
from hub.sta.mqtt.metrics import MqttMetrics
from hub.sta.mqtt.topics import (
    SUBSCRIBE_LOG,
    UNSUBSCRIBE_LOG,
    LogLine,
    TopicError,
    create_path,
    parse_log_line,
    parse_subscription,
)


@pytest.mark.parametrize(
    ("topic", "path"),
    [
        ("v1.1/Observations", "Observations"),
        ("v1.1/Datastreams(5)/Observations", "Datastreams(5)/Observations"),
        ("v1.1/FeaturesOfInterest(9)/Observations", "FeaturesOfInterest(9)/Observations"),
    ],
)
def test_creation_topics(topic: str, path: str) -> None:
    assert create_path(topic) == path


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        ("v1.1/Things(1)/Observations", "not a resource path"),  # Things have no Observations
        ("v1.1/Datastreams/Observations", "cannot follow the collection"),
        ("v1.1/Datastreams(05)/Observations", "leading zero"),
        ("v1.1/Datastreams('5')/Observations", "malformed id"),
        ("v1.1/Observations(1)", "Observations collection"),
        ("v1.1/Things", "Observations collection"),
        ("v1.1/Things(1)/Datastreams(2)/Observations", "create topics are"),
        ("v1.0/Observations", "does not start with"),
        ("/v1.1/Observations", "does not start with"),
        ("v1.1/Observations?$select=result", "not a resource path"),
        ("v1.1/" + "Observations/" * 400, "longer than"),
    ],
)
def test_bad_creation_topics(topic: str, why: str) -> None:
    with pytest.raises(TopicError, match=why):
        create_path(topic)


def test_subscriptions() -> None:
    entity_set = parse_subscription("v1.1/Observations")
    assert entity_set.kind == "collection" and entity_set.direct and not entity_set.deep
    hop = parse_subscription("v1.1/Datastreams(1)/Observations")
    assert hop.direct and hop.entity_name == "Observation" and hop.path_text == hop.topic[5:]
    prop = parse_subscription("v1.1/Observations(7)/result")
    assert prop.kind == "property" and prop.direct
    selected = parse_subscription("v1.1/Datastreams(1)/Observations?$select=result,phenomenonTime")
    assert selected.select == ("result", "phenomenonTime") and not selected.direct
    assert selected.path_text == "Datastreams(1)/Observations" and not selected.deep
    # Spaces are part of the topic text (MQTT matches it exactly), not of the names.
    spaced = parse_subscription("v1.1/Observations?$select=result, id")
    assert spaced.select == ("result", "id") and spaced.topic.endswith("result, id")
    deep = parse_subscription("v1.1/Observations(7)/Datastream/Thing")
    assert deep.deep and deep.kind == "entity" and deep.entity_name == "Thing"
    shared = parse_subscription("$share/dash/v1.1/Things?$select=name")
    assert shared.topic == "v1.1/Things?$select=name"
    # Every entity set the read path serves is a topic, MultiDatastreams included.
    assert parse_subscription("v1.1/MultiDatastreams(2)/Observations").direct


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        ("v1.1/+/Observations?$select=result", "wildcard"),
        ("v1.1/#", "wildcard"),
        ("v1.1/Observations?$filter=result gt 1", "only \\$select"),
        ("v1.1/Observations?$select=result&$top=1", "only \\$select"),
        ("v1.1/Observations?$select=nothing", "no property 'nothing'"),
        ("v1.1/Observations(1)/result?$select=result", "property topic"),
        ("v1.1/Observations(1)/result/$value", "value path"),
        ("v1.1/Things(1)/Datastreams/$ref", "ref path"),
        ("v1.1/Things(1)/Nothing", "no property"),
        ("v1.1", "does not start with"),
    ],
)
def test_bad_subscriptions(topic: str, why: str) -> None:
    with pytest.raises(TopicError, match=why):
        parse_subscription(topic)


def test_log_lines_of_mosquitto_2_0() -> None:
    # Captured from mosquitto 2.0.11 with `log_dest topic`, `log_type subscribe/unsubscribe`.
    line = parse_log_line(
        SUBSCRIBE_LOG,
        b"1795822251: weird client 1 v1.1/Datastreams(1)/Observations"
        b"?$select=result,phenomenonTime",
    )
    assert line == LogLine(
        "weird client", "v1.1/Datastreams(1)/Observations?$select=result,phenomenonTime", True
    )
    line = parse_log_line(UNSUBSCRIBE_LOG, b"1795822278: anon x v1.1/Observations?$select=result")
    assert line == LogLine("anon x", "v1.1/Observations?$select=result", False)
    shared = parse_log_line(SUBSCRIBE_LOG, b"17: c 0 $share/g/v1.1/Things?$select=name")
    assert shared is not None and shared.topic == "$share/g/v1.1/Things?$select=name"
    assert parse_log_line(SUBSCRIBE_LOG, b"1795822251: hubx 1 $SYS/broker/log/M/#") is None
    assert parse_log_line(SUBSCRIBE_LOG, b"garbage") is None
    assert parse_log_line(SUBSCRIBE_LOG, b"\xff\xfe 1 v1.1/Things") is None
    assert parse_log_line("$SYS/broker/log/N", b"1: c 1 v1.1/Things") is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_learned_topics_lifecycle() -> None:
    metrics = MqttMetrics()
    clock = Clock()
    learned = LearnedTopics(max_topics=3, max_deep=1, expiry_s=100, metrics=metrics, clock=clock)
    select = "v1.1/Datastreams(1)/Observations?$select=result"
    assert learned.subscribed("a", select)
    assert learned.subscribed("b", select)
    assert not learned.subscribed("a", "v1.1/Observations")  # direct: published anyway
    assert not learned.subscribed("a", "v1.1/#")  # wildcard: not counted as invalid
    assert not learned.subscribed("a", "v1.1/Observations?$select=bogus")
    assert [s.topic for s in learned.select_topics("Datastreams(1)/Observations")] == [select]
    assert learned.select_topics("Datastreams(2)/Observations") == []

    assert learned.subscribed("a", "v1.1/Observations(1)/Datastream")
    assert not learned.subscribed("a", "v1.1/Observations(2)/Datastream")  # deep cap
    assert [s.topic for s in learned.deep_topics("Datastream")] == [
        "v1.1/Observations(1)/Datastream"
    ]
    assert learned.subscribed("a", "v1.1/Things?$select=name")
    assert not learned.subscribed("a", "v1.1/Sensors?$select=name")  # cap of 3
    refused = {
        s.labels["reason"]: s.value
        for m in metrics.registry.collect()
        if m.name == "auasu_mqtt_learned_refused"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert refused == {"invalid": 1.0, "deep_cap": 1.0, "cap": 1.0}

    learned.unsubscribed("a", select)
    assert len(learned.select_topics("Datastreams(1)/Observations")) == 1  # b still there
    learned.unsubscribed("b", select)
    assert learned.select_topics("Datastreams(1)/Observations") == []
    learned.unsubscribed("nobody", "v1.1/never")  # unknown: nothing happens

    clock.now += 50
    assert learned.subscribed("c", "v1.1/Things?$select=name")  # refreshed
    clock.now += 60  # Observations(1)/Datastream is 110 s old now, Things?$select 60 s
    assert learned.deep_topics("Datastream") == []
    assert len(learned.select_topics("Things")) == 1
    assert len(learned) == 1


def test_learned_topics_survive_a_save_and_load(tmp_path: Path) -> None:
    clock = Clock()
    learned = LearnedTopics(expiry_s=100, clock=clock)
    learned.subscribed("a", "v1.1/Things?$select=name")
    learned.subscribed("b", "v1.1/Things?$select=name")
    clock.now += 90
    learned.subscribed("c", "v1.1/Observations(1)/Datastream")
    assert learned.changed
    path = tmp_path / "learned.json"
    learned.save(path)
    assert not learned.changed

    again = LearnedTopics(expiry_s=100, clock=clock)
    assert again.load(path) == 2 and not again.changed
    assert [s.topic for s in again.select_topics("Things")] == ["v1.1/Things?$select=name"]
    again.unsubscribed("a", "v1.1/Things?$select=name")
    assert len(again.select_topics("Things")) == 1  # b is remembered too
    clock.now += 20  # the $select topic was 90 s old when saved: now past the expiry
    assert again.select_topics("Things") == []
    assert len(again.deep_topics("Datastream")) == 1

    path.write_text('{"topics": [{"topic": "v1.1/Nothing?$select=x"}, 7, {"topic": 1}]}')
    assert LearnedTopics().load(path) == 0
    path.write_text("not json")
    assert LearnedTopics().load(path) == 0
    assert LearnedTopics().load(tmp_path / "missing.json") == 0
