"""PROV-JSON and PROV-XML exports of a signed record: graph, ids, determinism, schema validity."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.provenance import dsse, prov_export
from hub.provenance.canonical import canonical_json
from hub.provenance.prov_export import (
    SCHEMA_DIR,
    ProvExportError,
    prov_document,
    prov_xml,
    validate_prov_xml,
)
from hub.provenance.records import (
    PAYLOAD_TYPE,
    Activity,
    AdapterRef,
    AgentRef,
    DeviceRef,
    Digest,
    Envelope,
    IngestPredicate,
    ObservationsSummary,
    RawMessage,
    Statement,
    Subject,
    parse_payload,
    statement_payload,
)
from hub.provenance.sealer import envelope_bytes

HUB = "https://astana.auasu.kz"
RECORD_ID = "0b9f3f3e-5d36-4c1e-9a53-2f1d6c1b7a10"
RECORD_URL = f"{HUB}/prov/records/{RECORD_ID}"
ACTIVITY = f"{HUB}/prov/activities/{RECORD_ID}"
STATIONS = [f"{HUB}/oapi/collections/stations/items/8888888000000{n}" for n in (1, 2)]
RAW = ["1" * 64, "a" * 64, "2" * 64]  # raw message digests, from devices 0, 1, 0
RAW_DEVICE = [0, 1, 0]
CONFIG, ROOT, SUPERSEDED = "c" * 64, "e" * 64, "5" * 64
PROV = "{http://www.w3.org/ns/prov#}"
KEY = Ed25519PrivateKey.generate()


def at(minute: int) -> datetime:
    return datetime(2026, 4, 1, 10, minute, tzinfo=UTC)


def make_statement(
    *,
    agency_id: str = "https://kazhydromet.kz/",
    device_ids: tuple[str, ...] = tuple(STATIONS),
    adapter_name: str = "lihe-hj212",
    serial: str | None = "LH-0042",
) -> Statement:
    """An HJ 212 batch: two stations, three raw frames, a correction of an earlier record."""
    predicate = IngestPredicate(
        record_id=RECORD_ID,
        hub=AgentRef(id=f"{HUB}/", kind="hub", name="AuaSu Astana"),
        agency=AgentRef(id=agency_id, kind="agency", name="Қазгидромет"),
        activity=Activity(id=ACTIVITY, started_at=at(0), ended_at=at(5)),
        adapter=AdapterRef(name=adapter_name, version="1.4.0", config=Digest(sha256=CONFIG)),
        devices=[
            DeviceRef(id=device, serial=serial, auth="password", assurance="L1")
            for device in device_ids
        ],
        raw_messages=[
            RawMessage(
                digest=Digest(sha256=digest),
                size=310 + index,
                media_type="application/x-hj212",
                received_at=at(index),
                channel="tcp://0.0.0.0:8212",
                device=RAW_DEVICE[index] % len(device_ids),
                archive=f"{HUB}/raw/sha256/{digest}",
            )
            for index, digest in enumerate(RAW)
        ],
        observations=ObservationsSummary(count=12, root=Digest(sha256=ROOT)),
        qc_level="raw",
        supersedes=[Digest(sha256=SUPERSEDED)],
        license="https://creativecommons.org/licenses/by/4.0/",
    )
    return Statement(
        subject=[Subject(name=f"urn:uuid:{RECORD_ID}", digest={"sha256": ROOT})],
        predicate=predicate,
    )


def sign(statement: Statement) -> Envelope:
    return dsse.sign(statement_payload(statement), PAYLOAD_TYPE, KEY)


@pytest.fixture(scope="module")
def record() -> tuple[Envelope, Statement]:
    statement = make_statement()
    return sign(statement), statement


def export(record: tuple[Envelope, Statement], entry: int = 7) -> dict[str, Any]:
    envelope, statement = record
    return prov_document(envelope, statement, entry=entry, record_url=RECORD_URL, hub_id=HUB)


def export_xml(record: tuple[Envelope, Statement]) -> bytes:
    envelope, statement = record
    return prov_xml(envelope, statement, entry=7, record_url=RECORD_URL, hub_id=HUB)


REFS = {
    f"prov:{name}"
    for name in (
        "activity",
        "entity",
        "agent",
        "plan",
        "delegate",
        "responsible",
        "generatedEntity",
        "usedEntity",
        "generation",
        "usage",
    )
}


class Iris:
    """Expands a PROV-JSON document's qualified names into IRIs."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.prefixes: dict[str, str] = {
            "prov": "http://www.w3.org/ns/prov#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            **document["prefix"],
        }

    def __call__(self, qname: str) -> str:
        prefix, _, local = qname.partition(":")
        return self.prefixes[prefix] + local

    def relations(self, part: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        return [
            {key: self(v) if key in REFS else v for key, v in body.items()} | {"id": self(rel_id)}
            for rel_id, body in part.get(kind, {}).items()
        ]

    def nodes(self, part: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
        return {self(node_id): body for node_id, body in part.get(section, {}).items()}


RELATION_KINDS = (
    "used",
    "wasGeneratedBy",
    "wasAssociatedWith",
    "actedOnBehalfOf",
    "wasDerivedFrom",
    "wasAttributedTo",
)


def test_layout_and_explicit_relation_ids(record: tuple[Envelope, Statement]) -> None:
    document = export(record)
    iri = Iris(document)
    assert set(document) == {
        "prefix",
        "entity",
        "agent",
        "wasAttributedTo",
        "wasDerivedFrom",
        "bundle",
    }
    assert document["prefix"]["rel"] == f"{RECORD_URL}/rel/"
    assert "prov" not in document["prefix"]
    assert [iri(name) for name in document["bundle"]] == [RECORD_URL]
    inner = document["bundle"][next(iter(document["bundle"]))]
    assert set(inner) == {"activity", "agent", "entity", *RELATION_KINDS}
    ids = [
        iri(rel_id)
        for part in (document, inner)
        for kind in RELATION_KINDS
        for rel_id in part.get(kind, {})
    ]
    # 3 used, 2 associations with devices + 1 with the adapter, 2 delegations, 3 + 1
    # generations, 3 derivations + 1 revision, 2 attributions.
    assert len(ids) == 18
    assert sorted(ids) == sorted(f"{RECORD_URL}/rel/{n}" for n in range(1, 19))


def test_ingest_adapter_agency_and_devices(record: tuple[Envelope, Statement]) -> None:
    document = export(record)
    iri = Iris(document)
    inner = document["bundle"][next(iter(document["bundle"]))]
    adapter = f"{HUB}/agents/adapters/lihe-hj212@1.4.0"
    raws = [f"urn:sha256:{digest}" for digest in RAW]
    measuring = [f"{RECORD_URL}/measuring/{index}" for index in range(2)]

    used = iri.relations(inner, "used")
    assert [(u["prov:activity"], u["prov:entity"]) for u in used] == [(ACTIVITY, r) for r in raws]
    assert [u["prov:time"] for u in used] == [
        "2026-04-01T10:00:00Z",
        "2026-04-01T10:01:00Z",
        "2026-04-01T10:02:00Z",
    ]
    associations = {
        (a["prov:activity"], a["prov:agent"], a.get("prov:plan"))
        for a in iri.relations(inner, "wasAssociatedWith")
    }
    assert associations == {
        (ACTIVITY, adapter, f"urn:sha256:{CONFIG}"),
        (measuring[0], STATIONS[0], None),
        (measuring[1], STATIONS[1], None),
    }
    delegations = {
        (d["prov:delegate"], d["prov:responsible"], d.get("prov:activity"))
        for d in iri.relations(inner, "actedOnBehalfOf")
    }
    assert delegations == {
        (adapter, "https://kazhydromet.kz/", ACTIVITY),
        (f"{HUB}/", "https://kazhydromet.kz/", None),
    }
    generated = {
        (g["prov:entity"], g["prov:activity"]) for g in iri.relations(inner, "wasGeneratedBy")
    }
    assert generated == {
        (raws[0], measuring[0]),
        (raws[1], measuring[1]),
        (raws[2], measuring[0]),
        (f"urn:uuid:{RECORD_ID}", ACTIVITY),
    }

    agents = iri.nodes(inner, "agent")
    assert agents[adapter]["prov:type"] == {
        "$": "prov:SoftwareAgent",
        "type": "prov:QUALIFIED_NAME",
    }
    assert agents[adapter]["prov:label"] == "lihe-hj212@1.4.0"
    assert agents["https://kazhydromet.kz/"]["prov:type"]["$"] == "prov:Organization"
    assert agents[STATIONS[0]]["prov:type"]["$"] == "sosa:System"
    assert agents[STATIONS[0]]["auasu:serial"] == "LH-0042"
    assert agents[STATIONS[0]]["auasu:assurance"] == "L1"
    activities = iri.nodes(inner, "activity")
    assert activities[ACTIVITY]["prov:startTime"] == "2026-04-01T10:00:00Z"
    assert activities[ACTIVITY]["prov:endTime"] == "2026-04-01T10:05:00Z"
    assert set(activities) == {ACTIVITY, *measuring}


def test_raw_messages_batch_and_record(record: tuple[Envelope, Statement]) -> None:
    envelope, _ = record
    document = export(record)
    iri = Iris(document)
    inner = document["bundle"][next(iter(document["bundle"]))]
    batch = f"urn:uuid:{RECORD_ID}"
    entities = iri.nodes(inner, "entity")
    # The batch stands for its observations: none of them is an entity of the export.
    assert set(entities) == {batch, f"urn:sha256:{CONFIG}", *(f"urn:sha256:{d}" for d in RAW)}
    assert entities[f"urn:sha256:{CONFIG}"]["prov:type"]["$"] == "prov:Plan"
    raw = entities[f"urn:sha256:{RAW[1]}"]
    assert raw["auasu:sha256"] == RAW[1]
    assert raw["auasu:size"] == {"$": "311", "type": "xsd:long"}
    assert raw["auasu:mediaType"] == "application/x-hj212"
    assert raw["auasu:archive"] == {"$": f"{HUB}/raw/sha256/{RAW[1]}", "type": "xsd:anyURI"}
    assert entities[batch]["auasu:count"] == {"$": "12", "type": "xsd:long"}
    assert entities[batch]["auasu:root"] == ROOT

    used_ids = {u["prov:entity"]: u["id"] for u in iri.relations(inner, "used")}
    batch_generation = next(
        g["id"] for g in iri.relations(inner, "wasGeneratedBy") if g["prov:entity"] == batch
    )
    derivations = iri.relations(inner, "wasDerivedFrom")
    assert {(d["prov:generatedEntity"], d["prov:usedEntity"]) for d in derivations} == {
        (batch, f"urn:sha256:{digest}") for digest in RAW
    }
    for derivation in derivations:
        assert derivation["prov:activity"] == ACTIVITY
        assert derivation["prov:generation"] == batch_generation
        assert derivation["prov:usage"] == used_ids[derivation["prov:usedEntity"]]
    attributions = iri.relations(inner, "wasAttributedTo")
    assert [(a["prov:entity"], a["prov:agent"]) for a in attributions] == [
        (batch, "https://kazhydromet.kz/")
    ]

    # Outside the bundle: the record itself, attributed to the hub, revising the older record.
    top_entities = iri.nodes(document, "entity")
    bundle = top_entities[RECORD_URL]
    assert bundle["prov:type"] == {"$": "prov:Bundle", "type": "prov:QUALIFIED_NAME"}
    assert bundle["auasu:logIndex"] == {"$": "7", "type": "xsd:long"}
    assert bundle["auasu:digest"] == hashlib.sha256(envelope_bytes(envelope)).hexdigest()
    assert bundle["auasu:keyId"] == envelope.signatures[0].keyid
    assert [
        (a["prov:entity"], a["prov:agent"]) for a in iri.relations(document, "wasAttributedTo")
    ] == [(RECORD_URL, f"{HUB}/")]
    [revision] = iri.relations(document, "wasDerivedFrom")
    assert revision["prov:generatedEntity"] == RECORD_URL
    assert revision["prov:usedEntity"] == f"urn:sha256:{SUPERSEDED}"
    assert revision["prov:type"] == {"$": "prov:Revision", "type": "prov:QUALIFIED_NAME"}
    assert iri.nodes(document, "agent")[f"{HUB}/"]["prov:type"]["$"] == "prov:SoftwareAgent"


def test_same_record_gives_identical_output(record: tuple[Envelope, Statement]) -> None:
    envelope, statement = record
    first, second = export(record), export(record)
    assert canonical_json(first) == canonical_json(second)
    assert json.dumps(first) == json.dumps(second)
    # A verifier that parsed the statement back from the signed payload gets the same export.
    reparsed = parse_payload(statement_payload(statement))
    assert canonical_json(export((envelope, reparsed))) == canonical_json(first)
    assert export_xml(record) == export_xml((envelope, reparsed))
    assert canonical_json(export(record, entry=8)) != canonical_json(first)


def test_statement_must_be_the_envelopes_payload(record: tuple[Envelope, Statement]) -> None:
    envelope, _ = record
    other = make_statement(adapter_name="other-adapter")
    with pytest.raises(ProvExportError, match="payload"):
        prov_document(envelope, other, entry=7, record_url=RECORD_URL, hub_id=HUB)
    with pytest.raises(ProvExportError, match="payload"):
        prov_xml(envelope, other, entry=7, record_url=RECORD_URL, hub_id=HUB)


def test_xml_is_valid_and_carries_the_same_relations(record: tuple[Envelope, Statement]) -> None:
    xml = export_xml(record)
    validate_prov_xml(xml)
    root = ET.fromstring(xml)
    assert root.tag == f"{PROV}document"
    relation_tags = {f"{PROV}{kind}" for kind in (*RELATION_KINDS, "wasRevisionOf")}
    ids = [str(el.get(f"{PROV}id")) for el in root.iter() if el.tag in relation_tags]
    # xs:QName local parts cannot start with a digit: rel:1 is written rel:_1 (ProvToolbox).
    assert sorted(ids) == sorted(f"rel:_{n}" for n in range(1, 19))
    assert root.find(f"{PROV}wasRevisionOf") is not None
    [content] = root.findall(f"{PROV}bundleContent")
    assert content.get(f"{PROV}id") == f"ns1:_{RECORD_ID}"
    assert len(content.findall(f"{PROV}used")) == 3
    assert len(content.findall(f"{PROV}wasDerivedFrom")) == 3
    assert content.find(f"{PROV}softwareAgent") is not None
    assert content.find(f"{PROV}organization") is not None
    assert content.find(f"{PROV}plan") is not None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda x: x.replace(b"<prov:plan ", b"<prov:blueprint ", 1).replace(
                b"</prov:plan>", b"</prov:blueprint>", 1
            ),
            "blueprint",
        ),
        (
            lambda x: x.replace(b'<prov:used prov:id="rel:_3">', b'<prov:used prov:id="rel:3">'),
            "rel:3",
        ),
        (
            lambda x: x.replace(b"<prov:time>2026-04-01T10:00:00Z", b"<prov:time>yesterday", 1),
            "yesterday",
        ),
        (lambda x: x.replace(b'prov:id="sha256:', b'prov:id="unbound:', 1), "unbound"),
    ],
    ids=["unknown element", "digit-led local name", "bad time", "undeclared prefix"],
)
def test_schema_rejects_wrong_documents(
    record: tuple[Envelope, Statement], change: Any, problem: str
) -> None:
    xml = export_xml(record)
    broken = change(xml)
    assert broken != xml
    with pytest.raises(ProvExportError, match="does not fit the schema") as caught:
        validate_prov_xml(broken)
    assert problem in str(caught.value)


