"""Demo logins: the demo economy's wallet owners and the institutions' desks."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from consortia.crypto.keys import SigningKey
from consortia.custody.store import PERSON, STAFF, USERNAME, Custody, User
from consortia.ledger.state import Reader
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
)


def demo_password(username: str) -> str:
    return username + DEMO_PASSWORD_SUFFIX


def create_demo_logins(custody: Custody, data_dir: Path, state: Reader | None = None,
                       ) -> list[User]:
    """Import the demo's keys as logins; returns the users added (none on a second run).

    Persons: every ``<data_dir>/keys/wallets/<wallet_id>.key``, username = wallet id.
    Staff: the desks above whose member key ``<data_dir>/keys/<member>.key`` exists.
    Passwords are ``<username>-demo``. With ``state`` (the node's committed state) a person's
    operator bank is recorded too.
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
    return added
