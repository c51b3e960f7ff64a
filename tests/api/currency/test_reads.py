"""Public reads (currencies, tiers, supply) and a wallet's reads (balance, statement, CSV) over
HTTP and through the SDK; amounts are decimal strings everywhere."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import send_all
from consortia.ledger.receipts import verify_receipt
from consortia.sdk import Client, ConsortiaError
from tests.api.currency.support import Economy, signed_get
from tests.api.support import assert_error

PAGER_ENTRIES = 12


@pytest.fixture(scope="module")
def pager(economy: Economy) -> SigningKey:
    """Wallet "pager" (CNY, verified, harbor) with 12 statement entries: 11 distributions of
    1.00 … 11.00, then a payment to teahouse with a memo a spreadsheet would evaluate."""
    owner = SigningKey(bytes([42]) * 32)
    harbor = economy.members["harbor"]
    with economy.node.client() as client:
        send_all(client, [(harbor, "currency.open_wallet", {
            "wallet_id": "pager", "currency": "CNY", "owner_key": owner.public_key_hex,
            "tier": "verified", "label": "Paging test"})])
        send_all(client, [(harbor, "currency.distribute",
                           {"wallet_id": "pager", "amount": f"{n}.00"})
                          for n in range(1, PAGER_ENTRIES)])
        send_all(client, [(owner, "currency.transfer", {
            "from_wallet": "pager", "to_wallet": "teahouse", "amount": "0.05",
            "memo": "=HYPERLINK(\"http://evil\")"})])
    return owner


def _get(http: httpx.Client, path: str) -> Any:
    response = http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_currencies_are_public_with_their_issuers(http: httpx.Client) -> None:
    listed = _get(http, "/v1/currency/currencies")["currencies"]
    assert [(c["code"], c["numeric"], c["exponent"], c["issuer"], c["name"]) for c in listed] == [
        ("CNY", "156", 2, "arcadia-cb", "Digital yuan (e-CNY)"),
        ("HKD", "344", 2, "lantau-ma", "Digital Hong Kong dollar")]


def test_a_currency_shows_its_tiers_with_limits_as_decimal_strings(http: httpx.Client) -> None:
    cny = _get(http, "/v1/currency/currencies/CNY")
    tiers = {t["tier"]: t for t in cny["tiers"]}
    assert (tiers["anonymous"]["balance_max"], tiers["anonymous"]["payment_max"],
            tiers["anonymous"]["daily_max"]) == ("10000.00", "2000.00", "5000.00")
    assert (tiers["verified"]["balance_max"], tiers["verified"]["payment_max"],
            tiers["verified"]["daily_max"]) == ("500000.00", "50000.00", "100000.00")
    assert (tiers["merchant"]["balance_max"], tiers["merchant"]["payment_max"],
            tiers["merchant"]["daily_max"]) == ("5000000.00", "1000000.00", "5000000.00")
    assert tiers["anonymous"]["payment_max_minor"] == 200_000


@pytest.mark.parametrize("path", ["/v1/currency/currencies/XXX", "/v1/currency/supply/XXX"])
def test_an_unknown_currency_is_404(http: httpx.Client, path: str) -> None:
    assert_error(http.get(path), 404, "unknown_currency")


def _all_wallets(http: httpx.Client, regulator: SigningKey, bank: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = signed_get(http, regulator, f"/v1/currency/operators/{bank}/wallets", params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["wallets"]) <= 2
        out += body["wallets"]
        after = body["next_after"]
        if after is None:
            return out


@pytest.mark.parametrize("code", ["CNY", "HKD"])
def test_supply_matches_the_sum_of_balances_and_reserves(
        economy: Economy, http: httpx.Client, pager: SigningKey, code: str) -> None:
    supply = _get(http, f"/v1/currency/supply/{code}")
    regulator = economy.members["fro"]
    wallets = [w for bank in ("harbor", "meridian")
               for w in _all_wallets(http, regulator, bank) if w["currency"] == code]
    reserves = [signed_get(http, regulator, f"/v1/currency/reserves/{code}/{bank}").json()
                for bank in ("harbor", "meridian")]
    assert sum(w["balance_minor"] for w in wallets) == supply["in_wallets_minor"]
    assert sum(r["balance_minor"] for r in reserves) == supply["in_reserves_minor"]
    assert (supply["in_wallets_minor"] + supply["in_reserves_minor"]
            == supply["issued_minor"] - supply["redeemed_minor"] == supply["outstanding_minor"])
    for field in ("issued", "redeemed", "outstanding", "in_reserves", "in_wallets"):
        assert isinstance(supply[field], str)
        whole, fraction = supply[field].split(".")
        assert len(fraction) == 2 and int(whole + fraction) == supply[f"{field}_minor"]


def test_the_demo_supply_in_decimal_strings(http: httpx.Client) -> None:
    hkd = _get(http, "/v1/currency/supply/HKD")
    assert {k: hkd[k] for k in ("issued", "redeemed", "outstanding", "in_reserves",
                                "in_wallets")} == {
        "issued": "5000000.00", "redeemed": "0.00", "outstanding": "5000000.00",
        "in_reserves": "4985000.00", "in_wallets": "15000.00"}


def test_a_wallet_shows_balance_limits_and_what_is_left_today(economy: Economy,
                                                              http: httpx.Client) -> None:
    alice = signed_get(http, economy.owners["alice"], "/v1/currency/wallets/alice").json()
    assert alice["balance"] == "19372.00" and alice["balance_minor"] == 1_937_200
    assert (alice["currency"], alice["tier"], alice["operator"], alice["status"]) == (
        "CNY", "verified", "harbor", "active")
    assert alice["limits"]["payment_max"] == "50000.00"
    assert alice["spent_today"] == "628.00"
    assert alice["daily_left"] == "99372.00"


def test_statement_pages_newest_first_down_to_the_first_entry(
        economy: Economy, http: httpx.Client, pager: SigningKey) -> None:
    seen: list[int] = []
    before: int | None = None
    while True:
        params = {"limit": 5, **({"before_seq": before} if before is not None else {})}
        page = signed_get(http, pager, "/v1/currency/wallets/pager/statement", params).json()
        assert page["entries_total"] == PAGER_ENTRIES
        seen += [e["seq"] for e in page["entries"]]
        before = page["next_before_seq"]
        if before is None:
            break
    assert seen == list(range(PAGER_ENTRIES - 1, -1, -1))


def test_statement_entries_carry_decimal_amounts_running_balance_and_a_receipt(
        economy: Economy, http: httpx.Client, pager: SigningKey) -> None:
    page = signed_get(http, pager, "/v1/currency/wallets/pager/statement",
                      {"limit": 2}).json()
    newest, previous = page["entries"]
    assert (newest["kind"], newest["amount"], newest["balance"], newest["counterparty"]) == (
        "transfer_out", "-0.05", "65.95", "teahouse")
    assert (previous["kind"], previous["amount"], previous["balance"]) == (
        "distribute", "11.00", "66.00")
    receipt = http.get(f"/v1/tx/{newest['tx_id']}/receipt").json()
    verify_receipt(receipt, economy.node.node.key.public_key)
    assert receipt["result"]["kind"] == "currency.transfer"
    assert page["balance"] == "65.95"


def test_statement_page_size_is_capped_by_page_size_max(
        economy: Economy, http: httpx.Client, pager: SigningKey) -> None:
    cap = economy.node.node.config.page_size_max
    page = signed_get(http, pager, "/v1/currency/wallets/pager/statement",
                      {"limit": cap + 1000}).json()
    assert len(page["entries"]) == min(cap, PAGER_ENTRIES)


@pytest.mark.parametrize("params", [{"limit": 0}, {"before_seq": -1}, {"limit": "x"}])
def test_bad_statement_parameters_are_400(economy: Economy, http: httpx.Client,
                                          pager: SigningKey, params: dict[str, Any]) -> None:
    assert_error(signed_get(http, pager, "/v1/currency/wallets/pager/statement", params),
                 400, "bad_request")


def test_statement_csv_is_an_attachment_oldest_first_with_text_safe_memos(
        economy: Economy, http: httpx.Client, pager: SigningKey) -> None:
    response = signed_get(http, pager, "/v1/currency/wallets/pager/statement.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="statement-pager.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["seq"]) for r in rows] == list(range(PAGER_ENTRIES))
    assert rows[0]["amount"] == "1.00" and rows[-1]["amount"] == "-0.05"
    assert rows[-1]["balance"] == "65.95"
    assert rows[-1]["memo"] == "'=HYPERLINK(\"http://evil\")"
    assert len(rows[-1]["tx_id"]) == 64


def test_statement_csv_is_bounded_by_limit_and_before_seq(
        economy: Economy, http: httpx.Client, pager: SigningKey) -> None:
    response = signed_get(http, pager, "/v1/currency/wallets/pager/statement.csv",
                          {"limit": 3, "before_seq": 5})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["seq"]) for r in rows] == [2, 3, 4]


def test_mine_lists_the_wallets_of_the_signing_key(economy: Economy,
                                                   http: httpx.Client) -> None:
    mine = signed_get(http, economy.owners["dora"], "/v1/currency/mine").json()
    assert mine["owner_key"] == economy.owners["dora"].public_key_hex
    assert [(w["id"], w["currency"], w["balance"]) for w in mine["wallets"]] == [
        ("dora", "HKD", "15000.00")]
    nobody = signed_get(http, SigningKey(bytes([98]) * 32), "/v1/currency/mine").json()
    assert nobody["wallets"] == []


def test_sdk_signed_reads_and_transfer_with_a_verified_receipt(economy: Economy,
                                                               pager: SigningKey) -> None:
    with Client(economy.url, pager) as client:
        before = client.wallet("pager")["balance_minor"]
        result, receipt = client.transfer(pager, "pager", "bob", "1.50", "lunch")
        assert result["status"] == "accepted"
        client.verify(receipt, economy.node.node.key.public_key_hex)
        assert client.wallet("pager")["balance_minor"] == before - 150
        newest = client.statement("pager", limit=1)["entries"][0]
        assert newest["tx_id"] == receipt["tx_id"] and newest["memo"] == "lunch"
        assert client.statement_csv("pager", limit=1).splitlines()[1].startswith(
            f"{newest['seq']},")
        assert [w["id"] for w in client.mine()] == ["pager"]
        assert client.tx(receipt["tx_id"])["tx"]["tx"]["payload"]["amount"] == "1.50"
        assert client.supply("CNY")["issued"] == "20000000.00"
    with Client(economy.url) as anonymous:
        with pytest.raises(ConsortiaError) as raised:
            anonymous.wallet("pager")
        assert (raised.value.status, raised.value.code) == (401, "auth_required")
        assert anonymous.tx(receipt["tx_id"])["redacted"] is True


def test_sdk_transfer_over_the_tier_limit_is_rejected_with_its_code(
        economy: Economy, pager: SigningKey) -> None:
    with economy.node.client() as client:
        result, receipt = client.transfer(economy.owners["bob"], "bob", "alice", "2000.01")
        assert (result["status"], result["code"]) == ("rejected", "payment_limit")
        client.verify(receipt)
        result, _ = client.transfer(economy.owners["bob"], "bob", "alice", "1.001")
        assert (result["status"], result["code"]) == ("rejected", "bad_amount")
