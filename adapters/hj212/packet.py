"""The HJ 212 codec proper: CRC check, lenient data-segment parser, frame and reply builders.

Parsing follows hj212.md §1.4-1.5 and the leniency list in §4: QN may be absent, MN may have any
length, unknown ST/CN/Flag versions pass, CP items may be separated by ``;`` or ``,``, and the
standard's own typos (``QN=…,ST=32``, ``Flag=5CP=``, ``01018-Rtd``) are tolerated and recorded in
:attr:`Packet.warnings`. What cannot be interpreted raises :class:`CodecError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from adapters.hj212.crc import hj212_crc, modbus_crc
from adapters.hj212.framing import MAX_DATA_LENGTH, FrameEvent

__all__ = [
    "CodecError",
    "Packet",
    "build_ack",
    "build_data_segment",
    "build_frame",
    "build_qn_rtn",
    "check_crc",
    "parse_data_segment",
    "show",
]

_CP_OPEN = "CP=&&"
_CP_CLOSE = "&&"
_KNOWN_HEADER = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})
_ACK_FLAG = 1  # bit A: the sender wants a reply
_SPLIT_FLAG = 2  # bit D: PNUM/PNO present


class CodecError(Exception):
    """Input the codec cannot accept; ``code`` is ``'checksum'`` or ``'malformed'``."""

    def __init__(self, code: Literal["checksum", "malformed"], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def show(value: str | bytes, limit: int = 40) -> str:
    """A value quoted for a one-line reason: escaped, and clipped to ``limit`` characters."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    clipped = text if len(text) <= limit else text[:limit] + "..."
    return repr(clipped)


@dataclass(frozen=True, slots=True)
class Packet:
    """One parsed data segment. Field values are kept exactly as received."""

    qn: str | None
    st: str | None
    cn: str | None
    pw: str | None
    mn: str | None
    flag: int | None
    pnum: int | None
    pno: int | None
    cp: dict[str, str]  # CP items in order, e.g. {'DataTime': ..., 'a34004-Rtd': '10.765'}
    header: dict[str, str]  # every header field as received
    warnings: tuple[str, ...] = ()  # tolerated deviations from the standard

    @property
    def ack_requested(self) -> bool:
        """Flag bit A: the sender expects a 9014 data acknowledgement."""
        return self.flag is not None and bool(self.flag & _ACK_FLAG)

    @property
    def split(self) -> bool:
        """Flag bit D: this is one piece of a split set (PNUM/PNO present)."""
        return self.flag is not None and bool(self.flag & _SPLIT_FLAG)

    @property
    def version(self) -> int | None:
        """Protocol version bits of Flag: 0 is HJ/T 212-2005, 1 is HJ 212-2017."""
        return None if self.flag is None else self.flag >> 2

    @property
    def data_time(self) -> str | None:
        """The CP ``DataTime`` (local wall time, ``YYYYMMDDhhmmss``) as received."""
        return self.cp.get("DataTime")

    def factor_groups(self) -> dict[str, dict[str, str]]:
        """CP items grouped by factor code: ``{'a34004': {'Rtd': '10.765', 'Flag': 'N'}}``.

        Keys without ``-`` (``DataTime``, ``QnRtn``, ...) are not factors and are left out.
        """
        groups: dict[str, dict[str, str]] = {}
        for key, value in self.cp.items():
            code, dash, suffix = key.partition("-")
            if not dash:
                continue
            group = groups.get(code)
            if group is None:
                group = groups[code] = {}
            group[suffix] = value
        return groups


def check_crc(frame: FrameEvent, *, allow_modbus: bool = False) -> Literal["hj212", "modbus"]:
    """Which CRC variant ``frame`` carries (hex compared case-insensitively), or CodecError."""
    received = frame.crc_text.upper()
    expected = b"%04X" % hj212_crc(frame.data)
    if received == expected:
        return "hj212"
    if allow_modbus and received == b"%04X" % modbus_crc(frame.data):
        return "modbus"
    raise CodecError(
        "checksum",
        f"CRC mismatch: frame carries {show(frame.crc_text)}, "
        f"data segment gives {expected.decode()}",
    )


