"""What goes wrong with a QR code: it is unreadable, or an image holds none we can read."""

from __future__ import annotations


class QrError(ValueError):
    """The code cannot be read: it is corrupt (wrong CRC, a length past the end, a zero length,
    a duplicate ID, bad base64 or BER-TLV), or, in strict mode, it breaks an EMVCo rule.

    The message is one line that says what and where, e.g. ``CRC mismatch: the code says 1234,
    its content gives A13A``.
    """


class ImageError(ValueError):
    """An uploaded image is refused: too large, too many pixels, or not a PNG/JPEG we can open."""
