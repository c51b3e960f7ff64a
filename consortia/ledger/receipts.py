"""Signed tree heads and receipts: the offline proof of every executed transaction.

See docs/receipts.md for the format; ``verify_receipt`` is the reference verifier.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from consortia.crypto.keys import SigningKey, verify
from consortia.crypto.merkle import leaf_hash, verify_inclusion
from consortia.ledger.result import result_digest

STH_DOMAIN = b"consortia/sth/v1"
U64_LIMIT = 2**64


class SignedTreeHead(msgspec.Struct, frozen=True):
    tree_size: int
    root_hash: bytes
    height: int
    time_ms: int
    signature: bytes
    node_key: bytes

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "height": self.height,
            "time_ms": self.time_ms,
            "signature": self.signature.hex(),
            "node_key": self.node_key.hex(),
        }


def sth_message(tree_size: int, root_hash: bytes, height: int, time_ms: int) -> bytes:
    """``b"consortia/sth/v1" ‖ tree_size ‖ root_hash ‖ height ‖ time_ms`` (u64 big-endian)."""
    return STH_DOMAIN + struct.pack(">Q", tree_size) + root_hash + struct.pack(
        ">QQ", height, time_ms
    )


def sign_tree_head(key: SigningKey, tree_size: int, root_hash: bytes, height: int,
                   time_ms: int) -> SignedTreeHead:
    signature = key.sign(sth_message(tree_size, root_hash, height, time_ms))
    return SignedTreeHead(tree_size, root_hash, height, time_ms, signature, key.public_key)


class ReceiptError(ValueError):
    """A receipt that does not verify; the message says which check failed."""


def _hex(receipt: dict[str, Any], *path: str, size: int | None = None) -> bytes:
    value: Any = receipt
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise ReceiptError(f"receipt has no field {'.'.join(path)}")
        value = value[name]
    if not isinstance(value, str):
        raise ReceiptError(f"{'.'.join(path)} is not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ReceiptError(f"{'.'.join(path)} is not hex") from None
    if size is not None and len(raw) != size:
        raise ReceiptError(f"{'.'.join(path)} must be {size} bytes")
    return raw


def _int(receipt: dict[str, Any], *path: str) -> int:
    value: Any = receipt
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise ReceiptError(f"receipt has no field {'.'.join(path)}")
        value = value[name]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < U64_LIMIT:
        raise ReceiptError(f"{'.'.join(path)} is not an integer in 0..2^64-1")
    return value


def verify_receipt(receipt: Any, node_key: bytes) -> None:
    """Check a receipt against a node's public key alone; raise ReceiptError saying what failed.

    Checks, in order: the leaf is tx_id ‖ digest(result); the signed tree head is signed by
    ``node_key``; tree size and root agree with the tree head; the audit path leads from the
    leaf to the root.
    """
    if not isinstance(receipt, dict):
        raise ReceiptError("receipt is not a JSON object")
    tx_id = _hex(receipt, "tx_id", size=32)
    leaf = _hex(receipt, "leaf", size=64)
    if leaf[:32] != tx_id:
        raise ReceiptError("leaf does not start with tx_id")
    result = receipt.get("result")
    if not isinstance(result, dict):
        raise ReceiptError("receipt has no result object")
    try:
        digest = result_digest(result)
    except (TypeError, ValueError, msgspec.EncodeError):
        raise ReceiptError("result cannot be encoded canonically") from None
    if leaf[32:] != digest:
        raise ReceiptError("result does not match the leaf (result digest differs)")
    sth_size = _int(receipt, "signed_tree_head", "tree_size")
    sth_root = _hex(receipt, "signed_tree_head", "root_hash", size=32)
    height = _int(receipt, "signed_tree_head", "height")
    time_ms = _int(receipt, "signed_tree_head", "time_ms")
    signature = _hex(receipt, "signed_tree_head", "signature", size=64)
    sth_key = _hex(receipt, "signed_tree_head", "node_key", size=32)
    if sth_key != node_key:
        raise ReceiptError("signed tree head is from another node key")
    if not verify(node_key, sth_message(sth_size, sth_root, height, time_ms), signature):
        raise ReceiptError("signed tree head signature is invalid")
    tree_size = _int(receipt, "tree_size")
    root_hash = _hex(receipt, "root_hash", size=32)
    if tree_size != sth_size or root_hash != sth_root:
        raise ReceiptError("tree_size/root_hash differ from the signed tree head")
    leaf_index = _int(receipt, "leaf_index")
    path_hex = receipt.get("audit_path")
    if not isinstance(path_hex, list) or not all(isinstance(p, str) for p in path_hex):
        raise ReceiptError("audit_path is not a list of hex strings")
    try:
        path = [bytes.fromhex(p) for p in path_hex]
    except ValueError:
        raise ReceiptError("audit_path is not hex") from None
    if not verify_inclusion(leaf_hash(leaf), leaf_index, tree_size, path, root_hash):
        raise ReceiptError("audit path does not lead to the signed root (inclusion proof fails)")

