"""Liveness and metrics for operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consortia.api.deps import get_node
from consortia.node.node import Node

router = APIRouter(tags=["operations"])
NodeDep = Annotated[Node, Depends(get_node)]


@router.get("/healthz", summary="ok, or failed with the reason (503)")
async def healthz(node: NodeDep) -> Any:
    head = node.chain.head
    body = {"status": "ok" if node.failed is None else "failed", "height": head.height,
            "tree_size": head.tree_size, "mempool_txs": len(node.mempool)}
    if node.failed is not None:
        body["reason"] = node.failed
        return JSONResponse(body, status_code=503)
    return body


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(node: NodeDep) -> Response:
    node.metrics.mempool_txs.set(len(node.mempool))
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)
