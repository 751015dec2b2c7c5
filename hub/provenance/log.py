"""The hub's append-only RFC 9162 log, stored in the hub's database (provenance.md §5.5).

One entry per signed record: leaf bytes are the canonical bytes of the record's DSSE envelope,
so an inclusion proof shows that the *signature* was logged. Tables (schema step 5):
``prov_log_entries`` (index, leaf hash, leaf), ``prov_log_subtrees`` (the hash of every complete
subtree, written by the append that completes it and never changed), ``prov_log_head`` (the
size, the row every appender locks) and ``prov_checkpoints`` (the signed notes issued).

Any hash a proof needs, MTH(leaves[start:end]) for a range of the RFC decomposition, is the
fold of at most log2(n) stored complete subtrees, so a proof or a root is one query of O(log n)
key lookups whatever the size of the log. The Merkle algorithms themselves are
:mod:`hub.provenance.merkle`'s; this module only answers their ``subtree`` callback.

Every method works on a :class:`~sqlalchemy.Connection` the caller owns: the ingest appends a
record in the transaction that stores its observations, so both commit or neither does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    Integer,
    Select,
    SmallInteger,
    and_,
    bindparam,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)

from hub.provenance import merkle, notes
from hub.store.batches import dialect_insert
from hub.store.schema import (
    prov_checkpoints,
    prov_log_entries,
    prov_log_head,
    prov_log_subtrees,
)

__all__ = ["MAX_PAGE", "LogError", "LogStorageError", "Piece", "StoredLog", "pieces"]

MAX_PAGE = 1000
"""The most entries :meth:`StoredLog.entries` returns at once."""

_HEAD = 1  # the id of prov_log_head's one row
_HEAD_ROW = -1  # the "level" that marks the head's row among the hashes read with it
_PLACEHOLDER = bytes(32)

_SIZE = select(prov_log_head.c.size).where(prov_log_head.c.id == _HEAD)
_LOCK_SIZE = _SIZE.with_for_update()  # FOR UPDATE is left out on SQLite

Piece = tuple[int, int]
"""A stored complete subtree: (level, index), covering leaves [index * 2**level, +2**level)."""


class LogError(ValueError):
    """A request the log cannot answer as asked: an index or size outside the log, an append
    at the wrong index (an HTTP 4xx for a reader)."""


class LogStorageError(RuntimeError):
    """The stored log lacks a row it must have (no head row, a missing hash): the database is
    older than schema step 5 or was altered outside the hub."""


def pieces(start: int, end: int) -> list[Piece]:
    """The stored complete subtrees whose fold is MTH(leaves[start:end]), largest first.

    Only for ranges of the RFC 9162 decomposition, the ones :mod:`hub.provenance.merkle` asks
    for: ``start`` a multiple of the smallest power of two >= ``end - start``. Then the RFC's
    split (left part: the largest power of two below the size) always falls on a piece boundary.
    """
    count = end - start
    if count < 1 or start < 0 or start % (1 << (count - 1).bit_length()):
        raise ValueError(f"[{start}, {end}) is not a range of the RFC 9162 decomposition")
    found: list[Piece] = []
    while count:
        level = count.bit_length() - 1
        found.append((level, start >> level))
        start += 1 << level
        count -= 1 << level
    return found


def _fold(hashes: Sequence[bytes]) -> bytes:
    # The last piece is the innermost right child: MTH = node(p1, node(p2, ... pm)).
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = merkle.node_hash(left, result)
    return result


class StoredLog:
    """The log over the hub's database; stateless (every call reads what it needs), so one
    instance serves every connection and thread."""

    # --- reading ---------------------------------------------------------------------------

    def size(self, conn: Connection) -> int:
        """How many entries the log holds (as this transaction sees it)."""
        return self._head(conn, lock=False)

    def root(self, conn: Connection, size: int | None = None) -> bytes:
        """MTH of the first ``size`` entries (default: all of them)."""
        if size is None:
            size = self.size(conn)
        if size < 0:
            raise LogError(f"no tree of size {size}")
        if size == 0:
            return merkle.EMPTY_ROOT
        wanted = pieces(0, size)
        hashes = self._read_within(conn, wanted, size, f"no tree of size {size}")
        return _fold([hashes[piece] for piece in wanted])

    def leaf_hash(self, conn: Connection, index: int) -> bytes:
        """The RFC 9162 leaf hash of entry ``index``."""
        if index < 0:
            raise LogError(f"no entry {index}")
        return self._read_within(conn, [(0, index)], index + 1, f"no entry {index}")[(0, index)]

    def entries(self, conn: Connection, start: int, end: int) -> list[tuple[int, bytes]]:
        """``(index, leaf bytes)`` of the entries in [start, end), at most :data:`MAX_PAGE` of
        them and none past the log's end (a reader pages on from the last index it got)."""
        current = self.size(conn)
        if not 0 <= start <= end or start > current:
            raise LogError(f"no entries [{start}, {end}): the log has {current} entries")
        stop = min(end, current, start + MAX_PAGE)
        if stop <= start:
            return []
        cols = prov_log_entries.c
        rows = conn.execute(
            select(cols.idx, cols.leaf).where(cols.idx >= start, cols.idx < stop).order_by(cols.idx)
        )
        return [(int(idx), bytes(leaf)) for idx, leaf in rows]

    def subtree_hash(self, conn: Connection, start: int, end: int) -> bytes:
        """MTH(leaves[start:end]) for a range of the RFC decomposition (see :func:`pieces`),
        from stored hashes: the ``merkle.SubtreeHash`` of the log, one query per call."""
        wanted = pieces(start, end)
        hashes = self._read_within(conn, wanted, end, f"no subtree [{start}, {end})")
        return _fold([hashes[piece] for piece in wanted])

    def inclusion_proof(self, conn: Connection, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        what = f"no inclusion proof of entry {index} in a tree of size {size}"
        if not 0 <= index < size:
            raise LogError(what)
        return self._proof(
            conn, size, what, lambda subtree: merkle.inclusion_proof(index, size, subtree)
        )

    def consistency_proof(self, conn: Connection, old: int, new: int) -> list[bytes]:
        """The RFC 9162 consistency proof between the trees of ``old`` and ``new`` entries."""
        what = f"no consistency proof from size {old} to size {new}"
        if not 0 <= old <= new:
            raise LogError(what)
        return self._proof(
            conn, new, what, lambda subtree: merkle.consistency_proof(old, new, subtree)
        )

    # --- appending -------------------------------------------------------------------------

    def reserve(self, conn: Connection) -> int:
        """Lock the log for this transaction and return the index the next entry takes.

        On PostgreSQL the head row stays locked until the caller's transaction ends, so hubs
        sharing the database append one after the other and a rolled-back transaction leaves
        no gap (the next appender gets the same index). On SQLite the caller's transaction must
        hold the write lock already (``BEGIN IMMEDIATE``, the store's writer).
        """
        return self._head(conn, lock=True)

    def append(
        self, conn: Connection, index: int, leaf: bytes, record_id: str, *, now: datetime
    ) -> None:
        """Add ``leaf`` as entry ``index``, which must be the log's size (:class:`LogError`
        otherwise), with every subtree hash it completes."""
        self.append_many(conn, index, [(leaf, record_id)], now=now)

    def append_many(
        self,
        conn: Connection,
        index: int,
        items: Sequence[tuple[bytes, str]],
        *,
        now: datetime,
    ) -> None:
        """Add ``(leaf, record_id)`` items as entries ``index``, ``index + 1``, ... in one go:
        :meth:`append` for a batch (bulk loads, tests). ``index`` must be the log's size."""
        if not items:
            return
        new_size = index + len(items)
        head = prov_log_head.c
        # The guarded UPDATE is both the check and (on PostgreSQL) the row lock: an appender
        # that did not reserve waits here, then sees the size another transaction committed.
        moved = conn.execute(
            update(prov_log_head).where(head.id == _HEAD, head.size == index).values(size=new_size)
        )
        if moved.rowcount != 1:
            current = self._head(conn, lock=False)
            raise LogError(f"append at entry {index}, but the log has {current} entries")
        # The stored subtrees along the right edge that this batch completes a parent of: a
        # suffix of the decomposition of [0, index) (see the merge loop below).
        frontier = (
            [piece for piece in pieces(0, index) if _merges(piece, new_size)] if index else []
        )
        known = self._read_within(conn, frontier, index, "append") if frontier else {}
        stack: list[tuple[int, int, bytes]] = [
            (level, idx, known[(level, idx)]) for level, idx in frontier
        ]
        entry_rows: list[dict[str, Any]] = []
        subtree_rows: list[dict[str, Any]] = []
        leaf_hash = merkle.leaf_hash
        node_hash = merkle.node_hash
        for offset, (leaf, record_id) in enumerate(items):
            position = index + offset
            digest = leaf_hash(leaf)
            entry_rows.append(
                {
                    "idx": position,
                    "leaf_hash": digest,
                    "leaf": leaf,
                    "record_id": record_id,
                    "appended_at": now,
                }
            )
            stack.append((0, position, digest))
            # Two complete subtrees of one level side by side are siblings (the left one starts
            # at a multiple of twice their size): their parent is complete now.
            while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
                level, _right, right_hash = stack.pop()
                _level, left_idx, left_hash = stack.pop()
                parent = (level + 1, left_idx >> 1, node_hash(left_hash, right_hash))
                stack.append(parent)
                subtree_rows.append({"level": parent[0], "idx": parent[1], "hash": parent[2]})
        conn.execute(prov_log_entries.insert(), entry_rows)
        if subtree_rows:
            conn.execute(prov_log_subtrees.insert(), subtree_rows)

    # --- checkpoints -----------------------------------------------------------------------

    def checkpoint(
        self,
        conn: Connection,
        *,
        origin: str,
        key: Ed25519PrivateKey | None,
        now: datetime,
        key_name: str | None = None,
    ) -> str:
        """The signed checkpoint note (C2SP tlog-checkpoint) of the log's current size.

        Issues and stores a new one, signed by ``key`` under ``key_name`` (default: the
        origin), when the log grew since the last stored one; otherwise returns the stored one
        (with any cosignatures federation appended). Without a key nothing is issued: the
        latest stored note is returned, :class:`LogError` if there is none. Call it in a
        writing transaction; hubs racing to issue the same size all return the first stored.
        """
        size = self.size(conn)
        latest = self._latest(conn)
        if latest is not None and (latest[0] >= size or key is None):
            return latest[1]
        if key is None:
            raise LogError("no checkpoint issued yet, and no key to sign one")
        root = self.root(conn, size)
        body = notes.Checkpoint(origin=origin, size=size, root_hash=root).body()
        note = notes.sign_note(body, key_name or origin, key)
        conn.execute(
            dialect_insert(conn, prov_checkpoints)
            .values(size=size, root=root, note=note, issued_at=now)
            .on_conflict_do_nothing(index_elements=["size"])
        )
        stored = self.checkpoint_at(conn, size)
        if stored is None:  # pragma: no cover - the row was inserted or already there
            raise LogStorageError(f"checkpoint of size {size} not stored")
        return stored

    def latest_checkpoint(self, conn: Connection) -> str | None:
        """The note of the largest checkpoint issued, None before the first."""
        latest = self._latest(conn)
        return latest[1] if latest is not None else None

    def checkpoint_at(self, conn: Connection, size: int) -> str | None:
        """The note of the checkpoint issued at ``size``, None if none was."""
        note = conn.execute(
            select(prov_checkpoints.c.note).where(prov_checkpoints.c.size == size)
        ).scalar_one_or_none()
        return None if note is None else str(note)

    # --- internals -------------------------------------------------------------------------

    def _latest(self, conn: Connection) -> tuple[int, str] | None:
        cols = prov_checkpoints.c
        row = conn.execute(select(cols.size, cols.note).order_by(cols.size.desc()).limit(1)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    @staticmethod
    def _head(conn: Connection, *, lock: bool) -> int:
        size = conn.execute(_LOCK_SIZE if lock else _SIZE).scalar_one_or_none()
        if size is None:
            raise LogStorageError("the provenance log has no head row: run the migrations")
        return int(size)

    def _proof(
        self,
        conn: Connection,
        size: int,
        what: str,
        generate: Callable[[merkle.SubtreeHash], list[bytes]],
    ) -> list[bytes]:
        # The generator's calls do not depend on the hashes it gets back: a dry run names every
        # range it needs, one query reads their pieces (and the log's size), the real run folds.
        ranges: list[tuple[int, int]] = []

        def note_range(start: int, end: int) -> bytes:
            ranges.append((start, end))
            return _PLACEHOLDER

        generate(note_range)
        split = {span: pieces(*span) for span in ranges}
        wanted = {piece for found in split.values() for piece in found}
        hashes = self._read_within(conn, wanted, size, what)
        return generate(lambda start, end: _fold([hashes[piece] for piece in split[(start, end)]]))

    @classmethod
    def _read_within(
        cls, conn: Connection, wanted: Iterable[Piece], size: int, what: str
    ) -> dict[Piece, bytes]:
        """The hashes of ``wanted`` pieces, which lie in the first ``size`` entries: LogError
        (saying ``what`` was asked) when the log is smaller."""
        wanted = set(wanted)
        hashes, current = cls._read(conn, wanted)
        if size > current:
            raise LogError(f"{what}: the log has {current} entries")
        missing = wanted - hashes.keys()
        if missing:
            raise LogStorageError(f"stored log lacks the hashes of subtrees {sorted(missing)[:5]}")
        return hashes

    @staticmethod
    def _read(conn: Connection, wanted: Iterable[Piece]) -> tuple[dict[Piece, bytes], int]:
        """The stored hashes of ``wanted`` pieces, and the log's size, in one query (one round
        trip, one snapshot)."""
        wanted = set(wanted)
        leaves = sorted(idx for level, idx in wanted if level == 0)
        nodes = sorted(piece for piece in wanted if piece[0] > 0)
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                _READ_POSTGRESQL,
                {
                    "leaves": leaves,
                    "levels": [level for level, _idx in nodes],
                    "idxs": [idx for _level, idx in nodes],
                },
            )
        else:
            sql, order = _read_statement(conn.dialect, len(leaves), len(nodes))
            values: dict[str, int] = {f"e{k}": idx for k, idx in enumerate(leaves)}
            values["head"] = _HEAD
            for k, (level, idx) in enumerate(nodes):
                values[f"l{k}"] = level
                values[f"i{k}"] = idx
            rows = conn.exec_driver_sql(sql, tuple(values[name] for name in order))
        found: dict[Piece, bytes] = {}
        size: int | None = None
        for level, idx, value in rows:
            if level == _HEAD_ROW:
                size = int(idx)
            else:
                found[(int(level), int(idx))] = bytes(value)
        if size is None:
            raise LogStorageError("the provenance log has no head row: run the migrations")
        return found, size


# Driver-level SQL (constant, every value a placeholder): building a Core expression of some
# forty terms per proof cost more than the query itself.
# PostgreSQL: one statement for every shape (psycopg prepares it after a few uses), the keys
# as arrays, each looked up in the primary key (a nested loop over unnest); planning a long
# OR took longer than running it.
_READ_POSTGRESQL = (
    "SELECT -1, h.size, NULL::bytea FROM prov_log_head h WHERE h.id = 1 "  # _HEAD_ROW, _HEAD
    "UNION ALL "
    "SELECT 0, e.idx, e.leaf_hash FROM prov_log_entries e "
    "WHERE e.idx = ANY(%(leaves)s::bigint[]) "
    "UNION ALL "
    "SELECT s.level, s.idx, s.hash FROM prov_log_subtrees s "
    "JOIN unnest(%(levels)s::smallint[], %(idxs)s::bigint[]) AS k(level, idx) "
    "ON s.level = k.level AND s.idx = k.idx"
)
# SQLite: compiled from Core once per shape (how many leaf and node hashes). At most O(log n)
# of each kind per read, so the cache stays small.
_READ_SQL: dict[tuple[int, int], tuple[str, tuple[str, ...]]] = {}


def _read_statement(dialect: Dialect, leaves: int, nodes: int) -> tuple[str, tuple[str, ...]]:
    """The SQLite SQL reading the head's size (parameter ``head``), ``leaves`` leaf hashes
    (e0...) and ``nodes`` subtree hashes (l0/i0...), and its parameter names in placeholder
    order."""
    key = (leaves, nodes)
    found = _READ_SQL.get(key)
    if found is None:
        entries = prov_log_entries.c
        subtrees = prov_log_subtrees.c
        head = prov_log_head.c
        parts: list[Select[Any]] = [
            select(literal_column(str(_HEAD_ROW)), head.size, null()).where(
                head.id == bindparam("head", type_=Integer)
            )
        ]
        if leaves:
            keys = [bindparam(f"e{k}", type_=BigInteger) for k in range(leaves)]
            parts.append(
                select(literal_column("0"), entries.idx, entries.leaf_hash).where(
                    entries.idx.in_(keys)
                )
            )
        if nodes:
            # OR of key pairs, not "(level, idx) IN (VALUES ...)": SQLite scans the whole table
            # for the row-value IN, and looks each OR term up in the primary key.
            pairs = (
                and_(
                    subtrees.level == bindparam(f"l{k}", type_=SmallInteger),
                    subtrees.idx == bindparam(f"i{k}", type_=BigInteger),
                )
                for k in range(nodes)
            )
            parts.append(select(subtrees.level, subtrees.idx, subtrees.hash).where(or_(*pairs)))
        query = union_all(*parts)
        compiled = query.compile(dialect=dialect)
        found = (str(compiled), tuple(compiled.positiontup or ()))
        _READ_SQL[key] = found
    return found


def _merges(piece: Piece, new_size: int) -> bool:
    # A right-edge piece is a left child (its start is a multiple of twice its size); it gets a
    # parent once the log reaches the end of its right sibling.
    level, idx = piece
    return new_size >= (idx + 2) << level
