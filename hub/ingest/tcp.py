"""The HJ 212 host side: an asyncio TCP listener that feeds logger frames into the ingest pipeline.

Lihe data loggers keep one long-lived TCP connection to the platform and push frames on it
(hj212.md §1.3). For each connection the listener cuts the byte stream into frames with the
HJ 212 :class:`~adapters.hj212.framing.Framer`, submits every frame (and every run of refused
bytes, as junk) to the :class:`~hub.ingest.contracts.IngestSink`, and writes the pipeline's
replies (the 9014 acknowledgements) back in the order the frames arrived. A reply is written only
after the sink resolved, i.e. after the durable commit, so an acknowledged record is never lost
(reliability.md §3.3); a FAILED outcome sends nothing and the logger retransmits.

The listener is built to survive hostile traffic (reliability.md §6 rows 1, 2, 11; §7 row 13):
connection caps overall and per address, an idle timeout, a bounded framer buffer, a cap on
junk without a single valid frame, bounded in-flight submissions per connection, and a handler
that never lets one connection's failure reach another connection or the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import socket
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.base import ChannelContext
from adapters.hj212.framing import FrameEvent, Framer, JunkEvent
from hub.ingest.contracts import IngestResult, IngestSink, Outcome

__all__ = ["ListenerLimits", "ListenerStats", "TcpListener"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerLimits:
    """Resource bounds that keep one misbehaving peer from hurting the others.

    ``max_junk_streak_bytes`` closes a connection that sent this many refused bytes without a
    single valid frame in between: a real logger on a noisy line produces a few bad bytes, not
    megabytes, and every junk run costs the pipeline a quarantine write.
    """

    max_connections: int = 2000
    max_connections_per_address: int = 64
    idle_timeout_s: float = 120.0
    max_buffer_bytes: int = 4 * 1036
    max_in_flight_per_connection: int = 64
    read_chunk: int = 65536
    max_junk_streak_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "max_connections_per_address",
            "max_buffer_bytes",
            "max_in_flight_per_connection",
            "read_chunk",
            "max_junk_streak_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ListenerLimits.{name} must be at least 1")
        if self.idle_timeout_s <= 0:
            raise ValueError("ListenerLimits.idle_timeout_s must be positive")


@dataclass(slots=True)
class ListenerStats:
    """Monotonic counters of the listener (``TcpListener.stats`` hands out a snapshot copy)."""

    connections_accepted: int = 0
    connections_rejected: int = 0  # over max_connections or max_connections_per_address
    connections_closed_idle: int = 0
    connections_closed_junk: int = 0  # junk streak over max_junk_streak_bytes
    connections_errored: int = 0  # handler exception, buffer overrun, write failure
    bytes_received: int = 0
    frames: int = 0
    junk_events: int = 0
    junk_bytes: int = 0
    replies_sent: int = 0
    submits_failed: int = 0  # Outcome.FAILED or a sink exception: no reply, the device resends
    buffer_high_water: int = 0  # largest framer buffer seen after a feed


class _ConnectionClosed(Exception):
    """Internal: stop serving this connection (the reason is already counted and logged)."""


def _format_peer(peername: object) -> tuple[str, str]:
    """Return (address, 'ip:port') for a socket peer name; IPv6 addresses are bracketed."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = str(peername[0]), peername[1]
        return host, (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return str(peername), str(peername)


class TcpListener:
    """Accepts HJ 212 logger connections and turns their frames into pipeline submissions."""

    def __init__(
        self,
        sink: IngestSink,
        *,
        adapter: str = "lihe-hj212",
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ListenerLimits = ListenerLimits(),  # frozen, so one shared default is safe
        framer_factory: Callable[[], Framer] = Framer,
        channel: str = "hj212-tcp",
    ) -> None:
        self._sink = sink
        self._adapter = adapter
        self._host = host
        self._requested_port = port
        self._limits = limits
        # The default framer gets the configured cap; a custom factory is trusted but verified.
        if framer_factory is Framer:
            framer_factory = functools.partial(Framer, max_buffer=limits.max_buffer_bytes)
        framer_factory()  # fail fast on a factory that cannot build a framer (e.g. cap too small)
        self._framer_factory = framer_factory
        self._channel = channel
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._per_address: dict[str, int] = {}
        self._stats = ListenerStats()
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound TCP port (the real one when constructed with ``port=0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("listener is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        """Connections currently being served (rejected ones are never counted here)."""
        return len(self._connections)

    @property
    def stats(self) -> ListenerStats:
        """A snapshot of the counters, safe to read from a metrics collector."""
        return dataclasses.replace(self._stats)

    @property
    def limits(self) -> ListenerLimits:
        return self._limits

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("listener already started")
        self._stopping = False
        self._server = await asyncio.start_server(
            self._accept,
            self._host,
            self._requested_port,
            limit=self._limits.read_chunk,
            # A city-wide reconnect storm arrives at once; a short backlog would drop SYNs.
            backlog=max(100, min(self._limits.max_connections, 4096)),
        )
        log.info("HJ 212 listener on %s:%d", self._host, self.port)

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Shut down gracefully: stop accepting and reading, let in-flight submissions finish
        and write their replies, then close every socket. Connections still busy after
        ``drain_timeout_s`` are aborted (their devices never got an ack, so they resend)."""
        if self._server is None:
            return
        self._stopping = True
        server, self._server = self._server, None
        server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.stop_reading()
        tasks = [c.task for c in connections if c.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=drain_timeout_s)
            if pending:
                log.warning("HJ 212 listener: %d connections did not drain in time", len(pending))
                for connection in connections:
                    connection.abort()
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=1.0)
        # Connections rejected at accept are closed already; wait_closed only tidies up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await server.wait_closed()
        log.info("HJ 212 listener stopped")

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``start_server`` callback: admit or refuse the connection, then start serving it.

        A plain function on purpose: serving runs in a task the listener owns, because asyncio
        (3.12) reports a cancelled callback task as an error on every shutdown.
        """
        address, peer = _format_peer(writer.get_extra_info("peername"))
        if (
            self._stopping
            or len(self._connections) >= self._limits.max_connections
            or self._per_address.get(address, 0) >= self._limits.max_connections_per_address
        ):
            self._stats.connections_rejected += 1
            log.debug("HJ 212 connection from %s refused (limits)", peer)
            # abort (RST) rather than close: under a connection storm no FIN handshake to wait on.
            writer.transport.abort()
            return
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # Acks are tiny and a logger waits for each one: never let Nagle hold them back.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, reader, writer, peer)
        except Exception:
            self._stats.connections_errored += 1
            log.exception("HJ 212 connection %s could not be set up", peer)
            writer.transport.abort()
            return
        self._connections.add(connection)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        self._stats.connections_accepted += 1
        connection.task = asyncio.get_running_loop().create_task(
            self._serve(connection, address), name=f"hj212 {peer}"
        )

    async def _serve(self, connection: _Connection, address: str) -> None:
        """Serve one admitted connection; nothing it raises reaches the listener."""
        try:
            await connection.serve()
        except asyncio.CancelledError:
            connection.abort()
            raise
        except Exception:  # never propagate out of a connection handler
            self._stats.connections_errored += 1
            log.exception("HJ 212 connection %s failed", connection.peer)
            connection.abort()
        finally:
            self._connections.discard(connection)
            left = self._per_address.get(address, 0) - 1
            if left > 0:
                self._per_address[address] = left
            else:
                self._per_address.pop(address, None)


class _Connection:
    """One logger connection: a read loop that submits, and a writer that replies in order."""

    def __init__(
        self,
        listener: TcpListener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self._listener = listener
        self._stats = listener._stats
        self._limits = listener._limits
        self._reader = reader
        self._writer = writer
        self.peer = peer
        self.task: asyncio.Task[None] | None = None
        self._framer = listener._framer_factory()
        self._slots = asyncio.Semaphore(self._limits.max_in_flight_per_connection)
        # Submissions in arrival order; the reply writer consumes it from the left.
        self._pending: deque[asyncio.Task[IngestResult | None]] = deque()
        self._pending_ready = asyncio.Event()
        self._no_more_submissions = False
        self._stop_reading = False
        self._in_read = False
        self._write_failed = False
        self._junk_streak = 0
        self._partial_since: float | None = None  # when the framer's partial data began

    def stop_reading(self) -> None:
        """Ask the read loop to stop (graceful shutdown); a read in progress is interrupted."""
        self._stop_reading = True
        if self._in_read and self.task is not None:
            self.task.cancel()

    def abort(self) -> None:
        """Drop the socket at once (no reply will reach the device)."""
        with contextlib.suppress(Exception):
            self._writer.transport.abort()
        for task in self._pending:
            task.cancel()

    async def serve(self) -> None:
        """Read until EOF, idle timeout, a limit or shutdown; then drain replies and close."""
        replier = asyncio.create_task(self._write_replies(), name=f"hj212-reply {self.peer}")
        clean_eof = False
        try:
            clean_eof = await self._read_loop()
            if clean_eof:
                # Bytes left in the framer at EOF are an incomplete frame: quarantine them.
                await self._submit_events(self._framer.flush(), datetime.now(UTC))
        except _ConnectionClosed:
            pass
        finally:
            self._no_more_submissions = True
            self._pending_ready.set()
            try:
                await replier
            finally:
                await self._close()

    async def _read_loop(self) -> bool:
        """Feed the framer until EOF (returns True) or a stop condition (returns False)."""
        limits = self._limits
        loop = asyncio.get_running_loop()
        while not self._stop_reading:
            # Idle is "no bytes", but a partial frame must also complete within the timeout so a
            # slowloris trickle of a frame's worth of bytes cannot hold a slot for ever.
            deadline = loop.time() + limits.idle_timeout_s
            if self._partial_since is not None:
                deadline = min(deadline, self._partial_since + limits.idle_timeout_s)
            try:
                self._in_read = True
                async with asyncio.timeout_at(deadline):
                    chunk = await self._reader.read(limits.read_chunk)
            except TimeoutError:
                self._stats.connections_closed_idle += 1
                log.info(
                    "HJ 212 connection %s idle for %.0f s: closing",
                    self.peer,
                    limits.idle_timeout_s,
                )
                return False
            except asyncio.CancelledError:
                if not self._stop_reading:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()  # our own shutdown interrupt, not a real cancellation
                return False
            except ConnectionError as exc:
                log.info("HJ 212 connection %s lost: %s", self.peer, exc)
                return False
            finally:
                self._in_read = False
            if not chunk:
                return True
            received_at = datetime.now(UTC)
            self._stats.bytes_received += len(chunk)
            was_empty = self._framer.buffered == 0
            events = self._framer.feed(chunk)
            buffered = self._framer.buffered
            self._stats.buffer_high_water = max(self._stats.buffer_high_water, buffered)
            if buffered > limits.max_buffer_bytes:
                # The framer promised to bound itself; if it does not, this peer is cut off.
                self._stats.connections_errored += 1
                log.error(
                    "HJ 212 connection %s: framer holds %d bytes (cap %d): closing",
                    self.peer,
                    buffered,
                    limits.max_buffer_bytes,
                )
                return False
            if not buffered:
                self._partial_since = None
            elif was_empty or events:
                self._partial_since = loop.time()
            await self._submit_events(events, received_at)
        return False

    async def _submit_events(
        self, events: Sequence[FrameEvent | JunkEvent], received_at: datetime
    ) -> None:
        """Start one submission per event, waiting for a free slot first (back-pressure)."""
        context: ChannelContext | None = None
        for event in events:
            if isinstance(event, JunkEvent):
                self._stats.junk_events += 1
                self._stats.junk_bytes += event.dropped
                self._junk_streak += event.dropped
                junk_reason: str | None = event.reason
            else:
                self._stats.frames += 1
                self._junk_streak = 0
                junk_reason = None
            await self._slots.acquire()
            if self._stop_reading or self._write_failed:
                self._slots.release()
                return  # never submitted, never acknowledged: the device will resend
            if context is None:
                context = ChannelContext(
                    channel=self._listener._channel, peer=self.peer, received_at=received_at
                )
            self._pending.append(asyncio.create_task(self._submit(event.raw, context, junk_reason)))
            self._pending_ready.set()
            if self._junk_streak > self._limits.max_junk_streak_bytes:
                self._stats.connections_closed_junk += 1
                log.warning(
                    "HJ 212 connection %s sent %d junk bytes without a frame: closing",
                    self.peer,
                    self._junk_streak,
                )
                raise _ConnectionClosed

    async def _submit(
        self, raw: bytes, context: ChannelContext, junk_reason: str | None
    ) -> IngestResult | None:
        """Submit one unit; a sink exception is logged and treated as FAILED (None)."""
        sink, adapter = self._listener._sink, self._listener._adapter
        try:
            if junk_reason is None:
                result = await sink.submit(adapter, raw, context)
            else:
                result = await sink.submit(adapter, raw, context, junk_reason=junk_reason)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("HJ 212 sink failed on %d bytes from %s", len(raw), self.peer)
            return None
        if not isinstance(result, IngestResult):  # a broken sink must not break the replier
            log.error("HJ 212 sink returned %r for %s: treated as FAILED", result, self.peer)
            return None
        return result

    async def _write_replies(self) -> None:
        """Write each submission's reply in arrival order, once it resolved."""
        while True:
            if not self._pending:
                if self._no_more_submissions:
                    return
                self._pending_ready.clear()
                await self._pending_ready.wait()
                continue
            task = self._pending[0]
            try:
                result = await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # this writer is being cancelled, not just the submission
                result = None
            finally:
                self._pending.popleft()
                self._slots.release()
            if result is None or result.outcome is Outcome.FAILED:
                self._stats.submits_failed += 1
                continue
            if result.reply and not self._write_failed:
                await self._write(result.reply)

    async def _write(self, reply: bytes) -> None:
        """Send one reply; a peer that stops reading for an idle period is cut off."""
        try:
            self._writer.write(reply)
            async with asyncio.timeout(self._limits.idle_timeout_s):
                await self._writer.drain()
            self._stats.replies_sent += 1
        except Exception as exc:  # reset, timeout, or a reply that is not bytes
            self._write_failed = True
            self._stop_reading = True
            self._stats.connections_errored += 1
            log.info("HJ 212 reply to %s failed: %r", self.peer, exc)
            with contextlib.suppress(Exception):
                self._writer.transport.abort()

    async def _close(self) -> None:
        """Close the socket, waiting briefly for the FIN to go out."""
        writer = self._writer
        if writer.transport.is_closing():
            return
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
