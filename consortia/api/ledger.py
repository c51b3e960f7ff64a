"""The chain as seen from outside: tree heads, consistency proofs, blocks, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.crypto.merkle import ProofError
from consortia.ledger.chain import decode_result
from consortia.ledger.store import BlockRow
from consortia.node.events import OVERFLOW, block_event
from consortia.node.node import Node

router = APIRouter(prefix="/v1", tags=["ledger"])
NodeDep = Annotated[Node, Depends(get_node)]
# SQLite integers are signed 64-bit; larger values are refused before they reach it.
Height = Annotated[int, Path(ge=0, le=2**63 - 1)]
Count = Annotated[int, Query(ge=0, le=2**63 - 1)]
SSE_HEARTBEAT_S = 15.0
# A resuming subscriber is replayed at most this many blocks from the store.
SSE_REPLAY_BLOCKS_MAX = 1_000


def block_summary(row: BlockRow) -> dict[str, Any]:
    return {
        "height": row.height,
        "hash": row.hash.hex(),
        "prev_hash": row.prev_hash.hex(),
        "time_ms": row.time_ms,
        "batch_seq": row.batch_seq,
        "tree_size": row.tree_size,
        "root_hash": row.root_hash.hex(),
        "tx_count": row.tx_count,
        "dropped": row.dropped,
    }


@router.get("/chain", summary="Chain id, genesis hash, this node's key and head")
async def chain_info(node: NodeDep) -> dict[str, Any]:
    head = node.chain.head
    return {
        "chain_id": node.chain_id,
        "genesis_hash": node.genesis.digest().hex(),
        "node_id": node.config.node_id,
        "node_key": node.key.public_key_hex,
        "height": head.height,
        "tree_size": head.tree_size,
    }


@router.get("/sth", summary="The latest signed tree head")
async def latest_sth(node: NodeDep) -> dict[str, Any]:
    return node.chain.sth.to_json_dict()


@router.get("/sth/{height}", summary="The signed tree head of a block")
async def sth_at(height: Height, node: NodeDep) -> dict[str, Any]:
    sth = node.chain.sth_at(height)
    if sth is None:
        raise ApiError(404, "unknown_block", f"no block at height {height}")
    return sth.to_json_dict()


@router.get("/proof/consistency", summary="RFC 9162 consistency proof between two tree sizes")
async def consistency(node: NodeDep, first: Count, second: Count) -> dict[str, Any]:
    try:
        proof = node.chain.consistency_proof(first, second)
    except ProofError as exc:
        raise ApiError(400, "bad_range", str(exc)) from None
    return {"first": first, "second": second, "proof": [p.hex() for p in proof]}


@router.get("/blocks", summary="Blocks, newest first")
async def blocks(node: NodeDep, before: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                 limit: Annotated[int, Query(ge=1)] = 20) -> dict[str, Any]:
    limit = min(limit, node.config.page_size_max)
    top = node.chain.head.height + 1 if before is None else before
    rows = node.store.blocks(top, limit)
    return {"blocks": [block_summary(r) for r in rows],
            "next_before": rows[-1].height if len(rows) == limit else None}


@router.get("/blocks/{height}", summary="One block with its tx ids (paged)")
async def block(height: Height, node: NodeDep, offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
                limit: Annotated[int, Query(ge=1)] = 10_000) -> dict[str, Any]:
    row = node.store.block(height)
    if row is None:
        raise ApiError(404, "unknown_block", f"no block at height {height}")
    limit = min(limit, 10_000)
    txs = node.store.txs_of_block(height, limit, offset)
    out = block_summary(row)
    out["tx_ids"] = [t.tx_id.hex() for t in txs]
    out["txs"] = [
        {"tx_id": t.tx_id.hex(), "kind": t.kind,
         "signer": None if node.is_private(t.kind) else t.signer, "status": t.status,
         "code": decode_result(t.result).code, "leaf_index": t.leaf_index}
        for t in txs[: node.config.page_size_max]
    ]
    return out


def _sse(event: dict[str, Any]) -> str:
    ident = f"id: {event['height']}\n" if "height" in event else ""
    return f"{ident}event: {event['type']}\ndata: {json.dumps(event)}\n\n"


@router.get("/events", summary="Server-sent events: one 'block' event per committed block, "
            "with the height as event id; reconnect with Last-Event-ID to resume")
async def events(request: Request, node: NodeDep) -> StreamingResponse:
    last_text = request.headers.get("last-event-id", "")
    if last_text and not last_text.isdigit():
        raise ApiError(400, "bad_last_event_id", "Last-Event-ID is a block height")
    # Subscribe before reading the store, so no block falls between replay and live events.
    queue = node.hub.subscribe()
    if queue is None:
        raise ApiError(503, "too_many_subscribers", "this node serves no more event streams")
    sent = int(last_text) if last_text else node.chain.head.height

    async def stream() -> AsyncIterator[str]:
        nonlocal sent
        try:
            yield ": connected\n\n"
            head = node.chain.head.height
            if head - sent > SSE_REPLAY_BLOCKS_MAX:
                yield _sse({**OVERFLOW, "message": "too far behind to resume; reload"})
                return
            for height in range(sent + 1, head + 1):
                row = node.store.block(height)
                if row is None:
                    break
                txs = node.store.txs_of_block(height, row.tx_count + 1)
                yield _sse(block_event(row.height, row.time_ms, row.tree_size, row.root_hash,
                                       [t.tx_id for t in txs],
                                       sum(1 for t in txs if t.status != "accepted")))
                sent = height
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT_S)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if event is None:
                    return
                if event.get("height", sent + 1) <= sent:
                    continue  # already replayed from the store
                sent = event.get("height", sent)
                yield _sse(event)
        finally:
            node.hub.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})