def test_malformed_and_hostile_xml_is_refused() -> None:
    with pytest.raises(ProvExportError, match="well-formed"):
        validate_prov_xml(b"<prov:document xmlns:prov='http://www.w3.org/ns/prov#'>")
    entity_bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]>'
        b"<prov:document xmlns:prov='http://www.w3.org/ns/prov#'>&a;</prov:document>"
    )
    with pytest.raises(ProvExportError):
        validate_prov_xml(entity_bomb)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    attempts: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    prov_export._schema.cache_clear()  # build the schema again, now without a network
    yield attempts
    prov_export._schema.cache_clear()


def test_validation_never_touches_the_network(
    record: tuple[Envelope, Statement], offline: list[tuple[Any, ...]]
) -> None:
    xml = export_xml(record)
    # A location hint in the document must not be followed either.
    hinted = xml.replace(
        b"<prov:document",
        b'<prov:document xsi:schemaLocation="http://www.w3.org/ns/prov# '
        b'http://www.w3.org/ns/prov.xsd"',
        1,
    )
    validate_prov_xml(xml)
    validate_prov_xml(hinted)
    with pytest.raises(ProvExportError):
        validate_prov_xml(xml.replace(b"<prov:plan ", b"<prov:planned ", 1))
    assert offline == []
    urls = {schema.url for schema in prov_export._schema().maps.iter_schemas()}
    assert all(url is not None and url.startswith("file://") for url in urls)
    assert (SCHEMA_DIR / "xml.xsd").as_uri() in urls  # the W3C import, served locally
    assert (SCHEMA_DIR / "prov.xsd").as_uri() in urls


