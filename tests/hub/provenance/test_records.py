"""The signed record model: canonical payload round trip and strict rejection of anything else."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from hub.provenance.canonical import CanonicalError, canonical_json, core_bytes
from hub.provenance.records import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Activity,
    AdapterRef,
    AgentRef,
    DeviceRef,
    Digest,
    Envelope,
    IngestPredicate,
    ObservationBinding,
    ObservationCore,
    ObservationsSummary,
    RawMessage,
    Signature,
    Statement,
    Subject,
    parse_payload,
    statement_payload,
)

RECORD_ID = "0b9f3f3e-5d36-4c1e-9a53-2f1d6c1b7a10"
ROOT = "ab" * 32
PLUS_FIVE = timezone(timedelta(hours=5))


def digest(char: str) -> Digest:
    return Digest(sha256=char * 64)


def make_statement(**predicate_changes: Any) -> Statement:
    fields: dict[str, Any] = {
        "record_id": RECORD_ID,
        "hub": AgentRef(id="https://astana.auasu.kz/", kind="hub", name="AuaSu Astana"),
        "agency": AgentRef(id="https://kazhydromet.kz/", kind="agency", name="Қазгидромет"),
        "activity": Activity(
            id=f"https://astana.auasu.kz/prov/activities/{RECORD_ID}",
            started_at=datetime(2026, 4, 1, 15, 0, tzinfo=PLUS_FIVE),
            ended_at=datetime(2026, 4, 1, 10, 0, 1, 250000, UTC),
        ),
        "adapter": AdapterRef(name="hj212", version="1.4.0", config=digest("c")),
        "devices": [DeviceRef(id="urn:auasu:device:12", auth="password", assurance="L1")],
        "raw_messages": [
            RawMessage(
                digest=digest("d"),
                size=412,
                media_type="text/x-hj212",
                received_at=datetime(2026, 4, 1, 10, 0, 0, 500, UTC),
                channel="tcp://0.0.0.0:9212",
                device=0,
                archive="https://astana.auasu.kz/raw/sha256/" + "d" * 64,
            )
        ],
        "observations": ObservationsSummary(count=3, root=Digest(sha256=ROOT)),
        "qc_level": "raw",
        "license": "https://creativecommons.org/licenses/by/4.0/",
    }
    fields.update(predicate_changes)
    return Statement(
        subject=[Subject(name=f"urn:uuid:{RECORD_ID}", digest={"sha256": ROOT})],
        predicate=IngestPredicate(**fields),
    )


def payload_of(data: dict[str, Any]) -> bytes:
    return canonical_json(data)


def test_statement_payload_round_trip() -> None:
    statement = make_statement()
    payload = statement_payload(statement)
    data = json.loads(payload)
    assert data["_type"] == STATEMENT_TYPE
    assert data["predicateType"] == PREDICATE_TYPE
    assert data["predicate"]["activity"] == {
        "ended_at": "2026-04-01T10:00:01.25Z",
        "id": f"https://astana.auasu.kz/prov/activities/{RECORD_ID}",
        "started_at": "2026-04-01T10:00:00Z",
    }
    assert data["predicate"]["raw_messages"][0]["received_at"] == "2026-04-01T10:00:00.0005Z"
    assert "serial" not in data["predicate"]["devices"][0]
    assert data["predicate"]["derived_from"] == []
    assert canonical_json(data) == payload
    parsed = parse_payload(payload)
    assert parsed == statement
    assert statement_payload(parsed) == payload
    assert PAYLOAD_TYPE == "application/vnd.in-toto+json"


def test_non_canonical_payloads_are_rejected() -> None:
    payload = statement_payload(make_statement())
    data = json.loads(payload)
    reordered = json.dumps(dict(reversed(list(data.items()))), separators=(",", ":"))
    with pytest.raises(CanonicalError):
        parse_payload(reordered.encode())
    spaced = json.dumps(data, sort_keys=True, ensure_ascii=False)
    with pytest.raises(CanonicalError):
        parse_payload(spaced.encode())
    with pytest.raises(CanonicalError):
        parse_payload(payload + b"\n")


def test_payload_with_naive_or_offset_time_is_rejected() -> None:
    data = json.loads(statement_payload(make_statement()))
    data["predicate"]["raw_messages"][0]["received_at"] = "2026-04-01T10:00:00"
    with pytest.raises(ValidationError, match="timezone"):
        parse_payload(payload_of(data))
    # Canonical JSON, valid time, but not the utc_text form the signer must have produced.
    data["predicate"]["raw_messages"][0]["received_at"] = "2026-04-01T15:00:00+05:00"
    with pytest.raises(CanonicalError, match="re-encode"):
        parse_payload(payload_of(data))
    data["predicate"]["raw_messages"][0]["received_at"] = 1775037600
    with pytest.raises(ValidationError):
        parse_payload(payload_of(data))


def test_payload_with_extra_field_is_rejected() -> None:
    data = json.loads(statement_payload(make_statement()))
    data["predicate"]["adapter"]["commit"] = "0" * 40
    with pytest.raises(ValidationError, match="Extra inputs"):
        parse_payload(payload_of(data))
    data = json.loads(statement_payload(make_statement()))
    data["extra"] = 1
    with pytest.raises(ValidationError, match="Extra inputs"):
        parse_payload(payload_of(data))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("raw_messages", 0, "size"), 412.5),
        (("observations", "count"), 1e21),
        (("raw_messages", 0, "device"), True),
        (("raw_messages", 0, "media_type"), 3),
        (("observations", "count"), "3"),
    ],
)
def test_predicate_holds_only_ints_and_strings(path: tuple[Any, ...], value: Any) -> None:
    data = json.loads(statement_payload(make_statement()))
    target = data["predicate"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        parse_payload(payload_of(data))


def test_floats_rejected_when_building_models() -> None:
    with pytest.raises(ValidationError):
        ObservationsSummary(count=3.0, root=Digest(sha256=ROOT))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ObservationBinding(obs_id="urn:x", core=digest("a"), raw=-1)


def test_names_are_nfc_normalised() -> None:
    decomposed = "\u0418\u0306\u0433\u0438\u043b\u0438\u043a"  # "И" + combining breve + "гилик"
    agent = AgentRef(id="https://example.kz/", kind="operator", name=decomposed)
    assert agent.name == "\u0419\u0433\u0438\u043b\u0438\u043a"
    device = DeviceRef(id=decomposed, auth="none", assurance="L1")
    assert device.id == agent.name
    data = json.loads(statement_payload(make_statement()))
    data["predicate"]["agency"]["name"] = decomposed
    # A signer that skipped NFC produced bytes this model cannot reproduce.
    with pytest.raises(CanonicalError, match="re-encode"):
        parse_payload(payload_of(data))


def test_field_checks() -> None:
    with pytest.raises(ValidationError):
        Digest(sha256="AB" * 32)
    with pytest.raises(ValidationError):
        Digest(sha256="ab" * 31)
    with pytest.raises(ValidationError):
        AgentRef(id="not a uri", kind="hub", name="x")
    with pytest.raises(ValidationError):
        AgentRef(id="https://x/", kind="robot", name="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        DeviceRef(id="urn:d", auth="none", assurance="L4")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="UUID"):
        make_statement(record_id=RECORD_ID.upper())
    assert make_statement(record_id=uuid.UUID(RECORD_ID)).predicate.record_id == RECORD_ID
    with pytest.raises(ValidationError, match="ends before"):
        Activity(
            id="urn:a",
            started_at=datetime(2026, 1, 1, 1, tzinfo=UTC),
            ended_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(ValidationError, match="device index"):
        make_statement(devices=[])
    with pytest.raises(ValidationError):
        Subject(name="urn:b", digest={"sha256": "xyz"})
    with pytest.raises(ValidationError):
        Statement.model_validate(
            {
                "_type": "https://in-toto.io/Statement/v0.1",
                "subject": [{"name": "urn:b", "digest": {"sha256": ROOT}}],
                "predicateType": PREDICATE_TYPE,
                "predicate": make_statement().predicate.model_dump(),
            }
        )
    with pytest.raises(ValidationError):
        Statement(subject=[], predicate=make_statement().predicate)
    frozen = make_statement()
    with pytest.raises(ValidationError):
        frozen.predicate.qc_level = "validated"


def test_envelope_base64_is_strict() -> None:
    Envelope(
        payload="YWI=", payloadType=PAYLOAD_TYPE, signatures=[Signature(keyid="k", sig="AA==")]
    )
    for bad in ["YWI", "YWJ=", "YW I=", "YW-=", "ü"]:
        with pytest.raises(ValidationError):
            Signature(keyid="k", sig=bad)
    with pytest.raises(ValidationError):
        Envelope(payload="YWI=", payloadType=PAYLOAD_TYPE, signatures=[])


def test_observation_core() -> None:
    core = ObservationCore.model_validate(
        {
            "obs_id": "urn:auasu:astana:obs:12:2026-04-01T10:00:00Z",
            "datastream": "urn:auasu:astana:datastream:12",
            "foi": "urn:auasu:astana:foi:station-12",
            "observed_property": "http://vocab.nerc.ac.uk/collection/P01/current/PM2.5/",
            "unit": "ug/m3",
            "phenomenon_time": "2026-04-01T14:00:00+05:00/2026-04-01T10:00:00.000Z",
            "result_time": datetime(2026, 4, 1, 10, 0, tzinfo=UTC),
            "result": 12.3,
            "result_quality": "valid",
            "parameters": {"flag": "N", "received": {"code": "a34004-Avg", "value": "12.3"}},
        }
    )
    assert core.phenomenon_time == "2026-04-01T09:00:00Z/2026-04-01T10:00:00Z"
    assert core.result_time == "2026-04-01T10:00:00Z"
    dumped = core.model_dump(mode="json", exclude_none=True)
    assert "valid_time" not in dumped
    assert core_bytes(dumped) == canonical_json(dumped)
    assert core_bytes(core.model_dump(exclude_none=True)) == core_bytes(dumped)
    base = dumped | {"phenomenon_time": "2026-04-01T10:00:00Z"}
    invalid: list[dict[str, Any]] = [
        {"phenomenon_time": "2026-04-01T10:00:00"},
        {"phenomenon_time": "a/b/c"},
        {"result_time": 1775037600},
        {"result": math.nan},
        {"parameters": {"aqhub:prov": {"record": RECORD_ID}}},
        {"obs_id": ""},
    ]
    for changes in invalid:
        with pytest.raises(ValidationError):
            ObservationCore.model_validate(base | changes)
