"""QR code images: render a payload (segno) and read the codes in an uploaded photo or
screenshot (zxing-cpp on a Pillow image).

Payload bytes are UTF-8 (what EMVCo's CRC is computed over), in byte mode without an ECI
header: readers that guess the character set see valid UTF-8, and older ones are not confused
by an ECI they do not know.
"""

from __future__ import annotations

import io
import warnings

import segno
import zxingcpp
from PIL import Image

from consortia.qr.errors import ImageError

ERROR_CORRECTION = "m"  # 15% of the symbol can be lost (a smudge, a glare)
BORDER_MODULES = 4  # the quiet zone the QR standard asks for
SCALE_MAX = 64
IMAGE_BYTES_MAX = 5 * 1024 * 1024  # an upload larger than a phone photo is refused
IMAGE_PIXELS_MAX = 25_000_000  # decoding is linear in pixels; 25 MP takes well under a second
CODES_MAX = 16  # a photo of a counter rarely shows more
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def _symbol(payload: str) -> segno.QRCode:
    if not payload:
        raise ValueError("an empty payload has no QR code")
    try:
        return segno.make_qr(payload, error=ERROR_CORRECTION, boost_error=False,
                             encoding=None if payload.isascii() else "utf-8")
    except (segno.DataOverflowError, UnicodeEncodeError) as exc:
        raise ValueError(f"cannot render this payload as a QR code: {exc}") from None


def render_svg(payload: str, scale: int = 8) -> str:
    """The QR code of ``payload`` as an SVG document: black on white, a 4-module border,
    ``scale`` pixels a module."""
    if not 1 <= scale <= SCALE_MAX:
        raise ValueError(f"scale must be 1 to {SCALE_MAX} pixels a module")
    out = io.BytesIO()
    _symbol(payload).save(out, kind="svg", scale=scale, border=BORDER_MODULES, xmldecl=False,
                          svgclass=None, lineclass=None)
    return out.getvalue().decode("utf-8")


def render_png(payload: str, scale: int = 8) -> bytes:
    """The QR code of ``payload`` as a PNG, ``scale`` pixels a module."""
    if not 1 <= scale <= SCALE_MAX:
        raise ValueError(f"scale must be 1 to {SCALE_MAX} pixels a module")
    out = io.BytesIO()
    _symbol(payload).save(out, kind="png", scale=scale, border=BORDER_MODULES)
    return out.getvalue()


def read_image(data: bytes) -> list[str]:
    """The texts of the QR codes found in a PNG or JPEG image, in the order zxing finds them
    (none: an empty list). Raises ImageError when the image is too large, has too many pixels,
    or is not a PNG or JPEG that Pillow can decode."""
    if len(data) > IMAGE_BYTES_MAX:
        raise ImageError(f"the image has {len(data)} bytes, more than {IMAGE_BYTES_MAX}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
            width, height = image.size
            if width * height > IMAGE_PIXELS_MAX:
                raise ImageError(f"the image has {width}×{height} pixels, more than "
                                 f"{IMAGE_PIXELS_MAX}")
            gray = image.convert("L")  # decodes the pixels, only now that the size is known
    except ImageError:
        raise
    except Exception as exc:  # Pillow's decoders raise many kinds on hostile input
        raise ImageError(f"not a PNG or JPEG image that can be read "
                         f"({exc.__class__.__name__})") from None
    found = zxingcpp.read_barcodes(gray, formats=QR_ONLY)
    return [barcode.text for barcode in found[:CODES_MAX] if barcode.valid]
