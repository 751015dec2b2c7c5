"""The stored RFC 9162 log (hub.provenance.log) on both stores: roots and proofs equal those of
hub.provenance.merkle over the same leaves in memory and verify, appends are gap-free under
rollback and concurrency, wrong indexes and sizes are refused, checkpoints are signed notes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete, select

from hub.provenance import merkle, notes
from hub.provenance.log import MAX_PAGE, LogError, LogStorageError, StoredLog, pieces
from hub.store import Store
from hub.store.schema import prov_checkpoints, prov_log_entries, prov_log_head, prov_log_subtrees

NOW = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
ORIGIN = "aq.example.org/prov-log/v1"
LOG = StoredLog()
N = 40


def leaf(i: int) -> bytes:
    return f'{{"entry":{i},"payload":"{"x" * (i % 7)}"}}'.encode()


def record_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def writer(store: Store) -> Engine:
    return store.engine.execution_options(sqlite_immediate=True)


def append_one(engine: Engine, i: int | None = None, payload: bytes | None = None) -> int:
    """Reserve and append one entry in a transaction of its own; its index."""
    with engine.begin() as conn:
        index = LOG.reserve(conn)
        LOG.append(
            conn,
            index,
            payload if payload is not None else leaf(index if i is None else i),
            record_id(index if i is None else i),
            now=NOW,
        )
    return index


def subtree_rows(engine: Engine) -> list[tuple[int, int, bytes]]:
    cols = prov_log_subtrees.c
    with engine.connect() as conn:
        rows = conn.execute(select(cols.level, cols.idx, cols.hash).order_by(cols.level, cols.idx))
        return [(int(a), int(b), bytes(c)) for a, b, c in rows]


def test_roots_and_proofs_equal_the_in_memory_tree_and_verify(store: Store) -> None:
    engine = writer(store)
    hashes = [merkle.leaf_hash(leaf(i)) for i in range(N)]
    memory = merkle.memory_subtree(hashes)
    with engine.connect() as conn:
        assert LOG.size(conn) == 0 and LOG.root(conn) == merkle.EMPTY_ROOT
    for i in range(N):
        assert append_one(engine) == i
    # Exactly the complete subtrees, each with its hash.
    expected = [
        (level, idx, memory(idx << level, (idx + 1) << level))
        for level in range(1, N.bit_length())
        for idx in range(N >> level)
    ]
    assert subtree_rows(engine) == expected
    with engine.connect() as conn:
        assert LOG.size(conn) == N
        assert LOG.root(conn) == merkle.root(hashes)
        for size in range(1, N + 1):
            root = LOG.root(conn, size)
            assert root == merkle.root(hashes[:size])
            for index in range(size):
                proof = LOG.inclusion_proof(conn, index, size)
                assert proof == merkle.inclusion_proof(index, size, memory)
                merkle.verify_inclusion(LOG.leaf_hash(conn, index), index, size, proof, root)
        for new in range(N + 1):
            new_root = LOG.root(conn, new)
            for old in range(new + 1):
                proof = LOG.consistency_proof(conn, old, new)
                assert proof == merkle.consistency_proof(old, new, memory)
                merkle.verify_consistency(old, new, LOG.root(conn, old), new_root, proof)
        # A proof for a different leaf or size does not verify.
        proof = LOG.inclusion_proof(conn, 5, 33)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(hashes[6], 5, 33, proof, LOG.root(conn, 33))
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(hashes[5], 5, 34, proof, LOG.root(conn, 34))
        # The subtree callback answers every range the decomposition may ask for.
        for start, end in [(0, 40), (32, 40), (32, 37), (8, 16), (39, 40), (36, 40)]:
            assert LOG.subtree_hash(conn, start, end) == memory(start, end)


def test_batched_appends_store_the_same_log(store: Store) -> None:
    engine = writer(store)
    chunks = [1, 2, 3, 5, 1, 7, 13, 8]  # 40 entries, batch edges everywhere
    index = 0
    for chunk in chunks:
        with engine.begin() as conn:
            assert LOG.reserve(conn) == index
            items = [(leaf(i), record_id(i)) for i in range(index, index + chunk)]
            LOG.append_many(conn, index, items, now=NOW)
        index += chunk
    hashes = [merkle.leaf_hash(leaf(i)) for i in range(N)]
    memory = merkle.memory_subtree(hashes)
    assert len(subtree_rows(engine)) == 20 + 10 + 5 + 2 + 1
    assert all(memory(i << lv, (i + 1) << lv) == h for lv, i, h in subtree_rows(engine))
    with engine.connect() as conn:
        assert LOG.root(conn) == merkle.root(hashes)
        assert LOG.entries(conn, 3, 6) == [(i, leaf(i)) for i in range(3, 6)]
        assert LOG.leaf_hash(conn, 17) == hashes[17]


def test_entries_are_paged_and_bounded(store: Store) -> None:
    engine = writer(store)
    total = MAX_PAGE + 205
    with engine.begin() as conn:
        LOG.append_many(conn, 0, [(leaf(i), record_id(i)) for i in range(total)], now=NOW)
    with engine.connect() as conn:
        page = LOG.entries(conn, 0, total)
        assert [i for i, _ in page] == list(range(MAX_PAGE))
        assert LOG.entries(conn, MAX_PAGE, 10**9) == [(i, leaf(i)) for i in range(MAX_PAGE, total)]
        assert LOG.entries(conn, total, total + 5) == []
        assert LOG.entries(conn, 7, 7) == []
        for start, end in [(-1, 3), (5, 4), (total + 1, total + 2)]:
            with pytest.raises(LogError):
                LOG.entries(conn, start, end)
        hashes = [merkle.leaf_hash(leaf(i)) for i in range(total)]
        assert LOG.root(conn) == merkle.root(hashes)


def test_bad_indexes_and_sizes_are_refused(store: Store) -> None:
    engine = writer(store)
    for _ in range(5):
        append_one(engine)
    for wrong in (4, 6, 0, -1):
        with pytest.raises(LogError, match="log has 5 entries"), engine.begin() as conn:
            LOG.append(conn, wrong, b"late", record_id(99), now=NOW)
    with engine.connect() as conn:
        assert LOG.size(conn) == 5
        assert conn.execute(select(prov_log_entries.c.idx)).scalars().all() == list(range(5))
        bad_calls: list[Callable[[], object]] = [
            lambda: LOG.root(conn, 6),
            lambda: LOG.root(conn, -1),
            lambda: LOG.leaf_hash(conn, 5),
            lambda: LOG.leaf_hash(conn, -1),
            lambda: LOG.inclusion_proof(conn, 5, 5),
            lambda: LOG.inclusion_proof(conn, 0, 6),
            lambda: LOG.inclusion_proof(conn, -1, 3),
            lambda: LOG.consistency_proof(conn, 3, 2),
            lambda: LOG.consistency_proof(conn, 2, 6),
            lambda: LOG.consistency_proof(conn, -1, 2),
            lambda: LOG.subtree_hash(conn, 4, 6),
        ]
        for call in bad_calls:
            with pytest.raises(LogError):
                call()
        with pytest.raises(ValueError, match="decomposition"):
            LOG.subtree_hash(conn, 1, 3)  # not aligned: no stored pieces fold to it


def test_a_rolled_back_append_leaves_no_gap(store: Store) -> None:
    engine = writer(store)
    append_one(engine)
    with pytest.raises(RuntimeError, match="abort"), engine.begin() as conn:
        index = LOG.reserve(conn)
        LOG.append(conn, index, leaf(1), record_id(1), now=NOW)
        raise RuntimeError("abort after the append")
    with engine.begin() as conn:
        assert LOG.size(conn) == 1
        assert LOG.reserve(conn) == index == 1
        LOG.append(conn, 1, b"another", record_id(7), now=NOW)
    with engine.connect() as conn:
        assert LOG.entries(conn, 0, 10) == [(0, leaf(0)), (1, b"another")]
        assert LOG.root(conn) == merkle.root(
            [merkle.leaf_hash(leaf(0)), merkle.leaf_hash(b"another")]
        )


def test_concurrent_appenders_get_one_gap_free_order(store_url: str, store: Store) -> None:
    per_thread, threads = 15, 3
    engines = [Store.open(store_url, migrate_schema=False) for _ in range(threads)]
    start = threading.Barrier(threads)
    taken: list[list[int]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            start.wait()
            engine = writer(engines[number])
            for k in range(per_thread):
                tag = f"thread {number} entry {k}".encode()
                with engine.begin() as conn:
                    index = LOG.reserve(conn)
                    LOG.append(conn, index, tag, str(uuid.uuid4()), now=NOW)
                taken[number].append(index)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    for opened in engines:
        opened.close()
    assert not errors
    total = per_thread * threads
    assert sorted(i for mine in taken for i in mine) == list(range(total))
    with store.engine.connect() as conn:
        stored = LOG.entries(conn, 0, total)
        assert LOG.size(conn) == total
        assert LOG.root(conn) == merkle.root([merkle.leaf_hash(data) for _, data in stored])
    # Each thread's entries carry its own tags, in its own order.
    for number, mine in enumerate(taken):
        assert mine == sorted(mine)
        assert [stored[i][1] for i in mine] == [
            f"thread {number} entry {k}".encode() for k in range(per_thread)
        ]


def test_checkpoints_are_signed_notes_of_the_log(store: Store) -> None:
    engine = writer(store)
    key = Ed25519PrivateKey.generate()
    known = {ORIGIN: key.public_key()}
    with engine.begin() as conn:
        with pytest.raises(LogError):
            LOG.checkpoint(conn, origin=ORIGIN, key=None, now=NOW)
        assert LOG.latest_checkpoint(conn) is None
        empty = LOG.checkpoint(conn, origin=ORIGIN, key=key, now=NOW)
    body, signers = notes.open_note(empty, known)
    assert signers == [ORIGIN]
    assert notes.Checkpoint.parse(body) == notes.Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT)
    for _ in range(5):
        append_one(engine)
    with engine.begin() as conn:
        five = LOG.checkpoint(conn, origin=ORIGIN, key=key, now=NOW)
        assert LOG.checkpoint(conn, origin=ORIGIN, key=key, now=NOW) == five  # not re-issued
        old_root = LOG.root(conn)
    body, signers = notes.open_note(five, known)
    assert signers == [ORIGIN]
    assert notes.Checkpoint.parse(body) == notes.Checkpoint(ORIGIN, 5, old_root)
    append_one(engine)
    with engine.begin() as conn:
        assert LOG.checkpoint(conn, origin=ORIGIN, key=None, now=NOW) == five  # no key: stored
        six = LOG.checkpoint(conn, origin=ORIGIN, key=key, now=NOW)
        assert LOG.latest_checkpoint(conn) == six
        assert LOG.checkpoint_at(conn, 5) == five and LOG.checkpoint_at(conn, 3) is None
        proof = LOG.consistency_proof(conn, 5, 6)
        sizes = conn.execute(select(prov_checkpoints.c.size).order_by("size")).scalars().all()
    assert sizes == [0, 5, 6]
    new = notes.Checkpoint.parse(notes.open_note(six, known)[0])
    assert new.size == 6
    merkle.verify_consistency(5, 6, old_root, new.root_hash, proof)
    # A note signed by another key does not verify against the hub's.
    with pytest.raises(notes.NoteError):
        notes.open_note(six, {ORIGIN: Ed25519PrivateKey.generate().public_key()})


def test_a_database_without_the_head_row_is_reported(store: Store) -> None:
    engine = writer(store)
    with engine.begin() as conn:
        conn.execute(delete(prov_log_head))
    with engine.begin() as conn, pytest.raises(LogStorageError, match="migrations"):
        LOG.reserve(conn)


def test_pieces_cover_decomposition_ranges_only() -> None:
    assert pieces(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert pieces(32, 40) == [(3, 4)]
    assert pieces(16, 23) == [(2, 4), (1, 10), (0, 22)]
    for start, end in [(1, 3), (8, 17), (0, 0), (4, 3)]:
        with pytest.raises(ValueError):
            pieces(start, end)
