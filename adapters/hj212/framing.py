"""Cut an HJ 212 byte stream into frames (hj212.md §1.3).

A frame is ``##`` + 4 decimal digits (the data length, at most 1024) + data segment + 4 hex CRC
digits + CRLF. TCP delivers arbitrary slices of the stream, so :class:`Framer` buffers, resyncs on
the next ``##`` after any error and reports everything it throws away as :class:`JunkEvent`, so
the hub can quarantine it. Every input byte ends up in exactly one event, in stream order.

The framer checks only the frame's shape. The CRC needs the device's opt-in (plain Modbus CRC
fallback), which is known only once the data segment names its MN, so the codec checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_DATA_LENGTH",
    "MAX_FRAME_LENGTH",
    "FrameEvent",
    "Framer",
    "JunkEvent",
    "check_frame",
    "split_stream",
]

MAX_DATA_LENGTH = 1024
_OVERHEAD = 12  # '##' + 4 length digits + 4 CRC digits + CRLF
MAX_FRAME_LENGTH = MAX_DATA_LENGTH + _OVERHEAD
_HEADER = b"##"
_TRAILER = b"\r\n"
_HASH = 0x23  # '#'

_BEFORE_HEADER = "bytes before ##"


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """One well-shaped frame: the whole frame, its data segment and its CRC text as received."""

    raw: bytes
    data: bytes
    crc_text: bytes


@dataclass(frozen=True, slots=True)
class JunkEvent:
    """Bytes the framer discarded: the first ``MAX_FRAME_LENGTH`` of them, how many, and why."""

    raw: bytes
    dropped: int
    reason: str


def _junk(region: bytes, reason: str) -> JunkEvent:
    return JunkEvent(region[:MAX_FRAME_LENGTH], len(region), reason)


def _header_problem(header: bytes) -> int | str:
    """Data length announced by ``##`` and 4 more bytes, or what is wrong with it."""
    field = header[2:6]
    if not field.isdigit():  # bytes.isdigit is ASCII-only, unlike str.isdigit
        return "length field not numeric"
    length = int(field)
    if length > MAX_DATA_LENGTH:
        return f"length {length} exceeds {MAX_DATA_LENGTH}"
    return length


