"""The lab's host simulator: the suite plays the acquirer's host, as real labs do.

It answers the two node calls a device makes, ``POST /v1/tx`` and ``GET /v1/tx/{id}`` (plus
``GET /v1/chain``), in the node's wire forms, and records every request so the items can
judge them. It executes nothing: every well-formed tx for its chain is answered as committed
and accepted at once, so a defect shows up in the one item that tests it (a bad signature is
BT-04's finding, not a refusal that would fail every payment item). On request it holds the
answer to the next submission, as a host whose answer is lost, while still counting the tx as
executed: that is what a terminal's timeout handling (BT-07) must cope with.

A thread-per-connection server on a free port of the address the prototype can reach it at
(loopback for a prototype on this machine); bounded in what it keeps and how long it holds an
answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from consortia.ledger.tx import Envelope, MalformedTx

TX_BYTES_MAX = 64 * 1024
REQUESTS_MAX = 2_000  # submissions and queries kept; beyond, the host answers 503
HOLD_S_MAX = 30.0
_TX_PATH = re.compile(r"/v1/tx/([0-9a-f]{64})")
_MSGPACK = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


@dataclass(frozen=True)
class Submission:
    """One ``POST /v1/tx`` as received."""

    seq: int
    raw: bytes
    content_type: str
    envelope: Envelope | None
    error: str  # why the body is not a tx for this chain ("" when it is)
    held: bool  # the answer was held back (a lost answer)

    @property
    def tx_id(self) -> str:
        return "" if self.envelope is None else self.envelope.tx_id.hex()


@dataclass(frozen=True)
class Mark:
    """Where the records stood at one moment; ``since(mark)`` reads what came after."""

    submissions: int
    queries: int


class HostSimulator:
    """``with HostSimulator(chain_id) as host: host.url …``"""

    def __init__(self, chain_id: str, address: str = "127.0.0.1") -> None:
        self.chain_id = chain_id
        self._lock = threading.Lock()
        self.submissions: list[Submission] = []
        self.queries: list[str] = []  # tx ids asked for with GET /v1/tx/{id}
        self._committed: dict[str, dict[str, Any]] = {}
        self._hold_next = False
        self._hold_s = 0.0
        self._release = threading.Event()
        self._server = ThreadingHTTPServer((address, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="host-simulator", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HostSimulator:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what the suite drives ---------------------------------------------------------------

    def hold_next_answer(self, hold_s: float) -> None:
        """Execute the next submission but hold its answer until ``release`` or ``hold_s``."""
        assert 0 < hold_s <= HOLD_S_MAX
        with self._lock:
            self._hold_next = True
            self._hold_s = hold_s
            self._release = threading.Event()

    def release(self) -> None:
        """Let a held answer go (the device has long given up on it by then)."""
        with self._lock:
            self._hold_next = False
            self._release.set()

    def mark(self) -> Mark:
        with self._lock:
            return Mark(len(self.submissions), len(self.queries))

    def submissions_since(self, mark: Mark) -> list[Submission]:
        with self._lock:
            return self.submissions[mark.submissions:]

    def queries_since(self, mark: Mark) -> list[str]:
        with self._lock:
            return self.queries[mark.queries:]

    # -- what the handler calls ---------------------------------------------------------------

    def _full(self) -> bool:
        return len(self.submissions) + len(self.queries) >= REQUESTS_MAX

    def submit(self, raw: bytes, content_type: str) -> tuple[int, dict[str, Any], float]:
        """(HTTP status, body, seconds to hold the answer back)."""
        envelope: Envelope | None = None
        error = ""
        try:
            if content_type in _MSGPACK:
                envelope = Envelope.from_msgpack(raw)
            else:
                envelope = Envelope.from_json(raw)
            if envelope.tx.chain_id != self.chain_id:
                error = f"tx is for chain {envelope.tx.chain_id[:64]!r}, not {self.chain_id!r}"
        except MalformedTx as exc:
            error = str(exc)[:200]
        with self._lock:
            if self._full():
                return 503, {"code": "host_full", "message": "the simulator's record is full"}, 0
            held = self._hold_next and not error
            hold_s = self._hold_s if held else 0.0
            if held:
                self._hold_next = False
            self.submissions.append(Submission(len(self.submissions), raw, content_type,
                                               envelope, error, held))
            if error or envelope is None:
                return 400, {"code": "malformed", "message": error or "not a tx"}, 0
            tx_id = envelope.tx_id.hex()
            status = self._committed.get(tx_id)
            if status is None:
                height = len(self._committed) + 1
                status = {"tx_id": tx_id, "status": "committed", "height": height,
                          "leaf_index": height - 1,
                          "result": {"status": "accepted", "code": "ok", "message": "",
                                     "kind": envelope.tx.kind, "height": height,
                                     "time_ms": time.time_ns() // 1_000_000, "data": {}}}
                self._committed[tx_id] = status
            return 200, status, hold_s

    def wait_release(self, hold_s: float) -> None:
        self._release.wait(min(hold_s, HOLD_S_MAX))

    def query(self, tx_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._full():
                return 503, {"code": "host_full", "message": "the simulator's record is full"}
            self.queries.append(tx_id)
            status = self._committed.get(tx_id)
        if status is None:
            return 404, {"code": "unknown_tx", "message": "this node has no such tx"}
        return 200, status


def _handler_for(host: HostSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "consortia-lab-host/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the suite records what matters; stderr stays quiet

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the device gave up on this answer; that is the point of holding it

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/v1/chain":
                self._answer(200, {"chain_id": host.chain_id})
                return
            match = _TX_PATH.fullmatch(path)
            if match is None:
                self._answer(404, {"code": "not_found", "message": "the lab host answers "
                                   "/v1/chain and /v1/tx only"})
                return
            self._answer(*host.query(match.group(1)))

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/v1/tx":
                self._answer(404, {"code": "not_found", "message": "POST /v1/tx only"})
                return
            declared = self.headers.get("content-length", "")
            if not declared.isdigit() or int(declared) > TX_BYTES_MAX:
                self._answer(413, {"code": "too_large", "message": f"a tx is at most "
                                   f"{TX_BYTES_MAX} bytes, with a content-length"})
                return
            raw = self.rfile.read(int(declared))
            content_type = self.headers.get("content-type", "application/json")
            status, body, hold_s = host.submit(raw, content_type.split(";")[0].strip())
            if hold_s:
                host.wait_release(hold_s)
            self._answer(status, body)

    return Handler
