"""A node with the demo economy, and signed requests as any of its parties."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from consortia.api.auth import sign_request
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, JOINERS, member_key, wallet_owner_key
from tests.conftest import RunningNode


@dataclass
class Economy:
    """The demo economy on a running node: member keys and wallet owner keys by id."""

    node: RunningNode
    members: dict[str, SigningKey]
    owners: dict[str, SigningKey]

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def data_dir(self) -> Path:
        return self.node.data_dir


def economy_of(node: RunningNode) -> Economy:
    members = {i.id: member_key(node.data_dir, i.id) for i in FOUNDERS + JOINERS}
    owners = {p.stem: wallet_owner_key(node.data_dir, p.stem)
              for p in (node.data_dir / "keys" / "wallets").glob("*.key")}
    return Economy(node, members, owners)


def signed_get(http: httpx.Client, key: SigningKey | None, path: str,
               params: dict[str, Any] | None = None) -> httpx.Response:
    """GET ``path`` signed by ``key`` over the path and query exactly as sent (None: anonymous)."""
    request = http.build_request("GET", path, params=params)
    if key is not None:
        query = request.url.query.decode()
        request.headers.update(sign_request(key, "GET", request.url.path
                                            + (f"?{query}" if query else "")))
    return http.send(request)
