"""W3C PROV exports of one signed provenance record as PROV-JSON and PROV-XML (provenance.md §5.2).

The signed record stays the source of truth: PROV is produced from it and never signed (§1.3).
The graph of one record:

* the ingest activity (``predicate.activity``) ``used`` each raw message, an entity named
  ``urn:sha256:<hex>`` carrying its digest, size, media type, receipt time, channel and archive
  link, and ``wasAssociatedWith`` the adapter, a ``prov:SoftwareAgent`` ``name@version`` whose
  plan is its configuration digest; the adapter ``actedOnBehalfOf`` the agency (a
  ``prov:Organization``), and so does the hub;
* each device is an agent typed ``sosa:System`` (the SOSA-PROV alignment, §1.2): the measuring
  activity of device *i* (``<record_url>/measuring/<i>``, *i* the record's device index)
  ``wasAssociatedWith`` the device and generated that device's raw messages;
* the batch, the entity named by the statement's subject (with the count and Merkle root of its
  observations), ``wasGeneratedBy`` the ingest activity, ``wasDerivedFrom`` each raw message and
  ``wasAttributedTo`` the agency;
* the record itself is a ``prov:Bundle`` named ``record_url`` holding all of the above; outside
  it, the bundle ``wasAttributedTo`` the hub, ``wasRevisionOf`` each record it supersedes and
  ``wasDerivedFrom`` each record it re-processes, those named ``urn:sha256:<hex>`` by the digest
  through which records refer to each other (a record's digest is also an attribute of its bundle).

Individual observations are not listed: the batch stands for them. Their bindings are served
next to the record, and each one is proven against the root the batch entity carries.

The output is deterministic: every relation has an explicit id ``<record_url>/rel/<n>``,
numbered from 1 in a fixed order (the ``prov`` package's blank ``_:idN`` ids follow insertion
order, §1.3), so the same record always gives the same document.

Identifiers are qualified names whose prefix namespace followed by the local part is the exact
IRI. PROV-XML ids are ``xs:QName``, whose local part must be an NCName (no ``/``, no leading
digit), so there the local part is escaped as ProvToolbox does (``QualifiedNameUtils.
escapeToXsdLocalName``): ``_`` doubles, any character but ASCII letters, digits, ``.`` and
``-`` becomes ``_XX`` per UTF-8 byte, and a leading ``_`` is added unless the result starts
with a letter: ``rel:1`` in PROV-JSON is ``rel:_1`` in PROV-XML. Attributes PROV does not
define are in the ``auasu:`` vocabulary (``https://w3id.org/auasu/prov/ns#``), the licence is
``dct:license``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from xml.etree.ElementTree import ParseError

import xmlschema

from hub.provenance.canonical import sha256_hex, utc_text
from hub.provenance.records import AgentRef, Envelope, Statement, statement_payload
from hub.provenance.sealer import envelope_bytes

__all__ = ["SCHEMA_DIR", "ProvExportError", "prov_document", "prov_xml", "validate_prov_xml"]

SCHEMA_DIR: Final = Path(__file__).resolve().with_name("schemas")

PROV_NS: Final = "http://www.w3.org/ns/prov#"
XSD_NS: Final = "http://www.w3.org/2001/XMLSchema#"  # PROV-DM's xsd prefix (datatype IRIs)
XSD_XML_NS: Final = "http://www.w3.org/2001/XMLSchema"  # what xsi:type resolves against
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
AUASU_NS: Final = "https://w3id.org/auasu/prov/ns#"
SOSA_NS: Final = "http://www.w3.org/ns/sosa/"
DCT_NS: Final = "http://purl.org/dc/terms/"

# The schema set's only external reference (prov-core.xsd imports the XML namespace from the
# W3C); it is served from the copy next to the schema, so loading never leaves the machine.
_LOCAL_COPIES: Final = {"http://www.w3.org/2001/xml.xsd": "xml.xsd"}

_AGENT_CLASS: Final = {
    "hub": "SoftwareAgent",
    "agency": "Organization",
    "adapter": "SoftwareAgent",
    "operator": "Person",
}
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+")
# Kept as they are in an XML local name; anything else is escaped, even the non-ASCII name
# characters, whose set differs between XML editions and parsers.
_NAME_CHAR = re.compile(r"[A-Za-z0-9.\-]")
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LOAD_WARNINGS: Final = (xmlschema.XMLSchemaImportWarning, xmlschema.XMLSchemaIncludeWarning)


class ProvExportError(ValueError):
    """A record cannot be exported, or a PROV-XML document does not fit the W3C schema."""


@dataclass(frozen=True, slots=True)
class _QName:
    prefix: str
    local: str

    def json(self) -> str:
        return f"{self.prefix}:{self.local}"

    def xml(self) -> str:
        return f"{self.prefix}:{_xml_local(self.local)}"


@dataclass(frozen=True, slots=True)
class _Value:
    """An attribute value: text of an XSD datatype (``xsd:string`` is written plain)."""

    text: str
    datatype: str = "xsd:string"


@dataclass(frozen=True, slots=True)
class _Node:
    section: str  # entity, activity or agent
    prov_class: str | None  # Bundle, Plan, SoftwareAgent, ...: a PROV-XML element of its own
    id: _QName
    label: str
    types: tuple[_QName, ...] = ()
    attributes: tuple[tuple[_QName, _Value], ...] = ()
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class _Relation:
    kind: str  # the PROV-XML element; PROV-JSON writes wasRevisionOf as a typed wasDerivedFrom
    id: _QName
    refs: tuple[tuple[str, _QName], ...]  # formal arguments in the schema's order
    time: str | None = None


@dataclass(slots=True)
class _Statements:
    nodes: list[_Node] = field(default_factory=list)
    relations: list[_Relation] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Graph:
    prefixes: tuple[tuple[str, str], ...]
    top: _Statements
    bundle_id: _QName
    bundle: _Statements


def _xml_local(local: str) -> str:
    parts: list[str] = []
    for char in local:
        if char == "_":
            parts.append("__")
        elif _NAME_CHAR.fullmatch(char):
            parts.append(char)
        else:
            parts.extend(f"_{byte:02X}" for byte in char.encode("utf-8"))
    escaped = "".join(parts)
    return escaped if escaped[:1].isascii() and escaped[:1].isalpha() else f"_{escaped}"


class _Names:
    """Prefixes for every namespace the graph uses, handed out in first-use order."""

    def __init__(self, fixed: Iterable[tuple[str, str]]) -> None:
        self._declared: list[tuple[str, str]] = []
        self._by_namespace: dict[str, str] = {}
        self._used: set[str] = set()
        for prefix, namespace in fixed:
            self._declare(prefix, namespace)

    def _declare(self, prefix: str, namespace: str) -> None:
        if namespace not in self._by_namespace:
            self._by_namespace[namespace] = prefix
            self._declared.append((prefix, namespace))

    def term(self, prefix: str, local: str) -> _QName:
        self._used.add(prefix)
        return _QName(prefix, local)

    def qname(self, iri: str) -> _QName:
        # The last '/', '#' or ':' followed by something splits namespace from local part.
        cut = max(iri.rfind(sep, 0, len(iri) - 1) for sep in "/#:") + 1
        if cut <= 0:
            raise ProvExportError(f"{iri!r} is not an absolute IRI")
        namespace, local = iri[:cut], iri[cut:]
        prefix = self._by_namespace.get(namespace)
        if prefix is None:
            prefix = f"ns{sum(p.startswith('ns') for p, _ in self._declared) + 1}"
            self._declare(prefix, namespace)
        self._used.add(prefix)
        return _QName(prefix, local)

    def prefixes(self) -> tuple[tuple[str, str], ...]:
        return tuple((p, ns) for p, ns in self._declared if p in self._used)


Attr = str | int | tuple[str | int, str] | list[str] | None
"""An ``auasu:`` attribute value: text, a number, (value, XSD datatype), several texts or none."""


class _Builder:
    """Builds one record's graph; relation ids are numbered in the order relations are made."""

    def __init__(self, record_url: str, hub_id: str) -> None:
        self.record_url = record_url.rstrip("/")
        self.hub_base = hub_id.rstrip("/")
        self.names = _Names(
            [
                ("prov", PROV_NS),
                ("xsd", XSD_NS),
                ("auasu", AUASU_NS),
                ("sosa", SOSA_NS),
                ("dct", DCT_NS),
                ("rel", f"{self.record_url}/rel/"),
                ("sha256", "urn:sha256:"),
                ("uuid", "urn:uuid:"),
            ]
        )
        self.top, self.inner = _Statements(), _Statements()
        self._relations = 0

    def iri(self, text: str) -> _QName:
        """An identifier from the record as an IRI: as is if absolute, else minted under it."""
        if _URI.fullmatch(text):
            return self.names.qname(text)
        return self.names.qname(f"{self.record_url}/id/{quote(text, safe='')}")

    def node(
        self,
        into: _Statements,
        section: str,
        prov_class: str | None,
        node_id: _QName,
        label: str,
        *,
        types: tuple[str, ...] = (),
        start: str | None = None,
        end: str | None = None,
        extra: tuple[tuple[_QName, _Value], ...] = (),
        **attrs: Attr,
    ) -> _QName:
        pairs = list(extra)
        for local, value in attrs.items():
            texts = value if isinstance(value, list) else [] if value is None else [value]
            for text in texts:
                raw, datatype = text if isinstance(text, tuple) else (text, "xsd:string")
                pairs.append((self.names.term("auasu", local), _Value(str(raw), datatype)))
        qualified = tuple(self.names.term(*t.split(":")) for t in types)
        into.nodes.append(
            _Node(section, prov_class, node_id, label, qualified, tuple(pairs), start, end)
        )
        return node_id

    def agent(self, into: _Statements, agent: AgentRef) -> _QName:
        return self.node(into, "agent", _AGENT_CLASS[agent.kind], self.iri(agent.id), agent.name)

    def relate(
        self, into: _Statements, kind: str, *refs: tuple[str, _QName], time: str | None = None
    ) -> _QName:
        self._relations += 1
        rel_id = self.names.qname(f"{self.record_url}/rel/{self._relations}")
        into.relations.append(_Relation(kind, rel_id, tuple(refs), time))
        return rel_id


