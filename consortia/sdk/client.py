"""A synchronous client of a node's HTTP API (httpx)."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import msgspec

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.ledger.tx import DeviceCredential, SignedTx, Tx, encode_signed, sign

DEFAULT_VALID_FOR_MS = 120_000


class ConsortiaError(Exception):
    """The node refused a request: ``code`` and ``message`` come from its error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def build_tx(key: SigningKey, chain_id: str, kind: str, payload: dict[str, Any], *,
             valid_for_ms: int = DEFAULT_VALID_FOR_MS, now_ms: int | None = None,
             nonce: int | None = None, device: DeviceCredential | None = None) -> SignedTx:
    """A signed tx. ``nonce`` defaults to a random 63-bit number so equal payloads differ."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    tx = Tx(chain_id=chain_id, kind=kind, payload=payload, signer=key.public_key_hex,
            nonce=int.from_bytes(os.urandom(8), "big") >> 1 if nonce is None else nonce,
            valid_until_ms=now + valid_for_ms, device=device)
    return sign(tx, key)


def encode_batch(stxs: list[SignedTx] | list[bytes]) -> bytes:
    """The msgpack list a batch is sent as; already encoded txs are embedded as they are."""
    return msgspec.msgpack.encode(
        [msgspec.Raw(s) if isinstance(s, bytes) else s for s in stxs])


def tx_id_of(stx: SignedTx) -> str:
    from consortia.ledger.tx import Envelope

    return Envelope(stx).tx_id.hex()


class Client:
    """``Client(url)``; pin the node key you trust with ``node_key`` to verify receipts."""

    def __init__(self, url: str, *, node_key: str | None = None, timeout_s: float = 30.0,
                 ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._info: dict[str, Any] | None = None
        self.node_key = node_key

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
                code, message = body.get("code", "http_error"), body.get("message", "")
            except ValueError:
                code, message = "http_error", response.text[:200]
            raise ConsortiaError(response.status_code, code, message)
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self.http.get(path, params=params))

    # -- chain -----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self.get("/v1/chain")
        return self._info

    @property
    def chain_id(self) -> str:
        chain_id: str = self.info()["chain_id"]
        return chain_id

    def sth(self) -> dict[str, Any]:
        sth: dict[str, Any] = self.get("/v1/sth")
        return sth

    # -- transactions ----------------------------------------------------------------------

    def build(self, key: SigningKey, kind: str, payload: dict[str, Any], **kw: Any) -> SignedTx:
        return build_tx(key, self.chain_id, kind, payload, **kw)

    def submit(self, stx: SignedTx, *, wait_ms: int = 0) -> dict[str, Any]:
        """Submit one tx; with ``wait_ms`` wait for its execution and return its status."""
        response = self.http.post("/v1/tx", content=encode_signed(stx),
                                  params={"wait_ms": wait_ms},
                                  headers={"content-type": "application/msgpack"})
        status: dict[str, Any] = self._json(response)
        return status

    def submit_many(self, stxs: list[SignedTx] | list[bytes], *, wait_ms: int = 0,
                    ) -> list[dict[str, Any]]:
        """Submit a batch, all or none."""
        response = self.http.post("/v1/txs", content=encode_batch(stxs),
                                  params={"wait_ms": wait_ms},
                                  headers={"content-type": "application/msgpack"})
        txs: list[dict[str, Any]] = self._json(response)["txs"]
        return txs

    def tx(self, tx_id: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(f"/v1/tx/{tx_id}")
        return status

    def wait(self, tx_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """Poll until the tx is executed; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout_s
        delay_s = 0.02
        while True:
            try:
                status = self.tx(tx_id)
                if status["status"] == "committed":
                    return status
            except ConsortiaError as exc:
                if exc.code != "unknown_tx":
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"tx {tx_id} not executed within {timeout_s} s")
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.5)

    def receipt(self, tx_id: str) -> dict[str, Any]:
        receipt: dict[str, Any] = self.get(f"/v1/tx/{tx_id}/receipt")
        return receipt

    def verify(self, receipt: dict[str, Any], node_key: str | None = None) -> None:
        """Verify offline against the pinned node key; ReceiptError says what failed."""
        key = node_key or self.node_key
        if key is None:
            raise ReceiptError("no node key pinned: pass node_key to trust")
        verify_receipt(receipt, bytes.fromhex(key))

    def send(self, key: SigningKey, kind: str, payload: dict[str, Any],
             timeout_s: float = 30.0, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Build, sign, submit, wait, fetch the receipt and verify it: (result, receipt).

        Without a pinned node key, the node's own key (from /v1/chain) is used.
        """
        stx = self.build(key, kind, payload, **kw)
        status = self.submit(stx, wait_ms=int(timeout_s * 1000))
        if status["status"] != "committed":
            status = self.wait(status["tx_id"], timeout_s)
        receipt = self.receipt(status["tx_id"])
        self.verify(receipt, self.node_key or self.info()["node_key"])
        result: dict[str, Any] = receipt["result"]
        return result, receipt
