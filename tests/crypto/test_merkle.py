"""Tests for consortia.crypto.merkle: published RFC 6962 vectors, a naive reference, properties."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consortia.crypto.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# No example database: the suite must not leave files behind in the checkout.
PROPERTY = settings(max_examples=400, deadline=None, database=None)


def h(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string)


# ---------------------------------------------------------------------------------------------
# Published test data.
#
# Source: transparency-dev/merkle, proof/verify_test.go (`leaves`, `roots`, `inclusionProofs`,
# `consistencyProofs`, `sha256EmptyTreeHash`); the same constants are in
# google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc (`kInputs`,
# `kSHA256Roots`, `kSHA256Paths`, `kSHA256Proofs`, `kSHA256EmptyTreeHash`).
# Both sources number leaves from 1; the indices below are converted to 0-based.
# ---------------------------------------------------------------------------------------------

RFC_LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# RFC_ROOTS[n] is the root of the tree over the first n inputs.
RFC_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# (leaf index, tree size, audit path)
RFC_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# (first size, second size, consistency proof)
RFC_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# Which nodes make up a proof, for larger trees.
# Source: transparency-dev/merkle, proof/proof_test.go (`TestInclusion`, `TestConsistency`).
# A node (level, index) is the perfect subtree over leaves [index * 2**level, (index+1) * 2**level).
# A tuple of nodes stands for one proof element that the source marks as "rehashed": the
# ephemeral node over the listed nodes, folded as acc = node_hash(next, acc), first node innermost.
Node = tuple[int, int]
Spec = Node | tuple[Node, ...]

INCLUSION_SHAPES: list[tuple[int, int, list[Spec]]] = [
    # (tree size, leaf index, proof nodes)
    (2, 0, [(0, 1)]),
    (2, 1, [(0, 0)]),
    (3, 1, [(0, 0), (0, 2)]),
    (7, 0, [(0, 1), (1, 1), ((0, 6), (1, 2))]),
    (7, 1, [(0, 0), (1, 1), ((0, 6), (1, 2))]),
    (7, 2, [(0, 3), (1, 0), ((0, 6), (1, 2))]),
    (7, 3, [(0, 2), (1, 0), ((0, 6), (1, 2))]),
    (7, 4, [(0, 5), (0, 6), (2, 0)]),
    (7, 5, [(0, 4), (0, 6), (2, 0)]),
    (7, 6, [(1, 2), (2, 0)]),
    (4, 2, [(0, 3), (1, 0)]),
    (5, 3, [(0, 2), (1, 0), (0, 4)]),
    (6, 3, [(0, 2), (1, 0), (1, 2)]),
    (6, 4, [(0, 5), (2, 0)]),
    (15, 10, [(0, 11), (1, 4), ((0, 14), (1, 6)), (3, 0)]),
    (31, 24, [(0, 25), (1, 13), ((0, 30), (1, 14)), (3, 2), (4, 0)]),
    (95, 81, [(0, 80), (1, 41), (2, 21), ((0, 94), (1, 46), (2, 22)), (4, 4), (6, 0)]),
]

CONSISTENCY_SHAPES: list[tuple[int, int, list[Spec]]] = [
    # (first size, second size, proof nodes)
    (1, 2, [(0, 1)]),
    (1, 4, [(0, 1), (1, 1)]),
    (1, 6, [(0, 1), (1, 1), (1, 2)]),
    (2, 3, [(0, 2)]),
    (2, 8, [(1, 1), (2, 1)]),
    (3, 7, [(0, 2), (0, 3), (1, 0), ((0, 6), (1, 2))]),
    (4, 7, [((0, 6), (1, 2))]),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)]),
    (6, 7, [(1, 2), (0, 6), (2, 0)]),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)]),
    (1, 1, []),
    (2, 2, []),
    (3, 3, []),
    (4, 4, []),
    (5, 5, []),
    (7, 7, []),
    (8, 8, []),
    (2, 4, [(1, 1)]),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)]),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)]),
    (4, 6, [(1, 2)]),
    (1, 7, [(0, 1), (1, 1), ((0, 6), (1, 2))]),
    (10, 15, [(1, 4), (1, 5), ((0, 14), (1, 6)), (3, 0)]),
    (24, 31, [(3, 2), ((0, 30), (1, 14), (2, 6)), (4, 0)]),
    (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), ((0, 94), (1, 46), (2, 22)), (4, 4), (6, 0)]),
]


# ---------------------------------------------------------------------------------------------
# Naive reference implementation, written straight from the recursive definitions of
# RFC 9162 section 2.1 over a fixed list of leaf hashes. Deliberately slow and obvious.
# ---------------------------------------------------------------------------------------------

LEAF_DATA = [b"ledger entry %d" % i + bytes([i % 251]) * (i % 7) for i in range(300)]
LEAVES = tuple(hashlib.sha256(b"\x00" + d).digest() for d in LEAF_DATA)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def ref_mth(start: int, end: int) -> bytes:
    n = end - start
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return LEAVES[start]
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(start, start + k) + ref_mth(start + k, end)).digest()


def ref_path(m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, start, start + k), ref_mth(start + k, end)]
    return [*ref_path(m - k, start + k, end), ref_mth(start, start + k)]


def ref_subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [ref_mth(start, end)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, start, start + k, whole), ref_mth(start + k, end)]
    return [*ref_subproof(m - k, start + k, end, False), ref_mth(start, start + k)]


def ref_consistency(first: int, second: int) -> list[bytes]:
    if first == 0 or first == second:
        return []
    return ref_subproof(first, 0, second, True)


def _nh(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_verify_inclusion(
    lh: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Rebuild the root by walking the PATH recursion, consuming proof hashes from the end."""
    if not 0 <= index < size:
        return False
    remaining = list(proof)

    def rebuild(m: int, n: int) -> bytes | None:
        if n == 1:
            return lh
        if not remaining:
            return None
        sibling = remaining.pop()
        k = _k(n)
        inner = rebuild(m, k) if m < k else rebuild(m - k, n - k)
        if inner is None:
            return None
        return _nh(inner, sibling) if m < k else _nh(sibling, inner)

    got = rebuild(index, size)
    return got is not None and not remaining and got == root


