"""Who sees a wallet, a statement, a reserve and a transfer: its owner, its operator bank, the
regulator (and for a reserve, the issuing central bank); not the public, not other members."""

from __future__ import annotations

import time

import httpx
import pytest

from consortia.api.auth import sign_request
from consortia.crypto.keys import SigningKey
from tests.api.currency.support import Economy, signed_get
from tests.api.support import assert_error

PRIVATE_READS = ["/v1/currency/wallets/alice", "/v1/currency/wallets/alice/statement",
                 "/v1/currency/wallets/alice/statement.csv"]


def _key(economy: Economy, who: str) -> SigningKey:
    if who == "stranger":
        return SigningKey(bytes([99]) * 32)
    return economy.owners.get(who) or economy.members[who]


def _alice_paid_bob(economy: Economy, http: httpx.Client) -> str:
    entries = signed_get(http, economy.owners["alice"],
                         "/v1/currency/wallets/alice/statement").json()["entries"]
    (to_bob,) = [e for e in entries if e["counterparty"] == "bob"]
    tx_id: str = to_bob["tx_id"]
    return tx_id


@pytest.mark.parametrize("path", [*PRIVATE_READS, "/v1/currency/mine",
                                  "/v1/currency/reserves/CNY/harbor",
                                  "/v1/currency/operators/harbor/wallets"])
def test_anonymous_requests_for_private_reads_get_401(http: httpx.Client, path: str) -> None:
    assert_error(http.get(path), 401, "auth_required")


@pytest.mark.parametrize("who", ["stranger", "meridian", "lotus", "fcc", "arcadia-cb", "bob"])
@pytest.mark.parametrize("path", PRIVATE_READS)
def test_strangers_other_members_and_other_owners_get_403_for_a_wallet(
        economy: Economy, http: httpx.Client, who: str, path: str) -> None:
    assert_error(signed_get(http, _key(economy, who), path), 403, "not_allowed")


@pytest.mark.parametrize("who", ["alice", "harbor", "fro"])
def test_owner_operator_and_regulator_read_the_wallet_and_its_statement(
        economy: Economy, http: httpx.Client, who: str) -> None:
    key = _key(economy, who)
    wallet = signed_get(http, key, "/v1/currency/wallets/alice")
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["balance"] == "19372.00"
    statement = signed_get(http, key, "/v1/currency/wallets/alice/statement")
    assert statement.status_code == 200, statement.text
    assert [e["kind"] for e in statement.json()["entries"]] == [
        "transfer_out", "transfer_out", "distribute"]
    csv = signed_get(http, key, "/v1/currency/wallets/alice/statement.csv")
    assert csv.status_code == 200
    assert csv.text.count("\n") == 4


def test_an_unknown_wallet_is_404_for_a_signed_request(economy: Economy,
                                                       http: httpx.Client) -> None:
    assert_error(signed_get(http, economy.members["fro"], "/v1/currency/wallets/nobody"), 404,
                 "unknown_wallet")


@pytest.mark.parametrize(("who", "status"), [
    ("harbor", 200), ("arcadia-cb", 200), ("fro", 200),
    ("meridian", 403), ("lantau-ma", 403), ("lotus", 403), ("alice", 403), ("stranger", 403)])
def test_a_reserve_is_seen_by_its_bank_the_issuing_central_bank_and_the_regulator(
        economy: Economy, http: httpx.Client, who: str, status: int) -> None:
    response = signed_get(http, _key(economy, who), "/v1/currency/reserves/CNY/harbor")
    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json() == {"currency": "CNY", "bank": "harbor",
                                   "balance": "9977000.00", "balance_minor": 997700000}
    else:
        assert_error(response, status, "not_allowed")


def test_the_issuer_of_hkd_sees_hkd_reserves_only(economy: Economy, http: httpx.Client) -> None:
    key = economy.members["lantau-ma"]
    hkd = signed_get(http, key, "/v1/currency/reserves/HKD/harbor")
    assert hkd.status_code == 200
    assert hkd.json()["balance"] == "4985000.00"
    assert_error(signed_get(http, key, "/v1/currency/reserves/CNY/meridian"), 403,
                 "not_allowed")


@pytest.mark.parametrize(("who", "status"), [
    ("harbor", 200), ("fro", 200), ("meridian", 403), ("arcadia-cb", 403), ("alice", 403)])
def test_a_banks_wallet_list_is_for_the_bank_and_the_regulator(
        economy: Economy, http: httpx.Client, who: str, status: int) -> None:
    response = signed_get(http, _key(economy, who), "/v1/currency/operators/harbor/wallets")
    if status == 200:
        assert response.status_code == 200, response.text
        assert [w["id"] for w in response.json()["wallets"]] == [
            "alice", "bob", "dora", "harbor-books"]
    else:
        assert_error(response, status, "not_allowed")


