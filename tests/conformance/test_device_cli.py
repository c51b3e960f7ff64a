"""``consortia device``: sign a credential as the vendor; refuse unknown faults."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from consortia.cli.main import app
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import DeviceCredential
from consortia.modules.certification.logic import sign_credential


def test_credential_is_signed_by_the_vendor_as_the_ledger_expects(tmp_path: Path) -> None:
    vendor, device = SigningKey.generate(), SigningKey.generate()
    vendor.save(tmp_path / "vendor.key")
    done = CliRunner().invoke(app, [
        "device", "credential", "--vendor-key", str(tmp_path / "vendor.key"),
        "--device-key", device.public_key_hex, "--product-id", "CFP-2025-000001",
        "--model", "BT-100", "--version", "1.0.0", "--out", str(tmp_path / "cred.json")])
    assert done.exit_code == 0, done.output
    written = msgspec.json.decode((tmp_path / "cred.json").read_bytes(), type=DeviceCredential)
    assert written == sign_credential(vendor, device.public_key_hex, "CFP-2025-000001",
                                      "BT-100", "1.0.0")
    assert json.loads((tmp_path / "cred.json").read_text())["vendor_key"] == (
        vendor.public_key_hex)


def test_unknown_faults_and_device_keys_are_refused_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in ("terminal", "client-app"):
        done = runner.invoke(app, ["device", command, "--fault", "no_such_fault"])
        assert done.exit_code == 1
        assert "unknown fault 'no_such_fault'" in done.output
    SigningKey.generate().save(tmp_path / "vendor.key")
    done = runner.invoke(app, ["device", "credential", "--vendor-key",
                               str(tmp_path / "vendor.key"), "--device-key", "zz",
                               "--product-id", "p", "--model", "m", "--version", "v"])
    assert done.exit_code == 1 and "bad_device_key" in done.output
