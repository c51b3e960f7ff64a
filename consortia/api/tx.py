"""Submitting transactions and reading their status and receipts."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response

from consortia.api.auth import caller_key
from consortia.api.deps import get_node
from consortia.api.errors import ApiError, parse_hash, read_body
from consortia.ledger.tx import Envelope, MalformedTx
from consortia.node.node import Node

router = APIRouter(prefix="/v1", tags=["transactions"])

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
_decode_list = msgspec.msgpack.Decoder(list[msgspec.Raw]).decode
_encode_json = msgspec.json.Encoder().encode

NodeDep = Annotated[Node, Depends(get_node)]
WaitMs = Annotated[int, Query(ge=0, description="wait up to this long for execution")]


Receipts = Annotated[bool, Query(description="with wait_ms: each committed tx's answer carries "
                                  "its receipt, so one request brings the proof")]


async def _finish(node: Node, statuses: list[dict[str, str]], wait_ms: int,
                  receipts: bool = False) -> dict[str, Any]:
    if wait_ms == 0:
        return {"txs": statuses}
    wait_s = min(wait_ms, node.config.wait_ms_max) / 1000
    ids = [bytes.fromhex(s["tx_id"]) for s in statuses]
    await node.wait_committed(ids, wait_s)
    out = []
    for tx_id in ids:
        if receipts:
            receipt = node.chain.receipt(tx_id)
            if receipt is not None:
                result = receipt["result"]
                out.append({"tx_id": receipt["tx_id"], "status": "committed",
                            "height": result["height"], "leaf_index": receipt["leaf_index"],
                            "result": result, "receipt": receipt})
                continue
        status = node.tx_status(tx_id) or {"tx_id": tx_id.hex(), "status": "unknown"}
        status.pop("tx", None)
        out.append(status)
    return {"txs": out}


def _json(body: dict[str, Any]) -> Response:
    """Encoded by msgspec: the hot routes skip FastAPI's generic encoder (≈ 10× slower on
    receipts, which are many small strings)."""
    return Response(content=_encode_json(body), media_type="application/json")


@router.post("/tx", summary="Submit one signed tx (JSON or msgpack)")
async def submit_tx(request: Request, node: NodeDep, wait_ms: WaitMs = 0,
                    receipts: Receipts = False) -> Response:
    body = await read_body(request, node.config.tx_bytes_max)
    content_type = request.headers.get("content-type", "application/json").split(";")[0]
    try:
        if content_type in MSGPACK_TYPES:
            envelope = Envelope.from_msgpack(body)
        elif content_type == "application/json":
            envelope = Envelope.from_json(body)
        else:
            raise ApiError(415, "unsupported_media_type",
                           "send application/json or application/msgpack")
    except MalformedTx as exc:
        raise ApiError(400, "malformed", str(exc)) from None
    result = await _finish(node, await node.submit([envelope]), wait_ms, receipts)
    tx: dict[str, Any] = result["txs"][0]
    return _json(tx)


@router.post("/txs", summary="Submit a batch: a msgpack list of signed txs, all or none")
async def submit_txs(request: Request, node: NodeDep, wait_ms: WaitMs = 0,
                     receipts: Receipts = False) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0]
    if content_type not in MSGPACK_TYPES:
        raise ApiError(415, "unsupported_media_type", "a batch is an application/msgpack list")
    body = await read_body(request, node.config.request_bytes_max)
    try:
        raws = _decode_list(body)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "malformed", f"batch is not a msgpack list: {exc}") from None
    if not raws:
        raise ApiError(400, "empty_batch", "a batch holds at least one tx")
    if len(raws) > node.config.submit_txs_max:
        raise ApiError(413, "too_many_txs",
                       f"a batch may hold at most {node.config.submit_txs_max} txs")
    statuses = await node.submit([bytes(r) for r in raws])
    return _json(await _finish(node, statuses, wait_ms, receipts))


@router.get("/tx/{tx_id}", summary="Status of a tx: pending, or committed with its result "
            "(a private tx's content only for a signed request by someone allowed to see it)")
async def get_tx(tx_id: str, node: NodeDep, request: Request) -> dict[str, Any]:
    status = node.tx_status(parse_hash(tx_id), caller_key(request))
    if status is None:
        raise ApiError(404, "unknown_tx", "this node has no such tx")
    return status


@router.get("/tx/{tx_id}/receipt", summary="Receipt: offline proof of a tx and its result")
async def get_receipt(tx_id: str, node: NodeDep) -> Response:
    receipt = node.chain.receipt(parse_hash(tx_id))
    if receipt is None:
        raise ApiError(404, "unknown_tx", "no executed tx with this id (pending or unknown)")
    return _json(receipt)
