"""End to end: a real node, an application driven to testing with an accredited lab, a
prototype on loopback, and ``consortia lab examine`` recording the signed test report."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from consortia.cli.main import app
from consortia.crypto.hashing import canonical_json
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, adopt_all
from consortia.devices.terminal import FAULTS, FAULTY_PRESET
from consortia.sdk.client import Client
from tests.api.support import serving
from tests.conformance.support import client_app_at, item_of, terminal_at
from tests.conftest import RunningNode

BODY, LAB, VENDOR = "fcc", "lab1", "acme"


@dataclass
class Desk:
    node: RunningNode
    body: SigningKey
    lab_key_file: Path
    vendor: SigningKey


def _send(client: Client, key: SigningKey, action: str, payload: dict[str, Any],
          ) -> dict[str, Any]:
    result, _ = client.send(key, f"certification.{action}", payload)
    assert result["status"] == "accepted", (action, result)
    return result


def _step(cert: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"certificate": cert, "reason": reason,
            "evidence": hashlib.sha256(reason.encode()).hexdigest(), **extra}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """A certification body and an accredited lab on a fresh demo node; a registered vendor."""
    root = tmp_path_factory.mktemp("lab")
    body, lab, vendor = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    lab.save(root / "lab.key")
    with serving(root / "node") as node, node.client() as client:
        founders = [node.keys[i.id] for i in FOUNDERS]
        adopt_all(client, [node.keys["harbor"]], founders, [(
            {"type": "admit_member", "id": BODY, "name": "Fintech Certification Centre",
             "role": "certification_body", "key": body.public_key_hex}, "Admit the FCC")])
        adopt_all(client, [body], founders, [(
            {"type": "invoke", "kind": "certification.accredit_lab",
             "payload": {"id": LAB, "name": "Lab One", "key": lab.public_key_hex}},
            "Accredit Lab One")])
        _send(client, vendor, "register_vendor", {"id": VENDOR, "legal_name": "Acme Ltd.",
                                                  "address": "1 Keji Road, Shenzhen"})
        yield Desk(node, body, root / "lab.key", vendor)


def in_testing(desk: Desk, product_type: str, *, assign: bool = True) -> str:
    """A new application of ``product_type``, accepted and assigned to the lab: its id."""
    with desk.node.client() as client:
        applied = _send(client, desk.vendor, "apply", {
            "body": BODY, "product_type": product_type, "product_name": "Prototype",
            "model": "BT-100", "version": "1.0.0", "manufacturer": "Acme Manufacturing",
            "factory": "Acme Factory No. 2", "scope": "QR payment acceptance",
            "standards": ["JR/T 0149"], "evidence": hashlib.sha256(b"dossier").hexdigest()})
        cert = str(applied["data"]["certificate"])
        if assign:
            _send(client, desk.body, "accept", _step(cert, "accepted"))
            _send(client, desk.body, "assign_lab", _step(cert, "lab", lab=LAB))
    return cert


def certificate(desk: Desk, cert: str) -> dict[str, Any]:
    with desk.node.client() as client:
        found: dict[str, Any] = client.get(f"/v1/certification/certificates/{cert}")
    return found


def examine(desk: Desk, cert: str, url: str, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(app, ["lab", "examine", cert, "--url", url, "--key",
                                    str(desk.lab_key_file), "--node", desk.node.url,
                                    "--out", str(out), *extra])


def _file_digest(path: Path) -> str:
    return hashlib.sha256(canonical_json(json.loads(path.read_text()))).hexdigest()


def test_reference_terminal_examined_goes_to_test_passed_with_every_item(
        desk: Desk, tmp_path: Path) -> None:
    cert = in_testing(desk, "BARCODE_TERMINAL")
    with terminal_at(vendor=desk.vendor, product_id=cert) as prototype:
        done = examine(desk, cert, prototype.url, tmp_path / "report.json")
    assert done.exit_code == 0, done.output
    assert "test_passed" in done.output and "passed: all 7 items" in done.output
    shown = certificate(desk, cert)
    assert shown["status"] == "test_passed"
    assert [(r["item"], r["passed"]) for r in shown["test_report"]] == [
        (f"BT-0{n}", True) for n in range(1, 8)]
    assert all(r["note"] for r in shown["test_report"])
    # The evidence on the ledger is the digest of the report file the lab keeps.
    assert shown["history"][-1]["evidence"] == _file_digest(tmp_path / "report.json")
    assert shown["history"][-1]["action"] == "test_report"


def test_faulty_terminal_examined_goes_to_test_failed_with_its_failing_items(
        desk: Desk, tmp_path: Path) -> None:
    cert = in_testing(desk, "BARCODE_TERMINAL")
    with terminal_at(FAULTY_PRESET, vendor=desk.vendor, product_id=cert) as prototype:
        done = examine(desk, cert, prototype.url, tmp_path / "report.json")
    expected = sorted(item_of(FAULTS[f]) for f in FAULTY_PRESET)
    assert done.exit_code == 1, done.output
    assert f"failed: 2 of 7 items ({', '.join(expected)})" in done.output
    shown = certificate(desk, cert)
    assert shown["status"] == "test_failed"
    assert sorted(r["item"] for r in shown["test_report"] if not r["passed"]) == expected
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is False
    assert shown["history"][-1]["evidence"] == _file_digest(tmp_path / "report.json")


def test_dry_run_examines_client_software_and_records_nothing(desk: Desk,
                                                              tmp_path: Path) -> None:
    cert = in_testing(desk, "CLIENT_SW")
    with client_app_at() as prototype:
        done = examine(desk, cert, prototype.url, tmp_path / "report.json", "--dry-run")
    assert done.exit_code == 1, done.output  # the app's vendor key is not the applicant's
    assert "failed: 1 of 6 items (CS-04)" in done.output
    assert "recorded" not in done.output
    assert certificate(desk, cert)["status"] == "testing"
    assert json.loads((tmp_path / "report.json").read_text())["product_type"] == "CLIENT_SW"


def test_an_application_not_in_testing_is_refused_before_any_examination(
        desk: Desk, tmp_path: Path) -> None:
    cert = in_testing(desk, "BARCODE_TERMINAL", assign=False)
    done = examine(desk, cert, "http://127.0.0.1:1", tmp_path / "report.json")
    assert done.exit_code == 1
    assert "not_testing" in done.output and "submitted" in done.output
    assert not (tmp_path / "report.json").exists()