def _check_payload(envelope: Envelope, statement: Statement) -> None:
    try:
        payload = base64.b64decode(envelope.payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProvExportError("envelope payload is not base64") from exc
    if payload != statement_payload(statement):
        raise ProvExportError("the statement is not the envelope's payload")


def _record(b: _Builder, envelope: Envelope, statement: Statement, entry: int) -> _QName:
    """The bundle's description and the statements about the record, outside the bundle."""
    pred, top = statement.predicate, b.top
    record = b.node(
        top,
        "entity",
        "Bundle",
        b.iri(b.record_url),
        f"provenance record {pred.record_id}",
        recordId=pred.record_id,
        logIndex=(entry, "xsd:long"),
        digest=sha256_hex(envelope_bytes(envelope)),
        predicateType=(statement.predicateType, "xsd:anyURI"),
        payloadType=envelope.payloadType,
        keyId=[signature.keyid for signature in envelope.signatures],
    )
    hub = b.agent(top, pred.hub)
    b.relate(top, "wasAttributedTo", ("entity", record), ("agent", hub))
    for kind, digests, label in (
        ("wasRevisionOf", pred.supersedes, "superseded record"),
        ("wasDerivedFrom", pred.derived_from, "re-processed record"),
    ):
        for digest in digests:
            old = b.iri(f"urn:sha256:{digest.sha256}")
            b.node(top, "entity", "Bundle", old, label, digest=digest.sha256)
            b.relate(top, kind, ("generatedEntity", record), ("usedEntity", old))
    return record


def _graph(
    envelope: Envelope, statement: Statement, entry: int, record_url: str, hub_id: str
) -> _Graph:
    _check_payload(envelope, statement)
    pred, adapter = statement.predicate, statement.predicate.adapter
    b = _Builder(record_url, hub_id)
    record, inner = _record(b, envelope, statement, entry), b.inner

    # The ingest: activity, adapter with its configuration as plan, agency, hub acting for it.
    ended = utc_text(pred.activity.ended_at)
    ingest = b.node(
        inner,
        "activity",
        None,
        b.iri(pred.activity.id),
        f"ingest of record {pred.record_id}",
        types=("auasu:Ingest",),
        start=utc_text(pred.activity.started_at),
        end=ended,
    )
    tool = f"{adapter.name}@{adapter.version}"
    software = b.node(
        inner,
        "agent",
        "SoftwareAgent",
        b.names.qname(f"{b.hub_base}/agents/adapters/{quote(tool, safe='@')}"),
        tool,
        name=adapter.name,
        version=adapter.version,
        artifact=adapter.artifact.sha256 if adapter.artifact else None,
        source=(adapter.source, "xsd:anyURI") if adapter.source else None,
    )
    plan_id = b.iri(f"urn:sha256:{adapter.config.sha256}")
    plan = b.node(
        inner, "entity", "Plan", plan_id, f"configuration of {tool}", sha256=adapter.config.sha256
    )
    agency, hub = b.agent(inner, pred.agency), b.agent(inner, pred.hub)

    # Raw messages (the first occurrence of each digest), used by the ingest.
    raw_ids = [b.iri(f"urn:sha256:{message.digest.sha256}") for message in pred.raw_messages]
    usages: dict[_QName, _QName] = {}
    for message, raw in zip(pred.raw_messages, raw_ids, strict=True):
        if raw in usages:
            continue
        archive = message.archive
        b.node(
            inner,
            "entity",
            None,
            raw,
            f"raw message {len(usages)}",
            types=("auasu:RawMessage",),
            sha256=message.digest.sha256,
            size=(message.size, "xsd:long"),
            mediaType=message.media_type,
            receivedAt=(utc_text(message.received_at), "xsd:dateTime"),
            channel=message.channel,
            archive=(archive, "xsd:anyURI") if archive and _URI.fullmatch(archive) else archive,
        )
        received = utc_text(message.received_at)
        usages[raw] = b.relate(inner, "used", ("activity", ingest), ("entity", raw), time=received)
    b.relate(inner, "wasAssociatedWith", ("activity", ingest), ("agent", software), ("plan", plan))
    b.relate(
        inner,
        "actedOnBehalfOf",
        ("delegate", software),
        ("responsible", agency),
        ("activity", ingest),
    )
    b.relate(inner, "actedOnBehalfOf", ("delegate", hub), ("responsible", agency))

    # Devices: each one's measuring activity generated its raw messages (SOSA-PROV, §1.2).
    measuring: list[_QName] = []
    for index, device in enumerate(pred.devices):
        device_id = b.node(
            inner,
            "agent",
            None,
            b.iri(device.id),
            device.id,
            types=("sosa:System",),
            serial=device.serial,
            firmware=device.firmware,
            auth=device.auth,
            credential=device.credential.sha256 if device.credential else None,
            assurance=device.assurance,
        )
        act_id = b.names.qname(f"{b.record_url}/measuring/{index}")
        measuring.append(b.node(inner, "activity", None, act_id, f"measuring by {device.id}"))
        b.relate(inner, "wasAssociatedWith", ("activity", measuring[-1]), ("agent", device_id))
    pairs = {
        (raw, measuring[message.device]): None
        for message, raw in zip(pred.raw_messages, raw_ids, strict=True)
        if message.device is not None
    }
    for raw, act in pairs:
        b.relate(inner, "wasGeneratedBy", ("entity", raw), ("activity", act))

    # The batch, named by the statement's subject, stands for its observations.
    summary = pred.observations
    batch = b.node(
        inner,
        "entity",
        None,
        b.iri(statement.subject[0].name),
        f"batch of {summary.count} observations",
        types=("auasu:ObservationBatch",),
        count=(summary.count, "xsd:long"),
        root=summary.root.sha256,
        qcLevel=pred.qc_level,
        extra=((b.names.term("dct", "license"), _Value(pred.license, "xsd:anyURI")),),
    )
    generation = b.relate(
        inner, "wasGeneratedBy", ("entity", batch), ("activity", ingest), time=ended
    )
    for raw, usage in usages.items():
        b.relate(
            inner,
            "wasDerivedFrom",
            ("generatedEntity", batch),
            ("usedEntity", raw),
            ("activity", ingest),
            ("generation", generation),
            ("usage", usage),
        )
    b.relate(inner, "wasAttributedTo", ("entity", batch), ("agent", agency))
    return _Graph(b.names.prefixes(), b.top, record, inner)


# ---------------------------------------------------------------- PROV-JSON


def _json_value(value: _Value) -> Any:
    if value.datatype == "xsd:string":
        return value.text
    return {"$": value.text, "type": value.datatype}


def _json_node(node: _Node) -> dict[str, Any]:
    times = (("prov:startTime", node.start), ("prov:endTime", node.end))
    body: dict[str, Any] = {key: time for key, time in times if time is not None}
    body["prov:label"] = node.label
    types = [_QName("prov", node.prov_class)] if node.prov_class else []
    types.extend(node.types)
    if types:
        values = [{"$": t.json(), "type": "prov:QUALIFIED_NAME"} for t in types]
        body["prov:type"] = values[0] if len(values) == 1 else values
    grouped: dict[str, list[Any]] = {}
    for name, value in node.attributes:
        grouped.setdefault(name.json(), []).append(_json_value(value))
    body.update((key, values[0] if len(values) == 1 else values) for key, values in grouped.items())
    return body


def _json_statements(statements: _Statements) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for node in statements.nodes:
        out.setdefault(node.section, {}).setdefault(node.id.json(), _json_node(node))
    for rel in statements.relations:
        body: dict[str, Any] = {f"prov:{name}": ref.json() for name, ref in rel.refs}
        if rel.time is not None:
            body["prov:time"] = rel.time
        section = rel.kind
        if rel.kind == "wasRevisionOf":
            # PROV-JSON has no revision section: a revision is a derivation typed prov:Revision.
            section = "wasDerivedFrom"
            body["prov:type"] = {"$": "prov:Revision", "type": "prov:QUALIFIED_NAME"}
        out.setdefault(section, {})[rel.id.json()] = body
    return out


def prov_document(
    envelope: Envelope, statement: Statement, *, entry: int, record_url: str, hub_id: str
) -> dict[str, Any]:
    """The record as a PROV-JSON document (W3C Member Submission layout), deterministic.

    ``statement`` must be the envelope's payload; ``entry`` is the record's log index,
    ``record_url`` names the bundle (and, under ``/rel/``, its relations) and ``hub_id`` is the
    hub's base URI, under which adapter agents are named. ``prov`` and ``xsd`` are the
    predefined PROV-JSON prefixes and are not repeated under ``prefix``.
    """
    graph = _graph(envelope, statement, entry, record_url, hub_id)
    document: dict[str, Any] = {
        "prefix": {p: ns for p, ns in graph.prefixes if p not in ("prov", "xsd")}
    }
    document.update(_json_statements(graph.top))
    document["bundle"] = {graph.bundle_id.json(): _json_statements(graph.bundle)}
    return document


# ---------------------------------------------------------------- PROV-XML


def _xml_text(text: str) -> str:
    bad = _NOT_XML_CHAR.search(text)
    if bad is not None:
        raise ProvExportError(f"character U+{ord(bad.group()):04X} cannot appear in XML")
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _xml_attr(text: str) -> str:
    escaped = _xml_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    return f'"{escaped}"'


def _xml_value(pad: str, name: str, value: _Value) -> str:
    if value.datatype == "xsd:string":
        return f"{pad}<{name}>{_xml_text(value.text)}</{name}>"
    return f'{pad}<{name} xsi:type="{value.datatype}">{_xml_text(value.text)}</{name}>'


def _xml_node(node: _Node, depth: int) -> list[str]:
    pad, inner = "  " * depth, "  " * (depth + 1)
    element = node.prov_class[0].lower() + node.prov_class[1:] if node.prov_class else node.section
    lines = [f"{pad}<prov:{element} prov:id={_xml_attr(node.id.xml())}>"]
    if node.start is not None:
        lines.append(f"{inner}<prov:startTime>{node.start}</prov:startTime>")
    if node.end is not None:
        lines.append(f"{inner}<prov:endTime>{node.end}</prov:endTime>")
    lines.append(f"{inner}<prov:label>{_xml_text(node.label)}</prov:label>")
    lines.extend(
        f'{inner}<prov:type xsi:type="xsd:QName">{t.xml()}</prov:type>' for t in node.types
    )
    lines.extend(_xml_value(inner, name.xml(), value) for name, value in node.attributes)
    lines.append(f"{pad}</prov:{element}>")
    return lines


def _xml_statements(statements: _Statements, depth: int) -> list[str]:
    pad, inner = "  " * depth, "  " * (depth + 1)
    lines: list[str] = []
    seen: set[tuple[str, _QName]] = set()
    for node in statements.nodes:
        if (node.section, node.id) not in seen:
            seen.add((node.section, node.id))
            lines.extend(_xml_node(node, depth))
    for rel in statements.relations:
        lines.append(f"{pad}<prov:{rel.kind} prov:id={_xml_attr(rel.id.xml())}>")
        lines.extend(
            f"{inner}<prov:{name} prov:ref={_xml_attr(ref.xml())}/>" for name, ref in rel.refs
        )
        if rel.time is not None:
            lines.append(f"{inner}<prov:time>{rel.time}</prov:time>")
        lines.append(f"{pad}</prov:{rel.kind}>")
    return lines


def prov_xml(
    envelope: Envelope, statement: Statement, *, entry: int, record_url: str, hub_id: str
) -> bytes:
    """The same graph as :func:`prov_document` as a PROV-XML ``prov:document`` (UTF-8 bytes).

    The output fits the W3C PROV-XML schema shipped in ``schemas/`` (:func:`validate_prov_xml`).
    """
    graph = _graph(envelope, statement, entry, record_url, hub_id)
    declarations = [("prov", PROV_NS), ("xsd", XSD_XML_NS), ("xsi", XSI_NS)]
    declarations.extend((p, ns) for p, ns in graph.prefixes if p not in ("prov", "xsd"))
    xmlns = "".join(f"\n    xmlns:{p}={_xml_attr(ns)}" for p, ns in declarations)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<prov:document{xmlns}>"]
    lines.extend(_xml_statements(graph.top, 1))
    lines.append(f"  <prov:bundleContent prov:id={_xml_attr(graph.bundle_id.xml())}>")
    lines.extend(_xml_statements(graph.bundle, 2))
    lines.extend(["  </prov:bundleContent>", "</prov:document>", ""])
    return "\n".join(lines).encode("utf-8")


# ---------------------------------------------------------------- validation


@functools.cache
def _schema() -> xmlschema.XMLSchema10:
    """The W3C PROV-XML schema from ``schemas/``, every reference resolved to a local file."""
    copies = {url: (SCHEMA_DIR / name).as_uri() for url, name in _LOCAL_COPIES.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # sandbox: only files under schemas/ may be read; any other location is refused, not
        # fetched. use_fallback=False keeps xmlschema's own copies out of the picture.
        schema = xmlschema.XMLSchema10(
            str(SCHEMA_DIR / "prov.xsd"),
            allow="sandbox",
            defuse="always",
            uri_mapper=copies,
            use_fallback=False,
        )
    problems = [str(w.message) for w in caught if issubclass(w.category, _LOAD_WARNINGS)]
    if problems:
        raise ProvExportError(f"the PROV-XML schema did not load from local files: {problems[0]}")
    return schema


def validate_prov_xml(xml: bytes) -> None:
    """Check a PROV-XML document against ``schemas/prov.xsd``; raise the first problem.

    Nothing is fetched: the schema's imports resolve to local copies, the document's own
    location hints are ignored and entity/DTD tricks are refused by the defusing parser.
    """
    schema = _schema()
    try:
        resource = xmlschema.XMLResource(xml, allow="none", defuse="always")
    except (ParseError, xmlschema.XMLResourceError, SyntaxError) as exc:
        raise ProvExportError(f"not well-formed XML: {exc}") from exc
    for error in schema.iter_errors(resource, use_location_hints=False):
        where = f" at {error.path}" if error.path else ""
        raise ProvExportError(f"PROV-XML does not fit the schema{where}: {error.reason}")
