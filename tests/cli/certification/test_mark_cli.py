"""``consortia cfp mark``, ``cfp verify-mark`` and ``cfp document`` against a real node."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from consortia.crypto.keys import SigningKey
from consortia.modules.certification.documents import verify_certificate_document
from consortia.modules.certification.mark import mark_payload, sign_mark
from consortia.qr.image import read_image, render_png
from tests.api.certification.support import VENDOR, Registry, issue, send_ok, step
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all


def test_a_body_publishes_a_mark_that_verifies_from_its_text_and_its_picture(
        registry: Registry, http: httpx.Client, tmp_path: Path) -> None:
    url = registry.url
    body_key, vendor_key = tmp_path / "fcc.json", tmp_path / "vendor.json"
    registry.body.save(body_key)
    registry.vendor.save(vendor_key)
    svg, png = tmp_path / "mark.svg", tmp_path / "mark.png"
    published = consortia("cfp", "mark", registry.number, "--key", body_key, "--url", url,
                          "--svg", svg, "--png", png)
    assert published.returncode == 0, published.stderr
    payload = next(line.removeprefix("payload ") for line in published.stdout.splitlines()
                   if line.startswith("payload "))
    assert payload.startswith(f"{url}/cfp/mark/{registry.number}?s=")
    assert read_image(png.read_bytes()) == [payload] and b"<svg" in svg.read_bytes()

    node_key = http.get("/v1/chain").json()["node_key"]
    forged = mark_payload(url, registry.number, sign_mark(SigningKey.generate(),
                                                          registry.number, VENDOR))
    blank = tmp_path / "blank.png"
    blank.write_bytes(render_png("not a mark at all"))
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image")
    done = consortia_all({
        "text": ("cfp", "verify-mark", payload, "--url", url),
        "picture": ("cfp", "verify-mark", png, "--url", url, "--node-key", node_key),
        "other_key": ("cfp", "verify-mark", payload, "--url", url, "--node-key",
                      SigningKey.generate().public_key_hex),
        "forged": ("cfp", "verify-mark", forged, "--url", url),
        "not_a_mark": ("cfp", "verify-mark", "https://x.example/hello", "--url", url),
        "other_code": ("cfp", "verify-mark", blank, "--url", url),
        "garbage": ("cfp", "verify-mark", garbage, "--url", url),
        "by_vendor": ("cfp", "mark", registry.number, "--key", vendor_key, "--url", url,
                      "--svg", tmp_path / "v.svg", "--png", tmp_path / "v.png"),
    })
    for name in ("text", "picture"):
        assert done[name].returncode == 0, (name, done[name].stdout, done[name].stderr)
        assert done[name].stdout.startswith("genuine: genuine mark of")
        assert "status valid" in done[name].stdout and "proof verified" in done[name].stdout
    assert "/v1/chain" in done["text"].stdout and "--node-key" in done["picture"].stdout
    assert_fails_with_one_line(done["other_key"], "proof does not verify", "another node key")
    assert done["forged"].returncode == 1 and done["forged"].stderr == ""
    assert done["forged"].stdout.startswith("NOT genuine:") and "forged" in done["forged"].stdout
    assert "proof verified" in done["forged"].stdout
    assert_fails_with_one_line(done["not_a_mark"], "bad_mark", "not a CFP mark")
    assert_fails_with_one_line(done["other_code"], "no CFP mark in", "1 other QR codes")
    assert_fails_with_one_line(done["garbage"], "cannot read image")
    assert_fails_with_one_line(done["by_vendor"], "not_allowed")


def test_a_revoked_certificates_mark_exits_non_zero(registry: Registry, tmp_path: Path,
                                                    ) -> None:
    with registry.node.client() as client:
        _, number = issue(client, registry.body, registry.lab, registry.vendor, model="SP-7")
        signature = sign_mark(registry.body, number, VENDOR)
        send_ok(client, registry.body, "publish_mark",
                {"certificate": number, "signature": signature})
        payload = mark_payload(registry.url, number, signature)
        before = consortia("cfp", "verify-mark", payload, "--url", registry.url)
        assert before.returncode == 0, before.stderr
        send_ok(client, registry.body, "revoke", step(number, "serious_defect"))
    after = consortia("cfp", "verify-mark", payload, "--url", registry.url)
    assert after.returncode == 1 and after.stderr == ""
    assert after.stdout.startswith("genuine: ") and "status revoked" in after.stdout
    assert "proof verified" in after.stdout


def test_cfp_document_saves_a_verified_pdf_or_json(registry: Registry, http: httpx.Client,
                                                   tmp_path: Path) -> None:
    url, number = registry.url, registry.number
    pdf, signed = tmp_path / "cert.pdf", tmp_path / "cert.json"
    done = consortia_all({
        "pdf": ("cfp", "document", number, "--out", pdf, "--url", url),
        "json": ("cfp", "document", number, "--out", signed, "--url", url),
        "txt": ("cfp", "document", number, "--out", tmp_path / "cert.txt", "--url", url),
        "unknown": ("cfp", "document", "CFP-1999-000001", "--out", pdf, "--url", url),
        "other_key": ("cfp", "document", number, "--out", tmp_path / "x.json", "--url", url,
                      "--node-key", SigningKey.generate().public_key_hex),
    })
    for name in ("pdf", "json"):
        assert done[name].returncode == 0, done[name].stderr
        assert f"{number}: valid" in done[name].stdout and "verified" in done[name].stdout
    assert pdf.read_bytes().startswith(b"%PDF-")
    key = bytes.fromhex(http.get("/v1/chain").json()["node_key"])
    verify_certificate_document(json.loads(signed.read_text()), key)
    assert_fails_with_one_line(done["txt"], "bad_out")
    assert_fails_with_one_line(done["unknown"], "unknown_certificate")
    assert_fails_with_one_line(done["other_key"], "certificate does not verify",
                               "another node key")
    assert not (tmp_path / "x.json").exists()
