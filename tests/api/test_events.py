"""The event stream: one block event per block, resumable with Last-Event-ID."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import httpx

from tests.conftest import RunningNode


def attest(node: RunningNode, n: int) -> None:
    with node.client() as client:
        stx = client.build(node.keys["fro"], "notary.attest",
                           {"digest": hashlib.sha256(b"event %d" % n).hexdigest()})
        client.submit(stx, wait_ms=10_000)


def read_events(url: str, headers: dict[str, str], count: int) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    with httpx.Client(timeout=20) as c, c.stream("GET", url + "/v1/events",
                                                  headers=headers) as r:
        assert r.status_code == 200
        ident = None
        for line in r.iter_lines():
            if line.startswith("id: "):
                ident = int(line[4:])
            elif line.startswith("data: "):
                out.append((ident or -1, json.loads(line[6:])))
                if len(out) == count:
                    return out
    return out


def test_resuming_replays_missed_blocks_then_goes_live_without_duplicates(
        running_node: RunningNode) -> None:
    for n in range(3):
        attest(running_node, n)
    head = running_node.node.chain.head.height
    got: list[tuple[int, dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: got.extend(
        read_events(running_node.url, {"Last-Event-ID": str(head - 2)}, 3)))
    reader.start()
    # The two missed blocks come from the store; the next one live.
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    attest(running_node, 99)
    reader.join(20)
    heights = [ident for ident, _ in got]
    assert heights == [head - 1, head, head + 1]
    assert all(event["height"] == ident and event["type"] == "block" for ident, event in got)
    assert all(len(event["tx_ids"]) == 1 for _, event in got)


def test_a_bad_last_event_id_is_refused(running_node: RunningNode) -> None:
    r = httpx.get(running_node.url + "/v1/events", headers={"Last-Event-ID": "x"})
    assert r.status_code == 400 and r.json()["code"] == "bad_last_event_id"
