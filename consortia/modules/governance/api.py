"""HTTP routes of the governance module (reads; changes are signed txs sent to /v1/tx)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query

from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.modules.governance import queries
from consortia.modules.governance.logic import tally
from consortia.node.node import Node
from consortia.node.orderer import now_ms

router = APIRouter(prefix="/v1/governance", tags=["governance"])
NodeDep = Annotated[Node, Depends(get_node)]


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


@router.get("/members", summary="Members of the consortium with their roles and keys")
async def members(node: NodeDep) -> dict[str, Any]:
    return {"members": _builtins(queries.members(node.chain.state))}


@router.get("/nodes", summary="Admitted ledger nodes")
async def nodes(node: NodeDep) -> dict[str, Any]:
    return {"nodes": _builtins(queries.nodes(node.chain.state))}


@router.get("/parameters", summary="Every parameter with its current value")
async def parameters(node: NodeDep) -> dict[str, Any]:
    return {"parameters": queries.parameters(node.chain.state)}


@router.get("/proposals", summary="Proposals, newest first")
async def proposals(node: NodeDep, status: str | None = None,
                    limit: Annotated[int, Query(ge=1)] = 50) -> dict[str, Any]:
    try:
        found = queries.proposals(node.chain.state, now_ms(), status,
                                  min(limit, node.config.page_size_max))
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return {"proposals": _builtins(found)}


@router.get("/proposals/{proposal_id}", summary="One proposal with its ballots and tally")
async def proposal(proposal_id: str, node: NodeDep) -> dict[str, Any]:
    found = queries.proposal(node.chain.state, proposal_id, now_ms())
    if found is None:
        raise ApiError(404, "unknown_proposal", "no proposal with this id")
    out: dict[str, Any] = _builtins(found)
    out["tally"] = tally(node.chain.state, found)._asdict()
    return out
