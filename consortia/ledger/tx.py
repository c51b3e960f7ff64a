"""The transaction envelope: canonical encoding, domain-separated signature, tx id.

Wire forms (JSON for people, msgpack for bulk) are the same map::

    {"tx": {"chain_id", "kind", "payload", "signer", "nonce", "valid_until_ms", "device"},
     "signature": "<128 hex>"}

The signed message is ``b"consortia/tx/v1" ‖ len(chain_id) (u8) ‖ chain_id ‖ msgpack(tx)`` where
msgpack(tx) encodes the map with its keys sorted (msgspec ``order="sorted"``). ``tx_id`` is the
SHA-256 of that message, so it names the transaction, not one signature of it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from consortia.crypto.hashing import sha256
from consortia.crypto.keys import SigningKey, verify

TX_DOMAIN = b"consortia/tx/v1"
KIND_BYTES_MAX = 64
CHAIN_ID_BYTES_MAX = 64

_canonical = msgspec.msgpack.Encoder(order="sorted")
_encoder = msgspec.msgpack.Encoder()


class DeviceCredential(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A device's key bound by its vendor to a certified product (checked by certification)."""

    device_key: str
    product_id: str
    model: str
    version: str
    vendor_key: str
    signature: str


class Tx(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a participant signs. ``payload`` holds JSON-compatible values only."""

    chain_id: str
    kind: str
    payload: dict[str, Any]
    signer: str
    nonce: int
    valid_until_ms: int
    device: DeviceCredential | None = None


class SignedTx(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tx: Tx
    signature: str


class MalformedTx(ValueError):
    """The bytes are not a well-formed signed transaction."""


_decode_msgpack = msgspec.msgpack.Decoder(SignedTx).decode
_decode_json = msgspec.json.Decoder(SignedTx).decode


def signing_message(tx: Tx) -> bytes:
    """The exact bytes a signer signs (see the module docstring)."""
    chain = tx.chain_id.encode()
    return TX_DOMAIN + bytes([len(chain)]) + chain + _canonical.encode(tx)


def sign(tx: Tx, key: SigningKey) -> SignedTx:
    """Sign ``tx`` with ``key``; the tx's ``signer`` must be that key."""
    if tx.signer != key.public_key_hex:
        raise ValueError("tx.signer is not the signing key's public key")
    return SignedTx(tx=tx, signature=key.sign(signing_message(tx)).hex())


class Envelope:
    """A decoded signed transaction with its raw bytes, id and signature check.

    Built once at the edge (API or orderer) and carried through mempool, orderer and executor
    so that nothing is decoded or hashed twice on the hot path.
    """

    __slots__ = ("message", "raw", "signature_ok", "stx", "tx_id")

    def __init__(self, stx: SignedTx, raw: bytes | None = None) -> None:
        tx = stx.tx
        if not 0 < len(tx.chain_id.encode()) <= CHAIN_ID_BYTES_MAX:
            raise MalformedTx(f"chain_id must be 1 to {CHAIN_ID_BYTES_MAX} bytes")
        if not 0 < len(tx.kind) <= KIND_BYTES_MAX or "." not in tx.kind:
            raise MalformedTx("kind must look like 'module.action'")
        self.stx = stx
        try:
            self.raw: bytes = raw if raw is not None else _encoder.encode(stx)
            self.message: bytes = signing_message(tx)
        except OverflowError:
            raise MalformedTx("integers must fit in 64 bits") from None
        self.tx_id: bytes = sha256(self.message)
        self.signature_ok: bool | None = None

    @classmethod
    def from_msgpack(cls, raw: bytes) -> Envelope:
        try:
            return cls(_decode_msgpack(raw), raw)
        except msgspec.DecodeError as exc:
            raise MalformedTx(f"malformed transaction: {exc}") from None

    @classmethod
    def from_json(cls, body: bytes) -> Envelope:
        try:
            return cls(_decode_json(body))
        except msgspec.DecodeError as exc:
            raise MalformedTx(f"malformed transaction: {exc}") from None

    @property
    def tx(self) -> Tx:
        return self.stx.tx

    def verify_signature(self) -> bool:
        """Check the signature once; the answer is cached on the envelope."""
        if self.signature_ok is None:
            try:
                public_key = bytes.fromhex(self.stx.tx.signer)
                signature = bytes.fromhex(self.stx.signature)
            except ValueError:
                self.signature_ok = False
            else:
                self.signature_ok = verify(public_key, self.message, signature)
        return self.signature_ok


def encode_signed(stx: SignedTx) -> bytes:
    """The msgpack wire form of a signed transaction."""
    return _encoder.encode(stx)
