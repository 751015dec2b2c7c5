"""The adapter for Lihe Technology stations: HJ 212 frames in, readings or typed rejections out.

Order of checks for one frame, each failure a :class:`Rejection` with a one-line reason:
frame shape -> data segment parse (for the MN) -> CRC, honouring the device's opt-in to the plain
Modbus CRC (never any reply on a CRC failure) -> registered MN (reply QnRtn=4) -> password (QnRtn=3)
-> DataTime (QnRtn=2) -> split-set reassembly -> readings. A 9014 acknowledgement is offered
whenever the device asked for one and the frame was accepted; the hub sends it after the commit.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import (
    Adapter,
    ChannelContext,
    Decoded,
    DeviceDirectory,
    DeviceProfile,
    PhenomenonTime,
    Rejection,
    RejectionCode,
)
from adapters.hj212.factors import FACTORS_PATH, load_factor_table
from adapters.hj212.framing import FrameEvent, JunkEvent, check_frame, split_stream
from adapters.hj212.packet import (
    CodecError,
    Packet,
    build_ack,
    build_qn_rtn,
    check_crc,
    parse_data_segment,
    show,
)
from adapters.hj212.readings import (
    DATA_CNS,
    build_readings,
    local_to_utc,
    minute_interval,
    phenomenon_time,
    timezone_of,
)
from adapters.hj212.reassembly import CompletedSet, DuplicatePiece, Reassembler, RejectedPiece

__all__ = ["LiheHJ212Adapter"]

_FUTURE_SLACK = timedelta(minutes=10)  # logger clocks drift; beyond this a DataTime is wrong
_MN_GUESS = re.compile(rb"MN=([^;,&]{1,64})")

# QnRtn codes (hj212.md §1.4)
_QN_REJECTED = 2
_QN_PW_ERROR = 3
_QN_MN_ERROR = 4


class LiheHJ212Adapter(Adapter):
    """HJ 212-2017 (and HJ/T 212-2005) uploads from Lihe data loggers."""

    name = "lihe-hj212"
    version = "0.1.0"
    source = "lihe-hj212"
    description = "Lihe Technology air/water stations: HJ 212 frames from the station data logger"
    media_type = "application/x-hj212"  # one frame, "##" to CRLF (HJ 212-2017 §6.3)
    device_auth = "password"  # the PW field, checked against the registry's hash

    def __init__(self) -> None:
        self._factors = load_factor_table()
        # decode runs on the single ingest writer thread, expire may run on a timer thread.
        self._lock = threading.Lock()
        self._reassembler = Reassembler()
        self._stations: dict[str, str] = {}  # MN -> station, to name expired sets' stations

    def provenance_config(self) -> Mapping[str, Any]:
        """The factor table in force (code -> observed property), by version and digest."""
        table = FACTORS_PATH.read_bytes()
        return {
            "factor_table": {
                "version": self._factors.version,
                "sha256": hashlib.sha256(table).hexdigest(),
            },
        }

    def split(self, stream: bytes) -> Iterator[bytes]:
        """Frames of a capture file, and the junk between them, as exact slices of ``stream``."""
        offset = 0
        for event in split_stream(stream):
            # JunkEvent.raw is clipped; slice the stream so the hub archives every junk byte.
            size = len(event.raw) if isinstance(event, FrameEvent) else event.dropped
            yield stream[offset : offset + size]
            offset += size

    def decode(
        self, raw: bytes, context: ChannelContext, devices: DeviceDirectory
    ) -> Decoded | Rejection:
        """Decode one frame (see the module docstring for the order of checks)."""
        frame = check_frame(raw)
        if isinstance(frame, JunkEvent):
            return Rejection(code=RejectionCode.FRAMING, reason=frame.reason)
        try:
            packet = parse_data_segment(frame.data)
        except CodecError as exc:
            return self._unparsable(frame, exc, devices)
        mn = packet.mn or ""
        profile = devices.device(self.source, mn)
        try:
            check_crc(frame, allow_modbus=_modbus_allowed(profile))
        except CodecError as exc:
            return Rejection(code=RejectionCode.CHECKSUM, reason=exc.message, device_id=mn)
        if profile is None:
            return Rejection(
                code=RejectionCode.UNKNOWN_DEVICE,
                reason=f"MN {show(mn)} is not a registered {self.source} device",
                device_id=mn,
                reply=_qn_rtn(packet, _QN_MN_ERROR),
            )
        station = profile.station
        if packet.pw is None or not profile.verify_secret(packet.pw):
            problem = "missing" if packet.pw is None else "does not match the registry"
            return Rejection(
                code=RejectionCode.BAD_SECRET,
                reason=f"PW {problem} for MN {show(mn)}",
                station=station,
                device_id=mn,
                reply=_qn_rtn(packet, _QN_PW_ERROR),
            )
        ack = _ack(packet) if packet.ack_requested else None
        notes = [f"packet: {warning}" for warning in packet.warnings]
        if packet.cn not in DATA_CNS:
            # Restart notices, device info, a device's own 9014 ...: accepted, nothing to store.
            return Decoded(station=station, device_id=mn, partial=tuple(notes), ack=ack)

        zone = timezone_of(profile)
        phenomenon = _phenomenon(packet, profile, zone, context.received_at)
        if isinstance(phenomenon, str):
            return Rejection(
                code=RejectionCode.BAD_TIME,
                reason=phenomenon,
                station=station,
                device_id=mn,
                reply=_qn_rtn(packet, _QN_REJECTED),
            )
        related: tuple[str, ...] = ()
        if packet.split:
            sha256 = hashlib.sha256(raw).hexdigest()
            with self._lock:
                self._stations[mn] = station
                outcome = self._reassembler.add(packet, sha256, context.received_at)
            if outcome is None or isinstance(outcome, DuplicatePiece):
                # Waiting for siblings, or a re-sent piece of a set already decoded.
                pending = outcome is None
                return Decoded(
                    station=station, device_id=mn, partial=tuple(notes), ack=ack, pending=pending
                )
            if isinstance(outcome, RejectedPiece):
                return Rejection(
                    code=RejectionCode.MALFORMED,
                    reason=f"split piece refused: {outcome.reason}",
                    station=station,
                    device_id=mn,
                    reply=_qn_rtn(packet, _QN_REJECTED),
                )
            packet, related, notes = _merged(outcome, sha256)

        result_time = _result_time(packet, zone, phenomenon)
        readings, partial = build_readings(packet, profile, self._factors, phenomenon, result_time)
        return Decoded(
            station=station,
            device_id=mn,
            readings=tuple(readings),
            partial=tuple(notes + partial),
            ack=ack,
            related_frames=related,
        )

    def expire(self, now: datetime) -> list[Rejection]:
        """Give up split sets still incomplete after the timeout; the hub quarantines them."""
        with self._lock:
            expired = self._reassembler.expire(now)
            stations = [self._stations.get(item.key.mn) for item in expired]
        return [
            Rejection(
                code=RejectionCode.INCOMPLETE,
                reason=item.reason,
                station=station,
                device_id=item.key.mn,
                related_frames=tuple(item.frame_sha256s),
            )
            for item, station in zip(expired, stations, strict=True)
        ]

    def _unparsable(
        self, frame: FrameEvent, error: CodecError, devices: DeviceDirectory
    ) -> Rejection:
        """A frame whose data segment does not parse: a checksum error unless its CRC holds."""
        # Line noise must be reported as a checksum error and only intact frames as malformed,
        # so the CRC is still checked, with the Modbus opt-in of the device the MN seems to name.
        found = _MN_GUESS.search(frame.data)
        device_id = found.group(1).decode("latin-1") if found else None
        profile = devices.device(self.source, device_id) if device_id else None
        try:
            check_crc(frame, allow_modbus=_modbus_allowed(profile))
        except CodecError as crc_error:
            return Rejection(
                code=RejectionCode.CHECKSUM, reason=crc_error.message, device_id=device_id
            )
        return Rejection(code=RejectionCode.MALFORMED, reason=error.message, device_id=device_id)


def _modbus_allowed(profile: DeviceProfile | None) -> bool:
    """Whether the device opted in to the plain Modbus CRC some loggers send (hj212.md §1.7)."""
    return profile is not None and profile.options.get("crc") == "modbus-fallback"


def _phenomenon(
    packet: Packet, profile: DeviceProfile, zone: ZoneInfo, received_at: datetime
) -> PhenomenonTime | str:
    """The packet's phenomenon time, or why its DataTime is refused."""
    data_time = packet.data_time
    if data_time is None:
        return "DataTime missing"
    minutes = minute_interval(profile) if packet.cn == "2051" else 0
    result = phenomenon_time(packet.cn or "", data_time, zone, minutes)
    if isinstance(result, str):
        return result
    if received_at.tzinfo is None:  # defensive: the hub stamps UTC
        received_at = received_at.replace(tzinfo=UTC)
    ahead = result.start - received_at
    if ahead > _FUTURE_SLACK:
        return f"DataTime {show(data_time)} is {int(ahead.total_seconds()) // 60} min in the future"
    return result


def _result_time(packet: Packet, zone: ZoneInfo, phenomenon: PhenomenonTime) -> datetime:
    """When the logger produced the packet: its QN timestamp, else the end of the phenomenon."""
    if packet.qn is not None:
        stamped = local_to_utc(packet.qn, zone)
        if isinstance(stamped, datetime):
            return stamped
    return phenomenon.end if phenomenon.end is not None else phenomenon.start


def _merged(complete: CompletedSet, sha256: str) -> tuple[Packet, tuple[str, ...], list[str]]:
    packet = complete.merged()
    related = tuple(other for other in complete.frame_sha256s if other != sha256)
    return packet, related, [f"packet: {warning}" for warning in packet.warnings]


def _ack(packet: Packet) -> bytes | None:
    try:
        return build_ack(packet)
    except ValueError:  # the echoed QN/PW/MN would not fit in one frame: no reply possible
        return None


def _qn_rtn(packet: Packet, qn_rtn: int) -> bytes | None:
    try:
        return build_qn_rtn(packet, qn_rtn)
    except ValueError:  # as in _ack
        return None
