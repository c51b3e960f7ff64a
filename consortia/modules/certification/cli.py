"""``consortia cfp``: read the public certification registry.

``valid-at`` answers "was this certificate valid at time T?" and checks the proof: the receipt
of the transition in effect at T, verified against the node key the node publishes at
/v1/chain. It exits 0 when the certificate was valid, 1 when it was not or on any error.
``verify-mark`` likewise exits 0 only for a genuine mark of a certificate valid now, its proof
verified; ``mark`` publishes a mark as the issuing body; ``document`` saves a verified
certificate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from consortia.cli.common import UrlOption, call_node, fail, load_key, print_json
from consortia.crypto.keys import SigningKey, parse_public_key
from consortia.ledger.receipts import verify_receipt
from consortia.modules.certification.documents import (
    DocumentError,
    verify_certificate_document,
)
from consortia.modules.certification.feed import FeedError, verify_feed
from consortia.modules.certification.mark import (
    MarkError,
    mark_payload,
    parse_mark,
    sign_mark,
    verify_mark_answer,
)
from consortia.qr.errors import ImageError
from consortia.qr.image import IMAGE_BYTES_MAX, read_image, render_png, render_svg
from consortia.sdk.client import Client

app = typer.Typer(no_args_is_help=True,
                  help="Certification of Fintech Products: catalogue, certificates, validity "
                  "at a time with its proof.")
T = TypeVar("T")
PREFIX = "/v1/certification"
TIME_MAX = 2**63 - 1


def _call(url: str, fn: Callable[[Client], T]) -> T:
    """Run ``fn`` with a client; one line on stderr on failure."""
    try:
        return call_node(url, fn)
    except FeedError as exc:
        fail(f"feed does not verify: {exc}")


@app.command()
def types(url: str = UrlOption) -> None:
    """List the catalogue's product types."""
    found = _call(url, lambda c: c.get(f"{PREFIX}/product-types")["product_types"])
    table = Table("code", "name", "catalogue", "standards", "test items")
    for t in found:
        table.add_row(t["code"], t["name_en"], t["catalogue"], ", ".join(t["standards"]),
                      str(len(t["test_items"])))
    Console(width=160).print(table)


@app.command()
def search(vendor: str | None = typer.Option(None, "--vendor", help="vendor id"),
           product_type: str | None = typer.Option(None, "--type", help="product type code"),
           status: str | None = typer.Option(None, "--status", help="effective status, e.g. "
                                             "valid, suspended, expired"),
           limit: int = typer.Option(50, min=1, help="certificates (the node caps a page)"),
           url: str = UrlOption) -> None:
    """Search certificates (status effective at the latest block's time)."""
    found = _call(url, lambda c: c.get(f"{PREFIX}/certificates", vendor=vendor,
                                       product_type=product_type, status=status,
                                       limit=limit))
    table = Table("number", "status", "vendor", "type", "product", "model", "versions",
                  "expires (ms)")
    for cert in found["certificates"]:
        table.add_row(cert["number"] or cert["id"][:16] + "…", cert["status"], cert["vendor"],
                      cert["product_type"], cert["product_name"], cert["model"],
                      ", ".join(cert["versions"]), str(cert["expires_ms"] or ""))
    Console(width=160).print(table)


@app.command()
def show(number: str, url: str = UrlOption) -> None:
    """One certificate with its effective status and history (JSON)."""
    print_json(_call(url, lambda c: c.get(f"{PREFIX}/certificates/{number}")))


def _checked_valid_at(client: Client, number: str, time_ms: int) -> dict[str, Any]:
    """The node's answer, its receipt verified against the key the node publishes."""
    answer: dict[str, Any] = client.get(f"{PREFIX}/certificates/{number}/valid-at",
                                        time_ms=time_ms)
    transition, receipt = answer.get("transition"), answer.get("receipt")
    if transition is None:
        return answer
    if receipt is None:
        fail(f"no receipt for the transition in effect at {time_ms}")
    if receipt.get("tx_id") != transition.get("tx_id"):
        fail("the receipt is not the transition's tx")
    verify_receipt(receipt, bytes.fromhex(client.info()["node_key"]))
    if receipt["result"].get("status") != "accepted":
        fail(f"the transition's tx {transition['tx_id']} was not accepted")
    return answer


