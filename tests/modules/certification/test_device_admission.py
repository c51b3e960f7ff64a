"""Device admission through the executor: a device of a valid product transacts; suspension,
revocation or expiry stop it at the next block; forged or unknown credentials never pass."""

from __future__ import annotations

import msgspec
import pytest

from consortia.modules.certification import queries
from consortia.modules.certification.logic import credential_message
from tests.modules.certification.support import DAY_MS, Ledger, public, step


@pytest.fixture
def product(ledger: Ledger) -> str:
    return ledger.issue()


def test_a_device_of_a_certified_product_transacts(ledger: Ledger, product: str) -> None:
    credential = ledger.register_device("dev1", product)
    assert ledger.device_attest("dev1", credential, 1).accepted
    assert [d.device_key for d in queries.devices(ledger.chain.state, product)] == [
        public("dev1")]


def test_the_credential_signs_the_documented_message(ledger: Ledger, product: str) -> None:
    credential = ledger.credential("dev1", product)
    expected = b"consortia/device/v1" + msgspec.msgpack.encode(
        {"device_key": public("dev1"), "model": "SP-100", "product_id": product,
         "vendor_key": public("acme"), "version": "1.0.0"})
    assert credential_message(credential.device_key, product, "SP-100", "1.0.0",
                              public("acme")) == expected


@pytest.mark.parametrize(("action", "extra", "status"), [
    ("suspend", {"correction_deadline_ms": 1_900_000_000_000}, "suspended"),
    ("revoke", {}, "revoked"),
])
def test_a_suspended_or_revoked_pos_model_cannot_take_payments(
        ledger: Ledger, product: str, action: str, extra: dict[str, int], status: str) -> None:
    credential = ledger.register_device("dev1", product)
    other = ledger.register_device("dev2", product)
    assert ledger.device_attest("dev1", credential, 1).accepted
    ledger.ok("cfc", f"certification.{action}", step(product, "serious_defect", **extra))
    for device, cred in (("dev1", credential), ("dev2", other)):
        result = ledger.refused(device, "notary.attest", {"digest": "0" * 64}, device=cred)
        assert result.code == "device_not_admitted"
        assert result.message == f"product certificate {product} is {status}"


def test_a_reinstated_product_admits_its_devices_again(ledger: Ledger, product: str) -> None:
    credential = ledger.register_device("dev1", product)
    ledger.ok("cfc", "certification.suspend",
              step(product, "x", correction_deadline_ms=ledger.now_ms + DAY_MS))
    assert not ledger.device_attest("dev1", credential, 1).accepted
    ledger.ok("cfc", "certification.reinstate", step(product, "corrected"))
    assert ledger.device_attest("dev1", credential, 2).accepted


def test_devices_stop_when_the_certificate_expires(ledger: Ledger, product: str) -> None:
    credential = ledger.register_device("dev1", product)
    expires = ledger.cert(product).expires_ms
    ledger.at(expires - 1)
    assert ledger.device_attest("dev1", credential, 1).accepted
    ledger.at(expires)
    result = ledger.device_attest("dev1", credential, 2)
    assert (result.code, result.message) == ("device_not_admitted",
                                             f"product certificate {product} is expired")


def test_a_device_keeps_working_while_a_change_is_pending(ledger: Ledger, product: str) -> None:
    credential = ledger.register_device("dev1", product)
    ledger.ok("acme", "certification.request_change", step(product, "fw", version="1.1.0"))
    assert ledger.device_attest("dev1", credential, 1).accepted


def test_a_new_version_is_admitted_only_once_the_change_is_approved(
        ledger: Ledger, product: str) -> None:
    ledger.ok("acme", "certification.request_change", step(product, "fw", version="1.1.0"))
    result = ledger.refused("acme", "certification.register_device",
                            {"device_key": public("dev2"), "certificate": product,
                             "model": "SP-100", "version": "1.1.0"})
    assert result.code == "not_certified"
    ledger.ok("cfc", "certification.approve_change", step(product, "ok"))
    credential = ledger.register_device("dev2", product, version="1.1.0")
    assert ledger.device_attest("dev2", credential, 1).accepted


def test_a_credential_for_an_uncertified_version_is_refused(ledger: Ledger,
                                                            product: str) -> None:
    ledger.register_device("dev1", product)
    forged = ledger.credential("dev1", product, version="6.6.6")
    result = ledger.device_attest("dev1", forged, 1)
    assert result.code == "device_not_admitted"
    assert result.message.startswith("version not certified")


