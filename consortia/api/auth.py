"""Who is asking: requests signed with an Ed25519 key, for reads that are not public.

A client adds three headers::

    X-Consortia-Key:       the public key (hex)
    X-Consortia-Time:      now, in ms since 1970 UTC
    X-Consortia-Signature: Ed25519 over b"consortia/request/v1" ‖ METHOD ‖ " " ‖ path?query
                           ‖ "\\n" ‖ time (decimal ASCII)

The node accepts the signature within ``REQUEST_SKEW_MS`` of its clock. Reads have no side
effects, so replaying one within that window gains nothing.
"""

from __future__ import annotations

import time

from fastapi import Request

from consortia.api.errors import ApiError
from consortia.api.request_signing import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    request_message,
    sign_request,
)
from consortia.crypto.keys import verify

__all__ = ["caller_key", "request_message", "require_caller", "sign_request"]

REQUEST_SKEW_MS = 60_000


def caller_key(request: Request) -> str | None:
    """The verified key of the caller, None for an anonymous request, 401 for a bad one.

    A web session (set by the custodial wallet) counts too: its key is put on
    ``request.state.session_key`` by the session middleware.
    """
    session_key: str | None = getattr(request.state, "session_key", None)
    key_hex = request.headers.get(KEY_HEADER)
    if key_hex is None:
        return session_key
    time_text = request.headers.get(TIME_HEADER, "")
    signature_hex = request.headers.get(SIGNATURE_HEADER, "")
    if not time_text.isdigit():
        raise ApiError(401, "bad_auth", f"{TIME_HEADER} must be ms since 1970")
    time_ms = int(time_text)
    if abs(time.time_ns() // 1_000_000 - time_ms) > REQUEST_SKEW_MS:
        raise ApiError(401, "stale_auth", "request time is more than a minute off the node's")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        key = bytes.fromhex(key_hex)
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise ApiError(401, "bad_auth", "key and signature must be hex") from None
    if not verify(key, request_message(request.method, path, time_ms), signature):
        raise ApiError(401, "bad_auth", "the request signature does not verify")
    return key_hex


def require_caller(request: Request) -> str:
    key = caller_key(request)
    if key is None:
        raise ApiError(401, "auth_required", "sign the request (X-Consortia-* headers) or log in")
    return key
