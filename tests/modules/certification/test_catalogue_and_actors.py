"""The catalogue is ledger data governance extends; labs are accredited by governance;
vendors register themselves; only registered vendors apply to real certification bodies."""

from __future__ import annotations

from typing import Any

import pytest

from consortia.modules.certification import queries
from tests.modules.certification.support import Ledger, application, public

CATALOGUE_2019 = ["ATM", "BARCODE_TERMINAL", "CLIENT_SW", "CLOUD", "EMBEDDED_SW", "POS",
                  "SEC_CARRIER", "SEC_CHIP", "TA", "TEE", "VOICEPRINT"]
BLOCKCHAIN = {"code": "BLOCKCHAIN", "name_zh": "区块链技术产品",
              "name_en": "blockchain technology product", "standards": ["JR/T 0184"],
              "test_items": [{"id": "BC-01", "title": "consensus safety"},
                             {"id": "BC-02", "title": "smart contract security"}],
              "catalogue": "2022"}


def test_genesis_seeds_the_eleven_product_types_of_the_first_catalogue(
        ledger: Ledger) -> None:
    types = queries.product_types(ledger.chain.state)
    assert [t.code for t in types] == CATALOGUE_2019
    assert all(t.catalogue == "2019" and t.test_items for t in types)
    pos = ledger.product_type("POS")
    assert (pos.name_zh, pos.standards) == ("支付销售点(POS)终端", ["JR/T 0001", "JR/T 0120"])
    assert ledger.product_type("CLIENT_SW").standards == [
        "JR/T 0092", "JR/T 0098.3", "T/PCAC 0006"]
    assert len(ledger.product_type("BARCODE_TERMINAL").test_items) >= 5


def test_governance_extends_the_catalogue(ledger: Ledger) -> None:
    ledger.invoke("certification.add_product_type", BLOCKCHAIN)
    assert ledger.product_type("BLOCKCHAIN").catalogue == "2022"
    ledger.apply(product_type="BLOCKCHAIN")


@pytest.mark.parametrize("signer", ["cfc", "cb1", "acme", "lab1"])
def test_catalogue_and_labs_change_only_through_governance(ledger: Ledger,
                                                            signer: str) -> None:
    assert ledger.refused(signer, "certification.add_product_type",
                          BLOCKCHAIN).code == "governance_only"
    assert ledger.refused(signer, "certification.accredit_lab",
                          {"id": "lab9", "name": "Lab 9",
                           "key": public("stranger")}).code == "governance_only"


@pytest.mark.parametrize(("changes", "why"), [
    ({"code": "POS"}, "product_type_exists"),
    ({"code": "bad code"}, "bad_product_type"),
    ({"test_items": []}, "bad_product_type"),
    ({"test_items": [{"id": "X", "title": "a"}, {"id": "X", "title": "b"}]},
     "bad_product_type"),
])
def test_a_bad_product_type_proposal_is_refused(ledger: Ledger, changes: dict[str, Any],
                                                why: str) -> None:
    action = {"type": "invoke", "kind": "certification.add_product_type",
              "payload": {**BLOCKCHAIN, **changes}}
    result = ledger.refused("cb1", "governance.propose", {"action": action})
    assert result.code == "bad_proposal" and why in result.message


def test_vendors_register_with_unique_ids_and_keys(ledger: Ledger) -> None:
    vendor = queries.vendor(ledger.chain.state, "acme")
    assert vendor is not None and vendor.key == public("acme")
    assert ledger.refused("stranger", "certification.register_vendor",
                          {"id": "acme", "legal_name": "X", "address": "Y"}
                          ).code == "vendor_exists"
    assert ledger.refused("acme", "certification.register_vendor",
                          {"id": "acme-two", "legal_name": "X", "address": "Y"}
                          ).code == "vendor_exists"
    assert ledger.refused("stranger", "certification.register_vendor",
                          {"id": "A!", "legal_name": "X", "address": "Y"}).code == "bad_vendor"


def test_only_a_registered_vendor_applies(ledger: Ledger) -> None:
    assert ledger.refused("stranger", "certification.apply",
                          application()).code == "not_allowed"


@pytest.mark.parametrize(("changes", "why"), [
    ({"body": "bank1"}, "bad_body"),
    ({"body": "nobody"}, "bad_body"),
    ({"product_type": "TOASTER"}, "unknown_product_type"),
    ({"model": ""}, "bad_payload"),
    ({"standards": []}, "bad_payload"),
    ({"evidence": "not-a-digest"}, "bad_evidence"),
])
def test_a_bad_application_is_refused(ledger: Ledger, changes: dict[str, Any],
                                      why: str) -> None:
    assert ledger.refused("acme", "certification.apply", application(**changes)).code == why


def test_an_application_names_its_body_and_only_that_body_handles_it(ledger: Ledger) -> None:
    cert_id = ledger.apply(body="bctc")
    assert ledger.cert(cert_id).body == "bctc"
    ledger.drive(cert_id, "accepted", body="bctc")


def test_an_unknown_lab_cannot_be_assigned(ledger: Ledger) -> None:
    cert_id = ledger.drive(ledger.apply(), "accepted")
    result = ledger.refused("cfc", "certification.assign_lab",
                            {"certificate": cert_id, "lab": "lab9", "reason": "x",
                             "evidence": "0" * 64})
    assert result.code == "unknown_lab"


def test_a_lab_is_accredited_once(ledger: Ledger) -> None:
    lab = queries.lab(ledger.chain.state, "lab1")
    assert lab is not None and lab.key == public("lab1")
    action = {"type": "invoke", "kind": "certification.accredit_lab",
              "payload": {"id": "lab1", "name": "again", "key": public("stranger")}}
    result = ledger.refused("cb1", "governance.propose", {"action": action})
    assert "lab_exists" in result.message