class Framer:
    """Incremental frame splitter for one connection; the buffer never exceeds ``max_buffer``.

    Junk is coalesced: bytes that cannot start a frame are held (within the buffer limit) until
    the next ``##`` arrives, so a bad frame yields one :class:`JunkEvent` however it was sliced.
    """

    __slots__ = ("_buf", "_junk_reason", "_max_buffer", "_scan_from")

    def __init__(self, max_buffer: int = 4 * MAX_FRAME_LENGTH) -> None:
        if max_buffer < MAX_FRAME_LENGTH:
            raise ValueError(f"max_buffer must be at least {MAX_FRAME_LENGTH} (one whole frame)")
        self._max_buffer = max_buffer
        self._buf = b""
        # Not None while the buffer starts with junk; the next '##' is searched from _scan_from.
        self._junk_reason: str | None = None
        self._scan_from = 0

    @property
    def max_buffer(self) -> int:
        """The buffer limit given at construction."""
        return self._max_buffer

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame (or for the end of a junk run)."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[FrameEvent | JunkEvent]:
        """Add received bytes; return the frames and junk they complete, in stream order."""
        events: list[FrameEvent | JunkEvent] = []
        pos = 0
        # Take the chunk in slices that fit the buffer, so even a 10 MB read never overfills it.
        while pos < len(chunk):
            room = self._max_buffer - len(self._buf)
            piece = bytes(chunk[pos : pos + room])
            self._buf = self._buf + piece if self._buf else piece
            pos += room
            self._drain(events)
            if len(self._buf) >= self._max_buffer:
                self._overflow(events)
        return events

    def flush(self) -> list[JunkEvent]:
        """End of stream: report whatever is still buffered as junk and reset."""
        buf = self._buf
        if not buf:
            return []
        if self._junk_reason is None:
            reason = "truncated frame at end of stream"
        elif self._junk_reason == _BEFORE_HEADER:
            reason = "garbage without ## at end of stream"
        else:
            reason = self._junk_reason
        self._buf = b""
        self._enter_junk(None, 0)
        return [_junk(buf, reason)]

    def _enter_junk(self, reason: str | None, scan_from: int) -> None:
        self._junk_reason = reason
        self._scan_from = scan_from

    def _drain(self, events: list[FrameEvent | JunkEvent]) -> None:
        # Works on offsets into an immutable buffer and drops the consumed prefix once at the end:
        # a frame costs one copy (its raw bytes) however many frames a read delivered.
        buf = self._buf
        size = len(buf)
        pos = 0
        while pos < size:
            if self._junk_reason is None:
                if not buf.startswith(_HEADER, pos):
                    if pos == size - 1 and buf[pos] == _HASH:
                        break  # maybe the first half of '##'
                    self._enter_junk(_BEFORE_HEADER, pos)
                    continue
                if size - pos < 6:
                    break
                length = _header_problem(buf[pos : pos + 6])
                if isinstance(length, str):
                    self._enter_junk(length, pos + 1)  # skip this '##' only: '###0101' resyncs
                    continue
                end = pos + length + _OVERHEAD
                if size < end:
                    break
                if buf[end - 2 : end] != _TRAILER:
                    self._enter_junk("missing CRLF after frame", pos + 1)
                    continue
                raw = buf[pos:end]
                events.append(FrameEvent(raw, raw[6 : 6 + length], raw[6 + length : 10 + length]))
                pos = end
                continue
            # A junk run starts at pos: it ends where the next '##' begins.
            found = buf.find(_HEADER, self._scan_from)
            if found < 0:
                self._scan_from = max(self._scan_from, size - 1)  # the last byte may be a '#'
                break
            if found > pos:
                events.append(_junk(buf[pos:found], self._junk_reason))
            pos = found
            self._enter_junk(None, 0)
        if pos:
            self._buf = buf[pos:]
            if self._junk_reason is not None:
                self._scan_from -= pos

    def _overflow(self, events: list[FrameEvent | JunkEvent]) -> None:
        # Only a junk run can fill the buffer (a frame candidate is at most MAX_FRAME_LENGTH):
        # report it now, keeping a trailing '#' that may begin the next header.
        buf = self._buf
        cut = len(buf) - 1 if buf[-1] == _HASH else len(buf)
        reason = self._junk_reason or _BEFORE_HEADER
        events.append(_junk(buf[:cut], f"{reason} (buffer limit reached)"))
        self._buf = buf[cut:]
        self._enter_junk(_BEFORE_HEADER, 0)


def split_stream(data: bytes) -> list[FrameEvent | JunkEvent]:
    """Frames and junk of a complete recorded stream (a capture file), in order."""
    framer = Framer()
    events = framer.feed(data)
    events.extend(framer.flush())
    return events


def check_frame(raw: bytes) -> FrameEvent | JunkEvent:
    """Validate ``raw`` as exactly one frame; otherwise a :class:`JunkEvent` saying why not."""
    if raw[:2] == _HEADER and len(raw) >= _OVERHEAD:
        length = _header_problem(raw)
        if isinstance(length, int) and len(raw) == length + _OVERHEAD and raw[-2:] == _TRAILER:
            return FrameEvent(raw, raw[6 : 6 + length], raw[6 + length : 10 + length])
    # Slow path, only for bad input: let the stream framer explain what is wrong.
    events = split_stream(raw)
    if len(events) == 1 and isinstance(events[0], FrameEvent):  # pragma: no cover - fast path
        return events[0]
    reasons = [event.reason for event in events if isinstance(event, JunkEvent)]
    reason = reasons[0] if reasons else f"{len(events)} frames where one was expected"
    return _junk(raw, reason)
