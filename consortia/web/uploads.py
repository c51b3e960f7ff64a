"""Multipart form uploads for the pages: one bounded reader for every form with a file."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import NamedTuple

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from consortia.api.errors import ApiError, read_body

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
FIELDS_MAX = 16


class Upload(NamedTuple):
    fields: dict[str, str]  # text fields, first value of each
    files: dict[str, bytes]  # file fields that were sent with content


class UploadError(ValueError):
    """The upload cannot be read; the message says why in one line for the page."""


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def read_upload(request: Request, bytes_max: int, *, files_max: int = 1,
                      fields_max: int = FIELDS_MAX) -> Upload:
    """A multipart form of at most ``bytes_max`` bytes with at most ``files_max`` files."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(MULTIPART):
        raise UploadError("send the form as multipart/form-data")
    try:
        body = await read_body(request, bytes_max)
    except ApiError as exc:
        raise UploadError(f"the upload is too large: at most {bytes_max:,} bytes"
                          if exc.status == 413 else exc.message) from None
    parser = MultiPartParser(request.headers, _once(body), max_files=files_max,
                             max_fields=fields_max)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadError(f"the upload cannot be read ({exc.message})") from None
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(bytes_max + 1)
                if data:
                    files.setdefault(name, data)
            else:
                fields.setdefault(name, value)
    finally:
        await form.close()
    return Upload(fields, files)
