"""``consortia receipt get`` and ``consortia receipt verify`` (offline, exit 0 or 1).

The ``receipt verify`` cases are independent processes over files written up front, so they
run side by side in one fixture; each test then judges its own case.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.sdk.client import tx_id_of
from tests.api.support import attest_tx, commit, free_url, loopback
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all
from tests.conftest import RunningNode

Receipt = dict[str, Any]
Done = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def receipts(node: RunningNode) -> dict[str, Receipt]:
    """An accepted and a rejected tx's receipts, in a tree of several leaves."""
    with loopback(node.url) as http:
        for _ in range(3):
            commit(http, attest_tx(node))
        accepted = attest_tx(node)
        commit(http, accepted)
        rejected = attest_tx(node, key=node.keys["lotus"],
                             digest=accepted.tx.payload["digest"])
        assert commit(http, rejected)["result"]["code"] == "already_attested"
        commit(http, attest_tx(node))
        return {name: http.get(f"/v1/tx/{tx_id_of(stx)}/receipt").json()
                for name, stx in (("accepted", accepted), ("rejected", rejected))}


def _set(path: tuple[str, ...], value: Any) -> Callable[[Receipt], None]:
    def tamper(receipt: Receipt) -> None:
        target: Any = receipt
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value
    return tamper


def _flip_first_path_hash(receipt: Receipt) -> None:
    first = receipt["audit_path"][0]
    receipt["audit_path"][0] = ("1" if first[0] == "0" else "0") + first[1:]


# case -> (how to tamper with the rejected tx's receipt, what the one error line must say)
TAMPERED: dict[str, tuple[Callable[[Receipt], None], str]] = {
    "result_status": (_set(("result", "status"), "accepted"), "result does not match the leaf"),
    "audit_path_hash": (_flip_first_path_hash, "audit path does not lead"),
    "leaf_index": (_set(("leaf_index",), 0), "audit path does not lead"),
    "sth_signature": (_set(("signed_tree_head", "signature"), "00" * 64),
                      "signature is invalid"),
    "root_hash": (_set(("root_hash",), "00" * 32), "differ from the signed tree head"),
}

NOT_RECEIPTS: dict[str, tuple[bytes, str]] = {
    "text": (b"this is not json\n", "is not JSON"),
    "json_array": (b"[1, 2]\n", "not a JSON object"),
}
UNREADABLE_JSON = {"not_utf8": b"\xff\xfe\x00 binary \x80", "nested_too_deep": b"[" * 100_000}
BAD_KEYS: dict[str, tuple[str, str]] = {
    "not_hex": ("zz" * 32, "not hex"),
    "upper_case": ("AB" * 32, "lower-case"),
}
# One field is enough here; the SDK tests try all three in-process.
BEYOND_U64 = ("tree_size",)


