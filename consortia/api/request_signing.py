"""Signing a read request as a key (no web framework here: the CLI and SDK import it).

See ``consortia.api.auth`` for the headers and how the node checks them.
"""

from __future__ import annotations

import time

from consortia.crypto.keys import SigningKey

REQUEST_DOMAIN = b"consortia/request/v1"
KEY_HEADER = "x-consortia-key"
TIME_HEADER = "x-consortia-time"
SIGNATURE_HEADER = "x-consortia-signature"


def request_message(method: str, path_and_query: str, time_ms: int) -> bytes:
    return (REQUEST_DOMAIN + method.upper().encode() + b" " + path_and_query.encode() + b"\n"
            + str(time_ms).encode())


def sign_request(key: SigningKey, method: str, path_and_query: str,
                 time_ms: int | None = None) -> dict[str, str]:
    """The headers that authenticate one request as ``key``."""
    now = time.time_ns() // 1_000_000 if time_ms is None else time_ms
    signature = key.sign(request_message(method, path_and_query, now))
    return {KEY_HEADER: key.public_key_hex, TIME_HEADER: str(now),
            SIGNATURE_HEADER: signature.hex()}
