"""Liveness, agreement with peers, and metrics for operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consortia.api.deps import get_node
from consortia.node.agreement import Agreement
from consortia.node.node import Node

router = APIRouter(tags=["operations"])
NodeDep = Annotated[Node, Depends(get_node)]


async def get_agreement(request: Request) -> Agreement | None:
    """The node's agreement checker, or None where the app runs without one (no peers).
    Async for the same reason as ``get_node``."""
    agreement: Agreement | None = getattr(request.app.state, "agreement", None)
    return agreement


AgreementDep = Annotated[Agreement | None, Depends(get_agreement)]
# An etcd silent for this many call timeouts (each a probe and a failover) degrades /healthz.
ORDERER_SILENT_TIMEOUTS_MAX = 3


def _failure(node: Node) -> str | None:
    # An orderer that lost its place (the etcd window moved past it) stops the node as surely
    # as a failed block write; orderers without that notion have no attribute.
    orderer_failed: str | None = getattr(node.orderer, "failed", None)
    if node.failed is not None:
        return node.failed
    if orderer_failed is not None:
        return f"orderer: {orderer_failed}"
    return None


@router.get("/healthz", summary="ok; degraded (503) when a peer's ledger diverged from ours or "
            "its tree head does not verify; failed (503) with the reason")
async def healthz(node: NodeDep, agreement: AgreementDep) -> Any:
    head = node.chain.head
    peers = [] if agreement is None else agreement.peers()
    body: dict[str, Any] = {
        "status": "ok", "height": head.height, "tree_size": head.tree_size,
        "mempool_txs": len(node.mempool),
    }
    if peers:  # a node without peers answers as it always did
        body["peers"] = [p.to_json_dict() for p in peers]
    failure = _failure(node)
    if failure is not None:
        body["status"] = "failed"
        body["reason"] = failure
        return JSONResponse(body, status_code=503)
    silent_s = getattr(node.orderer, "silent_s", None)
    silent = 0.0 if silent_s is None else silent_s()
    if silent > ORDERER_SILENT_TIMEOUTS_MAX * node.config.etcd_timeout_s:
        # Reads still work, but nothing submitted here can be ordered until etcd answers.
        body["status"] = "degraded"
        body["reason"] = f"no etcd member has answered for {silent:.0f} s"
        return JSONResponse(body, status_code=503)
    alarmed = [] if agreement is None else agreement.alarmed()
    if alarmed:
        # 503 so that load balancers stop sending clients to a node whose ledger is in doubt.
        body["status"] = "degraded"
        body["reason"] = "; ".join(f"{p.url}: {p.status}: {p.detail}" for p in alarmed)
        return JSONResponse(body, status_code=503)
    return body


@router.get("/v1/peers", summary="What this node last learnt of each peer: agrees, diverged, "
            "unreachable, unknown_peer or bad_signature")
async def peers(agreement: AgreementDep) -> dict[str, Any]:
    return {"peers": [] if agreement is None else [p.to_json_dict() for p in agreement.peers()]}


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(node: NodeDep) -> Response:
    node.metrics.mempool_txs.set(len(node.mempool))
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)
