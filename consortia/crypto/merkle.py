"""RFC 6962 / RFC 9162 Merkle tree for the append-only ledger log.

Hashing (RFC 9162 section 2.1.1)::

    leaf  = SHA-256(0x00 || data)
    node  = SHA-256(0x01 || left || right)
    empty = SHA-256(b"")

The tree keeps the hash of every complete, aligned perfect subtree, level by level:
``levels[0]`` holds the leaf hashes and ``levels[k][i]`` is the hash over leaves
``[i * 2**k, (i + 1) * 2**k)``. A subtree that is complete in the current tree is complete in
every later one, so those hashes never change and can be filled in as leaves arrive (amortised
one node hash per append). Any RFC 6962 subtree over ``[start, end)`` decomposes into at most
``log2(n)`` of those stored perfect subtrees, so roots of past sizes and proofs cost O(log n)
hashes rather than O(n). The stored levels take about twice the memory of the leaf hashes.

Tree sizes are not authenticated by the proofs alone: a verifier trusts the ``size`` it is given
and only checks that the proof leads to ``root``. Callers must take the size and the root from the
same signed tree head.

``MerkleTree`` is not thread-safe; the ledger serialises appends on its commit path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""Root of the tree with no leaves: SHA-256 of the empty string (RFC 9162 section 2.1.1)."""


