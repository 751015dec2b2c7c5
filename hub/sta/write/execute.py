"""Running writes in a transaction: the ingest pipeline's writer for observations, else direct.

Work that stores observations is handed to :meth:`IngestPipeline.submit_prepared`, so it is
committed by the same single writer as device data, archived the same way, and acknowledged
only after that commit. Other work (Things, Sensors, deletes, ...) runs in a transaction of its
own on the calling thread: it touches no observation the writer could be writing, and keeping
it off the writer keeps device acknowledgements fast. Without a pipeline (read-only rigs, tests)
everything runs directly; the store functions are the same either way.

After the commit -- never before, never after a rollback -- what the work created and updated
(:mod:`.changes`) is announced to the pipeline's commit observers (the MQTT notifier).

Failures become one-line answers (:func:`problem`): a refused payload its status, a conflict
with stored data 409, a store that is down 503.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, IntegrityError

from adapters.base import ChannelContext
from hub.ingest.contracts import PreparedWrite, WriteFailed
from hub.ingest.pipeline import IngestPipeline
from hub.sta.columns import NotSupported
from hub.sta.entities import UnknownEntity, UnknownProperty
from hub.sta.errors import ApiError
from hub.sta.options import OptionError
from hub.sta.paths import PathError
from hub.sta.write.changes import ChangeLog, tracking
from hub.sta.write.context import ADAPTER, WriteContext
from hub.store import Store
from hub.store.api_writes import write_transaction

# How long a client waits for the writer. A write still queued after that is withdrawn (and
# the client told to retry); one the writer has started is waited for, as it is about to end.
WAIT_S = 30.0


def transact[T](
    store: Store,
    pipeline: IngestPipeline | None,
    context: WriteContext,
    work: Callable[[Connection], T],
    *,
    observations: bool,
) -> T:
    """Run ``work`` in one transaction and return what it returned, after the commit; then
    announce what it changed to the pipeline's commit observers."""
    log = ChangeLog()

    def tracked(conn: Connection) -> T:
        with tracking(conn, log):
            return work(conn)

    try:
        if observations and pipeline is not None:
            origin = ChannelContext(
                channel=context.channel, peer=context.peer, received_at=context.received_at
            )
            future = pipeline.submit_prepared(PreparedWrite(ADAPTER, origin, tracked))
            result = _wait(future)
        else:
            with write_transaction(store.engine) as conn:
                result = tracked(conn)
    except IntegrityError as exc:
        raise ApiError(409, f"the write conflicts with stored data: {_first_line(exc)}") from None
    except WriteFailed as exc:
        raise ApiError(503, str(exc)) from None
    if pipeline is not None:
        pipeline.announce(log.changes())
    return result


def _wait[T](future: concurrent.futures.Future[T]) -> T:
    try:
        return future.result(timeout=WAIT_S)
    except concurrent.futures.TimeoutError:
        if future.cancel():
            raise ApiError(503, "the hub is busy writing; retry later") from None
        return future.result()


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    # Driver messages name constraints, not values; one line of it says which rule was hit.
    return str(orig).strip().splitlines()[0][:200] if str(orig).strip() else "constraint"


def problem(exc: Exception) -> tuple[int, str] | None:
    """The status and message a refused request gets, or None for an unexpected error."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    if isinstance(exc, PathError | OptionError | NotSupported):
        return exc.status, str(exc)
    if isinstance(exc, UnknownProperty | UnknownEntity):
        return 400, str(exc)
    if isinstance(exc, DataError):
        return 400, "a value in the request is out of range for the store"
    if isinstance(exc, IntegrityError):
        return 409, f"the write conflicts with stored data: {_first_line(exc)}"
    if isinstance(exc, WriteFailed):
        return 503, str(exc)
    return None
