"""Sign a transaction with a user's custodial key and run it on the node.

The key is opened from the vault for one signature and dropped; the node then treats the tx
like any other signed submission (verify, order, execute), and the page waits for its result.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from consortia.custody.store import Custody
from consortia.ledger.tx import DeviceCredential, Envelope
from consortia.node.node import Node, SubmitError
from consortia.sdk.client import build_tx


class Outcome(NamedTuple):
    tx_id: str
    committed: bool  # False: not executed within the wait (it may still be)
    accepted: bool
    code: str  # "ok", a rejection code, or the node's refusal code
    message: str
    data: dict[str, Any]


async def sign_and_submit(node: Node, custody: Custody, username: str, kind: str,
                          payload: dict[str, Any], *,
                          device: DeviceCredential | None = None) -> Outcome:
    """Sign ``kind``/``payload`` as ``username``, submit it and wait for its result. With a
    ``device`` credential the user's app instance signs with its device key instead and the
    tx carries the credential (the ledger admits it only while the product is certified)."""
    key = custody.signing_key(username) if device is None else (
        custody.device_signing_key(username))
    envelope = Envelope(build_tx(key, node.chain_id, kind, payload, device=device))
    signer = key.public_key_hex
    del key
    tx_id = envelope.tx_id.hex()
    try:
        await node.submit([envelope])
    except SubmitError as exc:
        return Outcome(tx_id, False, False, exc.code, exc.message, {})
    done = await node.wait_committed([envelope.tx_id], custody.config.commit_wait_s)
    status = node.tx_status(envelope.tx_id, signer) if done else None
    if status is None or status["status"] != "committed":
        return Outcome(tx_id, False, False, "pending",
                       "the node has not executed it yet; look it up in a moment", {})
    result = status["result"]
    return Outcome(tx_id, True, result["status"] == "accepted", result["code"],
                   result.get("message", ""), dict(result.get("data") or {}))
