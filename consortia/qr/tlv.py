"""The text TLV of merchant-presented codes: ``ID(2 digits) LENGTH(2 digits) VALUE``.

The length counts characters (code points), not bytes: ``0104最佳运输`` is one object.
Splitting is strict about corruption (a header cut short, a non-digit ID or length, a zero
length, a length past the end, a duplicate ID) and knows nothing of what the IDs mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortia.qr.errors import QrError

HEADER_CHARS = 4  # two for the ID, two for the length
VALUE_CHARS_MAX = 99
DIGITS = frozenset("0123456789")  # str.isdigit() would also accept "²" and "٣"


@dataclass(frozen=True)
class DataObject:
    id: str
    value: str
    at: int  # character offset of the object's ID in the whole payload


def split_objects(text: str, *, offset: int = 0, where: str = "") -> list[DataObject]:
    """Split ``text`` into data objects, in order.

    ``offset`` is where ``text`` starts in the whole payload and ``where`` names the enclosing
    template (e.g. ``"template 62"``), both only for messages. Raises QrError on corruption.
    """
    inside = f" in {where}" if where else ""
    objects: list[DataObject] = []
    seen: set[str] = set()
    pos = 0
    end = len(text)
    while pos < end:
        at = offset + pos
        if end - pos < HEADER_CHARS:
            raise QrError(f"truncated data object{inside} at character {at}: "
                          f"{text[pos:]!r} is shorter than an ID and a length")
        object_id, length_text = text[pos:pos + 2], text[pos + 2:pos + 4]
        if not set(object_id) <= DIGITS:
            raise QrError(f"ID {object_id!r}{inside} at character {at} is not two digits")
        if not set(length_text) <= DIGITS:
            raise QrError(f"length {length_text!r} of ID {object_id}{inside} at character {at} "
                          "is not two digits")
        length = int(length_text)
        if length == 0:
            raise QrError(f"ID {object_id}{inside} at character {at} has length 00")
        start = pos + HEADER_CHARS
        if start + length > end:
            raise QrError(f"ID {object_id}{inside} at character {at} has length {length} but "
                          f"only {end - start} characters are left")
        if object_id in seen:
            raise QrError(f"duplicate ID {object_id}{inside} at character {at}")
        seen.add(object_id)
        objects.append(DataObject(object_id, text[start:start + length], at))
        pos = start + length
    return objects


def format_object(object_id: str, value: str) -> str:
    """One data object as text. Raises ValueError for an ID that is not two digits or a value
    that is empty or longer than 99 characters."""
    if len(object_id) != 2 or not set(object_id) <= DIGITS:
        raise ValueError(f"ID {object_id!r} is not two digits")
    if not 1 <= len(value) <= VALUE_CHARS_MAX:
        raise ValueError(f"ID {object_id}: a value has 1 to {VALUE_CHARS_MAX} characters, "
                         f"not {len(value)}")
    return f"{object_id}{len(value):02d}{value}"