def test_shipped_schema_is_the_w3c_one() -> None:
    core = (SCHEMA_DIR / "prov-core.xsd").read_text(encoding="utf-8")
    assert 'targetNamespace="http://www.w3.org/ns/prov#"' in core
    # Verbatim: the xml.xsd import still names the W3C location (resolved locally by mapping).
    assert 'schemaLocation="http://www.w3.org/2001/xml.xsd"' in core
    main = (SCHEMA_DIR / "prov.xsd").read_text(encoding="utf-8")
    assert re.findall(r'schemaLocation="([^"]+)"', main) == [
        "prov-core.xsd",
        "prov-dictionary.xsd",
        "prov-links.xsd",
    ]


def test_identifiers_that_are_not_iris_are_minted_under_the_record() -> None:
    statement = make_statement(device_ids=("station 7/north", STATIONS[1]))
    envelope = sign(statement)
    document = prov_document(envelope, statement, entry=1, record_url=RECORD_URL, hub_id=HUB)
    iri = Iris(document)
    inner = document["bundle"][next(iter(document["bundle"]))]
    assert f"{RECORD_URL}/id/station%207%2Fnorth" in iri.nodes(inner, "agent")
    validate_prov_xml(prov_xml(envelope, statement, entry=1, record_url=RECORD_URL, hub_id=HUB))


