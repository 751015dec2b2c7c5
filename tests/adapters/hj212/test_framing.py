"""Stream framing: frames split or joined arbitrarily, resync after errors, bounded buffering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hj212.framing import (
    MAX_DATA_LENGTH,
    MAX_FRAME_LENGTH,
    FrameEvent,
    Framer,
    JunkEvent,
    check_frame,
    split_stream,
)
from adapters.hj212.packet import build_frame

ACK = b"##0087QN=20250615110000001;ST=91;CN=9014;PW=123456;MN=4C4948453030333230303031;Flag=4;CP=&&&&21C0\r\n"  # noqa: E501
SEGMENT = "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"  # noqa: E501
FRAME = build_frame(SEGMENT)

Event = FrameEvent | JunkEvent


def feed_in_chunks(data: bytes, sizes: list[int], framer: Framer | None = None) -> list[Event]:
    """Feed ``data`` in chunks of the given sizes (cycled), checking the buffer bound each time."""
    framer = framer or Framer()
    events: list[Event] = []
    pos = 0
    index = 0
    while pos < len(data):
        size = sizes[index % len(sizes)] if sizes else len(data)
        index += 1
        events += framer.feed(data[pos : pos + size])
        pos += size
        assert framer.buffered <= framer.max_buffer
    events += framer.flush()
    assert framer.buffered == 0
    return events


def covered(events: list[Event]) -> int:
    """Stream bytes accounted for by the events (each byte is in exactly one event)."""
    return sum(len(e.raw) if isinstance(e, FrameEvent) else e.dropped for e in events)


def test_frame_fields() -> None:
    (event,) = split_stream(FRAME)
    assert isinstance(event, FrameEvent)
    assert event.raw == FRAME
    assert event.data == SEGMENT.encode()
    assert event.crc_text == b"1C80"
    assert FRAME.startswith(b"##0101") and FRAME.endswith(b"1C80\r\n")


def test_many_frames_in_one_feed_and_one_byte_at_a_time() -> None:
    stream = FRAME + ACK + FRAME
    whole = Framer().feed(stream)
    assert [e.raw for e in whole] == [FRAME, ACK, FRAME]
    assert feed_in_chunks(stream, [1]) == whole


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"##00a1" + FRAME[6:], "length field not numeric"),
        (b"##9999" + FRAME[6:], "length 9999 exceeds 1024"),
        (b"##0100" + FRAME[6:], "missing CRLF after frame"),  # length one short of the data
        (b"##+101" + FRAME[6:], "length field not numeric"),  # int() would accept '+101'
        (b"\x00\xffnoise", "bytes before ##"),
    ],
)
def test_junk_then_resync(stream: bytes, reason: str) -> None:
    events = split_stream(stream + FRAME)
    assert isinstance(events[0], JunkEvent)
    assert events[0].reason == reason
    assert events[0].dropped == len(stream)
    assert events[1:] == [FrameEvent(FRAME, SEGMENT.encode(), b"1C80")]


def test_triple_hash_resyncs_on_the_second() -> None:
    events = split_stream(b"#" + FRAME)
    assert [type(e) for e in events] == [JunkEvent, FrameEvent]
    assert events[0].raw == b"#"


def test_end_of_stream_reasons() -> None:
    (truncated,) = split_stream(FRAME[:-2])
    assert isinstance(truncated, JunkEvent)
    assert truncated.reason == "truncated frame at end of stream"
    (garbage,) = split_stream(b"abc#")
    assert isinstance(garbage, JunkEvent)
    assert garbage.reason == "garbage without ## at end of stream"
    assert Framer().flush() == []


def test_a_lone_hash_waits_for_its_partner() -> None:
    framer = Framer()
    assert framer.feed(b"#") == []
    assert framer.buffered == 1
    assert framer.feed(FRAME[1:]) == [FrameEvent(FRAME, SEGMENT.encode(), b"1C80")]


def test_ten_megabytes_of_garbage_stays_bounded() -> None:
    framer = Framer()
    garbage = bytes(range(256)).replace(b"#", b"") * 40_000  # ~10 MB, no '#'
    events = framer.feed(garbage)
    assert framer.buffered <= 4 * MAX_FRAME_LENGTH
    events += framer.feed(FRAME)
    assert covered(events) + framer.buffered == len(garbage) + len(FRAME)
    assert events[-1] == FrameEvent(FRAME, SEGMENT.encode(), b"1C80")
    junk = [e for e in events if isinstance(e, JunkEvent)]
    assert all(len(e.raw) <= MAX_FRAME_LENGTH for e in junk)
    assert all("buffer limit" in e.reason for e in junk[:-1])


def test_slowloris_trickle_never_grows_the_buffer() -> None:
    framer = Framer()
    for _ in range(3 * 4 * MAX_FRAME_LENGTH):
        framer.feed(b"x")
        assert framer.buffered <= 4 * MAX_FRAME_LENGTH


def test_max_buffer_must_hold_a_frame() -> None:
    with pytest.raises(ValueError, match="at least"):
        Framer(max_buffer=MAX_FRAME_LENGTH - 1)
    assert MAX_FRAME_LENGTH == MAX_DATA_LENGTH + 12


def test_check_frame() -> None:
    assert check_frame(FRAME) == FrameEvent(FRAME, SEGMENT.encode(), b"1C80")
    trailing = check_frame(FRAME + b"xx")
    assert isinstance(trailing, JunkEvent)
    assert trailing.dropped == len(FRAME) + 2
    assert "truncated" in trailing.reason or "garbage" in trailing.reason
    two = check_frame(FRAME + FRAME)
    assert isinstance(two, JunkEvent)
    assert two.reason == "2 frames where one was expected"
    assert isinstance(check_frame(b""), JunkEvent)
    assert check_frame(FRAME[:-2] + b"\n\r") == JunkEvent(
        (FRAME[:-2] + b"\n\r"), len(FRAME), "missing CRLF after frame"
    )


# --- Properties ------------------------------------------------------------------------------

chunkings = st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=20)
segments = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="#"), max_size=120
).filter(lambda text: len(text.encode()) <= MAX_DATA_LENGTH)


# Streams that look like the wire: frames, pieces of frames, stray headers, CRLFs and noise.
wire_like = st.lists(
    st.one_of(
        st.just(FRAME),
        st.integers(min_value=0, max_value=len(FRAME)).map(lambda n: FRAME[:n]),
        st.integers(min_value=0, max_value=len(FRAME)).map(lambda n: FRAME[n:]),
        st.sampled_from([b"#", b"##", b"##0012", b"##9999", b"##00a1", b"\r\n", ACK]),
        st.binary(max_size=200),
    ),
    max_size=12,
).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(st.binary(max_size=6000), wire_like),
    chunkings,
    st.sampled_from([MAX_FRAME_LENGTH, 4 * MAX_FRAME_LENGTH]),
)
def test_any_stream_any_chunking(data: bytes, sizes: list[int], limit: int) -> None:
    """Never raises, never buffers past the limit, accounts for every byte, same events."""
    events = feed_in_chunks(data, sizes, Framer(max_buffer=limit))
    assert covered(events) == len(data)
    assert events == feed_in_chunks(data, [len(data) or 1], Framer(max_buffer=limit))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(max_size=300).map(lambda b: b.replace(b"#", b"")), segments),
        min_size=1,
        max_size=6,
    ),
    st.binary(max_size=300).map(lambda b: b.replace(b"#", b"")),
    chunkings,
)
def test_valid_frames_in_garbage_are_all_recovered(
    parts: list[tuple[bytes, str]], tail: bytes, sizes: list[int]
) -> None:
    frames = [build_frame(segment) for _, segment in parts]
    stream = b"".join(garbage + frame for (garbage, _), frame in zip(parts, frames, strict=True))
    events = feed_in_chunks(stream + tail, sizes)
    assert [e.raw for e in events if isinstance(e, FrameEvent)] == frames
    assert covered(events) == len(stream) + len(tail)
