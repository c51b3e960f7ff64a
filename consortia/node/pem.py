"""Reading the PEM files a node's config names (TLS certificates, keys and CAs)."""

from __future__ import annotations

from typing import Any

PEM_FILE_BYTES_MAX = 1024 * 1024  # a CA bundle, a certificate chain or a key is far smaller


def read_pem(config: Any, field: str) -> bytes | None:
    """The PEM file named by ``config.<field>``, or None when unset. The error names the field
    and the path, never the content (it may be a private key)."""
    path = getattr(config, field)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read(PEM_FILE_BYTES_MAX + 1)
    except OSError as exc:
        raise ValueError(f"{field} {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > PEM_FILE_BYTES_MAX:
        raise ValueError(f"{field} {path}: larger than {PEM_FILE_BYTES_MAX} bytes, not a PEM "
                         "file")
    if b"-----BEGIN " not in data:
        raise ValueError(f"{field} {path}: not a PEM file (no -----BEGIN line)")
    return data
