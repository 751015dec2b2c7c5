"""RFC 9162 Merkle trees: the CT test vectors, brute-force proofs and their negative cases."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree

from hub.provenance.merkle import (
    EMPTY_ROOT,
    ProofError,
    SubtreeHash,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    memory_subtree,
    node_hash,
    root,
    split_point,
    verify_consistency,
    verify_inclusion,
)

# The leaves of RFC 6962's (and Certificate Transparency's) reference test data.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
MAX_SIZE = 70
LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX_SIZE)]
ROOTS = [root(LEAVES[:n]) for n in range(MAX_SIZE + 1)]
SUBTREE = memory_subtree(LEAVES)
OTHER = hashlib.sha256(b"not in the tree").digest()


def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 0x01]) + value[1:]


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert [split_point(n) for n in range(2, 10)] == [1, 2, 2, 4, 4, 4, 4, 8]
    assert split_point(2**40 + 1) == 2**40
    with pytest.raises(ValueError):
        split_point(1)


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_ct_vector_roots(size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES[:size]]
    assert root(hashes).hex() == CT_ROOTS[size]
    assert memory_subtree(hashes)(0, size).hex() == CT_ROOTS[size]
    reference = InmemoryTree(algorithm="sha256")
    for leaf in CT_LEAVES[:size]:
        reference.append_entry(leaf)
    assert reference.get_root().hex() == CT_ROOTS[size]


def test_roots_match_pymerkle_up_to_max_size() -> None:
    reference = InmemoryTree(algorithm="sha256")
    for n in range(1, MAX_SIZE + 1):
        reference.append_entry((n - 1).to_bytes(2, "big"))
        assert reference.get_root() == ROOTS[n]
        assert SUBTREE(0, n) == ROOTS[n]


def recording(size: int, calls: list[tuple[int, int]]) -> SubtreeHash:
    def subtree(start: int, end: int) -> bytes:
        calls.append((start, end))
        return SUBTREE(start, end)

    return subtree


def assert_allowed_ranges(calls: list[tuple[int, int]], size: int) -> None:
    for start, end in calls:
        assert 0 <= start < end <= size
        width = end - start
        aligned = width & (width - 1) == 0 and start % width == 0
        assert aligned or end == size, (start, end, size)


def test_inclusion_every_index_and_size() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            calls: list[tuple[int, int]] = []
            proof = inclusion_proof(index, size, recording(size, calls))
            assert_allowed_ranges(calls, size)
            assert len(proof) == len(calls)
            verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


def inclusion_fails(leaf: bytes, index: int, size: int, proof: list[bytes], top: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, top)
    except ProofError:
        return True
    return False


def test_inclusion_negative_cases() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, SUBTREE)
            leaf, good = LEAVES[index], ROOTS[size]
            assert inclusion_fails(flip(leaf), index, size, proof, good)
            assert inclusion_fails(leaf, index, size, proof, flip(good))
            for position in range(len(proof)):
                altered = list(proof)
                altered[position] = flip(altered[position])
                assert inclusion_fails(leaf, index, size, altered, good)
            for wrong in {index - 1, index + 1} - {-1, size}:
                assert inclusion_fails(leaf, wrong, size, proof, good)
                assert inclusion_fails(LEAVES[wrong], wrong, size, proof, good)
            # Another size is checked against that size's real root, as a checkpoint gives it.
            for other in {size - 1, size + 1} - {0, index, MAX_SIZE + 1}:
                assert inclusion_fails(leaf, index, other, proof, ROOTS[other])
            if proof:
                assert inclusion_fails(leaf, index, size, proof[:-1], good)
                assert inclusion_fails(leaf, index, size, proof[1:], good)
            assert inclusion_fails(leaf, index, size, [*proof, OTHER], good)
            assert inclusion_fails(leaf, index, size, [OTHER, *proof], good)
            assert inclusion_fails(leaf, index, size, [*proof, good], good)


def test_inclusion_argument_checks() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(3, 3, SUBTREE)
    with pytest.raises(ValueError):
        inclusion_proof(-1, 3, SUBTREE)
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(LEAVES[0], 5, 5, [], ROOTS[5])
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(b"raw leaf bytes, not a hash", 0, 1, [], ROOTS[1])
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(LEAVES[0], 0, 2, [b"short"], ROOTS[2])
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])


def test_consistency_every_pair() -> None:
    for new in range(0, MAX_SIZE + 1):
        for old in range(0, new + 1):
            calls: list[tuple[int, int]] = []
            proof = consistency_proof(old, new, recording(new, calls))
            assert_allowed_ranges(calls, new)
            assert len(proof) == len(calls)
            assert (proof == []) == (old in (0, new))
            verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def consistency_fails(old: int, new: int, a: bytes, b: bytes, proof: list[bytes]) -> bool:
    try:
        verify_consistency(old, new, a, b, proof)
    except ProofError:
        return True
    return False


def test_consistency_negative_cases() -> None:
    for new in range(2, MAX_SIZE + 1):
        for old in range(1, new):
            proof = consistency_proof(old, new, SUBTREE)
            a, b = ROOTS[old], ROOTS[new]
            assert consistency_fails(old, new, flip(a), b, proof)
            assert consistency_fails(old, new, a, flip(b), proof)
            assert consistency_fails(old, new, b, a, proof)
            assert consistency_fails(new, old, b, a, proof)
            for position in range(len(proof)):
                altered = list(proof)
                altered[position] = flip(altered[position])
                assert consistency_fails(old, new, a, b, altered)
            for other in {old - 1, old + 1} - {0, new}:
                assert consistency_fails(other, new, ROOTS[other], b, proof)
            for other in {new - 1, new + 1} - {old, MAX_SIZE + 1}:
                assert consistency_fails(old, other, a, ROOTS[other], proof)
            assert consistency_fails(old, new, a, b, proof[:-1])
            assert consistency_fails(old, new, a, b, proof[1:])
            assert consistency_fails(old, new, a, b, [*proof, OTHER])
            assert consistency_fails(old, new, a, b, [OTHER, *proof])
            assert consistency_fails(old, new, a, b, [a, *proof])


def test_consistency_trivial_cases() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 9, EMPTY_ROOT, ROOTS[9], [])
    verify_consistency(9, 9, ROOTS[9], ROOTS[9], [])
    with pytest.raises(ProofError, match="empty-tree"):
        verify_consistency(0, 9, ROOTS[1], ROOTS[9], [])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(9, 9, ROOTS[9], ROOTS[8], [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(9, 9, ROOTS[9], ROOTS[9], [OTHER])
    with pytest.raises(ProofError, match="no consistency"):
        verify_consistency(9, 8, ROOTS[9], ROOTS[8], consistency_proof(8, 9, SUBTREE))
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(1, 2, ROOTS[1][:31], ROOTS[2], [LEAVES[1]])
    with pytest.raises(ValueError):
        consistency_proof(5, 4, SUBTREE)
    with pytest.raises(ValueError):
        consistency_proof(-1, 4, SUBTREE)


def test_memory_subtree_ranges() -> None:
    subtree = memory_subtree(LEAVES[:5])
    assert subtree(4, 5) == LEAVES[4]
    assert subtree(0, 4) == ROOTS[4]
    assert subtree(2, 5) == root(LEAVES[2:5])
    for start, end in [(0, 0), (3, 2), (0, 6), (-1, 2)]:
        with pytest.raises(ValueError):
            subtree(start, end)