class ProofError(ValueError):
    """Raised when a root or proof is requested for arguments outside the tree."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash of ``data``: SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    # One concatenation and one hashlib call measures faster than update() per part.
    return _sha256(_NODE_PREFIX + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    # bool is an int subclass; a True/False tree size is a caller bug, not a size.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2): the RFC 6962 split point k."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 Merkle tree that can produce roots and proofs for any past size."""

    __slots__ = ("_levels", "_root")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Build a tree whose leaves have the given (already computed) leaf hashes, in order.

        This is how a node rebuilds the tree from the leaf hashes it stored; it does not re-hash
        the leaf data. Raises ``ValueError`` if any hash is not 32 bytes.
        """
        leaves: list[bytes] = []
        for position, h in enumerate(leaf_hashes):
            if not _is_hash(h):
                raise ValueError(f"leaf hash #{position} is not a {HASH_SIZE}-byte hash")
            leaves.append(bytes(h))
        self._levels: list[list[bytes]] = [leaves]
        # Build level by level in bulk: much faster than replaying append() for millions of
        # leaves, and it yields exactly the same perfect-subtree hashes.
        below = leaves
        while len(below) >= 2:
            prefix = _NODE_PREFIX
            above = [
                _sha256(prefix + below[i] + below[i + 1]).digest()
                for i in range(0, len(below) - 1, 2)
            ]
            self._levels.append(above)
            below = above
        self._root: bytes | None = None

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return len(self._levels[0])

    def append(self, data: bytes) -> int:
        """Hash ``data`` as a leaf, append it, and return its index."""
        return self._push(_sha256(_LEAF_PREFIX + data).digest())

    def append_leaf_hash(self, h: bytes) -> int:
        """Append an already computed leaf hash and return its index.

        Raises ``ValueError`` if ``h`` is not 32 bytes.
        """
        if not _is_hash(h):
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        return self._push(bytes(h))

    def _push(self, h: bytes) -> int:
        levels = self._levels
        index = len(levels[0])
        levels[0].append(h)
        self._root = None
        # Each trailing 1 bit of the new leaf's index closes one more perfect subtree: hash it
        # with its stored left sibling and carry upwards, like incrementing a binary counter.
        i = index
        level = 0
        node = h
        while i & 1:
            node = _sha256(_NODE_PREFIX + levels[level][i - 1] + node).digest()
            level += 1
            i >>= 1
            if level == len(levels):
                levels.append([])
            levels[level].append(node)
        return index

    def leaf_hash_at(self, index: int) -> bytes:
        """Return the leaf hash stored at ``index``.

        Raises ``ProofError`` if there is no such leaf (negative indices are not accepted).
        """
        if not _is_count(index) or index >= self.size:
            raise ProofError(f"leaf index {index!r} out of range for tree size {self.size}")
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the first ``size`` leaves (default: the whole tree).

        The root of the whole tree is cached until the next append. Raises ``ProofError`` if
        ``size`` is negative or larger than the tree.
        """
        if size is None or size == self.size:
            if self._root is None:
                self._root = self._subtree_hash(0, self.size)
            return self._root
        self._check_size(size, "size")
        return self._subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the audit path PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1.

        Hashes are ordered from the leaf's sibling up to the child of the root. Raises
        ``ProofError`` unless ``0 <= index < size <= self.size``.
        """
        self._check_size(size, "size")
        if not _is_count(index) or index >= size:
            raise ProofError(f"leaf index {index!r} out of range for tree size {size}")
        # Walk the RFC recursion top-down and reverse at the end, since PATH lists the
        # deepest sibling first.
        path: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = _split(end - start)
            if m < k:
                path.append(self._subtree_hash(start + k, end))
                end = start + k
            else:
                path.append(self._subtree_hash(start, start + k))
                start += k
                m -= k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Return the consistency proof PROOF(first, D[0:second]) of RFC 9162 section 2.1.4.1.

        ``first == 0`` and ``first == second`` give an empty proof: the empty tree is a prefix of
        every tree and a tree is trivially consistent with itself. Raises ``ProofError`` unless
        ``0 <= first <= second <= self.size``.
        """
        self._check_size(second, "second")
        if not _is_count(first) or first > second:
            raise ProofError(f"first size {first!r} out of range: must be 0 <= first <= {second}")
        if first == 0 or first == second:
            return []
        # SUBPROOF(m, D[start:end], b) = SUBPROOF(inner) + [sibling]: collect the siblings
        # top-down and emit them bottom-up after the innermost node (if any).
        siblings: list[bytes] = []
        start, end, m = 0, second, first
        whole_old_tree = True  # the b flag: is the current subtree the entire old tree?
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                siblings.append(self._subtree_hash(start + k, end))
                end = start + k
            else:
                siblings.append(self._subtree_hash(start, start + k))
                start += k
                m -= k
                whole_old_tree = False
        proof = [] if whole_old_tree else [self._subtree_hash(start, end)]
        proof.extend(reversed(siblings))
        return proof

    def _check_size(self, size: int, name: str) -> None:
        if not _is_count(size) or size > self.size:
            raise ProofError(f"{name} {size!r} out of range: tree has {self.size} leaves")

    def _subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]), for ranges that occur in the RFC recursion.

        Such a range starts at a multiple of the largest power of two not above its length, so it
        splits into stored perfect subtrees of strictly decreasing size; RFC 6962 nests them as
        node(P0, node(P1, ...)), hence the right-to-left fold.
        """
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        levels = self._levels
        pieces: list[bytes] = []
        while n:
            level = n.bit_length() - 1
            pieces.append(levels[level][start >> level])
            start += 1 << level
            n -= 1 << level
        h = pieces.pop()
        while pieces:
            h = _sha256(_NODE_PREFIX + pieces.pop() + h).digest()
        return h


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an audit path with the algorithm of RFC 9162 section 2.1.3.2.

    Returns True iff ``proof`` shows that the leaf with hash ``leaf_hash`` sits at ``index`` in
    the tree of ``size`` leaves whose root is ``root``. Never raises: malformed input (hashes that
    are not 32 bytes, ``index >= size``, a proof of the wrong length) yields False.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_count(index) and _is_count(size)):
        return False
    if index >= size:
        return False
    try:
        elements = list(proof)
    except TypeError:
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in elements:
        if sn == 0 or not _is_hash(p):
            return False
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                # The node is the last one on its level with no right sibling: it moves up
                # unchanged until it becomes a right child (or reaches the left edge).
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof with the algorithm of RFC 9162 section 2.1.4.2.

    Returns True iff ``proof`` shows that the tree of ``first`` leaves with root ``first_root``
    is a prefix of the tree of ``second`` leaves with root ``second_root``. Never raises:
    malformed input yields False.

    Edge cases, which RFC 9162 leaves outside its ``0 < first < second`` algorithm:

    * ``first == second``: accepted only with an empty proof and equal roots.
    * ``first == 0``: the empty tree is a prefix of every tree, so nothing needs proving; it is
      accepted only with an empty proof, and only if ``first_root`` is ``EMPTY_ROOT`` (any other
      value cannot be the root of an empty tree, so the claim it comes with is false).
    """
    if not (_is_count(first) and _is_count(second) and first <= second):
        return False
    if not (_is_hash(first_root) and _is_hash(second_root)):
        return False
    try:
        elements = list(proof)
    except TypeError:
        return False
    if first == 0:
        # For second == 0 as well, the first == second rule then also requires equal roots.
        return (
            not elements and first_root == EMPTY_ROOT and (second > 0 or second_root == EMPTY_ROOT)
        )
    if first == second:
        return not elements and first_root == second_root
    if not elements or not all(_is_hash(c) for c in elements):
        return False
    if first & (first - 1) == 0:
        # An old tree of power-of-two size is itself a node of the new tree, so the proof
        # omits it and the verifier supplies it.
        elements.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(elements[0])
    for c in elements[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
