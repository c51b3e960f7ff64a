"""What a vendor's prototype must implement to be examined, shared by the suites and the
reference devices: paths, tx kinds, signing domains and the lab's test account.

docs/conformance.md describes the same interface for vendors.
"""

from __future__ import annotations

from typing import Any

from consortia.crypto.hashing import canonical_json

BARCODE_TERMINAL = "BARCODE_TERMINAL"
CLIENT_SW = "CLIENT_SW"

# The tx a barcode terminal sends for a scanned consumer-presented code, as the payments
# module executes it: payload {merchant_id, code, amount, order_id}, signed by the terminal's
# device key with its credential.
CHARGE_CPM = "payments.charge_cpm"
# The tx a wallet app sends for a merchant-presented code it paid: payload {merchant_id,
# from_wallet, amount, order_id}, signed by the wallet's key.
PAY = "payments.pay"

# What the lab's test-host configuration assigns: the terminal's merchant, the app's wallet.
LAB_MERCHANT_ID = "lab-merchant"
LAB_WALLET_ID = "lab-wallet"

# Client software: the vendor signs its package manifest with its vendor key over
# ``MANIFEST_DOMAIN ‖ canonical_json(manifest without "signature")``.
MANIFEST_DOMAIN = b"consortia/client-package/v1"

# The lab's test account a client-software prototype ships with unless the vendor's dossier
# names another (``run_suite(credentials=...)``).
TEST_ACCOUNT: dict[str, str] = {"username": "lab", "password": "Lab-Exam-2019!pw",
                                "pin": "246810"}

# The session cookie's name is the prototype's choice; the suite takes the first cookie set
# by a successful login.
HSTS_MAX_AGE_S_MIN = 31_536_000  # one year, the usual preload floor

# Bounds a prototype must accept for its test-host timeout (POST /lab/setup).
SUBMIT_TIMEOUT_MS_MIN = 100
SUBMIT_TIMEOUT_MS_MAX = 30_000


def manifest_message(manifest: dict[str, Any]) -> bytes:
    """The bytes the vendor signs: every manifest field except ``signature``."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return MANIFEST_DOMAIN + canonical_json(unsigned)
