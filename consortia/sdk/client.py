"""A synchronous client of a node's HTTP API (httpx)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec

from consortia.api.request_signing import sign_request
from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.ledger.tx import DeviceCredential, SignedTx, Tx, encode_signed, sign
from consortia.node.agreement import BadTreeHead, tree_head_from_json

DEFAULT_VALID_FOR_MS = 120_000
# Txs per POST /v1/txs in send_many; a node takes at most submit_txs_max (default 10,000).
SEND_MANY_BATCH_TXS = 2_000
# receipt_agreed polls a node that has not reached the receipt's height yet: first after this,
# doubling up to the max.
AGREED_POLL_MS_FIRST = 50
AGREED_POLL_MS_MAX = 500


class ConsortiaError(Exception):
    """The node refused a request: ``code`` and ``message`` come from its error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AgreementError(ReceiptError):
    """Fewer than k nodes showed the receipt's tree head, so the receipt is not accepted.

    A ReceiptError: code that treats a receipt failing verification as unproven treats this
    one the same way. ``agreed`` lists the nodes (url, node_id, node_key) that showed the same
    tree size and root; ``disagreed``, ``unreachable`` and ``not_counted`` (unknown keys, the
    same node twice, a node still behind at the deadline) map a URL to the reason.
    """

    def __init__(self, message: str, *, k: int, agreed: list[dict[str, str]],
                 disagreed: dict[str, str], unreachable: dict[str, str],
                 not_counted: dict[str, str]) -> None:
        super().__init__(message)
        self.k = k
        self.agreed = agreed
        self.disagreed = disagreed
        self.unreachable = unreachable
        self.not_counted = not_counted


class _Behind(Exception):
    """The node has no block at the height asked for yet."""


class _Disagrees(ValueError):
    """The node answered, and what it answered does not match the receipt."""


