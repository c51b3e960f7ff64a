"""A real chain on SQLite running every default module plus certification.

Members: central bank ``cb1``, banks ``bank1`` and ``bank2``, the regulator ``reg``, and two
certification bodies ``cfc`` and ``bctc``. Governance (cb1, bank1, bank2, cfc: 4 of 6) accredits
the labs ``lab1`` and ``lab2``; vendors ``acme`` and ``globex`` register themselves. Devices and
strangers are plain keys.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from consortia.crypto.keys import SigningKey
from consortia.ledger.chain import Chain
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.result import TxResult
from consortia.ledger.store import Store
from consortia.ledger.tx import DeviceCredential, Envelope, SignedTx
from consortia.modules import default_modules
from consortia.modules.certification import queries
from consortia.modules.certification.logic import sign_credential
from consortia.modules.certification.types import Certificate, ProductType
from consortia.sdk.client import build_tx
from tests.ledger.helpers import CHAIN_ID, GENESIS_MS, env

DAY_MS = 86_400_000
MEMBERS = (("cb1", "central_bank"), ("bank1", "bank"), ("bank2", "bank"), ("reg", "regulator"),
           ("cfc", "certification_body"), ("bctc", "certification_body"))
VOTERS = ("cb1", "bank1", "bank2", "cfc")
LABS = ("lab1", "lab2")
VENDORS = {"acme": ("Acme Payment Terminals Co., Ltd.", "1 Keji Road, Shenzhen"),
           "globex": ("Globex Fintech Ltd.", "88 Century Avenue, Shanghai")}
OTHERS = ("dev1", "dev2", "dev3", "stranger")


def evidence(text: str) -> str:
    """The SHA-256 (hex) of a document, as transitions carry it."""
    return hashlib.sha256(text.encode()).hexdigest()


def signing_key(name: str) -> SigningKey:
    return SigningKey(hashlib.sha256(b"certification test party " + name.encode()).digest())


NODE_KEY = signing_key("node")
KEYS: dict[str, SigningKey] = {name: signing_key(name)
                               for name in (*(m for m, _ in MEMBERS), *LABS, *VENDORS, *OTHERS)}


def public(name: str) -> str:
    return KEYS[name].public_key_hex


def make_genesis() -> Genesis:
    return Genesis(
        chain_id=CHAIN_ID, time_ms=GENESIS_MS,
        members=[GenesisMember(i, i.upper(), role, public(i)) for i, role in MEMBERS],
        nodes=[GenesisNode("node1", "bank1", NODE_KEY.public_key_hex)],
    )


def application(product_type: str = "POS", body: str = "cfc", **changes: Any,
                ) -> dict[str, Any]:
    return {"body": body, "product_type": product_type, "product_name": "SmartPOS",
            "model": "SP-100", "version": "1.0.0", "manufacturer": "Acme Manufacturing",
            "factory": "Acme Factory No. 2, Dongguan", "scope": "card and QR acceptance",
            "standards": ["JR/T 0001", "JR/T 0120"], "evidence": evidence("dossier"),
            **changes}


def step(cert: str, reason: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"certificate": cert, "reason": reason, "evidence": evidence(reason), **extra}


class Ledger:
    """A chain plus the clock the tests control: each ``run`` is one block at ``now_ms``."""

    def __init__(self, path: Path) -> None:
        self.genesis = make_genesis()
        # The chain's own modules: certification is one of them, and admits devices.
        executor = Executor(CHAIN_ID, default_modules())
        self.chain = Chain(Store(path), self.genesis, executor, NODE_KEY)
        self.now_ms = GENESIS_MS + 1_000
        self.batches = 0
        self.nonce = 0

    # -- transactions ------------------------------------------------------------------------

    def tx(self, signer: str, kind: str, payload: dict[str, Any],
           device: DeviceCredential | None = None) -> SignedTx:
        self.nonce += 1
        return build_tx(KEYS[signer], CHAIN_ID, kind, payload, now_ms=self.now_ms,
                        nonce=self.nonce, device=device)

    def run_txs(self, stxs: list[SignedTx]) -> list[TxResult]:
        self.batches += 1
        committed = self.chain.apply_batch(self.batches, self.now_ms, [env(s) for s in stxs])
        assert committed is not None
        assert [e.tx_id for e in committed.executed] == [Envelope(s).tx_id for s in stxs]
        return list(committed.block.results)

    def at(self, time_ms: int | None) -> None:
        if time_ms is not None:
            assert time_ms >= self.now_ms, "block time never goes back"
            self.now_ms = time_ms

    def run(self, signer: str, kind: str, payload: dict[str, Any], at_ms: int | None = None,
            device: DeviceCredential | None = None) -> TxResult:
        self.at(at_ms)
        return self.run_txs([self.tx(signer, kind, payload, device)])[0]

    def ok(self, signer: str, kind: str, payload: dict[str, Any], at_ms: int | None = None,
           device: DeviceCredential | None = None) -> TxResult:
        result = self.run(signer, kind, payload, at_ms, device)
        assert result.accepted, (kind, result.code, result.message)
        return result

    def refused(self, signer: str, kind: str, payload: dict[str, Any],
                at_ms: int | None = None, device: DeviceCredential | None = None,
                ) -> TxResult:
        """Run a tx that must be rejected; check the state is byte-for-byte unchanged."""
        before = dict(self.chain.state.items)
        result = self.run(signer, kind, payload, at_ms, device)
        assert not result.accepted, (kind, payload)
        assert result.code and result.message
        assert result.data == {}
        assert self.chain.state.items == before
        return result

    # -- governance ------------------------------------------------------------------------

    def adopt(self, *actions: dict[str, Any]) -> None:
        proposals = self.run_txs([self.tx("cb1", "governance.propose", {"action": a})
                                  for a in actions])
        assert all(r.accepted for r in proposals), proposals
        votes = [self.tx(voter, "governance.vote",
                         {"proposal_id": r.data["proposal_id"], "approve": True})
                 for r in proposals for voter in VOTERS]
        results = self.run_txs(votes)
        assert all(r.accepted for r in results), results
        decided = results[len(VOTERS) - 1::len(VOTERS)]
        assert [r.data["status"] for r in decided] == ["accepted"] * len(actions), decided

    def invoke(self, kind: str, payload: dict[str, Any]) -> None:
        self.adopt({"type": "invoke", "kind": kind, "payload": payload})

    # -- reading ---------------------------------------------------------------------------

    def cert(self, ref: str) -> Certificate:
        found = queries.certificate(self.chain.state, ref)
        assert found is not None, ref
        return found

    def status(self, ref: str) -> str:
        return queries.view(self.cert(ref), self.now_ms)["status"]  # type: ignore[no-any-return]

    def product_type(self, code: str) -> ProductType:
        found = [t for t in queries.product_types(self.chain.state) if t.code == code]
        assert len(found) == 1, code
        return found[0]

    # -- the certification path --------------------------------------------------------------

    def apply(self, vendor: str = "acme", **changes: Any) -> str:
        """A new application; its id."""
        result = self.ok(vendor, "certification.apply", application(**changes))
        cert_id: str = result.data["certificate"]
        return cert_id

    def report(self, cert: str, lab: str = "lab1", failing: tuple[str, ...] = ()) -> TxResult:
        items = self.product_type(self.cert(cert).product_type).test_items
        results = [{"item": i.id, "passed": i.id not in failing, "note": ""} for i in items]
        return self.ok(lab, "certification.test_report",
                       {"certificate": cert, "results": results,
                        "evidence": evidence("report")})

    def drive(self, cert: str, to: str, body: str = "cfc") -> str:
        """Move an application along the examination path until it reaches ``to`` (one of
        accepted, testing, test_passed, onsite_passed, valid); returns the id, or the
        certificate number once issued."""
        path = [("accepted", "certification.accept", step(cert, "accepted")),
                ("testing", "certification.assign_lab", step(cert, "lab", lab="lab1")),
                ("test_passed", "", {}),
                ("onsite_passed", "certification.onsite_check", step(cert, "onsite",
                                                                      passed=True)),
                ("valid", "certification.decide", step(cert, "issued", issue=True))]
        for status, kind, payload in path:
            result = self.ok(body, kind, payload) if kind else self.report(cert)
            if status == to:
                return str(result.data.get("number", cert))
        raise AssertionError(f"not on the examination path: {to}")

    def issue(self, vendor: str = "acme", **changes: Any) -> str:
        """A certificate issued now; its number."""
        return self.drive(self.apply(vendor, **changes), "valid",
                          body=changes.get("body", "cfc"))

    def credential(self, device: str, number: str, vendor: str = "acme",
                   model: str = "SP-100", version: str = "1.0.0") -> DeviceCredential:
        return sign_credential(KEYS[vendor], public(device), number, model, version)

    def register_device(self, device: str, number: str, vendor: str = "acme",
                        version: str = "1.0.0") -> DeviceCredential:
        self.ok(vendor, "certification.register_device",
                {"device_key": public(device), "certificate": number, "model": "SP-100",
                 "version": version})
        return self.credential(device, number, vendor, version=version)

    def device_attest(self, device: str, credential: DeviceCredential, n: int) -> TxResult:
        """Any tx carrying the credential: a notary attestation signed by the device."""
        return self.run(device, "notary.attest", {"digest": evidence(f"payment {n}")},
                        device=credential)


def set_up(ledger: Ledger) -> None:
    """Labs accredited by governance, vendors registered."""
    ledger.adopt(*({"type": "invoke", "kind": "certification.accredit_lab",
                    "payload": {"id": lab, "name": lab.upper(), "key": public(lab)}}
                   for lab in LABS))
    results = ledger.run_txs([ledger.tx(v, "certification.register_vendor",
                                        {"id": v, "legal_name": name, "address": address})
                              for v, (name, address) in VENDORS.items()])
    assert all(r.accepted for r in results), results


def make_ledger(path: Path) -> Ledger:
    ledger = Ledger(path)
    set_up(ledger)
    return ledger