def parse_data_segment(data: bytes) -> Packet:
    """Parse a data segment (the bytes between the length field and the CRC)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(
            "malformed", f"data segment is not UTF-8 (byte 0x{data[exc.start]:02X} at {exc.start})"
        ) from None
    start = text.find(_CP_OPEN)
    if start < 0:
        reason = "CP not opened by '&&'" if "CP=" in text else "no CP data area"
        raise CodecError("malformed", reason)
    body_start = start + len(_CP_OPEN)
    # The last '&&' closes CP, so values may themselves contain '&&'.
    end = text.rfind(_CP_CLOSE, body_start)
    if end < 0:
        raise CodecError("malformed", "CP not closed by '&&'")
    warnings: list[str] = []
    trailing = len(text) - end - len(_CP_CLOSE)
    if trailing:
        warnings.append(f"{trailing} characters after the closing '&&' ignored")
    header = _parse_header(text[:start], warnings)
    cp = _parse_cp(text[body_start:end], warnings)

    mn = header.get("MN")
    if not mn:
        raise CodecError("malformed", "MN missing" if mn is None else "MN empty")
    flag = _int_field(header, "Flag", 255)
    pnum = _int_field(header, "PNUM", None)
    pno = _int_field(header, "PNO", None)
    if flag is not None and flag & _SPLIT_FLAG:
        if pnum is None or pno is None:
            raise CodecError("malformed", "Flag marks a split packet but PNUM/PNO missing")
    elif pnum is not None or pno is not None:
        warnings.append("PNUM/PNO present but Flag does not mark a split packet")
    return Packet(
        qn=header.get("QN"),
        st=header.get("ST"),
        cn=header.get("CN"),
        pw=header.get("PW"),
        mn=mn,
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=cp,
        header=header,
        warnings=tuple(warnings),
    )


def _parse_header_fast(head: str) -> dict[str, str] | None:
    """The usual well-formed header in one C-level pass, or None to take the careful path."""
    if head[-1:] != ";" or "," in head:
        return None
    try:
        header = dict([field.split("=", 1) for field in head[:-1].split(";")])
    except ValueError:  # a field without '=' (or an empty one)
        return None
    if header.keys() <= _KNOWN_HEADER and len(header) == head.count(";"):
        return header
    return None


def _parse_header(head: str, warnings: list[str]) -> dict[str, str]:
    fast = _parse_header_fast(head)
    if fast is not None:
        return fast
    if head and head[-1] != ";":
        warnings.append("missing ';' before CP")  # HJ 212-2017 Appendix C: 'Flag=5CP=&&'
    header: dict[str, str] = {}
    for field in head.split(";"):
        if not field:
            continue
        parts = [field]
        if "," in field:
            pieces = field.split(",")
            # 'QN=…534,ST=32' (Appendix C typo) splits; 'PW=ab,cd' stays one value.
            if all("=" in piece for piece in pieces):
                warnings.append(f"header fields separated by ',' in {show(field)}")
                parts = pieces
        for part in parts:
            name, eq, value = part.partition("=")
            if not eq:
                warnings.append(f"header field without '=': {show(part)}")
                continue
            if name in header:
                warnings.append(f"duplicate header field {show(name)}, last kept")
            elif name not in _KNOWN_HEADER:
                warnings.append(f"unknown header field {show(name)}")
            header[name] = value
    return header


def _parse_cp_fast(items: list[str]) -> dict[str, str] | None:
    """The usual well-formed CP in one C-level pass, or None to take the careful path."""
    try:
        cp = dict([item.split("=", 1) for item in items])
    except ValueError:  # an item without '=' (or an empty one)
        return None
    # No repeated key, and no key starting with a digit (a bare '01018'-style code): digits
    # sort before letters, so min() >= 'A' proves it without a Python-level loop.
    if len(cp) == len(items) and min(cp) >= "A":
        return cp
    return None


def _parse_cp(body: str, warnings: list[str]) -> dict[str, str]:
    if not body:
        return {}
    # ';' separates items and ',' sub-items in 2017; 2005-era loggers use ';' everywhere.
    items = body.replace(",", ";").split(";")
    fast = _parse_cp_fast(items)
    if fast is not None:
        return fast
    cp: dict[str, str] = {}
    bare_codes: set[str] = set()
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            if item:
                warnings.append(f"CP item without '=': {show(item)}")
            continue
        if key in cp:
            warnings.append(f"duplicate CP key {show(key)}, last kept")
        elif key[:1].isdigit():
            code = key.partition("-")[0]
            if len(code) == 5 and code.isdigit() and code not in bare_codes:
                bare_codes.add(code)
                warnings.append(f"factor code {show(code)} lacks its letter prefix")
        cp[key] = value
    return cp


def _int_field(header: Mapping[str, str], name: str, maximum: int | None) -> int | None:
    text = header.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise CodecError("malformed", f"{name} {show(text)} is not a small unsigned integer")
    value = int(text)
    if maximum is not None and value > maximum:
        raise CodecError("malformed", f"{name} {value} exceeds {maximum}")
    return value


# --- Serializer ------------------------------------------------------------------------------


def build_frame(data_segment: str) -> bytes:
    """Wrap a data segment into a frame: ``##``, UTF-8 byte length, data, HJ 212 CRC, CRLF."""
    data = data_segment.encode("utf-8")
    if len(data) > MAX_DATA_LENGTH:
        raise ValueError(f"data segment is {len(data)} bytes; the limit is {MAX_DATA_LENGTH}")
    return b"##%04d%b%04X\r\n" % (len(data), data, hj212_crc(data))