@app.command("valid-at")
def valid_at(number: str, time_text: str = typer.Argument(..., metavar="TIME_MS",
                                                          help="milliseconds since the epoch"),
             url: str = UrlOption) -> None:
    """Was NUMBER valid at TIME_MS? Verifies the proof; exit 0 when valid, 1 when not."""
    if not time_text.isdigit() or int(time_text) > TIME_MAX:
        fail("bad_time: TIME_MS is milliseconds since the epoch (a non-negative integer)")
    time_ms = int(time_text)
    answer = _call(url, lambda c: _checked_valid_at(c, number, time_ms))
    status = answer["status"] or "not yet applied"
    transition = answer["transition"]
    since = "" if transition is None else (f" since {transition['time_ms']} "
                                           f"({transition['action']}, tx {transition['tx_id']}"
                                           ", receipt verified)")
    if answer["valid"]:
        print(f"valid: {answer['number']} at {time_ms}: {status}{since}")
        return
    print(f"not valid: {answer['number']} at {time_ms}: {status}{since}")
    raise typer.Exit(1)


def _node_key(text: str) -> bytes:
    try:
        return parse_public_key(text)
    except ValueError as exc:
        fail(f"bad_node_key: {exc}")


def _print_verified(body: dict[str, Any], source: str) -> None:
    feed = body["feed"]
    print(f"serial {feed['serial']}")
    print(f"entries {len(feed['entries'])}")
    print(f"verified (node key {source})")


@app.command()
def feed(url: str = UrlOption,
         out: Path | None = typer.Option(None, "--out", help="save the signed feed (JSON)"),
         node_key: str | None = typer.Option(None, "--node-key", help="the node's public key "
                                             "(hex); by default the key /v1/chain publishes"),
         ) -> None:
    """Fetch the signed registry feed, verify its signature, print serial and entry count."""
    expected = None if node_key is None else _node_key(node_key)

    def fetch(client: Client) -> tuple[dict[str, Any], str]:
        body: dict[str, Any] = client.get(f"{PREFIX}/feed")
        if expected is not None:
            verify_feed(body, expected)
            return body, f"{node_key} given with --node-key"
        published = str(client.info()["node_key"])
        verify_feed(body, _node_key(published))
        return body, f"{published} from {url}/v1/chain"

    body, source = _call(url, fetch)
    if out is not None:
        try:
            out.write_text(json.dumps(body, ensure_ascii=False) + "\n")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.__class__.__name__}")
    _print_verified(body, source)


@app.command("verify-feed")
def verify_feed_file(file: Path = typer.Argument(..., help="a feed saved by `cfp feed --out`"),
                     node_key: str = typer.Option(..., "--node-key",
                                                  help="the node's public key (hex)"),
                     ) -> None:
    """Verify a saved feed offline against NODE_KEY; exit 0 when valid, 1 otherwise."""
    key = _node_key(node_key)
    try:
        body = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read feed {file}: {exc.__class__.__name__}")
    try:
        verify_feed(body, key)
    except FeedError as exc:
        fail(f"feed does not verify: {exc}")
    _print_verified(body, f"{node_key} given with --node-key")


# -- the mark and certificate documents ---------------------------------------------------------

def _published(client: Client, body: SigningKey, number: str) -> tuple[str, str]:
    """Sign NUMBER's mark as ``body`` and publish it: (certificate number, signature)."""
    cert: dict[str, Any] = client.get(f"{PREFIX}/certificates/{number}")
    if not cert["number"]:
        fail(f"not_issued: {number} has no certificate number yet")
    signature = sign_mark(body, cert["number"], cert["vendor"])
    result, _ = client.send(body, "certification.publish_mark",
                            {"certificate": cert["number"], "signature": signature})
    if result["status"] != "accepted":
        fail(f"{result['code']}: {result['message']}")
    return cert["number"], signature


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.__class__.__name__}")


@app.command()
def mark(number: str,
         key: Path = typer.Option(..., "--key", help="the issuing body's key file"),
         svg: Path | None = typer.Option(None, "--svg", help="where to write the QR code as "
                                         "SVG (default NUMBER-mark.svg)"),
         png: Path | None = typer.Option(None, "--png", help="where to write the QR code as "
                                         "PNG (default NUMBER-mark.png)"),
         base_url: str | None = typer.Option(None, "--base-url", help="the address the mark "
                                             "sends phones to (default: --url)"),
         url: str = UrlOption) -> None:
    """Sign and publish NUMBER's mark as its issuing body; write its QR code (SVG and PNG)."""
    body = load_key(key)
    number, signature = _call(url, lambda c: _published(c, body, number))
    payload = mark_payload(base_url or url, number, signature)
    svg_path = svg or Path(f"{number}-mark.svg")
    png_path = png or Path(f"{number}-mark.png")
    _write(svg_path, render_svg(payload).encode())
    _write(png_path, render_png(payload))
    print(f"published the mark of {number}")
    print(f"payload {payload}")
    print(f"wrote {svg_path} and {png_path}")