class _NotCounted(ValueError):
    """The node answered but cannot count towards k (its key is not an active node)."""


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
    """``Client(url)``; pin the node key you trust with ``node_key`` to verify receipts.

    With ``key``, every GET is signed as that key (``consortia.api.auth``), so private reads
    (a wallet, its statement, a private tx's content) answer for whoever holds it.
    """

    def __init__(self, url: str, key: SigningKey | None = None, *, node_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._info: dict[str, Any] | None = None
        self.node_key = node_key
        self.key = key

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

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        """GET, signed when the client has a key: over the path and query exactly as sent."""
        request = self.http.build_request(
            "GET", path, params={k: v for k, v in params.items() if v is not None})
        if self.key is not None:
            query = request.url.query.decode()
            signed = request.url.path + (f"?{query}" if query else "")
            request.headers.update(sign_request(self.key, "GET", signed))
        return self.http.send(request)

    def get(self, path: str, **params: Any) -> Any:
        """GET JSON; parameters whose value is None are left out."""
        return self._json(self._get(path, params))

    def get_text(self, path: str, **params: Any) -> str:
        """GET a text body (a CSV statement, say); errors raise ConsortiaError as ``get``."""
        response = self._get(path, params)
        if response.status_code >= 400:
            self._json(response)
        return response.text

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

    def receipt_agreed(self, tx_id: str, peers: Sequence[str | Client], k: int,
                       timeout_s: float = 10.0) -> dict[str, Any]:
        """The receipt of ``tx_id``, accepted only when at least ``k`` nodes (this one
        included) show the same tree size and root at the receipt's height.

        One node's signature proves what that node says; k nodes of different operators saying
        the same proves the consortium's ledger says it. The receipt is verified against this
        node's key (pinned, or as published); each peer's tree head at the receipt's height is
        verified against the key the peer publishes in /v1/chain, and a node counts only if its
        key is an active node in this node's governance (/v1/governance/nodes), and only once
        however many URLs lead to it. A peer not yet at that height is asked again until
        ``timeout_s``. Peers given as URLs get a client of their own, closed before returning.

        Returns {"receipt", "height", "tree_size", "root_hash", "agreed", "disagreed",
        "unreachable", "not_counted"}; raises AgreementError (a ReceiptError) below ``k``.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        deadline = time.monotonic() + timeout_s
        receipt = self.receipt(tx_id)
        own_key = self.node_key or self.info()["node_key"]
        self.verify(receipt, own_key)
        head = receipt["signed_tree_head"]
        height: int = head["height"]
        info = self.info()  # chain_id and genesis_hash: what every peer must match
        active = {n["key"]: n["id"] for n in self.get("/v1/governance/nodes")["nodes"]
                  if n["status"] == "active"}
        agreed: list[dict[str, str]] = []
        disagreed: dict[str, str] = {}
        unreachable: dict[str, str] = {}
        not_counted: dict[str, str] = {}
        if own_key in active:
            agreed.append({"url": self.url, "node_id": active[own_key], "node_key": own_key})
        else:
            not_counted[self.url] = "this node's key is not an active node in its governance"
        owned = [Client(p, timeout_s=timeout_s) for p in peers if isinstance(p, str)]
        mine = iter(owned)
        pending = [p if isinstance(p, Client) else next(mine) for p in peers]
        poll_ms = AGREED_POLL_MS_FIRST
        try:
            while pending and len(agreed) < k:
                # Nobody behind could lift the count to k: the answer is already known.
                if len(agreed) + len(pending) < k:
                    break
                behind: list[Client] = []
                for peer in pending:
                    remaining_s = deadline - time.monotonic()
                    if remaining_s <= 0:
                        behind.append(peer)
                        continue
                    try:
                        key = peer._tree_head_agrees(head, info, active, remaining_s)
                    except _Behind:
                        behind.append(peer)
                        continue
                    except _Disagrees as exc:
                        disagreed[peer.url] = str(exc)
                        continue
                    except _NotCounted as exc:
                        not_counted[peer.url] = str(exc)
                        continue
                    except (httpx.HTTPError, ConsortiaError, ValueError, KeyError,
                            TypeError) as exc:  # no answer, an error, or not our API
                        unreachable[peer.url] = f"{exc.__class__.__name__}: {exc}"
                        continue
                    same = next((a for a in agreed if a["node_key"] == key), None)
                    if same is not None:
                        not_counted[peer.url] = f"the same node as {same['url']}"
                    else:
                        agreed.append({"url": peer.url, "node_id": active[key],
                                       "node_key": key})
                pending = behind
                if not pending or len(agreed) >= k or time.monotonic() >= deadline:
                    break
                time.sleep(min(poll_ms / 1000, max(0.0, deadline - time.monotonic())))
                poll_ms = min(poll_ms * 2, AGREED_POLL_MS_MAX)
        finally:
            for client in owned:
                client.close()
        for peer in pending:
            not_counted[peer.url] = f"no block at height {height} yet when the check ended"
        outcome: dict[str, Any] = {
            "receipt": receipt, "height": height, "tree_size": head["tree_size"],
            "root_hash": head["root_hash"], "agreed": agreed, "disagreed": disagreed,
            "unreachable": unreachable, "not_counted": not_counted}
        if len(agreed) < k:
            parts = [f"receipt of tx {tx_id} at height {height}: {len(agreed)} node(s) agree "
                     f"({', '.join(a['url'] for a in agreed) or 'none'}), {k} required"]
            for label, found in (("disagreed", disagreed), ("unreachable", unreachable),
                                 ("not counted", not_counted)):
                if found:
                    parts.append(f"{label}: " + "; ".join(f"{u} ({r})" for u, r in found.items()))
            raise AgreementError(". ".join(parts), k=k, agreed=agreed, disagreed=disagreed,
                                 unreachable=unreachable, not_counted=not_counted)
        return outcome

    def _tree_head_agrees(self, head: dict[str, Any], info: dict[str, Any],
                          active: dict[str, str], timeout_s: float) -> str:
        """This node's key, when its tree head at ``head``'s height is ``head``'s tree size
        and root, signed by that key. _Behind, _Disagrees, _NotCounted otherwise (or the
        transport's errors when it does not answer properly)."""
        mine = self._json(self.http.get("/v1/chain", timeout=timeout_s))
        if (mine.get("chain_id"), mine.get("genesis_hash")) != (info["chain_id"],
                                                                 info["genesis_hash"]):
            raise _Disagrees(f"runs chain {mine.get('chain_id')!r} with another genesis")
        key: str = mine["node_key"]
        if self.node_key is not None and self.node_key != key:
            raise _Disagrees(f"publishes node key {key}, not the pinned {self.node_key}")
        if key not in active:
            raise _NotCounted(f"key {key} is not an active node in governance")
        response = self.http.get(f"/v1/sth/{head['height']}", timeout=timeout_s)
        if response.status_code == 404:
            raise _Behind()
        try:
            sth = tree_head_from_json(self._json(response), bytes.fromhex(key))
        except BadTreeHead as exc:
            raise _Disagrees(str(exc)) from None
        if sth.height != head["height"]:
            raise _Disagrees(f"answered height {sth.height} for {head['height']}")
        if sth.tree_size != head["tree_size"] or sth.root_hash.hex() != head["root_hash"]:
            raise _Disagrees(f"at height {sth.height} has tree_size {sth.tree_size} root "
                             f"{sth.root_hash.hex()}; the receipt has tree_size "
                             f"{head['tree_size']} root {head['root_hash']}")
        return key

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

    def send_many(self, items: Sequence[tuple[SigningKey, str, dict[str, Any]]], *,
                  timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Build and sign each (key, kind, payload), submit them in order as batches, and wait
        until every one is executed: their statuses, in the same order, each with its result.

        Receipts are not fetched (``receipt(tx_id)`` does). The result of a private tx shows
        only its status and code unless this client's ``key`` may see the tx.
        """
        stxs = [self.build(key, kind, payload) for key, kind, payload in items]
        out: list[dict[str, Any]] = []
        for i in range(0, len(stxs), SEND_MANY_BATCH_TXS):
            statuses = self.submit_many(stxs[i:i + SEND_MANY_BATCH_TXS],
                                        wait_ms=int(timeout_s * 1000))
            for status in statuses:
                if status["status"] != "committed" or "result" not in status:
                    status = self.wait(status["tx_id"], timeout_s)
                out.append(status)
        return out

    # -- currency --------------------------------------------------------------------------

    def currencies(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/v1/currency/currencies")["currencies"]
        return found

    def currency(self, code: str) -> dict[str, Any]:
        """A currency with its wallet tiers and their limits."""
        found: dict[str, Any] = self.get(f"/v1/currency/currencies/{code}")
        return found

    def supply(self, code: str) -> dict[str, Any]:
        """Issued, redeemed, outstanding, in reserves and in wallets (decimal strings)."""
        found: dict[str, Any] = self.get(f"/v1/currency/supply/{code}")
        return found

    def wallet(self, wallet_id: str) -> dict[str, Any]:
        """A wallet, for its owner, its operator bank or the regulator (needs ``key``)."""
        found: dict[str, Any] = self.get(f"/v1/currency/wallets/{wallet_id}")
        return found

    def statement(self, wallet_id: str, *, before_seq: int | None = None,
                  limit: int | None = None) -> dict[str, Any]:
        """A page of a wallet's statement, newest first; page on with ``next_before_seq``."""
        found: dict[str, Any] = self.get(f"/v1/currency/wallets/{wallet_id}/statement",
                                         before_seq=before_seq, limit=limit)
        return found

    def statement_csv(self, wallet_id: str, *, before_seq: int | None = None,
                      limit: int | None = None) -> str:
        return self.get_text(f"/v1/currency/wallets/{wallet_id}/statement.csv",
                             before_seq=before_seq, limit=limit)

    def mine(self) -> list[dict[str, Any]]:
        """The wallets owned by this client's ``key``."""
        found: list[dict[str, Any]] = self.get("/v1/currency/mine")["wallets"]
        return found

    def reserve(self, code: str, bank: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/v1/currency/reserves/{code}/{bank}")
        return found

    def transfer(self, key: SigningKey, from_wallet: str, to_wallet: str, amount: str,
                 memo: str = "", **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Pay ``amount`` (a decimal string, e.g. "12.50") from a wallet ``key`` owns:
        (result, verified receipt)."""
        return self.send(key, "currency.transfer",
                         {"from_wallet": from_wallet, "to_wallet": to_wallet, "amount": amount,
                          "memo": memo}, **kw)

    # -- devices ---------------------------------------------------------------------------

    def device_credential(self, device_key: str) -> DeviceCredential:
        """A registered device's vendor-signed credential, from the registry; ConsortiaError
        ``no_credential`` when the vendor registered it without one."""
        found = self.get(f"/v1/certification/devices/{device_key}")
        if "credential" not in found:
            raise ConsortiaError(404, "no_credential",
                                 "the registry has no vendor-signed credential for this device")
        return msgspec.convert(found["credential"], DeviceCredential)

    def bind_device(self, owner: SigningKey, wallet_id: str, device_key: str,
                    label: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        """Let the certified device ``device_key`` spend from the wallet ``owner`` owns."""
        return self.send(owner, "currency.bind_device",
                         {"wallet_id": wallet_id, "device_key": device_key, "label": label})
