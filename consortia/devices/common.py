"""What both reference devices share: errors as JSON, the test-host configuration, amounts,
and serving an app on a loopback port (for tests and demos)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from consortia.ledger.tx import SignedTx, encode_signed
from consortia.modules.currency.amounts import AmountError, parse_amount
from consortia.qr.currency import NUMERIC_BY_ALPHA
from consortia.sdk.client import tx_id_of

if TYPE_CHECKING:
    from fastapi import FastAPI

CHAIN_ID_CHARS_MAX = 64
NODE_URL_CHARS_MAX = 200
START_S_MAX = 20.0
STATUS_QUERIES_MAX = 5
STATUS_QUERY_GAP_S = 0.2
# ISO 4217 minor-unit exponents that are not 2, among the currencies the QR codec knows.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "KWD": 3}


class DeviceError(Exception):
    """A request the device refuses: HTTP ``status`` with ``{"code", "message", ...}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        assert 400 <= status < 600
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class HostConfig:
    """Where the device sends its txs: a node, or the lab's host simulator."""

    node_url: str
    chain_id: str
    submit_timeout_ms: int


def check_host(node_url: str, chain_id: str, submit_timeout_ms: int) -> HostConfig:
    if not node_url.startswith(("http://", "https://")) or len(node_url) > NODE_URL_CHARS_MAX:
        raise DeviceError(400, "bad_node_url", "node_url is an http(s) URL of at most "
                          f"{NODE_URL_CHARS_MAX} characters")
    if not 0 < len(chain_id.encode()) <= CHAIN_ID_CHARS_MAX:
        raise DeviceError(400, "bad_chain_id", f"chain_id is 1 to {CHAIN_ID_CHARS_MAX} bytes")
    return HostConfig(node_url.rstrip("/"), chain_id, submit_timeout_ms)


def exponent_of(currency: str) -> int:
    if currency not in NUMERIC_BY_ALPHA:
        raise DeviceError(400, "bad_currency", f"unknown currency {currency[:8]!r}: an ISO "
                          "4217 alphabetic code such as CNY")
    return _EXPONENTS.get(currency, 2)


def check_amount(amount: str, currency: str) -> int:
    """Minor units of ``amount`` in ``currency``; the decimal string itself is kept as given
    wherever it is shown or signed."""
    try:
        return parse_amount(amount, exponent_of(currency))
    except AmountError as exc:
        raise DeviceError(400, "bad_amount", str(exc)) from None


def install_errors(app: FastAPI) -> None:
    """Every refusal as ``{"code", "message"}`` JSON with a 4xx/5xx status."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(DeviceError)
    async def _device(_: Request, exc: DeviceError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "message": exc.message, **exc.extra},
                            status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"code": "bad_request",
                             "message": f"{where}: {first.get('msg', 'invalid')}"},
                            status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"code": code, "message": str(exc.detail)},
                            status_code=exc.status_code)


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` on ``host:port`` (0: any free port) in a thread; yields its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=5,
                                           limit_concurrency=200))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="device-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S_MAX
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the device server did not start")
            time.sleep(0.02)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# -- sending a tx to the host -----------------------------------------------------------------

def submit(http: httpx.Client, stx: SignedTx, wait_ms: int) -> dict[str, Any]:
    """POST /v1/tx; the host's status once committed (asking for it while pending).
    httpx.TimeoutException when the host's answer does not come: call ``recover``."""
    response = http.post("/v1/tx", content=encode_signed(stx), params={"wait_ms": wait_ms},
                         headers={"content-type": "application/msgpack"})
    if response.status_code != 200:
        raise _refused(response)
    status: dict[str, Any] = response.json()
    if status.get("status") == "committed" and "result" in status:
        return status
    return recover(http, stx, wait_ms, resubmitted=True)


def recover(http: httpx.Client, stx: SignedTx, wait_ms: int, *,
            resubmitted: bool = False) -> dict[str, Any]:
    """Ask for the tx's status until it is committed; a tx the host does not know is
    resubmitted once, as the same bytes (the ledger executes a tx once). 504 when its status
    stays unknown: the payment must then not be retried with a new tx."""
    tx_id = tx_id_of(stx)
    for _ in range(STATUS_QUERIES_MAX):
        try:
            response = http.get(f"/v1/tx/{tx_id}")
            if response.status_code == 200:
                status: dict[str, Any] = response.json()
                if status.get("status") == "committed" and "result" in status:
                    return status
            elif response.status_code == 404 and not resubmitted:
                resubmitted = True
                return submit(http, stx, wait_ms)
        except httpx.TransportError:
            pass
        time.sleep(STATUS_QUERY_GAP_S)
    raise DeviceError(504, "host_timeout", f"the host has not confirmed tx {tx_id}; its status "
                      "is unknown: do not pay again, check it later", tx_id=tx_id)


def _refused(response: httpx.Response) -> DeviceError:
    try:
        body = response.json()
        code, message = str(body.get("code", "host_error")), str(body.get("message", ""))
    except ValueError:
        code, message = "host_error", response.text[:120]
    return DeviceError(502, "host_refused", f"the host refused the tx: {code}: {message}"[:200])
