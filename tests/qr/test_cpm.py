"""Consumer-presented codes: a Consortia payment token round-trips, corrupt base64 or BER-TLV is
an error, and a broken EMVCo rule is a warning (an error under strict)."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from consortia.qr import CpmApplication, QrError, decode, decode_cpm, encode_cpm
from consortia.qr.ber import encode as ber

TOKEN = CpmApplication(
    aid="A0000006770101", pan="6200000000000000001", label="CONSORTIA",
    cardholder_name="LIN/ALICE", last4="0001", cryptogram=bytes(range(64)), atc=7,
    issuer_data=(("9F37", bytes.fromhex("6D58EF13")),))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_payment_token_round_trips() -> None:
    payload = encode_cpm(TOKEN)
    assert payload.startswith("hQVDUFYw")
    decoded = decode(payload, strict=True)
    assert decoded.mode == "cpm" and decoded.payload_format == "CPV01"
    assert decoded.applications == (TOKEN,)


def test_two_applications_and_track2() -> None:
    other = CpmApplication(aid="A000000333010101", track2="6292610358444335641D2210201")
    decoded = decode(encode_cpm(TOKEN, other), strict=True)
    assert decoded.applications == (TOKEN, other)
    assert [app["4F"] for app in decoded.objects["61"]] == ["A0000006770101",
                                                            "A000000333010101"]


def test_json_shape() -> None:
    shown = decode(encode_cpm(TOKEN)).to_json()
    assert set(shown) == {"mode", "objects", "warnings", "payload_format", "applications"}
    (template,) = shown["objects"]["61"]
    assert shown["objects"]["85"] == "4350563031"
    assert template["5A"] == "6200000000000000001F" and template["63"]["9F36"] == "0007"
    (app,) = shown["applications"]
    assert app["pan"] == "6200000000000000001" and app["atc"] == 7
    assert app["cryptogram"] == bytes(range(64)).hex().upper()
    assert app["issuer_data"] == {"9F37": "6D58EF13"}


HEAD = ber("85", b"CPV01")
APP = ber("4F", bytes.fromhex("A0000006770101")) + ber("5A", bytes.fromhex("1234567890"))

CORRUPT = {
    "not base64": ("hQVD!!!!", "not base64"),
    "impossible length": ("hQVDU", "cannot be base64"),
    "no bytes": ("====", "not base64"),
    "value past the end": (_b64(HEAD + bytes([0x61, 0x20]) + APP), "only 16 bytes are left"),
    "indefinite length": (_b64(HEAD + bytes([0x61, 0x80]) + APP), "length byte 80"),
    "length field cut short": (_b64(HEAD + bytes([0x61, 0x82, 0x01])), "is cut short"),
    "tag cut short": (_b64(HEAD + bytes([0x9F])), "is cut short"),
    "tag of 4 bytes": (_b64(HEAD + bytes([0x9F, 0x81, 0x81, 0x81, 0x01, 0x00])),
                       "longer than 3 bytes"),
    "tag without length": (_b64(HEAD + bytes([0x61])), "has no length"),
    "zero padding": (_b64(HEAD + bytes(4)), "not a tag"),
    "duplicate tag": (_b64(HEAD + ber("61", APP + ber("50", b"A") + ber("50", b"B"))),
                      "duplicate tag 50 in template 61"),
    "duplicate 85": (_b64(HEAD + HEAD + ber("61", APP)), "duplicate tag 85"),
    "too deep": (_b64(HEAD + ber("61", ber("63", ber("7F01", ber("7F02", ber("7F03", ber(
        "7F04", b"x"))))))), "nest deeper than 4"),
    "too long": ("hQ" + "A" * 3000, "more than a QR code holds"),
}


@pytest.mark.parametrize("name", CORRUPT)
def test_corrupt_cpm_code_is_refused(name: str) -> None:
    payload, says = CORRUPT[name]
    with pytest.raises(QrError) as caught:
        decode_cpm(payload)
    assert says in str(caught.value) and "\n" not in str(caught.value)


BROKEN_RULES = {
    "no payload format indicator": (_b64(ber("61", APP)), "tag 85) is missing"),
    "format indicator not first": (_b64(ber("61", APP) + HEAD), "is not the first object"),
    "format CPV02": (_b64(ber("85", b"CPV02") + ber("61", APP)), "not b'CPV01'"),
    "no application": (_b64(HEAD), "no application template"),
    "three applications": (_b64(HEAD + ber("61", APP) * 3), "more than 2"),
    "unknown top-level tag": (_b64(HEAD + ber("61", APP) + ber("4F", b"\x01")),
                              "tag 4F is not defined at the top level"),
    "no AID": (_b64(HEAD + ber("61", ber("5A", b"\x12\x34\x56\x78"))),
               "no application identifier"),
    "short AID": (_b64(HEAD + ber("61", ber("4F", b"\xa0\x00") + ber("5A", b"\x12\x34"))),
                  "has 2 bytes, not 5–16"),
    "no account": (_b64(HEAD + ber("61", ber("4F", bytes(7)))), "neither a track-2"),
    "PAN not BCD": (_b64(HEAD + ber("61", ber("4F", bytes(7)) + ber("5A", b"\xab\xcd"))),
                    "is not BCD digits"),
    "label of 17": (_b64(HEAD + ber("61", APP + ber("50", b"L" * 17))), "17 characters"),
    "name with a control character": (_b64(HEAD + ber("61", APP + ber("5F20", b"A\x01B"))),
                                      "outside the EMVCo common character set"),
    "counter of 3 bytes": (_b64(HEAD + ber("61", APP + ber("63", ber("9F36", b"\x00\x00\x01")))),
                           "has 3 bytes, not 2"),
    "missing padding": (encode_cpm(TOKEN).rstrip("="), "padding ('=') is missing"),
}


@pytest.mark.parametrize("name", BROKEN_RULES)
def test_broken_cpm_rule_is_a_warning_and_strict_refuses_it(name: str) -> None:
    payload, says = BROKEN_RULES[name]
    decoded = decode_cpm(payload)
    assert any(says in line for line in decoded.warnings), decoded.warnings
    with pytest.raises(QrError, match="breaks an EMVCo rule"):
        decode_cpm(payload, strict=True)


def test_missing_padding_still_reads_the_token() -> None:
    payload = encode_cpm(TOKEN)
    assert payload.endswith("=")
    assert decode_cpm(payload.rstrip("=")).applications == (TOKEN,)


BAD_APPLICATIONS = {
    "AID not hex": (dict(aid="XYZ"), "aid 'XYZ' is not hex"),
    "AID of 4 bytes": (dict(aid="A0000006"), "not 5–16"),
    "no account": (dict(pan=None), "a pan (5A) or a track2"),
    "PAN of 7": (dict(pan="1234567"), "pan must be 8 to 19"),
    "track2 without D": (dict(track2="12345678"), "track2 must be"),
    "label of 17": (dict(label="L" * 17), "label must be 1 to 16"),
    "name of 1": (dict(cardholder_name="A"), "cardholder_name must be 2 to 26"),
    "last4 of 3": (dict(last4="123"), "last4 must be 4 digits"),
    "empty cryptogram": (dict(cryptogram=b""), "cryptogram must be 1 to 255"),
    "counter too big": (dict(atc=65536), "atc must be"),
    "issuer tag repeats the counter": (dict(issuer_data=(("9F36", b"\x00\x01"),)), "repeated"),
    "issuer tag constructed": (dict(issuer_data=(("70", b""),)), "constructed"),
    "issuer tag malformed": (dict(issuer_data=(("9F", b""),)), "well-formed"),
}


@pytest.mark.parametrize("name", BAD_APPLICATIONS)
def test_encoder_refuses_a_bad_application(name: str) -> None:
    changes, says = BAD_APPLICATIONS[name]
    with pytest.raises(ValueError, match=re.escape(says)):
        encode_cpm(dataclasses.replace(TOKEN, **changes))  # type: ignore[arg-type]


def test_encoder_takes_one_or_two_applications() -> None:
    with pytest.raises(ValueError, match="1 to 2 applications, not 0"):
        encode_cpm()
    with pytest.raises(ValueError, match="not 3"):
        encode_cpm(TOKEN, TOKEN, TOKEN)


def test_long_values_use_two_byte_lengths() -> None:
    app = dataclasses.replace(TOKEN, cryptogram=bytes(200),
                              issuer_data=(("9F10", bytes(255)),))
    decoded = decode(encode_cpm(app), strict=True)
    assert decoded.applications == (app,)
