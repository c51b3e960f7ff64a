"""Demo logins: the demo economy's wallet owners, the institutions' desks, and the CFP demo's
test lab and vendors."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from consortia.crypto.keys import SigningKey
from consortia.custody.store import LAB, PERSON, STAFF, USERNAME, VENDOR, Custody, User
from consortia.ledger.state import Reader
from consortia.modules.certification import queries as certification
from consortia.modules.currency.types import Wallet, wallet_key

DEMO_PASSWORD_SUFFIX = "-demo"


class Desk(NamedTuple):
    username: str
    member: str
    display_name: str


DEMO_DESKS = (
    Desk("harbor-desk", "harbor", "Harbor Commercial Bank desk"),
    Desk("meridian-desk", "meridian", "Meridian Bank desk"),
    Desk("arcadia-desk", "arcadia-cb", "Central Bank of Arcadia desk"),
    Desk("lantau-desk", "lantau-ma", "Lantau Monetary Authority desk"),
    Desk("fro-desk", "fro", "Financial Regulatory Office desk"),
    Desk("fcc-desk", "fcc", "Fintech Certification Centre desk"),
)


def demo_password(username: str) -> str:
    return username + DEMO_PASSWORD_SUFFIX


def create_demo_logins(custody: Custody, data_dir: Path, state: Reader | None = None,
                       ) -> list[User]:
    """Import the demo's keys as logins; returns the users added (none on a second run).

    Persons: every ``<data_dir>/keys/wallets/<wallet_id>.key``, username = wallet id.
    Staff: the desks above whose member key ``<data_dir>/keys/<member>.key`` exists.
    Labs and vendors: every ``<data_dir>/keys/labs/<id>.key`` and ``keys/vendors/<id>.key``,
    username = institution = the lab or vendor id.
    Passwords are ``<username>-demo``. With ``state`` (the node's committed state) a person's
    operator bank, a lab's name and a vendor's legal name are recorded too.
    """
    added: list[User] = []
    wallets_dir = data_dir / "keys" / "wallets"
    key_files = sorted(wallets_dir.glob("*.key")) if wallets_dir.is_dir() else []
    for path in key_files:
        wallet_id = path.stem
        if not USERNAME.fullmatch(wallet_id) or custody.user(wallet_id) is not None:
            continue
        wallet = None if state is None else state.get(wallet_key(wallet_id), Wallet)
        added.append(custody.add_user(
            wallet_id, demo_password(wallet_id),
            display_name=wallet.label if wallet is not None and wallet.label
            else wallet_id.replace("-", " ").title(),
            kind=PERSON, institution="" if wallet is None else wallet.operator,
            key=SigningKey.load(path), wallet_id=wallet_id))
    for desk in DEMO_DESKS:
        path = data_dir / "keys" / f"{desk.member}.key"
        if not path.exists() or custody.user(desk.username) is not None:
            continue
        added.append(custody.add_user(
            desk.username, demo_password(desk.username), display_name=desk.display_name,
            kind=STAFF, institution=desk.member, key=SigningKey.load(path)))
    for kind, folder in ((LAB, "labs"), (VENDOR, "vendors")):
        party_dir = data_dir / "keys" / folder
        for path in sorted(party_dir.glob("*.key")) if party_dir.is_dir() else []:
            party_id = path.stem
            if not USERNAME.fullmatch(party_id) or custody.user(party_id) is not None:
                continue
            name = party_id.replace("-", " ").title()
            if state is not None:
                lab = certification.lab(state, party_id) if kind == LAB else None
                vendor = certification.vendor(state, party_id) if kind == VENDOR else None
                name = lab.name if lab else vendor.legal_name if vendor else name
            added.append(custody.add_user(
                party_id, demo_password(party_id), display_name=name[:100], kind=kind,
                institution=party_id, key=SigningKey.load(path)))
    return added
