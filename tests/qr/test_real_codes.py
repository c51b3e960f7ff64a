"""Codes published by EMVCo and national schemes read as their issuers meant them, and the rules
each one breaks are reported, not fatal (tests/qr/samples.py says where each comes from)."""

from __future__ import annotations

import binascii

import pytest

from consortia.qr import CpmApplication, QrError, crc_hex, decode
from tests.qr.samples import (
    BAD_LENGTH_CPM,
    EMVCO_CPM,
    EMVCO_MPM,
    MPM_SAMPLES,
    STALE_FPS,
    UNIONPAY_CPM,
    Sample,
)


def _sample(name_start: str) -> Sample:
    return next(s for s in MPM_SAMPLES if s.name.startswith(name_start))


@pytest.mark.parametrize("sample", MPM_SAMPLES, ids=lambda s: s.name[:40])
def test_published_code_has_the_crc_our_implementation_computes(sample: Sample) -> None:
    body, crc = sample.payload[:-4], sample.payload[-4:]
    assert crc_hex(body) == crc
    # and so does the standard library's CRC-CCITT started at 0xFFFF, the same algorithm
    assert f"{binascii.crc_hqx(body.encode(), 0xFFFF):04X}" == crc


@pytest.mark.parametrize("sample", MPM_SAMPLES, ids=lambda s: s.name[:40])
def test_published_code_reads_with_exactly_the_warnings_it_deserves(sample: Sample) -> None:
    decoded = decode(sample.payload)
    assert decoded.mode == "mpm"
    assert len(decoded.warnings) == len(sample.warnings), decoded.warnings
    for expected in sample.warnings:
        assert any(line.startswith(expected) for line in decoded.warnings), decoded.warnings
    if sample.warnings:
        with pytest.raises(QrError, match="breaks an EMVCo rule"):
            decode(sample.payload, strict=True)
    else:
        assert decode(sample.payload, strict=True).warnings == []


def test_emvco_example_fields_and_templates() -> None:
    decoded = decode(EMVCO_MPM.payload, strict=True)
    assert (decoded.merchant_name, decoded.merchant_city, decoded.country) == (
        "BEST TRANSPORT", "BEIJING", "CN")
    assert (decoded.currency, decoded.amount, decoded.mcc) == ("156", "23.72", "4111")
    assert (decoded.initiation, decoded.crc) == ("dynamic", "A13A")
    assert decoded.objects["29"] == {"00": "D15600000000", "05": "A93FO3230Q"}
    assert decoded.objects["64"] == {"00": "ZH", "01": "最佳运输", "02": "北京"}
    assert decoded.objects["62"] == {"03": "1234", "06": "***", "07": "A6008667", "09": "ME"}
    code = decoded.merchant_code()
    assert (code.alt_language, code.alt_name, code.alt_city) == ("ZH", "最佳运输", "北京")
    assert code.terminal_label == "A6008667" and code.account is None


def test_duitnow_signature_template_stays_a_string() -> None:
    decoded = decode(_sample("DuitNow").payload)
    assert decoded.objects["82"].startswith("9574E3E3")
    assert decoded.objects["26"]["00"] == "A0000006150001"
    assert decoded.amount == "1" and decoded.currency == "458"


def test_bharat_qr_card_networks_and_upi_templates() -> None:
    decoded = decode(_sample("Bharat QR").payload, strict=True)
    assert decoded.objects["02"] == "4392630000000085"  # Visa
    assert decoded.objects["04"] == "540461000000008"  # Mastercard
    assert decoded.objects["08"] == "YESB0CMSNOC2223330048827001"  # IFSC and account
    assert decoded.objects["26"] == {"00": "A000000524", "01": "razorpaybqr@icici",
                                     "02": "1.10"}
    assert decoded.objects["27"]["01"] == "RZPGT8ildsFTgS5Sp"


def test_published_fps_sample_with_a_stale_crc_is_refused() -> None:
    with pytest.raises(QrError, match="CRC mismatch: the code says 84E1, its content gives "
                                      "D1A3"):
        decode(STALE_FPS.payload)
    fixed = STALE_FPS.payload[:-4] + "D1A3"
    assert decode(fixed).objects["26"] == {"00": "hk.com.hkicl", "02": "9999999"}


def test_emvco_cpm_example_takes_common_data_into_each_application() -> None:
    decoded = decode(EMVCO_CPM.payload, strict=True)
    assert decoded.mode == "cpm" and decoded.payload_format == "CPV01"
    first, second = decoded.applications
    assert (first.aid, first.label) == ("A0000000555555", "Product1")
    assert (second.aid, second.label) == ("A0000000666666", "Product2")
    for app in decoded.applications:
        assert app.pan == "1234567890123458" and app.cardholder_name == "CARDHOLDER/EMV"
        assert app.cryptogram == bytes.fromhex("584FD385FA234BCC") and app.atc == 1
    assert decoded.objects["62"]["64"]["9F36"] == "0001"
    assert len(decoded.objects["61"]) == 2


def test_unionpay_cpm_track2_and_issuer_data() -> None:
    decoded = decode(UNIONPAY_CPM.payload, strict=True)
    (app,) = decoded.applications
    assert app == CpmApplication(
        aid="A000000333010101", track2="6292610358444335641D22102010000018801",
        cryptogram=bytes.fromhex("568B12D9DA0BD97F"), atc=1,
        issuer_data=(("9F27", b"\x80"),
                     ("9F10", bytes.fromhex("07000103A0000001083339393939393939")),
                     ("82", b"\x00\x00"), ("9F37", bytes.fromhex("EA0658C8"))))


def test_cpm_sample_with_a_short_form_length_over_127_is_refused() -> None:
    with pytest.raises(QrError, match="tag 61 at byte 7 has length byte 93"):
        decode(BAD_LENGTH_CPM.payload)