def ref_verify_consistency(
    first: int, second: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Rebuild both roots by walking the SUBPROOF recursion, consuming hashes from the end.

    The edge cases follow the policy documented in verify_consistency.
    """
    if not 0 <= first <= second:
        return False
    if first == 0:
        return not proof and root1 == EMPTY_ROOT and (second > 0 or root2 == EMPTY_ROOT)
    if first == second:
        return not proof and root1 == root2
    remaining = list(proof)

    def rebuild(m: int, n: int, whole: bool) -> tuple[bytes, bytes] | None:
        if m == n:
            if whole:
                return root1, root1
            if not remaining:
                return None
            node = remaining.pop()
            return node, node
        if not remaining:
            return None
        sibling = remaining.pop()
        k = _k(n)
        if m <= k:
            inner = rebuild(m, k, whole)
            if inner is None:
                return None
            return inner[0], _nh(inner[1], sibling)
        inner = rebuild(m - k, n - k, False)
        if inner is None:
            return None
        return _nh(sibling, inner[0]), _nh(sibling, inner[1])

    got = rebuild(first, second, True)
    return got is not None and not remaining and got == (root1, root2)


def _full_tree() -> MerkleTree:
    tree = MerkleTree()
    for data in LEAF_DATA:
        tree.append(data)
    return tree


TREE = _full_tree()


def flip(value: bytes, position: int, mask: int) -> bytes:
    out = bytearray(value)
    out[position % len(out)] ^= mask
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Published vectors
# ---------------------------------------------------------------------------------------------


def rfc_tree() -> MerkleTree:
    tree = MerkleTree()
    for data in RFC_LEAVES:
        tree.append(data)
    return tree


def test_empty_root_constant() -> None:
    assert RFC_ROOTS[0] == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT
    assert MerkleTree().size == 0


def test_rfc_roots_incremental() -> None:
    tree = MerkleTree()
    assert tree.root() == RFC_ROOTS[0]
    for n, data in enumerate(RFC_LEAVES, start=1):
        assert tree.append(data) == n - 1
        assert tree.size == n
        assert tree.root() == RFC_ROOTS[n]
        for j in range(n + 1):
            assert tree.root(j) == RFC_ROOTS[j]


@pytest.mark.parametrize(("index", "size", "path"), RFC_INCLUSION)
def test_rfc_inclusion_vectors(index: int, size: int, path: list[bytes]) -> None:
    tree = rfc_tree()
    assert tree.inclusion_proof(index, size) == path
    lh = leaf_hash(RFC_LEAVES[index])
    assert lh == tree.leaf_hash_at(index)
    root = RFC_ROOTS[size]
    assert verify_inclusion(lh, index, size, path, root)
    # Tampering that must always fail.
    assert not verify_inclusion(leaf_hash(b"WrongLeaf"), index, size, path, root)
    assert not verify_inclusion(lh, index, size, path, EMPTY_ROOT)
    assert not verify_inclusion(lh, index, size, [*path, root], root)
    assert not verify_inclusion(lh, index, size, [root, *path], root)
    assert not verify_inclusion(lh, index, size, [*path, b""], root)
    assert not verify_inclusion(lh, index + 1, size, path, root)
    if path:
        assert not verify_inclusion(lh, index, size, path[:-1], root)
        assert not verify_inclusion(lh, index, size * 2, path, root)
        assert not verify_inclusion(lh, index ^ 2, size, path, root)
        for j in range(len(path)):
            wrong = list(path)
            wrong[j] = flip(wrong[j], 0, 8)
            assert not verify_inclusion(lh, index, size, wrong, root)


@pytest.mark.parametrize(("first", "second", "proof"), RFC_CONSISTENCY)
def test_rfc_consistency_vectors(first: int, second: int, proof: list[bytes]) -> None:
    tree = rfc_tree()
    assert tree.consistency_proof(first, second) == proof
    root1, root2 = RFC_ROOTS[first], RFC_ROOTS[second]
    assert verify_consistency(first, second, root1, root2, proof)
    if not proof:
        return
    assert not verify_consistency(first - 1, second, root1, root2, proof)
    assert not verify_consistency(first + 1, second, root1, root2, proof)
    assert not verify_consistency(first ^ 2, second, root1, root2, proof)
    assert not verify_consistency(first, second * 2, root1, root2, proof)
    assert not verify_consistency(first, second // 2, root1, root2, proof)
    assert not verify_consistency(first, second, root2, root1, proof)
    assert not verify_consistency(first, second, root1, root2, [])
    assert not verify_consistency(first, second, root1, root2, proof[:-1])
    assert not verify_consistency(first, second, root1, root2, [*proof, proof[-1]])
    assert not verify_consistency(first, second, root1, root2, [*proof, b""])
    assert not verify_consistency(first, second, root1, root2, [proof[0], *proof])
    for j in range(len(proof)):
        wrong = list(proof)
        wrong[j] = flip(wrong[j], 0, 16)
        assert not verify_consistency(first, second, root1, root2, wrong)


def _resolve(spec: Spec) -> bytes:
    if len(spec) == 2 and isinstance(spec[0], int) and isinstance(spec[1], int):
        level, index = spec[0], spec[1]
        return ref_mth(index << level, (index + 1) << level)
    nodes = [n for n in spec if isinstance(n, tuple)]
    acc = _resolve(nodes[0])
    for node in nodes[1:]:
        acc = _nh(_resolve(node), acc)
    return acc


@pytest.mark.parametrize(("size", "index", "shape"), INCLUSION_SHAPES)
def test_published_inclusion_shapes(size: int, index: int, shape: list[Spec]) -> None:
    assert TREE.inclusion_proof(index, size) == [_resolve(s) for s in shape]


@pytest.mark.parametrize(("first", "second", "shape"), CONSISTENCY_SHAPES)
def test_published_consistency_shapes(first: int, second: int, shape: list[Spec]) -> None:
    assert TREE.consistency_proof(first, second) == [_resolve(s) for s in shape]


# ---------------------------------------------------------------------------------------------
# Against the naive reference
# ---------------------------------------------------------------------------------------------


def test_roots_match_reference_while_growing() -> None:
    tree = MerkleTree()
    for n in range(131):
        assert tree.root() == ref_mth(0, n)
        for j in range(n + 1):
            assert tree.root(j) == ref_mth(0, j)
        tree.append(LEAF_DATA[n])


def test_all_small_proofs_match_reference() -> None:
    for second in range(1, 41):
        for index in range(second):
            assert TREE.inclusion_proof(index, second) == ref_path(index, 0, second)
        for first in range(second + 1):
            assert TREE.consistency_proof(first, second) == ref_consistency(first, second)


def test_leaf_and_node_hash() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"l"), leaf_hash(b"r")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)


def test_root_cache_follows_appends() -> None:
    tree = MerkleTree()
    tree.append(b"a")
    first = tree.root()
    assert tree.root() is first  # cached
    tree.append(b"b")
    assert tree.root() == node_hash(leaf_hash(b"a"), leaf_hash(b"b"))
    assert tree.root(1) == first


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@st.composite
def size_and_index(draw: Any) -> tuple[int, int]:
    size = draw(st.integers(1, len(LEAVES)))
    return size, draw(st.integers(0, size - 1))


@st.composite
def two_sizes(draw: Any) -> tuple[int, int]:
    second = draw(st.integers(0, len(LEAVES)))
    return draw(st.integers(0, second)), second


@PROPERTY
@given(
    si=size_and_index(),
    position=st.integers(0, 10_000),
    mask=st.integers(1, 255),
    other_index=st.integers(0, 2 * len(LEAVES)),
    other_size=st.integers(0, 2 * len(LEAVES)),
)
def test_inclusion_property(
    si: tuple[int, int], position: int, mask: int, other_index: int, other_size: int
) -> None:
    size, index = si
    proof = TREE.inclusion_proof(index, size)
    root = TREE.root(size)
    lh = TREE.leaf_hash_at(index)
    assert proof == ref_path(index, 0, size)
    assert verify_inclusion(lh, index, size, proof, root)

    assert not verify_inclusion(flip(lh, position, mask), index, size, proof, root)
    assert not verify_inclusion(lh, index, size, proof, flip(root, position, mask))
    if proof:
        j = position % len(proof)
        bad = [*proof[:j], flip(proof[j], position // 32, mask), *proof[j + 1 :]]
        assert not verify_inclusion(lh, index, size, bad, root)
        assert not verify_inclusion(lh, index, size, proof[:-1], root)
    assert not verify_inclusion(lh, index, size, [*proof, root], root)

    # A leaf has one position in a tree of a given size: any other index fails.
    if other_index != index:
        assert not verify_inclusion(lh, other_index, size, proof, root)
    # A different size fails unless its audit path has exactly the same shape (the verifier
    # can only learn the size through the root; see test_size_is_only_bound_through_the_root).
    if other_size != size:
        expected = ref_verify_inclusion(lh, index, other_size, proof, root)
        assert verify_inclusion(lh, index, other_size, proof, root) is expected


@PROPERTY
@given(
    sizes=two_sizes(),
    position=st.integers(0, 10_000),
    mask=st.integers(1, 255),
    other_first=st.integers(0, 2 * len(LEAVES)),
    other_second=st.integers(0, 2 * len(LEAVES)),
)
def test_consistency_property(
    sizes: tuple[int, int], position: int, mask: int, other_first: int, other_second: int
) -> None:
    first, second = sizes
    proof = TREE.consistency_proof(first, second)
    root1, root2 = TREE.root(first), TREE.root(second)
    assert proof == ref_consistency(first, second)
    assert verify_consistency(first, second, root1, root2, proof)
    assert ref_verify_consistency(first, second, root1, root2, proof)

    assert not verify_consistency(first, second, flip(root1, position, mask), root2, proof)
    if first > 0:
        # For first == 0 nothing ties the new root to the (empty) old tree.
        assert not verify_consistency(first, second, root1, flip(root2, position, mask), proof)
    assert not verify_consistency(first, second, root1, root2, [*proof, root2])
    if proof:
        j = position % len(proof)
        bad = [*proof[:j], flip(proof[j], position // 32, mask), *proof[j + 1 :]]
        assert not verify_consistency(first, second, root1, root2, bad)
        assert not verify_consistency(first, second, root1, root2, proof[:-1])
        assert not verify_consistency(first, second, root2, root1, proof)

    # Other sizes: the verifier agrees with the independent recursive reference verifier,
    # which in particular rejects every proof whose length or shape does not fit.
    for f, s in ((other_first, second), (first, other_second), (other_first, other_second)):
        if (f, s) != (first, second):
            expected = ref_verify_consistency(f, s, root1, root2, proof)
            assert verify_consistency(f, s, root1, root2, proof) is expected


def test_size_is_only_bound_through_the_root() -> None:
    # The audit path of leaf 0 in a 3-leaf tree has the same shape as in a 4-leaf tree, so it
    # also "verifies" as size 4 against the 3-leaf root. RFC 6962 relies on the signed tree head
    # binding size and root together; the ledger must do the same.
    tree = rfc_tree()
    proof = tree.inclusion_proof(0, 3)
    lh = tree.leaf_hash_at(0)
    assert verify_inclusion(lh, 0, 4, proof, RFC_ROOTS[3])
    assert not verify_inclusion(lh, 0, 4, proof, RFC_ROOTS[4])


# ---------------------------------------------------------------------------------------------
# Rebuilding from stored leaf hashes
# ---------------------------------------------------------------------------------------------


def test_rebuild_matches_incremental() -> None:
    rebuilt = MerkleTree(TREE.leaf_hash_at(i) for i in range(TREE.size))
    assert rebuilt.size == TREE.size
    for n in range(TREE.size + 1):
        assert rebuilt.root(n) == TREE.root(n)
    for size in (1, 2, 7, 64, 65, 129, 255, 300):
        for index in range(0, size, 7):
            assert rebuilt.inclusion_proof(index, size) == TREE.inclusion_proof(index, size)
        for first in range(0, size + 1, 5):
            assert rebuilt.consistency_proof(first, size) == TREE.consistency_proof(first, size)
    # The bulk build stores exactly the nodes that appending would have stored.
    assert rebuilt._levels == TREE._levels


def test_rebuild_every_small_size_then_keep_appending() -> None:
    for n in range(70):
        incremental = MerkleTree()
        for data in LEAF_DATA[:n]:
            incremental.append(data)
        rebuilt = MerkleTree(LEAVES[:n])
        assert rebuilt._levels == incremental._levels
        assert rebuilt.append_leaf_hash(LEAVES[n]) == n
        assert incremental.append(LEAF_DATA[n]) == n
        assert rebuilt.root() == incremental.root() == ref_mth(0, n + 1)


def test_rebuild_rejects_bad_hashes() -> None:
    with pytest.raises(ValueError, match="leaf hash #1"):
        MerkleTree([LEAVES[0], b"short"])
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree().append_leaf_hash(b"\x00" * 31)


# ---------------------------------------------------------------------------------------------
# Errors in generation, garbage in verification
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 0), (1, 1), (5, 5), (6, 5), (-1, 5), (0, 9), (0, -1)],
)
def test_inclusion_proof_out_of_range(index: int, size: int) -> None:
    tree = rfc_tree()  # 8 leaves
    with pytest.raises(ProofError, match="out of range"):
        tree.inclusion_proof(index, size)


@pytest.mark.parametrize(
    ("first", "second"),
    [(5, 4), (9, 8), (0, 9), (-1, 3), (3, -1), (9, 9)],
)
def test_consistency_proof_out_of_range(first: int, second: int) -> None:
    tree = rfc_tree()
    with pytest.raises(ProofError, match="out of range"):
        tree.consistency_proof(first, second)


def test_trivial_consistency_proofs_are_empty() -> None:
    tree = rfc_tree()
    for n in range(9):
        assert tree.consistency_proof(0, n) == []
        assert tree.consistency_proof(n, n) == []


def test_root_and_leaf_out_of_range() -> None:
    tree = rfc_tree()
    with pytest.raises(ProofError):
        tree.root(9)
    with pytest.raises(ProofError):
        tree.root(-1)
    with pytest.raises(ProofError):
        tree.leaf_hash_at(8)
    with pytest.raises(ProofError):
        tree.leaf_hash_at(-1)
    assert issubclass(ProofError, ValueError)


def test_verify_inclusion_garbage_returns_false() -> None:
    lh, root = leaf_hash(b"x"), leaf_hash(b"x")
    assert verify_inclusion(lh, 0, 1, [], root)
    bad_calls: list[tuple[Any, ...]] = [
        (lh, 0, 0, [], root),
        (lh, 1, 1, [], root),
        (lh, -1, 1, [], root),
        (lh, 0, -1, [], root),
        (lh, 0, 1, [], b""),
        (b"", 0, 1, [], root),
        (lh[:31], 0, 1, [], root),
        (lh, 0, 1, [lh], root),
        (lh, 0, 2, [b"short"], root),
        (lh, 0, 2, [None], root),
        (lh, 0, 2, None, root),
        (None, 0, 1, [], root),
        (lh, "0", 1, [], root),
        (lh, 0, True, [], root),
        (lh, 0, 2**70, [lh] * 100, root),
    ]
    for args in bad_calls:
        assert verify_inclusion(*args) is False, args


def test_verify_consistency_edge_cases() -> None:
    r1, r2 = RFC_ROOTS[1], RFC_ROOTS[2]
    # first == second: empty proof and equal roots.
    assert verify_consistency(1, 1, r1, r1, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r1, [r1])
    # first == 0: empty proof, and the old root must be the empty-tree root.
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r2, [])
    assert not verify_consistency(0, 0, r1, r1, [])
    assert not verify_consistency(0, 5, r1, r2, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, r2, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    # Sizes going backwards, empty proof for a real extension.
    assert not verify_consistency(1, 0, r1, r2, [])
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, r1, r2, [])
    bad_calls: list[tuple[Any, ...]] = [
        (1, 2, r1, r2, [b"short"]),
        (1, 2, r1, r2, [None]),
        (1, 2, r1, r2, None),
        (1, 2, b"", r2, [leaf_hash(b"\x00")]),
        (1, 2, r1, r2[:16], [leaf_hash(b"\x00")]),
        (-1, 2, r1, r2, []),
        (1, "2", r1, r2, []),
        (1, 2**70, r1, r2, [r1] * 100),
    ]
    for args in bad_calls:
        assert verify_consistency(*args) is False, args
    # The genuine proof for 1 -> 2 is the second leaf hash.
    assert verify_consistency(1, 2, r1, r2, [leaf_hash(RFC_LEAVES[1])])
