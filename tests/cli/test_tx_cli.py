"""``consortia tx send`` and ``consortia gov``: signed txs from the command line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import verify_receipt
from tests.api.support import free_url, fresh_digest, sth
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all
from tests.conftest import RunningNode

Done = subprocess.CompletedProcess[str]


def _key_file(node: RunningNode, member: str) -> Path:
    return node.data_dir / "keys" / f"{member}.key"


def _attest(node: RunningNode, digest: str, member: str = "harbor") -> tuple[str, ...]:
    return ("tx", "send", "notary.attest", json.dumps({"digest": digest}),
            "--key", str(_key_file(node, member)), "--url", node.url)


@pytest.fixture(scope="module")
def attested_twice(node: RunningNode) -> tuple[str, Done, Done]:
    """One digest attested by harbor, then again by lotus (which the ledger rejects)."""
    digest = fresh_digest()
    first = consortia(*_attest(node, digest))
    second = consortia(*_attest(node, digest, "lotus"))
    return digest, first, second


def test_tx_send_prints_the_accepted_result_of_a_committed_tx(
        node: RunningNode, http: httpx.Client, attested_twice: tuple[str, Done, Done]) -> None:
    digest, done, _ = attested_twice
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["result"]["status"] == "accepted"
    assert printed["result"]["data"] == {"digest": digest}
    status = http.get(f"/v1/tx/{printed['tx_id']}").json()
    assert status["status"] == "committed"
    assert status["tx"]["tx"]["signer"] == node.keys["harbor"].public_key_hex
    receipt = http.get(f"/v1/tx/{printed['tx_id']}/receipt").json()
    assert receipt["result"] == printed["result"]
    verify_receipt(receipt, node.node.key.public_key)
    evidence = http.get(f"/v1/notary/evidence/{digest}").json()
    assert evidence["tx_id"] == printed["tx_id"]


def test_tx_send_of_a_rejected_tx_exits_1_and_prints_the_rejection(
        http: httpx.Client, attested_twice: tuple[str, Done, Done]) -> None:
    _, _, done = attested_twice
    assert done.returncode == 1
    printed = json.loads(done.stdout)
    assert printed["result"]["status"] == "rejected"
    assert printed["result"]["code"] == "already_attested"
    # Rejected, yet executed: it has its place in the log and a receipt.
    assert http.get(f"/v1/tx/{printed['tx_id']}/receipt").status_code == 200


def test_tx_send_of_a_rejected_tx_says_why_in_one_line_on_stderr(
        attested_twice: tuple[str, Done, Done]) -> None:
    _, _, done = attested_twice
    assert_fails_with_one_line(done, "already_attested")


def test_tx_send_with_bad_input_fails_with_one_line_and_changes_nothing(
        node: RunningNode, http: httpx.Client, tmp_path: Path) -> None:
    key = str(_key_file(node, "harbor"))
    open_key = tmp_path / "open.key"
    SigningKey.generate().save(open_key)
    os.chmod(open_key, 0o644)
    payload = json.dumps({"digest": fresh_digest()})
    before = sth(http)
    runs = consortia_all({
        "payload_not_json": ("tx", "send", "notary.attest", "{digest:", "--key", key,
                             "--url", node.url),
        "missing_key": ("tx", "send", "notary.attest", payload, "--key",
                        tmp_path / "absent.key", "--url", node.url),
        "key_readable_by_others": ("tx", "send", "notary.attest", payload, "--key",
                                   open_key, "--url", node.url),
        "unknown_kind": ("tx", "send", "notary.forge", payload, "--key", key,
                         "--url", node.url),
        "unreachable": ("tx", "send", "notary.attest", payload, "--key", key,
                        "--url", free_url()),
    })
    assert_fails_with_one_line(runs["payload_not_json"], "payload is not JSON")
    assert_fails_with_one_line(runs["missing_key"], "absent.key")
    assert_fails_with_one_line(runs["key_readable_by_others"], "mode")
    assert_fails_with_one_line(runs["unknown_kind"], "unknown_kind")
    assert_fails_with_one_line(runs["unreachable"], "cannot reach")
    assert sth(http) == before


def test_gov_members_lists_the_founders(node: RunningNode) -> None:
    done = consortia("gov", "members", "--url", node.url)
    assert done.returncode == 0, done.stderr
    for member_id in ("arcadia-cb", "harbor", "lotus", "fro"):
        assert member_id in done.stdout
        key = node.keys[member_id].public_key_hex
        assert key[:12] in done.stdout
    for role in ("central_bank", "bank", "payment_network", "regulator"):
        assert role in done.stdout
    assert done.stdout.count("active") == 4


def test_gov_propose_and_proposals_and_a_non_members_vote(
        node: RunningNode, http: httpx.Client, tmp_path: Path) -> None:
    action = json.dumps({"type": "set_parameter", "name": "regulator_veto", "value": True})
    proposed = consortia("gov", "propose", action, "--note", "veto", "--key",
                         _key_file(node, "fro"), "--url", node.url)
    assert proposed.returncode == 0, proposed.stderr
    proposal_id = proposed.stdout.strip()
    assert http.get(f"/v1/governance/proposals/{proposal_id}").json()["status"] == "open"

    outsider = tmp_path / "outsider.key"
    SigningKey.generate().save(outsider)
    runs = consortia_all({
        "listed": ("gov", "proposals", "--url", node.url),
        "outsider_votes": ("gov", "vote", proposal_id, "--yes", "--key", outsider,
                           "--url", node.url),
    })
    assert runs["listed"].returncode == 0, runs["listed"].stderr
    assert proposal_id[:12] in runs["listed"].stdout
    assert_fails_with_one_line(runs["outsider_votes"], "not_a_member")
    assert http.get(f"/v1/governance/proposals/{proposal_id}").json()["ballots"] == {}