def _mark_text(source: str) -> str:
    """The mark's text: SOURCE itself, or the CFP mark read from the image file SOURCE."""
    path = Path(source)
    if not path.is_file():
        return source
    try:
        if path.stat().st_size > IMAGE_BYTES_MAX:
            fail(f"image {path} is larger than {IMAGE_BYTES_MAX} bytes")
        codes = read_image(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read image {path}: {exc.__class__.__name__}")
    except ImageError as exc:
        fail(f"cannot read image {path}: {exc}")
    for text in codes:
        try:
            parse_mark(text)
        except MarkError:
            continue
        return text
    fail(f"no CFP mark in {path} ({len(codes)} other QR codes)" if codes
         else f"no QR code found in {path}")


@app.command("verify-mark")
def verify_mark(source: str = typer.Argument(..., metavar="PAYLOAD_OR_IMAGE_FILE",
                                             help="the mark's text, or a picture of it"),
                url: str = UrlOption,
                node_key: str | None = typer.Option(None, "--node-key", help="the node's "
                                                    "public key (hex); by default the key "
                                                    "/v1/chain publishes")) -> None:
    """Check a mark and its proof; exit 0 only if genuine and the certificate is valid now.

    Genuine: signed and published by the issuing body. The proof (receipts) is verified
    against the node key.
    """
    payload = _mark_text(source)
    try:
        parse_mark(payload)
    except MarkError as exc:
        fail(f"bad_mark: {exc}")
    given = None if node_key is None else _node_key(node_key)

    def fetch(client: Client) -> tuple[dict[str, Any], str]:
        answer: dict[str, Any] = client.get(f"{PREFIX}/marks/check", payload=payload)
        published = given is None
        key = _node_key(str(client.info()["node_key"])) if given is None else given
        try:
            verify_mark_answer(answer, payload, key)
        except MarkError as exc:
            fail(f"proof does not verify: {exc}")
        return answer, (f"{key.hex()} from {url}/v1/chain" if published
                        else f"{key.hex()} given with --node-key")

    answer, source_of_key = _call(url, fetch)
    print(f"{'genuine' if answer['genuine'] else 'NOT genuine'}: {answer['reason']}")
    print(f"status {answer['status'] or 'unknown'} at {answer['time_ms']}"
          f"{' (usable)' if answer['usable'] else ''}")
    print(f"proof verified (node key {source_of_key})")
    if not (answer["genuine"] and answer["valid"]):
        raise typer.Exit(1)


def _raw(client: Client, path: str) -> bytes:
    response = client.http.get(path)
    if response.status_code >= 400:
        client.get(path)  # raises ConsortiaError with the node's code and message
    return response.content


@app.command()
def document(number: str,
             out: Path = typer.Option(..., "--out", help="X.pdf for the printable certificate,"
                                      " X.json for the signed document"),
             url: str = UrlOption,
             node_key: str | None = typer.Option(None, "--node-key", help="the node's public "
                                                 "key (hex); by default the key /v1/chain "
                                                 "publishes")) -> None:
    """Save NUMBER's certificate as PDF or signed JSON; the signed JSON is verified first."""
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".json"):
        fail("bad_out: --out ends in .pdf or .json")
    given = None if node_key is None else _node_key(node_key)

    def fetch(client: Client) -> tuple[bytes, dict[str, Any]]:
        signed: dict[str, Any] = client.get(f"{PREFIX}/certificates/{number}/certificate.json")
        key = _node_key(str(client.info()["node_key"])) if given is None else given
        try:
            verify_certificate_document(signed, key)
        except DocumentError as exc:
            fail(f"certificate does not verify: {exc}")
        if suffix == ".json":
            return (json.dumps(signed, ensure_ascii=False) + "\n").encode(), signed
        return _raw(client, f"{PREFIX}/certificates/{number}/certificate.pdf"), signed

    data, signed = _call(url, fetch)
    _write(out, data)
    doc = signed["document"]
    print(f"{doc['number']}: {doc['status']} at {doc['as_of']['time_ms']}")
    print(f"verified (node key {signed['node_key']}); wrote {out}")
