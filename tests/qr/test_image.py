"""Rendered QR codes read back (segno → PNG/JPEG → zxing-cpp) as the same payload, UTF-8
included; uploads that are too large or not images are refused."""

from __future__ import annotations

import dataclasses
import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from consortia.qr import ImageError, decode, encode_cpm, encode_mpm
from consortia.qr.image import (
    IMAGE_BYTES_MAX,
    IMAGE_PIXELS_MAX,
    read_image,
    render_png,
    render_svg,
)
from tests.qr.samples import EMVCO_MPM
from tests.qr.support import TEAHOUSE
from tests.qr.test_cpm import TOKEN

CHINESE = encode_mpm(dataclasses.replace(TEAHOUSE, amount="38.00", alt_language="ZH",
                                         alt_name="翡翠茶馆", alt_city="深圳"))


@pytest.mark.parametrize("payload", [encode_mpm(TEAHOUSE), CHINESE, EMVCO_MPM.payload,
                                     encode_cpm(TOKEN)], ids=["static", "chinese", "emvco",
                                                              "cpm"])
def test_png_reads_back_as_the_same_payload(payload: str) -> None:
    png = render_png(payload, scale=4)
    assert png.startswith(b"\x89PNG")
    (text,) = read_image(png)
    assert text == payload
    assert decode(text).warnings == decode(payload).warnings


def test_chinese_name_survives_a_jpeg_photo() -> None:
    image = Image.open(io.BytesIO(render_png(CHINESE, scale=6))).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    (text,) = read_image(out.getvalue())
    assert text == CHINESE
    assert decode(text, strict=True).merchant_code().alt_name == "翡翠茶馆"


def test_two_codes_in_one_picture() -> None:
    first = Image.open(io.BytesIO(render_png(encode_mpm(TEAHOUSE), scale=4)))
    second = Image.open(io.BytesIO(render_png(CHINESE, scale=4)))
    canvas = Image.new("L", (first.width + second.width, max(first.height, second.height)),
                       255)
    canvas.paste(first, (0, 0))
    canvas.paste(second, (first.width, 0))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    assert sorted(read_image(out.getvalue())) == sorted([encode_mpm(TEAHOUSE), CHINESE])


def test_svg_is_an_svg_document() -> None:
    svg = render_svg(CHINESE, scale=5)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and int(root.attrib["width"]) > 100


def test_picture_without_a_code_has_none() -> None:
    out = io.BytesIO()
    Image.new("L", (200, 200), 255).save(out, format="PNG")
    assert read_image(out.getvalue()) == []


def test_render_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        render_png("")
    with pytest.raises(ValueError, match="scale"):
        render_png("000201", scale=0)
    with pytest.raises(ValueError, match="cannot render"):
        render_svg("x" * 3000)


def test_upload_over_the_byte_limit_is_refused() -> None:
    with pytest.raises(ImageError, match=f"more than {IMAGE_BYTES_MAX}"):
        read_image(b"\x89PNG" + bytes(IMAGE_BYTES_MAX))


def test_upload_with_too_many_pixels_is_refused_before_decoding() -> None:
    side = int(IMAGE_PIXELS_MAX**0.5) + 10
    out = io.BytesIO()
    Image.new("1", (side, side), 1).save(out, format="PNG")  # compresses to a few kB
    assert len(out.getvalue()) < IMAGE_BYTES_MAX
    with pytest.raises(ImageError, match="pixels"):
        read_image(out.getvalue())


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + bytes(40)])
def test_upload_that_is_not_an_image_is_refused(data: bytes) -> None:
    with pytest.raises(ImageError, match="not a PNG or JPEG"):
        read_image(data)


def test_gif_is_refused() -> None:
    out = io.BytesIO()
    Image.new("L", (20, 20), 255).save(out, format="GIF")
    with pytest.raises(ImageError, match="not a PNG or JPEG"):
        read_image(out.getvalue())
