"""``consortia qr``: decode and encode EMVCo QR payloads, render them, read them from images.

``decode`` exits 0 with one JSON object when the code is readable, 1 with one line on stderr
when it is not (and, under ``--strict``, when it breaks an EMVCo rule).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from consortia.cli.common import fail, print_json
from consortia.qr import QrError, decode
from consortia.qr.currency import currency_numeric
from consortia.qr.errors import ImageError
from consortia.qr.image import IMAGE_BYTES_MAX, read_image, render_png, render_svg
from consortia.qr.mpm import encode_mpm
from consortia.qr.types import MerchantCode

app = typer.Typer(no_args_is_help=True,
                  help="EMVCo QR codes: decode, encode, render to SVG/PNG, read from images.")


def _payload(text: str) -> str:
    """The argument, or stdin when it is "-" (one code, its line end dropped)."""
    if text != "-":
        return text
    return sys.stdin.read(64 * 1024).removesuffix("\n").removesuffix("\r")


@app.command("decode")
def decode_command(
        payload: str = typer.Argument(..., help="the code's text; '-' reads it from stdin"),
        strict: bool = typer.Option(False, "--strict",
                                    help="also fail when the code breaks an EMVCo rule"),
        ) -> None:
    """Decode an MPM or CPM payload and print it as JSON (mode, objects, warnings, fields)."""
    try:
        decoded = decode(_payload(payload), strict=strict)
    except QrError as exc:
        fail(str(exc))
    print_json(decoded.to_json())


@app.command("encode")
def encode_command(
        merchant_name: str = typer.Option(..., "--merchant-name", help="ID 59, ≤25 ASCII"),
        city: str = typer.Option(..., "--city", help="ID 60, ≤15 ASCII"),
        country: str = typer.Option(..., "--country", help="ID 58, ISO 3166 alpha-2"),
        mcc: str = typer.Option(..., "--mcc", help="ID 52, 4 digits (ISO 18245)"),
        currency: str = typer.Option(..., "--currency",
                                     help="ID 53: ISO 4217 numeric (156) or alphabetic (CNY)"),
        amount: str | None = typer.Option(None, "--amount",
                                          help="ID 54, e.g. 12.50; makes the code dynamic"),
        account: str | None = typer.Option(None, "--account", metavar="GUID:ID",
                                           help="template 26: globally unique id and the "
                                           "merchant's account id (strict readers need one)"),
        bill_number: str | None = typer.Option(None, "--bill-number", help="62.01"),
        reference_label: str | None = typer.Option(None, "--reference-label", help="62.05"),
        terminal_label: str | None = typer.Option(None, "--terminal-label", help="62.07"),
        purpose: str | None = typer.Option(None, "--purpose", help="62.08"),
        postal_code: str | None = typer.Option(None, "--postal-code", help="ID 61"),
        expires_ms: int | None = typer.Option(None, "--expires-ms",
                                              help="order expiry, ms since the epoch (62.50)"),
        alt_language: str | None = typer.Option(None, "--alt-language",
                                                help="64.00, ISO 639, e.g. ZH"),
        alt_name: str | None = typer.Option(None, "--alt-name", help="64.01, any script"),
        alt_city: str | None = typer.Option(None, "--alt-city", help="64.02, any script"),
        ) -> None:
    """Print a merchant-presented payload (static, or dynamic with --amount)."""
    try:
        account_pair = None
        if account is not None:
            guid, colon, account_id = account.partition(":")
            if not colon:
                raise ValueError("--account is GUID:ID, e.g. ORG.CONSORTIA:teahouse")
            account_pair = (guid, account_id)
        code = MerchantCode(
            merchant_name=merchant_name, merchant_city=city, country=country.upper(), mcc=mcc,
            currency=currency_numeric(currency), amount=amount, account=account_pair,
            bill_number=bill_number, reference_label=reference_label,
            terminal_label=terminal_label, purpose=purpose, postal_code=postal_code,
            expires_ms=expires_ms, alt_language=alt_language, alt_name=alt_name,
            alt_city=alt_city)
        print(encode_mpm(code))
    except ValueError as exc:
        fail(str(exc))


@app.command("image")
def image_command(
        payload: str = typer.Argument(..., help="the code's text; '-' reads it from stdin"),
        out: Path = typer.Option(..., "--out", help="FILE.svg or FILE.png"),
        scale: int = typer.Option(8, "--scale", help="pixels a module"),
        unchecked: bool = typer.Option(False, "--unchecked",
                                       help="render even a payload that does not decode"),
        ) -> None:
    """Render a payload as a QR code image (SVG or PNG)."""
    text = _payload(payload)
    suffix = out.suffix.lower()
    if suffix not in (".svg", ".png"):
        fail(f"{out}: the file name ends in .svg or .png")
    try:
        if not unchecked:
            decode(text)
        if suffix == ".svg":
            out.write_text(render_svg(text, scale))
        else:
            out.write_bytes(render_png(text, scale))
    except QrError as exc:
        fail(f"not rendering an unreadable code ({exc}); --unchecked renders it anyway")
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")


@app.command("read")
def read_command(image: Path = typer.Argument(..., help="a PNG or JPEG file")) -> None:
    """Print the text of each QR code found in an image, one a line; exit 1 if none."""
    try:
        with image.open("rb") as f:
            data = f.read(IMAGE_BYTES_MAX + 1)  # one byte more tells read_image it is too big
        texts = read_image(data)
    except OSError as exc:
        fail(f"cannot read {image}: {exc.strerror}")
    except ImageError as exc:
        fail(f"{image}: {exc}")
    if not texts:
        fail(f"no QR code found in {image}")
    for text in texts:
        print(text)
