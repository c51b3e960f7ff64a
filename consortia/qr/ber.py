"""BER-TLV, the binary encoding inside consumer-presented codes (EMV Book 3, Annex B).

A tag is one byte, or more when its low five bits are all set (each further byte continues
while its top bit is set); bit 0x20 of the first byte marks a constructed object (a template)
whose value is itself BER-TLV. A length is one byte below 0x80, else 0x81 or 0x82 followed by
one or two bytes. Parsing is strict: anything that does not fit raises QrError.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortia.qr.errors import QrError

TAG_BYTES_MAX = 3  # EMV tags have at most 3 bytes
DEPTH_MAX = 4  # templates in templates: CPM needs 3 (61 → 63, 62 → 64)
VALUE_BYTES_MAX = 0xFFFF  # the most a two-byte length says


@dataclass(frozen=True)
class BerObject:
    tag: str  # upper-case hex of the tag's bytes, e.g. "9F26"
    value: bytes
    children: tuple[BerObject, ...] | None  # the parsed value of a constructed object
    at: int  # byte offset of the tag in the whole code

    @property
    def constructed(self) -> bool:
        return self.children is not None


def is_constructed(tag: str) -> bool:
    return bool(int(tag[:2], 16) & 0x20)


def parse(data: bytes, *, offset: int = 0, depth: int = 0, where: str = "",
          repeatable: frozenset[str] = frozenset()) -> list[BerObject]:
    """Parse ``data`` into objects, templates parsed recursively.

    A tag may occur once per template except those in ``repeatable`` (at this level only);
    ``offset`` and ``where`` only make messages point at the right place.
    """
    inside = f" in {where}" if where else ""
    if depth > DEPTH_MAX:
        raise QrError(f"templates nest deeper than {DEPTH_MAX}{inside}")
    objects: list[BerObject] = []
    seen: set[str] = set()
    pos = 0
    end = len(data)
    while pos < end:
        at = offset + pos
        tag_end = pos + 1
        if data[pos] & 0x1F == 0x1F:  # the tag continues
            while True:
                if tag_end >= end:
                    raise QrError(f"tag at byte {at}{inside} is cut short")
                tag_end += 1
                if not data[tag_end - 1] & 0x80:
                    break
                if tag_end - pos >= TAG_BYTES_MAX:
                    raise QrError(f"tag at byte {at}{inside} is longer than "
                                  f"{TAG_BYTES_MAX} bytes")
        tag = data[pos:tag_end].hex().upper()
        if tag in ("00", "FF"):
            raise QrError(f"byte {at}{inside} is {tag}, not a tag")
        if tag_end >= end:
            raise QrError(f"tag {tag} at byte {at}{inside} has no length")
        first = data[tag_end]
        if first < 0x80:
            length, start = first, tag_end + 1
        elif first in (0x81, 0x82):
            size = first - 0x80
            if tag_end + 1 + size > end:
                raise QrError(f"the length of tag {tag} at byte {at}{inside} is cut short")
            length = int.from_bytes(data[tag_end + 1:tag_end + 1 + size], "big")
            start = tag_end + 1 + size
        else:
            raise QrError(f"tag {tag} at byte {at}{inside} has length byte {first:02X} "
                          "(only 00–7F, 81 and 82 are allowed)")
        if start + length > end:
            raise QrError(f"tag {tag} at byte {at}{inside} has length {length} but only "
                          f"{end - start} bytes are left")
        if tag in seen and tag not in repeatable:
            raise QrError(f"duplicate tag {tag}{inside} at byte {at}")
        seen.add(tag)
        value = data[start:start + length]
        children = None
        if is_constructed(tag):
            children = tuple(parse(value, offset=offset + start, depth=depth + 1,
                                   where=f"template {tag}"))
        objects.append(BerObject(tag, value, children, at))
        pos = start + length
    return objects


def encode(tag: str, value: bytes) -> bytes:
    """One object: tag (hex), minimal length, value. Raises ValueError for a bad tag or a value
    too long for a two-byte length."""
    try:
        tag_bytes = bytes.fromhex(tag)
    except ValueError:
        raise ValueError(f"tag {tag!r} is not hex") from None
    if not _well_formed(tag_bytes):
        raise ValueError(f"tag {tag!r} is not a well-formed BER tag of 1 to {TAG_BYTES_MAX} "
                         "bytes")
    length = len(value)
    if length < 0x80:
        head = bytes([length])
    elif length <= 0xFF:
        head = bytes([0x81, length])
    elif length <= VALUE_BYTES_MAX:
        head = bytes([0x82]) + length.to_bytes(2, "big")
    else:
        raise ValueError(f"tag {tag}: a value of {length} bytes is too long")
    return tag_bytes + head + value


def _well_formed(tag: bytes) -> bool:
    if not 1 <= len(tag) <= TAG_BYTES_MAX or tag[0] in (0x00, 0xFF):
        return False
    if len(tag) == 1:
        return tag[0] & 0x1F != 0x1F
    return (tag[0] & 0x1F == 0x1F and all(b & 0x80 for b in tag[1:-1])
            and not tag[-1] & 0x80)
