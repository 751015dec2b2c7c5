"""RFC 9162 §2.1 Merkle tree hashing, proof generation and proof verification (SHA-256).

Pure functions shared by the hub's append-only log (which answers ``subtree`` from cached
complete subtrees), the batch tree inside each signed record, and the offline verifier.
Every hash handled here is 32 bytes; leaves are always passed as *leaf hashes*
(``leaf_hash(data)``), never as raw leaf bytes, so an interior node can never pass for a leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "ProofError",
    "SubtreeHash",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "memory_subtree",
    "node_hash",
    "root",
    "split_point",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
_HASH_SIZE = 32

EMPTY_ROOT: bytes = _sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
"""``(start, end) -> MTH(leaves[start:end])``, answered by whoever holds the leaves."""


class ProofError(ValueError):
    """An inclusion or consistency proof does not verify; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of one leaf: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two below ``n`` (``n >= 2``): the size of the left part."""
    if n < 2:
        raise ValueError(f"split_point needs n >= 2, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (``EMPTY_ROOT`` for none)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Pairing level by level and carrying an odd last node up unchanged builds exactly the
    # RFC's left-complete tree, without recursion.
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def memory_subtree(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """A ``SubtreeHash`` over an in-memory list of leaf hashes (memoised per range)."""
    leaves = tuple(leaf_hashes)
    cache: dict[tuple[int, int], bytes] = {}

    def subtree(start: int, end: int) -> bytes:
        if not 0 <= start < end <= len(leaves):
            raise ValueError(f"subtree range [{start}, {end}) outside 0..{len(leaves)}")
        key = (start, end)
        found = cache.get(key)
        if found is None:
            if end - start == 1:
                found = leaves[start]
            else:
                mid = start + split_point(end - start)
                found = node_hash(subtree(start, mid), subtree(mid, end))
            cache[key] = found
        return found

    return subtree


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, ordered from the leaf up to the root.

    ``subtree`` is only asked for ranges of the RFC decomposition: aligned complete subtrees
    (``start`` a multiple of ``2**k``, ``end = start + 2**k``) or ranges ending at ``size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            proof.append(subtree(mid, end))
            end = mid
        else:
            proof.append(subtree(start, mid))
            start = mid
    # Collected from the root down; the RFC lists the path from the leaf up.
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true).

    Empty when ``old_size`` is 0 or equal to ``new_size``. Calls ``subtree`` only with the
    ranges allowed for ``inclusion_proof``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    m, start, end = old_size, 0, new_size
    complete_old_subtree = True  # the RFC's flag b
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            m -= k
            start += k
            complete_old_subtree = False
    if not complete_old_subtree:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != _HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, expected a {_HASH_SIZE}-byte hash")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf hash ``leaf`` sits at ``index`` in the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. ``leaf`` is the *leaf hash* (``leaf_hash(data)``). Raises ProofError.
    """
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if len(p) != _HASH_SIZE:
            raise ProofError("proof element is not a 32-byte hash")
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short for the tree size")
    if r != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_size``/``old_root`` is a prefix of ``new_size``/``new_root``.

    RFC 9162 §2.1.4.2, plus the trivial cases: equal sizes need equal roots and an empty
    proof; an empty old tree needs ``EMPTY_ROOT`` and an empty proof. Raises ProofError.
    """
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency between size {old_size} and size {new_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError("consistency proof must be empty for this pair of sizes")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("old root of an empty tree is not the empty-tree hash")
        if old_size == new_size and old_root != new_root:
            raise ProofError("trees of equal size have different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    for p in proof:
        if len(p) != _HASH_SIZE:
            raise ProofError("proof element is not a 32-byte hash")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short for the new size")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
