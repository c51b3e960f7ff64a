"""``GET /v1/snapshot``: a consistent copy of this node's ledger, for a peer node catching up.

The ledger holds every private tx, so only a request signed by the key of a node that is
active in governance state gets one. Copying and streaming a whole ledger costs disk and
bandwidth, so one snapshot is served at a time. The copy is unlinked as soon as it is opened:
whatever happens to the request afterwards, no copy stays behind on disk.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from consortia.api.auth import require_caller
from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.modules.governance.queries import nodes
from consortia.modules.governance.types import ACTIVE
from consortia.node.node import Node
from consortia.node.snapshot import (
    DISK_MARGIN_BYTES,
    FETCH_CHUNK_BYTES,
    SNAPSHOT_PATH,
    SnapshotError,
    copy_ledger,
    snapshot_headers,
)

router = APIRouter(tags=["ledger"])
NodeDep = Annotated[Node, Depends(get_node)]
COPY_PREFIX = ".snapshot-serve-"


class _Slot:
    """The one snapshot being served; released exactly once, by whoever gets there first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()


class _Serving:
    """One taken slot and the open copy: closing both is idempotent."""

    def __init__(self, slot: _Slot, file: IO[bytes]) -> None:
        self.slot = slot
        self.file = file
        self._done = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._done:
            if self._closed:
                return
            self._closed = True
        self.file.close()
        self.slot.release()


class _SnapshotResponse(StreamingResponse):
    """Streams the copy; closes it and frees the slot however the response ends (done, client
    gone, error), and also if it is never sent at all (``weakref.finalize``)."""

    def __init__(self, serving: _Serving, headers: dict[str, str]) -> None:
        super().__init__(_chunks(serving.file), headers=headers,
                         media_type="application/vnd.sqlite3")
        self._serving = serving
        weakref.finalize(self, serving.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._serving.close()


async def _chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, FETCH_CHUNK_BYTES):
        yield chunk


def _slot(app: FastAPI) -> _Slot:
    slot: _Slot | None = getattr(app.state, "snapshot_slot", None)
    if slot is None:  # no await since the check: the event loop runs nothing in between
        slot = app.state.snapshot_slot = _Slot()
    return slot


def _authorise(request: Request, node: Node) -> None:
    key = require_caller(request)
    record = next((n for n in nodes(node.chain.state) if n.key == key), None)
    if record is None:
        raise ApiError(403, "not_a_node", "only a node of this consortium may fetch a snapshot "
                       "(it holds private transactions); sign the request with its node key")
    if record.status != ACTIVE:
        raise ApiError(403, "node_removed", f"node {record.id} was removed by governance and "
                       "may no longer fetch snapshots")


def _open_copy(node: Node) -> tuple[IO[bytes], dict[str, str]]:
    data_dir = node.config.data_dir
    # Copies are unlinked once open, so any left here are from a crash mid-copy.
    for stale in data_dir.glob(COPY_PREFIX + "*"):
        stale.unlink(missing_ok=True)
    db = node.config.db_path
    needed = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    if shutil.disk_usage(data_dir).free < needed + DISK_MARGIN_BYTES:
        raise ApiError(507, "no_space", "this node has too little free disk for a copy of "
                       "its ledger")
    path = data_dir / f"{COPY_PREFIX}{secrets.token_hex(8)}.sqlite"
    try:
        head = copy_ledger(db, path)
        file = path.open("rb")
    except (SnapshotError, sqlite3.Error) as exc:
        raise ApiError(503, "snapshot_failed", f"cannot copy the ledger: {exc}") from None
    finally:
        path.unlink(missing_ok=True)
        Path(f"{path}-journal").unlink(missing_ok=True)
    headers = snapshot_headers(head, node.chain_id, node.genesis.digest(),
                               node.key.public_key_hex)
    headers["content-length"] = str(os.fstat(file.fileno()).st_size)
    return file, headers


@router.get(SNAPSHOT_PATH, summary="A consistent copy of this node's SQLite ledger, for an "
            "active node of the consortium (signed request); headers name its height, tree "
            "size, root hash and batch_seq")
async def snapshot(request: Request, node: NodeDep) -> StreamingResponse:
    _authorise(request, node)
    slot = _slot(request.app)
    if not slot.take():
        raise ApiError(503, "snapshot_busy", "another snapshot is being served; try again "
                       "in a while")
    try:
        file, headers = await asyncio.to_thread(_open_copy, node)
    except BaseException:
        slot.release()
        raise
    return _SnapshotResponse(_Serving(slot, file), headers)
