"""Shared request dependencies."""

from __future__ import annotations

from fastapi import Request

from consortia.node.node import Node


async def get_node(request: Request) -> Node:
    """The node serving the request. Async on purpose: FastAPI runs a plain function
    dependency in its thread pool, which cost about 0.3 ms of CPU per request (half of what a
    receipt request costs the node; docs/payments.md, speed)."""
    node: Node = request.app.state.node
    return node
