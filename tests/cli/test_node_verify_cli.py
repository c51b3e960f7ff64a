"""``consortia node verify``: re-executing a node's stored blocks finds any tampering."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from consortia.crypto.keys import SigningKey
from consortia.modules.notary.logic import evidence_key
from tests.api.support import fresh_digest, serving
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all
from tests.conftest import RunningNode

Done = subprocess.CompletedProcess[str]


def _activity(node: RunningNode) -> str:
    """Accepted and rejected txs of both modules; returns an attested digest."""
    digest = fresh_digest()
    with node.client() as client:
        client.send(node.keys["harbor"], "notary.attest", {"digest": digest})
        rejected, _ = client.send(node.keys["lotus"], "notary.attest", {"digest": digest})
        assert rejected["code"] == "already_attested"
        proposed, _ = client.send(node.keys["fro"], "governance.propose", {
            "action": {"type": "admit_member", "id": "meridian", "name": "Meridian Bank",
                       "role": "bank", "key": SigningKey.generate().public_key_hex}})
        for voter in ("arcadia-cb", "harbor", "lotus"):
            client.send(node.keys[voter], "governance.vote",
                        {"proposal_id": proposed["data"]["proposal_id"], "approve": True})
        outsider, _ = client.send(SigningKey.generate(), "governance.propose", {
            "action": {"type": "set_parameter", "name": "regulator_veto", "value": True}})
        assert outsider["code"] == "not_a_member"
    return digest


def _tamper_state_value(data_dir: Path, digest: str) -> None:
    """Rewrite a stored record as a forger would: well-formed, with another attester."""
    with sqlite3.connect(data_dir / "ledger.sqlite") as db:
        key = evidence_key(digest)
        (raw,) = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        record = msgspec.msgpack.decode(raw)
        record["attester"] = SigningKey.generate().public_key_hex
        db.execute("UPDATE state SET value = ? WHERE key = ?",
                   (msgspec.msgpack.encode(record), key))


def _tamper_tx_result(data_dir: Path, _digest: str) -> None:
    """Turn the first stored rejection into an acceptance."""
    with sqlite3.connect(data_dir / "ledger.sqlite") as db:
        tx_id, raw = db.execute(
            "SELECT tx_id, result FROM txs WHERE status = 'rejected' ORDER BY leaf_index "
            "LIMIT 1").fetchone()
        result = msgspec.msgpack.decode(raw)
        result.update(status="accepted", code="ok", message="")
        db.execute("UPDATE txs SET result = ?, status = 'accepted' WHERE tx_id = ?",
                   (msgspec.msgpack.encode(result), tx_id))


def _delete_state_key(data_dir: Path, digest: str) -> None:
    with sqlite3.connect(data_dir / "ledger.sqlite") as db:
        db.execute("DELETE FROM state WHERE key = ?", (evidence_key(digest),))


def _tamper_tx_signer(data_dir: Path, _digest: str) -> None:
    """A stored signer column that is not the signed tx's (statements read the column)."""
    with sqlite3.connect(data_dir / "ledger.sqlite") as db:
        db.execute("UPDATE txs SET signer = ? WHERE leaf_index = 0",
                   (SigningKey.generate().public_key_hex,))


TAMPERINGS = {
    "state_value": (_tamper_state_value, "state differs"),
    "state_key_deleted": (_delete_state_key, "state differs"),
    "tx_result": (_tamper_tx_result, "different result"),
    "tx_signer": (_tamper_tx_signer, "kind, signer or expiry differ"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Done]]:
    """``node verify`` on a data dir while its node runs, once stopped, and on tampered
    copies of it."""
    root = tmp_path_factory.mktemp("verify")
    data_dir = root / "node"
    with serving(data_dir) as node:
        digest = _activity(node)
        # SQLite in WAL mode lets the audit read while the node writes.
        while_running = consortia("node", "verify", "--data-dir", data_dir)
    jobs: dict[str, tuple[str | Path, ...]] = {
        "stopped": ("node", "verify", "--data-dir", data_dir),
        "no_ledger": ("node", "verify", "--data-dir", root / "nowhere"),
    }
    for name, (tamper, _) in TAMPERINGS.items():
        copy = root / f"tampered-{name}"
        shutil.copytree(data_dir, copy)
        tamper(copy, digest)
        jobs[name] = ("node", "verify", "--data-dir", copy)
    yield {"while_running": while_running, **consortia_all(jobs)}


@pytest.mark.parametrize("when", ["while_running", "stopped"])
def test_node_verify_of_an_untouched_data_dir_exits_0(runs: dict[str, Done],
                                                      when: str) -> None:
    done = runs[when]
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("ok: ")
    assert "re-executed and equal" in done.stdout


@pytest.mark.parametrize("case", [
    "state_value",
    "state_key_deleted",
    "tx_result",
])
def test_node_verify_of_a_tampered_data_dir_exits_1_with_one_line(runs: dict[str, Done],
                                                                   case: str) -> None:
    assert_fails_with_one_line(runs[case], TAMPERINGS[case][1])
    assert runs[case].stdout == ""


def test_node_verify_without_a_ledger_exits_1_with_one_line(runs: dict[str, Done]) -> None:
    assert_fails_with_one_line(runs["no_ledger"], "no ledger")