@pytest.fixture(scope="module")
def verify_runs(node: RunningNode, receipts: dict[str, Receipt],
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    """Every ``receipt verify`` case of this module, run at once: case name -> process."""
    folder = tmp_path_factory.mktemp("verify")
    node_key = node.node.key.public_key_hex
    jobs: dict[str, tuple[str | Path, ...]] = {}

    def case(name: str, content: bytes | None, key: str = node_key) -> None:
        path = folder / f"{name}.json"
        if content is not None:
            path.write_bytes(content)
        jobs[name] = ("receipt", "verify", path, "--node-key", key)

    def as_json(receipt: Receipt) -> bytes:
        return json.dumps(receipt, indent=2).encode()

    case("valid_accepted", as_json(receipts["accepted"]))
    for name, (tamper, _) in TAMPERED.items():
        forged = copy.deepcopy(receipts["rejected"])
        tamper(forged)
        case(f"tampered_{name}", as_json(forged))
    case("another_node_key", as_json(receipts["accepted"]),
         SigningKey.generate().public_key_hex)
    for name, (content, _) in NOT_RECEIPTS.items():
        case(f"not_receipt_{name}", content)
    for name, content in UNREADABLE_JSON.items():
        case(f"unreadable_{name}", content)
    for field in BEYOND_U64:
        forged = copy.deepcopy(receipts["accepted"])
        forged["signed_tree_head"][field] = 2**64
        case(f"beyond_u64_{field}", as_json(forged))
    case("missing_file", None)
    for name, (key, _) in BAD_KEYS.items():
        case(f"bad_key_{name}", as_json(receipts["accepted"]), key)
    return consortia_all(jobs)


# -- receipt get ---------------------------------------------------------------------------

def test_receipt_get_prints_the_receipt(node: RunningNode, http: httpx.Client,
                                        receipts: dict[str, Receipt]) -> None:
    tx_id = receipts["accepted"]["tx_id"]
    done = consortia("receipt", "get", tx_id, "--url", node.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == http.get(f"/v1/tx/{tx_id}/receipt").json()


def test_receipt_got_to_a_file_verifies(node: RunningNode, tmp_path: Path,
                                        receipts: dict[str, Receipt]) -> None:
    tx_id = receipts["rejected"]["tx_id"]
    path = tmp_path / "receipt.json"
    got = consortia("receipt", "get", tx_id, "--url", node.url, "--out", path)
    assert got.returncode == 0, got.stderr
    assert json.loads(path.read_text())["tx_id"] == tx_id
    done = consortia("receipt", "verify", path, "--node-key", node.node.key.public_key_hex)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"valid: tx {tx_id} rejected (already_attested)")


def test_receipt_get_of_a_tx_the_node_lacks_fails_with_one_line(node: RunningNode) -> None:
    runs = consortia_all({
        "unknown": ("receipt", "get", "00" * 32, "--url", node.url),
        "bad_id": ("receipt", "get", "not-a-tx-id", "--url", node.url),
        "unreachable": ("receipt", "get", "00" * 32, "--url", free_url()),
    })
    assert_fails_with_one_line(runs["unknown"], "unknown_tx")
    assert_fails_with_one_line(runs["bad_id"], "bad_tx_id")
    assert_fails_with_one_line(runs["unreachable"], "cannot reach")
    assert all(done.stdout == "" for done in runs.values())


# -- receipt verify ------------------------------------------------------------------------

def test_receipt_verify_of_a_valid_receipt_exits_0_and_says_what_it_proves(
        verify_runs: dict[str, Done], receipts: dict[str, Receipt]) -> None:
    done = verify_runs["valid_accepted"]
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    receipt = receipts["accepted"]
    result = receipt["result"]
    assert done.stdout.strip() == (
        f"valid: tx {receipt['tx_id']} {result['status']} ({result['code']}) at leaf "
        f"{receipt['leaf_index']} of {receipt['tree_size']}, height {result['height']}")


@pytest.mark.parametrize("case", list(TAMPERED))
def test_receipt_verify_of_a_tampered_receipt_fails_with_one_line_saying_what(
        verify_runs: dict[str, Done], case: str) -> None:
    done = verify_runs[f"tampered_{case}"]
    assert_fails_with_one_line(done, "invalid receipt", TAMPERED[case][1])
    assert done.stdout == ""


def test_receipt_verify_with_another_node_key_fails_with_one_line(
        verify_runs: dict[str, Done]) -> None:
    assert_fails_with_one_line(verify_runs["another_node_key"], "another node key")


@pytest.mark.parametrize("case", list(NOT_RECEIPTS))
def test_receipt_verify_of_a_file_that_is_no_receipt_fails_with_one_line(
        verify_runs: dict[str, Done], case: str) -> None:
    assert_fails_with_one_line(verify_runs[f"not_receipt_{case}"], NOT_RECEIPTS[case][1])


@pytest.mark.parametrize("case", list(UNREADABLE_JSON))
def test_receipt_verify_of_an_unreadable_json_file_fails_with_one_line(
        verify_runs: dict[str, Done], case: str) -> None:
    assert_fails_with_one_line(verify_runs[f"unreadable_{case}"], "JSON")


@pytest.mark.parametrize("field", BEYOND_U64)
def test_receipt_verify_of_a_tree_head_number_beyond_u64_fails_with_one_line(
        verify_runs: dict[str, Done], field: str) -> None:
    assert_fails_with_one_line(verify_runs[f"beyond_u64_{field}"], "invalid receipt")


def test_receipt_verify_of_a_missing_file_fails_with_one_line(
        verify_runs: dict[str, Done]) -> None:
    assert_fails_with_one_line(verify_runs["missing_file"], "cannot read", "missing_file.json")


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_receipt_verify_with_a_bad_node_key_fails_with_one_line(
        verify_runs: dict[str, Done], case: str) -> None:
    assert_fails_with_one_line(verify_runs[f"bad_key_{case}"], BAD_KEYS[case][1])
