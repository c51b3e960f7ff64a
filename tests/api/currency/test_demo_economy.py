"""``run_demo`` on a fresh node builds the demo economy by real txs: a second central bank, CNY
and HKD with e-CNY-like tiers, funded reserves, wallets with saved owner keys, a few payments."""

from __future__ import annotations

import stat
from typing import Any

import httpx

from consortia.demo.consortium import (
    DEMO_WALLETS,
    DONE_MARKER,
    run_demo,
    wallet_key_path,
)
from tests.api.currency.support import Economy, signed_get

# After the demo's transfers and its one QR order (chen pays the teahouse 28.00).
BALANCES = {"alice": "19372.00", "bob": "3500.00", "chen": "7935.50", "dora": "15000.00",
            "teahouse": "192.50", "harbor-books": "0.00"}


def _get(http: httpx.Client, path: str) -> Any:
    response = http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_second_central_bank_joins_by_proposal(http: httpx.Client) -> None:
    members = {m["id"]: m for m in _get(http, "/v1/governance/members")["members"]}
    assert members["lantau-ma"]["name"] == "Monetary Authority of Lantau"
    assert (members["lantau-ma"]["role"], members["lantau-ma"]["status"]) == (
        "central_bank", "active")
    assert len(members) == 7


def test_currencies_and_tiers_were_adopted_by_invoke_proposals(http: httpx.Client) -> None:
    proposals = _get(http, "/v1/governance/proposals?limit=200")["proposals"]
    invoked = [(p["action"]["kind"], p["status"]) for p in proposals
               if p["action"]["type"] == "invoke" and p["action"]["kind"].startswith("currency.")]
    assert sorted(invoked) == sorted([("currency.add_currency", "accepted")] * 2
                                     + [("currency.set_tier", "accepted")] * 6)
    # The proposal left open for the governance page is still the newest.
    assert proposals[0]["status"] == "open"
    for code in ("CNY", "HKD"):
        tiers = _get(http, f"/v1/currency/currencies/{code}")["tiers"]
        assert sorted(t["tier"] for t in tiers) == ["anonymous", "merchant", "verified"]


def test_every_demo_wallet_is_open_funded_and_paid_as_specified(
        economy: Economy, http: httpx.Client) -> None:
    regulator = economy.members["fro"]
    assert {w.id for w in DEMO_WALLETS} == set(BALANCES)
    for spec in DEMO_WALLETS:
        wallet = signed_get(http, regulator, f"/v1/currency/wallets/{spec.id}").json()
        assert (wallet["currency"], wallet["tier"], wallet["operator"], wallet["holder"],
                wallet["label"], wallet["status"]) == (
            spec.currency, spec.tier, spec.operator, spec.holder, spec.label, "active")
        assert wallet["balance"] == BALANCES[spec.id], spec.id
    teahouse = signed_get(http, economy.members["meridian"],
                          "/v1/currency/wallets/teahouse/statement").json()["entries"]
    assert [(e["kind"], e["amount"], e["counterparty"], e["memo"]) for e in teahouse] == [
        ("payment_in", "28.00", "chen", "Jade Teahouse order T-1000"),
        ("transfer_in", "36.50", "chen", "Pu'er tea, 250 g"),
        ("transfer_in", "128.00", "alice", "Tea and dim sum")]


def test_owner_keys_are_saved_0600_and_own_their_wallets(economy: Economy,
                                                         http: httpx.Client) -> None:
    for spec in DEMO_WALLETS:
        path = wallet_key_path(economy.data_dir, spec.id)
        assert path == economy.data_dir / "keys" / "wallets" / f"{spec.id}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        mine = signed_get(http, economy.owners[spec.id], "/v1/currency/mine").json()
        assert [w["id"] for w in mine["wallets"]] == [spec.id]


def test_reserves_and_supply_add_up(economy: Economy, http: httpx.Client) -> None:
    regulator = economy.members["fro"]
    reserves = {(code, bank): signed_get(http, regulator,
                                         f"/v1/currency/reserves/{code}/{bank}").json()["balance"]
                for code, bank in [("CNY", "harbor"), ("CNY", "meridian"), ("HKD", "harbor")]}
    assert reserves == {("CNY", "harbor"): "9977000.00", ("CNY", "meridian"): "9992000.00",
                        ("HKD", "harbor"): "4985000.00"}
    cny = _get(http, "/v1/currency/supply/CNY")
    assert (cny["issued"], cny["in_reserves"], cny["in_wallets"]) == (
        "20000000.00", "19969000.00", "31000.00")
    in_wallets = sum(int(BALANCES[w.id].replace(".", "")) for w in DEMO_WALLETS
                     if w.currency == "CNY")
    assert in_wallets == cny["in_wallets_minor"]


def test_running_the_demo_again_sends_nothing(economy: Economy) -> None:
    (economy.data_dir / DONE_MARKER).unlink()
    head = economy.node.node.chain.head.height
    with economy.node.client() as client:
        run_demo(client, economy.data_dir)
    assert economy.node.node.chain.head.height == head
    assert (economy.data_dir / DONE_MARKER).exists()
