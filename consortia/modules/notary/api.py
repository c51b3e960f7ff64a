"""HTTP routes of the notary module."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends

from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.modules.notary import queries
from consortia.node.node import Node

router = APIRouter(prefix="/v1/notary", tags=["notary"])


@router.get("/evidence/{digest}", summary="Who attested a document digest, and when")
async def get_evidence(digest: str, node: Annotated[Node, Depends(get_node)]) -> dict[str, Any]:
    record = queries.evidence(node.chain.state, digest)
    if record is None:
        raise ApiError(404, "unknown_digest", "no attestation of this digest")
    out: dict[str, Any] = msgspec.to_builtins(record)
    return out
