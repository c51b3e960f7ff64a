"""Shared request dependencies."""

from __future__ import annotations

from fastapi import Request

from consortia.node.node import Node


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node
