"""``consortia qr``: JSON on stdout and exit 0 for a readable code, one line on stderr and exit 1
for an unreadable one (or, under --strict, one that breaks an EMVCo rule)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner, Result

from consortia.cli.main import app
from consortia.qr import decode
from consortia.qr.image import read_image
from tests.qr.samples import EMVCO_CPM, EMVCO_MPM, MPM_SAMPLES, STALE_FPS
from tests.qr.support import BASE, with_crc

runner = CliRunner()
PROMPTPAY = next(s for s in MPM_SAMPLES if s.name.startswith("PromptPay")).payload


def qr(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, ["qr", *args], input=stdin)


def assert_fails_with_one_line(done: Result, *says: str) -> None:
    assert done.exit_code == 1, (done.exit_code, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for words in says:
        assert words in lines[0], lines[0]
    assert done.stdout == ""


def test_decode_prints_the_json_object() -> None:
    done = qr("decode", EMVCO_MPM.payload)
    assert done.exit_code == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown == decode(EMVCO_MPM.payload).to_json()
    assert list(shown) == ["mode", "objects", "warnings", "merchant_name", "merchant_city",
                           "country", "currency", "amount", "mcc", "initiation", "crc"]
    assert shown["objects"]["64"]["01"] == "最佳运输" and shown["initiation"] == "dynamic"
    assert "最佳运输" in done.stdout  # UTF-8, not \\u escapes


def test_decode_reports_warnings_and_strict_refuses() -> None:
    done = qr("decode", PROMPTPAY)
    assert done.exit_code == 0
    assert "ID 52 (MCC) is missing" in json.loads(done.stdout)["warnings"]
    assert_fails_with_one_line(qr("decode", PROMPTPAY, "--strict"), "breaks an EMVCo rule",
                               "ID 52")


def test_decode_refuses_corrupt_codes() -> None:
    assert_fails_with_one_line(qr("decode", STALE_FPS.payload), "CRC mismatch")
    assert_fails_with_one_line(qr("decode", with_crc(BASE + "6120AB")), "has length 20")
    assert_fails_with_one_line(qr("decode", with_crc(BASE + "6100")), "length 00")
    assert_fails_with_one_line(qr("decode", with_crc(BASE + "5902AB")), "duplicate ID 59")
    assert_fails_with_one_line(qr("decode", "hQVD!!!"), "not base64")
    assert_fails_with_one_line(qr("decode", "hello"), "not an EMVCo payment code")


def test_decode_cpm_and_stdin() -> None:
    done = qr("decode", "-", stdin=EMVCO_CPM.payload + "\n")
    assert done.exit_code == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["mode"] == "cpm" and shown["payload_format"] == "CPV01"
    assert [a["aid"] for a in shown["applications"]] == ["A0000000555555", "A0000000666666"]


def test_encode_prints_a_payload_the_decoder_accepts_strictly() -> None:
    done = qr("encode", "--merchant-name", "Jade Teahouse", "--city", "Shenzhen",
              "--country", "CN", "--mcc", "5812", "--currency", "CNY", "--amount", "12.50",
              "--account", "ORG.CONSORTIA:teahouse", "--bill-number", "ORD-1",
              "--reference-label", "R1", "--terminal-label", "T1", "--postal-code", "518000",
              "--alt-language", "ZH", "--alt-name", "翡翠茶馆")
    assert done.exit_code == 0, done.stderr
    payload = done.stdout.strip()
    decoded = decode(payload, strict=True)
    assert (decoded.currency, decoded.amount, decoded.initiation) == ("156", "12.50",
                                                                      "dynamic")
    assert decoded.objects["26"] == {"00": "ORG.CONSORTIA", "01": "teahouse"}
    assert decoded.objects["62"] == {"01": "ORD-1", "05": "R1", "07": "T1"}
    strict = qr("decode", payload, "--strict")
    assert strict.exit_code == 0 and json.loads(strict.stdout)["warnings"] == []


def test_encode_maps_alphabetic_currencies() -> None:
    for alpha, numeric in (("HKD", "344"), ("usd", "840"), ("AUD", "036"), ("156", "156")):
        done = qr("encode", "--merchant-name", "M", "--city", "C", "--country", "HK",
                  "--mcc", "5812", "--currency", alpha)
        assert done.exit_code == 0, done.stderr
        assert decode(done.stdout.strip()).currency == numeric


def test_encode_refuses_bad_fields_with_one_line() -> None:
    base = ["encode", "--merchant-name", "M", "--city", "C", "--country", "CN", "--mcc",
            "5812"]
    assert_fails_with_one_line(qr(*base, "--currency", "XYZ"), "unknown currency 'XYZ'")
    assert_fails_with_one_line(qr(*base, "--currency", "CNY", "--amount", "0"), "is zero")
    assert_fails_with_one_line(qr(*base, "--currency", "CNY", "--account", "nocolon"),
                               "GUID:ID")
    assert_fails_with_one_line(qr("encode", "--merchant-name", "翡翠茶馆", "--city", "C",
                                  "--country", "CN", "--mcc", "5812", "--currency", "CNY"),
                               "printable ASCII")


def test_image_and_read(tmp_path: Path) -> None:
    png, svg = tmp_path / "code.png", tmp_path / "code.svg"
    assert qr("image", EMVCO_MPM.payload, "--out", str(png)).exit_code == 0
    assert qr("image", EMVCO_MPM.payload, "--out", str(svg)).exit_code == 0
    assert read_image(png.read_bytes()) == [EMVCO_MPM.payload]
    assert svg.read_text().startswith("<svg")
    done = qr("read", str(png))
    assert done.exit_code == 0 and done.stdout == EMVCO_MPM.payload + "\n"


def test_image_and_read_refusals(tmp_path: Path) -> None:
    assert_fails_with_one_line(qr("image", EMVCO_MPM.payload, "--out",
                                  str(tmp_path / "x.gif")), ".svg or .png")
    assert_fails_with_one_line(qr("image", STALE_FPS.payload, "--out",
                                  str(tmp_path / "x.png")), "unreadable", "--unchecked")
    assert qr("image", STALE_FPS.payload, "--out", str(tmp_path / "x.png"),
              "--unchecked").exit_code == 0
    assert_fails_with_one_line(qr("read", str(tmp_path / "missing.png")), "cannot read")
    (tmp_path / "notes.png").write_text("not an image")
    assert_fails_with_one_line(qr("read", str(tmp_path / "notes.png")), "not a PNG or JPEG")
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    assert_fails_with_one_line(qr("read", str(blank)), "no QR code found")