def test_a_tampered_credential_is_refused(ledger: Ledger, product: str) -> None:
    credential = ledger.register_device("dev1", product)
    tampered = msgspec.structs.replace(credential, model="SP-200")
    result = ledger.refused("dev1", "notary.attest", {"digest": "1" * 64}, device=tampered)
    assert (result.code, result.message) == ("device_not_admitted", "vendor signature invalid")
    garbage = msgspec.structs.replace(credential, signature="zz")
    result = ledger.refused("dev1", "notary.attest", {"digest": "1" * 64}, device=garbage)
    assert result.message == "vendor signature invalid"


def test_an_unregistered_device_is_refused(ledger: Ledger, product: str) -> None:
    credential = ledger.credential("dev3", product)  # genuinely signed, never registered
    result = ledger.refused("dev3", "notary.attest", {"digest": "2" * 64}, device=credential)
    assert (result.code, result.message) == ("device_not_admitted",
                                             f"unknown device for {product}")


def test_a_signer_other_than_the_device_key_is_refused(ledger: Ledger, product: str) -> None:
    credential = ledger.register_device("dev1", product)
    result = ledger.refused("stranger", "notary.attest", {"digest": "3" * 64},
                            device=credential)
    assert result.code == "device_not_admitted"
    assert "device key" in result.message


def test_a_credential_signed_by_another_vendor_is_refused(ledger: Ledger,
                                                          product: str) -> None:
    ledger.register_device("dev1", product)
    credential = ledger.credential("dev1", product, vendor="globex")
    result = ledger.refused("dev1", "notary.attest", {"digest": "4" * 64}, device=credential)
    assert result.message == f"the vendor key is not the holder of {product}"


def test_a_credential_for_an_unknown_certificate_is_refused(ledger: Ledger) -> None:
    credential = ledger.credential("dev1", "CFP-2026-999999")
    result = ledger.refused("dev1", "notary.attest", {"digest": "5" * 64}, device=credential)
    assert result.message == "unknown product certificate 'CFP-2026-999999'"


def test_only_the_holder_registers_devices_while_the_certificate_is_valid(
        ledger: Ledger, product: str) -> None:
    payload = {"device_key": public("dev1"), "certificate": product, "model": "SP-100",
               "version": "1.0.0"}
    assert ledger.refused("globex", "certification.register_device",
                          payload).code == "not_allowed"
    assert ledger.refused("acme", "certification.register_device",
                          {**payload, "model": "SP-999"}).code == "not_certified"
    ledger.ok("acme", "certification.register_device", payload)
    assert ledger.refused("acme", "certification.register_device",
                          payload).code == "device_exists"
    ledger.ok("cfc", "certification.revoke", step(product, "serious_defect"))
    result = ledger.refused("acme", "certification.register_device",
                            {**payload, "device_key": public("dev2")})
    assert result.code == "certificate_not_valid"


def test_a_device_of_one_product_cannot_claim_another(ledger: Ledger, product: str) -> None:
    other = ledger.issue()
    ledger.register_device("dev1", product)
    credential = ledger.credential("dev1", other)
    result = ledger.refused("dev1", "notary.attest", {"digest": "6" * 64}, device=credential)
    assert result.message == f"unknown device for {other}"


def test_a_registration_may_publish_the_vendor_signed_credential(
        ledger: Ledger, product: str) -> None:
    credential = ledger.credential("dev1", product)
    ledger.ok("acme", "certification.register_device",
              {"device_key": public("dev1"), "certificate": product, "model": "SP-100",
               "version": "1.0.0", "signature": credential.signature})
    device = queries.device(ledger.chain.state, public("dev1"))
    assert device is not None and device.credential_signature == credential.signature
    assert ledger.device_attest("dev1", credential, 1).accepted


@pytest.mark.parametrize("signature", ["00" * 64, "zz", "ab" * 10])
def test_a_registration_with_a_bad_credential_signature_is_refused(
        ledger: Ledger, product: str, signature: str) -> None:
    result = ledger.refused("acme", "certification.register_device",
                            {"device_key": public("dev1"), "certificate": product,
                             "model": "SP-100", "version": "1.0.0", "signature": signature})
    assert result.code == "bad_signature"


def test_a_credential_signed_for_another_version_is_refused_at_registration(
        ledger: Ledger, product: str) -> None:
    other = ledger.credential("dev1", product, version="9.9.9")
    result = ledger.refused("acme", "certification.register_device",
                            {"device_key": public("dev1"), "certificate": product,
                             "model": "SP-100", "version": "1.0.0",
                             "signature": other.signature})
    assert result.code == "bad_signature"