def test_a_transfer_tx_is_redacted_for_the_public_and_other_members(
        economy: Economy, http: httpx.Client) -> None:
    tx_id = _alice_paid_bob(economy, http)
    for key in (None, economy.members["meridian"], economy.members["lotus"],
                economy.members["lantau-ma"], _key(economy, "stranger")):
        status = signed_get(http, key, f"/v1/tx/{tx_id}").json()
        assert status["redacted"] is True
        assert "tx" not in status
        assert status["result"]["status"] == "accepted"
        # The random hex tx id may contain "500" by chance; look at everything else.
        shown = str({k: v for k, v in status.items() if k != "tx_id"})
        assert "alice" not in shown and "500" not in shown


@pytest.mark.parametrize("who", ["alice", "harbor", "fro"])
def test_a_transfer_tx_is_shown_in_full_to_its_signer_the_operator_and_the_regulator(
        economy: Economy, http: httpx.Client, who: str) -> None:
    tx_id = _alice_paid_bob(economy, http)
    status = signed_get(http, _key(economy, who), f"/v1/tx/{tx_id}").json()
    assert "redacted" not in status
    assert status["tx"]["tx"]["payload"] == {"from_wallet": "alice", "to_wallet": "bob",
                                             "amount": "500.00", "memo": "Dinner, split"}
    assert status["tx"]["tx"]["signer"] == economy.owners["alice"].public_key_hex


def test_the_payees_operator_sees_a_transfer_into_its_merchants_wallet(
        economy: Economy, http: httpx.Client) -> None:
    entries = signed_get(http, economy.members["meridian"],
                         "/v1/currency/wallets/teahouse/statement").json()["entries"]
    from_alice = next(e for e in entries if e["counterparty"] == "alice")
    status = signed_get(http, economy.members["meridian"],
                        f"/v1/tx/{from_alice['tx_id']}").json()
    assert status["tx"]["tx"]["payload"]["memo"] == "Tea and dim sum"


def _with_headers(http: httpx.Client, path: str, headers: dict[str, str]) -> httpx.Response:
    return http.get(path, headers=headers)


def test_a_bad_signature_is_401(economy: Economy, http: httpx.Client) -> None:
    path = "/v1/currency/wallets/alice"
    headers = sign_request(economy.owners["alice"], "GET", path)
    headers["x-consortia-signature"] = "00" * 64
    assert_error(_with_headers(http, path, headers), 401, "bad_auth")


def test_a_signature_for_another_path_or_query_is_401(economy: Economy,
                                                      http: httpx.Client) -> None:
    headers = sign_request(economy.owners["bob"], "GET", "/v1/currency/wallets/bob")
    assert_error(_with_headers(http, "/v1/currency/wallets/alice", headers), 401, "bad_auth")
    headers = sign_request(economy.owners["alice"], "GET",
                           "/v1/currency/wallets/alice/statement?limit=1")
    assert_error(_with_headers(http, "/v1/currency/wallets/alice/statement?limit=2", headers),
                 401, "bad_auth")


def test_someone_elses_key_header_with_my_signature_is_401(economy: Economy,
                                                           http: httpx.Client) -> None:
    path = "/v1/currency/wallets/alice"
    headers = sign_request(economy.owners["bob"], "GET", path)
    headers["x-consortia-key"] = economy.owners["alice"].public_key_hex
    assert_error(_with_headers(http, path, headers), 401, "bad_auth")


@pytest.mark.parametrize("skew_ms", [-120_000, 120_000])
def test_a_stale_or_future_request_time_is_401(economy: Economy, http: httpx.Client,
                                               skew_ms: int) -> None:
    path = "/v1/currency/wallets/alice"
    when = time.time_ns() // 1_000_000 + skew_ms
    headers = sign_request(economy.owners["alice"], "GET", path, time_ms=when)
    assert_error(_with_headers(http, path, headers), 401, "stale_auth")


@pytest.mark.parametrize("headers", [
    {"x-consortia-key": "zz", "x-consortia-time": "1", "x-consortia-signature": "00"},
    {"x-consortia-key": "ab" * 32, "x-consortia-time": "soon", "x-consortia-signature": "00"},
])
def test_malformed_auth_headers_are_401(economy: Economy, http: httpx.Client,
                                        headers: dict[str, str]) -> None:
    headers = dict(headers)
    if headers["x-consortia-time"] == "1":
        headers["x-consortia-time"] = str(time.time_ns() // 1_000_000)
    assert_error(_with_headers(http, "/v1/currency/wallets/alice", headers), 401, "bad_auth")