def test_characters_xml_cannot_carry_are_refused() -> None:
    statement = make_statement(serial="LH\x01")
    envelope = sign(statement)
    prov_document(envelope, statement, entry=1, record_url=RECORD_URL, hub_id=HUB)
    with pytest.raises(ProvExportError, match="U\\+0001"):
        prov_xml(envelope, statement, entry=1, record_url=RECORD_URL, hub_id=HUB)


def unescape_local(local: str) -> str:
    """ProvToolbox's unescapeFromXsdLocalName: drop the start escape, then decode _XX and __."""
    text = local[1:] if local.startswith("_") else local
    out, index = bytearray(), 0
    while index < len(text):
        if text[index] == "_":
            if text[index + 1] == "_":
                out += b"_"
                index += 2
            else:
                out.append(int(text[index + 1 : index + 3], 16))
                index += 3
        else:
            out += text[index].encode("utf-8")
            index += 1
    return out.decode("utf-8")


XML_TEXT = st.characters(blacklist_categories=("Cc", "Cs", "Cn"))
NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@given(st.text(XML_TEXT, max_size=40))
def test_xml_local_names_round_trip(local: str) -> None:
    escaped = prov_export._xml_local(local)
    assert NCNAME.fullmatch(escaped)
    assert unescape_local(escaped) == local


@settings(max_examples=30, deadline=None)
@given(
    agency=st.text(XML_TEXT.filter(lambda c: not c.isspace()), min_size=1, max_size=30),
    device=st.text(XML_TEXT, min_size=1, max_size=30),
    adapter=st.text(XML_TEXT, min_size=1, max_size=20),
)
def test_any_record_exports_to_valid_xml(agency: str, device: str, adapter: str) -> None:
    statement = make_statement(
        agency_id=f"https://agency.example/{agency}",
        device_ids=(device,),
        adapter_name=adapter,
        serial=None,
    )
    envelope = sign(statement)
    validate_prov_xml(prov_xml(envelope, statement, entry=3, record_url=RECORD_URL, hub_id=HUB))
    document = prov_document(envelope, statement, entry=3, record_url=RECORD_URL, hub_id=HUB)
    iri = Iris(document)
    inner = document["bundle"][next(iter(document["bundle"]))]
    assert statement.predicate.agency.id in iri.nodes(inner, "agent")