def build_data_segment(header: Mapping[str, str], cp_groups: Sequence[Mapping[str, str]]) -> str:
    """``Name=value`` header fields joined by ``;``, then ``CP=&&`` groups ``&&``.

    Items of a group are joined by ``,`` and groups by ``;``. Names and values must not contain
    the separators, since the text could not be parsed back.
    """
    for name, value in header.items():
        _check_item(name, value, header=True)
    for group in cp_groups:
        for name, value in group.items():
            _check_item(name, value, header=False)
    return _segment(header.items(), ";".join(_join(group.items(), ",") for group in cp_groups))


def _check_item(name: str, value: str, *, header: bool) -> None:
    if not name or any(char in name for char in "=;,&"):
        raise ValueError(f"field name {name!r} is empty or contains '=', ';', ',' or '&'")
    if ";" in value or "," in value or (header and _CP_OPEN in value):
        raise ValueError(f"value of {name!r} contains a separator: {value!r}")


def _join(items: Iterable[tuple[str, str]], separator: str) -> str:
    return separator.join(f"{name}={value}" for name, value in items)


def _segment(header: Iterable[tuple[str, str]], cp_body: str) -> str:
    head = _join(header, ";")
    return f"{head};CP=&&{cp_body}&&" if head else f"CP=&&{cp_body}&&"


def _reply(packet: Packet, cn: str, cp_body: str) -> bytes:
    # Echo the request's identity verbatim: the values came from a parsed frame, so they hold
    # no ';' and re-validating them could only refuse a reply the device is waiting for.
    fields: list[tuple[str, str]] = []
    if packet.qn is not None:
        fields.append(("QN", packet.qn))
    fields += [("ST", "91"), ("CN", cn)]
    if packet.pw is not None:
        fields.append(("PW", packet.pw))
    fields += [("MN", packet.mn or ""), ("Flag", "4")]
    return build_frame(_segment(fields, cp_body))


def build_ack(packet: Packet) -> bytes:
    """The 9014 data acknowledgement for ``packet`` (hj212.md §1.8 example 3, last line)."""
    return _reply(packet, "9014", "")


def build_qn_rtn(packet: Packet, qn_rtn: int) -> bytes:
    """A 9011 request reply with ``QnRtn`` (2 rejected, 3 PW error, 4 MN error, ...)."""
    return _reply(packet, "9011", f"QnRtn={qn_rtn}")
