"""Errors as ``{"code", "message"}`` JSON with a 4xx/5xx status, and bounded request bodies."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from consortia.node.node import SubmitError

_HEX64 = re.compile(r"[0-9a-f]{64}")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(SubmitError)
    async def _submit_error(_: Request, exc: SubmitError) -> JSONResponse:
        extra = {} if exc.index is None else {"index": exc.index}
        return error_response(exc.status, exc.code, exc.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, "bad_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))


async def read_body(request: Request, bytes_max: int) -> bytes:
    """The request body, refusing (413) one larger than ``bytes_max`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "Content-Length is not a number")
        if int(declared) > bytes_max:
            raise ApiError(413, "too_large", f"request body may be at most {bytes_max} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > bytes_max:
            raise ApiError(413, "too_large", f"request body may be at most {bytes_max} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_hash(text: str, what: str = "tx_id") -> bytes:
    """A 32-byte id from 64 lower-case hex characters, or a 400."""
    if not _HEX64.fullmatch(text):
        raise ApiError(400, f"bad_{what}", f"{what} must be 64 lower-case hex characters")
    return bytes.fromhex(text)
