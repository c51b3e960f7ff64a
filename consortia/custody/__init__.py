"""The custodial web wallet's own store, off the ledger.

The operator bank keeps, in ``<data_dir>/custody.sqlite``, the people and staff who log in to
the web pages: their argon2 password hashes, their Ed25519 keys sealed under a master key
(``<data_dir>/custody.key``, mode 0600), and their sessions. Nothing here is consensus state:
the ledger only ever sees the transactions these keys sign.
"""

from consortia.custody.config import CustodyConfig
from consortia.custody.demo import create_demo_logins
from consortia.custody.store import Custody, CustodyError, Session, User

__all__ = ["Custody", "CustodyConfig", "CustodyError", "Session", "User", "create_demo_logins"]
